#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_churn.sh: agents that come and go while a capture runs (issue 11, agent churn). Real
# edgecap-agents in edge namespaces of their own, a real edgecap-aggregator in another, over
# mutual TLS with certificates made for the run (as test_fleet.sh):
#  - an agent SIGKILLed mid-capture is marked lost after --agent-lost-grace, and a capture with a
#    long time_limit finishes soon after, not at time_limit; its manifest says so, with what the
#    agent had sent, which is kept, and the metrics count it lost;
#  - an agent stopped (SIGTERM) mid-capture completes its share: its final report, what it
#    captured, no program left attached, exit 0;
#  - an agent started mid-capture takes part for the time left (its packets in the merged pcap,
#    within what is left of packet_limit; its own file in a full capture of its colo), and the
#    manifest says it joined late;
#  - late joins past --max-pending-joins are refused: with a cap of 1, an agent started while two
#    captures run joins one of them, and the aggregator logs the other's refusal;
#  - an agent paused past the lost grace is lost, its replies to surveys that ended meanwhile are
#    counted late when it resumes, and its next answer brings it back.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip curl jq tcpdump tshark openssl xxd
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_TRAFFIC" "$EC_EDGECAPCTL"

PORT=5001
HOSTS=(a b c)
declare -A COLO=([a]=ord01 [b]=ord02 [c]=sjc01)
account_id=023e105f4ecef8ad9ca31a8372d0c353
# agg_start's credential is this account's.
EC_API_ACCOUNT=$account_id
LOST_GRACE=2

# churn_setup: a sender and an edge namespace per host (SND_h, EDGE_h), bridged to the
# aggregator's namespace AGG_NS (203.0.113.1), a CA and certificates in PKI; no processes yet.
churn_setup() {
	local h i=10
	for h in "${HOSTS[@]}"; do
		ns_setup "churn$h"
		declare -g "SND_$h=$NS0" "EDGE_$h=$NS1"
	done
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	tls_ns_setup churnagg
	AGG_NS=$TLS_NS
	ip -n "$AGG_NS" link add br0 type bridge
	ip -n "$AGG_NS" addr add 203.0.113.1/24 dev br0
	ip -n "$AGG_NS" link set br0 up
	for h in "${HOSTS[@]}"; do
		ip link add "agg$h" netns "$AGG_NS" type veth peer name aggr netns "$(edge "$h")"
		ip -n "$AGG_NS" link set "agg$h" master br0 up
		ip -n "$(edge "$h")" addr add "203.0.113.$((i++))/24" dev aggr
		ip -n "$(edge "$h")" link set aggr up
	done
	PKI=$EC_TMPDIR/pki
	tls_make_ca "$PKI"
	tls_make_cert "$PKI" aggregator "DNS:203.0.113.1,IP:203.0.113.1"
	for h in "${HOSTS[@]}"; do tls_make_cert "$PKI" "host-$h"; done
	CTL_URL=tls+tcp://203.0.113.1:7101
	DATA_URL=tls+tcp://203.0.113.1:7102
}

curl() { ip netns exec "$AGG_NS" curl "$@"; }
edge() { local v="EDGE_$1"; echo "${!v}"; }
snd() { local v="SND_$1"; echo "${!v}"; }
agent_pid() { local v="AGENT_PID_$1"; echo "${!v}"; }

start_agg() {
	# shellcheck disable=SC2046 # tls_flags: flags and paths without blanks
	agg_start -n "$AGG_NS" -s "$STATE" agg --control "$CTL_URL" --data "$DATA_URL" \
		$(tls_flags "$PKI" aggregator) --simple-interval 0 --max-full 0 --grace 3 \
		--agent-lost-grace "$LOST_GRACE" --destination-root "$EC_TMPDIR" \
		--metrics 127.0.0.1:0 "$@"
	API=$AGG_URL
}

# agents_metric COLO STATE: edgecap_aggregator_agents{colo=COLO,state=STATE} on the aggregator's
# metrics page (in AGG_NS).
agents_metric() {
	curl -sf -m 5 "$(metrics_url "$EC_TMPDIR/agg.err")" -o "$EC_TMPDIR/agg.prom" ||
		fail "cannot scrape the aggregator's metrics"
	prom_value "$EC_TMPDIR/agg.prom" "edgecap_aggregator_agents{colo=\"$1\",state=\"$2\"}"
}

start_agent() {
	local h=$1
	# shellcheck disable=SC2046 # tls_flags: flags and paths without blanks
	bg_start "agent-$h" "$(edge "$h")" "$EC_AGENT" --interface "$IF1" --host-id "host-$h" \
		--colo "${COLO[$h]}" --control "$CTL_URL" --data "$DATA_URL" \
		--local-socket "$EC_TMPDIR/agent-$h.sock" --batch-ms 50 $(tls_flags "$PKI" "host-$h")
	declare -g "AGENT_PID_$h=$BG_PID"
}

# wait_joined HOST...: until the aggregator's log shows each host joined.
wait_joined() {
	local h
	for h in "$@"; do
		wait_until 20 grep -q "agent host-$h .*joined" "$EC_TMPDIR/agg.err" ||
			fail "agent $h never joined: $(cat "$EC_TMPDIR/agg.err")"
	done
}

data_link_up() {
	"$EC_EDGECAPCTL" status --json --socket "$EC_TMPDIR/agent-$1.sock" 2>/dev/null |
		jq -e '.aggregator.data_connections > 0' >/dev/null
}

wait_data_links() {
	local h
	for h in "$@"; do
		wait_until 20 data_link_up "$h" || fail "agent $h's data link never came up"
	done
}

pcap_post() {
	curl -s -X POST "$API/client/v4/accounts/${account_id}/pcaps" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY" --data "$1"
}
pcap_get() {
	curl -s "$API/client/v4/accounts/${account_id}/pcaps/$1" \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY"
}
pcap_download() {
	curl -s "$API/client/v4/accounts/${account_id}/pcaps/$1/download" \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY" --output "$2"
}

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

manifest() { cat "$STATE/captures/$1/manifest.json"; }

# agent_member ID HOST KEY: a member of HOST's manifest entry.
agent_member() { manifest "$1" | jq -r --arg h "host-$2" --arg k "$3" '.agents[$h][$k]'; }
# member_is ID HOST KEY VALUE, member_is_either ID1 ID2 HOST KEY VALUE, captured_is ID N and
# remaining_is ID N: for wait_until.
member_is() { [ "$(agent_member "$1" "$2" "$3")" = "$4" ]; }
member_is_either() { member_is "$1" "$3" "$4" "$5" || member_is "$2" "$3" "$4" "$5"; }
captured_is() { [ "$(pcap_get "$1" | jq -r .result.packets_captured)" = "$2" ]; }
remaining_is() { [ "$(pcap_get "$1" | jq -r .result.packets_remaining)" = "$2" ]; }

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

count() { tcpdump -nn -r "$1" 2>/dev/null | wc -l; }

# agents_up HOST... [-- AGGREGATOR_FLAG...]: the aggregator, and an agent on each HOST, joined.
agents_up() {
	local h hosts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		hosts+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	churn_setup
	start_agg "$@"
	for h in "${hosts[@]}"; do start_agent "$h"; done
	wait_joined "${hosts[@]}"
	wait_data_links "${hosts[@]}"
}

# ord_capture_of_a_and_b DEST: agents on a and b, a full capture of colo ORD into DEST
# (time_limit 120, packet_limit 20) running, and 10 datagrams sent through b; its id in ORD_ID.
# Not in $(...): the agents it starts and their pids belong to the test's shell.
ord_capture_of_a_and_b() {
	agents_up a b
	ORD_ID=$(post_ok "{\"filter_v1\": {\"destination_port\": $PORT}, \"time_limit\": 120,
		\"packet_limit\": 20, \"type\": \"full\", \"colo\": \"ORD\",
		\"system\": \"magic-transit\", \"destination_conf\": \"file://$1\"}")
	wait_status "$ORD_ID" running 5
	send_from b 10 --rate 1000
}

# A full capture on a and b (colo ORD), time_limit 120: a reaches its packet_limit, b is killed.
# Without churn handling b's share waits for time_limit + grace; now the capture ends once b is
# lost, and what b sent before is in its file and in the manifest.
test_lost_agent_ends_its_share() {
	local id dest=$EC_TMPDIR/lost t0 el
	ord_capture_of_a_and_b "$dest"
	id=$ORD_ID
	# b's batches (50 ms) reach the aggregator before it dies.
	wait_until 10 captured_is "$id" 10 || fail "b's records never arrived: $(pcap_get "$id")"
	kill -KILL "$(agent_pid b)"
	t0=$SECONDS
	send_from a 30 --rate 1000
	wait_status "$id" complete 30
	el=$((SECONDS - t0))
	log "capture finished $el s after the kill (lost grace $LOST_GRACE s, time_limit 120 s)"
	[ "$el" -le 20 ] || fail "the capture took $el s after the kill: it waited for host b"
	expect_eq "$(agent_member "$id" b lost)" true "host b marked lost"
	[[ $(agent_member "$id" b lost_at) =~ ^20[0-9-]+T[0-9:.]+Z$ ]] ||
		fail "lost_at: $(agent_member "$id" b lost_at)"
	expect_eq "$(agent_member "$id" b records_received)" 10 "what host b had sent"
	expect_eq "$(agent_member "$id" b final_received)" false "host b's final report"
	expect_eq "$(agent_member "$id" a lost)" null "host a not lost"
	expect_eq "$(agent_member "$id" a stop_reason)" packet_limit "host a's stop reason"
	expect_eq "$(count "$dest/$id-host-a.pcap")" 20 "host a's file"
	expect_eq "$(count "$dest/$id-host-b.pcap")" 10 "host b's file keeps what it sent"
	grep -q "agent host-b lost" "$EC_TMPDIR/agg.err" || fail "no log line for the loss"
	# The fleet's view on the metrics page: b (ord02) lost, a (ord01) still connected.
	expect_eq "$(agents_metric ord02 lost)" 1 "lost agents in ord02"
	expect_eq "$(agents_metric ord02 connected)" 0 "connected agents in ord02"
	expect_eq "$(agents_metric ord01 connected)" 1 "connected agents in ord01"
	expect_eq "$(agents_metric ord01 lost)" 0 "lost agents in ord01"
}

# A full capture on a and b (colo ORD): b is stopped (SIGTERM, as systemctl stop or an upgrade's
# restart does) mid-capture. The man page's promise: it completes its running captures, sends
# their final reports, detaches and exits 0. So b's share ends with its final report, not as
# lost, and what it captured is in its file; a goes on to its packet_limit.
test_stopped_agent_completes_its_share() {
	local id dest=$EC_TMPDIR/stopped rc=0
	ord_capture_of_a_and_b "$dest"
	id=$ORD_ID
	# In b's kernel ring, its drain or its send queue: the stop must take them all along.
	bg_stop "$(agent_pid b)" || rc=$?
	expect_eq "$rc" 0 "host b's exit status after SIGTERM"
	grep -q "xdp" <(ip -n "$(edge b)" link show "$IF1") &&
		fail "an XDP program left on host b's interface: $(ip -n "$(edge b)" link show "$IF1")"
	wait_until 10 member_is "$id" b final_received true ||
		fail "host b's final report never came: $(manifest "$id")"
	send_from a 30 --rate 1000
	wait_status "$id" complete 30
	expect_eq "$(agent_member "$id" b lost)" null "host b not lost"
	expect_eq "$(agent_member "$id" b stop_reason)" stopped "host b's stop reason"
	expect_eq "$(agent_member "$id" b records_received)" 10 "what host b captured"
	expect_eq "$(count "$dest/$id-host-b.pcap")" 10 "host b's file"
	expect_eq "$(count "$dest/$id-host-a.pcap")" 20 "host a's file"
	grep -q "agent host-b lost" "$EC_TMPDIR/agg.err" && fail "host b logged as lost"
	return 0
}

# A simple capture on a, packet_limit 30: a sends 20, then c (another colo: a simple capture
# has every host) starts and joins for what is left: time and 10 packets. The merged pcap holds
# exactly 30, c's 10 among them, and c's own kernel budget was the 10 left (nothing of its went
# over the aggregator's limit). a is not started again by the late join.
test_late_agent_joins_simple_capture() {
	local id out=$EC_TMPDIR/late.pcap
	agents_up a
	id=$(post_ok "{\"filter_v1\": {\"destination_port\": $PORT}, \"time_limit\": 40,
		\"packet_limit\": 30, \"type\": \"simple\", \"system\": \"magic-transit\"}")
	wait_status "$id" running 5
	send_from a 20 --rate 1000
	wait_until 10 remaining_is "$id" 10 || fail "a's packets never counted: $(pcap_get "$id")"
	start_agent c
	wait_joined c
	wait_until 15 member_is "$id" c joined_late true ||
		fail "host c did not join: $(manifest "$id")"
	wait_data_links c
	send_from c 20 --rate 1000
	wait_status "$id" success 30
	pcap_download "$id" "$out"
	expect_eq "$(count "$out")" 30 "packets in the merged pcap (packet_limit)"
	expect_eq "$(tags_of "$out" | grep -c '^a ')" 20 "host a's packets"
	expect_eq "$(tags_of "$out" | grep -c '^c ')" 10 "host c's packets"
	[[ $(agent_member "$id" c joined_at) =~ ^20[0-9-]+T[0-9:.]+Z$ ]] ||
		fail "joined_at: $(agent_member "$id" c joined_at)"
	expect_eq "$(agent_member "$id" c accepted)" true "host c accepted"
	expect_eq "$(agent_member "$id" c over_limit)" 0 "host c captured only the budget left"
	expect_eq "$(agent_member "$id" a joined_late)" null "host a was there from the start"
	expect_eq "$(agent_member "$id" a duplicates)" 0 "host a's duplicates"
	grep -q "declined capture $id" "$EC_TMPDIR/agent-a.err" &&
		fail "host a was asked to start again: $(cat "$EC_TMPDIR/agent-a.err")"
	return 0
}

# A full capture for colo ORD on a: b (ord02) starts mid-capture and gets its own file; c
# (sjc01) starts too and stays out of it.
test_late_agent_joins_full_capture_of_its_colo() {
	local id dest=$EC_TMPDIR/fulllate
	agents_up a
	id=$(post_ok "{\"filter_v1\": {\"destination_port\": $PORT}, \"time_limit\": 20,
		\"type\": \"full\", \"colo\": \"ORD\", \"system\": \"magic-transit\",
		\"destination_conf\": \"file://$dest\"}")
	wait_status "$id" running 5
	send_from a 10 --rate 1000
	start_agent b
	start_agent c
	wait_joined b c
	wait_until 15 member_is "$id" b joined_late true ||
		fail "host b did not join: $(manifest "$id")"
	wait_data_links b c
	send_from b 15 --rate 1000
	send_from c 15 --rate 1000
	wait_status "$id" complete 40
	expect_eq "$(count "$dest/$id-host-a.pcap")" 10 "host a's file"
	expect_eq "$(count "$dest/$id-host-b.pcap")" 15 "host b's file"
	[ ! -e "$dest/$id-host-c.pcap" ] || fail "host c (sjc01) captured for colo ORD"
	expect_eq "$(agent_member "$id" c joined_late)" null "host c not in the capture"
	expect_eq "$(agent_member "$id" b final_received)" true "host b's final report"
}

# agg_metric NAME: a single sample of the aggregator's metrics page (in AGG_NS).
agg_metric() {
	curl -sf -m 5 "$(metrics_url "$EC_TMPDIR/agg.err")" -o "$EC_TMPDIR/agg.prom" ||
		fail "cannot scrape the aggregator's metrics"
	prom_value "$EC_TMPDIR/agg.prom" "$1"
}

late_replies_above() {
	[ "$(agg_metric edgecap_aggregator_control_replies_late_total)" -gt "$1" ]
}

# An agent paused (SIGSTOP: a hung process, a VM frozen) for twice the lost grace is lost; when
# it resumes, it answers the status surveys that queued up meanwhile, which ended long ago: those
# replies are counted late (edgecap_aggregator_control_replies_late_total) and dropped, not taken
# for the current survey's. Its next answer in time brings it back: connected, not lost.
test_paused_agent_is_lost_then_back() {
	local late0 late1
	agents_up a
	late0=$(agg_metric edgecap_aggregator_control_replies_late_total)
	expect_eq "$(agents_metric ord01 connected)" 1 "connected agents in ord01 before the pause"
	kill -STOP "$(agent_pid a)"
	wait_until 15 grep -q "agent host-a lost" "$EC_TMPDIR/agg.err" ||
		{ kill -CONT "$(agent_pid a)"; fail "host a never lost while paused"; }
	sleep 2
	expect_eq "$(agents_metric ord01 lost)" 1 "lost agents in ord01 while paused"
	late1=$(agg_metric edgecap_aggregator_control_replies_late_total)
	expect_eq "$late1" "$late0" "late replies while the agent was paused"
	kill -CONT "$(agent_pid a)"
	wait_until 10 late_replies_above "$late1" ||
		fail "no late reply counted after the pause: $(grep late "$EC_TMPDIR/agg.prom")"
	wait_until 10 grep -q "agent host-a is back" "$EC_TMPDIR/agg.err" ||
		fail "host a never came back: $(tail -n 20 "$EC_TMPDIR/agg.err")"
	expect_eq "$(agents_metric ord01 connected)" 1 "connected agents in ord01 after the pause"
	expect_eq "$(agents_metric ord01 lost)" 0 "lost agents in ord01 after the pause"
	log "late replies after the pause: $late1 -> $(agg_metric \
		edgecap_aggregator_control_replies_late_total)"
}

# --max-pending-joins 1: c's join to one running capture is queued, its join to the other is
# refused (logged), so c takes part in exactly one of two simple captures. With the default (1024)
# it takes part in both (test_late_agent_joins_simple_capture shows a join at the default).
test_pending_joins_are_capped() {
	local id1 id2 in1 in2
	agents_up a -- --max-pending-joins 1
	id1=$(post_ok "{\"filter_v1\": {\"destination_port\": $PORT}, \"time_limit\": 30,
		\"packet_limit\": 100, \"type\": \"simple\", \"system\": \"magic-transit\"}")
	id2=$(post_ok "{\"filter_v1\": {\"destination_port\": $((PORT + 1))}, \"time_limit\": 30,
		\"packet_limit\": 100, \"type\": \"simple\", \"system\": \"magic-transit\"}")
	wait_status "$id1" running 5
	wait_status "$id2" running 5
	start_agent c
	wait_joined c
	wait_until 15 grep -q "a late join to .* refused: 1 joins are queued" "$EC_TMPDIR/agg.err" ||
		fail "no join refused: $(cat "$EC_TMPDIR/agg.err")"
	wait_until 15 member_is_either "$id1" "$id2" c joined_late true ||
		fail "host c joined neither capture: $(manifest "$id1") $(manifest "$id2")"
	# Were the second join only late, not refused, it would come within a survey: 3 s more.
	sleep 3
	in1=$(agent_member "$id1" c joined_late)
	in2=$(agent_member "$id2" c joined_late)
	log "joined late: $in1 (capture 1), $in2 (capture 2)"
	[ "$in1/$in2" = true/null ] || [ "$in1/$in2" = null/true ] ||
		fail "host c should be in exactly one capture: $in1 and $in2"
}

for t in test_lost_agent_ends_its_share test_stopped_agent_completes_its_share \
	test_late_agent_joins_simple_capture \
	test_late_agent_joins_full_capture_of_its_colo test_pending_joins_are_capped \
	test_paused_agent_is_lost_then_back; do
	run_test "$t"
done
summary
