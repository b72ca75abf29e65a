#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_scale.sh: one real aggregator and many simulated agents (ec_agentsim: the real protocol,
# a host id each): 1,000 over ipc://, and 100 over mutual TLS with a certificate each and the
# proof of identity in every reply. Every agent is registered and stays connected (it answers
# every status survey within its deadline, else it would be reported lost), and a simple
# capture across all of them merges into one pcap of exactly packet_limit packets, in timestamp
# order, from many hosts. The aggregator's resident memory is printed.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/scale_lib.sh
. "$(dirname "$0")/scale_lib.sh"

require_root
require_tools ip curl jq tcpdump openssl
require_bin "$EC_AGGREGATOR" "$EC_AGENTSIM"
scale_raise_nofile 65536

# scale_run MODE AGENTS PACKETS MIN_HOSTS
scale_run() {
	local mode=$1 n=$2 packets=$3 hosts=$4 id lost t0
	scale_setup "$mode"
	[ "$mode" = ipc ] || scale_certs sim "$n"
	scale_agg --max-agents 16384
	t0=$SECONDS
	# Two records a batch, every 200 ms, 6 each: the first packets come from many hosts.
	scale_sim sim sim "$n" --records 6 --batch 2 --interval-ms 200 --seconds 110
	wait_until 40 _agents_at_least "$n" ||
		fail "$(agents_connected) of $n agents connected: $(tail -n 3 "$EC_TMPDIR/sim.out")"
	log "$n agents over $mode registered in $((SECONDS - t0)) s"
	# Four more status surveys (one a second, 500 ms each): an agent that misses three in a
	# row is reported lost.
	sleep 4
	expect_eq "$(agents_connected)" "$n" "agents connected after 4 s of status surveys"
	lost=$(grep -c ' lost: ' "$AGG_LOG" || true)
	expect_eq "$lost" 0 "agents reported lost"
	id=$(scale_capture "$packets" 30)
	wait_until 40 _capture_done "$id" || fail "capture $id did not end"
	check_merged "$id" "$packets" "$hosts"
	log "$mode: capture $id: $MERGED"
	grep -q "running on $n of $n agents capture=$id" "$AGG_LOG" ||
		fail "not every agent took the capture: $(grep "capture=$id" "$AGG_LOG" | head -n 3)"
	log "$mode: aggregator RSS $(rss_kb "$AGG_PID") KiB (peak $(rss_kb "$AGG_PID" VmHWM) KiB)"
	[ "$(rss_kb "$AGG_PID" VmHWM)" -lt $((1024 * 1024)) ] ||
		fail "the aggregator's peak RSS is over 1 GiB"
}

test_thousand_agents_over_ipc() {
	scale_run ipc 1000 500 100
}

test_hundred_agents_over_tls() {
	scale_run tls 100 100 20
}

run_test test_thousand_agents_over_ipc
run_test test_hundred_agents_over_tls
summary
