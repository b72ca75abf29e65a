#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_api.sh: the real edgecap-aggregator's HTTP API on 127.0.0.1, driven with the seeds' own
# curl commands (as published, with only https://api.cloudflare.com changed to this server and
# the placeholder X-Auth-Email and X-Auth-Key headers carrying the run's credential) and
# with curl and jq for every error path: status codes, the envelope, error codes and messages,
# the two rate rules, list, get, stop, download, and a restart that keeps finished captures.
#
# Needs no privileges and no agents: the aggregator runs with --no-agents (a capture runs for
# its time_limit, or until stopped, and ends with an empty pcap) except where a test checks
# what happens without that flag. Each test is a test_* function run by lib.sh's run_test in its
# own subshell; the aggregators it starts (agg_start) are stopped when it ends, however it ends,
# and the EXIT trap removes the scratch directory (kept with EC_KEEP=1). Every wait is bounded.
# Prints "N passed, N failed" last (lib.sh's summary).

# jq programs are in single quotes; the seeds' commands are as published, unquoted ${AGG_URL} too.
# shellcheck disable=SC2016,SC2086

# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_tools curl jq od timeout
require_bin "$EC_AGGREGATOR"

# The scratch directory: the last reply's status, headers and body, and each aggregator's files.
T=$EC_TMPDIR

# ---- the aggregator -------------------------------------------------------------------------

# stop_agg [SIGNAL]: stops the last started aggregator and checks it exits 0.
stop_agg() {
	local rc=0
	bg_stop "$AGG_PID" "${1:-TERM}" || rc=$?
	[ "$rc" = 0 ] || fail "aggregator exited with $rc on SIG${1:-TERM}, want 0"
}

# ---- HTTP -----------------------------------------------------------------------------------

# The seeds' commands call `curl`: this wrapper keeps their text as published and records the
# reply: $T/status (HTTP status), $T/headers, and $T/body (unless the command has --output). A
# request without a credential header of its own carries agg_start's, as a Bearer token.
curl() {
	local out=(-o "$T/body") auth=(-H "Authorization: Bearer ${EDGECAP_API_TOKEN:-}") a
	for a in "$@"; do
		[ "$a" = --output ] && out=()
		case $a in
		X-Auth-* | Authorization:*) auth=() ;;
		esac
	done
	[ -z "${SEED_CA:-}" ] || out+=(--cacert "$SEED_CA")
	: >"$T/body"
	command curl -sS --max-time 10 -D "$T/headers" -w '%{http_code}' "${out[@]}" "${auth[@]}" "$@" \
		>"$T/status" 2>"$T/curl.err" || fail "curl $*: $(cat "$T/curl.err")"
}

# req METHOD PATH [curl args]: a request to the API under /client/v4/accounts/$account_id.
req() {
	local method=$1 path=$2
	shift 2
	curl -X "$method" "$AGG_URL/client/v4/accounts/$account_id$path" "$@"
}

# post JSON: creates a capture with this body.
post() {
	req POST /pcaps -H 'Content-Type: application/json' --data "$1"
}

status_is() {
	local got
	got=$(cat "$T/status")
	[ "$got" = "$1" ] || fail "HTTP status $got, want $1; body: $(cat "$T/body")"
}

header() {
	tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | tail -1
}

# jq_true [--arg NAME VALUE]... FILTER [WHAT]: the body satisfies FILTER.
jq_true() {
	local args=()
	while [ "${1:-}" = --arg ]; do
		args+=("$1" "$2" "$3")
		shift 3
	done
	jq -e "${args[@]}" "$1" "$T/body" >/dev/null 2>&1 || fail "${2:-$1}: body: $(cat "$T/body")"
}

# expect_ok: 200 and a successful envelope with nothing else in it (a list: and result_info).
expect_ok() {
	status_is 200
	[ "$(header Content-Type)" = application/json ] || fail "Content-Type $(header Content-Type)"
	jq_true '(keys - ["result_info"] | sort) == ["errors", "messages", "result", "success"]' \
		"envelope members"
	jq_true '.success == true and .errors == [] and .result != null' "successful envelope"
}

# expect_error STATUS CODE TEXT: the error envelope, its one error's code, TEXT in the message.
expect_error() {
	status_is "$1"
	[ "$(header Content-Type)" = application/json ] || fail "Content-Type $(header Content-Type)"
	jq_true '(keys | sort) == ["errors", "messages", "result", "success"]' "envelope members"
	jq_true '.success == false and .result == null and .messages == []' "error envelope"
	jq_true "(.errors | length) == 1 and .errors[0].code == $2" "error code $2"
	jq_true --arg t "$3" '.errors[0].message | contains($t)' "message containing \"$3\""
}


# ---- helpers on captures --------------------------------------------------------------------

ID_RE='^[0-9a-f]{32}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
SIMPLE_1S='{"filter_v1": {}, "time_limit": 1, "packet_limit": 10, "type": "simple", "system": "magic-transit"}'
SIMPLE_300S='{"filter_v1": {}, "time_limit": 300, "packet_limit": 10, "type": "simple", "system": "magic-transit"}'
FULL_300S='{"filter_v1": {}, "time_limit": 300, "type": "full", "system": "magic-transit", "colo_name": "ORD", "destination_conf": "pcaps"}'

# wait_status ID STATUS: polls GET until the capture has STATUS (at most 10 s).
wait_status() {
	local got=
	for _ in $(seq 1 100); do
		req GET "/pcaps/$1"
		got=$(jq -r .result.status "$T/body")
		[ "$got" = "$2" ] && return 0
		sleep 0.1
	done
	fail "capture $1: status $got after 10 s, want $2"
}

account_id=023e105f4ecef8ad9ca31a8372d0c353
# agg_start's credential is this account's.
EC_API_ACCOUNT=$account_id

# ---- tests ----------------------------------------------------------------------------------

test_seed_simple_request_creates_a_pending_capture() {
	agg_start seed --no-agents
	# The seeds' example request, as published but for the host.
	curl -X POST ${AGG_URL}/client/v4/accounts/${account_id}/pcaps \
	-H 'Content-Type: application/json' \
	-H "X-Auth-Email: $EC_API_EMAIL" \
	-H "X-Auth-Key: $EC_API_KEY" \
	--data '{
	        "filter_v1": {
	               "source_address": "1.2.3.4",
	               "source_port": 123,
	               "destination_address": "5.6.7.8",
	               "destination_port": 80,
	               "protocol": 6
	        },
	        "time_limit": 300,
	        "packet_limit": 10000,
	        "type": "simple",
	        "system": "magic-transit"
	}'
	expect_ok
	jq_true '.messages == []' "no messages"
	jq_true --arg re "$ID_RE" '.result.id | test($re)' "id of 32 hex characters"
	jq_true --arg re "$TIME_RE" '.result.submitted | test($re)' "submitted: RFC 3339, microseconds"
	jq_true '.result.filter_v1 == {"source_address": "1.2.3.4", "source_port": 123, "destination_address": "5.6.7.8", "destination_port": 80, "protocol": 6}' "filter_v1 as sent"
	jq_true '.result.time_limit == 300 and .result.type == "simple" and .result.system == "magic-transit" and .result.packet_limit == 10000' "request members"
	jq_true '.result.status == "pending" or .result.status == "running"' "status pending"
	jq_true '.result.packets_remaining == 10000' "packets_remaining"
	# The seeds' member order: id, submitted, filter_v1, time_limit, status, packets_remaining,
	# type, system; then the request's other members.
	jq_true '(.result | keys_unsorted) == ["id", "submitted", "filter_v1", "time_limit", "status", "packets_remaining", "type", "system", "packet_limit"]' "members and their order"
}

# seed_agg NAME [FLAGS...]: agg_start, over HTTPS when SEED_HTTPS=1: with a CA and a certificate
# for 127.0.0.1 made for the test, which curl is told to trust (SEED_CA).
seed_agg() {
	local pki=$T/pki
	if [ "${SEED_HTTPS:-0}" = 1 ]; then
		tls_make_ca "$pki"
		tls_make_cert "$pki" api "IP:127.0.0.1"
		chmod 0600 "$pki/api.key"
		SEED_CA=$pki/ca.pem
		set -- "$@" --http-tls-cert "$pki/api.pem" --http-tls-key "$pki/api.key"
	fi
	agg_start "$@"
}

test_seed_status_list_stop_download() {
	local pcap_id name=seed2
	[ "${SEED_HTTPS:-0}" = 0 ] || name=seed2https
	seed_agg "$name" --no-agents --grace 0
	post "$SIMPLE_300S"
	expect_ok
	pcap_id=$(jq -r .result.id "$T/body")

	# Check PCAP status, as published.
	curl -X GET ${AGG_URL}/client/v4/accounts/${account_id}/pcaps/${pcap_id} \
	-H 'Content-Type: application/json' \
	-H "X-Auth-Email: $EC_API_EMAIL" \
	-H "X-Auth-Key: $EC_API_KEY"
	expect_ok
	jq_true --arg id "$pcap_id" '.result.id == $id and .result.status == "running"' "status of $pcap_id"

	# Download before success: 409, and nothing written.
	(cd "$T" && rm -f download.pcap &&
		curl -X GET ${AGG_URL}/client/v4/accounts/${account_id}/pcaps/${pcap_id}/download \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" \
		--output download.pcap) || fail "download before success"
	cp "$T/download.pcap" "$T/body"
	expect_error 409 1010 "is not ready to download: its status is running"

	# List PCAPs, as published.
	curl -X GET ${AGG_URL}/client/v4/accounts/${account_id}/pcaps \
	-H 'Content-Type: application/json' \
	-H "X-Auth-Email: $EC_API_EMAIL" \
	-H "X-Auth-Key: $EC_API_KEY"
	expect_ok
	jq_true --arg id "$pcap_id" '(.result | length) == 1 and .result[0].id == $id' "list"

	req PUT "/pcaps/$pcap_id/stop" -H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY"
	expect_ok
	jq_true --arg id "$pcap_id" '.result.id == $id and .messages == []' "stop reply"
	wait_status "$pcap_id" success
	jq_true '.result.packets_remaining == 0' "packets_remaining once finished"

	# Download PCAP, as published.
	(cd "$T" && rm -f download.pcap &&
		curl -X GET ${AGG_URL}/client/v4/accounts/${account_id}/pcaps/${pcap_id}/download \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" \
		--output download.pcap) || fail "download"
	status_is 200
	[ "$(header Content-Type)" = application/vnd.tcpdump.pcap ] ||
		fail "download Content-Type $(header Content-Type)"
	header Content-Disposition | grep -q "^attachment; filename=\"$pcap_id.pcap\"$" ||
		fail "Content-Disposition $(header Content-Disposition)"
	[ "$(stat -c %s "$T/download.pcap")" = 24 ] || fail "an empty pcap is 24 bytes"
	# Written 0640 like every pcap of the aggregator (docs/design.md), whatever the umask (077
	# here, as under its unit), in directories of 0750: its group reaches them.
	expect_eq "$(stat -c %a "$EC_TMPDIR/$name.state/captures/$pcap_id/capture.pcap")" 640 \
		"mode of the capture's pcap"
	expect_eq "$(stat -c %a "$EC_TMPDIR/$name.state/captures/$pcap_id" \
		"$EC_TMPDIR/$name.state/captures" | tr '\n' ' ')" "750 750 " \
		"modes of the capture's directory and of captures/"
	# pcap with nanosecond timestamps (a1b23c4d, little-endian here), Ethernet (1).
	[ "$(od -An -tx1 -N4 "$T/download.pcap" | tr -d ' \n')" = 4d3cb2a1 ] ||
		fail "pcap magic: $(od -An -tx1 -N4 "$T/download.pcap")"
	[ "$(od -An -tu4 -j20 -N4 "$T/download.pcap" | tr -d ' \n')" = 1 ] || fail "link type"
	if have_tool tcpdump; then
		tcpdump -r "$T/download.pcap" >/dev/null 2>&1 || fail "tcpdump cannot read the download"
	fi
}

test_seed_full_request_and_the_full_rule() {
	local id
	agg_start full --no-agents --grace 0
	# The seeds' full example, as published; ${BUCKET} is inside single quotes, so it is sent
	# as it stands and taken as a relative directory under the state directory.
	curl ${AGG_URL}/client/v4/accounts/${account_id}/pcaps \
	--header "X-Auth-Email: $EC_API_EMAIL" \
	--header "X-Auth-Key: $EC_API_KEY" \
	--header "Content-Type: application/json" \
	--data '{ "filter_v1": {}, "time_limit": 300, "packet_limit": 10000, "byte_limit": 100000000, "type": "full", "colo": "ORD", "system": "magic-transit", "destination_conf": "${BUCKET}" }'
	expect_ok
	id=$(jq -r .result.id "$T/body")
	jq_true '(.result | keys_unsorted) == ["id", "submitted", "filter_v1", "time_limit", "status", "type", "system", "packet_limit", "byte_limit", "colo", "destination_conf", "packets_captured"]' "the seeds' full result members, in order, then packets_captured"
	jq_true '.result.colo == "ORD" and .result.destination_conf == "${BUCKET}" and .result.byte_limit == 100000000' "full members"

	# A second one while the first is pending or running.
	curl ${AGG_URL}/client/v4/accounts/${account_id}/pcaps \
	--header "X-Auth-Email: $EC_API_EMAIL" \
	--header "X-Auth-Key: $EC_API_KEY" \
	--header "Content-Type: application/json" \
	--data '{ "filter_v1": {}, "time_limit": 300, "packet_limit": 10000, "byte_limit": 100000000, "type": "full", "colo": "ORD", "system": "magic-transit", "destination_conf": "${BUCKET}" }'
	expect_error 429 1006 "a full capture ($id) is already pending or running"

	# A simple capture is not held up by it.
	post "$SIMPLE_300S"
	expect_ok

	# A full capture has no single download.
	req GET "/pcaps/$id/download"
	expect_error 400 1011 "destination_conf"

	# Once it ended, the next full capture is accepted.
	req PUT "/pcaps/$id/stop"
	expect_ok
	jq_true '.result.stop_requested | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]{6}Z$")' \
		"stop_requested, RFC 3339"
	wait_status "$id" complete
	req GET "/pcaps/$id"
	jq_true '.result.packets_captured == 0 and (.result.stop_requested | type) == "string"' \
		"a full capture's packets_captured and stop_requested"
	post "$FULL_300S"
	expect_ok
}

test_full_rule_is_configurable() {
	agg_start full2 --no-agents --max-full 2
	post "$FULL_300S"
	expect_ok
	post "$FULL_300S"
	expect_ok
	post "$FULL_300S"
	expect_error 429 1006 "at most 2 may be at a time"
	stop_agg
	agg_start full0 --no-agents --max-full 0
	post "$FULL_300S"
	expect_ok
	post "$FULL_300S"
	expect_ok
	post "$FULL_300S"
	expect_ok
}

test_simple_rule_one_per_interval() {
	local first
	agg_start rate --no-agents --simple-interval 2
	post "$SIMPLE_300S"
	expect_ok
	first=$(jq -r .result.id "$T/body")
	post "$SIMPLE_300S"
	expect_error 429 1005 "at most one simple capture every 2 s; the last one ($first)"
	[[ $(header Retry-After) =~ ^[12]$ ]] || fail "Retry-After $(header Retry-After), want 1 or 2"
	# A full capture is not a simple one.
	post "$FULL_300S"
	expect_ok
	# After the interval the next one goes through (within 2 s more at most).
	for _ in $(seq 1 40); do
		post "$SIMPLE_300S"
		[ "$(cat "$T/status")" = 200 ] && break
		status_is 429
		sleep 0.1
	done
	expect_ok
	stop_agg
	agg_start rate0 --no-agents --simple-interval 0
	post "$SIMPLE_300S"
	expect_ok
	post "$SIMPLE_300S"
	expect_ok
}

test_default_interval_is_a_minute() {
	agg_start minute --no-agents
	post "$SIMPLE_300S"
	expect_ok
	post "$SIMPLE_300S"
	expect_error 429 1005 "at most one simple capture every 60 s"
	[[ $(header Retry-After) =~ ^(59|60)$ ]] || fail "Retry-After $(header Retry-After)"
}

test_validation_errors_name_the_field() {
	local body want
	agg_start valid --no-agents --simple-interval 0
	while IFS='|' read -r body want; do
		post "$body"
		expect_error 400 1002 "$want"
	done <<'EOF'
{"filter_v1": {}, "time_limit": 301, "packet_limit": 10, "type": "simple", "system": "magic-transit"}|time_limit: must be an integer from 1 to 300 (got 301)
{"filter_v1": {}, "time_limit": 0, "packet_limit": 10, "type": "simple", "system": "magic-transit"}|time_limit
{"filter_v1": {}, "packet_limit": 10, "type": "simple", "system": "magic-transit"}|time_limit
{"filter_v1": {}, "time_limit": 10, "type": "simple", "system": "magic-transit"}|packet_limit
{"filter_v1": {}, "time_limit": 10, "packet_limit": 10001, "type": "simple", "system": "magic-transit"}|packet_limit
{"filter_v1": {}, "time_limit": 10, "packet_limit": 10, "type": "sampled", "system": "magic-transit"}|type
{"filter_v1": {}, "time_limit": 10, "packet_limit": 10, "type": "simple", "system": "spectrum"}|system
{"filter_v1": {}, "time_limit": 10, "packet_limit": 10, "type": "simple"}|system
{"filter_v1": {"source_port": 70000}, "time_limit": 10, "packet_limit": 10, "type": "simple", "system": "magic-transit"}|source_port
{"filter_v1": {"source_address": "1.2.3"}, "time_limit": 10, "packet_limit": 10, "type": "simple", "system": "magic-transit"}|source_address
{"filter_v1": {"protocol": "tcp"}, "time_limit": 10, "packet_limit": 10, "type": "simple", "system": "magic-transit"}|protocol
{"filter_v1": {}, "time_limit": 10, "packet_limit": 10, "type": "simple", "system": "magic-transit", "bogus": 1}|unknown field "bogus"
{"filter_v1": {}, "time_limit": 10, "packet_limit": 10, "byte_limit": 100, "type": "simple", "system": "magic-transit"}|byte_limit: only for full captures
{"filter_v1": {}, "time_limit": 10, "type": "full", "system": "magic-transit", "destination_conf": "pcaps"}|colo_name: required for full captures
{"filter_v1": {}, "time_limit": 10, "type": "full", "system": "magic-transit", "colo": "ORD"}|destination_conf: required for full captures
{"filter_v1": {}, "time_limit": 10, "type": "full", "system": "magic-transit", "colo": "ORD", "destination_conf": "gs://bucket"}|destination_conf: bucket "bucket" is not one this aggregator may write to
[1, 2]|must be a JSON object
EOF
	# Nothing was stored.
	req GET /pcaps
	expect_ok
	jq_true '.result == []' "no capture from a bad request"
}

test_malformed_and_empty_bodies() {
	agg_start malformed --no-agents
	post '{"time_limit": 10,'
	expect_error 400 1001 "malformed JSON in the request body at line 1"
	post 'time_limit=10'
	expect_error 400 1001 "malformed JSON"
	post '{"time_limit": 10, "time_limit": 20}'
	expect_error 400 1001 "duplicate"
	req POST /pcaps
	expect_error 400 1001 "the request body is empty"
}

test_oversized_bodies_get_413() {
	local body pad
	agg_start big --no-agents --max-body 1K
	# Exactly at the cap: accepted (padded with blanks to 1024 bytes).
	body=$SIMPLE_1S
	pad=$(printf '%*s' $((1024 - ${#body})) '')
	post "$body$pad"
	expect_ok
	# One byte over.
	post "$body$pad "
	expect_error 413 1004 "request body too large: the limit is 1024 bytes"
	# Announced and waiting for 100 Continue: refused before the body is sent.
	head -c 100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
	req POST /pcaps -H 'Expect: 100-continue' --data-binary @"$T/big.json"
	expect_error 413 1004 "too large"
	req POST /pcaps -H 'Expect:' --data-binary @"$T/big.json"
	expect_error 413 1004 "too large"
	# Chunked, no length announced.
	req POST /pcaps -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.json"
	expect_error 413 1004 "too large"
	# The server is fine afterwards.
	req GET /pcaps
	expect_ok
}

test_unknown_ids_routes_and_methods() {
	local id other
	api_secret someone-else
	other=$API_SECRET
	agg_start routes --no-agents
	post "$SIMPLE_300S"
	expect_ok
	id=$(jq -r .result.id "$T/body")

	req GET /pcaps/0123456789abcdef0123456789abcdef
	expect_error 404 1007 "no capture 0123456789abcdef0123456789abcdef in account $account_id"
	req GET /pcaps/0123456789abcdef0123456789abcdef/download
	expect_error 404 1007 "no capture"
	req PUT /pcaps/0123456789abcdef0123456789abcdef/stop
	expect_error 404 1007 "no capture"
	req GET /pcaps/not-an-id
	expect_error 404 1007 "capture ids are 32 hexadecimal characters"
	# Another account does not see it.
	curl "$AGG_URL/client/v4/accounts/someone-else/pcaps/$id" -H "Authorization: Bearer $other"
	expect_error 404 1007 "no capture $id in account someone-else"
	curl "$AGG_URL/client/v4/accounts/someone-else/pcaps" -H "Authorization: Bearer $other"
	expect_ok
	jq_true '.result == []' "another account's list"
	# A bad account id.
	curl "$AGG_URL/client/v4/accounts/bad%20account/pcaps"
	expect_error 400 1003 "account_id: must be"

	curl "$AGG_URL/"
	expect_error 404 1008 "no such endpoint"
	curl "$AGG_URL/client/v4/accounts/$account_id/pcap"
	expect_error 404 1008 "no such endpoint"
	req GET "/pcaps/$id/nothing"
	expect_error 404 1008 "the API is under /client/v4/accounts/{account_id}/pcaps"

	req DELETE /pcaps
	expect_error 405 1009 "method DELETE is not allowed"
	[ "$(header Allow)" = "GET, HEAD, POST" ] || fail "Allow: $(header Allow)"
	req POST "/pcaps/$id"
	expect_error 405 1009 "allowed: GET, HEAD"
	req GET "/pcaps/$id/stop"
	expect_error 405 1009 "allowed: PUT"
	[ "$(header Allow)" = PUT ] || fail "Allow: $(header Allow)"
	req PUT "/pcaps/$id/download"
	expect_error 405 1009 "allowed: GET, HEAD"
}

test_list_is_newest_first_and_capped_at_50() {
	local ids=()
	agg_start list --no-agents --simple-interval 0
	for _ in $(seq 1 55); do
		post "$SIMPLE_300S"
		expect_ok
		ids+=("$(jq -r .result.id "$T/body")")
	done
	req GET /pcaps
	expect_ok
	jq_true '(.result | length) == 50' "50 captures"
	jq_true --arg id "${ids[54]}" '.result[0].id == $id' "the newest first"
	jq_true --arg id "${ids[5]}" '.result[49].id == $id' "the 50th newest last"
	jq_true '[.result[].submitted] == ([.result[].submitted] | sort | reverse)' "by submitted, newest first"
	jq_true '[.result[].submitted] | unique | length == 50' "distinct submitted times"
	jq_true '.result_info == {"page": 1, "per_page": 50, "count": 50, "total_count": 55}' \
		"result_info of the first page"
	# Pages: the rest on page 2, nothing on page 3, all on one page of up to 1000.
	req GET "/pcaps?page=2"
	expect_ok
	jq_true --arg a "${ids[4]}" --arg b "${ids[0]}" \
		'[.result[].id] | length == 5 and .[0] == $a and .[4] == $b' "page 2"
	jq_true '.result_info == {"page": 2, "per_page": 50, "count": 5, "total_count": 55}' \
		"result_info of page 2"
	req GET "/pcaps?page=3&per_page=25"
	expect_ok
	jq_true --arg a "${ids[4]}" '.result_info.count == 5 and .result[0].id == $a' \
		"page 3 of 25"
	req GET "/pcaps?page=4&per_page=25"
	expect_ok
	jq_true '.result == [] and .result_info.count == 0' "past the end"
	req GET "/pcaps?per_page=1000"
	expect_ok
	jq_true '(.result | length) == 55' "per_page 1000"
	req GET "/pcaps?per_page=1001"
	expect_error 400 1002 "per_page: must be an integer from 1 to 1000 (got \"1001\")"
	req GET "/pcaps?page=0"
	expect_error 400 1002 "page: must be an integer from 1"
	req GET "/pcaps?page=x"
	expect_error 400 1002 "page: must be an integer"
}

test_stop_twice_and_after_the_end() {
	local id
	agg_start stop --no-agents --grace 0 --simple-interval 0
	post "$SIMPLE_1S"
	expect_ok
	id=$(jq -r .result.id "$T/body")
	wait_status "$id" success
	req GET "/pcaps/$id"
	jq_true '.result.packets_remaining == 0 and (has("error_message") | not)' "a success"
	req PUT "/pcaps/$id/stop"
	expect_ok
	jq_true '.messages[0].code == 2001 and (.messages[0].message | contains("had already finished (success)"))' "stop after the end"
	jq_true '.result.status == "success"' "status unchanged"

	# A stopped capture waits up to the grace for its agents' final reports, still running.
	stop_agg
	agg_start stop2 --no-agents --grace 600 --simple-interval 0
	post "$SIMPLE_300S"
	id=$(jq -r .result.id "$T/body")
	wait_status "$id" running
	req PUT "/pcaps/$id/stop"
	expect_ok
	jq_true '.messages == [] and .result.status == "running"' "first stop"
	jq_true '(.result | has("packets_captured") | not) and (.result.stop_requested | type) == "string"' \
		"a simple capture: stop_requested, no packets_captured"
	req PUT "/pcaps/$id/stop"
	expect_ok
	jq_true '.messages[0].code == 2002 and (.messages[0].message | contains("was already requested at"))' "a repeated stop says so"
	req GET "/pcaps/$id"
	jq_true '.result.status == "running"' "still running within the grace"
}

test_time_limit_ends_a_capture() {
	local id
	agg_start timed --no-agents --grace 0
	post "$SIMPLE_1S"
	expect_ok
	id=$(jq -r .result.id "$T/body")
	wait_status "$id" success
	jq -e '.status == "success" and .stop_reason == "time_limit" and .agents == {} and (.started | type) == "string" and (.finished | type) == "string" and .request.time_limit == 1' \
		"$T/timed.state/captures/$id/manifest.json" >/dev/null ||
		fail "manifest: $(cat "$T/timed.state/captures/$id/manifest.json")"
}

test_without_agents_a_capture_fails() {
	local id
	# Agent endpoints of its own, on mutual TLS as always (free ports: no agent comes).
	require_tools openssl
	tls_make_ca "$T/pki"
	tls_make_cert "$T/pki" aggregator "DNS:127.0.0.1,IP:127.0.0.1"
	# shellcheck disable=SC2046 # tls_flags: flags and paths without blanks
	agg_start noagents --control tls+tcp://127.0.0.1:0 --data tls+tcp://127.0.0.1:0 \
		$(tls_flags "$T/pki" aggregator)
	post "$SIMPLE_300S"
	expect_ok
	id=$(jq -r .result.id "$T/body")
	wait_status "$id" failed
	jq_true '.result.error_message | contains("no agent accepted the capture")' "error_message"
	jq_true '(.result | keys_unsorted | last) == "error_message"' "error_message last"
	req GET "/pcaps/$id/download"
	expect_error 409 1010 "failed (no agent accepted the capture"
}

test_restart_keeps_finished_captures() {
	local done_id run_id before
	agg_start restart --no-agents --grace 0 --simple-interval 0
	post "$SIMPLE_1S"
	expect_ok
	done_id=$(jq -r .result.id "$T/body")
	post "$FULL_300S"
	expect_ok
	run_id=$(jq -r .result.id "$T/body")
	wait_status "$done_id" success
	before=$(jq -c .result "$T/body")
	wait_status "$run_id" running
	stop_agg TERM

	agg_start restart --no-agents --grace 0 --simple-interval 0
	req GET "/pcaps/$done_id"
	expect_ok
	[ "$(jq -c .result "$T/body")" = "$before" ] ||
		fail "after the restart: $(jq -c .result "$T/body"), before: $before"
	req GET "/pcaps/$done_id/download" --output "$T/after.pcap"
	status_is 200
	[ "$(stat -c %s "$T/after.pcap")" = 24 ] || fail "the pcap survives the restart"
	req GET /pcaps
	jq_true --arg a "$run_id" --arg b "$done_id" '[.result[].id] == [$a, $b]' "list after the restart"
	# The running one is resumed (the full rule still holds it).
	req GET "/pcaps/$run_id"
	jq_true '.result.status == "running"' "running capture resumed"
	grep -q "capture $run_id was running when the aggregator stopped: resuming it" \
		"$T/restart.err" || fail "no resume line in the log"
	post "$FULL_300S"
	expect_error 429 1006 "$run_id"
	stop_agg INT
}

test_command_line_and_config_file() {
	local out rc
	out=$("$EC_AGGREGATOR" --help) || fail "--help exits $?"
	grep -q "^Examples:" <<<"$out" || fail "--help shows examples"
	grep -q -- "--simple-interval" <<<"$out" || fail "--help lists --simple-interval"

	check_usage() {
		local want=$1
		shift
		rc=0
		"$EC_AGGREGATOR" "$@" >"$T/usage.out" 2>&1 || rc=$?
		[ "$rc" = 2 ] || fail "$*: exit $rc, want 2: $(cat "$T/usage.out")"
		grep -qF -- "$want" "$T/usage.out" || fail "$*: want \"$want\" in: $(cat "$T/usage.out")"
	}
	check_usage "invalid --simple-interval '1m': must be a number of seconds from 0 to 86400" \
		--simple-interval 1m
	check_usage "invalid --max-full '-1': must be a count from 0 to 1000" --max-full -1
	check_usage "invalid --max-body '12X': must be a size from 1K to 64M" --max-body 12X
	check_usage "invalid --http '127.0.0.1:65536': must be ADDR:PORT" --http 127.0.0.1:65536
	check_usage "invalid --http 'localhost:80': must be ADDR:PORT" --http localhost:80
	check_usage "unknown option '--frobnicate'" --frobnicate
	check_usage "unexpected argument 'extra'" --state-dir "$T/x" extra
	check_usage "cannot read config file $T/missing.conf" --config "$T/missing.conf"
	printf '# a comment\n\nmax-full = 2\nsimple-interval = soon\n' >"$T/bad.conf"
	check_usage "$T/bad.conf:4: invalid simple-interval 'soon': must be a number of seconds" --config "$T/bad.conf"
	printf 'no-agents = maybe\n' >"$T/bad2.conf"
	check_usage "$T/bad2.conf:1: invalid no-agents 'maybe': expected true" --config "$T/bad2.conf"
	printf 'colour = blue\n' >"$T/bad3.conf"
	check_usage "$T/bad3.conf:1: unknown setting 'colour'" --config "$T/bad3.conf"

	# A runtime failure is 1: the state directory cannot be made.
	rc=0
	api_secret "$EC_API_ACCOUNT" "$EC_API_EMAIL"
	timeout 5 "$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir /proc/edgecap-none --no-agents \
		--credentials "$EC_CRED_FILE" >"$T/rt.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "unusable state dir: exit $rc, want 1"
	grep -q "failed to open the state directory /proc/edgecap-none" "$T/rt.out" ||
		fail "message: $(cat "$T/rt.out")"

	# The file's settings apply and flags override them: the file says a 1000 s interval and
	# one full capture; the flag lifts the interval.
	printf '# test\nno-agents = true\nsimple-interval = 1000\nmax-full = 1\ncontrol = tcp://127.0.0.1:1\ndata = tcp://127.0.0.1:2\n' \
		>"$T/good.conf"
	agg_start conf --config "$T/good.conf" --simple-interval 0
	post "$SIMPLE_300S"
	expect_ok
	post "$SIMPLE_300S"
	expect_ok
	wait_status "$(jq -r .result.id "$T/body")" running # no-agents came from the file
	post "$FULL_300S"
	expect_ok
	post "$FULL_300S"
	expect_error 429 1006 "already pending or running"

	# A port in use is a runtime failure that says which.
	rc=0
	timeout 5 "$EC_AGGREGATOR" --http "127.0.0.1:$AGG_PORT" --state-dir "$T/other.state" --no-agents \
		--credentials "$EC_CRED_FILE" >"$T/busy.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "port in use: exit $rc, want 1"
	grep -q "failed to serve the API on 127.0.0.1:$AGG_PORT" "$T/busy.out" ||
		fail "message: $(cat "$T/busy.out")"
}

# full_to DEST: a full capture request whose destination_conf is DEST.
full_to() {
	post "{\"filter_v1\": {}, \"time_limit\": 300, \"type\": \"full\", \"system\": \"magic-transit\", \"colo_name\": \"ORD\", \"destination_conf\": \"$1\"}"
}

# The state directory's capture directories: a refused request leaves none.
capture_dirs() {
	find "$1/captures" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
}

test_destination_conf_stays_beneath_a_root() {
	local state=$T/dest.state root=$T/root1 root2=$T/root2 d
	mkdir -p "$T/outside"
	agg_start -s "$state" dest --no-agents --max-full 0 --destination-root "$root" \
		--destination-root "$root2"
	[ "$(stat -c %a "$root")" = 750 ] || fail "root made with mode $(stat -c %a "$root")"
	# Outside every root: .. (anywhere), a file:// URL or a path elsewhere; each a 400 naming
	# destination_conf, logged, and nothing made.
	for d in ../../x pcaps/../../x "file://$root/../x" file:///etc/cron.d "$T/elsewhere" /; do
		full_to "$d"
		expect_error 400 1002 "destination_conf: "
	done
	full_to ../../x
	expect_error 400 1002 '".." is not allowed'
	full_to file:///etc/cron.d
	expect_error 400 1002 "/etc/cron.d is not beneath any of $root, $root2"
	grep -q "refused a full capture for account $account_id: destination_conf: /etc/cron.d" \
		"$AGG_LOG" || fail "no log line for the refused destination: $(cat "$AGG_LOG")"
	grep -qF "refused a full capture for account $account_id: destination_conf: ../../x: \"..\" is not allowed" \
		"$AGG_LOG" || fail "no log line for the refused ..: $(cat "$AGG_LOG")"
	for d in "$T/x" "$T/elsewhere" /etc/cron.d/pcaps; do
		[ ! -e "$d" ] || fail "a refused destination was created: $d"
	done
	# A symlink beneath a root that leaves it is not followed.
	ln -s "$T/outside" "$root/link"
	full_to "file://$root/link/sub"
	expect_error 400 1002 "a symbolic link is on the way"
	full_to "$root/link"
	expect_error 400 1002 "a symbolic link is on the way"
	[ ! -e "$T/outside/sub" ] || fail "a directory was made through the symlink"
	expect_eq "$(capture_dirs "$state")" 0 "captures stored for refused requests"
	# Beneath a root: relative (beneath the first), absolute, file:// (test_fleet.sh writes
	# into them).
	full_to pcaps
	expect_ok
	full_to "file://$root2/a/b"
	expect_ok
	full_to "$root2/c"
	expect_ok
	expect_eq "$(capture_dirs "$state")" 3 "captures stored"
}

run_test test_seed_simple_request_creates_a_pending_capture
run_test test_seed_status_list_stop_download
# The same commands over HTTPS: as published, https:// and only the host changed.
test_seed_status_list_stop_download_over_https() {
	SEED_HTTPS=1
	test_seed_status_list_stop_download
	[[ $AGG_URL == https://* ]] || fail "not over https: $AGG_URL"
}
run_test test_seed_status_list_stop_download_over_https
run_test test_seed_full_request_and_the_full_rule
run_test test_full_rule_is_configurable
run_test test_destination_conf_stays_beneath_a_root
run_test test_simple_rule_one_per_interval
run_test test_default_interval_is_a_minute
run_test test_validation_errors_name_the_field
run_test test_malformed_and_empty_bodies
run_test test_oversized_bodies_get_413
run_test test_unknown_ids_routes_and_methods
run_test test_list_is_newest_first_and_capped_at_50
run_test test_stop_twice_and_after_the_end
run_test test_time_limit_ends_a_capture
run_test test_without_agents_a_capture_fails
run_test test_restart_keeps_finished_captures
run_test test_command_line_and_config_file

summary
