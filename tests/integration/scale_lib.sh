# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
#
# scale_lib.sh: one real aggregator and ec_agentsim's simulated agents, for test_scale.sh and
# tests/bench/bench_scale.sh (source lib.sh first). The aggregator and the simulators run in
# this namespace over ipc://, or in a namespace of the run over tls+tcp:// on 127.0.0.1.

EC_AGENTSIM=${EC_AGENTSIM:-$EC_BUILD_DIR/tests/tools/ec_agentsim}
SCALE_ACCOUNT=023e105f4ecef8ad9ca31a8372d0c353
# shellcheck disable=SC2034 # agg_start reads it
EC_API_ACCOUNT=$SCALE_ACCOUNT
SIM_PIDS=()

# Descriptors: each agent holds about two at each end. As root the hard limit may rise to
# fs.nr_open; the daemons started from here inherit it.
scale_raise_nofile() {
	local want=${1:-262144} max
	max=$(cat /proc/sys/fs/nr_open)
	[ "$want" -le "$max" ] || want=$max
	ulimit -Hn "$want" 2>/dev/null || true
	ulimit -Sn "$(ulimit -Hn)"
}

# scale_setup ipc|tls: SCALE_NS ("-" or a namespace), CTL_URL, DATA_URL, STATE, and for tls a
# CA and the aggregator's certificate in PKI (the agents' come from scale_certs).
scale_setup() {
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	SCALE_MODE=$1
	SCALE_TLS=()
	if [ "$1" = ipc ]; then
		SCALE_NS=-
		CTL_URL="ipc://$EC_TMPDIR/control.sock"
		DATA_URL="ipc://$EC_TMPDIR/data.sock"
		return 0
	fi
	tls_ns_setup scale
	SCALE_NS=$TLS_NS
	PKI=$EC_TMPDIR/pki
	tls_make_ca "$PKI"
	tls_make_cert "$PKI" aggregator "DNS:127.0.0.1,IP:127.0.0.1"
	CTL_URL="tls+tcp://127.0.0.1:7101"
	DATA_URL="tls+tcp://127.0.0.1:7102"
	# shellcheck disable=SC2207 # flags and paths without blanks
	SCALE_TLS=($(tls_flags "$PKI" aggregator))
}

# scale_certs PREFIX N: a certificate per simulated host PREFIX-0..N-1 in PKI (PREFIX-i.pem, CN
# PREFIX-i, signed by PKI's CA), one openssl process each, two at a time. The hosts share one
# P-256 key (PREFIX-i.key links to it): what is checked per reply is each one's certificate and
# signature, and a key each would double the time to make thousands.
scale_certs() {
	local prefix=$1 n=$2
	printf '[req]\ndistinguished_name = dn\nx509_extensions = ee\nprompt = no\n[dn]\n[ee]\nbasicConstraints = critical,CA:FALSE\n' \
		>"$PKI/ee.cnf"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
		-out "$PKI/$prefix-shared.key" 2>>"$PKI/openssl.log" ||
		fail "cannot make a key in $PKI: $(cat "$PKI/openssl.log")"
	# shellcheck disable=SC2016 # expanded by sh -c, from its arguments
	seq 0 $((n - 1)) | xargs -P 2 -I{} sh -c '
		ln -sf "$1-shared.key" "$2/$1-$3.key" &&
		openssl req -config "$2/ee.cnf" -new -x509 -key "$2/$1-shared.key" -CA "$2/ca.pem" \
			-CAkey "$2/ca.key" -subj "/CN=$1-$3" -days 2 -set_serial $((100000 + $3)) \
			-out "$2/$1-$3.pem" 2>/dev/null' sh "$prefix" "$PKI" {} ||
		fail "cannot make $n certificates in $PKI"
}

# scale_agg [FLAGS...]: the aggregator (AGG_PID, API).
scale_agg() {
	agg_start -n "$SCALE_NS" -s "$STATE" agg --control "$CTL_URL" --data "$DATA_URL" \
		"${SCALE_TLS[@]}" --simple-interval 0 --max-full 0 --grace 3 "$@"
	API=$AGG_URL
}

# scale_sim NAME PREFIX N [FLAGS...]: ec_agentsim as N hosts PREFIX-0.. (SIM_PIDS).
scale_sim() {
	local name=$1 prefix=$2 n=$3 tls=()
	shift 3
	[ "$SCALE_MODE" = ipc ] || tls=(--tls-ca "$PKI/ca.pem" --cert-dir "$PKI")
	bg_start "$name" "$SCALE_NS" "$EC_AGENTSIM" --control "$CTL_URL" --data "$DATA_URL" \
		--agents "$n" --prefix "$prefix" "${tls[@]}" "$@"
	SIM_PIDS+=("$BG_PID")
}

api() {
	local ns=()
	[ "$SCALE_NS" = - ] || ns=(ip netns exec "$SCALE_NS")
	"${ns[@]}" curl -s -X "$1" "$API/client/v4/accounts/$SCALE_ACCOUNT/pcaps$2" \
		-H 'Content-Type: application/json' -H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" ${3:+--data "$3"}
}

# agents_connected: how many agents GET /pcaps/agents lists as connected.
agents_connected() {
	api GET /agents | jq '[.result[] | select(.connected)] | length'
}

# _agents_at_least N
_agents_at_least() {
	[ "$(agents_connected)" -ge "$1" ]
}

# rss_kb PID [VmRSS|VmHWM]: resident memory of PID in KiB.
rss_kb() {
	awk -v k="${2:-VmRSS}:" '$1 == k {print $2}' "/proc/$1/status"
}

# cpu_ticks PID: user + system clock ticks PID has used.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# scale_capture PACKETS SECONDS: posts a simple capture; prints its id.
scale_capture() {
	local out
	out=$(api POST "" "{\"filter_v1\": {}, \"time_limit\": $2, \"packet_limit\": $1,
		\"type\": \"simple\", \"system\": \"magic-transit\"}")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	jq -r .result.id <<<"$out"
}

_capture_done() {
	local st
	st=$(api GET "/$1" | jq -r .result.status)
	[ "$st" = success ] || [ "$st" = failed ]
}

# check_merged ID PACKETS MIN_HOSTS: the capture succeeded, its pcap holds exactly PACKETS
# packets in timestamp order, from at least MIN_HOSTS hosts (source addresses); MERGED says
# "packets P hosts H". Not in $(...): fail must end the test.
check_merged() {
	local id=$1 pcap=$STATE/captures/$1/capture.pcap st lines hosts
	st=$(api GET "/$id" | jq -r .result.status)
	[ "$st" = success ] || fail "capture $id: status $st: $(cat "$STATE/captures/$id/manifest.json")"
	tcpdump -tt -nn -r "$pcap" 2>/dev/null >"$EC_TMPDIR/$id.txt" || fail "tcpdump cannot read $pcap"
	lines=$(wc -l <"$EC_TMPDIR/$id.txt")
	expect_eq "$lines" "$2" "packets in the merged pcap"
	# Timestamp order: the first column, as numbers, never goes back.
	awk 'NR > 1 && $1 < prev {bad++} {prev = $1} END {exit bad > 0}' "$EC_TMPDIR/$id.txt" ||
		fail "the merged pcap is not in timestamp order"
	hosts=$(awk '{split($3, a, "."); print a[1] "." a[2] "." a[3] "." a[4]}' \
		"$EC_TMPDIR/$id.txt" | sort -u | wc -l)
	[ "$hosts" -ge "$3" ] || fail "packets from $hosts hosts, want at least $3"
	# shellcheck disable=SC2034 # for the caller
	MERGED="packets $lines hosts $hosts"
}
