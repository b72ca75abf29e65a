/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lifecycle.h: the capture lifecycle across the aggregator's agents. It is the store's
 * capture_ops (start, stop, expire): it drives the control fan-out (fanout.c) and the data ingest
 * (ingest.c) for each capture, turns their events into store status changes, and hands their
 * descriptors to the main loop.
 *
 * A capture's life across them: store_tick calls start -> the ingest prepares the output and
 * the fan-out surveys the agents; when the survey ends, the agents that accepted are expected by
 * the ingest and the capture is marked running (or failed, naming why every agent declined).
 * The ingest ends it as soon as every accepting agent sent its final message or was lost (no
 * survey answered for --agent-lost-grace), or at expire. An agent that joins (first seen, or
 * back) while a capture runs is asked to join it (fanout_join) for the time and budget left.
 * Agents that declined a capture (e.g. a full capture's other colos) are recorded in its
 * manifest with their reason. After a restart, status replies naming a resumed capture make
 * their agents expected again.
 */
#ifndef EDGECAP_LIFECYCLE_H
#define EDGECAP_LIFECYCLE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct fanout;
struct ingest;
struct uploader;

struct lifecycle {
	const struct agg_config *cfg;
	struct store *store;
	struct fanout *fanout;
	struct ingest *ingest;
	struct uploader *uploader; /* told when a full capture's files are ready (may be NULL) */
};

int lifecycle_init(struct lifecycle *lc, const struct agg_config *cfg, struct store *store,
		   char *err, size_t errlen);
void lifecycle_close(struct lifecycle *lc);
/* The capture_ops for store_tick, and the ctx to pass with them. */
const struct capture_ops *lifecycle_ops(struct lifecycle *lc);
void *lifecycle_ops_ctx(struct lifecycle *lc);
/* Adds the agents' descriptors to fds (room for max); returns how many. */
int lifecycle_poll_fds(struct lifecycle *lc, struct pollfd *fds, int max);
/* Handles whatever is due; call after every poll. */
int lifecycle_handle(struct lifecycle *lc, uint64_t now_us);
/* Milliseconds until lifecycle_handle is due at the latest. */
int lifecycle_timeout_ms(struct lifecycle *lc, uint64_t now_us);

#endif /* EDGECAP_LIFECYCLE_H */
