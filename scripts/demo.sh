#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The demo, in two parts, in network namespaces it makes (documentation addresses only).
#
# 1. The fleet, the main job. An edgecap-aggregator in a namespace of its own, bridged to three
#    edge hosts in two colos (host-a and host-b in ord01, host-c in sjc01), each a namespace
#    with an edgecap-agent and a veth to a sender namespace. The agents dial the aggregator over
#    mutual TLS, with a CA and certificates the demo makes with the openssl CLI, and the API
#    takes a credential the demo makes with `edgecapctl credential`. Then the seeds' curl
#    commands (../shared/seeds, docs/pcaps-api.md), with the host, the credential and the filter
#    changed to the demo's own: a simple capture across all hosts while each sends numbered UDP
#    datagrams, its status moving to success, its pcap downloaded and read with tcpdump; then a
#    full capture in colo ORD into a directory beneath the aggregator's --destination-root,
#    which only the ORD hosts write.
# 2. The local capture, shorter: `edgecapctl capture` in the kernel of one edge host, no daemon.
#
#     sudo bash scripts/demo.sh
#
# Needs root (namespaces, XDP). Builds what it runs when the build directory (EC_BUILD_DIR,
# default build) lacks it, installing the build's dependencies (scripts/setup-deps.sh) first
# when there is no build yet or a tool is missing. Everything it makes (namespaces, processes, keys, state) is removed on every
# way out, Ctrl-C and failures included; only the two pcaps are kept, in the build directory.
# Exits 0 when every step did what it shows.

# Functions called through wait_for, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

if [ "$(id -u)" != 0 ]; then
	echo "scripts/demo.sh: namespaces and XDP need root: sudo bash $0" >&2
	exit 1
fi
build=${EC_BUILD_DIR:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
# The dependencies when nothing was built yet, or a tool the demo runs is missing.
deps=
[ -f "$build/CMakeCache.txt" ] || deps=1
for tool in cmake ip jq curl tcpdump openssl setsid; do
	command -v "$tool" >/dev/null || deps=1
done
[ -z "$deps" ] || bash scripts/setup-deps.sh
[ -f "$build/CMakeCache.txt" ] ||
	cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target edgecapctl edgecap-agent edgecap-aggregator \
	ec_traffic >/dev/null
ctl=$build/ctl/edgecapctl
agent=$build/agent/edgecap-agent
aggregator=$build/aggregator/edgecap-aggregator
traffic=$build/tests/tools/ec_traffic

run=$$
ns_agg=ecdemo-agg-$run
hosts=(a b c)
declare -A colo=([a]=ord01 [b]=ord01 [c]=sjc01)
work=$(mktemp -d /tmp/edgecap-demo.XXXXXX)
pids=()
namespaces=()

# Everything the demo made goes, whichever way it ends. Its last word goes to the stderr the
# demo started with (fd 3): a Ctrl-C may land inside a command whose stderr is redirected.
exec 3>&2
# ns_remove NS: stops what runs in namespace NS (TERM, KILL what is left after 5 s), deletes it.
ns_remove() {
	local p i
	for p in $(ip netns pids "$1" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	for ((i = 0; i < 50; i++)); do
		[ -n "$(ip netns pids "$1" 2>/dev/null)" ] || break
		sleep 0.1
	done
	for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
	ip netns del "$1" 2>/dev/null || true
}
cleanup() {
	local rc=$? p ns
	# Once: a second Ctrl-C does not cut the cleanup short, nor a step of it that fails.
	trap - EXIT
	trap '' INT TERM HUP
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# And whatever still runs in its namespaces: a daemon started just before a signal, whose
	# pid pids+= had not noted yet (in a session of its own, no Ctrl-C reaches it).
	for ns in "${namespaces[@]}"; do ns_remove "$ns"; done
	rm -rf "$work"
	[ "$rc" = 0 ] || echo "scripts/demo.sh: stopped (exit $rc); everything it made is removed" >&3
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# The janitor, should the demo die without its cleanup (SIGKILL, or, once in about a hundred
# interrupted runs here, a Ctrl-C that killed bash without its trap): once the demo is gone, it
# stops what runs in the demo's namespaces and removes them and the scratch directory. After the
# demo's own cleanup it finds nothing to do. A background subshell: Ctrl-C does not reach it.
janitor() {
	local demo=$1 st ns
	set +e
	trap - EXIT
	trap '' INT HUP
	while st=$(ps -o stat= -p "$demo" 2>/dev/null) && [[ $st != Z* ]]; do sleep 0.5; done
	[ -d "$work" ] || exit 0
	for ns in $(ip netns list | awk '{ print $1 }' | grep -- "^ecdemo-.*-$run\$"); do
		ns_remove "$ns"
	done
	rm -rf "$work"
	echo "scripts/demo.sh: it ended without its cleanup; its janitor removed everything" >&3
	exit 0
}
janitor $$ </dev/null >/dev/null 2>&1 &
# The daemons run in a session of their own (setsid, which stays the same process: a background
# job of the demo leads no process group, so $! is the daemon's pid), so that a Ctrl-C reaches
# the demo and the command it runs, not them: the demo then stops them in its cleanup. Were they
# in the terminal's process group, a Ctrl-C that bash did not act on (once in 40 interrupted
# runs here) would stop the aggregator under the demo's next request, and the demo would fail
# for that instead (exit 7, curl's).

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
	echo "scripts/demo.sh: $*" >&3
	exit 1
}
# show CMD...: prints the command, then runs it.
show() {
	printf '$ %s\n' "$*"
	"$@"
}
# wait_for SECONDS WHAT CMD...: until CMD succeeds, or dies naming WHAT.
wait_for() {
	local n=$(($1 * 10)) what=$2
	shift 2
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || die "timed out waiting for $what"
		sleep 0.1
	done
}
in_agg() { ip netns exec "$ns_agg" "$@"; }
snd_ns() { echo "ecdemo-snd-$1-$run"; }
edge_ns() { echo "ecdemo-edge-$1-$run"; }

# The metrics lines that matter, from the aggregator's and host-a's --metrics (Prometheus text
# format; docs/metrics.md lists every one): agents by colo, captures by status, what was ingested
# and lost, the agent's per-interface counters and its send queue.
show_metrics() {
	echo "metrics (curl http://127.0.0.1:9100/metrics in $ns_agg, and host-a's :9101):"
	in_agg curl -fsS http://127.0.0.1:9100/metrics 2>/dev/null |
		grep -E '^edgecap_aggregator_(agents|captures|ingest_(messages|batches)_total|records_lost_total)' |
		grep -v ' 0$' | sed 's/^/  /' || true
	ip netns exec "$(edge_ns a)" curl -fsS http://127.0.0.1:9101/metrics 2>/dev/null |
		grep -E '^edgecap_agent_(interface_[a-z_]*_total|send_queue_bytes|aggregator_connected)' |
		grep -v ' 0$' | sed 's/^/  /' || true
}

# ---------------------------------------------------------------------------------------------
step "namespaces: the aggregator ($ns_agg, 203.0.113.1) bridged to three edge hosts"
ip netns add "$ns_agg"
namespaces+=("$ns_agg")
ip -n "$ns_agg" link set lo up
ip -n "$ns_agg" link add br0 type bridge
ip -n "$ns_agg" addr add 203.0.113.1/24 dev br0
ip -n "$ns_agg" link set br0 up
i=10
for h in "${hosts[@]}"; do
	snd=$(snd_ns "$h")
	edge=$(edge_ns "$h")
	ip netns add "$snd"
	namespaces+=("$snd")
	ip netns add "$edge"
	namespaces+=("$edge")
	# The sender's link to its edge host: 192.0.2.1 -> 192.0.2.2, fixed MACs and neighbours (no
	# ARP on the wire the agents capture).
	ip link add snd0 netns "$snd" address 02:ec:de:00:00:01 type veth \
		peer name edge0 netns "$edge" address 02:ec:de:00:00:02
	ip -n "$snd" addr add 192.0.2.1/24 dev snd0
	ip -n "$edge" addr add 192.0.2.2/24 dev edge0
	# The edge host's link to the aggregator's bridge: 203.0.113.1x.
	ip link add "agg$h" netns "$ns_agg" type veth peer name aggr netns "$edge"
	ip -n "$ns_agg" link set "agg$h" master br0 up
	ip -n "$edge" addr add "203.0.113.$((i++))/24" dev aggr
	for ns in "$snd" "$edge"; do ip -n "$ns" link set lo up; done
	ip -n "$snd" link set snd0 up
	ip -n "$edge" link set edge0 up
	ip -n "$edge" link set aggr up
	ip -n "$snd" neigh replace 192.0.2.2 lladdr 02:ec:de:00:00:02 dev snd0 nud permanent
	ip -n "$edge" neigh replace 192.0.2.1 lladdr 02:ec:de:00:00:01 dev edge0 nud permanent
	echo "host-$h (colo ${colo[$h]}): $edge, 203.0.113.$((i - 1)); its traffic from $snd"
done

step "a CA, and certificates for the aggregator and each agent (openssl; CN = host id)"
pki=$work/pki
mkdir -m 0700 "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj "/CN=edgecap demo CA $run" -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
# cert NAME [SAN]: NAME.pem and NAME.key signed by the CA.
cert() {
	: >"$pki/$1.ext"
	[ -z "${2:-}" ] || printf 'subjectAltName = %s\n' "$2" >"$pki/$1.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
		-keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 1 -extfile "$pki/$1.ext" -out "$pki/$1.pem" 2>/dev/null
	echo "$1: $(openssl x509 -in "$pki/$1.pem" -noout -subject)"
}
# DNS: as well as IP:, for Debian 12's mbedTLS matches an address only as a DNS name.
cert aggregator "DNS:203.0.113.1,IP:203.0.113.1"
for h in "${hosts[@]}"; do cert "host-$h"; done
tls() { echo "--tls-ca $pki/ca.pem --tls-cert $pki/$1.pem --tls-key $pki/$1.key"; }

step "an API credential (edgecapctl credential): the secret once, the line for the file"
account_id=023e105f4ecef8ad9ca31a8372d0c353
email=user@example.com
cred=$("$ctl" credential "$account_id" --email "$email" 2>/dev/null)
api_key=$(sed -n 1p <<<"$cred")
(umask 077 && sed -n 2p <<<"$cred" >"$work/credentials")
echo "credentials file: $(cat "$work/credentials")"
echo "secret (X-Auth-Key): ${api_key:0:6}... (kept only in this shell)"

step "edgecap-aggregator in $ns_agg: API on 127.0.0.1:7100, agents on tls+tcp://203.0.113.1"
mkdir -m 0750 "$work/destinations"
# shellcheck disable=SC2046 # tls: flags and paths without blanks
setsid ip netns exec "$ns_agg" "$aggregator" --http 127.0.0.1:7100 \
	--credentials "$work/credentials" \
	--state-dir "$work/state" --control tls+tcp://203.0.113.1:7101 \
	--data tls+tcp://203.0.113.1:7102 $(tls aggregator) \
	--destination-root "$work/destinations" --grace 2 --metrics 127.0.0.1:9100 \
	2>"$work/aggregator.log" &
pids+=($!)
wait_for 15 "the aggregator's API" grep -q "listening on" "$work/aggregator.log"

step "three edgecap-agents dial it over mutual TLS"
for h in "${hosts[@]}"; do
	# shellcheck disable=SC2046 # tls: flags and paths without blanks
	setsid ip netns exec "$(edge_ns "$h")" "$agent" --interface edge0 --host-id "host-$h" \
		--colo "${colo[$h]}" --control tls+tcp://203.0.113.1:7101 \
		--data tls+tcp://203.0.113.1:7102 $(tls "host-$h") \
		--local-socket "$work/agent-$h.sock" --output-dir "$work/out-$h" --batch-ms 50 \
		--metrics 127.0.0.1:9101 2>"$work/agent-$h.log" &
	pids+=($!)
done
joined() { [ "$(grep -c ' joined' "$work/aggregator.log")" -ge 3 ]; }
wait_for 30 "three agents to join" joined
grep ' joined' "$work/aggregator.log" | sed 's/^/aggregator: /'
data_up() {
	"$ctl" status --json --socket "$work/agent-$1.sock" |
		jq -e '.aggregator.data_connections > 0' >/dev/null
}
for h in "${hosts[@]}"; do wait_for 30 "host-$h's data link" data_up "$h"; done
show_metrics

# send HOST COUNT RATE TAG: numbered UDP datagrams from HOST's sender to its edge host, from
# port 1234 to port 80 (ec_traffic: UDP only, so protocol 17 where the seed says 6).
send() {
	ip netns exec "$(snd_ns "$1")" "$traffic" send --dst 192.0.2.2 --src-port 1234 --port 80 \
		--count "$2" --rate "$3" --size 200 --tag "$4" >/dev/null
}
# status ID: the capture's status, as the seed's status command shows it.
status() {
	in_agg curl -s -X GET "http://127.0.0.1:7100/client/v4/accounts/${account_id}/pcaps/$1" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $email" \
		-H "X-Auth-Key: $api_key" | jq -r .result.status
}
# follow ID STATUS SECONDS: prints each status the capture goes through (from LAST, the one
# printed before) until it is STATUS.
last=
follow() {
	local st n=$(($3 * 10))
	while [ "$n" -gt 0 ]; do
		st=$(status "$1")
		[ "$st" = "$last" ] || echo "status: $st"
		last=$st
		[ "$st" != "$2" ] || return 0
		[ "$st" != failed ] || die "capture $1 failed: $(grep "$1" "$work/aggregator.log")"
		n=$((n - 1))
		sleep 0.1
	done
	die "capture $1 is still $last after $3 s, not $2"
}

step "the seed's simple capture request, across all hosts (host, credential, filter changed)"
cat <<EOF
$ curl -X POST http://127.0.0.1:7100/client/v4/accounts/\${account_id}/pcaps \\
  -H 'Content-Type: application/json' \\
  -H 'X-Auth-Email: $email' \\
  -H 'X-Auth-Key: ...' \\
  --data '{"filter_v1": {"source_address": "192.0.2.1", "source_port": 1234,
           "destination_address": "192.0.2.2", "destination_port": 80, "protocol": 17},
           "time_limit": 300, "packet_limit": 10000, "type": "simple", "system": "magic-transit"}'
EOF
in_agg curl -s -X POST "http://127.0.0.1:7100/client/v4/accounts/${account_id}/pcaps" \
	-H 'Content-Type: application/json' \
	-H "X-Auth-Email: $email" \
	-H "X-Auth-Key: $api_key" \
	--data '{
		"filter_v1": {
			"source_address": "192.0.2.1",
			"source_port": 1234,
			"destination_address": "192.0.2.2",
			"destination_port": 80,
			"protocol": 17
		},
		"time_limit": 300,
		"packet_limit": 10000,
		"type": "simple",
		"system": "magic-transit"
	}' >"$work/simple.json"
jq . "$work/simple.json"
simple=$(jq -r .result.id "$work/simple.json")
[[ $simple =~ ^[0-9a-f]{32}$ ]] || die "the capture was refused"
last=$(jq -r .result.status "$work/simple.json")
echo "status: $last"
follow "$simple" running 15

step "traffic: 4000 datagrams from each host's sender, all three at once"
spids=()
for h in "${hosts[@]}"; do
	send "$h" 4000 2000 "$h" &
	spids+=($!)
done
for p in "${spids[@]}"; do wait "$p" || die "a sender failed"; done
follow "$simple" success 60

step "the seed's download command"
echo "\$ curl -X GET http://127.0.0.1:7100/client/v4/accounts/\${account_id}/pcaps/$simple/download ... --output download.pcap"
in_agg curl -s -X GET \
	"http://127.0.0.1:7100/client/v4/accounts/${account_id}/pcaps/$simple/download" \
	-H 'Content-Type: application/json' \
	-H "X-Auth-Email: $email" \
	-H "X-Auth-Key: $api_key" \
	--output "$work/download.pcap"
cp "$work/download.pcap" "$build/demo-fleet.pcap"
show tcpdump -nn -tttt -c 6 -r "$build/demo-fleet.pcap" 2>/dev/null
n=$(tcpdump -nn -r "$build/demo-fleet.pcap" 2>/dev/null | wc -l)
echo "... $n packets in the merged pcap, from $(jq -r '.agents | keys | join(", ")' \
	"$work/state/captures/$simple/manifest.json")"
[ "$n" = 10000 ] || die "the pcap holds $n packets, not the packet_limit of 10000"
show_metrics

step "the seed's full capture request, colo ORD, into a directory beneath --destination-root"
cat <<EOF
$ curl http://127.0.0.1:7100/client/v4/accounts/\${account_id}/pcaps \\
  --header "X-Auth-Email: $email" \\
  --header "X-Auth-Key: ..." \\
  --header "Content-Type: application/json" \\
  --data '{"filter_v1": {}, "time_limit": 300, "packet_limit": 10000, "byte_limit": 100000000,
           "type": "full", "colo": "ORD", "system": "magic-transit",
           "destination_conf": "full-demo"}'
EOF
in_agg curl -s "http://127.0.0.1:7100/client/v4/accounts/${account_id}/pcaps" \
	--header "X-Auth-Email: $email" \
	--header "X-Auth-Key: $api_key" \
	--header "Content-Type: application/json" \
	--data '{ "filter_v1": {}, "time_limit": 300, "packet_limit": 10000, "byte_limit": 100000000, "type": "full", "colo": "ORD", "system": "magic-transit", "destination_conf": "full-demo" }' \
	>"$work/full.json"
jq -c . "$work/full.json"
full=$(jq -r .result.id "$work/full.json")
[[ $full =~ ^[0-9a-f]{32}$ ]] || die "the full capture was refused"
last=$(jq -r .result.status "$work/full.json")
echo "status: $last"
follow "$full" running 15
jq -r '.agents | to_entries[] | "\(.key): accepted \(.value.accepted)\(if .value.reason then
	" (\(.value.reason))" else "" end)"' "$work/state/captures/$full/manifest.json"

step "traffic: 11000 datagrams from each host (each ORD host's file stops at 10000 packets)"
spids=()
for h in "${hosts[@]}"; do
	send "$h" 11000 5000 "$h" &
	spids+=($!)
done
for p in "${spids[@]}"; do wait "$p" || die "a sender failed"; done
follow "$full" complete 60
dest=$work/destinations/full-demo
ls -l "$dest"
[ ! -e "$dest/$full-host-c.pcap" ] || die "host-c (sjc01) wrote a file for colo ORD"
show tcpdump -nn -tttt -c 3 -r "$dest/$full-host-a.pcap" 2>/dev/null
show_metrics

step "the fleet stops: agents and aggregator"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

# ---------------------------------------------------------------------------------------------
step "part 2, local: edgecapctl capture on host-a's edge0, no daemon"
ip netns exec "$(edge_ns a)" "$ctl" capture -i edge0 --protocol udp --dst-port 80 \
	--packet-limit 100 --time-limit 30 --json -q -w "$build/demo.pcap" >"$work/summary.json" &
cap=$!
pids+=("$cap")
attached() { ip -n "$(edge_ns a)" link show edge0 | grep -q "prog/xdp"; }
wait_for 10 "the local capture to attach" attached
send a 300 2000 local
wait "$cap" || die "edgecapctl capture failed"
pids=()
jq . "$work/summary.json"
show tcpdump -nn -tttt -c 3 -r "$build/demo.pcap" 2>/dev/null

step "done"
echo "pcaps kept: $build/demo-fleet.pcap (fleet, simple), $build/demo.pcap (local)"
echo "everything else the demo made (namespaces, processes, keys, state) goes now"
