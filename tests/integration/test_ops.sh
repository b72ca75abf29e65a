#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_ops.sh: what an operator watches (docs/design.md, "Operations"): both daemons' Prometheus
# metrics on --metrics, checked by promtool and seen to move with real traffic and a real
# capture; the aggregator's unauthenticated GET /healthz; the authenticated listing of connected
# agents; retention (--retention-days, --retention-captures) removing old finished captures from
# disk and from the API, never a running one, and a changed rule applied at once on SIGHUP; the
# agent's SIGHUP (batch-ms, snaplen, verbose), seen in what it ships and logs. The agent runs in
# a namespace with a veth and real traffic; the aggregator on loopback, linked to the agent over
# plain ipc:// (unix sockets cross network namespaces).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip curl jq promtool tshark python3
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_TRAFFIC"

PORT=5001
account_id=023e105f4ecef8ad9ca31a8372d0c353
EC_API_ACCOUNT=$account_id

# ops_setup: a sender (NS0) and an edge host (NS1) on a veth pair, and the ipc:// endpoints.
ops_setup() {
	ns_setup ops
	CTL_URL="ipc://$EC_TMPDIR/control.sock"
	DATA_URL="ipc://$EC_TMPDIR/data.sock"
}

# start_agg [FLAGS...]: the aggregator with its metrics on a free loopback port (AGG_METRICS).
start_agg() {
	agg_start agg --control "$CTL_URL" --data "$DATA_URL" --simple-interval 0 --grace 2 \
		--metrics 127.0.0.1:0 "$@"
	AGG_METRICS=$(metrics_url "$AGG_LOG")
	[ -n "$AGG_METRICS" ] || fail "the aggregator logged no metrics address: $(cat "$AGG_LOG")"
}

# start_agent: edgecap-agent on the edge host's veth, metrics on its loopback (AGENT_METRICS).
start_agent() {
	bg_start agent "$NS1" "$EC_AGENT" --interface "$IF1" --host-id edge-ops-1 --colo ord02 \
		--control "$CTL_URL" --data "$DATA_URL" --local-socket "$EC_TMPDIR/agent.sock" \
		--batch-ms 50 --metrics 127.0.0.1:0 --queue-size 32M
	AGENT_PID=$BG_PID
	wait_until 15 grep -q "metrics on http://" "$EC_TMPDIR/agent.err" ||
		fail "the agent never served its metrics: $(cat "$EC_TMPDIR/agent.err")"
	AGENT_METRICS=$(metrics_url "$EC_TMPDIR/agent.err")
}

# scrape NS URL OUT: the page into OUT (in namespace NS), which promtool must accept.
scrape() {
	in_ns "$1" curl -sf "$2" -o "$3" || fail "cannot scrape $2"
	promtool check metrics <"$3" >"$3.lint" 2>&1 ||
		fail "promtool check metrics refused $2: $(cat "$3.lint")"
}

api() {
	curl -s -H "Authorization: Bearer $EC_API_KEY" "$AGG_URL/client/v4/accounts/$account_id$1" \
		"${@:2}"
}

post_ok() {
	local out
	out=$(api /pcaps -X POST -H 'Content-Type: application/json' --data "$1")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	jq -r .result.id <<<"$out"
}

wait_status() {
	local st=
	for _ in $(seq $(($3 * 10))); do
		st=$(api "/pcaps/$1" | jq -r .result.status)
		[ "$st" = "$2" ] && return 0
		sleep 0.1
	done
	fail "capture $1 is $st, not $2: $(api "/pcaps/$1")"
}

agent_listed() {
	api /pcaps/agents | jq -e '.result | map(select(.host_id == "edge-ops-1")) | length == 1'
}

test_healthz_needs_no_credential() {
	local out=$EC_TMPDIR/healthz
	agg_start agg --no-agents
	expect_eq "$(curl -s -o "$out" -w '%{http_code}' "$AGG_URL/healthz")" 200 "GET /healthz"
	expect_eq "$(jq -r .result.status "$out")" ok "its status"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$AGG_URL/healthz")" 405 \
		"POST /healthz"
	# The same listener still wants a credential everywhere else.
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' \
		"$AGG_URL/client/v4/accounts/$account_id/pcaps")" 401 "the API without a credential"
}

test_agent_listing_needs_a_credential() {
	local url
	ops_setup
	start_agg
	start_agent
	wait_until 15 agent_listed ||
		fail "the agent is not listed: $(api /pcaps/agents) $(cat "$AGG_LOG")"
	url=$AGG_URL/client/v4/accounts/$account_id/pcaps/agents
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$url")" 401 "listing without credential"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' \
		"$url")" 401 "listing with a wrong credential"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $EC_API_KEY" \
		"$AGG_URL/client/v4/accounts/someone-else/pcaps/agents")" 403 \
		"listing on another account's path"
	api /pcaps/agents >"$EC_TMPDIR/agents.json"
	expect_eq "$(jq -r '.result[0].colo' "$EC_TMPDIR/agents.json")" ord02 "the agent's colo"
	expect_eq "$(jq -r '.result[0].connected' "$EC_TMPDIR/agents.json")" true "connected"
	jq -e '.result[0].version | test("^[0-9]+\\.[0-9]+\\.[0-9]+")' "$EC_TMPDIR/agents.json" \
		>/dev/null || fail "no version: $(cat "$EC_TMPDIR/agents.json")"
	jq -e '.result[0].last_seen | test("^20[0-9-]+T[0-9:.]+Z$")' "$EC_TMPDIR/agents.json" \
		>/dev/null || fail "no last_seen: $(cat "$EC_TMPDIR/agents.json")"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $EC_API_KEY" "$url")" 405 "POST on the listing"
}

test_metrics_move_with_a_capture() {
	local a0=$EC_TMPDIR/agent0.prom a1=$EC_TMPDIR/agent1.prom a2=$EC_TMPDIR/agent2.prom
	local g0=$EC_TMPDIR/agg0.prom g2=$EC_TMPDIR/agg2.prom id lbl seen sum c
	ops_setup
	start_agg
	start_agent
	wait_until 15 agent_listed || fail "the agent never joined: $(cat "$AGG_LOG")"
	scrape "$NS1" "$AGENT_METRICS" "$a0"
	scrape - "$AGG_METRICS" "$g0"
	expect_eq "$(prom_value "$a0" "edgecap_agent_interface_seen_total{interface=\"$IF1\"}")" 0 \
		"packets seen before any capture"
	expect_eq "$(prom_value "$a0" 'edgecap_agent_aggregator_connected{link="control"}')" 1 \
		"control link up"
	# A ring per possible CPU, each of the default 8 MiB (at least min(--ring-size, 8 MiB)).
	local cpus
	cpus=$(awk -F, '{ n = 0; for (i = 1; i <= NF; i++) { split($i, r, "-");
		n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n }' /sys/devices/system/cpu/possible)
	expect_eq "$(prom_value "$a0" "edgecap_agent_ring_size_bytes{interface=\"$IF1\"}")" \
		$((8388608 * cpus)) "ring size, summed over $cpus per-CPU rings"
	expect_eq "$(prom_value "$a0" edgecap_agent_send_queue_limit_bytes)" 33554432 \
		"the send queue's bound (--queue-size 32M)"
	grep -q '^edgecap_agent_info{host="edge-ops-1",colo="ord02",version="[0-9]' "$a0" ||
		fail "no edgecap_agent_info for edge-ops-1 in ord02: $(grep agent_info "$a0")"
	[ "$(prom_value "$a0" edgecap_agent_control_messages_total)" -gt 0 ] ||
		fail "no control survey counted, though the agent joined"
	expect_eq "$(prom_value "$a0" edgecap_agent_control_refused_total)" 0 "control surveys refused"
	expect_eq "$(awk '/^edgecap_agent_batch_codec\{/ { n += $NF } END { print n + 0 }' "$a0")" 1 \
		"batch codecs in use (one of deflate, zstd, lz4)"
	expect_eq "$(prom_value "$g0" 'edgecap_aggregator_agents{colo="ord02",state="connected"}')" 1 \
		"connected agents in ord02"
	expect_eq "$(prom_value "$g0" edgecap_aggregator_control_joins_refused_total)" 0 \
		"late joins refused"
	# Probed every 5 s and answering: never restarted (relisten.h).
	expect_eq "$(prom_value "$g0" 'edgecap_aggregator_listener_restarts_total{plane="control"}')" 0 \
		"control listener restarts"
	expect_eq "$(prom_value "$g0" 'edgecap_aggregator_listener_restarts_total{plane="data"}')" 0 \
		"data listener restarts"

	id=$(post_ok '{"filter_v1": {"destination_port": 5001, "protocol": 17}, "time_limit": 4,
		"packet_limit": 10000, "type": "simple", "system": "magic-transit"}')
	wait_status "$id" running 10
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count 200 --rate 2000 \
		>/dev/null || fail "the sender failed"
	# Mid-capture: the capture's own series, per interface, from the counter table.
	scrape "$NS1" "$AGENT_METRICS" "$a1"
	lbl="{interface=\"$IF1\",capture=\"$id\",origin=\"aggregator\"}"
	seen=$(prom_value "$a1" "edgecap_agent_capture_seen_total$lbl")
	[ "$seen" -ge 200 ] || fail "capture seen $seen, want at least 200"
	expect_eq "$(prom_value "$a1" "edgecap_agent_capture_matched_total$lbl")" 200 "capture matched"
	for c in sampled_out budget_exhausted ring_full; do
		expect_eq "$(prom_value "$a1" "edgecap_agent_capture_${c}_total$lbl")" 0 "drop cause $c"
	done
	# One page is one instant: every matched packet has exactly one outcome on it.
	sum=0
	for c in sampled_out budget_exhausted ring_full submitted; do
		sum=$((sum + $(prom_value "$a1" "edgecap_agent_capture_${c}_total$lbl")))
	done
	expect_eq "$sum" 200 "sampled_out + budget_exhausted + ring_full + submitted"
	expect_eq "$(prom_value "$a1" 'edgecap_agent_captures{origin="aggregator",state="running"}')" 1 \
		"captures running"
	wait_status "$id" success 20

	scrape "$NS1" "$AGENT_METRICS" "$a2"
	scrape - "$AGG_METRICS" "$g2"
	expect_eq "$(prom_value "$a2" "edgecap_agent_interface_matched_total{interface=\"$IF1\"}")" 200 \
		"matched on the interface, after the capture"
	expect_eq "$(prom_value "$a2" 'edgecap_agent_captures_completed_total{origin="aggregator"}')" 1 \
		"captures completed"
	expect_eq "$(prom_value "$a2" 'edgecap_agent_captures{origin="aggregator",state="running"}')" 0 \
		"captures running after the end"
	grep -q "capture=\"$id\"" "$a2" && fail "a completed capture still has series"
	[ "$(prom_value "$a2" edgecap_agent_sent_messages_total)" -gt 0 ] || fail "nothing sent"
	expect_eq "$(prom_value "$a2" edgecap_agent_send_queue_dropped_messages_total)" 0 "queue drops"
	expect_eq "$(prom_value "$g2" 'edgecap_aggregator_captures{status="success",type="simple"}')" 1 \
		"successful simple captures"
	expect_eq "$(prom_value "$g2" edgecap_aggregator_ingest_records_total)" 200 "records ingested"
	expect_eq "$(prom_value "$g2" edgecap_aggregator_ingest_finals_total)" 1 "final messages taken"
	[ "$(prom_value "$g2" edgecap_aggregator_ingest_batches_total)" -gt 0 ] || fail "no batch counted"
	[ "$(prom_value "$g2" edgecap_aggregator_ingest_messages_total)" -ge \
		$(($(prom_value "$g2" edgecap_aggregator_ingest_batches_total) + 1)) ] ||
		fail "data messages fewer than the batches and the final"
	expect_eq "$(prom_value "$g2" edgecap_aggregator_control_replies_refused_total)" 0 \
		"control replies refused (a host id not proven)"
	[ "$(prom_value "$g2" edgecap_aggregator_ingest_bytes_total)" -gt 200 ] || fail "ingest bytes"
	expect_eq "$(prom_value "$g2" edgecap_aggregator_agent_final_matched_total)" 200 \
		"matched, from the agent's final message"
	expect_eq "$(prom_value "$g2" 'edgecap_aggregator_records_lost_total{cause="ring_full"}')" 0 \
		"records lost to a full ring"
	[ "$(prom_value "$g2" 'edgecap_aggregator_api_requests_total{code="200"}')" -gt \
		"$(prom_value "$g0" 'edgecap_aggregator_api_requests_total{code="200"}')" ] ||
		fail "API requests by code did not move"
	# Only /metrics is served there.
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "${AGG_METRICS%/metrics}/other")" 404 \
		"another path on the metrics listener"
	expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$AGG_METRICS")" 405 \
		"POST on /metrics"
}

test_metrics_flag_is_checked() {
	local rc=0
	"$EC_AGGREGATOR" --credentials /nonexistent --metrics 127.0.0.1 \
		>/dev/null 2>"$EC_TMPDIR/err" || rc=$?
	expect_eq "$rc" 2 "exit status for --metrics without a port"
	grep -q 'metrics.*127.0.0.1' "$EC_TMPDIR/err" || fail "error does not name it: $(cat \
		"$EC_TMPDIR/err")"
}

# old_manifest FILE DAYS: sets every time in the manifest DAYS days back.
age_manifest() {
	local when
	when=$(date -u -d "-$2 days" +%Y-%m-%dT%H:%M:%S.000000Z)
	jq --arg t "$when" '.submitted = $t | .started = $t | .finished = $t' "$1" >"$1.new"
	mv "$1.new" "$1"
}

# three_done STATE [FLAG...]: an aggregator on STATE (with FLAGs) makes three simple captures,
# which end after their 1 s, and stops; DONE holds their ids, oldest first.
three_done() {
	local state=$1 body id
	shift
	body='{"filter_v1": {}, "time_limit": 1, "packet_limit": 10, "type": "simple",
		"system": "magic-transit"}'
	agg_start -s "$state" agg --no-agents --simple-interval 0 "$@"
	DONE=("$(post_ok "$body")" "$(post_ok "$body")" "$(post_ok "$body")")
	for id in "${DONE[@]}"; do
		wait_status "$id" success 10
	done
	bg_stop "$AGG_PID"
}

test_retention_removes_old_finished_captures() {
	local state=$EC_TMPDIR/ret.state old new run
	three_done "$state"
	old=${DONE[0]} new=${DONE[1]} run=${DONE[2]}
	[ -f "$state/captures/$old/capture.pcap" ] || fail "no pcap to remove"
	age_manifest "$state/captures/$old/manifest.json" 31

	# 0: keep everything.
	agg_start -s "$state" agg --no-agents --retention-days 0
	expect_eq "$(api "/pcaps/$old" | jq -r .result.status)" success "kept with 0 days"
	bg_stop "$AGG_PID"

	# A capture that is still running, however old, stays. (Resumed at start, it is expired by
	# the lifecycle only after retention ran: so this one is made just before that start.)
	age_manifest "$state/captures/$run/manifest.json" 90
	jq '.status = "running" | .finished = null | .stop_reason = null' \
		"$state/captures/$run/manifest.json" >"$EC_TMPDIR/m" &&
		mv "$EC_TMPDIR/m" "$state/captures/$run/manifest.json"

	agg_start -s "$state" agg --no-agents --retention-days 30 --metrics 127.0.0.1:0
	expect_eq "$(api "/pcaps/$old" -o /dev/null -w '%{http_code}')" 404 "the old capture"
	[ ! -e "$state/captures/$old" ] || fail "the old capture's files are still there: \
$(ls -la "$state/captures/$old")"
	api /pcaps | jq -e --arg id "$old" '[.result[].id] | index($id) == null' >/dev/null ||
		fail "the old capture is still listed"
	expect_eq "$(api "/pcaps/$new" | jq -r .result.status)" success "the recent capture"
	[ -f "$state/captures/$new/capture.pcap" ] || fail "the recent capture's pcap went"
	api "/pcaps/$run" -o /dev/null -w '%{http_code}' | grep -qx 200 ||
		fail "the running capture was removed"
	[ -d "$state/captures/$run" ] || fail "the running capture's files went"
	grep -q "retention: removed 1 capture " "$AGG_LOG" || fail "no log line: $(cat "$AGG_LOG")"
	scrape - "$(metrics_url "$AGG_LOG")" "$EC_TMPDIR/ret.prom"
	expect_eq "$(prom_value "$EC_TMPDIR/ret.prom" edgecap_aggregator_retention_removed_total)" 1 \
		"removed, in the metrics"
}

# --retention-captures: an account keeps its newest N finished captures; retention runs at the
# start (and hourly), so a restart shows it.
test_retention_keeps_each_accounts_newest() {
	local state=$EC_TMPDIR/retn.state a b c rc=0
	three_done "$state" --retention-captures 2
	a=${DONE[0]} b=${DONE[1]} c=${DONE[2]}
	[ -d "$state/captures/$a" ] || fail "the oldest went before any retention ran"

	agg_start -s "$state" agg --no-agents --simple-interval 0 --retention-captures 2
	expect_eq "$(api "/pcaps/$a" -o /dev/null -w '%{http_code}')" 404 "the oldest capture"
	[ ! -e "$state/captures/$a" ] || fail "the oldest capture's files are still there"
	expect_eq "$(api "/pcaps/$b" | jq -r .result.status)" success "the second newest"
	expect_eq "$(api "/pcaps/$c" | jq -r .result.status)" success "the newest"
	grep -q "retention: removed 1 capture .*past their account's newest 2" "$AGG_LOG" ||
		fail "no log line: $(cat "$AGG_LOG")"
	bg_stop "$AGG_PID"

	"$EC_AGGREGATOR" --credentials /nonexistent --retention-captures -1 \
		>/dev/null 2>"$EC_TMPDIR/err" || rc=$?
	expect_eq "$rc" 2 "exit status for --retention-captures -1"
	grep -q -- '--retention-captures.*-1' "$EC_TMPDIR/err" ||
		fail "error does not name it: $(cat "$EC_TMPDIR/err")"
}

# SIGHUP takes a changed retention rule from the config file, and applies it at once (the
# hourly pass would come an hour later).
test_retention_rules_reload_on_sighup() {
	local state=$EC_TMPDIR/rethup.state conf=$EC_TMPDIR/rethup.conf a b c
	three_done "$state"
	a=${DONE[0]} b=${DONE[1]} c=${DONE[2]}
	printf 'retention-captures = 0\n' >"$conf"
	agg_start -s "$state" agg --no-agents --simple-interval 0 --config "$conf"
	expect_eq "$(api "/pcaps/$a" | jq -r .result.status)" success "kept with no limit"
	printf 'retention-captures = 2\n' >"$conf"
	kill -HUP "$AGG_PID"
	wait_until 10 grep -q "SIGHUP: retention-captures 0 -> 2" "$AGG_LOG" ||
		fail "SIGHUP did not take retention-captures: $(cat "$AGG_LOG")"
	wait_until 10 test ! -e "$state/captures/$a" ||
		fail "the oldest capture stayed after SIGHUP: $(cat "$AGG_LOG")"
	expect_eq "$(api "/pcaps/$a" -o /dev/null -w '%{http_code}')" 404 "the oldest capture"
	expect_eq "$(api "/pcaps/$b" | jq -r .result.status)" success "the second newest"
	expect_eq "$(api "/pcaps/$c" | jq -r .result.status)" success "the newest"
	grep -q "retention: removed 1 capture .*past their account.s newest 2" "$AGG_LOG" ||
		fail "no log line: $(cat "$AGG_LOG")"
	bg_stop "$AGG_PID"
}

# _agent_conf BATCH_MS SNAPLEN [LINE]: the agent's config file (the settings test_ops's
# start_agent passes as flags, a 1 s local-socket timeout), with LINE added.
_agent_conf() {
	printf '%s\n' "interface = $IF1" "host-id = edge-ops-1" "colo = ord02" \
		"control = $CTL_URL" "data = $DATA_URL" "local-socket = $EC_TMPDIR/agent.sock" \
		"metrics = 127.0.0.1:0" "local-timeout-ms = 1000" "batch-ms = $1" "snaplen = $2" \
		${3:+"$3"} >"$EC_TMPDIR/agent.conf"
}

records_ingested() {
	scrape - "$AGG_METRICS" "$EC_TMPDIR/ingest.prom"
	[ "$(prom_value "$EC_TMPDIR/ingest.prom" edgecap_aggregator_ingest_records_total)" = "$1" ]
}

# _capture_of_20: a simple capture running, with 20 datagrams of 300 bytes sent into it; its id
# in CAPTURE_ID.
_capture_of_20() {
	CAPTURE_ID=$(post_ok '{"filter_v1": {"destination_port": 5001, "protocol": 17},
		"time_limit": 30, "packet_limit": 10000, "type": "simple", "system": "magic-transit"}')
	wait_status "$CAPTURE_ID" running 10
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count 20 --rate 1000 \
		--size 300 >/dev/null || fail "the sender failed"
}

# _caplens_when_stopped ID: capture ID stopped and downloaded; its records' lengths, a
# "COUNTxLENGTH" line for each length.
_caplens_when_stopped() {
	api "/pcaps/$1/stop" -X PUT >/dev/null
	wait_status "$1" success 20
	api "/pcaps/$1/download" -o "$EC_TMPDIR/hup.pcap"
	tshark -r "$EC_TMPDIR/hup.pcap" -T fields -e frame.cap_len 2>/dev/null | sort | uniq -c |
		awk '{ print $1 "x" $2 }'
}

# The agent's SIGHUP (docs/man/edgecap-agent.8.scd): batch-ms applies to the open batch at
# once, snaplen to the captures started from then on (a running one keeps its own), verbose at
# once; each is seen in what the agent does, not only in its log line.
test_agent_sighup_applies_what_can_change() {
	local probe id l
	probe=$(dirname "$0")/local_probe.py
	ops_setup
	start_agg
	_agent_conf 10000 160
	bg_start agent "$NS1" "$EC_AGENT" --config "$EC_TMPDIR/agent.conf"
	AGENT_PID=$BG_PID
	wait_until 15 agent_listed || fail "the agent never joined: $(cat "$AGG_LOG")"
	# Not verbose: a connection that times out on the local socket is not logged.
	python3 "$probe" "$EC_TMPDIR/agent.sock" idle >/dev/null
	sleep 0.5
	grep -q "debug:" "$EC_TMPDIR/agent.err" && fail "debug lines without verbose"

	# A 10 s batch holds the capture's records (they are the agent's, not yet shipped).
	_capture_of_20
	id=$CAPTURE_ID
	sleep 2
	records_ingested 0 || fail "records shipped before their 10 s batch: $(grep ingest_records \
		"$EC_TMPDIR/ingest.prom")"
	_agent_conf 100 64 "verbose = true"
	kill -HUP "$AGENT_PID"
	wait_until 10 grep -q "SIGHUP: configuration reloaded" "$EC_TMPDIR/agent.err" ||
		fail "SIGHUP not taken: $(cat "$EC_TMPDIR/agent.err")"
	for l in "batch-ms 10000 -> 100" "snaplen 160 -> 64 (captures started from now on)" \
		"verbose is now on"; do
		grep -qF "SIGHUP: $l" "$EC_TMPDIR/agent.err" || fail "no 'SIGHUP: $l' logged"
	done
	# Within 3 s of the SIGHUP, where the 10 s batch had 8 s left.
	wait_until 3 records_ingested 20 ||
		fail "the open batch kept its 10 s after SIGHUP: $(grep ingest_records \
			"$EC_TMPDIR/ingest.prom")"
	python3 "$probe" "$EC_TMPDIR/agent.sock" idle >/dev/null
	wait_until 5 grep -q "debug: local socket: a connection timed out" "$EC_TMPDIR/agent.err" ||
		fail "verbose on, but no debug line: $(cat "$EC_TMPDIR/agent.err")"

	# The running capture keeps snaplen 160; the next one takes 64.
	expect_eq "$(_caplens_when_stopped "$id")" "20x160" \
		"the records in the capture started before SIGHUP"
	_capture_of_20
	expect_eq "$(_caplens_when_stopped "$CAPTURE_ID")" "20x64" \
		"the records in the capture started after SIGHUP"
}

test_retention_days_is_checked() {
	local rc=0
	"$EC_AGGREGATOR" --credentials /nonexistent --retention-days 1.5 \
		>/dev/null 2>"$EC_TMPDIR/err" || rc=$?
	expect_eq "$rc" 2 "exit status for --retention-days 1.5"
	grep -q -- '--retention-days.*1.5' "$EC_TMPDIR/err" ||
		fail "error does not name it: $(cat "$EC_TMPDIR/err")"
}

for t in test_healthz_needs_no_credential test_agent_listing_needs_a_credential \
	test_metrics_move_with_a_capture test_metrics_flag_is_checked \
	test_retention_removes_old_finished_captures test_retention_keeps_each_accounts_newest \
	test_retention_rules_reload_on_sighup test_retention_days_is_checked \
	test_agent_sighup_applies_what_can_change; do
	run_test "$t"
done
summary
