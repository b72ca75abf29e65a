#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_lib.sh: the self-test of lib.sh and the traffic tools every other namespace test relies
# on: datagrams cross the veth pair that ns_setup makes, ec_livegen's frames arrive numbered, and
# cleanup leaves nothing behind even when a test fails.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip jq

# send_and_count DST COUNT [SEND FLAGS...]: sends COUNT datagrams from NS0 to DST:5001 and checks
# that the receiver in NS1 got every one exactly once.
send_and_count() {
	local dst=$1 count=$2 out=$EC_TMPDIR/recv.out
	shift 2
	rm -f "$EC_TMPDIR/recv.ready"
	bg_start recv "$NS1" "$EC_TRAFFIC" recv --port 5001 --count "$count" --timeout-ms 5000 \
		--ready-file "$EC_TMPDIR/recv.ready"
	wait_for_file "$EC_TMPDIR/recv.ready" 5 || fail "receiver never became ready"
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$dst" --port 5001 --count "$count" "$@" \
		>"$EC_TMPDIR/send.out" || fail "sender failed: $(cat "$EC_TMPDIR/send.out")"
	bg_wait "$BG_PID" || fail "receiver did not get all $count: $(cat "$out")"
	expect_eq "$(json_get "$out" distinct)" "$count" "distinct datagrams received"
	expect_eq "$(json_get "$out" duplicates)" 0 "duplicates"
	expect_eq "$(json_get "$out" foreign)" 0 "datagrams that were not ours"
}

test_udp4_datagrams_cross_veth() {
	require_bin "$EC_TRAFFIC"
	ns_setup lib
	send_and_count "$IP4_1" 100 --rate 10000 --tag lib4
}

test_udp6_datagrams_cross_veth() {
	require_bin "$EC_TRAFFIC"
	ns_setup lib
	send_and_count "$IP6_1" 100 --size 1200 --tag lib6
}

# ec_livegen's frames, numbered, arrive whole and once each: by live frames where the kernel
# allows them (else its fallback), and by its packet socket (--mode packet) everywhere.
livegen_frames_arrive_numbered() {
	local mode=$1 port=$2 out=$EC_TMPDIR/recv.out
	require_bin "$EC_TRAFFIC" "$EC_LIVEGEN" "$EC_NOOP_OBJ"
	ns_setup "gen$port"
	xdp_attach "$NS1" "$IF1"
	# Its own ready file: the earlier tests' one would say ready before this receiver binds,
	# and the first frames would meet a closed port.
	bg_start recv "$NS1" "$EC_TRAFFIC" recv --port "$port" --count 20000 --timeout-ms 10000 \
		--tag gen --ready-file "$EC_TMPDIR/gen-$mode.ready"
	wait_for_file "$EC_TMPDIR/gen-$mode.ready" 5 || fail "receiver never became ready"
	in_ns "$NS0" "$EC_LIVEGEN" --dev "$IF0" --src "$IP4_0" --dst "$IP4_1" --dst-mac "$MAC1" \
		--dst-port "$port" --count 20000 --rate 50000 --tag gen --mode "$mode" \
		>"$EC_TMPDIR/gen-$mode.out" || fail "ec_livegen failed: $(cat "$EC_TMPDIR/gen-$mode.out")"
	expect_eq "$(json_get "$EC_TMPDIR/gen-$mode.out" sent)" 20000 "frames generated"
	log "ec_livegen --mode $mode: $(cat "$EC_TMPDIR/gen-$mode.out")"
	bg_wait "$BG_PID" || fail "receiver did not get all 20000: $(cat "$out")"
	expect_eq "$(json_get "$out" duplicates)" 0 "duplicates"
	expect_eq "$(json_get "$out" out_of_range)" 0 "frames numbered outside the run"
}

test_livegen_frames_arrive_numbered() {
	livegen_frames_arrive_numbered auto 5002
}

test_livegen_packet_mode_frames_arrive_numbered() {
	livegen_frames_arrive_numbered packet 5003
}

# A test that fails half-way must still leave no namespace and no process behind.
test_cleanup_after_failure() {
	local made ns pid child_out=$EC_TMPDIR/child.out
	EC_RUN_ID='' EC_KEEP=0 bash -c '
		. "$1"
		report=$2
		failing() {
			ns_setup doomed
			bg_start sleeper "$NS1" sleep 300
			echo "$NS0 $NS1 $BG_PID" >"$report"
			fail "on purpose"
		}
		run_test failing
		summary' child "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$child_out" \
		>/dev/null 2>&1 && fail "the failing child test passed"
	made=()
	[ -f "$child_out" ] && read -r -a made <"$child_out"
	[ "${#made[@]}" = 3 ] || fail "the child test did not get as far as its background process"
	for ns in "${made[@]:0:2}"; do
		[ ! -e "/run/netns/$ns" ] || fail "namespace $ns left behind"
	done
	pid=${made[2]}
	if grep -qs '^sleep' "/proc/$pid/cmdline"; then
		fail "background process $pid left behind"
	fi
}

run_test test_udp4_datagrams_cross_veth
run_test test_udp6_datagrams_cross_veth
run_test test_livegen_frames_arrive_numbered
run_test test_livegen_packet_mode_frames_arrive_numbered
run_test test_cleanup_after_failure
summary
