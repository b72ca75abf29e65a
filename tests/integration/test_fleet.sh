#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_fleet.sh: the whole system. Three edge hosts, each a namespace with its own veth and its
# own traffic and a real edgecap-agent; one real edgecap-aggregator; captures asked for with the
# seeds' curl commands (only the host changed) and the merged pcap read back with tshark.
# Agents reach the aggregator over ipc:// endpoints (unix sockets cross network namespaces);
# test_tcp_transport keeps one tcp:// case.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip curl jq tcpdump tshark
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_TRAFFIC" "$EC_EDGECAPCTL"

PORT=5001
HOSTS=(a b c)
declare -A COLO=([a]=ord01 [b]=ord02 [c]=sjc01)
account_id=023e105f4ecef8ad9ca31a8372d0c353

# fleet_setup: a sender and an edge host namespace per host (SND_h, EDGE_h), the aggregator's
# endpoints and state directory, no processes yet.
fleet_setup() {
	local h
	for h in "${HOSTS[@]}"; do
		ns_setup "fleet$h"
		declare -g "SND_$h=$NS0" "EDGE_$h=$NS1"
	done
	CTL_URL="ipc://$EC_TMPDIR/control.sock"
	DATA_URL="ipc://$EC_TMPDIR/data.sock"
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
}

# start_agg [FLAGS...]: the aggregator in our namespace (agg_start: its log in agg.err), the
# test's state directory and endpoints and knobs, then FLAGS; its API base URL in API.
start_agg() {
	agg_start -s "$STATE" agg --control "$CTL_URL" --data "$DATA_URL" --simple-interval 0 \
		--max-full 0 --grace 3 "$@"
	API=$AGG_URL
}

# start_agent HOST [URL_CONTROL URL_DATA]: edgecap-agent on HOST's edge namespace.
start_agent() {
	local h=$1 ns
	ns=$(edge "$h")
	bg_start "agent-$h" "$ns" "$EC_AGENT" --interface "$IF1" --host-id "host-$h" \
		--colo "${COLO[$h]}" --control "${2:-$CTL_URL}" --data "${3:-$DATA_URL}" \
		--local-socket "$EC_TMPDIR/agent-$h.sock" --batch-ms 50
	declare -g "AGENT_PID_$h=$BG_PID"
}

edge() { local v="EDGE_$1"; echo "${!v}"; }
snd() { local v="SND_$1"; echo "${!v}"; }
agent_pid() { local v="AGENT_PID_$1"; echo "${!v}"; }

# wait_agents N: until the aggregator's log shows N agents joined.
wait_agents() {
	wait_until 15 agents_joined "$1" ||
		fail "only $(grep -c joined "$EC_TMPDIR/agg.err") of $1 agents joined"
}

agents_joined() {
	[ "$(grep -c 'joined' "$EC_TMPDIR/agg.err")" -ge "$1" ]
}

# The seeds' curl commands, with only the host changed.
pcap_post() {
	curl -s -X POST "$API/client/v4/accounts/${account_id}/pcaps" \
		-H 'Content-Type: application/json' \
		-H 'X-Auth-Email: user@example.com' \
		-H 'X-Auth-Key: 00000000000' \
		--data "$1"
}
pcap_get() {
	curl -s -X GET "$API/client/v4/accounts/${account_id}/pcaps/$1" \
		-H 'Content-Type: application/json' \
		-H 'X-Auth-Email: user@example.com' \
		-H 'X-Auth-Key: 00000000000'
}
pcap_download() {
	curl -s -X GET "$API/client/v4/accounts/${account_id}/pcaps/$1/download" \
		-H 'Content-Type: application/json' \
		-H 'X-Auth-Email: user@example.com' \
		-H 'X-Auth-Key: 00000000000' \
		--output "$2"
}
pcap_stop() {
	curl -s -X PUT "$API/client/v4/accounts/${account_id}/pcaps/$1/stop" \
		-H 'X-Auth-Email: user@example.com' -H 'X-Auth-Key: 00000000000'
}

# post_ok BODY: posts a capture and prints its id.
post_ok() {
	local out
	out=$(pcap_post "$1")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	jq -r .result.id <<<"$out"
}

# wait_status ID STATUS SECONDS: until the capture has STATUS.
wait_status() {
	local st=
	for _ in $(seq $(($3 * 10))); do
		st=$(pcap_get "$1" | jq -r .result.status)
		[ "$st" = "$2" ] && return 0
		[ "$st" = failed ] && [ "$2" != failed ] && break
		sleep 0.1
	done
	fail "capture $1 is $st, not $2: $(pcap_get "$1")"
}

manifest() {
	cat "$STATE/captures/$1/manifest.json"
}

# send_from HOST COUNT [FLAGS...]: numbered datagrams tagged with the host's name.
send_from() {
	local h=$1 count=$2
	shift 2
	in_ns "$(snd "$h")" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count "$count" \
		--tag "$h" "$@" >/dev/null || fail "sender on $h failed"
}

# tags_of PCAP: "tag seq" of every ECT1 datagram in PCAP.
tags_of() {
	local hex tag
	tshark -r "$1" -T fields -e udp.payload 2>/dev/null | while read -r hex; do
		[ "${hex:0:8}" = 45435431 ] || continue
		tag=$(echo "${hex:16:2}" | xxd -r -p)
		echo "$tag $((16#${hex:8:8}))"
	done
}

all_agents_up() {
	local h
	fleet_setup
	start_agg
	for h in "${HOSTS[@]}"; do start_agent "$h"; done
	wait_agents 3
}

test_simple_capture_across_three_agents() {
	local id out=$EC_TMPDIR/simple.pcap h n p
	all_agents_up
	id=$(post_ok '{
		"filter_v1": {"destination_port": 5001, "protocol": 17},
		"time_limit": 10,
		"packet_limit": 150,
		"type": "simple",
		"system": "magic-transit"
	}')
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "id is not 32 hex characters: $id"
	wait_status "$id" running 5
	# The three hosts send at once, so the merge interleaves them.
	local pids=()
	for h in "${HOSTS[@]}"; do
		send_from "$h" 100 --rate 1000 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "a sender failed"; done
	wait_status "$id" success 20
	pcap_download "$id" "$out"
	n=$(tcpdump -nn -r "$out" 2>/dev/null | wc -l)
	expect_eq "$n" 150 "packets in the merged pcap (packet_limit)"
	for h in "${HOSTS[@]}"; do
		grep -q "^$h " <(tags_of "$out") || fail "no packet from host $h in the merged pcap"
	done
	# Every record is one that was sent: tag and sequence number in range, none twice.
	tags_of "$out" | awk '$2 > 99 { bad = 1 } { if (seen[$0]++) bad = 1 } END { exit bad }' ||
		fail "a packet in the pcap was not sent, or is there twice"
	tshark -r "$out" -T fields -e frame.time_epoch 2>/dev/null |
		awk 'NR > 1 && $1 < prev { bad = 1 } { prev = $1 } END { exit bad }' ||
		fail "the merged pcap is not in timestamp order"
	expect_eq "$(manifest "$id" | jq '.agents | length')" 3 "agents in the manifest"
	expect_eq "$(pcap_get "$id" | jq -r .result.status)" success "status"
}

test_full_capture_reaches_only_its_colo() {
	local id dest=$EC_TMPDIR/full h
	all_agents_up
	id=$(post_ok "{\"filter_v1\": {\"destination_port\": 5001}, \"time_limit\": 3,
		\"type\": \"full\", \"colo\": \"ORD\", \"system\": \"magic-transit\",
		\"destination_conf\": \"file://$dest\"}")
	wait_status "$id" running 5
	for h in "${HOSTS[@]}"; do send_from "$h" 40 --rate 2000; done
	wait_status "$id" success 20
	expect_eq "$(tcpdump -nn -r "$dest/$id-host-a.pcap" 2>/dev/null | wc -l)" 40 "host a's file"
	expect_eq "$(tcpdump -nn -r "$dest/$id-host-b.pcap" 2>/dev/null | wc -l)" 40 "host b's file"
	[ ! -e "$dest/$id-host-c.pcap" ] || fail "host c (sjc01) captured for colo ORD"
	expect_eq "$(manifest "$id" | jq -r '.agents["host-c"].accepted')" false \
		"host c recorded as declining"
	# Whole frames in a full capture.
	expect_eq "$(tshark -r "$dest/$id-host-a.pcap" -T fields -e frame.cap_len 2>/dev/null |
		sort -u)" 106 "captured length"
}

test_stop_mid_capture() {
	local id t0
	all_agents_up
	id=$(post_ok '{"filter_v1": {}, "time_limit": 60, "packet_limit": 10000,
		"type": "simple", "system": "magic-transit"}')
	wait_status "$id" running 5
	send_from a 20 --rate 1000
	t0=$SECONDS
	expect_eq "$(pcap_stop "$id" | jq -r .success)" true "stop accepted"
	wait_status "$id" success 15
	[ $((SECONDS - t0)) -lt 15 ] || fail "stopping took $((SECONDS - t0)) s"
	expect_eq "$(manifest "$id" | jq -r .stop_reason)" stopped "stop reason"
	expect_eq "$(manifest "$id" | jq -r '.agents["host-a"].stop_reason')" stopped \
		"host a's stop reason"
}

test_agent_killed_mid_capture() {
	local id out=$EC_TMPDIR/killed.pcap
	all_agents_up
	id=$(post_ok '{"filter_v1": {"destination_port": 5001}, "time_limit": 4,
		"packet_limit": 10000, "type": "simple", "system": "magic-transit"}')
	wait_status "$id" running 5
	send_from a 30 --rate 1000
	send_from c 30 --rate 1000
	sleep 0.3
	kill -KILL "$(agent_pid c)"
	send_from b 30 --rate 1000
	wait_status "$id" success 30
	pcap_download "$id" "$out"
	expect_eq "$(tags_of "$out" | grep -c '^a ')" 30 "host a's packets kept"
	expect_eq "$(tags_of "$out" | grep -c '^b ')" 30 "host b's packets kept"
	expect_eq "$(manifest "$id" | jq -r '.agents["host-c"].final_received')" false \
		"host c's missing final report recorded"
	expect_eq "$(manifest "$id" | jq -r '.agents["host-a"].stop_reason')" time_limit \
		"host a's stop reason"
}

test_aggregator_restart_mid_capture() {
	local id out=$EC_TMPDIR/restart.pcap h
	all_agents_up
	id=$(post_ok '{"filter_v1": {"destination_port": 5001}, "time_limit": 8,
		"packet_limit": 10000, "type": "simple", "system": "magic-transit"}')
	wait_status "$id" running 5
	for h in "${HOSTS[@]}"; do send_from "$h" 20 --rate 1000; done
	sleep 0.5
	kill -KILL "$AGG_PID"
	{ bg_wait "$AGG_PID"; } 2>/dev/null || true
	# While it is gone the agents keep capturing and queue what they send.
	for h in "${HOSTS[@]}"; do send_from "$h" 20 --rate 1000; done
	mv "$EC_TMPDIR/agg.err" "$EC_TMPDIR/agg-first.err"
	start_agg
	wait_agents 3
	for h in "${HOSTS[@]}"; do send_from "$h" 20 --rate 1000; done
	wait_status "$id" success 40
	pcap_download "$id" "$out"
	local kept lost
	kept=$(tcpdump -nn -r "$out" 2>/dev/null | wc -l)
	lost=$(manifest "$id" | jq '[.agents[] | (.records_lost_at_restart // 0) +
		(.records_lost_in_transit // 0) + (.records_dropped // 0)] | add')
	# Everything sent is either in the pcap or counted as lost: nothing hidden.
	expect_eq "$((kept + lost))" 180 "packets kept ($kept) plus packets counted lost ($lost)"
	[ "$kept" -ge 120 ] || fail "only $kept of 180 packets survived the restart"
}

test_rate_rules() {
	local out
	fleet_setup
	start_agg --simple-interval 60 --max-full 1
	post_ok '{"filter_v1": {}, "time_limit": 1, "packet_limit": 1, "type": "simple",
		"system": "magic-transit"}' >/dev/null
	out=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
		"$API/client/v4/accounts/${account_id}/pcaps" -H 'Content-Type: application/json' \
		--data '{"filter_v1": {}, "time_limit": 1, "packet_limit": 1, "type": "simple",
		"system": "magic-transit"}')
	expect_eq "$out" 429 "a second simple capture within the minute"
}

test_concurrent_captures_with_different_filters() {
	local id1 id2 dest=$EC_TMPDIR/conc out=$EC_TMPDIR/conc.pcap
	all_agents_up
	id1=$(post_ok '{"filter_v1": {"destination_port": 5001}, "time_limit": 4,
		"packet_limit": 10000, "type": "simple", "system": "magic-transit"}')
	id2=$(post_ok "{\"filter_v1\": {\"destination_port\": 6001}, \"time_limit\": 4,
		\"type\": \"full\", \"colo\": \"ord01\", \"system\": \"magic-transit\",
		\"destination_conf\": \"file://$dest\"}")
	wait_status "$id1" running 5
	wait_status "$id2" running 5
	send_from a 25 --rate 2000
	in_ns "$(snd a)" "$EC_TRAFFIC" send --dst "$IP4_1" --port 6001 --count 35 --tag x \
		>/dev/null || fail "sender failed"
	wait_status "$id1" success 20
	wait_status "$id2" success 20
	pcap_download "$id1" "$out"
	expect_eq "$(tcpdump -nn -r "$out" 'udp dst port 5001' 2>/dev/null | wc -l)" 25 \
		"port 5001 packets in the simple capture"
	expect_eq "$(tcpdump -nn -r "$out" 'udp dst port 6001' 2>/dev/null | wc -l)" 0 \
		"port 6001 packets in the simple capture"
	expect_eq "$(tcpdump -nn -r "$dest/$id2-host-a.pcap" 'udp dst port 6001' 2>/dev/null |
		wc -l)" 35 "port 6001 packets in the full capture"
	expect_eq "$(tcpdump -nn -r "$dest/$id2-host-a.pcap" 2>/dev/null | wc -l)" 35 \
		"only port 6001 in the full capture"
}

# One agent over tcp://: the aggregator in a namespace of its own, linked to host a's edge.
test_tcp_transport() {
	local id ns_agg out=$EC_TMPDIR/tcp.pcap
	fleet_setup
	ns_agg=ec-fleetagg-$EC_RUN_ID
	echo "$ns_agg" >>"$EC_NS_LIST"
	ip netns add "$ns_agg"
	ip link add aggl netns "$ns_agg" type veth peer name aggr netns "$(edge a)"
	ip -n "$ns_agg" addr add 203.0.113.1/24 dev aggl
	ip -n "$(edge a)" addr add 203.0.113.2/24 dev aggr
	ip -n "$ns_agg" link set lo up
	ip -n "$ns_agg" link set aggl up
	ip -n "$(edge a)" link set aggr up
	CTL_URL=tcp://203.0.113.1:7101
	DATA_URL=tcp://203.0.113.1:7102
	agg_start -n "$ns_agg" -s "$STATE" agg --control "$CTL_URL" --data "$DATA_URL" \
		--simple-interval 0 --grace 3
	start_agent a
	wait_agents 1
	id=$(in_ns "$ns_agg" curl -s -X POST \
		"$AGG_URL/client/v4/accounts/$account_id/pcaps" \
		-H 'Content-Type: application/json' --data '{"filter_v1": {"destination_port": 5001},
		"time_limit": 3, "packet_limit": 10, "type": "simple", "system": "magic-transit"}' |
		jq -r .result.id)
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "capture not created"
	sleep 1
	send_from a 10 --rate 1000
	wait_until 20 grep -q '"status": *"success"' "$STATE/captures/$id/manifest.json" ||
		fail "capture over tcp did not succeed: $(manifest "$id")"
	expect_eq "$(tcpdump -nn -r "$STATE/captures/$id/capture.pcap" 2>/dev/null | wc -l)" 10 \
		"packets over tcp"
}

for t in test_simple_capture_across_three_agents test_full_capture_reaches_only_its_colo \
	test_stop_mid_capture test_agent_killed_mid_capture test_aggregator_restart_mid_capture \
	test_rate_rules test_concurrent_captures_with_different_filters test_tcp_transport; do
	# EC_ONLY=NAME runs one test, for debugging.
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$t" ] || continue
	run_test "$t"
done
summary
