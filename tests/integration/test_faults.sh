#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_faults.sh: faults injected into a real edgecap-agent (issue 11, point 2): SIGKILL while
# it attaches, drains under traffic and stops; SIGSTOP for 10 s under load; the smallest ring it
# accepts (256K: a power of two from 256K up) under a flood; the tc hooks attached, captured
# through and detached on SIGTERM. The agent runs in an edge namespace on veth1, its aggregator endpoints on ipc:// sockets where
# nobody listens (its captures here are local ones, started through its local socket), and its
# live counters are read with `edgecapctl status --json`. Each test is bounded in time.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

require_root
require_tools ip jq tcpdump bpftool
EC_NNGCLOSEHANG=${EC_NNGCLOSEHANG:-$EC_BUILD_DIR/tests/tools/ec_nngclosehang.so}
require_bin "$EC_AGENT" "$EC_EDGECAPCTL" "$EC_TRAFFIC" "$EC_LIVEGEN" "$EC_NNGCLOSEHANG"

PORT=5001

# identity_holds KERNEL_JSON: matched = sampled_out + budget_exhausted + ring_full + submitted.
identity_holds() {
	jq -e '.matched == .sampled_out + .budget_exhausted + .ring_full + .submitted' \
		<<<"$1" >/dev/null
}

# attached_anything: whether NS1 has any XDP, tc or tcx program on IF1 (ip link and bpftool's
# view of the namespace: programs are global, other runs' would be counted), or an edgecap tc
# program is loaded at all (tcx attachments are not listed by this bpftool).
attached_anything() {
	ip -n "$NS1" link show "$IF1" | grep -q "prog/xdp" && return 0
	tc_prog_loaded && return 0
	[ -n "$(tc -n "$NS1" filter show dev "$IF1" ingress 2>/dev/null)" ] && return 0
	[ -n "$(tc -n "$NS1" filter show dev "$IF1" egress 2>/dev/null)" ] && return 0
	ip netns exec "$NS1" bpftool -j net show dev "$IF1" 2>/dev/null |
		jq -e '.[0] | ((.xdp // []) + (.tc // []) + (.tcx // [])) | length > 0' >/dev/null
}

nothing_attached() {
	! attached_anything
}

# kill_and_check WHAT: SIGKILLs the agent, reaps it and fails unless nothing is left attached.
kill_and_check() {
	kill -KILL "$AGENT_PID" 2>/dev/null || true
	{ bg_wait "$AGENT_PID"; } 2>/dev/null || true
	wait_until 5 nothing_attached || fail "a program was left attached by SIGKILL $1: \
$(ip -n "$NS1" link show "$IF1"; ip netns exec "$NS1" bpftool net show)"
}

# pcap_count_src FILE PORT: the UDP datagrams from source port PORT in FILE.
pcap_count_src() {
	tcpdump -nn -r "$1" "udp src port $2" 2>/dev/null | wc -l
}

test_sigkill_during_attach_drain_and_stop_leaves_nothing() {
	local delay attached_seen=0 n
	ns_setup fkill
	# During attach: killed 0, 50, 150 and 300 ms after exec, while it loads and attaches.
	for delay in 0 0.05 0.15 0.3; do
		agent_start "kill-attach"
		sleep "$delay"
		grep -q "attached to" "$AGENT_LOG" && attached_seen=$((attached_seen + 1))
		kill_and_check "during attach (after ${delay}s)"
	done
	log "SIGKILL during attach: $attached_seen of 4 kills came after the attach was logged"

	# During drain, under traffic: a local capture of every UDP datagram, 20,000 a second.
	agent_start kill-drain
	agent_ready
	local_start drain.pcap '{"protocol": 17}'
	bg_start flood "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count 200000 \
		--rate 20000 --size 300
	wait_until 10 drained_some || fail "the capture saw no traffic: $(agent_status)"
	kill_and_check "during drain"
	bg_stop "$BG_PID" >/dev/null || true

	# During stop: SIGTERM under traffic, then SIGKILL while it shuts down.
	agent_start kill-stop
	agent_ready
	local_start stop.pcap '{"protocol": 17}'
	bg_start flood2 "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count 200000 \
		--rate 20000 --size 300
	wait_until 10 drained_some || fail "the capture saw no traffic: $(agent_status)"
	kill -TERM "$AGENT_PID"
	sleep 0.02
	kill_and_check "during stop"
	bg_stop "$BG_PID" >/dev/null || true

	# The restart works the first time: it attaches and captures 50 datagrams.
	agent_start restart
	agent_ready
	grep -q "attached to $IF1" "$AGENT_LOG" || fail "restart did not attach: $(cat "$AGENT_LOG")"
	local_start after.pcap '{"protocol": 17, "destination_port": 5002}' '"packet_limit": 50'
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port 5002 --count 50 --rate 5000 >/dev/null
	wait_until 15 test -s "$AGENT_OUT/after.pcap" -a ! -e "$AGENT_OUT/.after.pcap.partial" || true
	wait_until 15 capture_gone "$CAP_ID" || fail "the capture after the restart never ended"
	n=$(tcpdump -nn -r "$AGENT_OUT/after.pcap" "udp dst port 5002" 2>/dev/null | wc -l)
	expect_eq "$n" 50 "datagrams captured after the restart"
}

# The agent daemon with --hook tc-ingress and tc-egress (edgecapctl capture had the only tests
# of either): it attaches a tc program and no XDP one, a capture through it holds what crossed
# the interface that way, and a SIGTERM leaves nothing attached, with exit 0.
test_agent_tc_hooks_capture_and_detach() {
	local hook port n rc
	ns_setup fhook
	for hook in tc-ingress tc-egress; do
		agent_start "hook-$hook" --hook "$hook"
		agent_ready
		attached_anything || fail "the agent with --hook $hook attached nothing"
		ip -n "$NS1" link show "$IF1" | grep -q "prog/xdp" &&
			fail "an XDP program with --hook $hook: $(ip -n "$NS1" link show "$IF1")"
		if [ "$hook" = tc-ingress ]; then
			port=5003
			local_start "$hook.pcap" "{\"protocol\": 17, \"destination_port\": $port}" \
				'"packet_limit": 30'
			in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$port" --count 30 \
				--rate 5000 >/dev/null || fail "sender toward the edge"
		else
			port=5004
			local_start "$hook.pcap" "{\"protocol\": 17, \"destination_port\": $port}" \
				'"packet_limit": 30'
			in_ns "$NS1" "$EC_TRAFFIC" send --dst "$IP4_0" --port "$port" --count 30 \
				--rate 5000 >/dev/null || fail "sender from the edge"
		fi
		wait_until 15 capture_gone "$CAP_ID" || fail "the $hook capture never ended"
		n=$(tcpdump -nn -r "$AGENT_OUT/$hook.pcap" "udp dst port $port" 2>/dev/null | wc -l)
		expect_eq "$n" 30 "datagrams captured with --hook $hook"
		rc=0
		bg_stop "$AGENT_PID" || rc=$?
		expect_eq "$rc" 0 "the agent's exit status after SIGTERM (--hook $hook)"
		wait_until 5 nothing_attached || fail "a program was left attached after SIGTERM \
(--hook $hook): $(tc -n "$NS1" filter show dev "$IF1" ingress; ip netns exec "$NS1" bpftool net show)"
	done
}

submitted_is() {
	[ "$(kernel_of "$CAP_ID" | jq -r .submitted)" = "$1" ]
}

drained_some() {
	[ "$(kernel_of "$CAP_ID" | jq -r .submitted)" -gt 100 ]
}

test_sigstop_under_load() {
	local k ring_full n_after
	ns_setup fstop
	agent_start stop --ring-size 256K
	agent_ready
	# The receiver counts the datagrams sent while the agent is stopped (tag "stopped"); the
	# others are "foreign" to it.
	rm -f "$EC_TMPDIR/recv.ready"
	bg_start recv "$NS1" "$EC_TRAFFIC" recv --port "$PORT" --count 50000 --tag stopped \
		--timeout-ms 60000 --ready-file "$EC_TMPDIR/recv.ready"
	local recv_pid=$BG_PID
	wait_for_file "$EC_TMPDIR/recv.ready" 5 || fail "receiver never became ready"
	local_start stop.pcap "{\"protocol\": 17, \"destination_port\": $PORT}"
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --src-port 6001 \
		--count 2000 --rate 10000 --size 300 --tag before >/dev/null || fail "sender (before)"
	kill -STOP "$AGENT_PID"
	# 10 s stopped under 5,000 datagrams a second: 17 MB through a 256 KB ring.
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --src-port 6002 \
		--count 50000 --rate 5000 --size 300 --tag stopped >/dev/null || fail "sender (stopped)"
	kill -CONT "$AGENT_PID"
	bg_wait "$recv_pid" || fail "user traffic was affected: $(cat "$EC_TMPDIR/recv.out")"
	wait_until 10 agent_status || fail "agent does not answer after SIGCONT"
	k=$(kernel_of "$CAP_ID") || fail "capture gone after SIGCONT: $(agent_status)"
	ring_full=$(jq -r .ring_full <<<"$k")
	[ "$ring_full" -gt 0 ] || fail "no ring_full counted while stopped: $k"
	# The capture resumes: datagrams sent after SIGCONT are in the pcap.
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --src-port 6003 \
		--count 200 --rate 2000 --size 300 --tag after >/dev/null || fail "sender (after)"
	sleep 0.5
	k=$(kernel_of "$CAP_ID") || fail "capture gone: $(agent_status)"
	identity_holds "$k" || fail "counter identity broken after SIGSTOP: $k"
	"$EC_EDGECAPCTL" stop "$CAP_ID" --socket "$AGENT_SOCK" >/dev/null || fail "stop"
	wait_until 15 capture_gone "$CAP_ID" || fail "the capture never ended"
	n_after=$(pcap_count_src "$AGENT_OUT/stop.pcap" 6003)
	[ "$n_after" -gt 0 ] || fail "no datagram captured after SIGCONT: $k"
	log "SIGSTOP 10 s: receiver got 50000 of 50000; kernel $k; after SIGCONT $n_after of 200 \
in the pcap, $(pcap_count_src "$AGENT_OUT/stop.pcap" 6001) of 2000 before"
}

test_smallest_ring_under_flood() {
	local k n
	ns_setup fring
	agent_start ring --ring-size 256K
	agent_ready
	local_start ring.pcap '{"protocol": 17}'
	# ec_livegen's frames, as fast as it goes for 3 s, 1514 bytes each: far past the ring.
	in_ns "$NS0" "$EC_LIVEGEN" --dev "$IF0" --src "$IP4_0" --dst "$IP4_1" --dst-mac "$MAC1" \
		--dst-port "$PORT" --size 1514 --duration 3 >"$EC_TMPDIR/livegen.out" ||
		fail "livegen: $(cat "$EC_TMPDIR/livegen.out")"
	sleep 1
	k=$(kernel_of "$CAP_ID") || fail "capture gone: $(agent_status)"
	log "smallest ring (256K) flooded: livegen $(cat "$EC_TMPDIR/livegen.out"); kernel $k"
	[ "$(jq -r .ring_full <<<"$k")" -gt 0 ] || fail "the flood never filled the ring: $k"
	identity_holds "$k" || fail "counter identity broken under a flood: $k"
	"$EC_EDGECAPCTL" stop "$CAP_ID" --socket "$AGENT_SOCK" >/dev/null || fail "stop"
	wait_until 15 capture_gone "$CAP_ID" || fail "the capture never ended"
	n=$(tcpdump -nn -r "$AGENT_OUT/ring.pcap" 2>/dev/null | wc -l)
	expect_eq "$n" "$(jq -r .submitted <<<"$k")" "packets in the pcap (the ring's submitted)"
}

# A SIGTERM while NNG's nng_close hangs (NNG 1.5.2, nng #1543: ec_nngclosehang.so stands in for
# it): the local capture running then is completed (its pcap whole) and the program off the
# interface before the agent closes its links, and the bounded close (common/sp.h,
# SP_CLOSE_TIMEOUT_MS 10 s) ends it with status 1 and a line that says which socket hung, not
# at the service manager's stop timeout.
test_stop_with_a_hung_close() {
	local start rc=0 n
	ns_setup fhang
	LD_PRELOAD=$EC_NNGCLOSEHANG EC_NNG_CLOSE_HANG=1 agent_start hang
	agent_ready
	# Still running at the SIGTERM: the agent completes it before it closes anything.
	local_start hang.pcap '{"protocol": 17, "destination_port": 5003}'
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port 5003 --count 20 --rate 2000 >/dev/null
	wait_until 10 submitted_is 20 || fail "20 datagrams not captured: $(agent_status)"
	start=$(date +%s)
	kill -TERM "$AGENT_PID"
	# Off the interface while it still hangs in the close.
	wait_until 5 nothing_attached || fail "still attached 5 s after SIGTERM: \
$(ip -n "$NS1" link show "$IF1")"
	! bg_gone "$AGENT_PID" || fail "the agent had ended before its close hung: \
$(tail -5 "$AGENT_LOG")"
	wait_until 20 bg_gone "$AGENT_PID" || fail "still running 20 s after SIGTERM"
	{ bg_wait "$AGENT_PID"; } 2>/dev/null || rc=$?
	expect_eq "$rc" 1 "the agent's exit status"
	log "ended $(($(date +%s) - start)) s after SIGTERM"
	grep -q "closing the control link to the aggregator: NNG has not closed the socket in 10000 ms" \
		"$AGENT_LOG" || fail "no word of the hung close: $(tail -5 "$AGENT_LOG")"
	[ ! -e "$AGENT_OUT/.hang.pcap.partial" ] || fail "the pcap was left partial"
	n=$(tcpdump -nn -r "$AGENT_OUT/hang.pcap" "udp dst port 5003" 2>/dev/null | wc -l)
	expect_eq "$n" 20 "datagrams in the pcap"
}

run_test test_sigkill_during_attach_drain_and_stop_leaves_nothing
run_test test_sigstop_under_load
run_test test_smallest_ring_under_flood
run_test test_stop_with_a_hung_close
run_test test_agent_tc_hooks_capture_and_detach
summary
