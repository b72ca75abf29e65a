#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_capture.sh: `edgecapctl capture` on real traffic between namespaces. What it writes is read
# back with tcpdump/tshark and compared with what was sent; the receiver must still get every
# datagram; every way of ending a capture leaves a valid file and nothing attached.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip od tcpdump tshark taskset jq bpftool
require_bin "$EC_EDGECAPCTL" "$EC_TRAFFIC"

PORT=5001
NOISE_PORT=5002

# start_receiver COUNT: a receiver in NS1 on PORT that expects COUNT datagrams.
start_receiver() {
	rm -f "$EC_TMPDIR/recv.ready"
	bg_start recv "$NS1" "$EC_TRAFFIC" recv --port "$PORT" --count "$1" --timeout-ms 15000 \
		--ready-file "$EC_TMPDIR/recv.ready"
	RECV_PID=$BG_PID
	wait_for_file "$EC_TMPDIR/recv.ready" 5 || fail "receiver never became ready"
}

# send_from NS DST PORT COUNT [FLAGS...]
send_from() {
	local ns=$1 dst=$2 port=$3 count=$4
	shift 4
	in_ns "$ns" "$EC_TRAFFIC" send --dst "$dst" --port "$port" --count "$count" "$@" \
		>"$EC_TMPDIR/send.out" || fail "sender failed: $(cat "$EC_TMPDIR/send.out")"
}

# start_capture NAME IFACE ARGS...: edgecapctl capture in NS1 in the background, summary as JSON
# in $EC_TMPDIR/NAME.out; returns once it is capturing (attached, its slot live).
start_capture() {
	local name=$1 dev=$2
	shift 2
	bg_start "$name" "$NS1" "$EC_EDGECAPCTL" capture -i "$dev" --json "$@"
	CAP_PID=$BG_PID
	# "capturing on" comes once the program is attached and the capture's slot is live.
	# (Waiting for the program alone raced: bpftool lists edgecap_tc as soon as it is loaded,
	# before it is attached, and traffic sent then was missed, the capture running to its
	# time limit.)
	wait_until 10 grep -q "capturing on" "$EC_TMPDIR/$name.err" ||
		fail "capture never started: $(cat "$EC_TMPDIR/$name.err")"
	attached "$NS1" "$dev" || fail "capturing, but nothing attached to $dev"
}

# attached NS IFACE: true while an edgecap program is attached to IFACE (XDP or TCX).
attached() {
	ip -n "$1" link show "$2" | grep -q "prog/xdp" && return 0
	tc_prog_loaded
}

# seqs_of PCAP: the ECT1 sequence numbers of the UDP datagrams in PCAP, one a line, sorted.
seqs_of() {
	local hex
	tshark -r "$1" -T fields -e udp.payload 2>/dev/null | while read -r hex; do
		[ "${hex:0:8}" = 45435431 ] && echo $((16#${hex:8:8}))
	done | sort -n
}

# partials_of PCAP: how many partial files of PCAP are left beside it.
partials_of() {
	local f
	f=$(basename "$1")
	find "$(dirname "$1")" -maxdepth 1 -name ".$f.partial.*" | wc -l
}

pcap_count() {
	tcpdump -nn -r "$1" 2>/dev/null | wc -l
}

test_capture_holds_exactly_what_was_sent() {
	local out=$EC_TMPDIR/cap.pcap sum=$EC_TMPDIR/cap.out
	ns_setup cap
	start_receiver 300
	start_capture cap "$IF1" --protocol udp --dst-port "$PORT" --packet-limit 300 \
		--time-limit 30 -w "$out"
	send_from "$NS0" "$IP4_1" "$NOISE_PORT" 100 --tag noise --rate 20000
	send_from "$NS0" "$IP4_1" "$PORT" 300 --tag cap --size 300 --rate 20000
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/cap.err")"
	bg_wait "$RECV_PID" || fail "the receiver lost datagrams: $(cat "$EC_TMPDIR/recv.out")"

	expect_eq "$(json_get "$sum" stop_reason)" packet_limit "stop reason"
	expect_eq "$(json_get "$sum" packets_captured)" 300 "packets captured"
	expect_eq "$(json_get "$sum" ring_full)" 0 "ring full"
	expect_eq "$(seqs_of "$out" | tr '\n' ' ')" "$(seq 0 299 | tr '\n' ' ')" \
		"sequence numbers in the pcap"
	expect_eq "$(tcpdump -nn -r "$out" "udp dst port $NOISE_PORT" 2>/dev/null | wc -l)" 0 \
		"packets of the other port"
	# Whole frames: 14 Ethernet + 20 IPv4 + 8 UDP + 300 payload.
	expect_eq "$(tshark -r "$out" -T fields -e frame.cap_len 2>/dev/null | sort -u)" 342 \
		"captured length"
	# Nanosecond pcap (magic a1b23c4d) with Ethernet link type.
	expect_eq "$(od -An -tx4 -N4 "$out" | tr -d ' ')" a1b23c4d "pcap magic"
	tcpdump -r "$out" -c 1 2>&1 | grep -q "link-type EN10MB" || fail "link type is not Ethernet"
	attached "$NS1" "$IF1" && fail "program still attached after the capture"
	return 0
}

test_ipv6_and_prefix_filter() {
	local out=$EC_TMPDIR/v6.pcap
	ns_setup v6
	start_receiver 50
	start_capture v6 "$IF1" --src-addr 2001:db8::/64 --dst-port "$PORT" --packet-limit 50 \
		--time-limit 30 -w "$out"
	send_from "$NS0" "$IP4_1" "$PORT" 20 --tag v4 --rate 20000
	send_from "$NS0" "$IP6_1" "$PORT" 50 --tag v6 --rate 20000
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/v6.err")"
	expect_eq "$(tcpdump -nn -r "$out" ip6 2>/dev/null | wc -l)" 50 "IPv6 packets"
	expect_eq "$(pcap_count "$out")" 50 "all packets"
	bg_stop "$RECV_PID" >/dev/null || true
}

test_sigint_mid_capture_leaves_a_valid_file() {
	local out=$EC_TMPDIR/int.pcap sum=$EC_TMPDIR/int.out rc=0
	ns_setup int
	start_capture int "$IF1" --dst-port "$PORT" -w "$out"
	send_from "$NS0" "$IP4_1" "$PORT" 40 --tag int --rate 20000
	sleep 0.3
	bg_stop "$CAP_PID" INT || rc=$?
	expect_eq "$rc" 0 "exit code after SIGINT"
	expect_eq "$(json_get "$sum" stop_reason)" stopped "stop reason"
	tcpdump -nn -r "$out" >/dev/null 2>&1 || fail "tcpdump cannot read the file"
	expect_eq "$(pcap_count "$out")" 40 "packets in the file"
	expect_eq "$(partials_of "$out")" 0 "partial files left"
	attached "$NS1" "$IF1" && fail "program still attached after SIGINT"
	return 0
}

test_sigterm_ends_like_sigint() {
	local out=$EC_TMPDIR/term.pcap rc=0
	ns_setup term
	start_capture term "$IF1" -w "$out"
	send_from "$NS0" "$IP4_1" "$PORT" 10 --tag term
	sleep 0.3
	bg_stop "$CAP_PID" TERM || rc=$?
	expect_eq "$rc" 0 "exit code after SIGTERM"
	tcpdump -nn -r "$out" >/dev/null 2>&1 || fail "tcpdump cannot read the file"
	[ "$(pcap_count "$out")" -ge 10 ] || fail "fewer than 10 packets in the file"
}

test_sigkill_leaves_no_program_attached() {
	local hook
	ns_setup kill
	for hook in xdp tc-ingress tc-egress; do
		start_capture "kill-$hook" "$IF1" --hook "$hook" -w "$EC_TMPDIR/kill-$hook.pcap"
		kill -KILL "$CAP_PID"
		{ bg_wait "$CAP_PID"; } 2>/dev/null || true
		wait_until 5 not_attached "$NS1" "$IF1" || fail "$hook program left attached by SIGKILL"
		[ ! -e "$EC_TMPDIR/kill-$hook.pcap" ] || fail "a killed capture left a final-named file"
	done
}

not_attached() {
	! attached "$@"
}

test_foreign_xdp_program_is_refused_and_kept() {
	local rc=0 err=$EC_TMPDIR/foreign.err out=$EC_TMPDIR/foreign.pcap
	require_bin "$EC_NOOP_OBJ"
	ns_setup foreign
	xdp_noop_attach "$NS1" "$IF1"
	in_ns "$NS1" "$EC_EDGECAPCTL" capture -q -i "$IF1" -w "$EC_TMPDIR/foreign.pcap" \
		2>"$err" || rc=$?
	expect_eq "$rc" 1 "exit code"
	grep -q 'another XDP program "xdp_noop"' "$err" || fail "error does not name it: $(cat "$err")"
	ip -n "$NS1" link show "$IF1" | grep -q "name xdp_noop" || fail "xdp_noop was detached"
	[ ! -e "$EC_TMPDIR/foreign.pcap" ] || fail "a failed capture left a file"
	expect_eq "$(partials_of "$out")" 0 "partial files left"
}

test_invalid_input_is_refused_before_attaching() {
	local rc err=$EC_TMPDIR/bad.err req=$EC_TMPDIR/req.json
	ns_setup bad
	printf '%s' '{"filter_v1": {}, "time_limit": 301, "packet_limit": 10, "type": "simple",
		"system": "magic-transit"}' >"$req"
	rc=0
	in_ns "$NS1" "$EC_EDGECAPCTL" capture -i "$IF1" --request "$req" -w "$EC_TMPDIR/b.pcap" \
		2>"$err" || rc=$?
	expect_eq "$rc" 2 "exit code for time_limit 301"
	grep -q "time_limit" "$err" || fail "error does not name time_limit: $(cat "$err")"
	rc=0
	in_ns "$NS1" "$EC_EDGECAPCTL" capture -i "$IF1" --src-port 70000 -w "$EC_TMPDIR/b.pcap" \
		2>"$err" || rc=$?
	expect_eq "$rc" 2 "exit code for --src-port 70000"
	grep -q -- "--src-port" "$err" || fail "error does not name --src-port: $(cat "$err")"
	rc=0
	in_ns "$NS1" "$EC_EDGECAPCTL" capture -i "$IF1" --filter '{"source_port": 1, "x": 2}' \
		-w "$EC_TMPDIR/b.pcap" 2>"$err" || rc=$?
	expect_eq "$rc" 2 "exit code for an unknown filter field"
	# Below three records of the largest size class, a big frame could never be recorded.
	rc=0
	in_ns "$NS1" "$EC_EDGECAPCTL" capture -i "$IF1" --ring-size 128K -w "$EC_TMPDIR/b.pcap" \
		2>"$err" || rc=$?
	expect_eq "$rc" 2 "exit code for --ring-size 128K"
	grep -q -- "--ring-size '128K': .*256K" "$err" || fail "error does not name the rule: $(cat "$err")"
	rc=0
	in_ns "$NS1" "$EC_EDGECAPCTL" capture -i no-such-if0 -w "$EC_TMPDIR/b.pcap" 2>"$err" || rc=$?
	expect_eq "$rc" 1 "exit code for a missing interface"
	grep -q "no-such-if0" "$err" || fail "error does not name the interface: $(cat "$err")"
	attached "$NS1" "$IF1" && fail "something was attached"
	[ ! -e "$EC_TMPDIR/b.pcap" ] || fail "a refused capture left a file"
	return 0
}

test_tc_ingress_and_egress() {
	local sum
	ns_setup tc
	start_receiver 30
	start_capture tci "$IF1" --hook tc-ingress --dst-port "$PORT" --packet-limit 30 \
		--time-limit 30 -w "$EC_TMPDIR/tci.pcap"
	send_from "$NS0" "$IP4_1" "$PORT" 30 --tag tci --rate 20000
	bg_wait "$CAP_PID" || fail "tc-ingress capture failed: $(cat "$EC_TMPDIR/tci.err")"
	sum=$EC_TMPDIR/tci.out
	expect_eq "$(json_get "$sum" interfaces[0].attach_mode)" tcx "tc-ingress attach mode"
	expect_eq "$(seqs_of "$EC_TMPDIR/tci.pcap" | wc -l)" 30 "tc-ingress packets"
	bg_wait "$RECV_PID" || fail "the receiver lost datagrams under tc-ingress"

	start_capture tce "$IF1" --hook tc-egress --dst-port 6001 --packet-limit 20 \
		--time-limit 30 -w "$EC_TMPDIR/tce.pcap"
	send_from "$NS1" "$IP4_0" 6001 20 --tag tce --rate 20000
	bg_wait "$CAP_PID" || fail "tc-egress capture failed: $(cat "$EC_TMPDIR/tce.err")"
	expect_eq "$(tcpdump -nn -r "$EC_TMPDIR/tce.pcap" "src host $IP4_1 and udp dst port 6001" \
		2>/dev/null | wc -l)" 20 "tc-egress packets from NS1"
}

test_two_interfaces_merge_in_time_order() {
	local out=$EC_TMPDIR/two.pcap sum=$EC_TMPDIR/two.out
	ns_setup two
	# A second link between the same namespaces.
	ip link add veth2 netns "$NS0" type veth peer name veth3 netns "$NS1"
	ip -n "$NS0" addr add 198.51.100.1/24 dev veth2
	ip -n "$NS1" addr add 198.51.100.2/24 dev veth3
	ip -n "$NS0" link set veth2 up
	ip -n "$NS1" link set veth3 up
	bg_start two "$NS1" "$EC_EDGECAPCTL" capture -q -i "$IF1" -i veth3 --protocol udp \
		--dst-port "$PORT" --json -w "$out"
	CAP_PID=$BG_PID
	wait_until 10 attached "$NS1" veth3 || fail "capture never attached"
	wait_until 10 attached "$NS1" "$IF1" || fail "capture never attached to $IF1"
	local i
	for i in 1 2 3 4 5; do
		send_from "$NS0" "$IP4_1" "$PORT" 20 --tag a --rate 50000
		send_from "$NS0" 198.51.100.2 "$PORT" 20 --tag b --rate 50000
	done
	sleep 0.3
	bg_stop "$CAP_PID" INT || fail "capture failed: $(cat "$EC_TMPDIR/two.err")"
	expect_eq "$(pcap_count "$out")" 200 "packets from both interfaces"
	expect_eq "$(tcpdump -nn -r "$out" "dst host 198.51.100.2" 2>/dev/null | wc -l)" 100 \
		"packets from the second interface"
	# Timestamps never go backwards across the two interfaces.
	tshark -r "$out" -T fields -e frame.time_epoch 2>/dev/null |
		awk 'NR > 1 && $1 < prev { bad = 1 } { prev = $1 } END { exit bad }' ||
		fail "records are not in timestamp order"
	expect_eq "$(json_get "$sum" 'interfaces | length')" 2 "interfaces in the summary"
}

# cpu_submitted NS IFACE: per CPU, the records slot 0 of the edgecap program on IFACE submitted
# (its per-CPU counters, read from the kernel: the order of EC_KERNEL_COUNTERS), one number a
# line, CPU 0 first.
cpu_submitted() {
	local prog map
	prog=$(ip -n "$1" -j link show "$2" | jq '.[0].xdp.prog.id // .[0].xdp.progs[0].id // empty')
	[ -n "$prog" ] || return 1
	for map in $(bpftool -j prog show id "$prog" | jq '.map_ids[]'); do
		if [ "$(bpftool -j map show id "$map" | jq -r .name)" = ec_counters ]; then
			# Raw bytes (no BTF here): slot 0's submitted, the sixth u64, little-endian.
			bpftool -j map dump id "$map" | jq '.[0].values[] | .value[40:48] |
				. as $b | reduce range(7; -1; -1) as $i (0; . * 256 + ($b[$i] | ltrimstr("0x") |
				explode | map(if . >= 97 then . - 87 else . - 48 end) |
				.[0] * 16 + .[1]))'
			return 0
		fi
	done
	return 1
}

# two_senders COUNT [FLAGS...]: COUNT datagrams to PORT from a sender on CPU 0 (source port 4000)
# and one on CPU 1 (4001), at once.
two_senders() {
	local n=$1 p0 p1
	shift
	in_ns "$NS0" taskset -c 0 "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" \
		--src-port 4000 --count "$n" --rate 40000 "$@" >/dev/null &
	p0=$!
	in_ns "$NS0" taskset -c 1 "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" \
		--src-port 4001 --count "$n" --rate 40000 "$@" >/dev/null &
	p1=$!
	wait "$p0" && wait "$p1" || fail "a sender failed"
}

# Two senders pinned to CPU 0 and CPU 1 at once: the receive path (generic XDP, in the backlog
# of the sending CPU) runs on both CPUs, each writes into its own ring, and the pcap still holds
# every datagram of both, in timestamp order; then a packet limit across the CPUs stays exact.
test_two_cpus_merge_in_time_order() {
	local out=$EC_TMPDIR/cpus.pcap sum=$EC_TMPDIR/cpus.out per i
	[ "$(nproc)" -ge 2 ] || skip "needs two CPUs"
	ns_setup cpus
	start_capture cpus "$IF1" --xdp-mode skb --protocol udp --dst-port "$PORT" -w "$out"
	for i in 1 2 3; do
		two_senders 200 --tag "r$i"
	done
	sleep 0.3
	per=$(cpu_submitted "$NS1" "$IF1" | tr '\n' ' ') || fail "cannot read the per-CPU counters"
	bg_stop "$CAP_PID" INT || fail "capture failed: $(cat "$EC_TMPDIR/cpus.err")"
	log "records submitted per CPU: $per"
	# Both CPUs made records (into their own rings: test_bpf_engine checks which ring).
	echo "$per" | awk '{ exit !($1 > 0 && $2 > 0) }' || fail "records from one CPU only: $per"
	expect_eq "$(json_get "$sum" ring_full)" 0 "ring full"
	expect_eq "$(json_get "$sum" packets_captured)" 1200 "packets captured"
	expect_eq "$(pcap_count "$out")" 1200 "packets in the pcap"
	expect_eq "$(tcpdump -nn -r "$out" "src port 4001" 2>/dev/null | wc -l)" 600 \
		"packets from the sender on CPU 1"
	tshark -r "$out" -T fields -e frame.time_epoch 2>/dev/null |
		awk 'NR > 1 && $1 < prev { bad = 1 } { prev = $1 } END { exit bad }' ||
		fail "records are not in timestamp order"

	# Exact across the CPUs: 400 offered at once, 250 kept.
	start_capture cpus2 "$IF1" --xdp-mode skb --protocol udp --dst-port "$PORT" \
		--packet-limit 250 --time-limit 30 -w "$out"
	two_senders 200
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/cpus2.err")"
	expect_eq "$(json_get "$EC_TMPDIR/cpus2.out" stop_reason)" packet_limit "stop reason"
	expect_eq "$(json_get "$EC_TMPDIR/cpus2.out" packets_captured)" 250 "packets captured"
	expect_eq "$(pcap_count "$out")" 250 "packets in the pcap"
}

test_stdout_stream_into_tcpdump() {
	local n
	ns_setup pipe
	(
		wait_until 10 attached "$NS1" "$IF1"
		send_from "$NS0" "$IP4_1" "$PORT" 25 --tag pipe --rate 20000
	) &
	n=$(in_ns "$NS1" "$EC_EDGECAPCTL" capture -q -i "$IF1" --dst-port "$PORT" \
		--packet-limit 25 --time-limit 20 --json -w - 2>"$EC_TMPDIR/pipe.err" |
		tcpdump -nn -r - 2>/dev/null | wc -l)
	wait
	expect_eq "$n" 25 "packets tcpdump read from the stream"
	grep -q '"stop_reason":"packet_limit"' "$EC_TMPDIR/pipe.err" ||
		fail "the JSON summary did not go to stderr: $(cat "$EC_TMPDIR/pipe.err")"
}

test_simple_type_snaplen_and_sampling() {
	local out=$EC_TMPDIR/simple.pcap sum=$EC_TMPDIR/simple.out
	ns_setup simple
	start_capture simple "$IF1" --type simple --dst-port "$PORT" --sample-rate 4 \
		--time-limit 30 -w "$out"
	send_from "$NS0" "$IP4_1" "$PORT" 400 --tag simple --size 1000 --rate 40000
	sleep 0.3
	bg_stop "$CAP_PID" INT || fail "capture failed: $(cat "$EC_TMPDIR/simple.err")"
	expect_eq "$(tshark -r "$out" -T fields -e frame.cap_len 2>/dev/null | sort -u)" 160 \
		"snaplen of a simple capture"
	expect_eq "$(tshark -r "$out" -T fields -e frame.len 2>/dev/null | sort -u)" 1042 \
		"original length"
	local kept matched sampled
	kept=$(json_get "$sum" submitted)
	matched=$(json_get "$sum" matched)
	sampled=$(json_get "$sum" sampled_out)
	expect_eq "$matched" 400 "matched"
	expect_eq "$((kept + sampled))" 400 "submitted + sampled out"
	# 1 in 4 of 400: 100 expected; far outside 40..160 means sampling is broken.
	[ "$kept" -ge 40 ] && [ "$kept" -le 160 ] || fail "sample rate 4 kept $kept of 400"
}

# tcpdump's -c N and -s LEN, which operators type: --packet-limit N and --snaplen LEN.
test_tcpdump_c_and_s() {
	local out=$EC_TMPDIR/cs.pcap sum=$EC_TMPDIR/cs.out
	ns_setup cs
	start_receiver 50
	start_capture cs "$IF1" --dst-port "$PORT" -c 20 -s 96 --time-limit 30 -w "$out"
	send_from "$NS0" "$IP4_1" "$PORT" 50 --tag cs --size 300 --rate 20000
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/cs.err")"
	bg_wait "$RECV_PID" || fail "the receiver lost datagrams: $(cat "$EC_TMPDIR/recv.out")"
	expect_eq "$(json_get "$sum" stop_reason)" packet_limit "stop reason of -c 20"
	expect_eq "$(json_get "$sum" packets_captured)" 20 "packets captured with -c 20"
	expect_eq "$(pcap_count "$out")" 20 "packets in the pcap"
	expect_eq "$(tshark -r "$out" -T fields -e frame.cap_len 2>/dev/null | sort -u)" 96 \
		"captured length with -s 96"
	expect_eq "$(tshark -r "$out" -T fields -e frame.len 2>/dev/null | sort -u)" 342 \
		"original length"
}

test_time_and_byte_limits() {
	local sum
	ns_setup lim
	start_capture time "$IF1" --time-limit 1 -w "$EC_TMPDIR/time.pcap"
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/time.err")"
	sum=$EC_TMPDIR/time.out
	expect_eq "$(json_get "$sum" stop_reason)" time_limit "stop reason"
	awk -v d="$(json_get "$sum" duration_s)" 'BEGIN { exit !(d >= 0.9 && d < 3) }' ||
		fail "a 1 s capture lasted $(json_get "$sum" duration_s) s"

	# 342-byte frames: 10 fit in 3500 bytes, the 11th does not.
	start_capture bytes "$IF1" --dst-port "$PORT" --byte-limit 3500 --time-limit 30 \
		-w "$EC_TMPDIR/bytes.pcap"
	send_from "$NS0" "$IP4_1" "$PORT" 30 --tag bytes --size 300 --rate 20000
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/bytes.err")"
	sum=$EC_TMPDIR/bytes.out
	expect_eq "$(json_get "$sum" stop_reason)" byte_limit "stop reason"
	expect_eq "$(json_get "$sum" bytes_captured)" 3420 "bytes captured"
	expect_eq "$(pcap_count "$EC_TMPDIR/bytes.pcap")" 10 "packets in the file"
}

test_xdp_skb_mode() {
	local sum=$EC_TMPDIR/skb.out
	ns_setup skb
	start_capture skb "$IF1" --xdp-mode skb --dst-port "$PORT" --packet-limit 10 \
		--time-limit 30 -w "$EC_TMPDIR/skb.pcap"
	send_from "$NS0" "$IP4_1" "$PORT" 10 --tag skb --rate 20000
	bg_wait "$CAP_PID" || fail "capture failed: $(cat "$EC_TMPDIR/skb.err")"
	expect_eq "$(json_get "$sum" interfaces[0].attach_mode)" skb "attach mode"
	expect_eq "$(json_get "$sum" packets_captured)" 10 "packets captured"
}

run_test test_capture_holds_exactly_what_was_sent
run_test test_ipv6_and_prefix_filter
run_test test_sigint_mid_capture_leaves_a_valid_file
run_test test_sigterm_ends_like_sigint
run_test test_sigkill_leaves_no_program_attached
run_test test_foreign_xdp_program_is_refused_and_kept
run_test test_invalid_input_is_refused_before_attaching
run_test test_tc_ingress_and_egress
run_test test_two_interfaces_merge_in_time_order
run_test test_two_cpus_merge_in_time_order
run_test test_stdout_stream_into_tcpdump
run_test test_simple_type_snaplen_and_sampling
run_test test_time_and_byte_limits
run_test test_tcpdump_c_and_s
run_test test_xdp_skb_mode
summary
