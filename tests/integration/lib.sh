# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
#
# lib.sh: helpers for edgecap's namespace tests, sourced by tests/integration/test_*.sh, in the
# style of xdp-tools' lib/testing/test_runner.sh. A test script is a set of small test_*
# functions, one per behaviour, and ends by running them:
#
#     . "$(dirname "$0")/lib.sh"
#     test_datagrams_arrive() {
#             ns_setup pair
#             bg_start recv "$NS1" "$EC_TRAFFIC" recv --port 5001 --count 10 \
#                     --ready-file "$EC_TMPDIR/recv.ready"
#             wait_for_file "$EC_TMPDIR/recv.ready" || fail "receiver never became ready"
#             in_ns "$NS0" "$EC_TRAFFIC" send --dst "$IP4_1" --port 5001 --count 10 >/dev/null
#             bg_wait "$BG_PID" || fail "receiver: $(cat "$EC_TMPDIR/recv.out")"
#     }
#     run_test test_datagrams_arrive
#     summary
#
# Contract:
#   - One skip policy, as tests/testing.h's: a test whose prerequisite is missing (root, a tool)
#     ends with skip, and a script where anything skipped exits 77 (ctest's SKIP_RETURN_CODE:
#     reported as skipped), never 0. Under CI (CI=true) a skip fails the script instead: a CI
#     machine has every prerequisite, and a tier that did not run must not pass.
#   - run_test runs each test in its own subshell with `set -eu -o pipefail` and an EXIT trap, so
#     every way out of a test (fail, an unchecked failing command, a signal) deletes the
#     namespaces and stops the background processes the test made. The script's own EXIT trap
#     sweeps again and removes the run's scratch directory EC_TMPDIR (kept with EC_KEEP=1).
#   - Namespace names carry a per-run suffix (EC_RUN_ID), so runs never collide, and only the
#     documentation prefixes 192.0.2.0/24 and 2001:db8::/32 are used on their links.
#   - Binaries come from the build directory EC_BUILD_DIR (default: <repo>/build); each path
#     below can be overridden on its own through the environment.
#   - fail, pass and skip end the current test: call them from the test function itself, not
#     inside $(...) or a pipeline, where they would only end that subshell.

EC_SRC_DIR=${EC_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
EC_BUILD_DIR=${EC_BUILD_DIR:-$EC_SRC_DIR/build}
EC_TRAFFIC=${EC_TRAFFIC:-$EC_BUILD_DIR/tests/tools/ec_traffic}
EC_LIVEGEN=${EC_LIVEGEN:-$EC_BUILD_DIR/tests/tools/ec_livegen}
EC_EDGECAPCTL=${EC_EDGECAPCTL:-$EC_BUILD_DIR/ctl/edgecapctl}
EC_AGENT=${EC_AGENT:-$EC_BUILD_DIR/agent/edgecap-agent}
EC_AGGREGATOR=${EC_AGGREGATOR:-$EC_BUILD_DIR/aggregator/edgecap-aggregator}
EC_CAPTURE_OBJ=${EC_CAPTURE_OBJ:-$EC_BUILD_DIR/bpf/capture.bpf.o}
EC_NOOP_OBJ=${EC_NOOP_OBJ:-$EC_BUILD_DIR/bpf/noop.bpf.o}

# Addresses and MACs of the pair ns_setup makes: index 0 in NS0, index 1 in NS1.
IF0=veth0
IF1=veth1
MAC0=02:ec:00:00:00:01
MAC1=02:ec:00:00:00:02
IP4_0=192.0.2.1
IP4_1=192.0.2.2
IP6_0=2001:db8::1
IP6_1=2001:db8::2

EC_RUN_ID=${EC_RUN_ID:-$(printf '%x%04x' "$$" "$RANDOM")}
EC_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/edgecap-test.XXXXXX") || {
	echo "lib.sh: cannot create a scratch directory" >&2
	exit 1
}
# Every namespace any test of this run made, one a line: the last sweep reads it.
EC_NS_LIST=$EC_TMPDIR/namespaces
: >"$EC_NS_LIST"

EC_TESTS_PASSED=0
EC_TESTS_FAILED=0
EC_TESTS_SKIPPED=0
# Background processes the current test started (pids), and the last one's pid.
EC_BG_PIDS=()
BG_PID=

# Prints a message on stderr with the script's name.
log() {
	echo "${0##*/}: $*" >&2
}

# Ends the current test as failed, saying why and where: the first caller outside lib.sh.
fail() {
	local i=1
	while [ "$i" -lt "${#BASH_SOURCE[@]}" ] && [ "${BASH_SOURCE[$i]}" = "${BASH_SOURCE[0]}" ]; do
		i=$((i + 1))
	done
	echo "FAIL: $* (${BASH_SOURCE[$i]##*/}:${BASH_LINENO[$((i - 1))]})" >&2
	exit 1
}

# Ends the current test as passed.
pass() {
	[ $# -gt 0 ] && log "$*"
	exit 0
}

# Whether this runs under CI: CI set to anything but "", "0", "false" or "no" (as testing.h).
in_ci() {
	case ${CI:-} in
	'' | 0 | false | no) return 1 ;;
	esac
	return 0
}

# Ends the current test as skipped (exit code 77, as automake and ctest know it); run_test
# counts it and summary decides. Outside a test it ends the script: 77, or 1 under CI.
skip() {
	echo "SKIP: $*" >&2
	if [ -z "${EC_IN_TEST:-}" ] && in_ci; then
		echo "FAIL: skipped under CI=$CI: CI must run every test" >&2
		exit 1
	fi
	exit 77
}

# Skips the test (or the script, outside a test) unless running as root.
require_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, BPF)"
}

# Skips the test (or the script, outside a test) unless every TOOL is on PATH.
require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || skip "needs $t"
	done
}

# have_tool TOOL: whether TOOL is on PATH, for a check a test makes only with it. Without it
# the check is skipped: counted by summary like a skipped test (under CI the test fails).
have_tool() {
	command -v "$1" >/dev/null && return 0
	in_ci && fail "needs $1, and CI must run every check"
	log "SKIP: $1 is not installed: a check of ${FUNCNAME[1]} did not run"
	echo "${FUNCNAME[1]}: $1" >>"$EC_TMPDIR/skipped-checks"
	return 1
}

# Fails unless every path given is an executable or a file that exists.
require_bin() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || fail "$f not found: build it, or point EC_BUILD_DIR at the build directory"
	done
}

# Mounts the BPF filesystem on /sys/fs/bpf if nothing is mounted there. Note that
# `ip netns exec` mounts a fresh /sys, without it: call this inside in_ns when a command pins.
ensure_bpffs() {
	if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
		{ mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf; } ||
			fail "cannot mount the BPF filesystem on /sys/fs/bpf"
	fi
}

# in_ns NS CMD...: runs CMD in namespace NS ("-" runs it where we are).
in_ns() {
	local ns=$1
	shift
	if [ "$ns" = - ]; then
		"$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# ns_setup NAME: makes two namespaces joined by a veth pair, both ends up, with addresses from
# the documentation prefixes and permanent neighbour entries (so no ARP or ND runs on the link
# and a capture sees only the test's own packets). Sets:
#   NS0, NS1   the namespaces ("ec-NAME-RUNID-0" and "-1")
#   IF0, IF1   the veth ends, veth0 in NS0 and veth1 in NS1, with MAC0 and MAC1
#   IP4_0, IP4_1 (192.0.2.1/24, .2) and IP6_0, IP6_1 (2001:db8::1/64, ::2)
ns_setup() {
	local name=${1:?ns_setup needs a name}
	NS0=ec-$name-$EC_RUN_ID-0
	NS1=ec-$name-$EC_RUN_ID-1
	echo "$NS0" >>"$EC_NS_LIST"
	echo "$NS1" >>"$EC_NS_LIST"
	ip netns add "$NS0" || fail "cannot create namespace $NS0"
	ip netns add "$NS1" || fail "cannot create namespace $NS1"
	# Made straight inside the namespaces: the names never meet anything in ours.
	ip link add "$IF0" netns "$NS0" address "$MAC0" type veth \
		peer name "$IF1" netns "$NS1" address "$MAC1" ||
		fail "cannot create veth pair $IF0/$IF1"
	_ns_link_up "$NS0" "$IF0" "$IP4_0" "$IP6_0" "$IP4_1" "$IP6_1" "$MAC1" ||
		fail "cannot configure $IF0 in $NS0"
	_ns_link_up "$NS1" "$IF1" "$IP4_1" "$IP6_1" "$IP4_0" "$IP6_0" "$MAC0" ||
		fail "cannot configure $IF1 in $NS1"
}

# _ns_link_up NS IF IP4 IP6 PEER_IP4 PEER_IP6 PEER_MAC
_ns_link_up() {
	local ns=$1 dev=$2
	# Before the link is up: no router solicitations in the captures.
	in_ns "$ns" sysctl -qw "net.ipv6.conf.$dev.router_solicitations=0" >/dev/null 2>&1 || true
	ip -n "$ns" link set lo up &&
		ip -n "$ns" addr add "$3/24" dev "$dev" &&
		# nodad: usable at once, no duplicate-address probes on the wire.
		ip -n "$ns" addr add "$4/64" dev "$dev" nodad &&
		ip -n "$ns" link set "$dev" up &&
		ip -n "$ns" neigh replace "$5" lladdr "$7" dev "$dev" nud permanent &&
		ip -n "$ns" neigh replace "$6" lladdr "$7" dev "$dev" nud permanent
}

# xdp_attach NS IF [PROGRAM]: attaches a program of bpf/noop.bpf.o (default xdp_noop, which
# passes everything; xdp_drop drops everything) to IF in native mode. A veth only takes frames
# redirected by XDP (ec_livegen's) while an XDP program is attached to it.
xdp_attach() {
	local prog=${3:-xdp_noop}
	require_bin "$EC_NOOP_OBJ"
	ip -n "$1" link set dev "$2" xdpdrv obj "$EC_NOOP_OBJ" program "$prog" ||
		fail "cannot attach $prog to $2 in $1"
}

# xdp_noop_attach NS IF: xdp_attach with xdp_noop.
xdp_noop_attach() {
	xdp_attach "$1" "$2" xdp_noop
}

# tc_prog_loaded: whether an edgecap tc program (edgecap_tc) is loaded anywhere. It is loaded
# only while attached (by tc or tcx); this bpftool (7.1) does not list tcx attachments under
# `bpftool net`, and tests run one at a time. bpftool fails as a whole ("can't get prog by id")
# when a program it walks past goes away meanwhile, as other tests on the machine load and
# unload theirs: ask again, never read that failure as "nothing attached".
tc_prog_loaded() {
	local out i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if out=$(bpftool prog show name edgecap_tc 2>&1); then
			grep -q edgecap_tc <<<"$out"
			return
		fi
		case $out in *rror*) sleep 0.1 ;; *) return 1 ;; esac
	done
	fail "bpftool prog show failed 10 times: $out"
}

# bg_start NAME NS CMD...: starts CMD in namespace NS ("-": ours) in the background, its stdout
# in $EC_TMPDIR/NAME.out and stderr in NAME.err. Sets BG_PID, the pid of CMD itself (ip netns
# exec execs it); the test's cleanup stops it.
bg_start() {
	local name=$1 ns=$2
	shift 2
	# Emptied here, before the fork: the child's own redirection may come after the caller
	# has already looked for a line, which it would then find in an earlier run's log.
	: >"$EC_TMPDIR/$name.out"
	: >"$EC_TMPDIR/$name.err"
	# A simple command, not a function: bash forks and execs it, with no shell in between.
	if [ "$ns" = - ]; then
		"$@" >"$EC_TMPDIR/$name.out" 2>"$EC_TMPDIR/$name.err" &
	else
		ip netns exec "$ns" "$@" >"$EC_TMPDIR/$name.out" 2>"$EC_TMPDIR/$name.err" &
	fi
	BG_PID=$!
	EC_BG_PIDS+=("$BG_PID")
}

# prom_value FILE SAMPLE: the value of one sample line of a scraped metrics page (name with its
# labels, exactly), or fail.
prom_value() {
	local v
	v=$(awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $NF }' "$1")
	[ -n "$v" ] || fail "no sample $2 in $(basename "$1"): $(grep -v '^#' "$1" | head -40)"
	echo "$v"
}

# metrics_url LOG: the metrics page's URL from a daemon's "metrics on http://..." line.
metrics_url() {
	sed -n 's|.*metrics on \(http://[0-9.:]*/metrics\).*|\1|p' "$1" | tail -n 1
}

# bg_gone PID: our child PID has exited (a zombie until bg_wait reaps it, which kill -0 counts).
bg_gone() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	[[ $st == Z* ]]
}

# bg_wait PID: waits for a background process and returns its exit code.
bg_wait() {
	local rc=0
	wait "$1" || rc=$?
	_bg_forget "$1"
	return "$rc"
}

# bg_stop PID [SIGNAL]: stops a background process (SIGTERM by default) and returns its exit
# code. It gets 5 s to exit before SIGKILL.
bg_stop() {
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	_pid_reap "$1"
}

# _pid_reap PID: gives a signalled child of ours 5 s to exit, then SIGKILL; returns its status.
# A signal can be lost if it lands between fork and exec, so this never waits unbounded.
_pid_reap() {
	local pid=$1 i rc=0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	# Bash's own "no record of process" notice goes to the group's stderr.
	{ wait "$pid"; } 2>/dev/null || rc=$?
	_bg_forget "$pid"
	return "$rc"
}

_bg_forget() {
	local p keep=()
	for p in "${EC_BG_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	EC_BG_PIDS=("${keep[@]}")
}

# wait_for_file FILE [SECONDS]: waits until FILE exists (default 10 s); 1 on timeout.
wait_for_file() {
	wait_until "${2:-10}" test -e "$1"
}

# wait_until SECONDS CMD...: runs CMD every 50 ms until it succeeds; 1 if it never does.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# json_get FILE KEY: prints a top-level member of the JSON object in FILE (jq syntax: .a.b).
json_get() {
	jq -er ".$2" "$1" 2>/dev/null
}

# expect_eq GOT WANT WHAT: fails the test unless GOT equals WANT.
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

# ---- API credentials ---------------------------------------------------------------------------
# The run's credentials file, handed to every aggregator agg_start starts (mode 0600, in the
# run's 0700 scratch directory): one line per account a test asked for with api_secret, the
# secrets kept beside it in $EC_TMPDIR/secrets/. Made with `edgecapctl credential`, the helper
# operators use.
EC_CRED_FILE=$EC_TMPDIR/credentials
# The account of agg_start's credential (exported as EDGECAP_API_TOKEN) and its email; a script
# sets EC_API_ACCOUNT to the account its requests name before its first agg_start.
EC_API_ACCOUNT=${EC_API_ACCOUNT:-local}
EC_API_EMAIL=${EC_API_EMAIL:-user@example.com}

# api_secret ACCOUNT [EMAIL]: sets API_SECRET to ACCOUNT's secret, made on first use (EMAIL,
# default ACCOUNT@example.com, on its line). An aggregator already running reads a new
# account's line only after SIGHUP: ask for every account before agg_start.
api_secret() {
	local account=${1:?api_secret needs an account} email=${2:-$1@example.com}
	local dir=$EC_TMPDIR/secrets out
	if [ ! -s "$dir/$account" ]; then
		require_bin "$EC_EDGECAPCTL"
		mkdir -m 0700 "$dir" 2>/dev/null || [ -d "$dir" ] || fail "cannot create $dir"
		out=$("$EC_EDGECAPCTL" credential "$account" --email "$email" 2>"$dir/err") ||
			fail "edgecapctl credential $account: $(cat "$dir/err")"
		(
			umask 077
			sed -n 2p <<<"$out" >>"$EC_CRED_FILE"
			sed -n 1p <<<"$out" >"$dir/$account"
		)
	fi
	API_SECRET=$(cat "$dir/$account")
	[ -n "$API_SECRET" ] || fail "no secret for account $account"
}

# agg_start [-n NS] [-s STATE_DIR] NAME [FLAGS...]: starts edgecap-aggregator in the background
# as NAME (bg_start: stdout in $EC_TMPDIR/NAME.out, its log in NAME.err) with its API on
# 127.0.0.1:0, the state directory STATE_DIR (default $EC_TMPDIR/NAME.state, so starting NAME
# again restarts it on the same state), in namespace NS (default "-": ours), then FLAGS (later
# flags win), with --credentials EC_CRED_FILE holding a credential of EC_API_ACCOUNT (api_secret),
# under umask 077 as its unit runs it. Waits up to 10 s for its "listening on" line and reads the
# port the kernel picked from it; fails the test if it never serves. Sets AGG_PID, AGG_PORT,
# AGG_URL (http://127.0.0.1:PORT, or https:// with --http-tls-cert) and AGG_LOG, and EC_API_KEY
# and the exported EDGECAP_API_TOKEN (for edgecapctl) to the secret of EC_API_ACCOUNT, whose email
# is EC_API_EMAIL; the test's cleanup stops it.
agg_start() {
	local ns=- state='' name opt OPTIND=1
	while getopts n:s: opt; do
		case $opt in
		n) ns=$OPTARG ;;
		s) state=$OPTARG ;;
		*) fail "agg_start: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	name=${1:?agg_start needs a name}
	shift
	require_bin "$EC_AGGREGATOR"
	api_secret "$EC_API_ACCOUNT" "$EC_API_EMAIL"
	# shellcheck disable=SC2034 # for the scripts
	EC_API_KEY=$API_SECRET
	export EDGECAP_API_TOKEN=$API_SECRET
	AGG_LOG=$EC_TMPDIR/$name.err
	# Emptied first: a restart under the same name must not read the previous one's port.
	: >"$AGG_LOG"
	# Under its unit's UMask=0077, so that every mode the tests check is the one the
	# aggregator sets, not the one a umask of 022 happens to give.
	local mask
	mask=$(umask)
	umask 077
	bg_start "$name" "$ns" "$EC_AGGREGATOR" --http 127.0.0.1:0 \
		--state-dir "${state:-$EC_TMPDIR/$name.state}" --credentials "$EC_CRED_FILE" "$@"
	umask "$mask"
	AGG_PID=$BG_PID
	wait_until 10 _agg_serves || true
	AGG_PORT=$(sed -n 's|.*listening on https\{0,1\}://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' \
		"$AGG_LOG" | tail -n 1)
	[ -n "$AGG_PORT" ] || fail "aggregator $name did not start: $(cat "$AGG_LOG")"
	# shellcheck disable=SC2034 # for the scripts
	AGG_URL=$(sed -n 's|.*listening on \(https\{0,1\}\)://127\.0\.0\.1:.*|\1|p' "$AGG_LOG" |
		tail -n 1)://127.0.0.1:$AGG_PORT
}

# Whether the aggregator agg_start started serves, or is gone (then waiting is over too).
_agg_serves() {
	grep -q "listening on https\{0,1\}://" "$AGG_LOG" || ! kill -0 "$AGG_PID"
}

# ns_cleanup: stops this test's background processes and everything running in the run's
# namespaces, then deletes the namespaces (which takes their veths with them). Safe to call
# any number of times, from any exit path.
ns_cleanup() {
	local pid ns pids
	for pid in "${EC_BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	if [ -f "$EC_NS_LIST" ]; then
		while read -r ns; do
			if [ -z "$ns" ] || [ ! -e "/run/netns/$ns" ]; then
				continue
			fi
			# Processes in a namespace of this run are this run's, whoever started them.
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			if [ -n "$pids" ]; then
				# shellcheck disable=SC2086
				kill -TERM $pids 2>/dev/null || true
				sleep 0.2
				pids=$(ip netns pids "$ns" 2>/dev/null || true)
				# shellcheck disable=SC2086
				[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
			fi
			ip netns del "$ns" 2>/dev/null || log "warning: cannot delete namespace $ns"
		done <"$EC_NS_LIST"
		: >"$EC_NS_LIST"
	fi
	for pid in "${EC_BG_PIDS[@]}"; do
		_pid_reap "$pid" || true
	done
	EC_BG_PIDS=()
}

_ec_exit() {
	ns_cleanup
	if [ "${EC_KEEP:-0}" = 1 ]; then
		log "scratch files kept in $EC_TMPDIR"
	else
		rm -rf "$EC_TMPDIR"
	fi
}
trap _ec_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_test FN: runs one test function in a subshell, prints "ok   FN", "FAIL FN" or
# "skip FN", and counts it for summary.
run_test() {
	local fn=$1 rc errexit=0
	# EC_ONLY=TEST_NAME runs that test alone (while iterating on it).
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$fn" ] || return 0
	# The subshell must not run in a `||` or `if` context: bash would ignore its set -e.
	[[ $- == *e* ]] && errexit=1
	set +e
	(
		set -eu -o pipefail
		EC_IN_TEST=1
		trap ns_cleanup EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		"$fn"
	)
	rc=$?
	[ "$errexit" = 0 ] || set -e
	case $rc in
	0)
		EC_TESTS_PASSED=$((EC_TESTS_PASSED + 1))
		echo "ok   $fn"
		;;
	77)
		EC_TESTS_SKIPPED=$((EC_TESTS_SKIPPED + 1))
		echo "skip $fn"
		;;
	*)
		EC_TESTS_FAILED=$((EC_TESTS_FAILED + 1))
		echo "FAIL $fn"
		;;
	esac
	# A test cut short by a signal ends the run too.
	[ "$rc" -lt 128 ] || exit "$rc"
	return 0
}

# summary: prints "N passed, N failed" (and "(N skipped)": tests, and checks have_tool
# skipped), then exits as testing.h's TEST_SUMMARY: 1 if anything failed; if anything skipped,
# 77, or 1 under CI; 0 when everything passed.
summary() {
	local skipped=$EC_TESTS_SKIPPED checks=$EC_TMPDIR/skipped-checks
	[ ! -s "$checks" ] || skipped=$((skipped + $(wc -l <"$checks")))
	if [ "$skipped" -gt 0 ]; then
		echo "$EC_TESTS_PASSED passed, $EC_TESTS_FAILED failed ($skipped skipped)"
	else
		echo "$EC_TESTS_PASSED passed, $EC_TESTS_FAILED failed"
	fi
	[ "$EC_TESTS_FAILED" -eq 0 ] || exit 1
	[ "$skipped" -gt 0 ] || exit 0
	if in_ci; then
		echo "FAIL: $skipped skipped under CI=$CI: CI must run every test" >&2
		exit 1
	fi
	exit 77
}

# --- TLS for the agent links (docs/design.md, "Security") -----------------------------------
# Certificates are made at run time with the openssl CLI, never committed: EC P-256 keys, valid
# for two days, in a directory of the test's own.

# tls_make_ca DIR: a fresh CA in DIR: ca.pem and ca.key.
tls_make_ca() {
	local dir=${1:?tls_make_ca needs a directory}
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=edgecap test CA $EC_RUN_ID" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
		>"$dir/openssl.log" 2>&1 || fail "cannot make a CA in $dir: $(cat "$dir/openssl.log")"
}

# tls_make_cert DIR NAME [SAN]: NAME.pem and NAME.key in DIR, signed by DIR's CA, with CN=NAME
# (an agent's certificate names its host id) and, when given, the subjectAltName SAN, e.g.
# "DNS:localhost,IP:127.0.0.1" for the aggregator's.
tls_make_cert() {
	local dir=${1:?tls_make_cert needs a directory} name=${2:?tls_make_cert needs a name}
	local san=${3:-} ext=$1/$2.ext
	: >"$ext"
	[ -z "$san" ] || printf 'subjectAltName = %s\n' "$san" >"$ext"
	if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.csr" \
		>"$dir/openssl.log" 2>&1 ||
		! openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-CAcreateserial -days 2 -extfile "$ext" -out "$dir/$name.pem" \
			>>"$dir/openssl.log" 2>&1; then
		fail "cannot make a certificate for $name in $dir: $(cat "$dir/openssl.log")"
	fi
}

# tls_flags DIR NAME: the daemon flags for NAME's certificate and DIR's CA.
tls_flags() {
	echo "--tls-ca $1/ca.pem --tls-cert $1/$2.pem --tls-key $1/$2.key"
}

# tls_ns_setup NAME: one namespace of the run, loopback up, for an aggregator that listens on
# fixed ports without meeting anyone else's (TLS_NS; deleted with the others).
tls_ns_setup() {
	TLS_NS=ec-${1:?tls_ns_setup needs a name}-$EC_RUN_ID
	echo "$TLS_NS" >>"$EC_NS_LIST"
	ip netns add "$TLS_NS" || fail "cannot create namespace $TLS_NS"
	ip -n "$TLS_NS" link set lo up || fail "cannot bring up lo in $TLS_NS"
}
