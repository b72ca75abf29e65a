#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_usage.sh: every program words a usage error the same way (common/usage.h), exits 2, and
# has a --help with examples:
#
#   PROGRAM: BAD THING 'VALUE': WHY
#   run 'PROGRAM --help' for usage
#
# For edgecapctl and each of its commands, edgecap-agent and edgecap-aggregator: an unknown
# flag, a flag without its value and a bad value. No privileges: every run stops at parsing.
# edgecapctl capture's tcpdump aliases -c and -s are parsed as --packet-limit and --snaplen.
# The man pages name every flag that a --help names.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_EDGECAPCTL"

# expect_usage PROGRAM FIRST_LINE CMD...: CMD exits 2 and its stderr is exactly FIRST_LINE and
# the --help hint for PROGRAM; nothing on stdout.
expect_usage() {
	local prog=$1 first=$2 rc=0 want
	shift 2
	"$@" >"$EC_TMPDIR/out" 2>"$EC_TMPDIR/err" </dev/null || rc=$?
	[ "$rc" = 2 ] || fail "$*: exit $rc, want 2: $(cat "$EC_TMPDIR/err")"
	want=$(printf "%s\nrun '%s --help' for usage" "$first" "$prog")
	[ "$(cat "$EC_TMPDIR/err")" = "$want" ] ||
		fail "$*: stderr is:
$(cat "$EC_TMPDIR/err")
want:
$want"
	[ ! -s "$EC_TMPDIR/out" ] || fail "$*: wrote on stdout: $(cat "$EC_TMPDIR/out")"
}

# expect_help CMD...: --help exits 0 with a usage line and examples on stdout.
expect_help() {
	local rc=0
	"$@" >"$EC_TMPDIR/out" 2>"$EC_TMPDIR/err" || rc=$?
	[ "$rc" = 0 ] || fail "$*: exit $rc: $(cat "$EC_TMPDIR/err")"
	grep -q '^usage: ' "$EC_TMPDIR/out" || fail "$*: no usage line"
	grep -q '^Examples:$' "$EC_TMPDIR/out" || fail "$*: no examples"
}

test_agent_usage_errors() {
	local p=edgecap-agent
	expect_usage $p "$p: unknown option '--frobnicate'" "$EC_AGENT" --frobnicate
	expect_usage $p "$p: missing value for '--snaplen': it takes one" "$EC_AGENT" --snaplen
	expect_usage $p "$p: invalid --snaplen 'lots': must be an integer from 1 to 65535" \
		"$EC_AGENT" --interface lo --snaplen lots
	expect_usage $p "$p: invalid --local-max-request '2K': must be a size from 4K to 64M, such as 1M" \
		"$EC_AGENT" --local-max-request 2K
	expect_usage $p "$p: invalid --local-max-connections '0': must be an integer from 1 to 4096" \
		"$EC_AGENT" --local-max-connections 0
	expect_usage $p "$p: invalid --local-timeout-ms '99': must be an integer from 100 to 600000" \
		"$EC_AGENT" --local-timeout-ms 99
	expect_usage $p "$p: unexpected argument 'eth0': $p takes options only" "$EC_AGENT" eth0
	expect_usage $p "$p: missing option '--interface': give at least one interface to capture on" \
		"$EC_AGENT"
	expect_help "$EC_AGENT" --help
}

test_aggregator_usage_errors() {
	local p=edgecap-aggregator
	expect_usage $p "$p: unknown option '--frobnicate'" "$EC_AGGREGATOR" --frobnicate
	expect_usage $p "$p: missing value for '--max-full': it takes one" "$EC_AGGREGATOR" --max-full
	expect_usage $p "$p: invalid --max-full 'lots': must be a count from 0 to 1000" \
		"$EC_AGGREGATOR" --max-full lots
	expect_usage $p "$p: invalid --agent-lost-grace '0': must be a number of seconds from 1 to 3600" \
		"$EC_AGGREGATOR" --agent-lost-grace 0
	expect_usage $p "$p: invalid --reorder-max-bytes '1K': must be a size from 64K to 4G, such as 67108864 or 64M" \
		"$EC_AGGREGATOR" --reorder-max-bytes 1K
	expect_usage $p "$p: invalid --checkpoint-ms '5': must be a number of ms from 10 to 60000" \
		"$EC_AGGREGATOR" --checkpoint-ms 5
	expect_usage $p "$p: invalid --key-wait-messages '10': must be a count from 64 to 1000000" \
		"$EC_AGGREGATOR" --key-wait-messages 10
	expect_usage $p "$p: invalid --key-wait-ms '50': must be a number of ms from 100 to 600000" \
		"$EC_AGGREGATOR" --key-wait-ms 50
	# Less than twice the largest message: a batch could never wait.
	expect_usage $p \
		"$p: invalid --key-wait-bytes '4M': must be a size from 8M to 1G, such as 33554432 or 32M" \
		"$EC_AGGREGATOR" --key-wait-bytes 4M
	expect_usage $p \
		"$p: invalid --key-wait-host-bytes '1K': must be a size from 64K to 1G, such as 1048576 or 1M" \
		"$EC_AGGREGATOR" --key-wait-host-bytes 1K
	expect_usage $p "$p: invalid --key-wait-conn-messages '0': must be a count from 1 to 1000000" \
		"$EC_AGGREGATOR" --key-wait-conn-messages 0
	expect_usage $p "$p: invalid --max-pending-joins '70000': must be a count from 1 to 65536" \
		"$EC_AGGREGATOR" --max-pending-joins 70000
	expect_help "$EC_AGGREGATOR" --help
}

# A descriptor limit below what the bounds need is named at start (nofile_check), after the
# soft limit was raised to the hard one.
test_aggregator_names_a_low_descriptor_limit() {
	local err=$EC_TMPDIR/nofile.err
	(
		ulimit -n 512
		"$EC_AGGREGATOR" --credentials /nonexistent --no-agents
	) >/dev/null 2>"$err" || true
	grep -q "warning: the descriptor limit is 512: --max-capture-hosts 10000 (a file and two connections each) and --http-max-connections 1024 need about 31280; raise LimitNOFILE (ulimit -n) or lower them" \
		"$err" || fail "no warning of the descriptor limit: $(cat "$err")"
	(
		ulimit -n 512
		"$EC_AGGREGATOR" --credentials /nonexistent --no-agents --max-capture-hosts 10 \
			--http-max-connections 16
	) >/dev/null 2>"$err" || true
	grep -q "descriptor limit" "$err" && fail "a warning with bounds that fit: $(cat "$err")"
	# Only the soft limit low: raised to the hard one first.
	(
		ulimit -Sn 512
		"$EC_AGGREGATOR" --credentials /nonexistent --no-agents
	) >/dev/null 2>"$err" || true
	grep -q "descriptor limit is 512:" "$err" && fail "the soft limit was not raised: $(cat "$err")"
	return 0
}

test_edgecapctl_usage_errors() {
	local p=edgecapctl
	expect_usage $p "$p: unknown command 'frobnicate'" "$EC_EDGECAPCTL" frobnicate
	expect_usage $p "$p: missing command: give one, e.g. capture, collect or status" \
		"$EC_EDGECAPCTL"
	expect_help "$EC_EDGECAPCTL" --help
}

test_edgecapctl_capture_usage_errors() {
	local p="edgecapctl capture"
	expect_usage "$p" "$p: unknown option '--frobnicate'" "$EC_EDGECAPCTL" capture --frobnicate
	expect_usage "$p" "$p: unknown option '-x'" "$EC_EDGECAPCTL" capture -x
	expect_usage "$p" "$p: missing value for '-i': it takes one" "$EC_EDGECAPCTL" capture -i
	expect_usage "$p" "$p: invalid --dst-port '65536': must be an integer from 0 to 65535" \
		"$EC_EDGECAPCTL" capture -i lo --dst-port 65536 -w x.pcap
	expect_usage "$p" "$p: invalid --hook 'kprobe': must be xdp, tc-ingress or tc-egress" \
		"$EC_EDGECAPCTL" capture -i lo --hook kprobe -w x.pcap
	expect_usage "$p" "$p: missing option '-w': give the pcap file to write, or - for stdout" \
		"$EC_EDGECAPCTL" capture -i lo
	expect_help "$EC_EDGECAPCTL" capture --help
}

# tcpdump's -c N and -s LEN: the same checks as --packet-limit and --snaplen, named as typed.
test_edgecapctl_capture_takes_tcpdump_c_and_s() {
	local p="edgecapctl capture"
	expect_usage "$p" "$p: invalid -c '0': must be an integer from 1 to 9223372036854775807" \
		"$EC_EDGECAPCTL" capture -i lo -c 0 -w x.pcap
	expect_usage "$p" "$p: invalid -s '65536': must be an integer from 1 to 65535" \
		"$EC_EDGECAPCTL" capture -i lo -s 65536 -w x.pcap
	expect_usage "$p" "$p: missing value for '-c': it takes one" "$EC_EDGECAPCTL" capture -c
	# Given with --request they count as limit flags, like their long names.
	expect_usage "$p" "$p: conflicting option '--request': the request body gives the filter and limits; do not combine it with filter or limit flags" \
		"$EC_EDGECAPCTL" capture -i lo --request /dev/null -c 5 -w x.pcap
	expect_usage "$p" "$p: conflicting option '--request': the request body gives the filter and limits; do not combine it with filter or limit flags" \
		"$EC_EDGECAPCTL" capture -i lo --request /dev/null -s 96 -w x.pcap
	grep -q -- '-c N ' <<<"$("$EC_EDGECAPCTL" capture --help)" || fail "--help does not list -c"
}

test_edgecapctl_commands_usage_errors() {
	local c p
	for c in collect download; do
		p="edgecapctl $c"
		expect_usage "$p" "$p: unknown option '--frobnicate'" "$EC_EDGECAPCTL" $c --frobnicate
		expect_help "$EC_EDGECAPCTL" $c --help
	done
	p="edgecapctl collect"
	expect_usage "$p" "$p: invalid --time-limit 'soon': must be a non-negative integer" \
		"$EC_EDGECAPCTL" collect --aggregator http://127.0.0.1:1 --time-limit soon
	expect_usage "$p" "$p: missing value for '--aggregator': it takes one" \
		"$EC_EDGECAPCTL" collect --aggregator
	p="edgecapctl download"
	expect_usage "$p" "$p: missing argument 'ID': give the capture id" \
		"$EC_EDGECAPCTL" download --aggregator http://127.0.0.1:1 -o x.pcap
	# The local agent's commands (no --aggregator, no EDGECAP_AGGREGATOR).
	p="edgecapctl status"
	env -u EDGECAP_AGGREGATOR "$EC_EDGECAPCTL" status --help >/dev/null || fail "status --help"
	expect_usage "$p" "$p: unknown option '--frobnicate'" \
		env -u EDGECAP_AGGREGATOR "$EC_EDGECAPCTL" status --frobnicate
	p="edgecapctl stop"
	expect_usage "$p" "$p: missing argument 'ID': give one capture id" \
		env -u EDGECAP_AGGREGATOR "$EC_EDGECAPCTL" stop
	p="edgecapctl credential"
	expect_usage "$p" "$p: unknown option '--frobnicate'" "$EC_EDGECAPCTL" credential --frobnicate
	expect_usage "$p" "$p: missing argument 'ACCOUNT_ID': give one ACCOUNT_ID" \
		"$EC_EDGECAPCTL" credential
	expect_help "$EC_EDGECAPCTL" credential --help
}

# man_names_flags PAGE HELP_TEXT: every --flag HELP_TEXT names is in the man page's source.
man_names_flags() {
	local page=$1 help=$2 missing
	[ -f "$page" ] || fail "no man page source $page"
	missing=$(comm -23 <(grep -o -- '--[a-z0-9][a-z0-9-]*' <<<"$help" | sort -u) \
		<(grep -o -- '--[a-z0-9][a-z0-9-]*' "$page" | sort -u) | tr '\n' ' ')
	[ -z "$missing" ] || fail "$(basename "$page") does not name what --help names: $missing"
}

# The man pages (docs/man/*.scd) name every flag the programs' --help texts do.
test_man_pages_name_every_flag() {
	local man=$EC_SRC_DIR/docs/man help c
	man_names_flags "$man/edgecap-agent.8.scd" "$("$EC_AGENT" --help)"
	man_names_flags "$man/edgecap-aggregator.8.scd" "$("$EC_AGGREGATOR" --help)"
	help=$("$EC_EDGECAPCTL" --help)
	for c in capture status list start stop collect download ownership credential; do
		help+=$'\n'$(env -u EDGECAP_AGGREGATOR "$EC_EDGECAPCTL" "$c" --help) ||
			fail "edgecapctl $c --help"
	done
	man_names_flags "$man/edgecapctl.1.scd" "$help"
}

run_test test_agent_usage_errors
run_test test_aggregator_usage_errors
run_test test_aggregator_names_a_low_descriptor_limit
run_test test_edgecapctl_usage_errors
run_test test_edgecapctl_capture_usage_errors
run_test test_edgecapctl_capture_takes_tcpdump_c_and_s
run_test test_edgecapctl_commands_usage_errors
run_test test_man_pages_name_every_flag
summary
