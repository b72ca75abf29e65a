#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# run.sh: runs edgecap's benchmarks one after the other, writes their Markdown tables and raw
# data to one directory, and prints the tables and a "targets" table: each target of the issue,
# the ratio measured against a baseline of the same run, met or missed.
#
#   b1  b1.sh (bench_prog)           the XDP program's cost per packet, beside a no-op program
#   b2  bench_load.sh --only b2 --only b2full
#                                    capture under load, edgecap against tcpdump (the rate
#                                    ladder and the PNG chart; then the generator unthrottled:
#                                    kept/offered and the added cost per frame)
#   b3  bench_load.sh --only b3      the receiver's highest rate, traffic that does not match
#   b4  run-fleet.sh                 aggregator ingest, agent ring to wire, end to end
#   b5  bench_load.sh --only b5      edgecap-agent's memory against its ring size
#
# usage: run.sh [b1|b2|b3|b4|b5 ...] [--quick] [--out DIR] [--help]
#
#     sudo tests/bench/run.sh                          # all five, about 18 minutes
#     sudo tests/bench/run.sh b1 b5                    # B1 and B5 only
#     sudo tests/bench/run.sh --quick --out /tmp/bq    # a smoke run of all five, about 2 minutes
#     sudo EC_BUILD_DIR=/tmp/build tests/bench/run.sh b4 > b4-report.md
#
# Parts: any of b1..b5 (default all); they run in that order, never two at once. Options of
# bench_prog alone: tests/bench/b1.sh; each script runs on its own too.
#
# --quick: fewer repeats, steps, runs and records, for checking that everything runs (its
# figures are not for reading): bench_prog --repeat 100000 --runs 3; BENCH_SECONDS=1,
# BENCH_RATES="400000 1000000 1600000", BENCH_B3_RUNS=1, BENCH_FULL_RUNS=1,
# BENCH_FULL_COUNT=300000, BENCH_RINGS="1M 8M", BENCH_QUIET_WAIT=10 (each unless set);
# EC_FLEET_QUICK=1.
#
# --out DIR: where everything goes (default tests/bench/results, or /tmp/edgecap-bench-quick
# with --quick, so that a smoke run does not replace the figures kept in the tree):
#   summary.md       the targets table alone;
#   results.md       the targets table, then every part's tables;
#   b1.md .. b5.md   each part's tables (b4.md: B4a, B4b, B4c);
#   raw data         b2.tsv, b2-summary.tsv, b3.tsv, b4a.tsv, b4b.tsv, b4c.tsv, b5.tsv;
#   b2.png           the B2 chart (captured against offered, and CPU per packet, per tool).
# A part's files are removed before it runs; files of parts not run are left as they were, and
# the targets table reads only this run's.
#
# Builds what the parts need once (cmake in EC_BUILD_DIR, default <repo>/build, RelWithDebInfo),
# then runs them with EC_BENCH_NO_BUILD=1: every part measures that build, even if the tree
# changes meanwhile. The parts' own variables pass through (EC_BENCH_CPU, BENCH_*, EC_FLEET_*,
# EC_E2E_*: see each script's header). Progress goes to stderr; stdout gets the tables and,
# last, the targets table. A part that fails does not stop the others: run.sh names it at the
# end and exits with 1. Every namespace and process a part makes goes away with it.
#
# Needs root, tcpdump, jq, gnuplot. Not a test: nothing passes or fails on the numbers; "met"
# and "missed" only compare a ratio with the issue's target.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
all_parts="b1 b2 b3 b4 b5"

usage() {
	awk 'NR > 3 && /^#/ { sub(/^# ?/, ""); print; next } NR > 3 { exit }' "$0"
}

say() {
	echo "run.sh: $*" >&2
}

# The command as typed, for the summary: the variables that steer the benchmarks, the script,
# its arguments.
invocation() {
	local kv words=()
	[ -z "${SUDO_USER:-}" ] || words+=(sudo)
	while IFS= read -r kv; do
		words+=("${kv%%=*}=$(printf '%q' "${kv#*=}")")
	done < <(env | grep -E '^(EC|BENCH)_[A-Z0-9_]*=' | sort)
	words+=("$0")
	for kv in "$@"; do
		words+=("$(printf '%q' "$kv")")
	done
	echo "${words[*]}"
}
command_line=$(invocation "$@")
run_date=$(date -u '+%Y-%m-%d %H:%M UTC')

parts=" "
quick=
out=
while [ $# -gt 0 ]; do
	case $1 in
	b1 | b2 | b3 | b4 | b5) parts="$parts$1 " ;;
	--quick) quick=1 ;;
	--out)
		[ $# -ge 2 ] || { say "--out needs a directory"; exit 2; }
		out=$2
		shift
		;;
	--out=*) out=${1#--out=} ;;
	-h | --help)
		usage
		exit 0
		;;
	--repeat | --runs | --ring)
		say "$1 is an option of bench_prog: tests/bench/b1.sh $1 ... runs B1 alone with it"
		exit 2
		;;
	*)
		say "unexpected argument '$1' (see --help)"
		exit 2
		;;
	esac
	shift
done
[ "$parts" != " " ] || parts=" $all_parts "
selected() {
	case $parts in *" $1 "*) return 0 ;; esac
	return 1
}

if [ "$(id -u)" != 0 ]; then
	say "the benchmarks load BPF programs and make network namespaces: run it as root"
	exit 1
fi
# What the parts need, checked before the first one runs (they install nothing).
load=
if selected b2 || selected b3 || selected b5; then
	load=1
fi
tools=(awk taskset)
[ -z "$load" ] || tools+=(ip tcpdump jq gnuplot)
! selected b4 || tools+=(ip jq)
for tool in "${tools[@]}"; do
	if ! command -v "$tool" >/dev/null; then
		say "$tool not found: install it (gnuplot: gnuplot-nox) and run again"
		exit 1
	fi
done

b1_args=()
if [ -n "$quick" ]; then
	b1_args=(--repeat 100000 --runs 3)
	export BENCH_SECONDS=${BENCH_SECONDS:-1}
	export BENCH_RATES=${BENCH_RATES:-"400000 1000000 1600000"}
	export BENCH_B3_RUNS=${BENCH_B3_RUNS:-1}
	export BENCH_FULL_RUNS=${BENCH_FULL_RUNS:-1} BENCH_FULL_COUNT=${BENCH_FULL_COUNT:-300000}
	export BENCH_RINGS=${BENCH_RINGS:-"1M 8M"}
	export BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-10}
	export EC_FLEET_QUICK=1
fi
if [ -z "$out" ] && [ -n "$quick" ]; then
	out=${TMPDIR:-/tmp}/edgecap-bench-quick
fi
out=${out:-$here/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# --- build, once ------------------------------------------------------------------------------

export EC_BUILD_DIR=${EC_BUILD_DIR:-$src/build}
targets=()
! selected b1 || targets+=(bench_prog)
[ -z "$load" ] || targets+=(ec_livegen edgecapctl edgecap-agent bench_gro noop_skel_gen)
! selected b4 ||
	targets+=(bench_ingest bench_agent edgecap-agent edgecap-aggregator edgecapctl ec_livegen)
mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
if [ ! -f "$EC_BUILD_DIR/CMakeCache.txt" ]; then
	say "configuring $EC_BUILD_DIR (RelWithDebInfo)"
	cmake -S "$src" -B "$EC_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
say "building ${targets[*]} in $EC_BUILD_DIR"
# Only what the parts run: a half-written part of the tree does not stop them.
if ! log=$(cmake --build "$EC_BUILD_DIR" --target "${targets[@]}" -j "$(nproc)" 2>&1); then
	echo "$log" >&2
	say "failed to build ${targets[*]} in $EC_BUILD_DIR: nothing was run"
	exit 1
fi
export EC_BENCH_NO_BUILD=1

# --- the parts --------------------------------------------------------------------------------

# The parts' output files, removed before each runs: what is read afterwards is this run's.
declare -A outputs=(
	[b1]="b1.md"
	[b2]="b2.md b2.tsv b2-summary.tsv b2.png b2full.md b2full.tsv"
	[b3]="b3.md b3.tsv"
	[b4]="b4.md b4a.tsv b4b.tsv b4c.tsv"
	[b5]="b5.md b5.tsv"
)
# ok or failed, per part run.
declare -A status=()
failed=()

part_b1() { "$here/b1.sh" "${b1_args[@]}" >"$out/b1.md"; }
part_b2() { "$here/bench_load.sh" --only b2 --only b2full --out "$out" >/dev/null; }
part_b3() { "$here/bench_load.sh" --only b3 --out "$out" >/dev/null; }
part_b4() { "$here/run-fleet.sh" --out "$out" >/dev/null; }
part_b5() { "$here/bench_load.sh" --only b5 --out "$out" >/dev/null; }

# Ctrl-C stops the part that runs (it cleans up after itself), then the whole run.
trap 'say "interrupted"; exit 130' INT TERM
started=$SECONDS
for p in $all_parts; do
	selected "$p" || continue
	for f in ${outputs[$p]}; do
		rm -f "${out:?}/$f"
	done
	say "=== ${p^^} ($((SECONDS - started)) s into the run)"
	t0=$SECONDS
	if "part_$p"; then
		status[$p]=ok
		say "=== ${p^^} done in $((SECONDS - t0)) s"
	else
		rc=$?
		status[$p]=failed
		failed+=("${p^^}")
		say "=== ${p^^} FAILED (exit $rc, after $((SECONDS - t0)) s): see its messages above;" \
			"going on with the next part"
	fi
done

# --- the targets ------------------------------------------------------------------------------

# Functions for every awk below: fmt(x, d) x with d decimals; group(n) n with thousands
# separators; verdict(x, goal, dir) "met" or "missed", dir "le" (at most) or "ge" (at least).
# shellcheck disable=SC2016 # an awk program
awk_lib='
function fmt(x, d) { return sprintf("%." d "f", x) }
function group(n,   s, r) {
	s = sprintf("%d", n)
	r = ""
	while (length(s) > 3) {
		r = "," substr(s, length(s) - 2) r
		s = substr(s, 1, length(s) - 3)
	}
	return s r
}
function verdict(x, goal, dir) {
	return (dir == "le" ? x <= goal : x >= goal) ? "met" : "missed"
}
function row(target, measured, ratio, goal, result, notes) {
	printf "%s\t%s\t%s\t%s\t%s\t%s\n", target, measured, ratio, goal, result, notes
}
# col(name): the column of a TSV header line (the current record) named name; 0 if none.
function col(name,   i) {
	for (i = 1; i <= NF; i++)
		if ($i == name)
			return i
	return 0
}
'

# figure PART TARGET GOAL FILE AWK: one row of the targets table, from AWK run over FILE of
# PART; a row that says why when the part was not run, failed or left no figure.
figure() {
	local part=$1 target=$2 goal=$3 file=$out/$4 prog=$5 line=
	shift 5
	case ${status[$part]:-} in
	ok)
		if [ -s "$file" ]; then
			line=$(awk "$@" "$awk_lib$prog" "$file") || line=
		fi
		[ -n "$line" ] || line=$(printf '%s\t–\t–\t%s\tno figure\tnothing to read in %s' \
			"$target" "$goal" "${file##*/}")
		;;
	failed) line=$(printf '%s\t–\t–\t%s\tpart failed\t' "$target" "$goal") ;;
	*) line=$(printf '%s\t–\t–\t%s\tnot run\t' "$target" "$goal") ;;
	esac
	echo "$line"
}

# B1: bench_prog's table, read by its column names: frame, state, slots, ns/pkt.
# shellcheck disable=SC2016 # an awk program
b1_prog='
function trim(s) { gsub(/^[ `]+|[ `]+$/, "", s); return s }
/^\|/ && !fc {
	for (i = 2; i < NF; i++) {
		c = trim($i)
		if (c == "frame") fc = i
		if (c == "state") sc = i
		if (c == "slots") lc = i
		if (c == "ns/pkt") nc = i
	}
	if (!(sc && lc && nc))
		fc = 0
	next
}
fc && /^\|/ {
	st = trim($sc)
	key = st ~ /^no-op/ ? "noop" : st ~ /^idle/ ? "idle" : st ~ /^active, no match/ ? "miss" : ""
	if (key != "")
		ns[trim($fc) + 0, key, key == "miss" ? trim($lc) + 0 : 0] = trim($nc) + 0
}
# r(f, key, slots): ns/pkt over the no-op program'"'"'s, same frame size.
function r(f, key, slots) { return ns[f, key, slots] / ns[f, "noop", 0] }
function have(f, key, slots) { return ns[f, key, slots] > 0 && ns[f, "noop", 0] > 0 }
END {
	if (which == "idle") {
		if (!have(64, "idle", 0) || !have(1514, "idle", 0))
			exit
		row(target, fmt(ns[64, "idle", 0], 1) " ns, no-op " fmt(ns[64, "noop", 0], 1) \
		    " ns (64-byte frames)", fmt(r(64, "idle", 0), 2), goal,
		    verdict(r(64, "idle", 0), 1.1, "le"),
		    "1514-byte frames: " fmt(r(1514, "idle", 0), 2) " (" fmt(ns[1514, "idle", 0], 1) \
		    " ns, no-op " fmt(ns[1514, "noop", 0], 1) " ns)")
		exit
	}
	if (!have(64, "miss", 1) || !have(1514, "miss", 1))
		exit
	worst = r(64, "miss", 1) > r(1514, "miss", 1) ? r(64, "miss", 1) : r(1514, "miss", 1)
	notes = "the larger of 64 B " fmt(r(64, "miss", 1), 2) ", 1514 B " fmt(r(1514, "miss", 1), 2)
	for (s = 4; s <= 8; s += 4)
		if (have(64, "miss", s) && have(1514, "miss", s))
			notes = notes "; " s " slots (information): " fmt(r(64, "miss", s), 2) ", " \
				fmt(r(1514, "miss", s), 2)
	row(target, "1 slot: " fmt(ns[64, "miss", 1], 1) " ns (64 B), " fmt(ns[1514, "miss", 1], 1) \
	    " ns (1514 B); no-op " fmt(ns[64, "noop", 0], 1) ", " fmt(ns[1514, "noop", 0], 1) " ns",
	    fmt(worst, 2), goal, verdict(worst, 1.3, "le"), notes)
}'

# B2: bench_load.sh's b2-summary.tsv, a line a tool.
# shellcheck disable=SC2016 # an awk program
b2_prog='
function name(t) {
	return t == "xdp-native" ? "XDP native" : t == "xdp-skb" ? "XDP generic" : \
	       t == "tc" ? "tc ingress" : t
}
FNR == 1 {
	for (k = split("tool lossless_pps top_pps cpu_at_pps system_ns above_ns process_ns kernel_ns",
		       names, " "); k > 0; k--)
		c[names[k]] = col(names[k])
	next
}
{
	t = $c["tool"]
	best[t] = $c["lossless_pps"]; top = $c["top_pps"]; at = $c["cpu_at_pps"]
	sys[t] = $c["system_ns"]; above[t] = $c["above_ns"]
	proc[t] = $c["process_ns"]; kern[t] = $c["kernel_ns"]
}
END {
	if (!("tcpdump" in best) || !("xdp-native" in best))
		exit
	e = "xdp-native"
	if (which == "rate") {
		tb = best["tcpdump"]
		measured = "XDP native " group(best[e]) " pps, tcpdump " group(tb) " pps"
		notes = ""
		if (tb > 0) {
			for (k = split("xdp-skb tc", others, " "); k > 0; k--)
				if (others[k] in best)
					notes = name(others[k]) " " fmt(best[others[k]] / tb, 2) \
						(notes != "" ? ", " : "") notes
			notes = notes "; no capture lossless up to " group(best["none"]) " pps, the" \
				" testbed'"'"'s ceiling (" fmt(best["none"] / tb, 2) "×)"
		}
		if (tb == 0)
			row(target, measured, "–", goal, "unknown",
			    "tcpdump lost packets at every rate offered")
		else if (tb >= top)
			row(target, measured, "–", goal, "unknown",
			    "tcpdump lost nothing up to the highest rate offered (" group(top) \
			    " pps): raise BENCH_RATES; " notes)
		else if (best[e] >= top)
			row(target, measured, "≥ " fmt(best[e] / tb, 2), goal,
			    best[e] / tb >= 2 ? "met" : "unknown",
			    "edgecap lost nothing up to the highest rate offered; " notes)
		else
			row(target, measured, fmt(best[e] / tb, 2), goal, verdict(best[e] / tb, 2, "ge"),
			    notes)
		exit
	}
	if (!(sys["tcpdump"] > 0) || !(above["tcpdump"] > 0))
		exit
	rs = sys[e] / sys["tcpdump"]
	ra = above[e] / above["tcpdump"]
	vs = verdict(rs, 0.5, "le")
	va = verdict(ra, 0.5, "le")
	measured = "at " group(at) " pps, XDP native against tcpdump: whole system " \
		   fmt(sys[e], 0) " / " fmt(sys["tcpdump"], 0) " ns, above no capture " \
		   fmt(above[e], 0) " / " fmt(above["tcpdump"], 0) " ns"
	notes = ""
	for (k = split("xdp-skb tc", others, " "); k > 0; k--) {
		o = others[k]
		if (o in sys)
			notes = name(o) " " fmt(sys[o] / sys["tcpdump"], 2) " / " \
				fmt(above[o] / above["tcpdump"], 2) (notes != "" ? "; " : "") notes
	}
	notes = notes "; above no capture, tool process + kernel: XDP native " fmt(proc[e], 0) \
		" + " fmt(kern[e], 0) " ns, tcpdump " fmt(proc["tcpdump"], 0) " + " \
		fmt(kern["tcpdump"], 0) " ns"
	if (best["tcpdump"] == 0)
		notes = notes "; tcpdump lost packets at every rate: compared at the lowest"
	row(target, measured, fmt(rs, 2) " / " fmt(ra, 2), goal, vs == va ? vs : vs " / " va, notes)
}'

# B4a: run-fleet.sh's b4a.tsv: bench_ingest's rows, the payload first.
# shellcheck disable=SC2016 # an awk program
b4_prog='
FNR == 1 {
	pc = col("payload"); ac = col("agents"); wc = col("path"); bc = col("batches")
	mc = col("Mpkt/s per core"); nc = col("CPU ns/pkt")
	if (!(pc && ac && wc && bc && mc && nc))
		exit
	next
}
# The transport rows (over tcp://, over tls+tcp://: the whole process with NNG and TLS) are
# kept apart, and named in the notes: the target is the ingest on one core.
$wc ~ /simple capture/ && $wc ~ /^over / {
	p = $pc; a = $ac + 0; m = $mc + 0
	if (!((p, a) in tworst) || m < tworst[p, a]) {
		tworst[p, a] = m; tpath[p, a] = $wc
	}
	next
}
$wc ~ /simple capture/ {
	p = $pc; a = $ac + 0; m = $mc + 0
	if (!((p, a) in worst) || m < worst[p, a]) {
		worst[p, a] = m; ns[p, a] = $nc; kind[p, a] = $bc
	}
	if (a > most[p]) most[p] = a
}
END {
	a = most["random"]
	if (!a)
		exit
	m = worst["random", a]
	notes = ""
	for (n = 1; n < a; n++)
		if (("random", n) in worst)
			notes = notes n " agent" (n > 1 ? "s" : "") " " fmt(worst["random", n], 2) ", "
	if (notes != "")
		notes = "random payloads, worst batches: " substr(notes, 1, length(notes) - 2)
	if (("zeros", most["zeros"]) in worst)
		notes = notes (notes != "" ? "; " : "") "zero payloads, " most["zeros"] " agents: " \
			fmt(worst["zeros", most["zeros"]], 2) " Mpkt/s"
	if (("random", a) in tworst)
		notes = notes "; the whole aggregator process, random payloads, " a " agents, " \
			tpath["random", a] ": " fmt(tworst["random", a], 2) " Mpkt/s per core"
	row(target, fmt(m, 2) " Mpkt/s per core (" ns["random", a] " CPU ns/pkt): " a \
	    " agents, random payloads, simple capture, " kind["random", a] " batches",
	    fmt(m, 2), goal, verdict(m, 1, "ge"), notes)
}'

# B5: bench_load.sh's b5.tsv, a line a ring size, memory in KiB.
# shellcheck disable=SC2016 # an awk program
b5_prog='
FNR == 1 {
	rc = col("ring_bytes"); hc = col("hwm")
	if (!(rc && hc))
		exit
	next
}
{
	mib = $rc / 1048576
	limit = 2 * mib + 16
	x = $hc / 1024 / limit
	notes = notes (notes != "" ? ", " : "") mib " MiB " fmt(x, 2)
	if (x > worst) {
		worst = x
		measured = "VmHWM " fmt($hc / 1024, 1) " MiB with a " mib " MiB ring; limit " \
			   limit " MiB"
	}
}
END {
	if (measured != "")
		row(target, measured, fmt(worst, 2), goal, verdict(worst, 1, "le"),
		    "VmHWM over the limit, per ring: " notes)
}'

# targets: the rows, as TSV.
targets() {
	local t
	t="idle ≤ 1.1× the no-op program (B1, 64-byte frames)"
	figure b1 "$t" "≤ 1.10" b1.md "$b1_prog" -F'|' -v which=idle -v target="$t" -v goal="≤ 1.10"
	t="active, not matching ≤ 1.3× the no-op program (B1, 1 slot, 64 and 1514 bytes)"
	figure b1 "$t" "≤ 1.30" b1.md "$b1_prog" -F'|' -v which=miss -v target="$t" -v goal="≤ 1.30"
	t="highest lossless capture rate ≥ 2× tcpdump's (B2, edgecap XDP native)"
	figure b2 "$t" "≥ 2.00" b2-summary.tsv "$b2_prog" -F'\t' -v which=rate -v target="$t" \
		-v goal="≥ 2.00"
	t="CPU per captured packet ≤ 0.5× tcpdump's (B2, XDP native; whole system / above no capture)"
	figure b2 "$t" "≤ 0.50" b2-summary.tsv "$b2_prog" -F'\t' -v which=cpu -v target="$t" \
		-v goal="≤ 0.50"
	t="aggregator ≥ 1 M packets/s on one core, snaplen 160 (B4a, the worst simple capture)"
	figure b4 "$t" "≥ 1.00" b4a.tsv "$b4_prog" -F'\t' -v target="$t" -v goal="≥ 1.00"
	t="agent RSS ≤ 2 × ring + 16 MiB (B5, worst VmHWM over that limit)"
	figure b5 "$t" "≤ 1.00" b5.tsv "$b5_prog" -F'\t' -v target="$t" -v goal="≤ 1.00"
}

# summary: the targets table with the line on the run above it and the notes below.
summary() {
	local p done_parts=
	echo "Run on $run_date, kernel $(uname -r), $(nproc) CPUs" \
		"($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); command:" \
		"\`$command_line\`"
	echo
	echo "### Targets"
	echo
	echo "| target | measured | ratio | goal | result | notes |"
	echo "|---|---|---:|---:|---|---|"
	targets | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }'
	echo
	echo "Every ratio is against a baseline measured in the same run: the no-op XDP program" \
		"(B1), tcpdump -w on the same traffic (B2), 1 M packets/s (B4a), 2 × the ring size +" \
		"16 MiB (B5). \"met\" and \"missed\" only compare a ratio with the issue's target:" \
		"nothing here passes or fails, this is a benchmark, not a test; \"unknown\": the" \
		"run's range of rates could not tell."
	if [ -n "$quick" ]; then
		echo
		echo "**--quick**: fewer repeats, steps and records; these figures show that everything" \
			"runs, not what it costs."
	fi
	for p in $all_parts; do
		done_parts="$done_parts, ${p^^} ${status[$p]:-not run}"
	done
	echo
	echo "Parts: ${done_parts#, }; $((SECONDS - started)) s. In $out: results.md (every" \
		"table), b1.md to b5.md (each part's), raw data in *.tsv, the B2 chart in b2.png."
}

summary >"$out/summary.md"
{
	cat "$out/summary.md"
	for p in $all_parts; do
		if [ "${status[$p]:-}" = ok ] && [ -s "$out/$p.md" ]; then
			echo
			cat "$out/$p.md"
			[ "$p" != b2 ] || [ ! -s "$out/b2full.md" ] || { echo; cat "$out/b2full.md"; }
		fi
	done
} >"$out/results.md"

for p in $all_parts; do
	if [ "${status[$p]:-}" = ok ] && [ -s "$out/$p.md" ]; then
		cat "$out/$p.md"
		echo
		[ "$p" != b2 ] || [ ! -s "$out/b2full.md" ] || { cat "$out/b2full.md"; echo; }
	fi
done
cat "$out/summary.md"
say "tables: $out/results.md; targets: $out/summary.md"
if [ ${#failed[@]} -gt 0 ]; then
	say "FAILED: ${failed[*]} (their messages are above); the targets table leaves them out"
	exit 1
fi
