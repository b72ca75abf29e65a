#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# run-fleet.sh: builds (if needed) and runs benchmark B4, the fleet figures, and prints their
# Markdown tables:
#   B4a  bench_ingest    the aggregator's ingest rate on one core (pinned with taskset);
#   B4b  bench_agent     the agent's cost per packet from the ring buffer to the wire;
#   B4c  bench_e2e.sh    agents to aggregator to pcap, end to end, in namespaces.
# B4a and B4b run twice: with random payloads (like encrypted traffic, the hard case for zlib)
# and with ec_livegen's (a header and zeros, what B4c sends).
#
#     sudo tests/bench/run-fleet.sh
#     sudo EC_FLEET_ONLY=ingest tests/bench/run-fleet.sh
#     sudo EC_FLEET_QUICK=1 tests/bench/run-fleet.sh     # a quick look: fewer records and steps
#
# Environment: EC_BUILD_DIR (default <repo>/build), EC_BENCH_CPU (default the last CPU),
# EC_BENCH_DIR (where outputs go, default /dev/shm: tmpfs, so that the figures are the CPU's and
# not the disk's), EC_FLEET_ONLY (ingest, agent or e2e), EC_FLEET_QUICK, and bench_e2e.sh's own
# EC_E2E_* variables. Not a test: nothing here passes or fails on the numbers.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${EC_BUILD_DIR:-$src/build}
cpu=${EC_BENCH_CPU:-$(($(nproc) - 1))}
dir=${EC_BENCH_DIR:-/dev/shm}
only=${EC_FLEET_ONLY:-}
ingest_args=()
agent_args=()

if [ "$(id -u)" != 0 ]; then
	echo "run-fleet.sh: benchmark B4 loads BPF programs and makes namespaces: it needs root" >&2
	exit 1
fi
[ -d "$dir" ] || dir=${TMPDIR:-/tmp}
if [ -n "${EC_FLEET_QUICK:-}" ]; then
	ingest_args=(--records 300000 --runs 1)
	agent_args=(--records 200000 --runs 1)
	export EC_E2E_AGENTS=${EC_E2E_AGENTS:-1} EC_E2E_RATES=${EC_E2E_RATES:-"200000 0"}
	export EC_E2E_SECONDS=${EC_E2E_SECONDS:-2}
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
# Only what B4 runs: a half-written part of the tree does not stop it.
targets=(bench_ingest bench_agent edgecap-agent edgecap-aggregator edgecapctl ec_livegen)
if ! out=$(cmake --build "$build" --target "${targets[@]}" -j "$(nproc)" 2>&1); then
	echo "$out" >&2
	echo "run-fleet.sh: failed to build ${targets[*]} in $build" >&2
	exit 1
fi

run() {
	echo "running: $*" >&2
	"$@"
	echo
}

if [ -z "$only" ] || [ "$only" = ingest ]; then
	for payload in random zeros; do
		run taskset -c "$cpu" "$build/tests/bench/bench_ingest" --dir "$dir" \
			--payload "$payload" "${ingest_args[@]}"
	done
fi
if [ -z "$only" ] || [ "$only" = agent ]; then
	for payload in random zeros; do
		run "$build/tests/bench/bench_agent" --cpu "$cpu" --payload "$payload" \
			"${agent_args[@]}"
	done
fi
if [ -z "$only" ] || [ "$only" = e2e ]; then
	run env TMPDIR="$dir" EC_BUILD_DIR="$build" "$src/tests/bench/bench_e2e.sh"
fi
