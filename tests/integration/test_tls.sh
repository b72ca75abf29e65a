#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_tls.sh: the agent links' transports and identities (docs/design.md, "Security": agent
# links, "Binding identity to a connection"). tcp:// is refused at start unless
# --insecure-plaintext, tls+tcp:// needs the three TLS files; then one attempt at each hole of
# the issue, each of which must now fail cleanly with a log line and nothing written: a rogue
# RESPONDENT and a PUSH peer without certificates, an agent with a certificate from another CA,
# an agent whose certificate names another host, forged data under a real host's name, and data
# from an authenticated host for a capture it declined (not_accepted). Last, a
# stock nanomsg peer (nanocat) still speaks the control protocol with --insecure-plaintext.
# Each test's aggregator runs in a namespace of its own (fixed ports on its loopback), with a CA
# and certificates made for the run by the openssl CLI. Both daemons read their TLS files from
# a config file, under the keys docs/design.md names (tls_ca, tls_cert, tls_key).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools ip openssl timeout curl jq nanocat
EC_SPPEER=${EC_SPPEER:-$EC_BUILD_DIR/tests/tools/ec_sppeer}
require_bin "$EC_AGENT" "$EC_AGGREGATOR" "$EC_SPPEER"

T=$EC_TMPDIR
CTL=tls+tcp://127.0.0.1:7101
DATA=tls+tcp://127.0.0.1:7102

# tls_agg NAME: a CA and certificates in PKI (the aggregator's, and host-a's and host-b's),
# and the aggregator on tls+tcp:// in a namespace of its own (TLS_NS).
tls_agg() {
	tls_ns_setup "$1"
	PKI=$T/pki-$1
	tls_make_ca "$PKI"
	# DNS: as well as IP:, for Debian 12's mbedTLS matches an address only as a DNS name.
	tls_make_cert "$PKI" aggregator "DNS:127.0.0.1,IP:127.0.0.1"
	tls_make_cert "$PKI" host-a
	tls_make_cert "$PKI" host-b
	tls_conf "$PKI" aggregator >"$T/$1.conf"
	agg_start -n "$TLS_NS" -s "$T/$1.state" "$1" --control "$CTL" --data "$DATA" \
		--config "$T/$1.conf" --simple-interval 0 --grace 1 "${@:2}"
}

# tls_conf CERT_DIR CERT: a config file's TLS lines, with the keys as docs/design.md spells
# them (tls_ca, tls_cert, tls_key; the flags are --tls-ca and so on).
tls_conf() {
	printf 'tls_ca = %s/ca.pem\ntls_cert = %s/%s.pem\ntls_key = %s/%s.key\n' "$1" "$1" "$2" \
		"$1" "$2"
}

# agent NAME HOST_ID CERT_DIR CERT: edgecap-agent on lo in TLS_NS with that certificate (in
# its config file).
agent() {
	tls_conf "$3" "$4" >"$T/$1.conf"
	bg_start "$1" "$TLS_NS" "$EC_AGENT" --interface lo --host-id "$2" --control "$CTL" \
		--data "$DATA" --config "$T/$1.conf" --local-socket "$T/$1.sock" --batch-ms 50
}

# in_agg CMD...: CMD in the aggregator's namespace.
in_agg() {
	ip netns exec "$TLS_NS" "$@"
}

# A simple capture of 300 s through the API; prints its id.
post_capture() {
	in_agg curl -s -X POST "$AGG_URL/client/v4/accounts/$EC_API_ACCOUNT/pcaps" \
		-H "Authorization: Bearer $EDGECAP_API_TOKEN" -H 'Content-Type: application/json' --data '{"filter_v1": {"destination_port": 9},
		"time_limit": 300, "packet_limit": 10, "type": "simple",
		"system": "magic-transit"}' | jq -r .result.id
}

# forged_final ID HOST MAC [SIZE]: a well-formed final message for capture ID under HOST's name,
# with a trailer of 32 zero bytes flagged as its MAC when MAC is 1 (printf escapes on stdout).
# SIZE: its payload's bytes, 128 (its 15 values) by default, more of zeros after them (a final's
# header decodes whatever its length; only its MAC, once a key is bound, would refuse it).
forged_final() {
	local id=$1 host=$2 mac=$3 size=${4:-128} len
	# Magic, version 1.1, kind final, flags (MAC or none).
	if [ "$mac" = 1 ]; then printf 'ECAP\x01\x01\x02\x02'; else printf 'ECAP\x01\x01\x02\x00'; fi
	# shellcheck disable=SC2059 # the capture id as \x escapes
	printf "${id//??/\\x&}"
	printf '\x00\x00\x00\x00\x00\x00\x00\x01' # seq 1: last_seq 0, no batches
	printf '\x00\x00\x00\x00'                 # count
	len=$(printf '%08x' "$size")
	# shellcheck disable=SC2059 # the payload's and the raw length, big-endian, as \x escapes
	printf "${len//??/\\x&}${len//??/\\x&}"
	# shellcheck disable=SC2059 # the agent id's length as an octal escape
	printf "\\$(printf '%03o' "${#host}")\\0\\0\\0%s" "$host"
	printf '\x04\x00\x00\x00\x00\x0f\x00\x00' # stopped, no error, 15 values
	head -c $((size - 8)) /dev/zero
	[ "$mac" = 0 ] || head -c 32 /dev/zero
}

# expect_usage WANT CMD...: CMD exits 2 and says WANT on stderr, and has bound nothing.
expect_usage() {
	local want=$1 rc=0
	shift
	timeout 5 "$@" >"$T/usage.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "$*: exit $rc, want 2: $(cat "$T/usage.out")"
	grep -qF -- "$want" "$T/usage.out" || fail "$*: want \"$want\" in: $(cat "$T/usage.out")"
}

test_plain_tcp_needs_the_flag() {
	expect_usage "--control tcp://127.0.0.1:7101: plain tcp:// carries capture requests" \
		"$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/s1" \
		--control tcp://127.0.0.1:7101 --data ipc://"$T"/d.ipc
	grep -qF -- "--insecure-plaintext" "$T/usage.out" || fail "the way out is not named"
	expect_usage "--data tcp://127.0.0.1:7102: plain tcp://" \
		"$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/s1" \
		--control ipc://"$T"/c.ipc --data tcp://127.0.0.1:7102
	expect_usage "--control tcp://192.0.2.10:7101: plain tcp://" \
		"$EC_AGENT" --interface lo --control tcp://192.0.2.10:7101 \
		--data tls+tcp://192.0.2.10:7102
	grep -qF -- "--insecure-plaintext" "$T/usage.out" || fail "the way out is not named"
	# The default endpoints are tls+tcp://, so they need the files too.
	expect_usage "--control tls+tcp://*:7101: tls+tcp:// needs --tls-ca, --tls-cert and" \
		"$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/s1"
	[ ! -e "$T/s1" ] || fail "a refused aggregator made its state directory"
	expect_usage "--control ws://192.0.2.10:7101: must be a tls+tcp://, ipc:// or" \
		"$EC_AGENT" --interface lo --control ws://192.0.2.10:7101 \
		--data ipc://"$T"/d.ipc --insecure-plaintext
}

test_tls_needs_all_three_files() {
	tls_make_ca "$T/pki"
	tls_make_cert "$T/pki" host-a
	expect_usage "tls+tcp:// needs --tls-ca, --tls-cert and --tls-key (missing --tls-key)" \
		"$EC_AGENT" --interface lo --control tls+tcp://192.0.2.10:7101 \
		--data tls+tcp://192.0.2.10:7102 --tls-ca "$T/pki/ca.pem" \
		--tls-cert "$T/pki/host-a.pem"
	expect_usage "(missing --tls-ca)" \
		"$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/s2" \
		--tls-cert "$T/pki/host-a.pem" --tls-key "$T/pki/host-a.key"
}

# A file that is not there stops the aggregator at start, with its name (exit 1: the flags were
# well formed, the file is not).
test_unreadable_certificate_is_named() {
	local rc=0
	tls_ns_setup tlsfiles
	tls_make_ca "$T/pki"
	api_secret "$EC_API_ACCOUNT"
	timeout 5 ip netns exec "$TLS_NS" "$EC_AGGREGATOR" --http 127.0.0.1:0 \
		--credentials "$EC_CRED_FILE" --state-dir "$T/s3" --tls-ca "$T/pki/ca.pem" --tls-cert "$T/pki/none.pem" \
		--tls-key "$T/pki/none.key" >"$T/files.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "missing certificate: exit $rc, want 1: $(cat "$T/files.out")"
	grep -qF -- "--tls-cert $T/pki/none.pem: No such file or directory" "$T/files.out" ||
		fail "message: $(cat "$T/files.out")"
}

# With --insecure-plaintext both daemons take tcp://, and an agent joins over it.
test_insecure_plaintext_flag_allows_tcp() {
	tls_ns_setup tlsplain
	agg_start -n "$TLS_NS" plain --control tcp://127.0.0.1:7101 --data tcp://127.0.0.1:7102 \
		--insecure-plaintext
	bg_start agent-plain "$TLS_NS" "$EC_AGENT" --interface lo --host-id plain-1 \
		--control tcp://127.0.0.1:7101 --data tcp://127.0.0.1:7102 --insecure-plaintext \
		--local-socket "$T/plain.sock"
	wait_until 15 grep -q "agent plain-1 .*joined" "$AGG_LOG" ||
		fail "the agent never joined: $(cat "$AGG_LOG")"
}

# A RESPONDENT without a certificate: the handshake fails, it hears no survey, is no host.
test_rogue_respondent_without_certificate() {
	tls_agg tlsrogue
	in_agg "$EC_SPPEER" respondent --url "$CTL" --tls-ca "$PKI/ca.pem" \
		--server-name 127.0.0.1 --seconds 3 --reply '{}' >"$T/rogue.out" 2>&1 ||
		fail "ec_sppeer: $(cat "$T/rogue.out")"
	! grep -q "connected\|survey" "$T/rogue.out" ||
		fail "the rogue got through: $(cat "$T/rogue.out")"
	wait_until 5 grep -q "refused [0-9]* connection(s) at $CTL: TLS handshake failed" "$AGG_LOG" ||
		fail "no log line for the refused handshake: $(cat "$AGG_LOG")"
	! grep -q "joined" "$AGG_LOG" || fail "the rogue joined: $(cat "$AGG_LOG")"
}

# A PUSH peer without a certificate cannot hand in anything; nothing is written.
test_push_without_certificate() {
	local id
	tls_agg tlspush
	agent agent-a host-a "$PKI" host-a
	wait_until 15 grep -q "agent host-a .*joined" "$AGG_LOG" || fail "host-a never joined"
	id=$(post_capture)
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "no capture: $id"
	forged_final "$id" host-a 0 >"$T/forged.bin"
	in_agg "$EC_SPPEER" push --url "$DATA" --tls-ca "$PKI/ca.pem" --server-name 127.0.0.1 \
		--send-file "$T/forged.bin" --seconds 3 >"$T/push.out" 2>&1 ||
		fail "ec_sppeer: $(cat "$T/push.out")"
	! grep -q "connected\|sent" "$T/push.out" || fail "the push got through: $(cat "$T/push.out")"
	wait_until 5 grep -q "refused [0-9]* connection(s) at $DATA: TLS handshake failed" "$AGG_LOG" ||
		fail "no log line for the refused handshake: $(cat "$AGG_LOG")"
	! grep -q "dropped a data message" "$AGG_LOG" || fail "something was read: $(cat "$AGG_LOG")"
	expect_eq "$(jq -r '.agents["host-a"].final_received // false' \
		"$T/tlspush.state/captures/$id/manifest.json")" false "a final recorded for host-a"
}

# With a certificate of the CA (host-b's), a PUSH peer gets through TLS, but its messages under
# host-a's name carry no MAC, or one that is not under host-a's session key: dropped, counted.
test_forged_data_under_another_host() {
	local id
	tls_agg tlsforge
	agent agent-a host-a "$PKI" host-a
	wait_until 15 grep -q "agent host-a .*joined" "$AGG_LOG" || fail "host-a never joined"
	id=$(post_capture)
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "no capture: $id"
	cat "$PKI/host-b.pem" "$PKI/host-b.key" >"$T/host-b.both"
	forged_final "$id" host-a 0 >"$T/nomac.bin"
	forged_final "$id" host-a 1 >"$T/badmac.bin"
	for f in nomac badmac; do
		in_agg "$EC_SPPEER" push --url "$DATA" --tls-ca "$PKI/ca.pem" \
			--tls-cert "$T/host-b.both" --server-name 127.0.0.1 \
			--send-file "$T/$f.bin" --seconds 2 >"$T/$f.out" 2>&1 ||
			fail "ec_sppeer: $(cat "$T/$f.out")"
		grep -q "^sent" "$T/$f.out" || fail "$f not sent: $(cat "$T/$f.out")"
	done
	wait_until 5 grep -q "dropped a data message (unauthenticated): message from agent host-a carries no MAC" "$AGG_LOG" ||
		fail "no log line for the message without MAC: $(cat "$AGG_LOG")"
	wait_until 5 grep -q "dropped a data message (bad_mac): message's MAC does not verify for agent host-a" "$AGG_LOG" ||
		fail "no log line for the bad MAC: $(cat "$AGG_LOG")"
	expect_eq "$(jq -r '.agents["host-a"].final_received // false' \
		"$T/tlsforge.state/captures/$id/manifest.json")" false "a forged final recorded"
	expect_eq "$(jq -r .status "$T/tlsforge.state/captures/$id/manifest.json")" running \
		"the capture's status"
}

# A message under an agent id that never proves its key waits --key-wait-ms (a setting, 300 ms
# here; 5 s by default), then is dropped and counted.
test_key_wait_is_a_setting() {
	tls_agg tlskeywait --key-wait-ms 300
	cat "$PKI/host-b.pem" "$PKI/host-b.key" >"$T/host-b.both"
	forged_final 0123456789abcdef0123456789abcdef host-z 1 >"$T/waits.bin"
	in_agg "$EC_SPPEER" push --url "$DATA" --tls-ca "$PKI/ca.pem" \
		--tls-cert "$T/host-b.both" --server-name 127.0.0.1 \
		--send-file "$T/waits.bin" --seconds 1 >"$T/waits.out" 2>&1 ||
		fail "ec_sppeer: $(cat "$T/waits.out")"
	grep -q "^sent" "$T/waits.out" || fail "not sent: $(cat "$T/waits.out")"
	wait_until 2 grep -q "dropped a data message (unauthenticated): agent host-z did not prove its key within 300 ms" "$AGG_LOG" ||
		fail "not dropped after 300 ms: $(cat "$AGG_LOG")"
	# Shorter than binding a key can take: said at start.
	grep -q -- "--key-wait-ms 300 is shorter than binding an agent's key can take" "$AGG_LOG" ||
		fail "no warning of a key wait shorter than a binding: $(cat "$AGG_LOG")"
}

# push_files NAME FILE...: one connection with host-b's certificate sends each file as a
# message, in order.
push_files() {
	local name=$1 f args=()
	shift
	for f in "$@"; do args+=(--send-file "$f"); done
	in_agg "$EC_SPPEER" push --url "$DATA" --tls-ca "$PKI/ca.pem" \
		--tls-cert "$T/host-b.both" --server-name 127.0.0.1 "${args[@]}" --seconds 2 \
		>"$T/$name.out" 2>&1 || fail "ec_sppeer: $(cat "$T/$name.out")"
	expect_eq "$(grep -c "^sent" "$T/$name.out")" "$#" "messages $name sent"
}

# unauthenticated_drops: the aggregator's count of data messages dropped as unauthenticated.
unauthenticated_drops() {
	local url
	url=$(metrics_url "$AGG_LOG")
	in_agg curl -sf -m 5 "$url" | awk '/^edgecap_aggregator_ingest_dropped_messages_total\{cause="unauthenticated"\}/ {
		n += $NF } END { print n + 0 }'
}

# The waiting room's shares are settings of a real aggregator: with --key-wait-host-messages 2,
# a third message under one unproven id is dropped at once; with --key-wait-conn-messages 3, a
# fourth on one connection, each under an id of its own (the defaults, 64 and 1024, take them).
test_key_wait_shares_are_settings() {
	local id=0123456789abcdef0123456789abcdef i
	tls_agg tlsshares --key-wait-host-messages 2 --key-wait-conn-messages 3 --key-wait-ms 60000 \
		--metrics 127.0.0.1:0
	cat "$PKI/host-b.pem" "$PKI/host-b.key" >"$T/host-b.both"
	for i in 1 2 3; do forged_final "$id" host-z 1 >"$T/z$i.bin"; done
	push_files host "$T/z1.bin" "$T/z2.bin" "$T/z3.bin"
	wait_until 5 grep -q "dropped a data message (unauthenticated): agent host-z has not proven its key (and its host or connection has its share" "$AGG_LOG" ||
		fail "a third message of host-z waited: $(cat "$AGG_LOG")"
	expect_eq "$(unauthenticated_drops)" 1 "dropped after host-z's messages"
	for i in 1 2 3 4; do forged_final "$id" "host-y$i" 1 >"$T/y$i.bin"; done
	push_files conn "$T/y1.bin" "$T/y2.bin" "$T/y3.bin" "$T/y4.bin"
	wait_until 5 test "$(unauthenticated_drops)" = 2 ||
		fail "a fourth message on one connection waited: $(unauthenticated_drops) dropped"
	sleep 0.5
	expect_eq "$(unauthenticated_drops)" 2 "dropped after one connection's four messages"
}

# ... and by bytes: with --key-wait-host-bytes 64K, a second message of 40 KB under one id is
# dropped though each came on a connection of its own (a connection's first message is always
# taken); with --key-wait-conn-bytes 64K, a second on one connection under another id (an id's
# first message is always taken). The defaults, 1M and 4M, take them all.
test_key_wait_byte_shares_are_settings() {
	local id=0123456789abcdef0123456789abcdef
	tls_agg tlsbyteshares --key-wait-host-bytes 64K --key-wait-conn-bytes 64K \
		--key-wait-ms 60000 --metrics 127.0.0.1:0
	cat "$PKI/host-b.pem" "$PKI/host-b.key" >"$T/host-b.both"
	forged_final "$id" host-z 1 40000 >"$T/z.bin"
	push_files host1 "$T/z.bin"
	push_files host2 "$T/z.bin"
	wait_until 5 test "$(unauthenticated_drops)" = 1 ||
		fail "a second 40 KB of host-z waited: $(unauthenticated_drops) dropped"
	forged_final "$id" host-y1 1 40000 >"$T/y1.bin"
	forged_final "$id" host-y2 1 40000 >"$T/y2.bin"
	push_files conn "$T/y1.bin" "$T/y2.bin"
	wait_until 5 test "$(unauthenticated_drops)" = 2 ||
		fail "a second 40 KB on one connection waited: $(unauthenticated_drops) dropped"
	sleep 0.5
	expect_eq "$(unauthenticated_drops)" 2 "dropped in all"
}

# An agent with a certificate from another CA fails the handshake and never joins.
test_certificate_from_another_ca() {
	tls_agg tlsotherca
	tls_make_ca "$T/other"
	tls_make_cert "$T/other" host-a
	agent agent-x host-a "$T/other" host-a
	wait_until 10 grep -q "refused .* connection(s) at .*: TLS handshake failed" "$AGG_LOG" ||
		fail "no log line for the refused handshake: $(cat "$AGG_LOG")"
	sleep 1
	! grep -q "joined" "$AGG_LOG" || fail "the agent joined: $(cat "$AGG_LOG")"
}

# An agent whose certificate names host-b but claims host-a: refused, logged, counted.
test_certificate_of_another_host() {
	tls_agg tlswrongname
	agent agent-w host-a "$PKI" host-b
	wait_until 10 grep -q "refused a status_reply claiming host host-a: the certificate names host-b, not host-a" "$AGG_LOG" ||
		fail "no log line for the false claim: $(cat "$AGG_LOG")"
	! grep -q "joined" "$AGG_LOG" || fail "the agent joined: $(cat "$AGG_LOG")"
	grep -q "is not the name in --tls-cert" "$T/agent-w.err" ||
		fail "the agent did not warn: $(cat "$T/agent-w.err")"
}

# An agent whose certificate's CN is host-a and first DNS name host-b: it names nobody, whichever
# of the two it claims (DESIGN.md's "CN (or first DNS SAN)": a reader of either would take it for
# another host). Same CA: only the name is wrong.
test_certificate_of_two_names() {
	local h
	tls_agg tlstwonames
	mkdir -p "$T/two"
	cp "$PKI/ca.pem" "$PKI/ca.key" "$T/two/"
	tls_make_cert "$T/two" host-a "DNS:host-b"
	for h in host-a host-b; do
		agent "agent-$h" "$h" "$T/two" host-a
		wait_until 10 grep -q "refused a status_reply claiming host $h: the certificate \
names nobody (its CN and its first DNS subjectAltName differ), not $h" "$AGG_LOG" ||
			fail "no log line for the claim of $h: $(cat "$AGG_LOG")"
		grep -q "is not the name in --tls-cert $T/two/host-a.pem (it names nobody)" \
			"$T/agent-$h.err" || fail "agent $h did not warn: $(cat "$T/agent-$h.err")"
		# One agent at a time: both capture on lo.
		bg_stop "$BG_PID" || true
	done
	! grep -q "joined" "$AGG_LOG" || fail "an agent joined: $(cat "$AGG_LOG")"
}

# host-b is authenticated (its certificate, its signed proof, its session key) but declines the
# capture; the final message it then sends for it, with a MAC that verifies, is dropped as
# not_accepted, logged, and nothing of it is written: only host-a, which accepted, is in the
# capture's manifest and the capture goes on.
test_data_for_a_declined_capture_is_dropped() {
	local id
	tls_agg tlsdecline
	agent agent-a host-a "$PKI" host-a
	cat "$PKI/host-b.pem" "$PKI/host-b.key" >"$T/host-b.both"
	bg_start decliner "$TLS_NS" "$EC_SPPEER" decliner --url "$CTL" --data-url "$DATA" \
		--tls-ca "$PKI/ca.pem" --tls-cert "$T/host-b.both" --server-name 127.0.0.1 \
		--id-cert "$PKI/host-b.pem" --id-key "$PKI/host-b.key" --host-id host-b --seconds 30
	wait_until 15 grep -q "agent host-a .*joined" "$AGG_LOG" || fail "host-a never joined"
	wait_until 15 grep -q "agent host-b .*joined" "$AGG_LOG" ||
		fail "the decliner never joined: $(cat "$AGG_LOG" "$T/decliner.err")"
	id=$(post_capture)
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "no capture: $id"
	wait_until 10 grep -q "^declined $id" "$T/decliner.out" ||
		fail "the decliner saw no start: $(cat "$T/decliner.out" "$T/decliner.err")"
	wait_until 10 grep -q "^sent" "$T/decliner.out" ||
		fail "the decliner sent nothing: $(cat "$T/decliner.out" "$T/decliner.err")"
	wait_until 10 grep -qF "dropped a data message (not_accepted): agent host-b did not accept capture $id" "$AGG_LOG" ||
		fail "no log line for data of a declined capture: $(cat "$AGG_LOG")"
	! grep -q "dropped a data message (unauthenticated\|bad_mac)" "$AGG_LOG" ||
		fail "the decliner's message was not authenticated: $(cat "$AGG_LOG")"
	wait_until 10 jq -e '.status == "running"' "$T/tlsdecline.state/captures/$id/manifest.json" \
		>/dev/null || fail "the capture is not running: $(cat "$T/tlsdecline.state/captures/$id/manifest.json")"
	# The manifest keeps host-b's answer (declined) and nothing it sent.
	expect_eq "$(jq -c '.agents["host-b"]' "$T/tlsdecline.state/captures/$id/manifest.json")" \
		'{"colo":"","accepted":false,"reason":"declined by ec_sppeer"}' "host-b in the manifest"
}

# The wire protocol is still nanomsg's: a stock nanocat RESPONDENT hears the aggregator's
# status survey and its answer reaches the aggregator (which refuses it as not JSON).
test_nanocat_interop() {
	tls_ns_setup tlsnanocat
	agg_start -n "$TLS_NS" nanocat --control tcp://127.0.0.1:7101 --data tcp://127.0.0.1:7102 \
		--insecure-plaintext
	in_agg timeout 4 nanocat --respondent --connect tcp://127.0.0.1:7101 --data 'hello' \
		--ascii >"$T/nanocat.out" 2>&1 || true
	grep -q '"type":"status"' "$T/nanocat.out" ||
		fail "nanocat heard no status survey: $(cat "$T/nanocat.out")"
	wait_until 5 grep -q "refused a control reply: not JSON" "$AGG_LOG" ||
		fail "the aggregator never got nanocat's answer: $(cat "$AGG_LOG")"
}

# The agent checks the aggregator's name, not only its CA: an aggregator whose certificate is
# from the right CA but names another host (here an agent's certificate, host-b) gets no agent.
test_agent_refuses_an_aggregator_of_another_name() {
	tls_ns_setup tlsaggname
	PKI=$T/pki-aggname
	tls_make_ca "$PKI"
	tls_make_cert "$PKI" host-a
	tls_make_cert "$PKI" host-b
	# shellcheck disable=SC2046 # tls_flags: flags and paths without blanks
	agg_start -n "$TLS_NS" -s "$T/aggname.state" aggname --control "$CTL" --data "$DATA" \
		$(tls_flags "$PKI" host-b) --simple-interval 0 --grace 1
	agent agent-n host-a "$PKI" host-a
	sleep 4
	! grep -q "joined" "$AGG_LOG" || fail "the agent joined: $(cat "$AGG_LOG")"
	kill -0 "$BG_PID" || fail "the agent exited: $(cat "$T/agent-n.err")"
}

# ipc:// endpoints in a directory others may write: a local user binds the control socket first
# and, in the aggregator's place, has the agent start captures (a rogue nanocat surveyor did, on
# the code before the check). Both daemons now refuse such an endpoint at start, naming the
# directory and its mode, as they refuse one in a directory of another owner.
test_ipc_directory_must_be_private() {
	local open=$T/open rogue=ipc://$T/open/control start rogue_pid
	tls_ns_setup tlsipc
	mkdir "$open" && chmod 0777 "$open"
	start='{"version": [1, 0], "type": "start", "id": 7, "capture_id":
		"00112233445566778899aabbccddeeff", "request": {"filter_v1": {}, "time_limit": 5,
		"type": "simple", "system": "magic-transit", "packet_limit": 5}}'
	bg_start rogue - timeout 6 nanocat --surveyor --bind "$rogue" --interval 0.3 --ascii \
		--data "$start"
	rogue_pid=$BG_PID
	wait_until 5 test -S "$open/control" || fail "the rogue surveyor did not bind"
	expect_usage "--control $rogue: its directory $open has mode 0777: group or others" \
		ip netns exec "$TLS_NS" "$EC_AGENT" --interface lo --host-id victim --control "$rogue" \
		--data "ipc://$open/data" --local-socket "$T/victim.sock"
	api_secret "$EC_API_ACCOUNT"
	expect_usage "--control ipc://$open/c: its directory $open has mode 0777" \
		"$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/ipc.state" \
		--credentials "$EC_CRED_FILE" --control "ipc://$open/c" --data "ipc://$open/d"
	[ ! -e "$open/c" ] && [ ! -e "$open/d" ] || fail "the aggregator bound in $open"
	# Private but another user's: its owner could do the same.
	chmod 0700 "$open"
	chown 65534:65534 "$open"
	expect_usage "--data ipc://$open/d: its directory $open is owned by uid 65534" \
		"$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/ipc.state" \
		--credentials "$EC_CRED_FILE" --control "ipc://$T/c" --data "ipc://$open/d"
	bg_wait "$rogue_pid" || true
	! grep -q start_reply "$T/rogue.out" || fail "the agent answered the rogue: $(cat "$T/rogue.out")"
	# The directory mktemp made (0700, ours) is fine.
	agg_start -n "$TLS_NS" ipcok --control "ipc://$T/c" --data "ipc://$T/d"
}

for t in test_plain_tcp_needs_the_flag test_tls_needs_all_three_files \
	test_unreadable_certificate_is_named test_insecure_plaintext_flag_allows_tcp \
	test_rogue_respondent_without_certificate test_push_without_certificate \
	test_forged_data_under_another_host test_certificate_from_another_ca \
	test_certificate_of_another_host test_data_for_a_declined_capture_is_dropped \
	test_nanocat_interop; do
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$t" ] || continue
	run_test "$t"
done
# Tests added after the list above, kept apart from it.
for t in test_agent_refuses_an_aggregator_of_another_name test_ipc_directory_must_be_private \
	test_key_wait_is_a_setting test_key_wait_shares_are_settings \
	test_key_wait_byte_shares_are_settings test_certificate_of_two_names; do
	[ -z "${EC_ONLY:-}" ] || [ "$EC_ONLY" = "$t" ] || continue
	run_test "$t"
done
summary
