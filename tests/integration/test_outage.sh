#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_outage.sh: the aggregator unreachable while a real agent captures under traffic (issue 11,
# point 2): gone for 30 s, then flapping. The agent's memory (VmRSS) stays under its send-queue
# cap plus a margin, what it could not queue is counted (dropped_messages, on its status and on
# its metrics page, with the queue's depth), and it reconnects every time. Agent and aggregator
# on plain ipc:// (tests/integration/agent_lib.sh).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

require_root
require_tools ip jq curl
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_EDGECAPCTL" "$EC_TRAFFIC"

PORT=5001
QUEUE_KB=2048
# Allocator slack, NNG's own buffers and one batch in hand. The test's datagrams carry random
# bytes (ec_traffic --random), so they go stored whatever batch codec the agent negotiates: 30 s
# of them is about 50 MB, far past the 2 MiB queue (zero-padded ones compress to a few MB with
# deflate and less with zstd, which need not fill it). The cap itself is pinned by queued_bytes
# never passing it and by dropped_messages counting what did not fit.
MARGIN_KB=8192

# agg_down: SIGKILLs the aggregator (its sockets vanish: the agent's dials are refused).
agg_down() {
	kill -KILL "$AGG_PID" 2>/dev/null || true
	{ bg_wait "$AGG_PID"; } 2>/dev/null || true
}

# watch_rss SECONDS: samples the agent's VmRSS every 0.5 s; the highest in RSS_MAX.
watch_rss() {
	local end=$((SECONDS + $1)) r
	while [ "$SECONDS" -lt "$end" ]; do
		r=$(rss_kb "$AGENT_PID")
		[ "$r" -le "$RSS_MAX" ] || RSS_MAX=$r
		sleep 0.5
	done
}

test_aggregator_unreachable_then_flapping() {
	local id rss0 st dropped sent0 sent1 i dest=$EC_TMPDIR/dest
	ns_setup outage
	CTL_URL=ipc://$EC_TMPDIR/control.sock
	DATA_URL=ipc://$EC_TMPDIR/data.sock
	fleet_agg_start agg
	agent_start agent --queue-size "${QUEUE_KB}K" --metrics 127.0.0.1:0
	agent_ready
	wait_until 20 agent_data_up || fail "data link never came up: $(agent_status)"
	id=$(post_ok "{\"filter_v1\": {\"destination_port\": $PORT}, \"time_limit\": 300,
		\"byte_limit\": 1000000000, \"type\": \"full\", \"colo_name\": \"ord01\",
		\"system\": \"magic-transit\", \"destination_conf\": \"file://$dest\"}")
	wait_until 15 status_is "$id" running || fail "capture never ran: $(pcap_get "$id")"
	# 5,000 datagrams of 300 random bytes a second for the whole test: 1.7 MB/s to ship.
	bg_start flood "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count 400000 \
		--rate 5000 --size 300 --random
	local flood_pid=$BG_PID
	sleep 3
	rss0=$(rss_kb "$AGENT_PID")
	RSS_MAX=$rss0
	sent0=$(agent_status | jq -r .aggregator.sent_messages)
	[ "$sent0" -gt 0 ] || fail "nothing shipped while connected: $(agent_status)"

	# Unreachable for 30 s.
	agg_down
	watch_rss 30
	st=$(agent_status)
	dropped=$(jq -r .aggregator.dropped_messages <<<"$st")
	[ "$dropped" -gt 0 ] || fail "no loss reported after 30 s away: $st"
	[ "$(jq -r .aggregator.queued_bytes <<<"$st")" -le $((QUEUE_KB * 1024)) ] ||
		fail "queue past its cap: $st"
	log "30 s away: RSS $rss0 kB connected, at most $RSS_MAX kB away (cap $QUEUE_KB kB +" \
		"margin $MARGIN_KB kB); $(jq -c "[.aggregator, .captures[].kernel]" <<<"$st")"
	queue_metrics_while_away
	[ "$RSS_MAX" -le $((rss0 + QUEUE_KB + MARGIN_KB)) ] ||
		fail "agent RSS $RSS_MAX kB past $rss0 + $QUEUE_KB + $MARGIN_KB kB"

	# Back: the agent reconnects and ships again.
	mv "$EC_TMPDIR/agg.err" "$EC_TMPDIR/agg-0.err"
	fleet_agg_start agg
	wait_until 30 agent_data_up || fail "no reconnect after the outage: $(agent_status)"
	sent1=$(agent_status | jq -r .aggregator.sent_messages)
	wait_until 10 sent_past "$sent1" || fail "nothing shipped after reconnecting: $(agent_status)"

	# Flapping: down 2 s, up until the agent is back, five times.
	for i in 1 2 3 4 5; do
		agg_down
		watch_rss 2
		mv "$EC_TMPDIR/agg.err" "$EC_TMPDIR/agg-$i.err"
		fleet_agg_start agg
		wait_until 30 agent_data_up || fail "no reconnect after flap $i: $(agent_status)"
		sent1=$(agent_status | jq -r .aggregator.sent_messages)
		wait_until 10 sent_past "$sent1" || fail "nothing shipped after flap $i: $(agent_status)"
	done
	[ "$RSS_MAX" -le $((rss0 + QUEUE_KB + MARGIN_KB)) ] ||
		fail "agent RSS $RSS_MAX kB past $rss0 + $QUEUE_KB + $MARGIN_KB kB while flapping"
	bg_stop "$flood_pid" >/dev/null || true
	st=$(agent_status)
	log "after 5 flaps: RSS now $(rss_kb "$AGENT_PID") kB, at most $RSS_MAX kB;" \
		"$(jq -c .aggregator <<<"$st")"
	pcap_stop "$id" >/dev/null
	wait_until 30 capture_ended "$id" || fail "capture never ended: $(pcap_get "$id")"
	# Every record the kernel submitted is accounted for: shipped or dropped by the send queue,
	# and every shipped one written or counted lost in transit (the batches of the outages).
	local m=$AGG_STATE/captures/$id/manifest.json
	wait_until 15 jq -e '.agents["host-agent"].final_received' "$m" ||
		fail "no final report in the manifest: $(cat "$m")"
	local a
	a=$(jq -c '.agents["host-agent"]' "$m")
	log "manifest: $(jq -c '{submitted, packets_sent, records_dropped, batches_dropped,
		records_written, records_lost_in_transit, batches_lost_in_transit}' <<<"$a")"
	jq -e '.records_dropped > 0' <<<"$a" >/dev/null || fail "no drop reported: $a"
	jq -e '.submitted == .packets_sent + .records_dropped' <<<"$a" >/dev/null ||
		fail "submitted != sent + dropped: $a"
	jq -e '.packets_sent == .records_written + .records_lost_in_transit' <<<"$a" >/dev/null ||
		fail "sent != written + lost in transit: $a"
}

# queue_metrics_while_away: the agent's metrics page shows the outage as its status does: the
# data link down, a queue that holds messages within its bound, and drops counted.
queue_metrics_while_away() {
	local m=$EC_TMPDIR/away.prom url
	url=$(metrics_url "$AGENT_LOG")
	in_ns "$NS1" curl -sf -m 5 "$url" -o "$m" || fail "cannot scrape the agent's metrics"
	expect_eq "$(prom_value "$m" 'edgecap_agent_aggregator_connected{link="data"}')" 0 \
		"the data link, on the metrics page"
	[ "$(prom_value "$m" edgecap_agent_send_queue_messages)" -gt 0 ] ||
		fail "no message waiting in the send queue: $(grep send_queue "$m")"
	[ "$(prom_value "$m" edgecap_agent_send_queue_bytes)" -gt 0 ] &&
		[ "$(prom_value "$m" edgecap_agent_send_queue_bytes)" -le $((QUEUE_KB * 1024)) ] ||
		fail "send queue bytes not within (0, $QUEUE_KB KiB]: $(grep send_queue "$m")"
	[ "$(prom_value "$m" edgecap_agent_send_queue_dropped_messages_total)" -gt 0 ] ||
		fail "no drop on the metrics page: $(grep send_queue "$m")"
	log "metrics while away: $(grep '^edgecap_agent_send_queue' "$m" | tr '\n' ' ')"
}

sent_past() {
	[ "$(agent_status | jq -r .aggregator.sent_messages)" -gt "$1" ]
}

capture_ended() {
	case $(pcap_get "$1" | jq -r .result.status) in
	success | complete | failed) return 0 ;;
	esac
	return 1
}

run_test test_aggregator_unreachable_then_flapping
summary
