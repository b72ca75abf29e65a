#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_ctl_aggregator.sh: edgecapctl against a real edgecap-aggregator over HTTP: collect (with
# and without waiting), status, list, stop and download, and the exit codes of their failures
# (0 success, 1 runtime failure, 2 bad usage or invalid request). Each test starts its own
# aggregator on 127.0.0.1 (port 0: the kernel picks a free one, read back from its log), with a
# scratch state directory, ipc:// agent endpoints in the scratch directory, and no agents.
# Needs no root and no namespaces.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_tools curl jq od cmp

# Our requests go straight to 127.0.0.1, whatever proxy the environment names, and only the
# aggregator a test names is asked.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
unset EDGECAP_AGGREGATOR EDGECAP_ACCOUNT EDGECAP_AUTH_EMAIL EDGECAP_AUTH_KEY EDGECAP_API_TOKEN

ID_RE='^[0-9a-f]{32}$'

# ctl_agg_start [FLAGS...]: an aggregator of this test's own (agg_start, under a fresh name and
# so in a fresh state directory) with ipc:// agent endpoints in the scratch directory, the test's
# knobs (grace 1 s) and FLAGS. Sets AGG_URL and AGG_PID.
ctl_agg_start() {
	local dir
	require_bin "$EC_EDGECAPCTL"
	dir=$(mktemp -d "$EC_TMPDIR/agg.XXXXXX")
	agg_start -s "$dir/state" "${dir##*/}" --control "ipc://$dir/control.ipc" \
		--data "ipc://$dir/data.ipc" --grace 1 "$@"
}

# ctl NAME ARGS...: runs edgecapctl ARGS, stdout in $EC_TMPDIR/NAME.out and stderr in NAME.err;
# sets RC to its exit code (never fails by itself).
ctl() {
	local name=$1
	shift
	RC=0
	"$EC_EDGECAPCTL" "$@" >"$EC_TMPDIR/$name.out" 2>"$EC_TMPDIR/$name.err" || RC=$?
}

# expect_rc WANT NAME: fails unless the last ctl exited with WANT, showing what it printed.
expect_rc() {
	[ "$RC" = "$1" ] ||
		fail "edgecapctl ($2) exited $RC, want $1; stderr: $(cat "$EC_TMPDIR/$2.err")"
}

# expect_err NAME TEXT: fails unless the stderr of ctl NAME contains TEXT.
expect_err() {
	grep -qF -- "$2" "$EC_TMPDIR/$1.err" ||
		fail "edgecapctl ($1) should say '$2'; it said: $(cat "$EC_TMPDIR/$1.err")"
}

# submit NAME [FLAGS...]: collect --no-wait of a simple capture; sets ID.
submit() {
	local name=$1
	shift
	ctl "$name" collect --aggregator "$AGG_URL" --packet-limit 10 --no-wait "$@"
	expect_rc 0 "$name"
	ID=$(json_get "$EC_TMPDIR/$name.out" id) || fail "no id in: $(cat "$EC_TMPDIR/$name.out")"
}

# capture_status ID: the capture's status, asked with curl (not with the tool under test).
capture_status() {
	curl -sf -H "Authorization: Bearer $EDGECAP_API_TOKEN" \
		"$AGG_URL/client/v4/accounts/local/pcaps/$1" | jq -er .result.status
}

# status_is ID STATUS: whether the capture's status is STATUS now.
status_is() {
	[ "$(capture_status "$1")" = "$2" ]
}

test_collect_no_wait_prints_the_record() {
	ctl_agg_start --no-agents --simple-interval 0
	ctl collect collect --aggregator "$AGG_URL" --dst-port 53 --protocol udp --time-limit 30 \
		--packet-limit 10 --no-wait
	expect_rc 0 collect
	local out=$EC_TMPDIR/collect.out
	[[ $(json_get "$out" id) =~ $ID_RE ]] || fail "id is not 32 hex digits: $(cat "$out")"
	case $(json_get "$out" status) in
	pending | running) ;;
	*) fail "a new capture's status: $(json_get "$out" status)" ;;
	esac
	expect_eq "$(json_get "$out" type)" simple "type (the default)"
	expect_eq "$(json_get "$out" system)" magic-transit "system (the default)"
	expect_eq "$(json_get "$out" time_limit)" 30 "time_limit"
	expect_eq "$(json_get "$out" filter_v1.destination_port)" 53 "filter_v1.destination_port"
	expect_eq "$(json_get "$out" filter_v1.protocol)" 17 "filter_v1.protocol (udp)"
}

test_collect_invalid_request_exits_2() {
	ctl_agg_start --no-agents --simple-interval 0
	# The aggregator's 400 names the field.
	ctl range collect --aggregator "$AGG_URL" --time-limit 301 --packet-limit 10
	expect_rc 2 range
	expect_err range time_limit
	printf '{"time_limit": 5, "packet_limit": 5, "type": "simple", "system": "magic-transit", ' \
		>"$EC_TMPDIR/unknown.json"
	printf '"bogus": 1}\n' >>"$EC_TMPDIR/unknown.json"
	ctl unknown collect --aggregator "$AGG_URL" --request "$EC_TMPDIR/unknown.json"
	expect_rc 2 unknown
	expect_err unknown bogus
	# Not JSON at all never leaves the host.
	echo '{"time_limit": 5,' >"$EC_TMPDIR/broken.json"
	ctl broken collect --aggregator "$AGG_URL" --request "$EC_TMPDIR/broken.json"
	expect_rc 2 broken
	expect_err broken "not valid JSON"
	ctl flag collect --aggregator "$AGG_URL" --time-limit 5s
	expect_rc 2 flag
	expect_err flag --time-limit
	# Nothing was created.
	ctl list list --aggregator "$AGG_URL" --json
	expect_rc 0 list
	expect_eq "$(jq length "$EC_TMPDIR/list.out")" 0 "captures after invalid requests"
}

test_status_and_list() {
	local other
	api_secret other
	other=$API_SECRET
	ctl_agg_start --no-agents --simple-interval 0
	submit first --time-limit 60
	local first=$ID
	submit second --time-limit 60
	# EDGECAP_AGGREGATOR alone sends status and list to the aggregator.
	EDGECAP_AGGREGATOR=$AGG_URL ctl status status "$first"
	expect_rc 0 status
	expect_eq "$(json_get "$EC_TMPDIR/status.out" id)" "$first" "status: id"
	expect_eq "$(json_get "$EC_TMPDIR/status.out" time_limit)" 60 "status: time_limit"
	EDGECAP_AGGREGATOR=$AGG_URL ctl table list
	expect_rc 0 table
	grep -q "^$first " "$EC_TMPDIR/table.out" || fail "list does not show $first"
	grep -q "^$ID " "$EC_TMPDIR/table.out" || fail "list does not show $ID"
	ctl json list --aggregator "$AGG_URL" --json
	expect_rc 0 json
	expect_eq "$(jq -r '.[0].id' "$EC_TMPDIR/json.out")" "$ID" "list --json: newest first"
	expect_eq "$(jq length "$EC_TMPDIR/json.out")" 2 "list --json: captures"
	# Another account sees none of them.
	EDGECAP_API_TOKEN=$other ctl other list --aggregator "$AGG_URL" --account other --json
	expect_rc 0 other
	expect_eq "$(jq length "$EC_TMPDIR/other.out")" 0 "captures of another account"
}

test_stop_ends_the_capture() {
	ctl_agg_start --no-agents --simple-interval 0
	submit submit --time-limit 120
	ctl stop stop --aggregator "$AGG_URL" "$ID"
	expect_rc 0 stop
	expect_eq "$(json_get "$EC_TMPDIR/stop.out" id)" "$ID" "stop: id"
	# Without agents, a stopped capture ends at once with its (empty) pcap.
	wait_until 10 status_is "$ID" success ||
		fail "the stopped capture is $(capture_status "$ID"), not success"
	ctl again stop --aggregator "$AGG_URL" "$ID"
	expect_rc 0 again
	expect_err again "already finished"
}

test_download_before_success_is_not_finished() {
	ctl_agg_start --no-agents --simple-interval 0
	submit submit --time-limit 120
	ctl download download --aggregator "$AGG_URL" "$ID" -o "$EC_TMPDIR/out/early.pcap"
	# -o names a file in a missing directory first: no temp file can be made.
	expect_rc 1 download
	mkdir "$EC_TMPDIR/out"
	ctl download download --aggregator "$AGG_URL" "$ID" -o "$EC_TMPDIR/out/early.pcap"
	expect_rc 1 download
	expect_err download "not finished"
	[ -z "$(ls -A "$EC_TMPDIR/out")" ] ||
		fail "a failed download left files: $(ls -A "$EC_TMPDIR/out")"
}

test_collect_waits_and_downloads() {
	local start=$SECONDS magic
	ctl_agg_start --no-agents --simple-interval 0
	ctl collect collect --aggregator "$AGG_URL" --time-limit 1 --packet-limit 5 \
		--download "$EC_TMPDIR/all.pcap"
	expect_rc 0 collect
	expect_eq "$(json_get "$EC_TMPDIR/collect.out" status)" success "collect: final status"
	[ $((SECONDS - start)) -lt 60 ] || fail "collect took $((SECONDS - start)) s"
	# No agent sent anything: a valid pcap with no packets (its 24-byte header).
	expect_eq "$(stat -c %s "$EC_TMPDIR/all.pcap")" 24 "downloaded pcap size"
	magic=$(od -An -tx1 -N4 "$EC_TMPDIR/all.pcap" | tr -d ' ')
	case $magic in
	d4c3b2a1 | 4d3cb2a1 | a1b2c3d4 | a1b23c4d) ;;
	*) fail "not a pcap: magic $magic" ;;
	esac
	# And once more by download, to stdout.
	ctl stdout download --aggregator "$AGG_URL" "$(json_get "$EC_TMPDIR/collect.out" id)" -o -
	expect_rc 0 stdout
	cmp -s "$EC_TMPDIR/stdout.out" "$EC_TMPDIR/all.pcap" || fail "download -o - differs"
}

# Without --no-agents and with no agent connected, the aggregator ends the capture on its own
# (today: failed, "no agent accepted the capture"); collect's exit code follows the outcome.
test_collect_without_agents_matches_the_outcome() {
	local start=$SECONDS final
	ctl_agg_start --simple-interval 0
	ctl collect collect --aggregator "$AGG_URL" --time-limit 2 --packet-limit 5
	# time_limit + grace + collect's own margin bound the wait; ctest's timeout bounds this.
	[ $((SECONDS - start)) -le 130 ] || fail "collect took $((SECONDS - start)) s"
	final=$(json_get "$EC_TMPDIR/collect.out" status) ||
		fail "collect printed no record: $(cat "$EC_TMPDIR/collect.err")"
	case $final in
	success) expect_rc 0 collect ;;
	failed)
		expect_rc 1 collect
		expect_err collect "$(json_get "$EC_TMPDIR/collect.out" error_message)"
		;;
	*) fail "collect returned while the capture is $final" ;;
	esac
}

test_status_of_unknown_capture_exits_1() {
	ctl_agg_start --no-agents --simple-interval 0
	ctl unknown status --aggregator "$AGG_URL" 0123456789abcdef0123456789abcdef
	expect_rc 1 unknown
	expect_err unknown "no capture 0123456789abcdef0123456789abcdef"
	ctl download download --aggregator "$AGG_URL" 0123456789abcdef0123456789abcdef \
		-o "$EC_TMPDIR/none.pcap"
	expect_rc 1 download
	[ ! -e "$EC_TMPDIR/none.pcap" ] || fail "a failed download left $EC_TMPDIR/none.pcap"
}

test_rate_limit_says_when_to_retry() {
	ctl_agg_start --no-agents --simple-interval 60
	submit first --time-limit 30
	ctl second collect --aggregator "$AGG_URL" --time-limit 30 --packet-limit 10 --no-wait
	expect_rc 1 second
	expect_err second "HTTP 429"
	expect_err second "Retry-After"
}

test_unreachable_aggregator_names_the_url() {
	local url
	ctl_agg_start --no-agents
	url=$AGG_URL
	# The port it had is closed once it stopped.
	bg_stop "$AGG_PID" || true
	ctl list list --aggregator "$url"
	expect_rc 1 list
	expect_err list "$url/client/v4/accounts/local/pcaps"
	ctl collect collect --aggregator "$url" --time-limit 5 --packet-limit 5
	expect_rc 1 collect
	expect_err collect "$url"
}

test_dispatch_and_usage() {
	# No URL anywhere: collect is a usage error; status goes to the local agent.
	ctl nourl collect --time-limit 5 --packet-limit 5
	expect_rc 2 nourl
	expect_err nourl EDGECAP_AGGREGATOR
	ctl local status --socket "$EC_TMPDIR/no-agent.sock"
	expect_rc 1 local
	expect_err local "$EC_TMPDIR/no-agent.sock"
	# --socket wins over EDGECAP_AGGREGATOR.
	EDGECAP_AGGREGATOR=http://127.0.0.1:9 ctl socket list --socket "$EC_TMPDIR/no-agent.sock"
	expect_rc 1 socket
	expect_err socket "$EC_TMPDIR/no-agent.sock"
	ctl noid stop --aggregator http://127.0.0.1:9
	expect_rc 2 noid
	ctl noout download --aggregator http://127.0.0.1:9 0123456789abcdef0123456789abcdef
	expect_rc 2 noout
	ctl help collect --help
	expect_rc 0 help
	grep -q "Examples:" "$EC_TMPDIR/help.out" || fail "collect --help has no examples"
}

run_test test_collect_no_wait_prints_the_record
run_test test_collect_invalid_request_exits_2
run_test test_status_and_list
run_test test_stop_ends_the_capture
run_test test_download_before_success_is_not_finished
run_test test_collect_waits_and_downloads
run_test test_collect_without_agents_matches_the_outcome
run_test test_status_of_unknown_capture_exits_1
run_test test_rate_limit_says_when_to_retry
run_test test_unreachable_aggregator_names_the_url
run_test test_dispatch_and_usage
summary
