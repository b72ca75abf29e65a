#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# bench_scale.sh: "Scale, simulated" (issue 11): one real aggregator with 10,000 simulated agents
# connected (ec_agentsim over ipc://, several processes of --per-proc agents each), and prints
# Markdown tables for the README:
#   - agents registered, and connected after N status surveys (each 500 ms; an agent that misses
#     three in a row is reported lost), with the time to register them all;
#   - a simple capture across all of them: status, packets in the merged pcap (exactly
#     packet_limit), timestamp order, distinct source hosts;
#   - the aggregator's resident memory (VmRSS, VmHWM) and descriptors, idle with 10,000 agents
#     and after the capture, and its CPU over 10 s idle (status surveys and their replies);
#   - ingest CPU per record on one core (bench_ingest's "ingest_feed, simple capture" row, pinned
#     with taskset) with 8 agents and with 10,000, interleaved in this run: their ratio (the
#     target is at most 1.2), with the agents together at each rate of EC_SCALE_RATES (packets
#     a second; 1 Mpps and 3 Mpps by default). The rate sets how many records an agent's batch
#     holds under the agent's 100 ms --batch-ms: 10,000 agents at 1 Mpps send 10 records a
#     batch, at 3 Mpps 30; 8 agents fill their batches to the size bound at either rate. The
#     reorder window then holds about 100 ms of the merged stream: 60 MB at 3 Mpps, the most
#     that fits its default bound (64 MiB, the aggregator's --reorder-max-bytes); past it
#     (the target's 0.8 x 4.84 Mpps needs about 77 MB) records leave the window early, out of
#     timestamp order, and bench_ingest says how many. Also the part of each figure spent in
#     the kernel (the pcap's copy into the page cache, page faults);
#   - with "tls": the aggregator's CPU with EC_SCALE_TLS_AGENTS agents over mutual TLS, idle but
#     for the status surveys, whose every reply carries a certificate and a signature.
# Each agent has its own control and data connections, two descriptors at the aggregator: where
# the hard descriptor limit cannot be raised past 2 N + 256 (no CAP_SYS_RESOURCE, e.g. in a
# container), each simulator's agents share EC_SCALE_DATA_CONNS data connections (16 by default;
# ec_agentsim --data-conns) and the table says so; control connections stay one per agent.
# Not a test: nothing passes or fails on the numbers. Root (descriptors, namespaces).
#
#     sudo tests/bench/bench_scale.sh
#     sudo EC_SCALE_AGENTS=2000 EC_SCALE_INGEST_RECORDS=300000 tests/bench/bench_scale.sh
#     sudo EC_SCALE_TLS_AGENTS=2000 tests/bench/bench_scale.sh tls
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
export EC_BUILD_DIR=${EC_BUILD_DIR:-$src/build}
# shellcheck source=tests/integration/lib.sh
. "$src/tests/integration/lib.sh"
# shellcheck source=tests/integration/scale_lib.sh
. "$src/tests/integration/scale_lib.sh"

N=${EC_SCALE_AGENTS:-10000}
PER_PROC=${EC_SCALE_PER_PROC:-2500}
PACKETS=${EC_SCALE_PACKETS:-10000}
RECORDS=${EC_SCALE_INGEST_RECORDS:-2000000}
RUNS=${EC_SCALE_RUNS:-3}
RATES=${EC_SCALE_RATES:-1000000 3000000}
CPU=${EC_BENCH_CPU:-$(($(nproc) - 1))}
require_root
require_tools tcpdump jq curl taskset
require_bin "$EC_AGGREGATOR" "$EC_AGENTSIM" "$EC_BUILD_DIR/tests/bench/bench_ingest"
scale_raise_nofile 1048576
NOFILE=$(ulimit -Hn)
if [ -z "${EC_SCALE_DATA_CONNS:-}" ]; then
	EC_SCALE_DATA_CONNS=0
	[ "$NOFILE" = unlimited ] || [ "$NOFILE" -ge $((2 * N + 256)) ] || EC_SCALE_DATA_CONNS=16
fi
if [ "$EC_SCALE_DATA_CONNS" = 0 ]; then
	DATA_FLAGS=()
	DATA_TEXT="one per agent"
else
	DATA_FLAGS=(--data-conns "$EC_SCALE_DATA_CONNS")
	DATA_TEXT="$EC_SCALE_DATA_CONNS per ec_agentsim process, shared by its agents (descriptor hard limit $NOFILE < 2 × $N + 256)"
fi

run() {
	local t0 i first procs registered connected lost id t_cap rss0 hwm0 fds0 c0 c1 hz idle_s=10
	scale_setup ipc
	scale_agg --max-agents 16384 --metrics 127.0.0.1:0
	METRICS_URL=$(sed -n 's|.*metrics on \(http://[0-9.:]*/metrics\).*|\1|p' "$AGG_LOG" | tail -n 1)
	t0=$SECONDS
	procs=$(((N + PER_PROC - 1) / PER_PROC))
	for ((i = 0; i < procs; i++)); do
		first=$((i * PER_PROC))
		n=$((N - first < PER_PROC ? N - first : PER_PROC))
		scale_sim "sim$i" sim "$n" --first "$first" --records 8 --batch 2 --interval-ms 500 \
			--threads 1 --seconds 600 "${DATA_FLAGS[@]}"
	done
	# A process's agents are named PREFIX-FIRST..: one prefix, distinct numbers.
	wait_until 180 _agents_at_least "$N" || true
	registered=$(api GET /agents | jq '.result | length')
	t_reg=$((SECONDS - t0))
	sleep 6
	connected=$(agents_connected)
	# What the agents cost the aggregator while no capture runs: status surveys and replies.
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$AGG_PID")
	sleep "$idle_s"
	c1=$(cpu_ticks "$AGG_PID")
	lost=$(grep -c ' lost: ' "$AGG_LOG" || true)
	rss0=$(rss_kb "$AGG_PID")
	hwm0=$(rss_kb "$AGG_PID" VmHWM)
	fds0=$(find "/proc/$AGG_PID/fd" -mindepth 1 | wc -l)
	late=$(curl -s "$METRICS_URL" 2>/dev/null |
		awk '$1 == "edgecap_aggregator_control_replies_late_total" {print $2}')
	t0=$SECONDS
	id=$(scale_capture "$PACKETS" 60)
	wait_until 120 _capture_done "$id" || true
	t_cap=$((SECONDS - t0))
	(check_merged "$id" "$PACKETS" 100) >"$EC_TMPDIR/merged.log" 2>&1 && merged_ok=yes || merged_ok=no
	tcpdump -tt -nn -r "$STATE/captures/$id/capture.pcap" 2>/dev/null >"$EC_TMPDIR/cap.txt" || true
	pk=$(wc -l <"$EC_TMPDIR/cap.txt")
	hosts=$(awk '{split($3, a, "."); print a[1] "." a[2] "." a[3] "." a[4]}' "$EC_TMPDIR/cap.txt" | sort -u | wc -l)
	ordered=$(awk 'NR > 1 && $1 < prev {bad++} {prev = $1} END {if (bad > 0) print "no"; else print "yes"}' "$EC_TMPDIR/cap.txt")
	running=$(sed -n "s/.*running on \([0-9]*\) of \([0-9]*\) agents capture=$id.*/\1 of \2/p" "$AGG_LOG" | head -n 1)
	status=$(api GET "/$id" | jq -r .result.status)

	echo "## Scale, simulated: one aggregator, $N agents (ec_agentsim, ipc://)"
	echo
	echo "$(uname -r), $(nproc) CPUs; $procs ec_agentsim processes of up to $PER_PROC agents; status survey every 1 s, 500 ms deadline."
	echo
	echo "| measure | value |"
	echo "|---|---:|"
	echo "| control connections | one per agent |"
	echo "| data connections | $DATA_TEXT |"
	echo "| agents registered (GET /pcaps/agents) | $registered of $N in ${t_reg} s |"
	echo "| connected after 6 more status surveys | $connected |"
	echo "| agents reported lost (missed 3 surveys) | $lost |"
	echo "| control replies read after their survey ended | $late |"
	echo "| capture: agents that took it | ${running:-?} |"
	echo "| capture: status, time to finish | $status, ${t_cap} s |"
	echo "| merged pcap: packets (packet_limit $PACKETS) | $pk |"
	echo "| merged pcap: timestamp order | $ordered |"
	echo "| merged pcap: distinct source hosts | $hosts |"
	echo "| merged check (check_merged) | $merged_ok |"
	echo "| aggregator RSS idle with $N agents | $((rss0 / 1024)) MiB (peak $((hwm0 / 1024)) MiB) |"
	echo "| aggregator RSS after the capture | $(($(rss_kb "$AGG_PID") / 1024)) MiB (peak $(($(rss_kb "$AGG_PID" VmHWM) / 1024)) MiB) |"
	echo "| aggregator descriptors | $fds0 |"
	echo "| aggregator CPU while idle with $N agents, over ${idle_s} s | $(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$idle_s" 'BEGIN {printf "%.1f%%", 100 * d / hz / s}') of one core |"
	echo
	for p in "${SIM_PIDS[@]}"; do bg_stop "$p" || true; done
	bg_stop "$AGG_PID" || true
}

# ingest_row N RATE: bench_ingest's CPU ns per record, of it the kernel's, and the records
# written out of timestamp order, CPU/KERNEL/OOO, for the simple-capture row with N agents
# sending RATE packets a second together.
ingest_row() {
	taskset -c "$CPU" "$EC_BUILD_DIR/tests/bench/bench_ingest" --agents "$1" --rate "$2" \
		--row simple-deflated --records "$RECORDS" --runs 1 --dir /dev/shm |
		awk -F'|' '/^\| .*ingest_feed, simple capture/ {gsub(/ /, "", $5); gsub(/ /, "", $10); r = $5 "/" $10}
			/out of timestamp order/ {sub(/.* up to /, ""); sub(/ .*/, ""); o = $0}
			END {print r "/" (o == "" ? 0 : o)}'
}

median() {
	printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

ingest() {
	local i rate a b as=() bs=() ak=() bk=() ao=() bo=() x
	echo "## Ingest CPU per record, one core (CPU $CPU): 8 agents vs $N, same run"
	echo
	echo "bench_ingest --row simple-deflated --records $RECORDS, alternating 8 and $N agents, median of $RUNS each; kernel: the part of the CPU time spent in the kernel (median)."
	echo
	echo "| agents together | agents | CPU ns/record (runs) | median | of it in the kernel | records out of order (most in a run) | ratio to 8 agents |"
	echo "|---:|---:|---|---:|---:|---:|---:|"
	for rate in $RATES; do
		as=() bs=() ak=() bk=() ao=() bo=()
		for ((i = 0; i < RUNS; i++)); do
			IFS=/ read -r a b x <<<"$(ingest_row 8 "$rate")"
			as+=("$a") ak+=("$b") ao+=("$x")
			IFS=/ read -r a b x <<<"$(ingest_row "$N" "$rate")"
			bs+=("$a") bk+=("$b") bo+=("$x")
		done
		a=$(median "${as[@]}")
		b=$(median "${bs[@]}")
		echo "| $(awk -v r="$rate" 'BEGIN {printf "%.1f Mpps", r / 1e6}') | 8 | ${as[*]} | $a | $(median "${ak[@]}") | $(printf '%s\n' "${ao[@]}" | sort -n | tail -n 1) | 1.00 |"
		echo "| | $N | ${bs[*]} | $b | $(median "${bk[@]}") | $(printf '%s\n' "${bo[@]}" | sort -n | tail -n 1) | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}') |"
	done
	echo
}

# tls_idle: EC_SCALE_TLS_AGENTS (2,000 by default) simulated agents over mutual TLS, each with a
# certificate of its own (P-256, made here, about 20 ms each), and the aggregator idle with them:
# what a second of status surveys costs it, when every reply carries a proof (docs/protocol.md
# 7.1) and every agent answers every second.
tls_idle() {
	local n=${EC_SCALE_TLS_AGENTS:-2000} per=${EC_SCALE_TLS_PER_PROC:-500} t0 t_cert t_reg i
	local first procs registered connected lost c0 c1 hz secs=10
	hz=$(getconf CLK_TCK)
	scale_setup tls
	t0=$SECONDS
	scale_certs sim "$n"
	t_cert=$((SECONDS - t0))
	scale_agg --max-agents 16384
	t0=$SECONDS
	procs=$(((n + per - 1) / per))
	for ((i = 0; i < procs; i++)); do
		first=$((i * per))
		scale_sim "tsim$i" sim $((n - first < per ? n - first : per)) --first "$first" \
			--records 8 --batch 2 --interval-ms 500 --threads 1 --seconds 600 \
			"${DATA_FLAGS[@]}"
	done
	wait_until 300 _agents_at_least "$n" || true
	registered=$(api GET /agents | jq '.result | length')
	t_reg=$((SECONDS - t0))
	sleep 3
	c0=$(cpu_ticks "$AGG_PID")
	sleep "$secs"
	c1=$(cpu_ticks "$AGG_PID")
	connected=$(agents_connected)
	lost=$(grep -c ' lost: ' "$AGG_LOG" || true)
	echo "## Status surveys over mutual TLS: one aggregator, $n agents (ec_agentsim, tls+tcp://)"
	echo
	echo "$(uname -r), $(nproc) CPUs; a P-256 certificate per agent; status survey every 1 s, every reply with its proof."
	echo
	echo "| measure | value |"
	echo "|---|---:|"
	echo "| certificates made | $n in ${t_cert} s |"
	echo "| agents registered | $registered of $n in ${t_reg} s |"
	echo "| connected after ${secs} s more | $connected |"
	echo "| agents reported lost | $lost |"
	echo "| aggregator CPU while idle, over ${secs} s | $(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.1f%%", 100 * d / hz / s}') of one core |"
	echo
	for p in "${SIM_PIDS[@]}"; do bg_stop "$p" || true; done
	SIM_PIDS=()
	bg_stop "$AGG_PID" || true
}

case ${1:-all} in
live) run ;;
ingest) ingest ;;
tls) tls_idle ;;
*)
	run
	ingest
	;;
esac
