#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_durability.sh: the aggregator's durability under faults (issue 11), with real processes:
# the real edgecap-aggregator and ec_sppeer agents (plain agents of a fleet without a CA, over
# ipc:// sockets; each pushes one burst of records when it accepts a capture, and its final
# when told to stop), so that what the aggregator holds is known exactly. No network
# namespaces. Each test is bounded in time.
#  - Disk full: a full capture's destination root is a 1 MiB tmpfs (mounted in the
#    aggregator's own mount namespace, gone with it); a 3 MB burst fills it. That capture fails
#    with error_message "No space left on device", its host file keeps the records written
#    before, whole ones only, marked truncated; a simple capture running beside it, on the
#    state directory's disk, ends in success with every record. The failed capture keeps no
#    descriptor of its destination while it lingers.
#  - SIGKILL after a burst: records the 1 s wall-clock rule released are checkpointed within
#    checkpoint_ms (500 ms) without another message; a SIGKILL after that loses none of them.
#  - The window and the checkpoint are settings (--reorder-window-ms, --reorder-max-bytes,
#    --checkpoint-ms): a 30 s window holds a burst the default would release within 1 s;
#    64K of window releases all but what fits in it; a 60 s checkpoint interval loses a burst
#    that a SIGKILL 1.5 s after its release catches, where the default loses none of it, and
#    the manifest counts the loss.
#  - SIGTERM while NNG's nng_close hangs (ec_nngclosehang.so; NNG 1.5.2, nng #1543), with a
#    checkpoint a minute: the aggregator writes the burst's records and checkpoint before it
#    closes a socket, ends with status 1 within the bound (SP_CLOSE_TIMEOUT_MS 10 s), and after
#    a restart every record is there.
#  - An agent whose dialers gave up at the restart (NNG 1.5.2's bug, forced with ec_sppeer
#    --fault-after-loss) comes back, data link included, after REDIAL_STALL_S (twice that if
#    NNG also gave up by itself).
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_tools curl jq tcpdump unshare mount
EC_SPPEER=${EC_SPPEER:-$EC_BUILD_DIR/tests/tools/ec_sppeer}
EC_NNGCLOSEHANG=${EC_NNGCLOSEHANG:-$EC_BUILD_DIR/tests/tools/ec_nngclosehang.so}
require_bin "$EC_AGGREGATOR" "$EC_SPPEER" "$EC_NNGCLOSEHANG"
account_id=023e105f4ecef8ad9ca31a8372d0c353
EC_API_ACCOUNT=$account_id
REAL_AGGREGATOR=$EC_AGGREGATOR
CHECKPOINT_MS=500 # INGEST_CHECKPOINT_MS_DEFAULT
WINDOW_MS=1000    # INGEST_WINDOW_MS_DEFAULT
# An agent link with no connection for this long gets a fresh dialer (REDIAL_STALL_MS in
# common/redial.h): NNG 1.5.2's own dialer sometimes stops redialling when its aggregator
# restarts, so an agent may take that long to come back.
REDIAL_STALL_S=10

api() {
	local method=$1 path=$2
	shift 2
	curl -s -X "$method" "$AGG_URL/client/v4/accounts/$account_id/pcaps$path" \
		-H 'Content-Type: application/json' -H "X-Auth-Email: $EC_API_EMAIL" \
		-H "X-Auth-Key: $EC_API_KEY" "$@"
}

post_ok() {
	local out
	out=$(api POST "" --data "$1")
	[ "$(jq -r .success <<<"$out")" = true ] || fail "capture refused: $out"
	jq -r .result.id <<<"$out"
}

status_is() {
	[ "$(api GET "/$1" | jq -r .result.status)" = "$2" ]
}

# wait_status ID STATUS SECONDS
wait_status() {
	wait_until "$3" status_is "$1" "$2" || fail "capture $1 is not $2: $(api GET "/$1")"
}

# packets_are ID N: the capture (packet_limit 10000) has N packets in its output.
packets_are() {
	[ "$(api GET "/$1" | jq -r .result.packets_remaining)" = "$((10000 - $2))" ]
}

joined() {
	[ "$(grep -c ' joined' "$AGG_LOG")" -ge "$1" ]
}

# start_agg [FLAGS...]: the aggregator on STATE, its links on this test's ipc:// sockets.
start_agg() {
	agg_start -s "$STATE" agg --control "ipc://$EC_TMPDIR/ctl.sock" \
		--data "ipc://$EC_TMPDIR/data.sock" --simple-interval 0 --max-full 0 --grace 3 "$@"
}

# start_agent NAME RECORDS RECORD_SIZE [FLAGS...]: an ec_sppeer agent, host id NAME, for 60 s.
start_agent() {
	local name=$1 records=$2 size=$3
	shift 3
	bg_start "$name" - "$EC_SPPEER" agent --url "ipc://$EC_TMPDIR/ctl.sock" \
		--data-url "ipc://$EC_TMPDIR/data.sock" --host-id "$name" --records "$records" \
		--record-size "$size" --batch 100 --colo ORD --seconds 60 "$@"
}

# no_fd_under DIR: the aggregator has no descriptor open on DIR or beneath it.
no_fd_under() {
	! find "/proc/$AGG_PID/fd" -mindepth 1 -printf '%l\n' 2>/dev/null | grep -q "^$1"
}

burst_sent() {
	grep -q "^burst $2 " "$EC_TMPDIR/$1.out"
}

# packets_of ID: the packets in the capture's output so far (packet_limit 10000).
packets_of() {
	echo $((10000 - $(api GET "/$1" | jq -r .result.packets_remaining)))
}

packets_over() {
	[ "$(packets_of "$1")" -gt "$2" ]
}

# start_burst_capture: edge-a sends 3,000 records of 100 bytes when it accepts the capture and
# edge-b sends nothing, so that only the wall-clock rule and the window's byte bound release
# edge-a's records. Sets ID.
start_burst_capture() {
	start_agent edge-a 3000 100
	start_agent edge-b 0 100
	wait_until 10 joined 2 || fail "the agents never joined: $(cat "$AGG_LOG")"
	ID=$(post_ok '{"filter_v1": {}, "time_limit": 120, "packet_limit": 10000,
		"type": "simple", "system": "magic-transit"}')
	wait_until 10 burst_sent edge-a "$ID" || fail "no burst: $(cat "$EC_TMPDIR/edge-a.err")"
}

# kill_agg NAME: SIGKILL to the aggregator; its log is kept as agg-NAME.err.
kill_agg() {
	kill -KILL "$AGG_PID"
	{ bg_wait "$AGG_PID"; } 2>/dev/null || true
	mv "$AGG_LOG" "$EC_TMPDIR/agg-$1.err"
}

# kill_agg_and_restart NAME [FLAGS...]: kill_agg NAME, then start_agg FLAGS on the same state.
kill_agg_and_restart() {
	kill_agg "$1"
	shift
	start_agg "$@"
}

# burst_kept_after_restart: after the aggregator's restart, start_burst_capture's capture has its
# 3,000 records, the agents come back, and once stopped its pcap holds all 3,000 and its manifest
# counts none lost at the restart. Sets KEPT and LOST.
burst_kept_after_restart() {
	wait_until 5 packets_are "$ID" 3000 || fail "after the restart: $(api GET "/$ID")"
	wait_until $((REDIAL_STALL_S + 5)) joined 2 ||
		fail "the agents never came back: $(cat "$AGG_LOG")"
	KEPT=$(stop_and_count "$ID")
	LOST=$(jq '[.agents[] | .records_lost_at_restart // 0] | add' \
		"$STATE/captures/$ID/manifest.json")
	expect_eq "$LOST" 0 "records lost at the restart"
	expect_eq "$KEPT" 3000 "records in the pcap after the restart"
}

# stop_and_count ID: stops the capture and prints the records in its pcap once it succeeded.
stop_and_count() {
	api PUT "/$1/stop" >/dev/null
	wait_status "$1" success 20
	tcpdump -nn -r "$STATE/captures/$1/capture.pcap" 2>/dev/null | wc -l
}

test_disk_full_fails_that_capture_and_keeps_the_valid_prefix() {
	local dest=$EC_TMPDIR/small full simple m file n size
	STATE=$EC_TMPDIR/state-full
	mkdir -p "$dest"
	# The aggregator in a mount namespace of its own, with a 1 MiB tmpfs on $dest: the mount
	# goes with the process, whatever happens. Its files are read through /proc/PID/root.
	EC_AGGREGATOR=$EC_TMPDIR/agg-tmpfs.sh
	cat >"$EC_AGGREGATOR" <<EOS
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount -t tmpfs -o size=1m tmpfs "$dest" && exec "\$@"' \
	sh "$REAL_AGGREGATOR" "\$@"
EOS
	chmod 0755 "$EC_AGGREGATOR"
	start_agg --destination-root "$dest"
	# 3,000 records of 1,000 bytes for each capture: 3 MB, three times the tmpfs.
	start_agent edge-a 3000 1000
	wait_until 10 joined 1 || fail "the agent never joined: $(cat "$AGG_LOG")"
	full=$(post_ok "{\"filter_v1\": {}, \"time_limit\": 60, \"type\": \"full\", \"colo\": \"ORD\",
		\"system\": \"magic-transit\", \"byte_limit\": 100000000, \"packet_limit\": 10000,
		\"destination_conf\": \"file://$dest/out\"}")
	simple=$(post_ok '{"filter_v1": {}, "time_limit": 60, "packet_limit": 10000,
		"type": "simple", "system": "magic-transit"}')
	wait_status "$full" failed 20
	m=$(cat "$STATE/captures/$full/manifest.json")
	expect_eq "$(jq -r .error_message <<<"$m")" "No space left on device" "error_message"
	expect_eq "$(jq -r .truncated <<<"$m")" true "truncated, at the top level"
	expect_eq "$(jq -r '.agents["edge-a"].truncated' <<<"$m")" true "truncated, for edge-a"
	# The host's file, final (no partial left), holds whole records and nothing else.
	file=/proc/$AGG_PID/root$dest/out/$(jq -r '.agents["edge-a"].file' <<<"$m")
	[ -f "$file" ] || fail "no file kept: $(ls -la "/proc/$AGG_PID/root$dest/out")"
	n=$(tcpdump -nn -r "$file" 2>/dev/null | wc -l)
	size=$(stat -c %s "$file")
	if [ "$n" -le 0 ] || [ "$n" -ge 3000 ]; then fail "$n records kept of 3000"; fi
	expect_eq "$size" $((24 + n * (16 + 1000))) "file size: a header and $n whole records"
	expect_eq "$(jq -r .packets <<<"$m")" "$n" "packets in the manifest"
	log "disk full: the full capture failed ($(jq -r .error_message <<<"$m")), kept $n whole \
records of 3000 ($size bytes on a 1 MiB tmpfs), truncated"
	[ -z "$(find "/proc/$AGG_PID/root$dest/out" -name '.*partial*')" ] ||
		fail "a partial file was left: $(ls -la "/proc/$AGG_PID/root$dest/out")"
	# The finished capture holds no descriptor of its destination (it lingers 600 s).
	wait_until 5 no_fd_under "$dest" ||
		fail "descriptors left under $dest: $(find "/proc/$AGG_PID/fd" -mindepth 1 -printf "%l\n")"
	# The simple capture beside it, on another disk, goes on and ends whole.
	wait_until 10 packets_are "$simple" 3000 || fail "simple capture: $(api GET "/$simple")"
	api PUT "/$simple/stop" >/dev/null
	wait_status "$simple" success 15
	m=$(cat "$STATE/captures/$simple/manifest.json")
	expect_eq "$(jq -r '.truncated // "absent"' <<<"$m")" absent "the simple capture's truncated"
	n=$(tcpdump -nn -r "$STATE/captures/$simple/capture.pcap" 2>/dev/null | wc -l)
	expect_eq "$n" 3000 "records in the simple capture"
}

test_sigkill_after_a_burst_loses_nothing_checkpointed() {
	STATE=$EC_TMPDIR/state-kill
	start_agg
	# edge-b accepts and sends nothing: the watermark stays at 0, so only the wall-clock
	# rule (1 s) releases edge-a's burst, with no message after it.
	start_burst_capture
	# Released by the window ...
	wait_until $((WINDOW_MS / 1000 + 10)) packets_are "$ID" 3000 ||
		fail "the burst was never released: $(api GET "/$ID")"
	# ... and checkpointed within checkpoint_ms: then SIGKILL.
	sleep "$(awk "BEGIN { print ($CHECKPOINT_MS + 300) / 1000 }")"
	kill_agg_and_restart killed
	burst_kept_after_restart
	log "SIGKILL $((CHECKPOINT_MS + 300)) ms after the burst was released: $KEPT of 3000 records \
kept, $LOST lost at the restart"
}

test_sigterm_with_a_hung_close_loses_nothing() {
	local rc=0 start
	STATE=$EC_TMPDIR/state-hang
	# A checkpoint a minute: what the burst leaves is checkpointed by the shutdown alone (a
	# SIGKILL would lose it, test_checkpoint_interval_is_a_setting).
	LD_PRELOAD=$EC_NNGCLOSEHANG EC_NNG_CLOSE_HANG=1 start_agg --checkpoint-ms 60000
	start_burst_capture
	wait_until $((WINDOW_MS / 1000 + 10)) packets_are "$ID" 3000 ||
		fail "the burst was never released: $(api GET "/$ID")"
	start=$(date +%s)
	kill -TERM "$AGG_PID"
	wait_until 20 bg_gone "$AGG_PID" || fail "still running 20 s after SIGTERM"
	{ bg_wait "$AGG_PID"; } 2>/dev/null || rc=$?
	expect_eq "$rc" 1 "the aggregator's exit status"
	# The data endpoint closes first: the ingest's records and checkpoints come before it.
	grep -q "closing the data endpoint: NNG has not closed the socket in 10000 ms" "$AGG_LOG" ||
		fail "no word of the hung close: $(tail -20 "$AGG_LOG")"
	log "ended $(($(date +%s) - start)) s after SIGTERM"
	mv "$AGG_LOG" "$EC_TMPDIR/agg-hang.err"
	start_agg
	burst_kept_after_restart
}

test_reorder_window_is_a_setting() {
	local n
	STATE=$EC_TMPDIR/state-window
	start_agg --reorder-window-ms 30000
	start_burst_capture
	# The default window (1 s) would have written the burst by now.
	sleep 3
	n=$(packets_of "$ID")
	expect_eq "$n" 0 "packets written 3 s after the burst, with a 30 s window"
	n=$(stop_and_count "$ID")
	expect_eq "$n" 3000 "records in the pcap once stopped"
	log "--reorder-window-ms 30000: the burst held 3 s after it came, all 3000 written at the end"
}

test_reorder_max_bytes_is_a_setting() {
	local n
	STATE=$EC_TMPDIR/state-held
	start_agg --reorder-window-ms 30000 --reorder-max-bytes 64K
	start_burst_capture
	# Past 64K the oldest records go out at once; what fits in 64K waits for the window.
	wait_until 5 packets_over "$ID" 0 || fail "nothing written past 64K: $(api GET "/$ID")"
	sleep 1
	n=$(packets_of "$ID")
	if [ "$n" -le 2000 ] || [ "$n" -ge 3000 ]; then
		fail "$n of 3000 records written past a 64K window, want most but not all"
	fi
	expect_eq "$(stop_and_count "$ID")" 3000 "records in the pcap once stopped"
	log "--reorder-max-bytes 64K: $n of 3000 records written at once, the rest held"
}

test_checkpoint_interval_is_a_setting() {
	local n lost
	STATE=$EC_TMPDIR/state-ckpt
	start_agg --checkpoint-ms 60000
	start_burst_capture
	wait_until $((WINDOW_MS / 1000 + 10)) packets_are "$ID" 3000 ||
		fail "the burst was never released: $(api GET "/$ID")"
	# The default interval (500 ms) would have checkpointed the burst by now; 60 s does not.
	sleep 1.5
	kill_agg_and_restart killed-ckpt --checkpoint-ms 60000
	wait_until $((REDIAL_STALL_S + 5)) joined 2 ||
		fail "the agents never came back: $(cat "$AGG_LOG")"
	n=$(stop_and_count "$ID")
	# Batches that came after the last checkpoint are a gap in edge-a's sequence numbers once
	# its final names its last one (ingest.h, "Restart"): lost, and counted as such.
	lost=$(jq '.agents["edge-a"] | (.records_lost_at_restart // 0) +
		(.records_lost_in_transit // 0)' "$STATE/captures/$ID/manifest.json")
	expect_eq "$n" 0 "records in the pcap after the restart"
	expect_eq "$lost" 3000 "records counted lost"
	log "--checkpoint-ms 60000: SIGKILL 1.5 s after the burst was released: $n of 3000 kept, \
$lost counted lost"
}

header_failed() {
	[ "$(grep -c '^header failed' "$EC_TMPDIR/$1.out")" -ge "$2" ]
}

test_agent_whose_dialers_gave_up_comes_back() {
	local id n t0
	STATE=$EC_TMPDIR/state-redial
	start_agg
	# edge-c's two links each fail the first SP header they write to the new aggregator (EPIPE,
	# tests/sp_fault.h): NNG's dialers then stop for good, as NNG 1.5.2's sometimes do at a
	# restart. Only the fresh dialers of common/redial.h bring it back: REDIAL_STALL_S after the
	# loss, or twice that when NNG already gave up by itself at the kill (the fault then fires
	# on the first fresh dialer).
	start_agent edge-c 1000 100 --fault-after-loss 1
	wait_until 10 joined 1 || fail "the agent never joined: $(cat "$AGG_LOG")"
	id=$(post_ok '{"filter_v1": {}, "time_limit": 120, "packet_limit": 10000,
		"type": "simple", "system": "magic-transit"}')
	wait_until 10 burst_sent edge-c "$id" || fail "no burst: $(cat "$EC_TMPDIR/edge-c.err")"
	wait_until $((WINDOW_MS / 1000 + 10)) packets_are "$id" 1000 ||
		fail "the burst was never released: $(api GET "/$id")"
	sleep "$(awk "BEGIN { print ($CHECKPOINT_MS + 300) / 1000 }")"
	kill_agg killed-redial
	t0=$SECONDS
	start_agg
	wait_until $((2 * REDIAL_STALL_S + 5)) joined 1 ||
		fail "the agent never came back after NNG gave up: $(cat "$AGG_LOG")"
	log "edge-c came back $((SECONDS - t0)) s after the restart (REDIAL_STALL_S $REDIAL_STALL_S s)"
	# Both links dialled the new aggregator and NNG gave up on each once.
	wait_until 5 header_failed edge-c 2 ||
		fail "the fault did not fire on both links: $(cat "$EC_TMPDIR/edge-c.out")"
	# The data link is back too: the final message ends the capture, every record kept.
	api PUT "/$id/stop" >/dev/null
	wait_status "$id" success $((2 * REDIAL_STALL_S + 5))
	n=$(tcpdump -nn -r "$STATE/captures/$id/capture.pcap" 2>/dev/null | wc -l)
	expect_eq "$n" 1000 "records in the pcap after the restart"
}

run_test test_disk_full_fails_that_capture_and_keeps_the_valid_prefix
run_test test_sigkill_after_a_burst_loses_nothing_checkpointed
run_test test_sigterm_with_a_hung_close_loses_nothing
run_test test_reorder_window_is_a_setting
run_test test_reorder_max_bytes_is_a_setting
run_test test_checkpoint_interval_is_a_setting
run_test test_agent_whose_dialers_gave_up_comes_back
summary
