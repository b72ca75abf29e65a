/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * agents.h: the aggregator's link to its agents: the control fan-out (fanout.c) and the data
 * ingest (ingest.c) behind the store's capture_ops, and their descriptors for the main loop.
 *
 * A capture's life across them: store_tick calls start -> the ingest prepares the output and
 * the fan-out surveys the agents; when the survey ends, the agents that accepted are expected by
 * the ingest and the capture is marked running (or failed, naming why every agent declined).
 * The ingest ends it as soon as every accepting agent sent its final message, or at expire.
 * Agents that declined a capture (e.g. a full capture's other colos) are recorded in its
 * manifest with their reason. After a restart, status replies naming a resumed capture make
 * their agents expected again.
 */
#ifndef EDGECAP_AGENTS_H
#define EDGECAP_AGENTS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct fanout;
struct ingest;

struct agents {
	const struct agg_config *cfg;
	struct store *store;
	struct fanout *fanout;
	struct ingest *ingest;
};

int agents_init(struct agents *ag, const struct agg_config *cfg, struct store *store, char *err,
		size_t errlen);
void agents_close(struct agents *ag);
/* The capture_ops for store_tick, and the ctx to pass with them. */
const struct capture_ops *agents_ops(struct agents *ag);
void *agents_ops_ctx(struct agents *ag);
/* Adds the agents' descriptors to fds (room for max); returns how many. */
int agents_poll_fds(struct agents *ag, struct pollfd *fds, int max);
/* Handles whatever is due; call after every poll. */
int agents_handle(struct agents *ag, uint64_t now_us);
/* Milliseconds until agents_handle is due at the latest. */
int agents_timeout_ms(struct agents *ag, uint64_t now_us);

#endif /* EDGECAP_AGENTS_H */
