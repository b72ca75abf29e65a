/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_internal.h: the store's state, shared by its modules and by nothing else: store.c (the
 * record state machine, the rate rules, the lifecycle timers), store_index.c (its indexes),
 * manifest.c (the manifest codec), store_load.c (opening the state directory, loading it, the
 * restart rules) and store_admin.c (retention).
 * store.h is the contract with the rest of the aggregator.
 *
 * Locking: every function here expects the caller to hold s->lock, except where said.
 */
#ifndef EDGECAP_STORE_INTERNAL_H
#define EDGECAP_STORE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bucket_url.h"
#include "store.h"

#define MANIFEST_NAME	 "manifest.json"
#define MANIFEST_TMP	 ".manifest.json."
#define PCAP_NAME	 "capture.pcap"
#define UPLOAD_DIR_NAME	 "upload"
#define MANIFEST_VERSION 1
#define US_PER_S	 1000000ULL
/* A manifest whose write failed is tried again this long after, doubling up to the max. */
#define STORE_MANIFEST_RETRY_MS	    1000
#define STORE_MANIFEST_RETRY_MAX_MS 60000

/*
 * One capture as the store keeps it: its record (copied out as struct capture_rec) and what
 * only the store needs. Not the engine's struct capture (engine/engine.h): that one is a capture
 * running in the kernel.
 */
struct store_capture {
	struct capture_rec rec;
	/*
	 * host id -> what that agent reported (store_update_agent). NULL: only in the manifest on
	 * disk. A capture's go STORE_AGENTS_HOLD_S after it reached a final status (store_tick),
	 * or at once when loaded so: with 10,000 agents they are 40 MB, and a store keeps its
	 * finished captures retention-days. Whatever reads or changes them reads them back first.
	 */
	json_t *agents;
	bool start_due;	     /* ops->start not called yet */
	bool stop_due;	     /* ops->stop not called yet for the operator's stop */
	uint64_t expired_us; /* when ops->expire was called; 0: not yet */
	/* The manifest on disk lags (store_update_agent, debounced); when it was last written. */
	bool manifest_dirty;
	uint8_t manifest_fails;	   /* writes failed in a row: dirty, tried again (store_tick) */
	uint64_t manifest_mono_us; /* CLOCK_MONOTONIC */
	/* rec's submitted, started and stop_requested times on the rule clock (store_now_us) */
	uint64_t submitted_at, started_at, stop_at;
	uint64_t finished_at; /* its final status, on the rule clock; 0: before this start */
	bool in_busy;	      /* in s->busy (store_index.c) */
	bool in_census;	      /* counted in s->census (store_index.c) */
};

/*
 * Writes c's manifest now if it lags (manifest_dirty); a failure is logged. For store_close and
 * store_tick.
 */
void store_manifest_flush(struct store *s, struct store_capture *c);

/*
 * One account's captures: their positions in s->caps, oldest first. caps only grows at its end,
 * so positions stay valid, and a page of the account's list is read without a walk over every
 * record (store_list_page).
 */
struct store_account_index {
	char account[STORE_ACCOUNT_MAX + 1];
	size_t *pos;
	size_t n, cap;
};

struct store {
	pthread_mutex_t lock;
	struct store_opts opts; /* opts.state_dir points to state_dir below */
	char state_dir[PATH_MAX];
	/* opts.dest_roots, copied (or STATE_DIR/destinations); dest_root[i] points into them */
	char dest_root_buf[STORE_MAX_DEST_ROOTS][PATH_MAX];
	const char *dest_root[STORE_MAX_DEST_ROOTS];
	size_t n_dest_roots;
	/* opts.buckets, copied */
	char bucket[STORE_MAX_BUCKETS][BUCKET_NAME_MAX + 1];
	size_t n_buckets;
	struct store_capture **caps; /* oldest first: submitted_us ascending */
	size_t n, cap;
	uint64_t last_submitted_us;
	int wake_fd;
	/* The indexes over caps (store_index.c), made again after retention closes caps up. */
	struct store_account_index *accts;
	size_t n_accts, cap_accts;
	struct store_capture **ids; /* by id: open addressing, ids_cap a power of 2, load <= 1/2 */
	size_t ids_cap;
	/*
	 * What store_tick looks at: every capture not final (its agents or its upload still to
	 * come), whose manifest lags, or that holds its agents in memory, and some that no longer
	 * need it (store_busy_prune); each at most once (in_busy). The captures not final are in
	 * the order they came: the lists of them (store_list_status) are read from here.
	 */
	struct store_capture **busy;
	size_t n_busy, busy_cap;
	/* The indexed records by status and type, kept as they change (store_set_status). */
	uint64_t census[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES];
};

/* buf = a/b, or a/b/c when c is not NULL; -ENAMETOOLONG when it does not fit. No lock needed. */
int store_path_join(char *buf, size_t len, const char *a, const char *b, const char *c);
/* Frees a capture that is not (or no longer) in s->caps; NULL is accepted. */
void store_capture_free(struct store_capture *c);
/*
 * The indexes (store_index.c). store_index_add adds s->caps[pos] (its position must stay; caps
 * only grows at its end) to each: -ENOMEM with the record in none of them (its account may
 * be listed, with no capture, as after retention). store_index_rebuild makes them again for
 * every record, after caps lost some: no allocation when it has not grown.
 */
int store_index_add(struct store *s, size_t pos);
int store_index_rebuild(struct store *s);
void store_index_free(struct store *s);
/* The record of id, or NULL. */
struct store_capture *store_find(const struct store *s, const char *id);
/* The account's positions, or NULL when it has no capture. */
struct store_account_index *store_account_find(const struct store *s, const char *account);
/*
 * c's status becomes st, and the census counts it there: every change of an indexed record's
 * status goes through here.
 */
void store_set_status(struct store *s, struct store_capture *c, enum capture_status st);
/*
 * c into the busy list, when its manifest comes to lag: cannot fail (the list has room for every
 * record). store_busy_prune drops those with nothing left for the tick.
 */
void store_busy_add(struct store *s, struct store_capture *c);
void store_busy_prune(struct store *s);
/* Room for one more capture in s->caps; -ENOMEM. */
int store_grow(struct store *s);
/*
 * Any unfinished status -> st (success or failed), with the stop reason or error message (each
 * may be NULL), and the manifest rewritten; no ops are due for a finished capture. Returns the
 * manifest write's result: the change stands in memory either way.
 */
int store_capture_finish(struct store *s, struct store_capture *c, enum capture_status st,
			 const char *reason, const char *message, uint64_t now_us);

#endif /* EDGECAP_STORE_INTERNAL_H */
