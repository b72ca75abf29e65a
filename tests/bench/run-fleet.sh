#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# run-fleet.sh: builds (if needed) and runs benchmark B4, the fleet figures, and prints their
# Markdown tables:
#   B4a  bench_ingest    the aggregator's ingest rate on one core (pinned with taskset), and
#                        what the agent links' security costs: MACs checked, and the whole
#                        receive path over tcp:// beside tls+tcp:// (a CA and certificates
#                        made for the run with the openssl CLI);
#   B4b  bench_agent     the agent's cost per packet from the ring buffer to the wire;
#   B4c  bench_e2e.sh    agents to aggregator to pcap, end to end, in namespaces.
# B4a and B4b run twice: with random payloads (like encrypted traffic: stored, since they do not deflate to half)
# and with ec_livegen's (a header and zeros, what B4c sends). tests/bench/run.sh runs it with
# the other benchmarks.
#
#     sudo tests/bench/run-fleet.sh
#     sudo EC_FLEET_ONLY=ingest tests/bench/run-fleet.sh
#     sudo EC_FLEET_QUICK=1 tests/bench/run-fleet.sh     # a quick look: fewer records and steps
#     sudo tests/bench/run-fleet.sh --out tests/bench/results
#
# --out DIR: also writes the tables to DIR/b4.md, and each table's rows as TSV (a header line,
# then one line a row, the cells as printed) to DIR/b4a.tsv and DIR/b4b.tsv (first column: the
# payload) and DIR/b4c.tsv.
#
# Environment: EC_BUILD_DIR (default <repo>/build), EC_BENCH_CPU (default the last CPU),
# EC_BENCH_DIR (where outputs go, default /dev/shm: tmpfs, so that the figures are the CPU's and
# not the disk's), EC_FLEET_ONLY (ingest, agent or e2e), EC_FLEET_QUICK, EC_BENCH_NO_BUILD=1
# (run what EC_BUILD_DIR holds, build nothing), and bench_e2e.sh's own EC_E2E_* variables.
# Not a test: nothing here passes or fails on the numbers.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${EC_BUILD_DIR:-$src/build}
cpu=${EC_BENCH_CPU:-$(($(nproc) - 1))}
dir=${EC_BENCH_DIR:-/dev/shm}
only=${EC_FLEET_ONLY:-}
out=
ingest_args=()
agent_args=()

while [ $# -gt 0 ]; do
	case $1 in
	--out)
		[ $# -ge 2 ] || { echo "run-fleet.sh: --out needs a directory" >&2; exit 2; }
		out=$2
		shift 2
		;;
	-h | --help)
		sed -n '4,26p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "run-fleet.sh: unexpected argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
done

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
if [ -z "${EC_BENCH_NO_BUILD:-}" ]; then
	if [ ! -f "$build/CMakeCache.txt" ]; then
		cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	# Only what B4 runs: a half-written part of the tree does not stop it.
	targets=(bench_ingest bench_agent edgecap-agent edgecap-aggregator edgecapctl ec_livegen)
	if ! log=$(cmake --build "$build" --target "${targets[@]}" -j "$(nproc)" 2>&1); then
		echo "$log" >&2
		echo "run-fleet.sh: failed to build ${targets[*]} in $build" >&2
		exit 1
	fi
fi
if [ -n "$out" ]; then
	mkdir -p "$out"
	rm -f "$out/b4.md" "$out/b4a.tsv" "$out/b4b.tsv" "$out/b4c.tsv"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-fleet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# md_tsv TSV [NAME VALUE]: appends the rows of the first Markdown table on stdin to TSV, the
# cells as they are (spaces around them trimmed), with a first column NAME holding VALUE when
# given; its header line only when TSV is new.
md_tsv() {
	local tsv=$1 header=1
	[ ! -s "$tsv" ] || header=0
	awk -v name="${2:-}" -v value="${3:-}" -v header="$header" '
	!/^\|/ {
		if (rows)
			exit
		next
	}
	/^\|[-:| ]*\|$/ { next }
	{
		line = $0
		sub(/^\| */, "", line)
		sub(/ *\|$/, "", line)
		gsub(/ *\| */, "\t", line)
		if (rows++ == 0) {
			if (header)
				print (name != "" ? name "\t" : "") line
			next
		}
		print (name != "" ? value "\t" : "") line
	}' >>"$tsv"
}

# run NAME [PAYLOAD] -- CMD...: runs CMD and prints its tables; with --out, appends them to
# b4.md and the table's rows to NAME.tsv (b4a, b4b, b4c).
run() {
	local name=$1 payload=
	shift
	if [ "$1" != -- ]; then
		payload=$1
		shift
	fi
	shift
	echo "running: $*" >&2
	"$@" | tee "$tmp/out.md"
	echo
	if [ -n "$out" ]; then
		{ cat "$tmp/out.md"; echo; } >>"$out/b4.md"
		if [ -n "$payload" ]; then
			md_tsv "$out/$name.tsv" payload "$payload" <"$tmp/out.md"
		else
			md_tsv "$out/$name.tsv" <"$tmp/out.md"
		fi
	fi
}

# make_pki DIR: a CA, the aggregator's certificate (DNS:127.0.0.1: Debian 12's mbedTLS matches
# an address only as a DNS name) and an agent's, for bench_ingest --tls-dir.
make_pki() {
	local d=$1 n
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj "/CN=edgecap bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	printf 'subjectAltName = DNS:127.0.0.1,IP:127.0.0.1\n' >"$d/aggregator.ext"
	: >"$d/agent.ext"
	for n in aggregator agent; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=$n" -keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null
		openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 1 -extfile "$d/$n.ext" -out "$d/$n.pem" 2>/dev/null
	done
}

if [ -z "$only" ] || [ "$only" = ingest ]; then
	make_pki "$tmp/pki"
	for payload in random zeros; do
		run b4a "$payload" -- taskset -c "$cpu" "$build/tests/bench/bench_ingest" --dir "$dir" \
			--payload "$payload" --tls-dir "$tmp/pki" "${ingest_args[@]}"
	done
fi
if [ -z "$only" ] || [ "$only" = agent ]; then
	for payload in random zeros; do
		run b4b "$payload" -- "$build/tests/bench/bench_agent" --cpu "$cpu" \
			--payload "$payload" "${agent_args[@]}"
	done
fi
if [ -z "$only" ] || [ "$only" = e2e ]; then
	run b4c -- env TMPDIR="$dir" EC_BUILD_DIR="$build" "$src/tests/bench/bench_e2e.sh"
fi
