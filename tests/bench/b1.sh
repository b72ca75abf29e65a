#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# b1.sh: builds (if needed) and runs benchmark B1, edgecap's XDP program cost per packet,
# pinned to one CPU, and prints its Markdown table. Options go to bench_prog (--help).
# tests/bench/run.sh runs it with the other benchmarks and reads its table against the targets.
#
#     sudo tests/bench/b1.sh
#     sudo EC_BENCH_CPU=2 tests/bench/b1.sh --repeat 200000 --runs 3
#
# Environment: EC_BUILD_DIR (default <repo>/build), EC_BENCH_CPU (default the last CPU),
# EC_BENCH_NO_BUILD=1 (run what EC_BUILD_DIR holds, build nothing: run.sh builds once for all).
# Not a test: nothing here passes or fails on the numbers.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${EC_BUILD_DIR:-$src/build}
cpu=${EC_BENCH_CPU:-$(($(nproc) - 1))}

if [ "$(id -u)" != 0 ]; then
	echo "b1.sh: benchmark B1 loads BPF programs and needs root" >&2
	exit 1
fi
if [ -z "${EC_BENCH_NO_BUILD:-}" ]; then
	if [ ! -f "$build/CMakeCache.txt" ]; then
		cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	# Only the benchmark and what it needs: a half-written part of the tree does not stop it.
	if ! out=$(cmake --build "$build" --target bench_prog 2>&1); then
		echo "$out" >&2
		echo "b1.sh: failed to build bench_prog in $build" >&2
		exit 1
	fi
fi
if [ ! -x "$build/tests/bench/bench_prog" ]; then
	echo "b1.sh: $build/tests/bench/bench_prog not found: build it first" >&2
	exit 1
fi

echo "running: taskset -c $cpu $build/tests/bench/bench_prog $*" >&2
exec taskset -c "$cpu" "$build/tests/bench/bench_prog" "$@"
