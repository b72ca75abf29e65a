#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# bench_cpus.sh: issue 12, target 4, on live traffic. One shared ring against a ring per CPU
# (EDGECAP_RING_LAYOUT=shared against the default) with one and with two CPUs producing records.
#
# A veth pair with two queues between two namespaces; the receiver's GRO on. One or two
# ec_livegen generators, pinned to CPU 0 and CPU 1, offer 64-byte UDP frames (to another host's
# MAC, as on a mirror port) unthrottled or paced: a redirected frame lands in the receive queue
# of the CPU that sent it (veth picks the queue by CPU), so the XDP program, and the record it
# writes, run on both CPUs. `edgecapctl capture --xdp-mode native --snaplen 128` with the default
# 8 MiB --ring-size keeps the frames to port 5001. Generators and capture run at nice -20, above
# other work on a shared machine. Each line: offered rate, kept/offered (packets
# in the pcap), and ring_full, the median of the runs.
#
#     sudo tests/bench/bench_cpus.sh
#     sudo BENCH_CPUS_RUNS=5 BENCH_CPUS_COUNT=3000000 tests/bench/bench_cpus.sh
#
# Environment: EC_BUILD_DIR (default <repo>/build), BENCH_CPUS_COUNT (frames per generator and
# run, default 2000000), BENCH_CPUS_RUNS (3), BENCH_CPUS_PACED (pps per generator of the paced
# lines, default 600000), BENCH_CPUS_SIZES (frame sizes, default "64").
# Needs root, jq, taskset and 2 CPUs. Not a test: nothing passes or fails on the numbers.
set -euo pipefail

bench_src=$(cd "$(dirname "$0")/../.." && pwd)
export EC_BUILD_DIR=${EC_BUILD_DIR:-$bench_src/build}
if [ "$(id -u)" != 0 ] || [ "$(nproc)" -lt 2 ]; then
	echo "bench_cpus.sh: needs root and 2 CPUs" >&2
	exit 1
fi
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
# shellcheck source=tests/integration/lib.sh
. "$bench_src/tests/integration/lib.sh"
require_tools ip jq taskset
BENCH_GRO=$EC_BUILD_DIR/tests/bench/bench_gro
require_bin "$EC_LIVEGEN" "$EC_EDGECAPCTL" "$BENCH_GRO"

COUNT=${BENCH_CPUS_COUNT:-2000000}
RUNS=${BENCH_CPUS_RUNS:-3}
PACED=${BENCH_CPUS_PACED:-600000}
SIZES=${BENCH_CPUS_SIZES:-64}
PORT=5001
OTHER_MAC=02:ec:00:00:00:99
TSV=$EC_TMPDIR/cpus.tsv

# The namespaces, with a veth of two queues (lib.sh's ns_setup makes one of one).
NS0=ec-cpus-$EC_RUN_ID-0
NS1=ec-cpus-$EC_RUN_ID-1
echo "$NS0" >>"$EC_NS_LIST"
echo "$NS1" >>"$EC_NS_LIST"
trap ns_cleanup EXIT
ip netns add "$NS0"
ip netns add "$NS1"
ip link add "$IF0" netns "$NS0" address "$MAC0" numtxqueues 2 numrxqueues 2 type veth \
	peer name "$IF1" netns "$NS1" address "$MAC1" numtxqueues 2 numrxqueues 2
_ns_link_up "$NS0" "$IF0" "$IP4_0" "$IP6_0" "$IP4_1" "$IP6_1" "$MAC1"
_ns_link_up "$NS1" "$IF1" "$IP4_1" "$IP6_1" "$IP4_0" "$IP6_0" "$MAC0"
in_ns "$NS1" "$BENCH_GRO" "$IF1" on >/dev/null

# step LAYOUT GENS RATE SIZE RUN: one capture, GENS generators at RATE each (0: unthrottled).
step() {
	local layout=$1 gens=$2 rate=$3 size=$4 run=$5 pcap=$EC_TMPDIR/cpus.pcap g pids=() env=()
	local anchor
	rm -f "$pcap"
	[ "$layout" = shared ] && env=(env EDGECAP_RING_LAYOUT=shared)
	bg_start tool "$NS1" "${env[@]}" nice -n -20 "$EC_EDGECAPCTL" capture -i "$IF1" --hook xdp \
		--xdp-mode native --protocol udp --dst-port "$PORT" --snaplen 128 --json -w "$pcap"
	local tool=$BG_PID
	wait_until 10 grep -q "capturing on" "$EC_TMPDIR/tool.err" ||
		fail "edgecapctl never started: $(cat "$EC_TMPDIR/tool.err")"
	for g in $(seq 0 $((gens - 1))); do
		# The first generator anchors its program on the veth, the second on lo.
		anchor=$IF0
		[ "$g" = 0 ] || anchor=lo
		in_ns "$NS0" nice -n -20 taskset -c "$g" "$EC_LIVEGEN" --dev "$IF0" --anchor "$anchor" --src "$IP4_0" --dst "$IP4_1" \
			--dst-mac "$OTHER_MAC" --dst-port "$PORT" --rate "$rate" --count "$COUNT" \
			--duration 60 --size "$size" >"$EC_TMPDIR/gen$g.json" 2>"$EC_TMPDIR/gen$g.err" &
		pids+=($!)
	done
	for g in "${pids[@]}"; do
		wait "$g" || fail "ec_livegen failed: $(cat "$EC_TMPDIR"/gen*.err)"
	done
	sleep 1.2
	bg_stop "$tool" INT || fail "the capture failed: $(cat "$EC_TMPDIR/tool.err")"
	local sent=0 secs=0 s t
	for g in $(seq 0 $((gens - 1))); do
		s=$(jq -r .sent "$EC_TMPDIR/gen$g.json")
		t=$(jq -r .seconds "$EC_TMPDIR/gen$g.json")
		sent=$((sent + s))
		secs=$(awk -v a="$secs" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$layout" "$gens" "$rate" "$size" "$run" \
		"$sent" "$secs" "$(jq -r .packets_captured "$EC_TMPDIR/tool.out")" \
		"$(jq -r .ring_full "$EC_TMPDIR/tool.out")" >>"$TSV"
	log "$(tail -n 1 "$TSV")"
}

printf 'layout\tgens\trate\tsize\trun\tsent\tseconds\tcaptured\tring_full\n' >"$TSV"
for run in $(seq 1 "$RUNS"); do
	for size in $SIZES; do
		for mode in "1 0" "2 0" "2 $PACED"; do
			for layout in shared percpu; do
				# shellcheck disable=SC2086
				step "$layout" $mode "$size" "$run"
			done
		done
	done
done

echo "| frame | producing CPUs | offered per CPU | layout | offered (Mpps) | kept/offered, median (min-max) | ring_full (median) |"
echo "|---:|---:|---|---|---:|---|---:|"
awk -F'\t' 'NR > 1 { key = $4 "\t" $2 "\t" $3 "\t" $1; if (!(key in seen)) { seen[key] = 1; order[++m] = key }
	n[key]++; k[key, n[key]] = $8 / $6; d[key, n[key]] = $9; r[key, n[key]] = $6 / $7 / 1e6 }
	function med(a, key, c,   i, j, x, v) {
		for (i = 1; i <= c; i++) v[i] = a[key, i]
		for (i = 2; i <= c; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
		return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2 }
	END { for (i = 1; i <= m; i++) { key = order[i]; split(key, f, "\t"); c = n[key]; lo = 1; hi = 0
		for (j = 1; j <= c; j++) { if (k[key, j] < lo) lo = k[key, j]; if (k[key, j] > hi) hi = k[key, j] }
		printf "| %d | %d | %s | %s | %.2f | %.1f%% (%.1f-%.1f%%) | %d |\n", f[1], f[2],
			f[3] == 0 ? "unthrottled" : f[3] " pps", f[4] == "percpu" ? "per CPU" : "shared",
			med(r, key, c), 100 * med(k, key, c), 100 * lo, 100 * hi, med(d, key, c) } }' "$TSV"
echo
echo "$COUNT frames per generator and run, $RUNS runs; default --ring-size (8 MiB); snaplen 128;"
echo "kept = packets_captured; kernel $(uname -r), $(nproc) CPUs."
