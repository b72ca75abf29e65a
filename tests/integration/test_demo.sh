#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_demo.sh: scripts/demo.sh, the README's demo command, end to end, so that it cannot rot:
# it must exit 0 having shown what it claims (three agents joined over mutual TLS, the seeds'
# simple capture going pending, running, success with 10,000 packets from all three hosts, the
# full capture written by the ORD hosts only and declined by host-c, the local capture), and
# leave nothing behind: no namespace, no process, no scratch directory. A second run is
# interrupted (SIGINT, as Ctrl-C) once the agents joined, and must clean up just the same; a
# third is killed (SIGKILL), and its janitor must.
# The demo uses this build (EC_BUILD_DIR), which ctest has built already.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip jq curl tcpdump openssl cmake python3
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_EDGECAPCTL" "$EC_TRAFFIC"

DEMO=$EC_SRC_DIR/scripts/demo.sh
OUT=$EC_TMPDIR/demo.out

# demo_work: the running demo's scratch directory, as its daemons' command lines name it, into
# DEMO_WORK (nothing_left checks it is gone); fails when there is none.
DEMO_WORK=
demo_work() {
	DEMO_WORK=$(pgrep -af -- '/tmp/edgecap-demo\.' | grep -o '/tmp/edgecap-demo\.[A-Za-z0-9]*' |
		head -n 1 || true)
	[ -n "$DEMO_WORK" ] || fail "no daemons of the demo's: $(tail -n 5 "$OUT")"
}

# nothing_left_now PID: whether no namespace, process or scratch directory of the demo that ran
# as PID is left.
nothing_left_now() {
	! ip netns list | grep -q -- "-$1\b" || return 1
	[ -z "$DEMO_WORK" ] || { [ ! -e "$DEMO_WORK" ] && ! pgrep -f -- "$DEMO_WORK" >/dev/null; }
}

# nothing_left PID: as nothing_left_now, or fails naming what is left, having removed it (the
# test leaves nothing either).
nothing_left() {
	local pid=$1 left p ns
	nothing_left_now "$pid" && return 0
	left="namespaces $(ip netns list | grep -- "-$pid" | tr '\n' ' '), scratch directory"
	left+=" $(ls -d "$DEMO_WORK" 2>/dev/null), processes"
	left+=" $([ -z "$DEMO_WORK" ] || pgrep -af -- "$DEMO_WORK")"
	if [ -n "$DEMO_WORK" ]; then
		for p in $(pgrep -f -- "$DEMO_WORK"); do kill -KILL "$p" 2>/dev/null || true; done
		rm -rf "$DEMO_WORK"
	fi
	for ns in $(ip netns list | awk '{ print $1 }' | grep -- "^ecdemo-.*-$pid\$"); do
		ip netns del "$ns" 2>/dev/null || true
	done
	fail "left: $left"
}

test_demo_runs_end_to_end() {
	local rc=0 pid
	EC_BUILD_DIR=$EC_BUILD_DIR timeout 300 bash "$DEMO" >"$OUT" 2>&1 &
	pid=$!
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "demo.sh exited $rc: $(tail -n 30 "$OUT")"
	# pid is timeout's; the demo's bash is its child, whose pid names the namespaces.
	expect_eq "$(grep -c 'agent host-[abc] (colo [a-z0-9]*, version .*) joined' "$OUT")" 3 \
		"agents joined"
	grep -q '^status: pending$' "$OUT" || fail "no pending status: $(cat "$OUT")"
	grep -q '^status: running$' "$OUT" || fail "no running status: $(cat "$OUT")"
	# A simple capture ends success; a full one complete, once its files are converted.
	expect_eq "$(grep -c '^status: success$' "$OUT")" 1 "simple captures that reached success"
	expect_eq "$(grep -c '^status: complete$' "$OUT")" 1 "full captures that reached complete"
	grep -q '^\.\.\. 10000 packets in the merged pcap, from host-a, host-b, host-c$' "$OUT" ||
		fail "the simple capture's pcap: $(cat "$OUT")"
	grep -q 'IP 192\.0\.2\.1\.1234 > 192\.0\.2\.2\.80: UDP, length 200' "$OUT" ||
		fail "no packet shown by tcpdump: $(cat "$OUT")"
	grep -q '^host-c: accepted false (colo sjc01 is not in ORD)$' "$OUT" ||
		fail "host-c did not decline the full capture: $(cat "$OUT")"
	grep -q -- '-host-a\.pcap$' "$OUT" || fail "no full capture file of host-a: $(cat "$OUT")"
	grep -q -- '-host-b\.pcap$' "$OUT" || fail "no full capture file of host-b: $(cat "$OUT")"
	grep -q '"stop_reason": "packet_limit"' "$OUT" || fail "the local part: $(cat "$OUT")"
	grep -q '^  edgecap_aggregator_captures{status="complete",type="full"} 1$' "$OUT" ||
		fail "the aggregator's metrics were not shown: $(cat "$OUT")"
	grep -q '^  edgecap_agent_interface_submitted_total{interface="edge0"} [1-9]' "$OUT" ||
		fail "host-a's metrics were not shown: $(cat "$OUT")"
	[ -s "$EC_BUILD_DIR/demo-fleet.pcap" ] || fail "no pcap kept"
	DEMO_WORK=$(grep -o '/tmp/edgecap-demo\.[A-Za-z0-9]*' "$OUT" | head -n 1 || true)
	[ -n "$DEMO_WORK" ] || fail "the demo's output names no scratch directory"
	nothing_left "$(demo_pid)"
}

# The demo's own pid, from its namespace names in the output.
demo_pid() {
	grep -o 'ecdemo-agg-[0-9]*' "$OUT" | head -n 1 | sed 's/.*-//'
}

all_joined() {
	[ "$(grep -c ' joined' "$OUT")" -ge 3 ]
}

test_demo_interrupted_cleans_up() {
	local rc=0 pid
	# As from a terminal: SIGINT not ignored (a background job of a script starts with it
	# ignored, which bash cannot trap), and a process group of its own, which Ctrl-C signals
	# whole (bash runs its trap once the foreground command died of it).
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("bash", ["bash", sys.argv[1]])' "$DEMO" >"$OUT" 2>&1 &
	pid=$!
	EC_BG_PIDS+=("$pid")
	wait_until 180 all_joined || fail "the demo's agents never joined: $(cat "$OUT")"
	ip netns list | grep -q -- "ecdemo-agg-$pid" || fail "no namespaces to clean up"
	demo_work
	kill -INT -- "-$pid"
	# A Ctrl-C that lands between a fork and its exec, bash takes as handled by the command
	# it forked, and goes on (the daemons, in a session of their own, stay up): as a user
	# would, press it again while the demo still runs.
	for _ in 1 2 3; do
		wait_until 10 bg_gone "$pid" && break
		log "the demo still runs 10 s after a Ctrl-C: another"
		kill -INT -- "-$pid" 2>/dev/null || true
	done
	bg_wait "$pid" || rc=$?
	expect_eq "$rc" 130 "exit status after SIGINT"
	# Its own cleanup ran; or, should bash have died of the Ctrl-C without its trap (once in
	# about a hundred runs here), its janitor's runs within a second or two.
	if ! grep -q "stopped (exit 130); everything it made is removed" "$OUT"; then
		wait_until 10 grep -q "its janitor removed everything" "$OUT" ||
			fail "no word of the cleanup: $(wc -c <"$OUT") bytes; $(tail -n 5 "$OUT")"
		log "the demo died of its Ctrl-C without its cleanup; its janitor removed everything"
	fi
	nothing_left "$pid"
}

# Killed outright (SIGKILL: no trap runs), the demo leaves nothing either: its janitor stops its
# daemons and removes its namespaces and scratch directory.
test_demo_killed_leaves_nothing() {
	local rc=0 pid
	python3 -c 'import os, sys
os.setsid()
os.execvp("bash", ["bash", sys.argv[1]])' "$DEMO" >"$OUT" 2>&1 &
	pid=$!
	EC_BG_PIDS+=("$pid")
	wait_until 180 all_joined || fail "the demo's agents never joined: $(cat "$OUT")"
	demo_work
	kill -KILL "$pid"
	bg_wait "$pid" || rc=$?
	expect_eq "$rc" 137 "exit status after SIGKILL"
	wait_until 15 nothing_left_now "$pid" || nothing_left "$pid"
	grep -q "its janitor removed everything" "$OUT" ||
		fail "no word from the janitor: $(tail -n 5 "$OUT")"
}

run_test test_demo_runs_end_to_end
run_test test_demo_interrupted_cleans_up
run_test test_demo_killed_leaves_nothing
summary
