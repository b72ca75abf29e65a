#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The demo: two network namespaces joined by a veth pair, numbered UDP traffic from one to the
# other (plus traffic the filter must ignore), and `edgecapctl capture` in the kernel on the
# receiving end with a filter and a packet limit. It shows the capture's JSON summary, the first
# packets as tcpdump reads them, and that the receiver still got every datagram.
# Runs as root on a fresh machine; everything it creates is removed on exit, except the pcap.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

if [ "$(id -u)" != 0 ]; then
	echo "scripts/demo.sh: capturing with XDP needs root: sudo $0" >&2
	exit 1
fi
bash scripts/setup-deps.sh
build=${EC_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target edgecapctl ec_traffic >/dev/null
ctl="$top/$build/ctl/edgecapctl"
traffic="$top/$build/tests/tools/ec_traffic"

ns_tx="ecdemo-tx-$$"
ns_rx="ecdemo-rx-$$"
work=$(mktemp -d /tmp/edgecap-demo.XXXXXX)
out="$top/$build/demo.pcap"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns_tx" 2>/dev/null || true
	ip netns del "$ns_rx" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two namespaces and a veth pair: $ns_tx (192.0.2.1) -> $ns_rx (192.0.2.2)"
ip netns add "$ns_tx"
ip netns add "$ns_rx"
ip link add ecdemo0 netns "$ns_tx" type veth peer name ecdemo1 netns "$ns_rx"
ip -n "$ns_tx" addr add 192.0.2.1/24 dev ecdemo0
ip -n "$ns_rx" addr add 192.0.2.2/24 dev ecdemo1
for ns in "$ns_tx" "$ns_rx"; do ip -n "$ns" link set lo up; done
ip -n "$ns_tx" link set ecdemo0 up
ip -n "$ns_rx" link set ecdemo1 up

step "a receiver counting numbered datagrams on 192.0.2.2:5001"
ip netns exec "$ns_rx" "$traffic" recv --port 5001 --count 400 --timeout-ms 20000 \
	--ready-file "$work/ready" >"$work/recv.json" &
pids+=($!)
for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.05; done

step "edgecapctl capture -i ecdemo1 --protocol udp --dst-port 5001 --packet-limit 100"
ip netns exec "$ns_rx" "$ctl" capture -i ecdemo1 --protocol udp --dst-port 5001 \
	--packet-limit 100 --time-limit 30 --json -q -w "$out" >"$work/summary.json" &
cap=$!
# The capture is live once its program is attached.
for _ in $(seq 100); do
	ip -n "$ns_rx" link show ecdemo1 | grep -q "prog/xdp" && break
	sleep 0.05
done
ip -n "$ns_rx" -d link show ecdemo1 | grep -o "prog/xdp id [0-9]* name [a-z_]*" || true

step "traffic: 400 datagrams to port 5001, 100 to port 5002 (the filter ignores those)"
ip netns exec "$ns_tx" "$traffic" send --dst 192.0.2.2 --port 5002 --count 100 --rate 5000 \
	--tag noise >/dev/null
ip netns exec "$ns_tx" "$traffic" send --dst 192.0.2.2 --port 5001 --count 400 --rate 5000 \
	--size 200 --tag demo

wait "$cap"
step "capture summary (--json)"
jq . "$work/summary.json"

step "the first packets, as tcpdump reads $out"
tcpdump -nn -tttt --time-stamp-precision=nano -c 5 -r "$out" 2>/dev/null
echo "... $(tcpdump -nn -r "$out" 2>/dev/null | wc -l) packets in the file"

wait "${pids[0]}" || true
step "the receiver still got every datagram (capture never drops traffic)"
jq -c . "$work/recv.json"
echo
echo "pcap kept at $out"
