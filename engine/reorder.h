/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * reorder.h: a capture's reorder window. Records are held back here until they can be handed on
 * in (timestamp, arrival) order, merged across the sources they come from.
 *
 * A source is one of the engine's rings (one per interface and CPU; past REORDER_MAX_SOURCES rings
 * share sources). The records of one ring arrive in timestamp order but for CPUs racing on a
 * shared ring (by microseconds), while the engine
 * drains the rings one after the other, so two sources interleave over a whole drain. Each
 * source therefore has a run of its own:
 *   - an arena: a ring of bytes where the records, header and data contiguous, are appended in
 *     arrival order, and handed to the sink from where they lie (the one copy is out of the
 *     kernel's ring). Space comes back in arrival order as records are released. A full arena
 *     is reallocated to twice what it holds. In a zeroed window a large one that holds little
 *     shrinks by half; a window given a floor (reorder_init) goes back to its floor only through
 *     reorder_trim(), after a burst. Arenas are mapped pre-faulted. No allocation, no move and
 *     no page fault per record.
 *   - an index of {timestamp, arrival, position}, a ring too, kept sorted by insertion from the
 *     tail: it walks back only while the new record is older than the one before it, usually
 *     not at all.
 * reorder_next() takes the oldest head of the runs. Equal timestamps keep their arrival order,
 * within a source and across sources.
 *
 * A zeroed struct reorder is an empty window with the smallest floor (64 KiB arenas);
 * reorder_init() gives it a floor of its own; reorder_free() releases its memory. The fields
 * below are reorder.c's own.
 *
 * Its sibling is the aggregator's merge (aggregator/merge.h): both merge k nearly ordered sources
 * by timestamp. They stay two because their sources differ. Here the records come from the
 * kernel's rings, at most REORDER_MAX_SOURCES of them on the agent's per-packet path, each with
 * small disorder (CPUs racing): a per-ring arena, an index sorted from the tail, and a scan over
 * the few ring heads. There the records come from the network, up to thousands of agents, each
 * already in timestamp order but for rare strays: per-agent FIFOs with a side heap for the
 * strays, a heap over the agents' heads, and a watermark over the live agents. One module would
 * make each pay for the other's case.
 */
#ifndef EDGECAP_REORDER_H
#define EDGECAP_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include "capture_abi.h"

#define REORDER_MAX_SOURCES 64

struct reorder_entry {
	uint64_t tstamp_ns;
	uint64_t seq; /* arrival order, across sources */
	uint64_t pos; /* where the record starts in its run's arena, as a stream offset */
};

/*
 * Positions are offsets in the stream of bytes ever appended to the run, so that a reallocation
 * moves bytes without touching the index: stream offset pos lies at buf[(pos - base) % buf_cap].
 * Capacities are powers of two.
 */
struct reorder_run {
	struct reorder_entry *idx; /* entries head..tail-1 (mod idx_cap): held records, sorted */
	size_t head, tail, idx_cap;
	size_t idx_limit; /* tail may reach this without a check */
	uint8_t *buf;
	size_t buf_cap;
	uint64_t base;
	uint64_t reclaim;   /* records before this offset are all released */
	uint64_t end;	    /* end of the last record appended */
	uint64_t limit;	    /* end may reach this without a check */
	unsigned int quiet; /* reorder_trim calls in a row that found it holding little */
};

struct reorder {
	struct reorder_run run[REORDER_MAX_SOURCES];
	uint64_t busy; /* bit i: run i holds records */
	uint64_t seq;
	size_t held;
	size_t arena_floor, index_floor; /* 0: the smallest */
};

/*
 * An empty window whose arenas start at arena_bytes (rounded up to a power of two, at least
 * 64 KiB), and their indexes at what such an arena holds of 64-byte records. They grow only past
 * the most they ever held, and shrink only back to the floor, through reorder_trim(). A run's
 * memory is allocated on its first record and kept until reorder_free().
 */
void reorder_init(struct reorder *r, size_t arena_bytes);

/*
 * Copies a record into the window: rec's header with tstamp_ns and cap_len replaced, then
 * cap_len bytes of data. 0, -EINVAL for a source out of range, or -ENOMEM (the window then
 * holds what it held).
 */
int reorder_push(struct reorder *r, unsigned int src, const struct ec_record *rec,
		 uint64_t tstamp_ns, const uint8_t *data, uint32_t cap_len);

/*
 * Takes the oldest held record out of the window if its timestamp is below horizon, else
 * returns NULL. Its cap_len data bytes follow it (reorder_data). The record stays readable until
 * the next reorder_push or reorder_free on r, so the caller hands it on straight from the arena.
 */
const struct ec_record *reorder_next(struct reorder *r, uint64_t horizon);

static inline const uint8_t *reorder_data(const struct ec_record *rec)
{
	return (const uint8_t *)(rec + 1);
}

/*
 * Called once per drain, after the release: a run that a burst grew past its floor goes back to
 * the floor once it has held at most a quarter of the floor at several calls in a row. Nothing
 * for a window without a floor (it shrinks as it goes). What is held stays held, in order; if
 * the smaller memory cannot be had, the run stays as it is.
 */
void reorder_trim(struct reorder *r);

/* Records held. */
size_t reorder_held(const struct reorder *r);
/* Bytes the window has allocated (arenas and indexes). */
size_t reorder_mem(const struct reorder *r);
/* Frees every held record and the window's memory; r is then an empty window again (same floor). */
void reorder_free(struct reorder *r);

#endif /* EDGECAP_REORDER_H */
