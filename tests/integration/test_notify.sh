#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_notify.sh: what both daemons tell systemd (Type=notify), without systemd as PID 1. The
# test binds the datagram socket itself (ec_notify_listen) and points NOTIFY_SOCKET at it:
#   - READY=1 once the daemon serves, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM;
#   - no watchdog pings when WATCHDOG_PID names another process;
#   - SIGHUP leaves the daemon running (still pinging), applies what can change and names what
#     it ignored; the aggregator reloads its credentials file;
#   - with stderr the journal (JOURNAL_STREAM), every log line starts with its priority;
#   - a start that reads many captures extends its start timeout (EXTEND_TIMEOUT_USEC).
# The aggregator's socket is a path, the agent's an abstract "@name" (scoped to the network
# namespace, so the listener runs in the agent's).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_tools curl jq
EC_NOTIFY_LISTEN=${EC_NOTIFY_LISTEN:-$EC_BUILD_DIR/tests/tools/ec_notify_listen}
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_NOTIFY_LISTEN" "$EC_EDGECAPCTL"

# 0.6 s: a ping every 0.3 s, several within the few seconds a test runs.
WATCHDOG_US=600000

# notify_listen NS SOCKET: the stand-in service manager in NS, its datagrams in
# $EC_TMPDIR/notify.out, one line per line of each; sets NOTIFY_PID.
notify_listen() {
	rm -f "$EC_TMPDIR/notify.ready"
	bg_start notify "$1" "$EC_NOTIFY_LISTEN" "$2" "$EC_TMPDIR/notify.ready"
	NOTIFY_PID=$BG_PID
	wait_for_file "$EC_TMPDIR/notify.ready" ||
		fail "notification socket never bound: $(cat "$EC_TMPDIR/notify.err")"
}

# count LINE: how many times LINE came as a whole line.
count() {
	grep -cx -- "$1" "$EC_TMPDIR/notify.out" || true
}

# wait_count LINE N WHAT: until LINE came at least N times.
wait_count() {
	wait_until 15 _at_least "$1" "$2" || fail "$3: '$1' came $(count "$1") times, want >= $2"
}

_at_least() {
	[ "$(count "$1")" -ge "$2" ]
}

# check_stopping PID NAME: SIGTERM, STOPPING=1, exit 0.
check_stopping() {
	local rc=0
	kill -TERM "$1"
	wait_count STOPPING=1 1 "$2 on SIGTERM"
	bg_stop "$1" || rc=$?
	[ "$rc" = 0 ] || fail "$2 exited $rc after SIGTERM: $(cat "$EC_TMPDIR/$2.err")"
}

test_aggregator_ready_watchdog_stopping() {
	local pings
	notify_listen - "$EC_TMPDIR/notify.sock"
	export NOTIFY_SOCKET=$EC_TMPDIR/notify.sock WATCHDOG_USEC=$WATCHDOG_US
	unset WATCHDOG_PID
	agg_start agg --no-agents
	wait_count READY=1 1 "aggregator serving"
	grep -qx STATUS=serving "$EC_TMPDIR/notify.out" || fail "no STATUS with READY=1"
	wait_count WATCHDOG=1 3 "aggregator watchdog"
	# READY only once it serves: the API answers by then.
	curl -sf "$AGG_URL/client/v4/accounts/$EC_API_ACCOUNT/pcaps" \
		-H "Authorization: Bearer $EC_API_KEY" >/dev/null || fail "READY=1 but the API does not answer"
	[ "$(count STOPPING=1)" = 0 ] || fail "STOPPING=1 before any signal"
	pings=$(count WATCHDOG=1)
	check_stopping "$AGG_PID" agg
	# The pings stop with the process.
	[ "$(count READY=1)" = 1 ] || fail "READY=1 sent $(count READY=1) times"
	[ "$(count WATCHDOG=1)" -ge "$pings" ] || fail "ping count went down"
}

# WATCHDOG_PID names a process that is not the daemon (its parent, say, after a fork): the
# watchdog is someone else's, so no pings; READY=1 still goes out.
test_aggregator_watchdog_pid_not_ours() {
	notify_listen - "$EC_TMPDIR/notify.sock"
	export NOTIFY_SOCKET=$EC_TMPDIR/notify.sock WATCHDOG_USEC=$WATCHDOG_US WATCHDOG_PID=$$
	agg_start agg --no-agents
	wait_count READY=1 1 "aggregator serving"
	sleep 1.5 # five intervals of pings, had they been on
	[ "$(count WATCHDOG=1)" = 0 ] || fail "pinged a watchdog of WATCHDOG_PID=$$"
	check_stopping "$AGG_PID" agg
}

# SIGHUP: the credentials file is read again (a new account's requests get in), changed
# start-only settings are named (max-full, and a destination root and an allowed bucket renamed),
# the daemon keeps serving and pinging.
test_aggregator_sighup_reloads() {
	local pings code
	notify_listen - "$EC_TMPDIR/notify.sock"
	export NOTIFY_SOCKET=$EC_TMPDIR/notify.sock WATCHDOG_USEC=$WATCHDOG_US
	unset WATCHDOG_PID
	printf 'no-agents = true\nmax-full = 1\ns3-allow-bucket = alpha\ndestination-root = %s\n' \
		"$EC_TMPDIR/root1" >"$EC_TMPDIR/agg.conf"
	# A bucket needs keys, which nothing here uses: no upload is made.
	AWS_ACCESS_KEY_ID=AKIDNOTUSED AWS_SECRET_ACCESS_KEY=notused \
		agg_start agg --config "$EC_TMPDIR/agg.conf"
	wait_count READY=1 1 "aggregator serving"
	api_secret hupacct
	code=$(curl -s -o /dev/null -w '%{http_code}' \
		"$AGG_URL/client/v4/accounts/hupacct/pcaps" -H "Authorization: Bearer $API_SECRET")
	[ "$code" = 401 ] || fail "a credential added after start works before SIGHUP ($code)"
	# Another bucket and another root, as many as before: a changed name is a change too.
	printf 'no-agents = true\nmax-full = 2\ns3-allow-bucket = beta\ndestination-root = %s\n' \
		"$EC_TMPDIR/root2" >"$EC_TMPDIR/agg.conf"
	kill -HUP "$AGG_PID"
	wait_until 10 grep -q "SIGHUP: reloaded --credentials" "$AGG_LOG" ||
		fail "no reload line: $(cat "$AGG_LOG")"
	grep -qF "SIGHUP: ignored the changed destination-root, max-full, s3-*/gs-* (bucket \
settings): read at start only" "$AGG_LOG" ||
		fail "the changed root, max-full and bucket are not named: $(cat "$AGG_LOG")"
	kill -0 "$AGG_PID" || fail "SIGHUP ended the aggregator: $(cat "$AGG_LOG")"
	code=$(curl -s -o /dev/null -w '%{http_code}' \
		"$AGG_URL/client/v4/accounts/hupacct/pcaps" -H "Authorization: Bearer $API_SECRET")
	[ "$code" = 200 ] || fail "the credential added before SIGHUP is refused ($code)"
	pings=$(count WATCHDOG=1)
	wait_count WATCHDOG=1 $((pings + 2)) "aggregator watchdog after SIGHUP"
	[ "$(count STOPPING=1)" = 0 ] || fail "STOPPING=1 on SIGHUP"
	check_stopping "$AGG_PID" agg
}

# A start that reads many captures (retention keeps up to retention-captures an account, and
# minutes of reading on a cold disk are past systemd's 90 s): every 1,024 captures read,
# EXTEND_TIMEOUT_USEC and a STATUS that says how far, all before READY=1.
test_aggregator_long_load_extends_the_start_timeout() {
	local state=$EC_TMPDIR/many.state id i first
	unset NOTIFY_SOCKET
	agg_start -s "$state" agg --no-agents
	first=$(curl -sf -X POST "$AGG_URL/client/v4/accounts/$EC_API_ACCOUNT/pcaps" \
		-H "Authorization: Bearer $EC_API_KEY" -H 'Content-Type: application/json' \
		--data '{"filter_v1": {}, "time_limit": 1, "packet_limit": 10, "type": "simple",
			"system": "magic-transit"}' | jq -r .result.id)
	[ -n "$first" ] && [ "$first" != null ] || fail "no capture made"
	wait_until 10 grep -q '"status": "success"' "$state/captures/$first/manifest.json" ||
		fail "the capture did not end: $(cat "$state/captures/$first/manifest.json")"
	bg_stop "$AGG_PID"
	# 2,100 more like it, each under its own id.
	for i in $(seq 1 2100); do
		id=$(printf '%032x' "$i")
		mkdir "$state/captures/$id"
		sed "s/$first/$id/g" "$state/captures/$first/manifest.json" \
			>"$state/captures/$id/manifest.json"
	done

	notify_listen - "$EC_TMPDIR/notify.sock"
	export NOTIFY_SOCKET=$EC_TMPDIR/notify.sock
	unset WATCHDOG_USEC WATCHDOG_PID
	agg_start -s "$state" agg --no-agents
	wait_count READY=1 1 "aggregator serving"
	[ "$(count EXTEND_TIMEOUT_USEC=30000000)" = 2 ] ||
		fail "EXTEND_TIMEOUT_USEC came $(count EXTEND_TIMEOUT_USEC=30000000) times, want 2 \
(2,101 captures): $(cat "$EC_TMPDIR/notify.out")"
	grep -n -e '^STATUS=loading the state directory: 2048 captures read$' -e '^READY=1$' \
		"$EC_TMPDIR/notify.out" | head -1 | grep -q 'loading' ||
		fail "no progress before READY=1: $(cat "$EC_TMPDIR/notify.out")"
	expect_eq "$(curl -sf "$AGG_URL/client/v4/accounts/$EC_API_ACCOUNT/pcaps/$(printf '%032x' 2100)" \
		-H "Authorization: Bearer $EC_API_KEY" | jq -r .result.status)" success "a capture loaded"
	check_stopping "$AGG_PID" agg
	unset NOTIFY_SOCKET
}

# The agent on a veth of its own, links to an aggregator that is not there (it dials out and
# retries); the notification socket abstract, in the agent's network namespace.
test_agent_ready_watchdog_sighup_stopping() {
	local sock=@ec-notify-$EC_RUN_ID pings
	require_root
	require_tools ip
	ns_setup notify
	notify_listen "$NS1" "$sock"
	printf 'interface = %s\nhost-id = notify\ncolo = ord01\nsnaplen = 160\n' "$IF1" \
		>"$EC_TMPDIR/agent.conf"
	NOTIFY_SOCKET=$sock WATCHDOG_USEC=$WATCHDOG_US bg_start agent "$NS1" "$EC_AGENT" \
		--config "$EC_TMPDIR/agent.conf" --local-socket "$EC_TMPDIR/agent.sock" \
		--control "ipc://$EC_TMPDIR/control.sock" --data "ipc://$EC_TMPDIR/data.sock"
	AGENT=$BG_PID
	wait_count READY=1 1 "agent serving"
	# READY only once it serves: the local socket answers by then.
	"$EC_EDGECAPCTL" status --json --socket "$EC_TMPDIR/agent.sock" >"$EC_TMPDIR/status.json" ||
		fail "READY=1 but the local socket does not answer"
	wait_count WATCHDOG=1 3 "agent watchdog"

	# SIGHUP: snaplen (what new simple captures take) applies; colo is start-only and named.
	printf 'interface = %s\nhost-id = notify\ncolo = sjc01\nsnaplen = 96\n' "$IF1" \
		>"$EC_TMPDIR/agent.conf"
	kill -HUP "$AGENT"
	wait_until 10 grep -q "SIGHUP: snaplen 160 -> 96" "$EC_TMPDIR/agent.err" ||
		fail "snaplen not reloaded: $(cat "$EC_TMPDIR/agent.err")"
	grep -q "SIGHUP: ignored the changed colo: read at start only" "$EC_TMPDIR/agent.err" ||
		fail "the changed colo is not named: $(cat "$EC_TMPDIR/agent.err")"
	# A file that no longer parses changes nothing and stops nothing.
	printf 'snaplen = lots\n' >>"$EC_TMPDIR/agent.conf"
	kill -HUP "$AGENT"
	wait_until 10 grep -q "SIGHUP: keeping every setting as it was" "$EC_TMPDIR/agent.err" ||
		fail "a bad file on SIGHUP is not reported: $(cat "$EC_TMPDIR/agent.err")"
	kill -0 "$AGENT" || fail "SIGHUP ended the agent: $(cat "$EC_TMPDIR/agent.err")"
	"$EC_EDGECAPCTL" status --json --socket "$EC_TMPDIR/agent.sock" >"$EC_TMPDIR/status.json" ||
		fail "the agent stopped answering after SIGHUP"
	jq -e '.host_id == "notify"' "$EC_TMPDIR/status.json" >/dev/null ||
		fail "status after SIGHUP: $(cat "$EC_TMPDIR/status.json")"
	pings=$(count WATCHDOG=1)
	wait_count WATCHDOG=1 $((pings + 2)) "agent watchdog after SIGHUP"
	[ "$(count STOPPING=1)" = 0 ] || fail "STOPPING=1 on SIGHUP"
	check_stopping "$AGENT" agent
}

# Under systemd stderr is the journal: JOURNAL_STREAM names its device and inode. Each line then
# starts with its priority, so that `journalctl -p err` finds the errors; a line about an account
# carries account=.
test_aggregator_journal_priorities() {
	local log=$EC_TMPDIR/agg.err code
	: >"$log"
	JOURNAL_STREAM=$(stat -c '%d:%i' "$log")
	export JOURNAL_STREAM
	agg_start agg --no-agents
	grep -q '^<6>listening on http://' "$log" || fail "no <6> on the info line: $(cat "$log")"
	api_secret other
	code=$(curl -s -o /dev/null -w '%{http_code}' \
		"$AGG_URL/client/v4/accounts/$EC_API_ACCOUNT/pcaps" -H "Authorization: Bearer nope")
	[ "$code" = 401 ] || fail "a bad token got $code"
	wait_until 5 grep -q '^<4>GET .*: 401: ' "$log" || fail "no <4> on the 401 line: $(cat "$log")"
	# An unreadable credentials file on SIGHUP is an error.
	chmod 0644 "$EC_CRED_FILE"
	kill -HUP "$AGG_PID"
	wait_until 5 grep -q '^<3>SIGHUP: keeping the credentials loaded before' "$log" ||
		fail "no <3> on the error line: $(cat "$log")"
	chmod 0600 "$EC_CRED_FILE"
	# Nothing without a prefix, nothing with the plain format's program name.
	if grep -v '^<[3467]>' "$log" | grep -q .; then
		fail "lines without a priority: $(grep -v '^<[3467]>' "$log")"
	fi
	bg_stop "$AGG_PID" || fail "the aggregator failed to stop"
	grep -q '^<6>Terminated: shutting down' "$log" || fail "no shutdown line: $(cat "$log")"
	unset JOURNAL_STREAM
}

run_test test_aggregator_ready_watchdog_stopping
run_test test_aggregator_watchdog_pid_not_ours
run_test test_aggregator_sighup_reloads
run_test test_aggregator_long_load_extends_the_start_timeout
run_test test_agent_ready_watchdog_sighup_stopping
run_test test_aggregator_journal_priorities
summary
