/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ingest.h: the aggregator's data plane. Agents PUSH batches of packet records and one final
 * message per capture (common/wire.h) to an NNG PULL socket bound at --data; the ingest
 * decodes them, keeps per-capture and per-agent accounts, writes the captures' pcap files and
 * ends captures through the store (store.h).
 *
 * Trust. Every message goes through wire_decode_header, then (with require_auth) its MAC is
 * checked, and only then is its payload decompressed and checked (wire_decode_payload), so an
 * unauthenticated peer cannot make the aggregator decompress anything. A refused one is dropped
 * and counted under its wire_error_name ("truncated", "bad_zlib", ...) or its auth reason. A
 * message for a capture the store does not know is dropped as "unknown_capture", one for a capture
 * that already finished as "late" (a late final message still has its counters recorded in the
 * manifest while the ingest remembers the capture, INGEST_LINGER_S). ingest_dropped and
 * ingest_stats_json expose the counters.
 *
 * Accounts, per capture and agent (host id = the message's agent id), reported to the manifest
 * with store_update_agent when the agent is first heard of, when its final message comes, and
 * when the capture ends: "accepted", the fan-out's info (e.g. "colo"), "batches_received",
 * "records_received", "highest_seq", "batches_missing" (sequence numbers up to last_seq, or up
 * to the highest seen before the final, that never arrived: gaps, batches the agent's queue
 * dropped, and batches lost in transit; "batches_lost_in_transit" is the last of these alone),
 * "duplicates" (batches and final messages seen twice; dropped), "final_received", and from the
 * final message "stop_reason", "error", every counter of EC_CAPTURE_COUNTERS (counters.h) by its
 * name ("seen", "matched", "sampled_out", "budget_exhausted", "ring_full", "submitted", "bytes",
 * "packets_sent", "bytes_sent", "batches_sent", "records_dropped", "batches_dropped",
 * "last_seq"), "packets" and "dropped" (the manifest's first names for submitted and
 * records_dropped, kept), "records_lost_in_transit" (sent but never received). The output
 * side adds
 * "records_written", "over_limit" (not written: past packet_limit or byte_limit),
 * "records_out_of_order" (see below), "late_batches", "records_lost_at_restart", and for a full
 * capture "file" and "write_error".
 *
 * Simple captures: one pcap at store_pcap_path, every agent merged in timestamp order. Records
 * wait in a reorder window and leave it, smallest first (equal timestamps in arrival order), when
 *  - once the fan-out named the capture's agents (ingest_expect_done), every agent that has not
 *    sent its final message has sent a record at least as new (an agent's own records come in
 *    timestamp order, so nothing older can follow: exact merge, no waiting while all agents
 *    are busy; before that, an agent not heard of yet might still send older records), or
 *  - the record has waited window_ms of wall time since it arrived (an idle or slow agent holds
 *    the others back no longer than that), or
 *  - the window holds more than held_max bytes.
 * Trade-off: a larger window absorbs more clock skew between hosts, batching delay (the agent's
 * --batch-ms, 100 ms by default) and network jitter, at the cost of memory (window x rate) and
 * of progress showing up later. A record that arrives after a newer one was written is still
 * written (never dropped for lateness), out of order, and counted in records_out_of_order. At
 * the capture's end everything held is written. The window (merge.h) keeps each agent's records
 * in a FIFO of its own and merges the FIFOs; a record older than one its agent has in the
 * window (a late batch, a clock stepped back) is still merged exactly, by a slower path, and
 * counted in ingest_stats_json's "records_out_of_agent_order". Records are cut to the request's
 * snaplen. The output holds at most packet_limit packets, exactly: records past it count as
 * over_limit. When the merged output reaches packet_limit the capture finishes at once (success,
 * "packet_limit"): the pcap is complete, so the operator need not wait for the time limit; the
 * finished hook tells the fan-out, with agents_running set, to stop the agents. Their final
 * messages come in late and are still recorded in the manifest.
 *
 * Full captures: one pcap per host under store_destination_dir, "<capture id>-<host id>.pcap"
 * (host id characters other than letters, digits, '.', '_' and '-' become '_'; a name taken by
 * another host gets "-2", "-3", ...), in arrival order (an agent's records are already in
 * timestamp order). packet_limit and byte_limit, when the request has them, bind each host's
 * file, as the kernel enforces them on each host: a record that does not fit the byte limit is
 * skipped and a smaller one later may still fit, as in the kernel. A full capture is always
 * bounded: without a byte_limit, full_byte_limit binds each host's file, and at most max_hosts
 * hosts get a file.
 *
 * byte_limit counts what lands in the pcap: every record's 16-byte header
 * (INGEST_PCAP_REC_HDR) with its captured bytes, so records with cap_len 0 cannot grow a file
 * past it. The "bytes" of the accounts and of progress stay the captured bytes.
 *
 * Ending. A capture ends early once the fan-out said which agents accepted it
 * (ingest_expect_agent for each, then ingest_expect_done) and every one of them, and every other
 * agent that sent anything, has sent its final message or was lost (ingest_agent_lost), and at
 * least one sent its final; otherwise at ingest_capture_expire. The output is closed (renamed
 * into place) and the capture marked success with a stop reason:
 * "packet_limit" when the merged output reached it; else, when every agent sent its final, the
 * most telling of the agents' reasons (packet_limit, byte_limit, stopped, time_limit, error, in
 * that order; lost agents, ingest_agent_lost, do not count); else "agent_lost" when every agent
 * was lost (at expire), "stopped" when the operator stopped it, "time_limit" otherwise. It is
 * marked failed when an output could not be written (the simple pcap, or any host file of a full
 * one), or every agent reported an error and no packet was written. A write error (a full disk)
 * fails the capture at once, error_message the system's text ("No space left on device"); the
 * file keeps what was written before it, whole records only, in place, and the manifest says
 * "truncated" (out_close). A truncated or failed output is never part of a success.
 *
 * A capture the store ends without the ingest (the fan-out failed it because no agent accepted,
 * or a safety net of store.h fired) is noticed within a second: a failed one's partial output is
 * removed, and the finished hook is called as for any other end.
 *
 * Restart. Output is written to a fixed partial name (pcap_writer_open_resumable), and at most
 * every checkpoint_ms while anything changed (records the window released on the wall clock
 * included: the ingest's timer runs it, without waiting for another message; and at once when
 * an output file is created) the
 * ingest fsyncs the output and then writes a checkpoint, captures/<id>/ingest-state.json: every
 * account above, the output's length and the records each agent has in the window. A restarted
 * aggregator resumes every capture of store_list_resumed: it cuts each output back to the
 * checkpoint's length and appends to it. The cut removes a torn last record and whatever was
 * written after the checkpoint (at most checkpoint_ms of records): the price of a file and
 * accounts that agree exactly. Nothing vanishes silently: records in the window at the
 * checkpoint are counted as records_lost_at_restart, and batches that arrived after it, or were
 * in flight when the process died, show up as a gap in the agent's sequence numbers, i.e. as
 * batches_missing (and their records as records_lost_in_transit), once the agent sends again.
 * A graceful stop (ingest_close) first writes out the window and checkpoints, so then only
 * batches in flight are lost. Without a usable checkpoint (deleted, corrupt) every complete
 * record is kept and the accounts start from zero, so batches_missing is then an upper bound.
 * An output that vanished is started afresh and what the checkpoint said it held is counted in
 * records_lost_at_restart. The checkpoint is removed when the capture ends.
 *
 * Threads: everything here runs on the aggregator's main loop; the store has its own lock.
 * Times are microseconds since the epoch (store_now_us()). Functions return 0 or a negative
 * errno; free functions accept NULL.
 */
#ifndef EDGECAP_INGEST_H
#define EDGECAP_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "identity.h"
#include "store.h"
#include "tls.h"

#define INGEST_WINDOW_MS_DEFAULT     1000
#define INGEST_CHECKPOINT_MS_DEFAULT 500
#define INGEST_MAX_MSGS_DEFAULT	     64
#define INGEST_HELD_MAX_DEFAULT	     (64u << 20)
/* How long a finished capture's accounts stay, for late final messages. */
#define INGEST_LINGER_S 600
/*
 * Hosts per capture (--max-capture-hosts): messages from more are dropped and counted as
 * "too_many_agents". A full capture holds one open file per host, so this bounds its descriptors
 * (the unit's LimitNOFILE is 65536); the default serves a fleet of 10,000 hosts.
 */
#define INGEST_MAX_HOSTS_DEFAULT 10000
#define INGEST_MAX_HOSTS_MAX	 50000
/*
 * A full capture's byte bound per host file when the request has no byte_limit
 * (--full-byte-limit): the API's own maximum. Bytes are what lands in the pcap: each record's
 * 16-byte header and its captured bytes.
 */
#define INGEST_FULL_BYTE_LIMIT_DEFAULT 1000000000ULL
/* A pcap record's header (pcap_writer.h): counted against byte_limit with the record. */
#define INGEST_PCAP_REC_HDR 16
/*
 * Gaps (ranges of missing sequence numbers) remembered per agent. Past this the oldest is
 * forgotten: still counted as missing, but a batch that comes to fill it counts as a duplicate.
 */
#define INGEST_MAX_GAPS 1024

struct ingest_opts {
	const char *url; /* the data endpoint to bind (--data); NULL: no socket (tests) */
	const struct tls_opts *tls; /* for a tls+tcp:// url */
	/*
	 * Every message must carry a MAC under its host's session key (ingest_bind_key), and data
	 * for a capture is taken only from a host that accepted it (ingest_allow_agent or
	 * ingest_expect_agent). Set when the agents have certificates (--tls-ca).
	 */
	bool require_auth;
	uint32_t window_ms;	/* reorder window (--reorder-window-ms); 0: the default */
	uint32_t checkpoint_ms; /* --checkpoint-ms; 0: INGEST_CHECKPOINT_MS_DEFAULT */
	uint32_t max_msgs;	/* messages per ingest_handle call; 0: INGEST_MAX_MSGS_DEFAULT */
	uint64_t held_max;	/* --reorder-max-bytes; 0: INGEST_HELD_MAX_DEFAULT */
	uint32_t max_hosts;	/* hosts per capture; 0: INGEST_MAX_HOSTS_DEFAULT */
	/*
	 * The waiting room (--key-wait-*; 0: the INGEST_PARK_* defaults): how long a message
	 * waits, bytes and messages in all, per claimed host id and per connection.
	 */
	uint32_t park_ms;
	uint64_t park_max;
	uint32_t park_msgs;
	uint64_t park_host_max;
	uint32_t park_host_msgs;
	uint64_t park_conn_max;
	uint32_t park_conn_msgs;
	uint64_t full_byte_limit; /* a full capture's bound without byte_limit; 0: the default */
};

/*
 * Called when the ingest has finished a capture (marked success or failed), whether early or
 * from ingest_capture_expire. agents_running: some agent that took part has not sent its final
 * message (e.g. the merged pcap reached packet_limit): the fan-out should tell them to stop.
 */
struct ingest_hooks {
	void (*finished)(void *ctx, const char *capture_id, bool agents_running);
};

struct ingest;

/*
 * Binds the PULL socket (NNG_OPT_RECVMAXSZ = WIRE_MSG_MAX) and resumes every capture of
 * store_list_resumed as described above. err names the URL and the reason.
 */
int ingest_open(struct store *store, const struct ingest_opts *opts, struct ingest **out, char *err,
		size_t errlen);
/*
 * Shuts down: for every capture still running, writes out its window, checkpoints, and leaves
 * its partial files for the next start. Frees everything; NULL is accepted.
 */
void ingest_close(struct ingest *in);
void ingest_set_hooks(struct ingest *in, const struct ingest_hooks *hooks, void *ctx);

/*
 * Probes the data listener (relisten_tick, now_ms on sp_now_ms()'s clock): call it from the
 * main loop, at least every second or so. 1 when it restarted it.
 */
int ingest_listen_tick(struct ingest *in, uint64_t now_ms);
/* Data listeners restarted because they stopped answering (relisten.h). */
uint64_t ingest_listener_restarts(const struct ingest *in);
/* The socket's NNG_OPT_RECVFD (readable while messages wait), or -1 without a socket. */
int ingest_fd(const struct ingest *in);
/* A timerfd, readable when a window or a checkpoint is due; ingest_handle re-arms it. */
int ingest_timer_fd(const struct ingest *in);
/*
 * For the main loop, whenever either descriptor is readable (calling it at other times is
 * harmless): receives up to max_msgs waiting messages without blocking, then runs
 * ingest_tick and arms the timer. Returns how many messages it received, or a negative errno
 * for a socket failure.
 */
int ingest_handle(struct ingest *in, uint64_t now_us);
/*
 * The timers: releases what the reorder windows let go, writes due checkpoints, forgets
 * captures that finished INGEST_LINGER_S ago. *next_us (may be NULL) is when it is next due.
 */
int ingest_tick(struct ingest *in, uint64_t now_us, uint64_t *next_us);
/*
 * Agents' reports reach the manifest batched (one write per capture at most every second, when
 * the start survey ends, and before a status change): for a fleet, a write per agent per event
 * was quadratic. This writes every report due now (tests; ingest_close does it too).
 */
void ingest_flush_reports(struct ingest *in);
/*
 * One message as it came off the socket. Returns 0 when it was used, or why it was dropped
 * (counted): a wire_decode error, -ENOENT unknown capture, -ESTALE capture finished, -EEXIST
 * duplicate batch, -EMLINK more than max_hosts hosts, or -EIO when the capture's output failed.
 */
int ingest_feed(struct ingest *in, const void *buf, size_t len, uint64_t now_us);
/* ingest_feed of a message that came on data connection conn (its NNG pipe id; 0: none). */
int ingest_feed_from(struct ingest *in, uint32_t conn, const void *buf, size_t len,
		     uint64_t now_us);

/*
 * The fan-out's capture_ops call these. start: before asking the agents, so that the output
 * exists when their data comes; an error (e.g. the pcap or the destination directory cannot be
 * created) should fail the capture. A capture the ingest hears of first from an agent's message
 * is set up then, so calling it is not strictly required. expire: the store's expire; finishes
 * the capture now, with what arrived, as described above (0 also when it already finished).
 */
int ingest_capture_start(struct ingest *in, const struct capture_rec *c);
int ingest_capture_expire(struct ingest *in, const struct capture_rec *c);
/*
 * host_id accepted capture_id. Call it for each accepting agent, then ingest_expect_done once
 * the survey is over: from then on the capture ends as soon as all of them sent their final
 * messages. After a restart, the set is restored from the checkpoint. info (may be NULL) is a
 * JSON object of what the fan-out knows about the agent, e.g. {"colo": "ORD", "version": ...}:
 * the ingest owns the manifest entries of the agents it knows (store_update_agent replaces an
 * entry whole), so it merges info into every report it makes. -EALREADY when the capture has
 * already finished, -ENOENT when the store does not know it.
 */
int ingest_expect_agent(struct ingest *in, const char *capture_id, const char *host_id,
			const json_t *info);
int ingest_expect_done(struct ingest *in, const char *capture_id);
/*
 * With require_auth: host_id proved it runs capture_id (a start it accepted, or a status that
 * lists it), so its data for it is taken from now on, before the survey is over.
 */
int ingest_allow_agent(struct ingest *in, const char *capture_id, const char *host_id);
/*
 * Churn. ingest_agent_lost: the fan-out lost host_id (no survey answered for the lost grace).
 * In every unfinished capture where it takes part without its final message, it is marked
 * lost (its info gets "lost": true and "lost_at"): what it sent is kept and counted, it no
 * longer holds the reorder window back, and the capture ends as soon as every other agent sent
 * its final message; when every agent is lost, it waits for them until ingest_capture_expire
 * (stop reason "agent_lost"). A message from it, or
 * a status that lists the capture (ingest_allow_agent), makes it take part again ("lost":
 * false, "lost_at" kept). Returns in how many captures it was marked.
 * ingest_has_agent: host_id takes part in capture_id, accepted it, or was lost from it.
 * ingest_agent_joined: host_id accepted capture_id late (fanout_join): ingest_expect_agent with
 * info plus "joined_late": true and "joined_at". -EEXIST when it took part already.
 */
int ingest_agent_lost(struct ingest *in, const char *host_id, uint64_t now_us);
bool ingest_has_agent(struct ingest *in, const char *capture_id, const char *host_id);
int ingest_agent_joined(struct ingest *in, const char *capture_id, const char *host_id,
			const json_t *info, uint64_t now_us);
/*
 * With require_auth: host_id proved its session key. Messages from it that came first, held for
 * up to park_ms (INGEST_PARK_MS by default) in the waiting room, are taken now, in the order they
 * came. Messages that never find their host's key are dropped as "unauthenticated", a MAC that
 * does not verify as "bad_mac", data for a capture the host did not accept as "not_accepted".
 *
 * The waiting room is filled before any MAC can be checked, by whatever id a message's header
 * claims, so it is bounded four ways, each message costing its length plus PARK_COST (its
 * bookkeeping and allocation; a host with messages waiting costs PARK_HOST_COST more). Each
 * bound is an ingest_opts member, the aggregator's --key-wait-* settings, with these defaults:
 * - in all: INGEST_PARK_MAX bytes and INGEST_PARK_MSGS messages (park_max, park_msgs);
 * - per claimed host id: INGEST_PARK_HOST_MAX bytes and INGEST_PARK_HOST_MSGS messages
 *   (park_host_max, park_host_msgs; a host's first message may be larger, up to WIRE_MSG_MAX,
 *   so that any batch can wait). 64 messages are 6 s of batches at the agent's default
 *   --batch-ms 100, more than INGEST_PARK_MS; a key is bound by the first proven status reply,
 *   within a survey (1 s);
 * - per data connection (ingest_feed_from; ingest_feed's messages have none):
 *   INGEST_PARK_CONN_MAX bytes and INGEST_PARK_CONN_MSGS messages (park_conn_max,
 *   park_conn_msgs; the first may be larger), so that one peer claiming many ids cannot take
 *   the room: a real agent sends on its own connection. A peer with park_max / park_conn_max
 *   connections can still fill it, and any peer can fill one host id's quota by claiming it.
 * A binding visits only its host's messages (none: a hash lookup), expiry only the messages it
 * drops. ingest_park_stats: the room now, and the messages bindings and expiry visited so far.
 */
#define INGEST_PARK_MS	      5000
#define INGEST_PARK_MAX	      (32u << 20)
#define INGEST_PARK_MSGS      16384
#define INGEST_PARK_HOST_MAX  (1u << 20)
#define INGEST_PARK_HOST_MSGS 64
#define INGEST_PARK_CONN_MAX  (4u << 20)
#define INGEST_PARK_CONN_MSGS 1024
struct ingest_park_stats {
	uint64_t bytes, steps;
	size_t messages, hosts, conns;
};
void ingest_park_stats(const struct ingest *in, struct ingest_park_stats *st);
int ingest_bind_key(struct ingest *in, const char *host_id, const uint8_t key[ID_KEY_LEN],
		    uint64_t now_us);
/*
 * Drops host_id's session key (the fan-out forgot the host): its data is unauthenticated again
 * until it proves a key anew. Without it the keys of every host ever proven stayed for the
 * process's life. -ENOENT when it had none.
 */
int ingest_forget_key(struct ingest *in, const char *host_id);
/* Hosts with a session key bound. */
size_t ingest_keys(const struct ingest *in);

/* Messages dropped for a reason ("bad_zlib", "unknown_capture", "late", ...). */
uint64_t ingest_dropped(const struct ingest *in, const char *reason);
/*
 * {"messages", "batches", "finals", "records", "records_out_of_agent_order", "bytes" (of the
 * messages received), "finals_sum": {every EC_CAPTURE_COUNTERS counter summed over the final
 * messages taken}, "dropped": {reason: n}} (new reference).
 */
json_t *ingest_stats_json(const struct ingest *in);
/* An agent's report as it would go to the manifest now (new reference), or NULL. */
json_t *ingest_agent_json(const struct ingest *in, const char *capture_id, const char *host_id);

#endif /* EDGECAP_INGEST_H */
