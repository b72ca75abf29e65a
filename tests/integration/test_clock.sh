#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_clock.sh: a wall-clock step of +1 h and of -1 h in the middle of a capture (issue 11,
# point 2). A real agent and aggregator (tests/integration/agent_lib.sh, plain ipc://) run under
# ec_clockshift.so (tests/tools/), which adds the offset in $EC_CLOCKSHIFT_FILE to their
# CLOCK_REALTIME and CLOCK_TAI; their monotonic and boot clocks, and the kernel's, do not move, as
# in a real step. A capture with time_limit 5 s ends by time_limit 5 s after it started (not at
# the step, not an hour late), the times the API shows follow the stepped wall clock, and the
# simple-capture interval is not stretched by a backward step. The kernel's deadline (on
# CLOCK_BOOTTIME) is tested in tests/bpf (bpf_sampling_budgets: test_deadline).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

EC_CLOCKSHIFT=${EC_CLOCKSHIFT:-$EC_BUILD_DIR/tests/tools/ec_clockshift.so}

require_root
require_tools ip jq curl tcpdump
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_EDGECAPCTL" "$EC_TRAFFIC" "$EC_CLOCKSHIFT"

PORT=5001
INTERVAL=8 # --simple-interval: short, so that the test can wait it out

# The seconds since boot, which no wall-clock step moves.
uptime_s() {
	local up _
	read -r up _ </proc/uptime
	echo "$up"
}

# step SECONDS: the processes' wall clock is SECONDS off the real one from now on.
step() {
	echo "$1" >"$EC_CLOCKSHIFT_FILE"
	sleep 0.1 # the shim reads the file again every 20 ms
}

# Agent and aggregator under the shim; the simple-capture interval on, INTERVAL s.
clock_setup() {
	ns_setup clock
	export EC_CLOCKSHIFT_FILE=$EC_TMPDIR/clockshift
	echo 0 >"$EC_CLOCKSHIFT_FILE"
	CTL_URL=ipc://$EC_TMPDIR/control.sock
	DATA_URL=ipc://$EC_TMPDIR/data.sock
	export LD_PRELOAD=$EC_CLOCKSHIFT
	fleet_agg_start agg --simple-interval "$INTERVAL"
	agent_start agent
	unset LD_PRELOAD
	agent_ready
	wait_until 20 agent_data_up || fail "data link never came up: $(agent_status)"
}

simple_body='{"filter_v1": {"destination_port": 5001, "protocol": 17}, "time_limit": 5,
	"packet_limit": 10000, "type": "simple", "system": "magic-transit"}'

capture_ended() {
	case $(pcap_get "$1" | jq -r .result.status) in
	success | complete | failed) return 0 ;;
	esac
	return 1
}

send() {
	in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count "$1" --rate 1000 \
		>/dev/null || fail "sender failed"
}

# run_stepped OFFSET: a 5 s capture, the wall clock stepped by OFFSET 1 s in, 40 datagrams sent
# after the step; checks when and how it ended. Sets ID.
run_stepped() {
	local t0 t1 took m pcap n
	t0=$(uptime_s) # before the request: no agent's time limit starts earlier
	ID=$(post_ok "$simple_body")
	wait_until 10 status_is "$ID" running || fail "capture never ran: $(pcap_get "$ID")"
	sleep 1
	step "$1"
	send 40
	wait_until 30 capture_ended "$ID" || fail "capture never ended: $(pcap_get "$ID")"
	t1=$(uptime_s)
	took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	log "step $1 s: the capture ended ${took} s after it was asked for (time_limit 5 s)"
	# Not at the step (about 1 s in), and not an hour late: the time limit, then the grace
	# (3 s) at most, with room for a loaded machine.
	awk -v t="$took" 'BEGIN { exit !(t >= 5 && t <= 15) }' ||
		fail "step $1 s: ended ${took} s after start, want about 5: $(pcap_get "$ID")"
	expect_eq "$(pcap_get "$ID" | jq -r .result.status)" success "status"
	m=$AGG_STATE/captures/$ID/manifest.json
	expect_eq "$(jq -r .stop_reason "$m")" time_limit "stop reason"
	expect_eq "$(jq -r '.agents["host-agent"].stop_reason' "$m")" time_limit \
		"the agent's stop reason"
	pcap=$AGG_STATE/captures/$ID/capture.pcap
	n=$(tcpdump -nn -r "$pcap" "udp dst port $PORT" 2>/dev/null | wc -l)
	expect_eq "$n" 40 "datagrams sent after the step, captured"
}

# manifest_time ID FIELD: the manifest's time FIELD of capture ID, in seconds since the epoch.
manifest_time() {
	date -d "$(jq -r ".$2" "$AGG_STATE/captures/$1/manifest.json")" +%s
}

test_forward_step_keeps_the_time_limit() {
	local real
	clock_setup
	run_stepped 3600
	real=$(date +%s)
	# Started before the step, finished after it: the times shown follow the wall clock.
	[ $((real - $(manifest_time "$ID" started))) -lt 60 ] ||
		fail "started is not the real time: $(cat "$AGG_STATE/captures/$ID/manifest.json")"
	[ $(($(manifest_time "$ID" finished) - real)) -gt 3500 ] ||
		fail "finished is not the stepped time: $(cat "$AGG_STATE/captures/$ID/manifest.json")"
}

test_backward_step_keeps_the_time_limit_and_the_rate_rule() {
	local out
	clock_setup
	run_stepped -3600
	# The interval counts from the first capture's submission, on the monotonic clock: it is
	# still on right after the capture, and over INTERVAL s after the submission, not an hour on.
	out=$(pcap_post "$simple_body")
	[ "$(jq -r .success <<<"$out")" = false ] || log "note: the interval had already passed"
	sleep "$INTERVAL"
	out=$(pcap_post "$simple_body")
	[ "$(jq -r .success <<<"$out")" = true ] ||
		fail "a simple capture was refused after a backward step: $out"
}

run_test test_forward_step_keeps_the_time_limit
run_test test_backward_step_keeps_the_time_limit_and_the_rate_rule
summary
