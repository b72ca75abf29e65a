# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
#
# agent_lib.sh: a real edgecap-agent and aggregator for the fault and soak tests, sourced after
# lib.sh. The agent runs in NS1 on IF1 (ns_setup), the aggregator here, both ends on plain ipc://
# sockets in the run's 0700 scratch directory (unix sockets cross network namespaces).

account_id=023e105f4ecef8ad9ca31a8372d0c353
# shellcheck disable=SC2034 # read by lib.sh's agg_start
EC_API_ACCOUNT=$account_id

# agent_start NAME [FLAGS...]: edgecap-agent in NS1 on IF1 (bg_start: its log in NAME.err), its
# local socket AGENT_SOCK and output directory AGENT_OUT in a 0700 directory of the run, its
# aggregator endpoints CTL_URL and DATA_URL (default: ipc:// sockets where nobody listens).
agent_start() {
	local name=$1
	shift
	AGENT_DIR=$EC_TMPDIR/$name.d
	mkdir -p "$AGENT_DIR/out"
	chmod 0700 "$AGENT_DIR"
	AGENT_SOCK=$AGENT_DIR/agent.sock
	AGENT_OUT=$AGENT_DIR/out
	bg_start "$name" "$NS1" "$EC_AGENT" --interface "$IF1" --host-id "host-$name" --colo ord01 \
		--control "${CTL_URL:-ipc://$AGENT_DIR/nobody-control.sock}" \
		--data "${DATA_URL:-ipc://$AGENT_DIR/nobody-data.sock}" --local-socket "$AGENT_SOCK" \
		--output-dir "$AGENT_OUT" --batch-ms 50 "$@"
	# shellcheck disable=SC2034 # for the scripts
	AGENT_PID=$BG_PID
	AGENT_LOG=$EC_TMPDIR/$name.err
}

agent_status() {
	"$EC_EDGECAPCTL" status --json --socket "$AGENT_SOCK" 2>/dev/null
}

# agent_ready: until the agent answers on its local socket (it attaches before it listens).
agent_ready() {
	wait_until 20 agent_status || fail "agent never answered: $(cat "$AGENT_LOG")"
}

# agent_data_up: whether the agent's data link to the aggregator is up.
agent_data_up() {
	agent_status | jq -e '.aggregator.data_connections > 0' >/dev/null
}

# local_start FILE FILTER_JSON [MEMBERS]: a local full capture by the agent into FILE (in
# AGENT_OUT); its id in CAP_ID.
local_start() {
	local body
	body="{\"filter_v1\": $2, \"time_limit\": 60, \"type\": \"full\", \"system\": \"magic-transit\"${3:+, $3}}"
	CAP_ID=$(echo "$body" | "$EC_EDGECAPCTL" start --request - -w "$1" --socket "$AGENT_SOCK" \
		2>"$EC_TMPDIR/start.err" | jq -r .id) || fail "start: $(cat "$EC_TMPDIR/start.err")"
	case $CAP_ID in "" | null) fail "start: $(cat "$EC_TMPDIR/start.err")" ;; esac
}

# kernel_of ID: the kernel counters of running capture ID, as one JSON object.
kernel_of() {
	agent_status | jq -ec --arg id "$1" '.captures[] | select(.id == $id) | .kernel'
}

capture_gone() {
	agent_status | jq -e --arg id "$1" '[.captures[] | select(.id == $id)] | length == 0' \
		>/dev/null
}

# rss_kb PID and fds_of PID: from /proc.
rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
fds_of() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# bpf_objs_of PID: "programs maps links" the process holds, from /proc/PID/fdinfo.
bpf_objs_of() {
	local f p=0 m=0 l=0
	for f in /proc/"$1"/fdinfo/*; do
		if grep -q '^prog_type:' "$f" 2>/dev/null; then
			p=$((p + 1))
		elif grep -q '^map_type:' "$f" 2>/dev/null; then
			m=$((m + 1))
		elif grep -q '^link_type:' "$f" 2>/dev/null; then
			l=$((l + 1))
		fi
	done
	echo "$p $m $l"
}

# The aggregator's API, as the seeds' curl commands (host and credential changed).
pcap_post() {
	curl -s -X POST "$AGG_URL/client/v4/accounts/${account_id}/pcaps" \
		-H 'Content-Type: application/json' \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY" --data "$1"
}
pcap_get() {
	curl -s "$AGG_URL/client/v4/accounts/${account_id}/pcaps/$1" \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY"
}
pcap_stop() {
	curl -s -X PUT "$AGG_URL/client/v4/accounts/${account_id}/pcaps/$1/stop" \
		-H "X-Auth-Email: $EC_API_EMAIL" -H "X-Auth-Key: $EC_API_KEY"
}

# post_ok BODY: posts a capture and prints its id.
post_ok() {
	local out
	out=$(pcap_post "$1")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	jq -r .result.id <<<"$out"
}

# status_is ID STATUS: whether the capture has STATUS.
status_is() {
	[ "$(pcap_get "$1" | jq -r .result.status)" = "$2" ]
}

# fleet_agg_start NAME [FLAGS...]: the aggregator on CTL_URL and DATA_URL with the run's state
# directory AGG_STATE (made once), full captures beneath EC_TMPDIR.
fleet_agg_start() {
	local name=$1
	shift
	AGG_STATE=${AGG_STATE:-$(mktemp -d "$EC_TMPDIR/state.XXXXXX")}
	agg_start -s "$AGG_STATE" "$name" --control "$CTL_URL" --data "$DATA_URL" \
		--simple-interval 0 --max-full 0 --grace 3 --destination-root "$EC_TMPDIR" "$@"
}
