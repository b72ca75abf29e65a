#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# bench_e2e.sh: benchmark B4c, the end-to-end rate from agents to the aggregator to pcap files.
#
# For 1 and 3 edge hosts (EC_E2E_AGENTS), each a pair of namespaces as test_fleet.sh makes them
# (a sender and an edge host joined by a veth, documentation addresses only), ec_livegen sends
# UDP frames (EC_E2E_FRAME bytes, ECT1 payload: a header and zeros) into each edge host's veth
# at stepped total rates (EC_E2E_RATES, split evenly over the hosts; 0 = as fast as the
# generators go), EC_E2E_SECONDS (at most 5) per step, and two things capture them in turn:
#
#   local   `edgecapctl capture` on each edge host, with no daemon and no network hop: the
#           baseline, what one host's capture engine keeps of the same traffic;
#   fleet   a real edgecap-aggregator (ipc:// endpoints, as test_fleet.sh) and one real
#           edgecap-agent per host; a full capture through the API (its packet_limit is
#           optional, so it can take millions of packets, where a simple capture stops at the
#           API's 10,000), snaplen 160, destination_conf a directory under the scratch dir.
#
# A veth takes the generator's XDP frames only while an XDP program is attached to its peer:
# here it is the capture's own (edgecapctl's, then the agent's). Both capture with filter UDP
# destination port 5001 and snaplen 160, sample rate 1. The frames are addressed to a MAC that
# is not the edge veth's (EC_E2E_DST_MAC), so that after XDP passed them the edge host's stack
# drops them at once, as a host drops frames for another: sent to its own address, each one
# would go up to UDP and draw a (rate-limited) port-unreachable, whose route lookups cost the
# shared CPUs more than the capture does. XDP sees every frame either way.
#
# Per step it prints a Markdown row: the rate offered (frames the generators sent, over their
# time), the packets per second that reached the pcap(s) over the same time and as a share of
# those sent, the same for the local baseline and the ratio of the two, the manifest's loss
# counters summed over agents (ring_full in the kernel, dropped by the agent's send queue, lost
# in transit), how long after the stop the capture took to finish (the pipeline's backlog), and
# the CPU the aggregator and the agents used per packet written (from /proc, 10 ms ticks).
#
#     sudo tests/bench/bench_e2e.sh
#     sudo EC_E2E_AGENTS=3 EC_E2E_RATES="300000 0" tests/bench/bench_e2e.sh
#
# Environment: EC_BUILD_DIR (default <repo>/build), EC_E2E_AGENTS ("1 3"), EC_E2E_RATES
# ("100000 200000 300000 0"), EC_E2E_SECONDS (3), EC_E2E_FRAME (512), EC_E2E_DST_MAC
# (02:ec:00:00:00:ee). Scratch files, captures included, go under $TMPDIR (default /tmp;
# tests/bench/run-fleet.sh uses /dev/shm so that the disk is not what is measured) and are
# removed on every way out, with the namespaces and processes (lib.sh's traps). Not a test:
# nothing here passes or fails on the numbers.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
set -euo pipefail

AGENT_COUNTS=${EC_E2E_AGENTS:-"1 3"}
RATES=${EC_E2E_RATES:-"100000 200000 300000 0"}
STEP_S=${EC_E2E_SECONDS:-3}
FRAME=${EC_E2E_FRAME:-512}
DST_MAC=${EC_E2E_DST_MAC:-02:ec:00:00:00:ee}
PORT=5001
SNAPLEN=160
account_id=023e105f4ecef8ad9ca31a8372d0c353
# agg_start's credential is this account's.
EC_API_ACCOUNT=$account_id

if [ "$(id -u)" != 0 ]; then
	echo "bench_e2e.sh: needs root (namespaces, BPF)" >&2
	exit 1
fi
case $STEP_S in
[1-5]) ;;
*)
	echo "bench_e2e.sh: EC_E2E_SECONDS must be 1..5 (got '$STEP_S')" >&2
	exit 2
	;;
esac
for f in "$EC_AGENT" "$EC_AGGREGATOR" "$EC_LIVEGEN" "$EC_EDGECAPCTL"; do
	[ -x "$f" ] || {
		echo "bench_e2e.sh: $f not found: build it, or point EC_BUILD_DIR at the build" >&2
		exit 1
	}
done

# hosts_setup N: N sender/edge namespace pairs; SND[i], EDGE[i].
hosts_setup() {
	local i
	SND=()
	EDGE=()
	for ((i = 1; i <= $1; i++)); do
		ns_setup "e2e$i"
		SND[i]=$NS0
		EDGE[i]=$NS1
	done
}

# ticks PID: the process's user + system CPU time so far, in clock ticks.
ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# xdp_on NS: the edge veth has an XDP program (the capture's) attached.
xdp_on() {
	ip -n "$1" link show "$IF1" | grep -q 'xdp'
}

# generate N TOTAL_RATE: one ec_livegen per sender, in parallel, STEP_S seconds; their JSON
# summaries in $EC_TMPDIR/gen-i.json. Sets SENT (frames, all senders) and GEN_S (the longest).
generate() {
	local n=$1 rate=$2 i pids=() per=0
	[ "$rate" = 0 ] || per=$((rate / n))
	for ((i = 1; i <= n; i++)); do
		in_ns "${SND[i]}" "$EC_LIVEGEN" --dev "$IF0" --src "$IP4_0" --dst "$IP4_1" \
			--dst-mac "$DST_MAC" --dst-port "$PORT" --size "$FRAME" --rate "$per" \
			--duration "$STEP_S" >"$EC_TMPDIR/gen-$i.json" 2>"$EC_TMPDIR/gen-$i.err" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "ec_livegen failed: $(cat "$EC_TMPDIR"/gen-*.err)"
	done
	SENT=$(jq -s 'map(.sent) | add' "$EC_TMPDIR"/gen-[0-9]*.json)
	GEN_S=$(jq -s 'map(.seconds) | max' "$EC_TMPDIR"/gen-[0-9]*.json)
	rm -f "$EC_TMPDIR"/gen-[0-9]*.json
}

# local_step N RATE: edgecapctl capture on every edge host while the generators run. Sets
# LOCAL_SENT, LOCAL_GEN_S, LOCAL_PKTS (packets in the pcaps).
local_step() {
	local n=$1 rate=$2 i pids=()
	for ((i = 1; i <= n; i++)); do
		bg_start "local-$i" "${EDGE[i]}" "$EC_EDGECAPCTL" capture -i "$IF1" --protocol udp \
			--dst-port "$PORT" --snaplen "$SNAPLEN" -q --json -w "$EC_TMPDIR/local-$i.pcap"
		pids+=("$BG_PID")
	done
	for ((i = 1; i <= n; i++)); do
		wait_until 10 xdp_on "${EDGE[i]}" || fail "edgecapctl did not attach on host $i"
	done
	generate "$n" "$rate"
	LOCAL_SENT=$SENT
	LOCAL_GEN_S=$GEN_S
	sleep 0.5
	for i in "${pids[@]}"; do
		bg_stop "$i" INT || fail "edgecapctl capture failed: $(cat "$EC_TMPDIR"/local-*.err)"
	done
	LOCAL_PKTS=$(jq -s 'map(.packets_captured) | add' "$EC_TMPDIR"/local-[0-9]*.out)
	rm -f "$EC_TMPDIR"/local-[0-9]*.pcap "$EC_TMPDIR"/local-[0-9]*.out
}

# e2e_agg_start: the aggregator in our namespace (lib.sh's agg_start: its log in agg.err), a
# fresh state directory, ipc:// endpoints; API is its captures' base URL.
e2e_agg_start() {
	STATE=$(mktemp -d "$EC_TMPDIR/state.XXXXXX")
	CTL_URL="ipc://$EC_TMPDIR/control.sock"
	DATA_URL="ipc://$EC_TMPDIR/data.sock"
	agg_start -s "$STATE" agg --control "$CTL_URL" --data "$DATA_URL" --simple-interval 0 \
		--max-full 0 --grace 3 --destination-root "$EC_TMPDIR"
	API=$AGG_URL/client/v4/accounts/$account_id/pcaps
}

# agents_start N: one edgecap-agent per edge host, colo ord0i; AGENT_PIDS.
agents_start() {
	local i
	AGENT_PIDS=()
	for ((i = 1; i <= $1; i++)); do
		bg_start "agent-$i" "${EDGE[i]}" "$EC_AGENT" --interface "$IF1" --host-id "e2e-$i" \
			--colo "ord0$i" --control "$CTL_URL" --data "$DATA_URL" \
			--local-socket "$EC_TMPDIR/agent-$i.sock"
		AGENT_PIDS+=("$BG_PID")
	done
	wait_until 15 joined "$1" || fail "only $(grep -c joined "$EC_TMPDIR/agg.err") of $1 agents joined"
}

joined() {
	[ "$(grep -c 'joined' "$EC_TMPDIR/agg.err")" -ge "$1" ]
}

api() {
	curl -s -X "$1" "$API${2:-}" -H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY" "${@:3}"
}

# wait_status ID STATUS SECONDS
wait_status() {
	local st=
	for _ in $(seq $(($3 * 20))); do
		st=$(api GET "/$1" | jq -r .result.status)
		[ "$st" = "$2" ] && return 0
		[ "$st" = failed ] && break
		sleep 0.05
	done
	fail "capture $1 is $st, not $2: $(api GET "/$1")"
}

# fleet_step N RATE: a full capture through the API while the generators run. Sets FLEET_SENT,
# FLEET_GEN_S, PCAP_PKTS, RING_FULL, DROPPED, LOST, FINISH_S, AGG_NS, AGENTS_NS.
fleet_step() {
	local n=$1 rate=$2 id out dest=$EC_TMPDIR/dest t0 a0 g0=0 g1=0 p pkts=0 f man
	out=$(api POST "" --data "{\"filter_v1\": {\"protocol\": 17, \"destination_port\": $PORT},
		\"time_limit\": $((STEP_S + 30)), \"type\": \"full\", \"colo\": \"ORD\",
		\"system\": \"magic-transit\", \"snaplen\": $SNAPLEN,
		\"destination_conf\": \"file://$dest\"}")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	id=$(jq -r .result.id <<<"$out")
	wait_status "$id" running 10
	a0=$(ticks "$AGG_PID")
	for p in "${AGENT_PIDS[@]}"; do g0=$((g0 + $(ticks "$p"))); done
	generate "$n" "$rate"
	FLEET_SENT=$SENT
	FLEET_GEN_S=$GEN_S
	sleep 0.5
	t0=$(date +%s.%N)
	[ "$(api PUT "/$id/stop" | jq -r .success)" = true ] || fail "stop refused"
	wait_status "$id" complete 60  # a full capture ends complete (docs/pcaps-api.md)
	FINISH_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	for p in "${AGENT_PIDS[@]}"; do g1=$((g1 + $(ticks "$p"))); done
	AGG_TICKS=$(($(ticks "$AGG_PID") - a0))
	AGENT_TICKS=$((g1 - g0))
	man=$STATE/captures/$id/manifest.json
	# Every record is SNAPLEN bytes (the frames are longer): count them from the files.
	for f in "$dest/$id"-*.pcap; do
		[ -e "$f" ] && pkts=$((pkts + ($(stat -c %s "$f") - 24) / (16 + SNAPLEN)))
	done
	PCAP_PKTS=$pkts
	WRITTEN=$(jq '[.agents[] | .records_written // 0] | add' "$man")
	RING_FULL=$(jq '[.agents[] | .ring_full // 0] | add' "$man")
	DROPPED=$(jq '[.agents[] | .records_dropped // 0] | add' "$man")
	LOST=$(jq '[.agents[] | .records_lost_in_transit // 0] | add' "$man")
	SEEN=$(jq '[.agents[] | .seen // 0] | add' "$man")
	[ "$WRITTEN" = "$PCAP_PKTS" ] ||
		log "warning: the manifest says $WRITTEN records written, the files hold $PCAP_PKTS"
	rm -rf "$dest"
}

# pps COUNT SECONDS
pps() {
	awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'
}

# pct A B: A as a percentage of B
pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }'
}

# ns_per TICKS PACKETS: CPU ns per packet from clock ticks.
ns_per() {
	awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.0f", (n > 0 ? t * 1e9 / hz / n : 0) }'
}

run_hosts() {
	local n=$1 rate target local_pct fleet_pct t0
	hosts_setup "$n"
	declare -A L_SENT L_S L_PKTS
	# The baseline first, over every step, before any agent holds the veths.
	for rate in $RATES; do
		local_step "$n" "$rate"
		L_SENT[$rate]=$LOCAL_SENT
		L_S[$rate]=$LOCAL_GEN_S
		L_PKTS[$rate]=$LOCAL_PKTS
	done
	e2e_agg_start
	agents_start "$n"
	# What the aggregator costs with its agents connected and no capture, for the footer.
	t0=$(ticks "$AGG_PID")
	sleep "$STEP_S"
	IDLE_NOTES+=("$n agent(s): $(awk -v t="$(($(ticks "$AGG_PID") - t0))" -v s="$STEP_S" \
		-v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", 100 * t / hz / s }')%")
	for rate in $RATES; do
		fleet_step "$n" "$rate"
		target=$rate
		[ "$rate" != 0 ] || target=max
		local_pct=$(pct "${L_PKTS[$rate]}" "${L_SENT[$rate]}")
		fleet_pct=$(pct "$PCAP_PKTS" "$FLEET_SENT")
		printf '| %s | %s | %s | %s | %s | %s%% | %s | %s%% | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
			"$n" "$target" "$(pps "$FLEET_SENT" "$FLEET_GEN_S")" "$FLEET_SENT" \
			"$(pps "${L_PKTS[$rate]}" "${L_S[$rate]}")" "$local_pct" \
			"$(pps "$PCAP_PKTS" "$FLEET_GEN_S")" "$fleet_pct" \
			"$(awk -v f="$PCAP_PKTS" -v fs="$FLEET_GEN_S" -v l="${L_PKTS[$rate]}" \
				-v ls="${L_S[$rate]}" \
				'BEGIN { printf "%.2f", (l > 0 && fs > 0 ? (f / fs) / (l / ls) : 0) }')" \
			"$((FLEET_SENT - SEEN))" "$RING_FULL" "$DROPPED" "$LOST" "$FINISH_S" \
			"$(ns_per "$AGG_TICKS" "$PCAP_PKTS")" "$(ns_per "$AGENT_TICKS" "$PCAP_PKTS")"
	done
	ns_cleanup
}

echo "## B4c: end to end, agents to aggregator to pcap"
echo
echo "$(date -u +%F), kernel $(uname -r), $(nproc) CPUs shared by everything (generators, kernel" \
	"XDP and veth, agents, aggregator); ${FRAME}-byte UDP frames (ECT1 payload: header and" \
	"zeros), filter UDP dst port $PORT, snaplen $SNAPLEN, sample rate 1; ${STEP_S} s per step;" \
	"captures and state on $(stat -f -c %T "$EC_TMPDIR"); agents over ipc://, default" \
	"settings (8 MiB ring, 64 MiB send queue, 100 ms batches). The local baseline is" \
	"\`edgecapctl capture\` on each edge host in a separate pass of the same steps."
echo
echo "| agents | target pkt/s | offered pkt/s | sent | local pkt/s | local kept | fleet pkt/s into pcap | fleet kept | × local | not seen | ring_full | dropped | lost in transit | finish s | aggregator CPU ns/pkt | agents CPU ns/pkt |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
IDLE_NOTES=()
for n in $AGENT_COUNTS; do
	run_hosts "$n"
done
echo
echo "offered: frames the generators sent over their time; kept: packets in the pcap(s) as a" \
	"share of frames sent; pkt/s into pcap: packets in the pcap(s) over the generators' time;" \
	"× local: the fleet's pkt/s into pcap over the local capture's (at the max step, what the" \
	"fleet's own CPU use costs the box's offered rate); not seen: sent but never seen by" \
	"the agents' XDP program (the veth dropped them); ring_full, dropped (agent send queue)," \
	"lost in transit: the manifest's counters, summed over agents; finish s: from the stop" \
	"request to the capture's success (the backlog draining); CPU ns/pkt: CPU time of the" \
	"process(es) over the step per packet written."
echo
idle=$(printf '%s, ' "${IDLE_NOTES[@]}")
echo "The aggregator's CPU with its agents connected and no capture running, over ${STEP_S} s:" \
	"${idle%, } of a core (included in its CPU ns/pkt above)."
