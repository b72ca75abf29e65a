#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_https.sh: the API over HTTPS (--http-tls-cert, --http-tls-key) on the real
# edgecap-aggregator on 127.0.0.1, with a CA and certificates made for the run:
#  - the seeds' requests (https://, only the host changed) and edgecapctl work against it, given
#    the CA (curl --cacert, edgecapctl --aggregator-ca or EDGECAP_AGGREGATOR_CA);
#  - what is refused: plain HTTP on its port, a client that does not trust the CA (edgecapctl
#    says how to give one), TLS below 1.2;
#  - what stops a start (exit 2, the message naming the flag and the file): one flag without the
#    other, a key that others may read, a key that is not the certificate's, an encrypted key, a
#    file that is not PEM; and a certificate past its notAfter starts with a warning;
#  - SIGHUP renews the certificate without a restart, and a bad pair keeps the one served;
#  - edgecapctl's --aggregator-ca replaces the system's CAs (a mount namespace stands in for a
#    system store that trusts the API's certificate), and a bad CA file is a usage error.
# test_api.sh runs the seeds' status, list, stop and download commands over HTTPS as well.
#
# Needs no agents (--no-agents); root only for the mount namespace.

# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_tools curl jq openssl timeout promtool
require_bin "$EC_AGGREGATOR" "$EC_EDGECAPCTL"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
unset EDGECAP_AGGREGATOR EDGECAP_AGGREGATOR_CA EDGECAP_ACCOUNT EDGECAP_AUTH_EMAIL \
	EDGECAP_AUTH_KEY EDGECAP_API_TOKEN

T=$EC_TMPDIR
PKI=$T/pki
account_id=023e105f4ecef8ad9ca31a8372d0c353
EC_API_ACCOUNT=$account_id

# pki: a CA and the API's certificate for 127.0.0.1 and localhost (made once per run).
pki() {
	[ -s "$PKI/api.pem" ] && return 0
	tls_make_ca "$PKI"
	tls_make_cert "$PKI" api "IP:127.0.0.1,DNS:localhost"
	chmod 0600 "$PKI/api.key"
}

# start_https NAME [FLAGS...]: an aggregator serving the API over HTTPS only.
start_https() {
	pki
	agg_start "$1" --no-agents --http-tls-cert "$PKI/api.pem" --http-tls-key "$PKI/api.key" \
		"${@:2}"
	[[ $AGG_URL == https://127.0.0.1:* ]] || fail "not served over https: $AGG_URL"
}

# refused_start WANT FLAGS...: the aggregator exits 2 at start with FLAGS, and its error has the
# fixed string WANT; nothing is left listening.
refused_start() {
	local want=$1 rc=0
	shift
	timeout 5 "$EC_AGGREGATOR" --http 127.0.0.1:0 --state-dir "$T/refused.state" --no-agents \
		--credentials "$EC_CRED_FILE" "$@" >"$T/refused.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "$*: exit $rc, want 2: $(cat "$T/refused.out")"
	grep -qF -- "$want" "$T/refused.out" ||
		fail "$*: want \"$want\" in: $(cat "$T/refused.out")"
	grep -q "listening on" "$T/refused.out" && fail "$*: it served: $(cat "$T/refused.out")"
	return 0
}

test_seed_request_over_https() {
	local id
	start_https seed
	# The seeds' example request, as published but for the host (and curl's --cacert).
	curl -sS --cacert "$PKI/ca.pem" -o "$T/body" -X POST \
		"${AGG_URL}/client/v4/accounts/${account_id}/pcaps" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" \
		--data '{
	        "filter_v1": {"destination_port": 80, "protocol": 6},
	        "time_limit": 300,
	        "packet_limit": 10000,
	        "type": "simple",
	        "system": "magic-transit"
	}' || fail "POST over https failed"
	jq -e '.success == true' "$T/body" >/dev/null || fail "POST: $(cat "$T/body")"
	id=$(jq -r .result.id "$T/body")
	# edgecapctl: the CA from the flag, and from the environment.
	EDGECAP_AGGREGATOR=$AGG_URL EDGECAP_ACCOUNT=$account_id "$EC_EDGECAPCTL" status "$id" \
		--aggregator-ca "$PKI/ca.pem" >"$T/status.json" 2>"$T/ctl.err" ||
		fail "edgecapctl status --aggregator-ca: $(cat "$T/ctl.err")"
	expect_eq "$(jq -r .id "$T/status.json")" "$id" "edgecapctl status over https"
	EDGECAP_AGGREGATOR_CA=$PKI/ca.pem EDGECAP_ACCOUNT=$account_id "$EC_EDGECAPCTL" list \
		--aggregator "${AGG_URL/127.0.0.1/localhost}" --json >"$T/list.json" 2>"$T/ctl.err" ||
		fail "edgecapctl list with EDGECAP_AGGREGATOR_CA: $(cat "$T/ctl.err")"
	expect_eq "$(jq -r '.[0].id' "$T/list.json")" "$id" "edgecapctl list over https"
}

test_what_https_refuses() {
	local rc
	start_https refuse
	# Plain HTTP on the HTTPS port: no HTTP answer at all (curl: empty reply).
	rc=0
	curl -sS -m 5 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$AGG_PORT/healthz" \
		>"$T/code" 2>"$T/curl.err" || rc=$?
	[ "$rc" != 0 ] || fail "plain HTTP answered $(cat "$T/code"): $(cat "$T/body")"
	log "plain http: curl exit $rc: $(cat "$T/curl.err")"
	# A client that does not trust the CA: curl's verification fails (60).
	rc=0
	curl -sS -m 5 -o /dev/null "$AGG_URL/healthz" 2>"$T/curl.err" || rc=$?
	expect_eq "$rc" 60 "curl without the CA (exit 60: the peer's certificate not verified)"
	# TLS 1.1 and below are not offered. (curl's OpenSSL refuses them itself at its default
	# security level: level 0 makes it offer them, so that only the server can say no.)
	rc=0
	curl -sS -m 5 --cacert "$PKI/ca.pem" --tlsv1.0 --tls-max 1.1 \
		--ciphers 'DEFAULT:@SECLEVEL=0' -o /dev/null "$AGG_URL/healthz" 2>"$T/curl.err" ||
		rc=$?
	expect_eq "$rc" 35 "curl offering TLS 1.0 and 1.1 only (35: the handshake failed)"
	log "TLS 1.1: curl exit $rc: $(cat "$T/curl.err")"
	for v in 1.2 1.3; do
		curl -sS -m 5 --cacert "$PKI/ca.pem" "--tlsv$v" --tls-max "$v" -o /dev/null \
			"$AGG_URL/healthz" 2>"$T/curl.err" || fail "TLS $v refused: $(cat "$T/curl.err")"
	done
	# edgecapctl without the CA: it fails, and says where a CA of one's own goes.
	rc=0
	EDGECAP_ACCOUNT=$account_id "$EC_EDGECAPCTL" list --aggregator "$AGG_URL" \
		>/dev/null 2>"$T/ctl.err" || rc=$?
	expect_eq "$rc" 1 "edgecapctl list without the CA"
	grep -qF -- "--aggregator-ca FILE or \$EDGECAP_AGGREGATOR_CA" "$T/ctl.err" ||
		fail "edgecapctl's error does not say how to give the CA: $(cat "$T/ctl.err")"
	# ... and an http:// URL for an https:// API: it asks whether it serves https://.
	rc=0
	EDGECAP_ACCOUNT=$account_id "$EC_EDGECAPCTL" list --aggregator "http://127.0.0.1:$AGG_PORT" \
		>/dev/null 2>"$T/ctl.err" || rc=$?
	expect_eq "$rc" 1 "edgecapctl list over http://"
	grep -qF "does it serve https://?" "$T/ctl.err" ||
		fail "edgecapctl's error for http:// on https: $(cat "$T/ctl.err")"
	# A CA file that is not there is a usage error.
	rc=0
	"$EC_EDGECAPCTL" list --aggregator "$AGG_URL" --aggregator-ca "$T/nope.pem" \
		>/dev/null 2>"$T/ctl.err" || rc=$?
	expect_eq "$rc" 2 "edgecapctl --aggregator-ca of a missing file"
	grep -qF "invalid --aggregator-ca '$T/nope.pem': No such file or directory" "$T/ctl.err" ||
		fail "message: $(cat "$T/ctl.err")"
	# So is a directory, or a file with no PEM certificate in it, before any request.
	ca_usage_error "$PKI" "not a regular file (a directory)"
	ca_usage_error "$PKI/api.key" "not a PEM file of CA certificates"
	# Given without --aggregator, it is still meant for the aggregator, not the local agent.
	rc=0
	"$EC_EDGECAPCTL" list --aggregator-ca "$PKI/ca.pem" >/dev/null 2>"$T/ctl.err" || rc=$?
	expect_eq "$rc" 2 "edgecapctl list --aggregator-ca without --aggregator"
	grep -qF "missing option" "$T/ctl.err" || fail "message: $(cat "$T/ctl.err")"
	# With an http:// URL there is no certificate to check, and edgecapctl says so.
	EDGECAP_ACCOUNT=$account_id "$EC_EDGECAPCTL" list --aggregator "http://127.0.0.1:$AGG_PORT" \
		--aggregator-ca "$PKI/ca.pem" >/dev/null 2>"$T/ctl.err" || true
	grep -qF "is not an https:// URL, so no certificate is checked" "$T/ctl.err" ||
		fail "no warning for http://: $(cat "$T/ctl.err")"
}

test_bad_certificate_or_key_stops_the_start() {
	local k=$PKI/api.key c=$PKI/api.pem
	pki
	api_secret "$EC_API_ACCOUNT" "$EC_API_EMAIL"
	refused_start "--http-tls-cert $c: HTTPS needs --http-tls-key too" --http-tls-cert "$c"
	refused_start "--http-tls-key $k: HTTPS needs --http-tls-cert too" --http-tls-key "$k"
	# The config file's keys are checked the same way.
	printf 'http-tls-cert = %s\n' "$c" >"$T/https.conf"
	refused_start "--http-tls-cert $c: HTTPS needs --http-tls-key too" --config "$T/https.conf"
	cp "$k" "$T/open.key"
	chmod 0644 "$T/open.key"
	refused_start "--http-tls-key $T/open.key: mode 0644 lets others read it" \
		--http-tls-cert "$c" --http-tls-key "$T/open.key"
	tls_make_cert "$PKI" other
	chmod 0600 "$PKI/other.key"
	refused_start "--http-tls-key $PKI/other.key is not the key of the certificate in --http-tls-cert $c" \
		--http-tls-cert "$c" --http-tls-key "$PKI/other.key"
	openssl pkey -in "$k" -aes256 -passout pass:secret -out "$T/enc.key" 2>"$T/openssl.err" ||
		fail "openssl: $(cat "$T/openssl.err")"
	chmod 0600 "$T/enc.key"
	refused_start "--http-tls-key $T/enc.key: the key is encrypted" \
		--http-tls-cert "$c" --http-tls-key "$T/enc.key"
	refused_start "--http-tls-cert $k: not a PEM certificate" \
		--http-tls-cert "$k" --http-tls-key "$k"
	refused_start "--http-tls-cert $T/missing.pem: No such file or directory" \
		--http-tls-cert "$T/missing.pem" --http-tls-key "$k"
	# A FIFO (which an open or a read would wait on for ever) and a directory: refused at once.
	mkfifo -m 0600 "$T/fifo"
	refused_start "--http-tls-cert $T/fifo: not a regular file (a FIFO)" \
		--http-tls-cert "$T/fifo" --http-tls-key "$k"
	refused_start "--http-tls-key $T/fifo: not a regular file (a FIFO)" \
		--http-tls-cert "$c" --http-tls-key "$T/fifo"
	refused_start "--http-tls-cert $PKI: not a regular file (a directory)" \
		--http-tls-cert "$PKI" --http-tls-key "$k"
	# A pair OpenSSL reads but GnuTLS, which serves the API, cannot use (secp256k1).
	if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp256k1 -nodes -subj /CN=k1 \
		-keyout "$PKI/k1.key" -out "$PKI/k1.csr" >"$T/openssl.err" 2>&1 ||
		! openssl x509 -req -in "$PKI/k1.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
			-CAcreateserial -days 2 -out "$PKI/k1.pem" >>"$T/openssl.err" 2>&1; then
		fail "openssl: $(cat "$T/openssl.err")"
	fi
	chmod 0600 "$PKI/k1.key"
	refused_start "--http-tls-cert $PKI/k1.pem: The curve is unsupported" \
		--http-tls-cert "$PKI/k1.pem" --http-tls-key "$PKI/k1.key"
	[ ! -e "$T/refused.state" ] || fail "a refused start made its state directory"
}

test_expired_certificate_starts_with_a_warning() {
	local rc
	pki
	# notAfter = now: past it a second later.
	openssl x509 -req -in "$PKI/api.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
		-CAcreateserial -days 0 -extfile "$PKI/api.ext" -out "$PKI/old.pem" \
		>"$T/openssl.err" 2>&1 || fail "openssl: $(cat "$T/openssl.err")"
	sleep 1.1
	agg_start old --no-agents --http-tls-cert "$PKI/old.pem" --http-tls-key "$PKI/api.key"
	grep -qF -- "--http-tls-cert $PKI/old.pem: the certificate expired" "$AGG_LOG" ||
		fail "no warning: $(cat "$AGG_LOG")"
	rc=0
	curl -sS -m 5 --cacert "$PKI/ca.pem" -o /dev/null "$AGG_URL/healthz" 2>"$T/curl.err" ||
		rc=$?
	expect_eq "$rc" 60 "curl against the expired certificate (60: not verified)"
	grep -q "expired" "$T/curl.err" || fail "curl's reason: $(cat "$T/curl.err")"
}

# ca_usage_error FILE TEXT: edgecapctl list --aggregator-ca FILE is a usage error (2) saying TEXT.
ca_usage_error() {
	local rc=0
	"$EC_EDGECAPCTL" list --aggregator "$AGG_URL" --aggregator-ca "$1" >/dev/null \
		2>"$T/ctl.err" || rc=$?
	expect_eq "$rc" 2 "edgecapctl --aggregator-ca $1"
	grep -qF "invalid --aggregator-ca '$1': $2" "$T/ctl.err" ||
		fail "message: $(cat "$T/ctl.err")"
}

# --aggregator-ca replaces the system's CAs, it does not add to them: in a mount namespace whose
# /etc/ssl/certs trusts the run's CA (as a public CA would be trusted), edgecapctl without the
# flag is let in, and with a CA that did not sign the API's certificate it is not.
test_aggregator_ca_replaces_the_system_cas() {
	local sys=$T/system-certs rc
	require_root
	[ -d /etc/ssl/certs ] || fail "no /etc/ssl/certs to stand in for"
	start_https sysca
	# Another CA, of another name (a CA of the same name would be tried, and fail, first).
	mkdir -p "$T/otherca"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=edgecap other CA $EC_RUN_ID" -keyout "$T/otherca/ca.key" \
		-out "$T/otherca/ca.pem" >"$T/openssl.err" 2>&1 || fail "openssl: $(cat "$T/openssl.err")"
	mkdir -p "$sys"
	cp "$PKI/ca.pem" "$sys/run-ca.pem"
	cp "$PKI/ca.pem" "$sys/ca-certificates.crt"
	openssl rehash "$sys" >/dev/null 2>&1 || fail "openssl rehash $sys"
	# in_sys_ns CMD...: CMD with $sys over /etc/ssl/certs, seen by CMD alone.
	# shellcheck disable=SC2016 # the inner script's own arguments
	in_sys_ns() {
		unshare -m bash -c 'mount --bind "$1" /etc/ssl/certs && shift && exec "$@"' _ \
			"$sys" "$@"
	}
	in_sys_ns env EDGECAP_ACCOUNT="$account_id" "$EC_EDGECAPCTL" list \
		--aggregator "$AGG_URL" >/dev/null 2>"$T/ctl.err" ||
		fail "the system's CAs (the run's CA) were not trusted: $(cat "$T/ctl.err")"
	rc=0
	in_sys_ns env EDGECAP_ACCOUNT="$account_id" "$EC_EDGECAPCTL" list \
		--aggregator "$AGG_URL" --aggregator-ca "$T/otherca/ca.pem" >/dev/null \
		2>"$T/ctl.err" || rc=$?
	expect_eq "$rc" 1 "edgecapctl with another CA, the system's trusting the API"
	grep -qF "SSL certificate problem" "$T/ctl.err" || fail "reason: $(cat "$T/ctl.err")"
}

# served_serial: the serial of the certificate the API serves now.
served_serial() {
	openssl s_client -connect "127.0.0.1:$AGG_PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}

# Renewal without a restart: new files at the same paths and a SIGHUP; new connections get the
# new certificate. A pair that does not match keeps the one served, and says so.
test_sighup_renews_the_certificate() {
	local cur=$T/cur
	pki
	tls_make_cert "$PKI" api2 "IP:127.0.0.1"
	chmod 0600 "$PKI/api2.key"
	# Valid a day longer than the first: the metric must tell them apart.
	openssl x509 -req -in "$PKI/api2.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
		-CAcreateserial -days 3 -extfile "$PKI/api2.ext" -out "$PKI/api2.pem" \
		>"$T/openssl.err" 2>&1 || fail "openssl: $(cat "$T/openssl.err")"
	install -m 0644 "$PKI/api.pem" "$cur.pem"
	install -m 0600 "$PKI/api.key" "$cur.key"
	agg_start renew --no-agents --http-tls-cert "$cur.pem" --http-tls-key "$cur.key" \
		--metrics 127.0.0.1:0
	expect_eq "$(served_serial)" "$(openssl x509 -in "$PKI/api.pem" -noout -serial)" \
		"the certificate served at start"
	expect_not_after "$PKI/api.pem"
	# As a renewal tool does it: each file written beside, then renamed over.
	install -m 0644 "$PKI/api2.pem" "$cur.pem.new" && mv "$cur.pem.new" "$cur.pem"
	install -m 0600 "$PKI/api2.key" "$cur.key.new" && mv "$cur.key.new" "$cur.key"
	kill -HUP "$AGG_PID"
	expect_log_line "SIGHUP: reloaded --http-tls-cert $cur.pem and --http-tls-key $cur.key"
	expect_eq "$(served_serial)" "$(openssl x509 -in "$PKI/api2.pem" -noout -serial)" \
		"the certificate served after SIGHUP"
	expect_not_after "$PKI/api2.pem"
	curl -sS -m 5 --cacert "$PKI/ca.pem" -o /dev/null "$AGG_URL/healthz" 2>"$T/curl.err" ||
		fail "the renewed certificate: $(cat "$T/curl.err")"
	# The same files again: nothing to do.
	kill -HUP "$AGG_PID"
	expect_log_line "SIGHUP: --http-tls-cert and --http-tls-key unchanged"
	# Back to the first pair: the one kept from before serves again (no new copy).
	install -m 0644 "$PKI/api.pem" "$cur.pem"
	install -m 0600 "$PKI/api.key" "$cur.key"
	kill -HUP "$AGG_PID"
	expect_log_line "(a pair served before)"
	expect_eq "$(served_serial)" "$(openssl x509 -in "$PKI/api.pem" -noout -serial)" \
		"the first certificate served again"
	install -m 0644 "$PKI/api2.pem" "$cur.pem"
	install -m 0600 "$PKI/api2.key" "$cur.key"
	kill -HUP "$AGG_PID"
	wait_until 5 log_has_n 2 "(a pair served before)" ||
		fail "the second pair was not taken from before: $(cat "$AGG_LOG")"
	expect_eq "$(served_serial)" "$(openssl x509 -in "$PKI/api2.pem" -noout -serial)" \
		"the second certificate served again"
	# The old key beside the new certificate: refused, the pair served stays.
	install -m 0600 "$PKI/api.key" "$cur.key"
	kill -HUP "$AGG_PID"
	expect_log_line "SIGHUP: keeping the API's certificate and key: --http-tls-key $cur.key is not the key of the certificate"
	expect_eq "$(served_serial)" "$(openssl x509 -in "$PKI/api2.pem" -noout -serial)" \
		"the certificate served after a bad pair"
	curl -sS -m 5 --cacert "$PKI/ca.pem" -o /dev/null "$AGG_URL/healthz" 2>"$T/curl.err" ||
		fail "after a bad pair: $(cat "$T/curl.err")"
}

# A certificate from an intermediate CA: the file holds the certificate, then the intermediate,
# and both are served (a client that trusts only the root verifies). A chain out of order (the
# root where the intermediate should be) is refused at start, saying so.
test_chain_with_an_intermediate() {
	local d=$T/chain
	pki
	mkdir -p "$d"
	printf 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\n' \
		>"$d/int.ext"
	printf 'subjectAltName = IP:127.0.0.1\n' >"$d/leaf.ext"
	if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=edgecap test intermediate $EC_RUN_ID" -keyout "$d/int.key" \
		-out "$d/int.csr" >"$T/openssl.err" 2>&1 ||
		! openssl x509 -req -in "$d/int.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
			-CAcreateserial -days 2 -extfile "$d/int.ext" -out "$d/int.pem" \
			>>"$T/openssl.err" 2>&1 ||
		! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj /CN=api-leaf -keyout "$d/leaf.key" -out "$d/leaf.csr" \
			>>"$T/openssl.err" 2>&1 ||
		! openssl x509 -req -in "$d/leaf.csr" -CA "$d/int.pem" -CAkey "$d/int.key" \
			-CAcreateserial -days 2 -extfile "$d/leaf.ext" -out "$d/leaf.pem" \
			>>"$T/openssl.err" 2>&1; then
		fail "openssl: $(cat "$T/openssl.err")"
	fi
	chmod 0600 "$d/leaf.key"
	cat "$d/leaf.pem" "$d/int.pem" >"$d/chain.pem"
	cat "$d/leaf.pem" "$PKI/ca.pem" >"$d/unordered.pem"
	api_secret "$EC_API_ACCOUNT" "$EC_API_EMAIL"
	refused_start "--http-tls-cert $d/unordered.pem: the chain is out of order" \
		--http-tls-cert "$d/unordered.pem" --http-tls-key "$d/leaf.key"
	agg_start chain --no-agents --http-tls-cert "$d/chain.pem" --http-tls-key "$d/leaf.key"
	curl -sS -m 5 --cacert "$PKI/ca.pem" -o /dev/null "$AGG_URL/healthz" 2>"$T/curl.err" ||
		fail "the root CA does not verify the chain served: $(cat "$T/curl.err")"
	expect_eq "$(openssl s_client -connect "127.0.0.1:$AGG_PORT" -showcerts </dev/null 2>/dev/null |
		grep -c 'BEGIN CERTIFICATE')" 2 "certificates served"
}

# expect_not_after PEM: the metrics say the API's certificate expires when PEM's does, on a page
# promtool accepts.
expect_not_after() {
	local url want
	url=$(metrics_url "$AGG_LOG")
	[ -n "$url" ] || fail "the aggregator logged no metrics address"
	curl -sf -m 5 "$url" >"$T/metrics" || fail "cannot scrape $url"
	promtool check metrics <"$T/metrics" >"$T/lint" 2>&1 ||
		fail "promtool check metrics: $(cat "$T/lint")"
	want=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
	expect_eq "$(awk '$1 == "edgecap_aggregator_api_tls_not_after_seconds" { print $2 }' \
		"$T/metrics")" "$want" "edgecap_aggregator_api_tls_not_after_seconds ($1)"
}

# log_has_n N TEXT: the aggregator's log has N lines with the fixed string TEXT.
log_has_n() { [ "$(grep -cF -- "$2" "$AGG_LOG")" = "$1" ]; }

# expect_log_line TEXT: the aggregator logs the fixed string TEXT within 5 s.
expect_log_line() {
	wait_until 5 grep -qF -- "$1" "$AGG_LOG" || fail "log lacks \"$1\": $(cat "$AGG_LOG")"
}

run_test test_seed_request_over_https
run_test test_sighup_renews_the_certificate
run_test test_chain_with_an_intermediate
run_test test_what_https_refuses
run_test test_aggregator_ca_replaces_the_system_cas
run_test test_bad_certificate_or_key_stops_the_start
run_test test_expired_certificate_starts_with_a_warning
summary
