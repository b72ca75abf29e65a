#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_fleet.sh: the whole system. Three edge hosts, each a namespace with its own veth and its
# own traffic and a real edgecap-agent; one real edgecap-aggregator; captures asked for with the
# seeds' curl commands (only the host and the credential changed) and the merged pcap read back with tshark.
# Agents reach the aggregator over mutual TLS (tls+tcp://): the aggregator runs in a namespace of
# its own, bridged to every edge host, with certificates made for the run by a CA of its own;
# test_plain_ipc_transport keeps one plain ipc:// case (unix sockets cross network namespaces).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip curl jq tcpdump tshark openssl
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_TRAFFIC" "$EC_EDGECAPCTL"

PORT=5001
HOSTS=(a b c)
declare -A COLO=([a]=ord01 [b]=ord02 [c]=sjc01)
account_id=023e105f4ecef8ad9ca31a8372d0c353
# agg_start's credential is this account's.
EC_API_ACCOUNT=$account_id

# fleet_setup [ipc]: a sender and an edge host namespace per host (SND_h, EDGE_h), the
# aggregator's endpoints and state directory, no processes yet. By default the links are
# tls+tcp:// to the aggregator's namespace AGG_NS (203.0.113.1 on a bridge to every edge host,
# which has 203.0.113.1x), with a CA, the aggregator's certificate and one per host id in PKI;
# with "ipc" they are plain ipc:// and the aggregator runs here (AGG_NS "-").
fleet_setup() {
	local h i=10
	for h in "${HOSTS[@]}"; do
		ns_setup "fleet$h"
		declare -g "SND_$h=$NS0" "EDGE_$h=$NS1"
	done
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	if [ "${1:-}" = ipc ]; then
		AGG_NS=-
		CTL_URL="ipc://$EC_TMPDIR/control.sock"
		DATA_URL="ipc://$EC_TMPDIR/data.sock"
		return 0
	fi
	tls_ns_setup fleetagg
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
	# DNS: as well as IP:, for Debian 12's mbedTLS matches an address only as a DNS name.
	tls_make_cert "$PKI" aggregator "DNS:203.0.113.1,IP:203.0.113.1"
	for h in "${HOSTS[@]}"; do tls_make_cert "$PKI" "host-$h"; done
	CTL_URL=tls+tcp://203.0.113.1:7101
	DATA_URL=tls+tcp://203.0.113.1:7102
}

# The daemon flags for certificate NAME of the run's CA; none on plain ipc://.
fleet_tls() {
	[ "$AGG_NS" = - ] || tls_flags "$PKI" "$1"
}

# The aggregator's API listens on 127.0.0.1 in AGG_NS: the tests' curl commands run there.
curl() {
	if [ "$AGG_NS" = - ]; then
		command curl "$@"
	else
		ip netns exec "$AGG_NS" curl "$@"
	fi
}

# start_agg [FLAGS...]: the aggregator in our namespace (agg_start: its log in agg.err), the
# test's state directory and endpoints and knobs, then FLAGS; its API base URL in API.
start_agg() {
	# shellcheck disable=SC2046 # fleet_tls: flags and paths without blanks
	agg_start -n "$AGG_NS" -s "$STATE" agg --control "$CTL_URL" --data "$DATA_URL" \
		$(fleet_tls aggregator) --simple-interval 0 --max-full 0 --grace 3 \
		--destination-root "$EC_TMPDIR" "$@"
	API=$AGG_URL
}

# start_agent HOST [URL_CONTROL URL_DATA]: edgecap-agent on HOST's edge namespace.
start_agent() {
	local h=$1 ns
	ns=$(edge "$h")
	# shellcheck disable=SC2046 # fleet_tls: flags and paths without blanks
	bg_start "agent-$h" "$ns" "$EC_AGENT" --interface "$IF1" --host-id "host-$h" \
		--colo "${COLO[$h]}" --control "${2:-$CTL_URL}" --data "${3:-$DATA_URL}" \
		--local-socket "$EC_TMPDIR/agent-$h.sock" --batch-ms 50 $(fleet_tls "host-$h")
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

# wait_data_links HOST...: until each agent's data link is up (the control link joining first
# proves nothing about it, and a TLS handshake takes a while on a loaded machine).
wait_data_links() {
	local h
	for h in "$@"; do
		wait_until 15 data_link_up "$h" || fail "agent $h's data link never came up"
	done
}

data_link_up() {
	"$EC_EDGECAPCTL" status --json --socket "$EC_TMPDIR/agent-$1.sock" 2>/dev/null |
		jq -e '.aggregator.data_connections > 0' >/dev/null
}

# The seeds' curl commands, with only the host and the credential changed.
pcap_post() {
	curl -s -X POST "$API/client/v4/accounts/${account_id}/pcaps" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" \
		--data "$1"
}
pcap_get() {
	curl -s -X GET "$API/client/v4/accounts/${account_id}/pcaps/$1" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY"
}
pcap_download() {
	curl -s -X GET "$API/client/v4/accounts/${account_id}/pcaps/$1/download" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" \
		--output "$2"
}
pcap_stop() {
	curl -s -X PUT "$API/client/v4/accounts/${account_id}/pcaps/$1/stop" \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY"
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

# manifest ID: the capture's manifest on disk, once it has settled: agents' reports rewrite it at
# most every --manifest-interval-ms (1 s), so a report that came within the last second may still
# be on its way; a file untouched for 1.2 s has everything the aggregator knew then.
manifest() {
	local f=$STATE/captures/$1/manifest.json i mtime
	for i in $(seq 30); do
		mtime=$(stat -c %.9Y "$f" 2>/dev/null | tr -d .) || mtime=0
		[ $(($(date +%s%N) - mtime)) -ge 1200000000 ] && break
		sleep 0.1
	done
	cat "$f"
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
	wait_data_links "${HOSTS[@]}"
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
	# Full captures end complete, once their files are in place.
	wait_status "$id" complete 20
	expect_eq "$(tcpdump -nn -r "$dest/$id-host-a.pcap" 2>/dev/null | wc -l)" 40 "host a's file"
	expect_eq "$(tcpdump -nn -r "$dest/$id-host-b.pcap" 2>/dev/null | wc -l)" 40 "host b's file"
	[ ! -e "$dest/$id-host-c.pcap" ] || fail "host c (sjc01) captured for colo ORD"
	expect_eq "$(manifest "$id" | jq -r '.agents["host-c"].accepted')" false \
		"host c recorded as declining"
	# Whole frames in a full capture.
	expect_eq "$(tshark -r "$dest/$id-host-a.pcap" -T fields -e frame.cap_len 2>/dev/null |
		sort -u)" 106 "captured length"
	# Customers' packets are for the aggregator's user and group only.
	expect_eq "$(stat -c %a "$dest/$id-host-a.pcap")" 640 "mode of a full capture's pcap"
	expect_eq "$(stat -c %a "$dest")" 750 "mode of its destination directory"
}

# A symlink planted at a host file's partial name is never written through: the capture fails,
# saying why, and the file the link points at is unchanged.
test_symlinked_partial_file_fails_the_capture() {
	local id dest=$EC_TMPDIR/symdest victim=$EC_TMPDIR/victim h
	all_agents_up
	printf 'root-owned\n' >"$victim"
	chmod 0644 "$victim"
	mkdir -p "$dest"
	id=$(post_ok "{\"filter_v1\": {\"destination_port\": 5001}, \"time_limit\": 3,
		\"type\": \"full\", \"colo\": \"ORD\", \"system\": \"magic-transit\",
		\"destination_conf\": \"file://$dest\"}")
	# Hosts a and b (ORD) will write .ID-HOST.pcap.partial once their first packets come.
	for h in a b; do ln -s "$victim" "$dest/.$id-host-$h.pcap.partial"; done
	wait_status "$id" running 5
	for h in a b; do send_from "$h" 20 --rate 2000; done
	wait_status "$id" failed 20
	expect_eq "$(cat "$victim")" root-owned "the file the symlink points at"
	expect_eq "$(stat -c %a "$victim")" 644 "its mode"
	pcap_get "$id" | jq -e '.result.error_message | contains("Too many levels of symbolic")' \
		>/dev/null || fail "error_message: $(pcap_get "$id" | jq .result.error_message)"
	grep -q "a symbolic link is in its place (refusing to write through it)" \
		"$EC_TMPDIR/agg.err" || fail "no log line for the symlink: $(cat "$EC_TMPDIR/agg.err")"
	for h in a b; do
		[ -L "$dest/.$id-host-$h.pcap.partial" ] || fail "the planted link is gone"
		[ ! -e "$dest/$id-host-$h.pcap" ] || fail "host $h's pcap was written"
	done
}

# Local captures (edgecapctl start) go only beneath the agent's --output-dir, and a fleet stop
# for a local capture's id does not stop it. The agent dials a surveyor the test runs itself
# (nanocat), which sends what an aggregator could: a stop for that id.
test_local_captures_are_confined_and_not_the_fleets() {
	local out=$EC_TMPDIR/local sock=$EC_TMPDIR/agent-a.sock rogue=ipc://$EC_TMPDIR/rogue.sock
	local req=$EC_TMPDIR/local-req.json id rc err=$EC_TMPDIR/ctl.err
	require_tools nanocat
	fleet_setup
	# A socket directory that others may enter is refused at start, naming it and its mode.
	mkdir -m 0755 "$EC_TMPDIR/open"
	rc=0
	in_ns "$(edge a)" timeout 10 "$EC_AGENT" --interface "$IF1" --control "$rogue" \
		--data "ipc://$EC_TMPDIR/rogue-data.sock" --local-socket "$EC_TMPDIR/open/agent.sock" \
		--output-dir "$out" 2>"$err" || rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
		fail "agent with an open socket directory: exit $rc"
	fi
	grep -q "the local socket's directory $EC_TMPDIR/open has mode 0755" "$err" ||
		fail "message: $(cat "$err")"
	[ ! -e "$EC_TMPDIR/open/agent.sock" ] || fail "a socket was made in the open directory"
	bg_start agent-a "$(edge a)" "$EC_AGENT" --interface "$IF1" --host-id host-a --colo ord01 \
		--control "$rogue" --data "ipc://$EC_TMPDIR/rogue-data.sock" --local-socket "$sock" \
		--output-dir "$out" --batch-ms 50
	wait_until 10 test -S "$sock" || fail "agent's local socket: $(cat "$EC_TMPDIR/agent-a.err")"
	printf '{"filter_v1": {"destination_port": 5001}, "time_limit": 60, "type": "simple",
		"system": "magic-transit", "packet_limit": 1000}\n' >"$req"
	# Outside the output directory: refused with exit 2, naming both; nothing written.
	rc=0
	"$EC_EDGECAPCTL" start --socket "$sock" --request "$req" -w /etc/x 2>"$err" || rc=$?
	expect_eq "$rc" 2 "exit status of start -w /etc/x"
	grep -q "output /etc/x: not beneath the agent's output directory $out" "$err" ||
		fail "message: $(cat "$err")"
	grep -q "refused a local capture: output /etc/x: not beneath the agent's output directory $out" \
		"$EC_TMPDIR/agent-a.err" || fail "no log line: $(cat "$EC_TMPDIR/agent-a.err")"
	[ ! -e /etc/x ] || fail "/etc/x was created"
	rc=0
	"$EC_EDGECAPCTL" start --socket "$sock" --request "$req" -w ../x.pcap 2>"$err" || rc=$?
	expect_eq "$rc" 2 "exit status of start -w ../x.pcap"
	[ ! -e "$EC_TMPDIR/x.pcap" ] || fail "../x.pcap was created"
	# A plain name lands in the output directory.
	id=$("$EC_EDGECAPCTL" start --socket "$sock" --request "$req" -w local.pcap | jq -r .id)
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "local capture not started"
	# A fleet stop for that id, over and over for 3 s while the agent connects.
	timeout 3 nanocat --surveyor --bind "$rogue" --interval 0.3 --ascii \
		--data "{\"version\": [1, 0], \"type\": \"stop\", \"id\": 7, \"capture_id\": \"$id\"}" \
		>"$EC_TMPDIR/rogue.out" 2>&1 || true
	grep -q '"accepted":false' "$EC_TMPDIR/rogue.out" ||
		fail "no refusal from the agent: $(cat "$EC_TMPDIR/rogue.out")"
	grep -q "refused a fleet stop for capture $id: it is a local capture" \
		"$EC_TMPDIR/agent-a.err" || fail "no log line: $(cat "$EC_TMPDIR/agent-a.err")"
	expect_eq "$("$EC_EDGECAPCTL" list --socket "$sock" --json |
		jq -r --arg id "$id" '.captures[] | select(.id == $id) | .status')" running \
		"the local capture after the fleet stop"
	send_from a 10 --rate 1000
	# The host's operator stops it; the pcap is there, 0640.
	"$EC_EDGECAPCTL" stop --socket "$sock" "$id" >/dev/null || fail "local stop"
	wait_until 10 test -e "$out/local.pcap" || fail "no pcap in $out: $(ls -la "$out")"
	expect_eq "$(tcpdump -nn -r "$out/local.pcap" 2>/dev/null | wc -l)" 10 "local packets"
	expect_eq "$(stat -c %a "$out/local.pcap")" 640 "mode of a local pcap"
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
		-H "Authorization: Bearer $EDGECAP_API_TOKEN" --data '{"filter_v1": {}, "time_limit": 1, "packet_limit": 1, "type": "simple",
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
	wait_status "$id2" complete 20
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

# The one plain case: an agent over ipc://, no certificates (the socket's directory guards it).
test_plain_ipc_transport() {
	local id
	fleet_setup ipc
	start_agg
	start_agent a
	wait_agents 1
	id=$(post_ok '{"filter_v1": {"destination_port": 5001}, "time_limit": 3,
		"packet_limit": 10, "type": "simple", "system": "magic-transit"}')
	sleep 1
	send_from a 10 --rate 1000
	wait_until 20 grep -q '"status": *"success"' "$STATE/captures/$id/manifest.json" ||
		fail "capture over ipc did not succeed: $(manifest "$id")"
	expect_eq "$(tcpdump -nn -r "$STATE/captures/$id/capture.pcap" 2>/dev/null | wc -l)" 10 \
		"packets over ipc"
}

for t in test_simple_capture_across_three_agents test_full_capture_reaches_only_its_colo \
	test_stop_mid_capture test_agent_killed_mid_capture test_aggregator_restart_mid_capture \
	test_rate_rules test_concurrent_captures_with_different_filters test_plain_ipc_transport \
	test_symlinked_partial_file_fails_the_capture \
	test_local_captures_are_confined_and_not_the_fleets; do
	# EC_ONLY=NAME runs one test, for debugging.
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$t" ] || continue
	run_test "$t"
done
summary
