/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_internal.h: the store's state, shared by its three modules and by nothing else:
 * store.c (the record state machine, the rate rules, the lifecycle timers), manifest.c (the
 * manifest codec) and store_load.c (opening the state directory, loading it, the restart rules).
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

/*
 * One capture as the store keeps it: its record (copied out as struct capture_rec) and what
 * only the store needs. Not the engine's struct capture (engine/engine.h): that one is a capture
 * running in the kernel.
 */
struct store_capture {
	struct capture_rec rec;
	json_t *agents;	     /* host id -> what that agent reported (store_update_agent) */
	bool start_due;	     /* ops->start not called yet */
	bool stop_due;	     /* ops->stop not called yet for the operator's stop */
	uint64_t expired_us; /* when ops->expire was called; 0: not yet */
	/* The manifest on disk lags (store_update_agent, debounced); when it was last written. */
	bool manifest_dirty;
	uint64_t manifest_mono_us; /* CLOCK_MONOTONIC */
	/* rec's submitted, started and stop_requested times on the rule clock (store_now_us) */
	uint64_t submitted_at, started_at, stop_at;
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
	struct store_account_index *accts;
	size_t n_accts, cap_accts;
};

/* buf = a/b, or a/b/c when c is not NULL; -ENAMETOOLONG when it does not fit. No lock needed. */
int store_path_join(char *buf, size_t len, const char *a, const char *b, const char *c);
/* Whether the capture reached a final status (nothing more will happen to it). */
bool store_capture_finished(const struct store_capture *c);
/* Frees a capture that is not (or no longer) in s->caps; NULL is accepted. */
void store_capture_free(struct store_capture *c);
/* Adds s->caps[pos] to its account's index; -ENOMEM. */
int store_index_add(struct store *s, size_t pos);
/* Frees the account indexes. */
void store_index_free(struct store *s);
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
