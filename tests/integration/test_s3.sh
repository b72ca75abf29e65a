#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_s3.sh: bucket destinations (docs/design.md, "Bucket destinations") against a local
# S3-compatible server the test starts on 127.0.0.1: s3rver from npm (installed into the build
# tree by s3/setup.sh), behind s3/s3server.js, which checks every request's AWS SigV4 signature
# itself and logs what it received. Full captures with real agents in namespaces (ipc:// links)
# land as objects PREFIX/<id>/<host>.pcap that tcpdump reads back with the packets sent; an
# upload that keeps failing (403, server down) ends the capture failed after its retries (the
# wait doubling), with the store's answer in error_message and the local files kept until
# --upload-keep-hours; one a restart interrupts (SIGTERM while it waits to retry) is taken up
# again by the next start; requests are signed for the URL's region, else --s3-region, else
# us-east-1; the ownership challenge gates every bucket.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_tools curl jq node npm tcpdump sha256sum
require_bin "$EC_AGGREGATOR" "$EC_EDGECAPCTL"

account_id=023e105f4ecef8ad9ca31a8372d0c353
EC_API_ACCOUNT=$account_id
S3_KEY=AKIDEDGECAPTEST
S3_SECRET=edgecap-test-secret
GS_KEY=GOOGEDGECAPTEST
GS_SECRET=edgecap-gs-test-secret
BUCKET=pcaps-bucket
PORT=5001

S3RVER=$(bash "$EC_SRC_DIR/tests/integration/s3/setup.sh" "$EC_BUILD_DIR/tests/s3rver") ||
	fail "cannot install s3rver (npm)"

# s3_start [PORT [FLAGS...]]: the S3 server (a free port by default), its objects in
# $EC_TMPDIR/s3data, every request logged to $EC_TMPDIR/s3.log; S3_PORT, S3_URL, S3_PID. A
# fresh start (no PORT) begins with no objects and an empty log; a restart on PORT keeps both.
s3_start() {
	store_start s3 "$S3_KEY" "$S3_SECRET" "$@"
	S3_PID=$BG_PID
	S3_PORT=$STORE_PORT
	S3_URL=http://127.0.0.1:$S3_PORT
}

# gs_start: a second store of its own, with keys of its own (GS_KEY, GS_SECRET), to stand for
# the gs:// endpoint: objects in $EC_TMPDIR/gsdata, requests in $EC_TMPDIR/gs.log; GS_URL.
gs_start() {
	store_start gs "$GS_KEY" "$GS_SECRET"
	GS_URL=http://127.0.0.1:$STORE_PORT
}

# store_start NAME KEY SECRET [PORT [FLAGS...]]: s3server.js as NAME, knowing one key; its
# port in STORE_PORT, its pid in BG_PID.
store_start() {
	local name=$1 key=$2 secret=$3 port=${4:-0}
	shift 4 || shift $#
	rm -f "$EC_TMPDIR/$name.ready"
	[ "$port" != 0 ] || rm -rf "$EC_TMPDIR/${name}data" "$EC_TMPDIR/$name.log"
	mkdir -p "$EC_TMPDIR/${name}data"
	S3RVER_MODULE=$S3RVER bg_start "$name" - node \
		"$EC_SRC_DIR/tests/integration/s3/s3server.js" --port "$port" \
		--dir "$EC_TMPDIR/${name}data" --log "$EC_TMPDIR/$name.log" \
		--ready "$EC_TMPDIR/$name.ready" --key "$key" --secret "$secret" --bucket "$BUCKET" "$@"
	wait_for_file "$EC_TMPDIR/$name.ready" 20 ||
		fail "the $name store did not start: $(cat "$EC_TMPDIR/$name.err")"
	STORE_PORT=$(cat "$EC_TMPDIR/$name.ready")
}

# s3_creds_file [SECRET]: an S3 credentials file (mode 0600) with the test's key and SECRET
# (default the right one); prints its path.
s3_creds_file() {
	creds_file "s3-credentials${1:+-$1}" "$S3_KEY" "${1:-$S3_SECRET}"
}

# creds_file NAME KEY SECRET: a credentials file (mode 0600) in the run's directory; prints its
# path.
creds_file() {
	local f=$EC_TMPDIR/$1
	rm -f "$f"
	(
		umask 077
		printf '# test keys\naccess_key_id = %s\nsecret_access_key = %s\n' "$2" "$3" >"$f"
	)
	echo "$f"
}

# start_agg_s3 [FLAGS...]: the aggregator with the S3 server as its s3:// and gs:// endpoint.
start_agg_s3() {
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	_agg_s3 "$@"
}

# The aggregator stopped and started again on the same state directory, with the flags given.
restart_agg_s3() {
	bg_stop "$AGG_PID" || true
	_agg_s3 "$@"
}

_agg_s3() {
	_agg_s3_keys --s3-credentials "$(s3_creds_file)" "$@"
}

# _agg_s3_keys FLAGS...: as _agg_s3, without a credentials file of its own.
_agg_s3_keys() {
	agg_start -s "$STATE" agg --simple-interval 0 --max-full 0 --grace 2 \
		--s3-endpoint "$S3_URL" --gs-endpoint "$S3_URL" --s3-allow-bucket "$BUCKET" \
		--upload-retries 1 --upload-backoff 1 "$@"
	API=$AGG_URL/client/v4/accounts/$account_id/pcaps
}

# The seeds' curl commands, with only the host and the credential changed.
api() {
	local method=$1 path=$2
	shift 2
	curl -s -X "$method" "$API$path" -H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY" "$@"
}

# get_object KEY OUT: the object as the store has it (a signed GET).
get_object() {
	command curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" \
		-H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" \
		-o "$2" "$S3_URL/$BUCKET/$1"
}

# own_bucket DEST: an ownership challenge for DEST, read from the bucket, and validated.
own_bucket() {
	local out file challenge
	out=$(api POST /ownership --data "{\"destination_conf\": \"$1\"}")
	[ "$(jq -r .result.status <<<"$out")" = pending ] || fail "ownership create: $out"
	file=$(jq -r .result.filename <<<"$out")
	get_object "$file" "$EC_TMPDIR/challenge" || fail "no challenge object $file in the bucket"
	challenge=$(cat "$EC_TMPDIR/challenge")
	out=$(api POST /ownership/validate \
		--data "{\"destination_conf\": \"$1\", \"ownership_challenge\": \"$challenge\"}")
	[ "$(jq -r .result.status <<<"$out")" = success ] || fail "ownership validate: $out"
}

# post_ok BODY: posts a capture and prints its id.
post_ok() {
	local out
	out=$(api POST "" --data "$1")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	jq -r .result.id <<<"$out"
}

# wait_status ID STATUS SECONDS: until the capture has STATUS.
wait_status() {
	local st=
	for _ in $(seq $(($3 * 10))); do
		st=$(api GET "/$1" | jq -r .result.status)
		[ "$st" = "$2" ] && return 0
		[ "$st" = failed ] && [ "$2" != failed ] && break
		sleep 0.1
	done
	fail "capture $1 is $st, not $2: $(api GET "/$1")"
}

# agents_setup: two edge hosts (host-a in ord01, host-b in ord02), each a namespace pair with
# a real agent on its veth, linked to the aggregator over ipc://.
agents_setup() {
	local h
	require_root
	require_bin "$EC_AGENT" "$EC_TRAFFIC"
	for h in a b; do
		ns_setup "s3$h"
		declare -g "SND_$h=$NS0" "EDGE_$h=$NS1"
	done
	CTL_URL=ipc://$EC_TMPDIR/control.sock
	DATA_URL=ipc://$EC_TMPDIR/data.sock
}

agents_start() {
	local h v colo
	for h in a b; do
		v=EDGE_$h
		colo=ord0$([ "$h" = a ] && echo 1 || echo 2)
		bg_start "agent-$h" "${!v}" "$EC_AGENT" --interface "$IF1" --host-id "host-$h" \
			--colo "$colo" --control "$CTL_URL" --data "$DATA_URL" \
			--local-socket "$EC_TMPDIR/agent-$h.sock" --batch-ms 50
	done
	wait_until 15 agents_joined 2 || fail "the agents did not join: $(cat "$AGG_LOG")"
	for h in a b; do
		wait_until 15 data_link_up "$h" || fail "agent $h's data link never came up"
	done
}

agents_joined() {
	[ "$(grep -c 'joined' "$AGG_LOG")" -ge "$1" ]
}

data_link_up() {
	"$EC_EDGECAPCTL" status --json --socket "$EC_TMPDIR/agent-$1.sock" 2>/dev/null |
		jq -e '.aggregator.data_connections > 0' >/dev/null
}

# send_from HOST COUNT: numbered datagrams to port PORT on the host's edge side.
send_from() {
	local v=SND_$1
	in_ns "${!v}" "$EC_TRAFFIC" send --dst "$IP4_1" --port "$PORT" --count "$2" --rate 2000 \
		--tag "$1" >/dev/null || fail "sender on $1 failed"
}

# A full capture to DEST, 40 packets from each host; prints its id once its agents are done.
full_capture() {
	local id h
	id=$(post_ok "{\"filter_v1\": {\"destination_port\": $PORT}, \"time_limit\": 3,
		\"packet_limit\": 10000, \"byte_limit\": 100000000, \"type\": \"full\",
		\"colo\": \"ORD\", \"system\": \"magic-transit\", \"destination_conf\": \"$1\"}")
	wait_status "$id" running 5
	for h in a b; do send_from "$h" 40; done
	echo "$id"
}

# refusing_bucket DEST STATUS [FLAG...]: agents and the aggregator (with FLAGs) up, DEST owned,
# then the store started again answering every PUT with STATUS.
refusing_bucket() {
	local dest=$1 status=$2
	shift 2
	agents_setup
	s3_start
	start_agg_s3 --control "$CTL_URL" --data "$DATA_URL" "$@"
	agents_start
	own_bucket "$dest"
	bg_stop "$S3_PID" || true
	s3_start "$S3_PORT" --fail-put-status "$status"
}

# object_holds_a_hosts_40 KEY FILE: the object KEY, read back into FILE, is a pcap of the 40
# datagrams full_capture sends from one host to PORT.
object_holds_a_hosts_40() {
	get_object "$1" "$2" || fail "no object $1: $(cat "$EC_TMPDIR/s3.log")"
	expect_eq "$(tcpdump -nn -r "$2" 2>/dev/null | wc -l)" 40 "packets in $1"
	expect_eq "$(tcpdump -nn -r "$2" 2>/dev/null | grep -c "> $IP4_1.$PORT: UDP")" 40 \
		"UDP datagrams to port $PORT in $1"
}

# The requests to PATH: "METHOD STATUS SIG_ERROR ALGORITHM CREDENTIAL SHA256" a line, from the
# S3 store's log (or from LOG).
s3_requests() {
	jq -r --arg p "$1" 'select(.url == $p) | (.authorization // "none") as $a |
		"\(.method) \(.status) \(.sig_error) \($a | split(" ")[0])" +
		" \($a | capture("Credential=(?<c>[^,]+)").c // "none") \(.x_amz_content_sha256)"' \
		"${2:-$EC_TMPDIR/s3.log}"
}

test_full_capture_lands_in_the_bucket_signed() {
	local id h key obj dest="s3://$BUCKET/captures/edge?region=eu-west-1" reqs day
	agents_setup
	s3_start
	start_agg_s3 --control "$CTL_URL" --data "$DATA_URL"
	agents_start
	own_bucket "$dest"
	id=$(full_capture "$dest")
	wait_status "$id" complete 30
	day=$(date -u +%Y%m%d)
	for h in a b; do
		key=captures/edge/$id/host-$h.pcap
		obj=$EC_TMPDIR/$h.pcap
		object_holds_a_hosts_40 "$key" "$obj"
		reqs=$(s3_requests "/$BUCKET/$key" | grep '^PUT')
		expect_eq "$(wc -l <<<"$reqs")" 1 "PUTs of $key"
		read -r _ status sig_error algo cred sha <<<"$reqs"
		expect_eq "$status" 200 "the store's answer to the PUT of $key"
		expect_eq "$sig_error" null "the signature of the PUT of $key (checked by s3server.js)"
		expect_eq "$algo" AWS4-HMAC-SHA256 "the signing algorithm of the PUT of $key"
		expect_eq "$cred" "$S3_KEY/$day/eu-west-1/s3/aws4_request" \
			"the credential scope of the PUT of $key"
		expect_eq "$sha" "$(sha256sum <"$obj" | cut -d' ' -f1)" \
			"x-amz-content-sha256 of $key against the object"
	done
	# Signed AWS4-HMAC-SHA256, every request of the aggregator.
	jq -e -s 'map(select(.method == "PUT")) | length > 0 and
		all(.authorization | startswith("AWS4-HMAC-SHA256 Credential="))' \
		"$EC_TMPDIR/s3.log" >/dev/null || fail "an unsigned PUT: $(cat "$EC_TMPDIR/s3.log")"
	[ ! -e "$STATE/captures/$id/upload" ] || fail "the local files stayed after the upload"
	expect_eq "$(api GET "/$id" | jq -r .result.packets_captured)" 80 "packets_captured"
	# Nothing else was written: the two pcaps and the challenge object.
	expect_eq "$(jq -r 'select(.method == "PUT" and .status == 200) | .url' \
		"$EC_TMPDIR/s3.log" | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "/$BUCKET/captures/edge/$id/host-a.pcap" \
			"/$BUCKET/captures/edge/$id/host-b.pcap" \
			"$(jq -r 'select(.method == "PUT") | .url' "$EC_TMPDIR/s3.log" |
				grep ownership-challenge)" | sort | tr '\n' ' ')" "objects written"
}

test_failed_upload_fails_the_capture_and_keeps_its_files() {
	local id first msg scopes dest="s3://$BUCKET/denied"
	# Two retries, the waits doubling from 1 s (--upload-backoff).
	refusing_bucket "$dest" 403 --upload-retries 2
	id=$(full_capture "$dest")
	wait_status "$id" failed 30
	msg=$(api GET "/$id" | jq -r .result.error_message)
	[[ $msg == *"failed after 3 attempts: HTTP 403 from $S3_URL: AccessDenied: Access Denied"* ]] ||
		fail "error_message: $msg"
	grep -q "upload of .* failed (attempt 1 of 3): HTTP 403 .*; retrying in 1 s" "$AGG_LOG" ||
		fail "no first retry in the log: $(cat "$AGG_LOG")"
	grep -q "upload of .* failed (attempt 2 of 3): HTTP 403 .*; retrying in 2 s" "$AGG_LOG" ||
		fail "no second retry, after twice the wait, in the log: $(cat "$AGG_LOG")"
	# No ?region= and no --s3-region: signed for us-east-1. The upload stops at the first host
	# that fails: three PUTs in all.
	scopes=$(for h in a b; do s3_requests "/$BUCKET/denied/$id/host-$h.pcap"; done |
		awk '$1 == "PUT" { print $5 }')
	expect_eq "$(wc -l <<<"$scopes")" 3 "PUTs of the failed upload"
	expect_eq "$(sed 's|^[^/]*/[0-9]*/||' <<<"$scopes" | sort -u)" us-east-1/s3/aws4_request \
		"the credential scope with no region given"
	ls "$STATE/captures/$id/upload/"*.pcap >/dev/null 2>&1 || fail "the local files are gone"
	expect_eq "$(tcpdump -nn -r "$(ls "$STATE/captures/$id/upload/"*host-a*.pcap)" 2>/dev/null |
		wc -l)" 40 "packets in host a's kept file"
	jq -e '[.agents[].upload.attempts] | max == 3' "$STATE/captures/$id/manifest.json" \
		>/dev/null || fail "attempts in the manifest: $(cat "$STATE/captures/$id/manifest.json")"
	first=$id

	# The store down altogether: the same end, with curl's reason.
	bg_stop "$S3_PID" || true
	id=$(full_capture "$dest")
	wait_status "$id" failed 30
	msg=$(api GET "/$id" | jq -r .result.error_message)
	[[ $msg == *"failed after 3 attempts: Couldn't connect to server"* ]] ||
		fail "error_message with the store down: $msg"
	[ -d "$STATE/captures/$id/upload" ] || fail "the second capture's files are gone"

	# Kept --upload-keep-hours: with 0, the uploader's sweep (at its start, then every
	# minute) removes both captures' files, and only those. The records stay.
	restart_agg_s3 --control "$CTL_URL" --data "$DATA_URL" --upload-keep-hours 0
	wait_until 10 _uploads_swept "$first" "$id" ||
		fail "the failed uploads' files stayed: $(ls -R "$STATE/captures")"
	for id in "$first" "$id"; do
		grep -q "capture $id: removing the files of its failed upload (kept 0 s)" "$AGG_LOG" ||
			fail "no sweep of $id in the log: $(cat "$AGG_LOG")"
		expect_eq "$(api GET "/$id" | jq -r .result.status)" failed "status after the sweep"
		[ -f "$STATE/captures/$id/manifest.json" ] || fail "$id's manifest went with its files"
	done
}

# docs/manifest.md: "A capture in conversion when the aggregator restarts is taken up again by
# the uploader". The store answers 503 to every PUT and the aggregator waits 40 s, then 60 s
# (the doubling's cap, --upload-backoff's "up to 60 s") between tries, so the capture sits in
# conversion_running when SIGTERM stops it. Started again on the same state directory, with the
# store well, the aggregator uploads both hosts' files.
test_upload_interrupted_by_a_restart_is_taken_up_again() {
	local id h key obj m reqs dest="s3://$BUCKET/restarted"
	local failed="failed (attempt %s of 6): HTTP 503 from .*: SlowDown: Please reduce your request rate\.; retrying in %s s"
	refusing_bucket "$dest" 503 --upload-retries 5 --upload-backoff 40
	id=$(full_capture "$dest")
	wait_status "$id" conversion_running 20
	# shellcheck disable=SC2059 # the format is the test's own
	wait_until 10 grep -q "capture $id: upload of .* $(printf "$failed" 1 40)" "$AGG_LOG" ||
		fail "no failed first attempt in the log: $(cat "$AGG_LOG")"
	# shellcheck disable=SC2059
	wait_until 45 grep -q "capture $id: upload of .* $(printf "$failed" 2 60)" "$AGG_LOG" ||
		fail "no second attempt 40 s later, waiting 60 s (not 80): $(cat "$AGG_LOG")"
	# Stopped in its backoff: the capture is left in conversion on disk, its files kept.
	bg_stop "$AGG_PID" || fail "the aggregator's exit status after SIGTERM: $(cat "$AGG_LOG")"
	cp "$AGG_LOG" "$EC_TMPDIR/agg-first-run.err"
	m=$STATE/captures/$id/manifest.json
	expect_eq "$(jq -r .status "$m")" conversion_running "the status on disk after the stop"
	jq -e '[.agents[].upload | select(. != null)] | length == 1 and .[0].attempts == 2 and
		(.[0].last_error | contains("HTTP 503"))' "$m" >/dev/null ||
		fail "upload in the manifest after the stop: $(cat "$m")"
	expect_eq "$(find "$STATE/captures/$id/upload" -name '*.pcap' | wc -l)" 2 \
		"files in the upload directory after the stop"
	expect_eq "$(jq -r 'select(.method == "PUT" and .status == 200) | .url' "$EC_TMPDIR/s3.log" |
		grep -c "/$id/")" 0 "objects of the capture written before the restart"
	# The store well again, the aggregator started on the same state directory.
	bg_stop "$S3_PID" || true
	s3_start "$S3_PORT"
	# --s3-region signs for its region where destination_conf names none.
	_agg_s3 --control "$CTL_URL" --data "$DATA_URL" --upload-retries 5 --upload-backoff 30 \
		--s3-region eu-north-1
	wait_status "$id" complete 15
	for h in a b; do
		key=restarted/$id/host-$h.pcap
		obj=$EC_TMPDIR/$h.pcap
		object_holds_a_hosts_40 "$key" "$obj"
		reqs=$(s3_requests "/$BUCKET/$key" | awk '$1 == "PUT" && $2 != 503 { print $2, $5 }')
		expect_eq "$(wc -l <<<"$reqs")" 1 "PUTs of $key besides the 503s"
		expect_eq "${reqs%% *}" 200 "the store's answer to the PUT of $key after the 503s"
		expect_eq "$(sed 's|^[^/]*/[0-9]*/||' <<<"${reqs#* }")" eu-north-1/s3/aws4_request \
			"the credential scope of the PUT of $key with --s3-region eu-north-1"
		grep -q "capture $id: uploaded .*host-$h.* to s3://$BUCKET/$key\$" "$AGG_LOG" ||
			fail "no upload of $key in the second run's log: $(cat "$AGG_LOG")"
	done
	grep -q "capture $id: uploading its files to $dest" "$AGG_LOG" ||
		fail "the second run did not take the capture up: $(cat "$AGG_LOG")"
	grep -q "capture $id complete" "$AGG_LOG" || fail "no completion in the log: $(cat "$AGG_LOG")"
	[ ! -e "$STATE/captures/$id/upload" ] || fail "the local files stayed after the upload"
	expect_eq "$(api GET "/$id" | jq -r '.result | "\(.packets_captured) \(.error_message)"')" \
		"80 null" "packets_captured and error_message"
	expect_eq "$(jq -r .status "$m")" complete "the status on disk"
}

# Whether the upload directories of the captures named are gone.
_uploads_swept() {
	local id
	for id in "$@"; do
		[ ! -e "$STATE/captures/$id/upload" ] || return 1
	done
}

test_buckets_need_allowing_and_ownership() {
	local out id own dest="s3://$BUCKET/p" full
	s3_start
	start_agg_s3 --no-agents
	full="{\"time_limit\": 1, \"type\": \"full\", \"colo\": \"ORD\",
		\"system\": \"magic-transit\", \"destination_conf\": \"DEST\"}"
	# A bucket not allowed: 400 naming destination_conf.
	out=$(api POST "" --data "${full/DEST/s3://other-bucket/p}" -w '\n%{http_code}')
	expect_eq "$(tail -n 1 <<<"$out")" 400 "status for a bucket not allowed"
	sed '$d' <<<"$out" | jq -e '.errors[0].message | startswith("destination_conf: bucket \"other-bucket\" is not one")' \
		>/dev/null || fail "message: $out"
	# An allowed bucket without a validated ownership: 400 that says so.
	out=$(api POST "" --data "${full/DEST/$dest}" -w '\n%{http_code}')
	expect_eq "$(tail -n 1 <<<"$out")" 400 "status without ownership"
	sed '$d' <<<"$out" | jq -e '.errors[0].message | contains("has no validated ownership of bucket s3://pcaps-bucket")' \
		>/dev/null || fail "message: $out"
	# A wrong challenge does not validate; the right one does.
	out=$(api POST /ownership --data "{\"destination_conf\": \"$dest\"}")
	own=$(jq -r .result.id <<<"$out")
	expect_eq "$(jq -r '.result | "\(.status) \(.destination_conf)"' <<<"$out")" "pending $dest" \
		"a new challenge"
	out=$(api POST /ownership/validate -w '\n%{http_code}' \
		--data "{\"destination_conf\": \"$dest\", \"ownership_challenge\": \"00\"}")
	expect_eq "$(tail -n 1 <<<"$out")" 400 "status for a wrong challenge"
	own_bucket "$dest"
	expect_eq "$(api GET /ownership | jq -r '[.result[].status] | sort | join(" ")')" \
		"pending success" "the account's challenges"
	id=$(post_ok "${full/DEST/$dest}")
	wait_status "$id" complete 15
	# Another account has no ownership of its own.
	api_secret other
	out=$(curl -s "$AGG_URL/client/v4/accounts/other/pcaps/ownership" \
		-H "Authorization: Bearer $API_SECRET")
	expect_eq "$(jq -r '.result | length' <<<"$out")" 0 "another account's challenges"
	# Deleted: the ownership is gone and the bucket refused again.
	expect_eq "$(api DELETE "/ownership/$own" | jq -r .success)" true "delete"
	expect_eq "$(api DELETE "/ownership/$own" -o /dev/null -w '%{http_code}')" 404 \
		"delete again"
	for own in $(api GET /ownership | jq -r '.result[].id'); do
		api DELETE "/ownership/$own" >/dev/null
	done
	expect_eq "$(api POST "" --data "${full/DEST/$dest}" -o /dev/null -w '%{http_code}')" 400 \
		"a full capture after the ownership was deleted"
	# gs:// goes the same way to its own endpoint, signed for region "auto".
	own_bucket "gs://$BUCKET/g"
	jq -e -s --arg k "$S3_KEY" 'map(select(.method == "PUT" and (.url | startswith("/pcaps-bucket/g/")))) |
		length == 1 and (.[0].authorization | contains("Credential=" + $k + "/")) and
		(.[0].authorization | contains("/auto/s3/aws4_request")) and .[0].sig_error == null' \
		"$EC_TMPDIR/s3.log" >/dev/null || fail "the gs:// challenge's PUT: $(cat "$EC_TMPDIR/s3.log")"
	id=$(post_ok "${full/DEST/gs://$BUCKET/g}")
	wait_status "$id" complete 15
	# Unknown paths under /pcaps/ are 404 in the envelope, never 405.
	for path in /ownership/nope /nope /nope/stop; do
		out=$(api POST "$path" -w '\n%{http_code}')
		expect_eq "$(tail -n 1 <<<"$out")" 404 "POST $path"
		sed '$d' <<<"$out" | jq -e '.success == false' >/dev/null || fail "envelope: $out"
	done
}

test_wrong_secret_is_refused_by_the_store() {
	local out
	s3_start
	start_agg_s3 --no-agents --s3-credentials "$(s3_creds_file wrong-secret)"
	out=$(api POST /ownership --data "{\"destination_conf\": \"s3://$BUCKET\"}")
	jq -e '.errors[0].message | contains("HTTP 403") and contains("SignatureDoesNotMatch")' \
		<<<"$out" >/dev/null || fail "a wrong secret: $out"
}

# Without --s3-credentials the keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the
# ownership challenge is written with them, and a wrong secret there is refused by the store.
test_s3_credentials_from_the_environment() {
	local out file
	s3_start
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET _agg_s3_keys --no-agents
	out=$(api POST /ownership --data "{\"destination_conf\": \"s3://$BUCKET/env\"}")
	expect_eq "$(jq -r .result.status <<<"$out")" pending "the challenge, with the keys in the \
environment: $out"
	file=$(jq -r .result.filename <<<"$out")
	read -r _ status sig_error _ cred _ <<<"$(s3_requests "/$BUCKET/$file" | grep '^PUT')"
	expect_eq "$status $sig_error" "200 null" "the challenge's PUT, checked by the store"
	expect_eq "${cred%%/*}" "$S3_KEY" "the access key of the challenge's PUT"
	bg_stop "$AGG_PID" || true
	AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=wrong-secret _agg_s3_keys --no-agents
	out=$(api POST /ownership --data "{\"destination_conf\": \"s3://$BUCKET/env\"}")
	jq -e '.errors[0].message | contains("HTTP 403") and contains("SignatureDoesNotMatch")' \
		<<<"$out" >/dev/null || fail "a wrong secret in the environment: $out"
}

# --gs-credentials: gs:// buckets are signed with keys of their own, at their own endpoint, and
# s3:// ones keep the S3 keys. Without the flag gs:// takes the S3 keys, which the gs store
# does not know.
test_gs_credentials_are_their_own() {
	local out file line dest
	s3_start
	gs_start
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	_agg_s3 --no-agents --gs-endpoint "$GS_URL" \
		--gs-credentials "$(creds_file gs-credentials "$GS_KEY" "$GS_SECRET")"
	for dest in "gs://$BUCKET/g" "s3://$BUCKET/s"; do
		out=$(api POST /ownership --data "{\"destination_conf\": \"$dest\"}")
		expect_eq "$(jq -r .result.status <<<"$out")" pending "the challenge for $dest: $out"
		file=$(jq -r .result.filename <<<"$out")
		case $dest in
		gs:*)
			line=$(s3_requests "/$BUCKET/$file" "$EC_TMPDIR/gs.log" | grep '^PUT')
			expect_eq "$(cut -d' ' -f2,3,5 <<<"$line" | cut -d/ -f1,3)" \
				"200 null $GS_KEY/auto" "the gs:// challenge's PUT at the gs store (status, \
check, key/region): $line"
			expect_eq "$(s3_requests "/$BUCKET/$file")" "" "the gs:// challenge at the S3 store"
			;;
		s3:*)
			line=$(s3_requests "/$BUCKET/$file" | grep '^PUT')
			expect_eq "$(cut -d' ' -f2,3,5 <<<"$line" | cut -d/ -f1,3)" \
				"200 null $S3_KEY/us-east-1" "the s3:// challenge's PUT at the S3 store: $line"
			expect_eq "$(s3_requests "/$BUCKET/$file" "$EC_TMPDIR/gs.log")" "" \
				"the s3:// challenge at the gs store"
			;;
		esac
	done
	# Without --gs-credentials: the S3 keys, unknown to the gs store.
	bg_stop "$AGG_PID" || true
	_agg_s3 --no-agents --gs-endpoint "$GS_URL"
	out=$(api POST /ownership --data "{\"destination_conf\": \"gs://$BUCKET/g2\"}")
	jq -e '.errors[0].message | contains("HTTP 403") and contains("SignatureDoesNotMatch")' \
		<<<"$out" >/dev/null || fail "gs:// with the S3 keys: $out"
	grep -q "unknown access key $S3_KEY" "$EC_TMPDIR/gs.log" ||
		fail "the gs store did not see the S3 key: $(cat "$EC_TMPDIR/gs.log")"
}

test_s3_credentials_file_mode_is_checked() {
	local f rc=0
	s3_start
	api_secret "$EC_API_ACCOUNT" # the API's credentials file, as agg_start makes it
	f=$(s3_creds_file)
	chmod 0644 "$f"
	"$EC_AGGREGATOR" --no-agents --http 127.0.0.1:0 --state-dir "$EC_TMPDIR/bad.state" \
		--credentials "$EC_CRED_FILE" --s3-allow-bucket "$BUCKET" --s3-credentials "$f" \
		2>"$EC_TMPDIR/bad.err" || rc=$?
	expect_eq "$rc" 2 "exit status with a readable credentials file"
	grep -q "mode 0644 lets others read it" "$EC_TMPDIR/bad.err" ||
		fail "message: $(cat "$EC_TMPDIR/bad.err")"
}

# edgecapctl: ownership create|validate|list|delete, collect --destination s3://, list --page.
test_cli_ownership_and_collect_to_a_bucket() {
	local ctl=("$EC_EDGECAPCTL") out file id rc=0 dest="s3://$BUCKET/cli"
	s3_start
	start_agg_s3 --no-agents
	export EDGECAP_AGGREGATOR=$AGG_URL EDGECAP_ACCOUNT=$account_id
	out=$("${ctl[@]}" ownership create "$dest") || fail "ownership create: $out"
	file=$(jq -r .filename <<<"$out")
	get_object "$file" "$EC_TMPDIR/challenge" || fail "no challenge object $file"
	"${ctl[@]}" ownership validate "$dest" wrong >/dev/null 2>&1 || rc=$?
	expect_eq "$rc" 2 "exit status of a wrong challenge"
	out=$("${ctl[@]}" ownership validate "$dest" "$(cat "$EC_TMPDIR/challenge")")
	expect_eq "$(jq -r .status <<<"$out")" success "validate"
	expect_eq "$("${ctl[@]}" ownership list | jq -r '.[0].status')" success "list"
	out=$("${ctl[@]}" collect --type full --colo ORD --time-limit 1 --destination "$dest" -q) ||
		fail "collect to $dest: $out"
	expect_eq "$(jq -r '"\(.status) \(.destination_conf)"' <<<"$out")" "complete $dest" \
		"collect's record"
	id=$(jq -r .id <<<"$out")
	"${ctl[@]}" collect --type full --colo ORD --time-limit 1 --destination "$dest" -q \
		>/dev/null || fail "second collect"
	out=$("${ctl[@]}" list --page 2 --per-page 1)
	grep -q "^$id  complete" <<<"$out" || fail "list --page 2 --per-page 1: $out"
	grep -q "page 2 (1 a page): 1 of 2 captures" <<<"$out" || fail "list's footer: $out"
	rc=0
	"${ctl[@]}" list --per-page 1001 >/dev/null 2>&1 || rc=$?
	expect_eq "$rc" 2 "exit status of --per-page 1001"
	"${ctl[@]}" ownership delete "$("${ctl[@]}" ownership list | jq -r '.[0].id')" >/dev/null ||
		fail "ownership delete"
	expect_eq "$("${ctl[@]}" ownership list | jq length)" 0 "ownerships after the delete"
}

for t in test_buckets_need_allowing_and_ownership test_wrong_secret_is_refused_by_the_store \
	test_cli_ownership_and_collect_to_a_bucket \
	test_s3_credentials_file_mode_is_checked test_full_capture_lands_in_the_bucket_signed \
	test_failed_upload_fails_the_capture_and_keeps_its_files \
	test_upload_interrupted_by_a_restart_is_taken_up_again \
	test_s3_credentials_from_the_environment test_gs_credentials_are_their_own; do
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$t" ] || continue
	run_test "$t"
done
summary
