/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store.h: the aggregator's capture store. It owns every capture's record (request, status,
 * times, per-agent results), the API's rate rules, the capture directories on disk, and the
 * lifecycle timers; the HTTP API, the agent fan-out and the ingest all go through it.
 *
 * On disk, under the state directory:
 *
 *     captures/<id>/manifest.json   the record, rewritten on every change (temp file, fsync,
 *                                   rename, fsync of the directory): never half written
 *     captures/<id>/capture.pcap    simple captures only: the merged pcap, written by the ingest
 *                                   (store_pcap_path), downloaded through the API
 *
 * Lifecycle: pending -> running -> success | failed (failed carries error_message) for simple
 * captures; full ones go pending -> running -> conversion_pending -> conversion_running ->
 * complete | failed, the conversion (the files' move to their destination, uploads to a
 * bucket) being the uploader's (uploader.h). A stop once the capture is in conversion is
 * -EALREADY: the agents are done with it.
 *  - store_create makes a pending record (rate rules checked in the critical section that
 *    inserts it).
 *  - store_tick, on the main loop, hands new captures to capture_ops.start, operator stops to
 *    capture_ops.stop, and running captures whose time is up (started + time_limit + grace, or
 *    stop requested + grace) to capture_ops.expire. The ops move the capture on with
 *    store_mark_running / store_mark_success / store_mark_failed.
 *  - Safety nets, so that no capture stays unfinished forever (a stuck full capture would block
 *    every later one): a capture still pending at submitted + time_limit + grace fails ("no agent
 *    confirmed ..."), and one still running STORE_FINISH_TIMEOUT_S after its expire call fails.
 *  - A stop request does not change the status: the capture stays running until the agents'
 *    final reports are in (or the grace passes) and then succeeds with what was captured.
 *
 * Restart: store_open loads every manifest. success and failed captures come back unchanged.
 * running ones stay running with rec.resumed set and are listed by store_list_resumed: the fan-out
 * resumes them once agents reconnect; if nothing does, store_tick expires them at their deadline
 * like any other. pending ones never had an agent's confirmation: they fail ("the aggregator
 * restarted before any agent confirmed the capture") rather than start late, over a window the
 * operator did not ask for.
 *
 * Threads: the HTTP thread and the main loop share one store; every function takes its mutex.
 * store_create makes the capture's directory and manifest before it takes the mutex for the
 * insertion, so that its mkdir and fsyncs stall no reader. Records leave the store as copies
 * (struct capture_rec), never as pointers into it. store_tick
 * calls the ops on its caller's thread with the mutex released, so they may call any store
 * function. store_wake_fd becomes readable when store_tick has new work (a create or a stop).
 *
 * Times are microseconds since the epoch, UTC (the API's RFC 3339 form has microseconds); 0 means
 * "not (yet)". Functions that record a time take it as now_us (store_now_us(), the step-free rule
 * clock: see "Clock" below) so that tests can drive the rules and timers; a record's times are
 * the wall clock (store_wall_us(now_us)). Every function returns 0 or a negative errno:
 * -ENOENT (no such capture), -EALREADY (the capture already finished), -EAGAIN (simple-capture
 * interval), -EBUSY (full captures pending or running), -EINVAL (a request the store refuses:
 * a destination_conf outside the destination roots), -ENOMEM, or a file system error.
 */
#ifndef EDGECAP_STORE_H
#define EDGECAP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "request.h"

#define STORE_ID_LEN	  32 /* lower-case hex characters */
#define STORE_ACCOUNT_MAX 64
/* A running capture this long past its expire call is failed: the ingest never finished it. */
#define STORE_FINISH_TIMEOUT_S 60
/* "2021-12-20T17:29:20.641845Z" and its terminating NUL. */
#define RFC3339_US_LEN 28

enum capture_status {
	CAPTURE_PENDING = 0,
	CAPTURE_RUNNING = 1,
	CAPTURE_SUCCESS = 2, /* simple captures' end */
	CAPTURE_FAILED = 3,
	/* Full captures, once the agents are done: the files wait for, then go through, the
	 * uploader (uploader.h), and the capture ends complete (or failed). */
	CAPTURE_CONVERSION_PENDING = 4,
	CAPTURE_CONVERSION_RUNNING = 5,
	CAPTURE_COMPLETE = 6,
};
#define CAPTURE_STATUS_LAST CAPTURE_COMPLETE

/* A copy of one capture's record. */
struct capture_rec {
	char id[STORE_ID_LEN + 1];
	char account[STORE_ACCOUNT_MAX + 1];
	struct capture_request req;
	bool colo_as_colo; /* the request spelled colo_name "colo": shown back the same way */
	enum capture_status status;
	uint64_t submitted_us;	    /* strictly increasing across the store */
	uint64_t started_us;	    /* store_mark_running */
	uint64_t stop_requested_us; /* store_request_stop */
	uint64_t finished_us;	    /* store_mark_success / store_mark_failed */
	uint64_t packets;	    /* in the capture's output so far (store_set_progress) */
	uint64_t bytes;
	char stop_reason[64];	 /* why it ended, e.g. "time_limit", "stopped", "packet_limit" */
	char error_message[512]; /* when failed */
	bool truncated;		 /* a write error cut its output short */
	bool resumed;		 /* running when the aggregator restarted */
};

/* At most this many destination roots, and buckets allowed. */
#define STORE_MAX_DEST_ROOTS 16
#define STORE_MAX_BUCKETS    16

struct store_opts {
	const char *state_dir;
	/*
	 * Where full captures' files may go (--destination-root); none: STATE_DIR/destinations.
	 * store_open makes a root's last component when it is missing, and fails when it cannot.
	 */
	const char *const *dest_roots;
	size_t n_dest_roots;
	/*
	 * The buckets full captures may go to (--s3-allow-bucket, by name, for s3:// and gs://):
	 * any other is refused naming destination_conf. None: no bucket destination at all.
	 */
	const char *const *buckets;
	size_t n_buckets;
	/*
	 * Asked by store_create for a full capture to a bucket: 0 when the account proved it
	 * owns the bucket (ownership.h), else -EPERM with err saying so. NULL: no check.
	 */
	int (*bucket_owned)(void *ctx, const char *account, const char *destination_conf, char *err,
			    size_t errlen);
	void *bucket_owned_ctx;
	uint32_t simple_interval_s; /* per account, one simple capture per interval; 0: no limit */
	uint32_t max_full; /* per account, full captures pending or running at once; 0: no limit */
	uint32_t grace_s;  /* wait for agents' final reports after a capture's end */
	/*
	 * --manifest-interval-ms: store_update_agent rewrites a capture's manifest at most once
	 * per interval (monotonic time); what changed in between goes out with the next write,
	 * which store_tick makes when the interval is over, and every status change (and
	 * store_close) writes at once. 0: every update is written at once.
	 */
	uint32_t manifest_interval_ms;
	/*
	 * Called while store_open loads the state directory, after every
	 * STORE_LOAD_PROGRESS_EVERY captures read, with how many so far (may be NULL): a store of
	 * many captures takes a while to load, and the aggregator tells systemd it is alive.
	 */
	void (*load_progress)(void *ctx, size_t read);
	void *load_progress_ctx;
};
#define STORE_LOAD_PROGRESS_EVERY 1024
/* The aggregator's default for manifest_interval_ms. */
#define STORE_MANIFEST_INTERVAL_MS_DEFAULT 1000
/*
 * A capture's agents stay in memory this long after it reached a final status (success,
 * failed, complete), for the late finals the ingest takes while it remembers the capture
 * (INGEST_LINGER_S); then only its manifest on disk has them, read back for whatever comes
 * later. A full capture's upload, which notes each host's progress in them, ends in a final
 * status: they stay while it runs.
 */
#define STORE_AGENTS_HOLD_S 660

/*
 * How the store's lifecycle reaches the agents. Called by store_tick on the main loop, with the
 * store unlocked; ctx is store_tick's. Each returns 0 or a negative errno.
 *  - start: a new pending capture. Ask the agents to start it; once one accepted, call
 *    store_mark_running; if none did, store_mark_failed (e.g. "no agent accepted the capture").
 *    An error return fails the capture at once ("failed to start the capture: ...").
 *  - stop: the operator asked to stop. Ask the agents to stop; the capture ends like one whose
 *    time is up (success once the final reports are in, or at expire). An error is logged only.
 *  - expire: the capture's time plus grace is up (or stop requested + grace). Finish now with
 *    what arrived: close the output, store_mark_success (or store_mark_failed). Called once per
 *    capture; an error return fails the capture ("failed to finish the capture: ...").
 */
struct capture_ops {
	int (*start)(void *ctx, const struct capture_rec *c);
	int (*stop)(void *ctx, const struct capture_rec *c);
	int (*expire)(void *ctx, const struct capture_rec *c);
};

struct store;

/*
 * Opens (creating the directories when missing) and loads the state directory, as described
 * above. A manifest that cannot be read is skipped with a warning: one bad file does not keep
 * the aggregator down. The error message names the path and the reason.
 */
int store_open(const struct store_opts *opts, struct store **out, char *err, size_t errlen);
/* Frees everything, after writing the manifests the debounce held back; NULL is accepted. */
void store_close(struct store *s);
/*
 * Writes now every manifest the debounce holds back (store_close does too): before a step of
 * the shutdown that may not return (sp_close). NULL is accepted.
 */
void store_flush(struct store *s);
/* An eventfd, readable when store_tick has work; store_tick drains it. */
int store_wake_fd(const struct store *s);

/*
 * Stores a new capture (status pending) for a request validated in REQ_SCOPE_API: a fresh
 * random id, submitted = now_us (or 1 us after the previous capture, so that the order is
 * total), its directory and manifest. The rate rules count per account: refused with -EAGAIN
 * when a simple capture comes within simple_interval_s of the account's previous simple one
 * (*retry_after_s says when to come back; may be NULL), or -EBUSY when max_full full captures of
 * the account are pending or running. err says why, for the API's reply, and names only that
 * account's captures. Nothing is stored when it fails: a capture refused after its files were made
 * (another create came first) has them removed.
 */
int store_create(struct store *s, const char *account, const struct capture_request *req,
		 bool colo_as_colo, uint64_t now_us, struct capture_rec *out,
		 uint32_t *retry_after_s, char *err, size_t errlen);

int store_get(struct store *s, const char *id, struct capture_rec *out);
/* Up to max records of account (every account when NULL), newest first. */
int store_list(struct store *s, const char *account, struct capture_rec *out, size_t max,
	       size_t *n);
/*
 * Page page (from 1) of account's captures, per_page of them, newest first, into out (room for
 * per_page); *n how many, *total how many the account has. Read from the account's index, not
 * a walk over every record.
 */
int store_list_page(struct store *s, const char *account, size_t page, size_t per_page,
		    struct capture_rec *out, size_t *n, size_t *total);
/* The captures running when the aggregator restarted; *out is malloc'd (free it), *n its size. */
int store_list_resumed(struct store *s, struct capture_rec **out, size_t *n);

/*
 * The operator's stop: records stop_requested_us and has store_tick call ops->stop. Repeating it
 * changes nothing. -EALREADY when the capture already finished. out (may be NULL) gets the
 * record in every case where the capture exists.
 */
int store_request_stop(struct store *s, const char *id, uint64_t now_us, struct capture_rec *out);

/* pending -> running (running -> running is a no-op). -EALREADY when finished. */
int store_mark_running(struct store *s, const char *id, uint64_t now_us);
/*
 * A full capture's agents are done: pending | running | conversion_pending -> st
 * (CAPTURE_CONVERSION_PENDING, then CAPTURE_CONVERSION_RUNNING once the uploader takes it),
 * with the stop reason (may be NULL). -EALREADY when it ended already.
 */
int store_mark_conversion(struct store *s, const char *id, enum capture_status st,
			  const char *stop_reason, uint64_t now_us);
/* Any unfinished status -> complete: a full capture's files are at their destination. */
int store_mark_complete(struct store *s, const char *id, uint64_t now_us);
/*
 * The captures in status st, oldest first; *out is malloc'd (free it), *n its size. For a status
 * not final, only the captures not final are looked at; a final one walks every record kept.
 */
int store_list_status(struct store *s, enum capture_status st, struct capture_rec **out, size_t *n);
/*
 * The failed captures whose destination is a bucket (their files wait in the state directory)
 * and that failed keep_us or longer before now_us, oldest first: what the uploader's sweep
 * removes the files of (it checks that they are still there). Times on the rule clock
 * (store_now_us): one that failed before this start counts from its finished_us, on the rule
 * clock (store_from_wall_us). As store_list_status, but no other failed capture is copied.
 */
int store_list_failed_uploads(struct store *s, uint64_t keep_us, uint64_t now_us,
			      struct capture_rec **out, size_t *n);
/* pending | running -> success. stop_reason may be NULL. -EALREADY when finished. */
int store_mark_success(struct store *s, const char *id, const char *stop_reason, uint64_t now_us);
/* pending | running -> failed, with error_message. -EALREADY when finished. */
int store_mark_failed(struct store *s, const char *id, const char *error_message, uint64_t now_us);
/*
 * Packets and bytes in the capture's output so far (packets_remaining comes from it). Kept in
 * memory only, as it changes with every batch: the next manifest write (any status change or
 * store_update_agent) records it.
 */
int store_set_progress(struct store *s, const char *id, uint64_t packets, uint64_t bytes);
/*
 * Marks the capture's output truncated: a write error (a full disk) cut it short, and what it
 * holds is the valid prefix, whole records. In memory until the next manifest write (the
 * failure that follows); "truncated": true in the manifest.
 */
int store_set_truncated(struct store *s, const char *id);
/*
 * Records what one agent reported for a capture, under agents.<host_id> in the manifest,
 * replacing what that agent reported before. agent_info must be a JSON object; it is copied.
 * The ingest decides its members (ingest.h, "Accounts"; docs/manifest.md): "colo", "accepted",
 * "stop_reason", the counters of the agent's final message named as in counters.h, and more.
 * Accepted in any status: a late final report still belongs in the manifest. Written to disk
 * at most once per manifest_interval_ms (store_opts): a lost update is at most that old, and
 * the ingest's checkpoint, not the manifest, is what a restart resumes from.
 */
int store_update_agent(struct store *s, const char *id, const char *host_id,
		       const json_t *agent_info);
/*
 * The same for several agents at once, with one manifest write: agents is a JSON object of
 * host_id -> agent_info (each copied). For a fleet, a write per agent would be quadratic.
 */
int store_update_agents(struct store *s, const char *id, const json_t *agents);
/*
 * The same, taking agents (the caller's reference, released here whatever happens) instead of
 * copying it: for a caller that built it for this and keeps no reference to any of its members.
 * 10,000 agents' reports were deep-copied, then the caller's freed, at each flush.
 */
int store_update_agents_new(struct store *s, const char *id, json_t *agents);
/*
 * store_update_agents_new without the manifest write: readers of the store see the agents at
 * once, the file with the capture's next manifest write (the capture's manifest is marked as
 * lagging, so a write comes even if nothing else changes). For a caller about to change the
 * capture's status, which writes the manifest anyway: one write of a 10,000-agent manifest
 * instead of two.
 */
int store_stage_agents_new(struct store *s, const char *id, json_t *agents);
/*
 * The capture's manifest as written (a new reference), or NULL when there is no such capture, or
 * when its agents are on disk only and the file cannot be read (logged): not a manifest without
 * agents.
 */
json_t *store_manifest(struct store *s, const char *id);
/* The request as the operator sent it (request_to_json, "colo" kept as spelled); new reference. */
json_t *store_request_json(const struct capture_rec *c);

/* Paths under the state directory (they never change, so no lock is taken). */
int store_capture_dir(const struct store *s, const char *id, char *buf, size_t len);
int store_pcap_path(const struct store *s, const char *id, char *buf, size_t len);
/* Whether the capture's destination_conf is a bucket (s3:// or gs://). */
bool store_is_bucket(const struct capture_rec *c);
/* The capture's local directory for files on their way to its bucket: captures/<id>/upload. */
int store_upload_dir(const struct store *s, const char *id, char *buf, size_t len);
/*
 * Where a full capture's files go: for a bucket, store_upload_dir (the files wait there for
 * the uploader); otherwise destination_conf as a directory, which must lie beneath one
 * of the destination roots (safefile.h's safe_confine). A file:// URL gives its path, an
 * absolute path is used as it is, a relative one (the seeds' "${BUCKET}") is taken beneath the
 * first root; `..` is refused wherever it stands. buf gets ROOT/REL. -EINVAL or -EPERM (err
 * says why, starting "destination_conf: ") when it is not allowed. Lexical only: see
 * store_destination_open for the symlinks.
 */
int store_destination_dir(const struct store *s, const struct capture_rec *c, char *buf, size_t len,
			  char *err, size_t errlen);
/*
 * store_destination_dir, then the directory opened beneath its root without following any
 * symlink (made, mode 0750, where missing); *fd is the directory. -ELOOP when a symlink is on
 * the way. err says what failed.
 */
int store_destination_open(const struct store *s, const struct capture_rec *c, int *fd, char *buf,
			   size_t len, char *err, size_t errlen);

/*
 * The lifecycle timer, run by the main loop whenever store_wake_fd is readable or *next_us is
 * reached: calls ops as described above and applies the safety nets. *next_us is the time of
 * the next deadline (UINT64_MAX when there is none).
 */
int store_tick(struct store *s, uint64_t now_us, const struct capture_ops *ops, void *ctx,
	       uint64_t *next_us);

/*
 * Retention (store_admin.c): removes every finished capture that finished (or, without a finish
 * time, was submitted) before now_us - max_age_us (0: no age rule), and, per account, every
 * finished capture past its newest max_kept finished ones (0: no limit), from memory and from
 * disk: its directory under captures/ (manifest, pcap, checkpoint) goes. Finished here is a
 * final status (success, failed, complete): a capture not there yet is never removed, however
 * old, nor counted. Files under destination roots are the destination's and stay.
 * *removed (may be NULL) is how many went. Records leave under the lock; files are removed
 * after it is released. Returns 0, or the first file system error (the records are gone from
 * memory in any case; a directory left behind is removed at the next start).
 */
int store_retain(struct store *s, uint64_t now_us, uint64_t max_age_us, size_t max_kept,
		 size_t *removed);

/*
 * Captures by status (enum capture_status) and type (enum capture_type), as counts[st][type]:
 * counted as they change, not by a walk over every record.
 */
#define STORE_CENSUS_STATUSES 8
#define STORE_CENSUS_TYPES    2
void store_census(struct store *s, uint64_t counts[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES]);

/*
 * Clock. store_now_us() is the aggregator's "now" for every rule: time limits, deadlines, expiry,
 * grace, checkpoint and rate rules. It is CLOCK_BOOTTIME in microseconds, offset once (at its
 * first call) to the epoch: equal to the wall clock until the wall clock steps, and it never
 * steps itself. A time the user sees or that must survive a restart (the records' submitted,
 * started, stop_requested and finished times: API and manifest) is the wall clock, taken with
 * store_wall_us() when the time is recorded; a time loaded from a manifest comes back to the
 * rule clock with store_from_wall_us() (at most now). store_clock_shift steps this process's
 * view of the wall clock, for tests.
 */
uint64_t store_now_us(void);
/* The wall clock at rule-clock time t (t + the wall clock's steps since the first reading). */
uint64_t store_wall_us(uint64_t t);
/* The rule-clock time of a wall-clock time, at most store_now_us(); 0 stays 0. */
uint64_t store_from_wall_us(uint64_t wall);
/* The wall clock's steps since the first reading, in microseconds (0 without a step). */
int64_t store_clock_steps_us(void);
void store_clock_shift(int64_t us);
const char *capture_status_name(enum capture_status st);
/* The capture's own part is over: no agent works on it (every status but pending, running). */
bool capture_status_captured(enum capture_status st);
/* Nothing more happens to it: success, failed, complete. */
bool capture_status_final(enum capture_status st);
/* Ids are STORE_ID_LEN lower-case hex characters. */
bool store_id_valid(const char *id);
/* Account ids in paths: 1 to STORE_ACCOUNT_MAX letters, digits, '-' or '_'. */
bool store_account_valid(const char *account);
/* "2021-12-20T17:29:20.641845Z"; buf holds at least RFC3339_US_LEN bytes. */
void rfc3339_us_format(uint64_t us, char *buf, size_t len);
/* Parses exactly the form above (UTC, six fraction digits). */
int rfc3339_us_parse(const char *s, uint64_t *us);

#endif /* EDGECAP_STORE_H */
