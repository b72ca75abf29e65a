#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_auth.sh: the API's credentials (docs/design.md, "Security: who may do what") against the
# real edgecap-aggregator on 127.0.0.1, with curl and edgecapctl. One attempt per hole, each of
# which must fail cleanly: the right status and envelope, a log line that says why, and nothing
# written (no capture made). No credential, a wrong key, an X-Auth-Email with another line's
# key: 401. Another account's token on this account's path: 403. Another account's capture id:
# 404. The rate rules count per account and a 429 names no other account's capture. A file
# that others may read is refused at start. SIGHUP rotates a key without a restart.
#
# Needs no privileges and no agents (--no-agents). Credentials come from lib.sh's api_secret,
# which makes them with `edgecapctl credential`.

# jq programs are in single quotes.
# shellcheck disable=SC2016
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_tools curl jq timeout
require_bin "$EC_AGGREGATOR" "$EC_EDGECAPCTL"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
unset EDGECAP_AGGREGATOR EDGECAP_ACCOUNT EDGECAP_AUTH_EMAIL EDGECAP_AUTH_KEY EDGECAP_API_TOKEN

T=$EC_TMPDIR
# Two accounts; agg_start's credential is A's.
A=acct-a
B=acct-b
EC_API_ACCOUNT=$A
EC_API_EMAIL=a@example.com
SIMPLE='{"filter_v1": {}, "time_limit": 300, "packet_limit": 10, "type": "simple", "system": "magic-transit"}'
FULL='{"filter_v1": {}, "time_limit": 300, "type": "full", "system": "magic-transit", "colo_name": "ORD", "destination_conf": "pcaps"}'

# keys: the secrets of A and B (and B's email), made before any aggregator reads the file.
keys() {
	api_secret "$B" b@example.com
	KEY_B=$API_SECRET
	api_secret "$A" "$EC_API_EMAIL"
	KEY_A=$API_SECRET
}

# start [FLAGS...]: an aggregator of this test's own, no agents, with both accounts' keys.
start() {
	keys
	agg_start -s "$T/$1.state" "$1" --no-agents "${@:2}"
}

# http METHOD ACCOUNT PATH [curl args]: a request under ACCOUNT's pcaps; the reply's status in
# $T/status and STATUS, its body in $T/body.
http() {
	local method=$1 account=$2 path=$3
	shift 3
	command curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' -X "$method" \
		"$AGG_URL/client/v4/accounts/$account/pcaps$path" \
		-H 'Content-Type: application/json' "$@" >"$T/status" 2>"$T/curl.err" ||
		fail "curl: $(cat "$T/curl.err")"
	STATUS=$(cat "$T/status")
}

bearer() { echo "Authorization: Bearer $1"; }

# expect_auth_error STATUS: STATUS with the design's envelope and nothing else in it.
expect_auth_error() {
	[ "$STATUS" = "$1" ] || fail "HTTP $STATUS, want $1: $(cat "$T/body")"
	jq -e '.success == false and .result == null and .messages == [] and
		.errors == [{"code": 10000, "message": "Authentication error"}]' "$T/body" \
		>/dev/null || fail "want the Authentication error envelope, got: $(cat "$T/body")"
}

# expect_log TEXT: the aggregator's log has TEXT (fixed string).
expect_log() {
	wait_until 5 grep -qF -- "$1" "$AGG_LOG" || fail "log lacks \"$1\": $(cat "$AGG_LOG")"
}

# nothing_written NAME: no capture in aggregator NAME's state, and none in A's or B's list.
nothing_written() {
	local n
	n=$(find "$T/$1.state/captures" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	[ "$n" = 0 ] || fail "$n captures written: $(ls "$T/$1.state/captures")"
	http GET "$A" "" -H "$(bearer "$KEY_A")"
	jq -e '.result == []' "$T/body" >/dev/null || fail "A's list: $(cat "$T/body")"
	http GET "$B" "" -H "$(bearer "$KEY_B")"
	jq -e '.result == []' "$T/body" >/dev/null || fail "B's list: $(cat "$T/body")"
}

test_no_credential_is_401() {
	start nocred
	http POST "$A" "" --data "$SIMPLE"
	expect_auth_error 401
	grep -qi '^WWW-Authenticate' <(command curl -sS -D - -o /dev/null \
		"$AGG_URL/client/v4/accounts/$A/pcaps") || fail "401 without WWW-Authenticate"
	expect_log "POST /client/v4/accounts/$A/pcaps from 127.0.0.1:"
	expect_log "401: no credential"
	nothing_written nocred
}

test_wrong_key_is_401() {
	start wrong
	http POST "$A" "" --data "$SIMPLE" -H "$(bearer "${KEY_A}x")"
	expect_auth_error 401
	expect_log "401: the Bearer token matches no credential"
	http POST "$A" "" --data "$SIMPLE" -H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: wrong"
	expect_auth_error 401
	expect_log "401: X-Auth-Key matches no credential of X-Auth-Email \"$EC_API_EMAIL\""
	http POST "$A" "" --data "$SIMPLE" -H "Authorization: Basic $(echo -n "a:$KEY_A" | base64 -w0)"
	expect_auth_error 401
	expect_log 'the Authorization header is not "Bearer SECRET"'
	nothing_written wrong
}

test_email_with_another_lines_key_is_401() {
	start crossline
	# B's key is good, but not on the line of A's email.
	http POST "$A" "" --data "$SIMPLE" -H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $KEY_B"
	expect_auth_error 401
	http POST "$B" "" --data "$SIMPLE" -H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $KEY_B"
	expect_auth_error 401
	expect_log "X-Auth-Key matches no credential of X-Auth-Email"
	nothing_written crossline
	# On its own line's email it is B's credential.
	http GET "$B" "" -H "X-Auth-Email: b@example.com" -H "X-Auth-Key: $KEY_B"
	[ "$STATUS" = 200 ] || fail "B's email and key: HTTP $STATUS: $(cat "$T/body")"
}

test_another_accounts_token_is_403() {
	start forbidden
	http POST "$A" "" --data "$SIMPLE" -H "$(bearer "$KEY_B")"
	expect_auth_error 403
	expect_log "403: a credential of account $B on account $A's path"
	http GET "$A" "" -H "$(bearer "$KEY_B")"
	expect_auth_error 403
	nothing_written forbidden
}

test_another_accounts_capture_is_404() {
	local id what
	start foreign
	http POST "$A" "" --data "$SIMPLE" -H "$(bearer "$KEY_A")"
	[ "$STATUS" = 200 ] || fail "A's capture: HTTP $STATUS: $(cat "$T/body")"
	id=$(jq -r .result.id "$T/body")
	for what in "GET /$id" "GET /$id/download" "PUT /$id/stop"; do
		http "${what% *}" "$B" "${what#* }" -H "$(bearer "$KEY_B")"
		[ "$STATUS" = 404 ] || fail "B: $what: HTTP $STATUS, want 404: $(cat "$T/body")"
		jq -e --arg id "$id" '.errors[0].code == 1007 and
			.errors[0].message == "no capture \($id) in account acct-b"' "$T/body" \
			>/dev/null || fail "B: $what: $(cat "$T/body")"
		grep -qF "$A" "$T/body" && fail "B: $what: the reply names account $A: $(cat "$T/body")"
	done
	expect_log "404: capture $id is account $A's, not $B's"
	# B's stop changed nothing: A's capture runs on, with no stop requested.
	http GET "$A" "/$id" -H "$(bearer "$KEY_A")"
	jq -e '.result.status == "running"' "$T/body" >/dev/null || fail "A's: $(cat "$T/body")"
	jq -e '.stop_requested == null' "$T/foreign.state/captures/$id/manifest.json" >/dev/null ||
		fail "B's stop reached A's capture: $(cat "$T/foreign.state/captures/$id/manifest.json")"
	# B's list does not show it.
	http GET "$B" "" -H "$(bearer "$KEY_B")"
	jq -e '.result == []' "$T/body" >/dev/null || fail "B's list: $(cat "$T/body")"
}

test_rate_rules_count_per_account() {
	local a1 b1 a2 b2
	start rate --simple-interval 60 --max-full 1
	http POST "$A" "" --data "$SIMPLE" -H "$(bearer "$KEY_A")"
	[ "$STATUS" = 200 ] || fail "A's simple: HTTP $STATUS: $(cat "$T/body")"
	a1=$(jq -r .result.id "$T/body")
	# A's capture a moment ago does not hold up B's.
	http POST "$B" "" --data "$SIMPLE" -H "$(bearer "$KEY_B")"
	[ "$STATUS" = 200 ] || fail "B's simple after A's: HTTP $STATUS: $(cat "$T/body")"
	b1=$(jq -r .result.id "$T/body")
	# A's second is refused, naming A's own capture and not B's.
	http POST "$A" "" --data "$SIMPLE" -H "$(bearer "$KEY_A")"
	[ "$STATUS" = 429 ] || fail "A's second simple: HTTP $STATUS: $(cat "$T/body")"
	grep -qF "$a1" "$T/body" || fail "A's 429 does not name A's capture: $(cat "$T/body")"
	grep -qF "$b1" "$T/body" && fail "A's 429 names B's capture: $(cat "$T/body")"
	# The full rule likewise.
	http POST "$B" "" --data "$FULL" -H "$(bearer "$KEY_B")"
	[ "$STATUS" = 200 ] || fail "B's full: HTTP $STATUS: $(cat "$T/body")"
	b2=$(jq -r .result.id "$T/body")
	http POST "$A" "" --data "$FULL" -H "$(bearer "$KEY_A")"
	[ "$STATUS" = 200 ] || fail "A's full while B's runs: HTTP $STATUS: $(cat "$T/body")"
	a2=$(jq -r .result.id "$T/body")
	http POST "$A" "" --data "$FULL" -H "$(bearer "$KEY_A")"
	[ "$STATUS" = 429 ] || fail "A's second full: HTTP $STATUS: $(cat "$T/body")"
	grep -qF "$a2" "$T/body" || fail "A's 429 does not name A's full capture: $(cat "$T/body")"
	grep -qF "$b2" "$T/body" && fail "A's 429 names B's capture: $(cat "$T/body")"
	[ "$(find "$T/rate.state/captures" -mindepth 1 -maxdepth 1 | wc -l)" = 4 ] ||
		fail "a refused capture was written: $(ls "$T/rate.state/captures")"
}

test_start_needs_a_safe_credentials_file() {
	local rc f=$T/unsafe-credentials
	keys
	cp "$EC_CRED_FILE" "$f"
	chmod 0644 "$f"
	rc=0
	timeout 5 "$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/unsafe.state" --no-agents \
		--credentials "$f" >"$T/unsafe.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "mode 0644: exit $rc, want 2: $(cat "$T/unsafe.out")"
	grep -qF -- "--credentials $f: mode 0644 lets others read it" "$T/unsafe.out" ||
		fail "message: $(cat "$T/unsafe.out")"
	chmod 0660 "$f"
	rc=0
	timeout 5 "$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/unsafe.state" --no-agents \
		--credentials "$f" >"$T/unsafe.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "mode 0660: exit $rc, want 2"
	grep -qF "mode 0660 lets its group write it" "$T/unsafe.out" ||
		fail "message: $(cat "$T/unsafe.out")"
	[ ! -e "$T/unsafe.state" ] || fail "a refused start made its state directory"
	# The config file's `credentials` key is checked the same way.
	printf 'credentials = %s\nno-agents = true\n' "$f" >"$T/unsafe.conf"
	rc=0
	timeout 5 "$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/unsafe.state" \
		--config "$T/unsafe.conf" >"$T/unsafe.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "config file, mode 0660: exit $rc, want 2"
	grep -qF -- "--credentials $f: mode 0660" "$T/unsafe.out" ||
		fail "message: $(cat "$T/unsafe.out")"

	# Without --credentials there is no start either, and the error says how to make one.
	rc=0
	timeout 5 "$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/unsafe.state" --no-agents \
		>"$T/none.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "no --credentials: exit $rc, want 2"
	grep -qF "no --credentials FILE" "$T/none.out" || fail "message: $(cat "$T/none.out")"
	grep -qF "edgecapctl credential ACCOUNT_ID" "$T/none.out" ||
		fail "message does not say how to make one: $(cat "$T/none.out")"
}

test_sighup_rotates_a_key() {
	local f=$T/rotating old new pid out
	out=$("$EC_EDGECAPCTL" credential "$A" 2>/dev/null) || fail "edgecapctl credential"
	old=$(sed -n 1p <<<"$out")
	(umask 077 && sed -n 2p <<<"$out" >"$f")
	agg_start -s "$T/rot.state" rot --no-agents --credentials "$f"
	pid=$AGG_PID
	http GET "$A" "" -H "$(bearer "$old")"
	[ "$STATUS" = 200 ] || fail "the first key: HTTP $STATUS"

	# Rotate: a new credential replaces the old line, then SIGHUP.
	out=$("$EC_EDGECAPCTL" credential "$A" 2>/dev/null) || fail "edgecapctl credential"
	new=$(sed -n 1p <<<"$out")
	(umask 077 && sed -n 2p <<<"$out" >"$f.new") && mv "$f.new" "$f"
	kill -HUP "$pid"
	expect_log "SIGHUP: reloaded --credentials $f: 1 credential"
	http GET "$A" "" -H "$(bearer "$old")"
	expect_auth_error 401
	http GET "$A" "" -H "$(bearer "$new")"
	[ "$STATUS" = 200 ] || fail "the new key: HTTP $STATUS: $(cat "$T/body")"
	kill -0 "$pid" || fail "the aggregator is gone"
	[ "$(grep -c "listening on" "$AGG_LOG")" = 1 ] || fail "the aggregator restarted"

	# A bad file keeps the credentials it had, and the log says why.
	echo "$A not-a-hash" >"$f"
	kill -HUP "$pid"
	expect_log "SIGHUP: keeping the credentials loaded before: cannot reload --credentials $f:1: SHA256_HEX"
	http GET "$A" "" -H "$(bearer "$new")"
	[ "$STATUS" = 200 ] || fail "the kept key: HTTP $STATUS"
}

test_edgecapctl_sends_the_token_and_explains_refusals() {
	local rc
	start ctl
	# agg_start exported A's token: edgecapctl is let in.
	"$EC_EDGECAPCTL" list --aggregator "$AGG_URL" --account "$A" >"$T/ctl.out" 2>&1 ||
		fail "list with EDGECAP_API_TOKEN: $(cat "$T/ctl.out")"
	rc=0
	EDGECAP_API_TOKEN='' "$EC_EDGECAPCTL" list --aggregator "$AGG_URL" --account "$A" \
		>"$T/ctl.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "no credential: exit $rc, want 1"
	grep -qF "Authentication error (HTTP 401" "$T/ctl.out" || fail "$(cat "$T/ctl.out")"
	grep -qF 'set $EDGECAP_API_TOKEN' "$T/ctl.out" || fail "no hint: $(cat "$T/ctl.out")"
	rc=0
	"$EC_EDGECAPCTL" list --aggregator "$AGG_URL" --account "$B" >"$T/ctl.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "another account: exit $rc, want 1"
	grep -qF "HTTP 403" "$T/ctl.out" || fail "$(cat "$T/ctl.out")"
	grep -qF "is not account $B's" "$T/ctl.out" || fail "no hint: $(cat "$T/ctl.out")"
	# X-Auth-Email and X-Auth-Key from the environment.
	EDGECAP_API_TOKEN='' EDGECAP_AUTH_EMAIL=b@example.com EDGECAP_AUTH_KEY=$KEY_B \
		"$EC_EDGECAPCTL" list --aggregator "$AGG_URL" --account "$B" >"$T/ctl.out" 2>&1 ||
		fail "list with EDGECAP_AUTH_EMAIL/KEY: $(cat "$T/ctl.out")"
}

for t in test_no_credential_is_401 test_wrong_key_is_401 test_email_with_another_lines_key_is_401 \
	test_another_accounts_token_is_403 test_another_accounts_capture_is_404 \
	test_rate_rules_count_per_account test_start_needs_a_safe_credentials_file \
	test_sighup_rotates_a_key test_edgecapctl_sends_the_token_and_explains_refusals; do
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$t" ] || continue
	run_test "$t"
done
summary
