/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * merge.h: a simple capture's reorder window (ingest.h, "Simple captures"): the records of
 * several sources (agents), each of which sends its own records in timestamp order, handed out
 * smallest (timestamp, push order) first; and the watermark, the newest timestamp that every
 * live source has reached.
 *
 * Layout. Each source has a FIFO of its records, contiguous in chunks (made to measure for a
 * batch, merge_source_expect, else 4 KiB growing to 64 KiB while the source stays busy; drained
 * chunks are kept for reuse), so that holding a record costs a copy and no allocation. A
 * tournament (winner) tree over the sources' oldest records (a leaf per source, empty ones
 * last) picks the next record: one compare a level, log2 of the sources allocated, and no
 * branch on its outcome.
 *
 * Order. A source's FIFO stays sorted: a record older than the newest one its source holds (a
 * clock stepped back on the agent, a batch that filled a sequence gap late, a record the agent's
 * own reorder window let through late) does not go into the FIFO but into a heap of strays, one
 * allocation per record. The next record is the smaller of the sources' tree and the strays'
 * heap, so the order handed out is exactly that of one min-heap over every record held;
 * merge_strays counts how many took the slow path.
 *
 * Watermark. merge_source_live marks a source live (it may still send) or not, with the newest
 * timestamp it has sent; merge_source_advance moves that forward. merge_watermark is the
 * smallest of the live sources' (UINT64_MAX when none is live), kept in an indexed heap: O(1)
 * to read, O(log k) to update, whatever the number of sources.
 *
 * Sources are small integers (the ingest's agent indices), up to MERGE_MAX_SOURCES. Not
 * thread-safe. Functions return 0 or a negative errno; free functions accept NULL.
 *
 * Its sibling is the engine's reorder window (engine/reorder.h): both merge k nearly ordered
 * sources by timestamp. They stay two because their sources differ. Here the records come from
 * the network, up to thousands of agents, each already in timestamp order but for rare strays:
 * per-agent FIFOs with a side heap for the strays, a tournament tree over the agents' heads, and a
 * watermark over the live agents. There the records come from the kernel's rings, at most
 * REORDER_MAX_SOURCES of them on the agent's per-packet path, each with small disorder (CPUs
 * racing): a per-ring arena holding the records where they were copied out of the ring, an index
 * sorted by insertion from the tail, and a scan over the few ring heads. One module would make
 * each pay for the other's case.
 */
#ifndef EDGECAP_MERGE_H
#define EDGECAP_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERGE_MAX_SOURCES 65536

/* One held record. data is caplen bytes; the record stays valid until merge_pop. */
struct merge_rec {
	uint64_t ts;
	uint64_t order; /* push order: equal timestamps leave in it */
	uint64_t arrival_us;
	uint32_t caplen, origlen;
	uint32_t src;
	uint32_t reserved;
	uint8_t data[];
};

struct merge;

int merge_new(struct merge **out);
void merge_free(struct merge *m);
/* Drops every record held and frees the memory; the watermark's sources stay as they are. */
void merge_clear(struct merge *m);

/*
 * What a record of caplen bytes takes in the window, its struct merge_rec included: a stride
 * of MERGE_REC_ALIGN bytes.
 */
#define MERGE_REC_ALIGN 8
#define MERGE_REC_BYTES(caplen)                                        \
	((sizeof(struct merge_rec) + (caplen) + MERGE_REC_ALIGN - 1) & \
	 ~(size_t)(MERGE_REC_ALIGN - 1))
/*
 * The records src pushes next, up to its next batch, take about bytes (MERGE_REC_BYTES each, of
 * the records that go to its FIFO: not the strays). Less only costs another chunk; more is
 * memory no record uses until the chunk drains, which merge_bytes does not count (a bound on
 * merge_bytes does not bound it): say what the records take, not what a peer claims they do
 * (the ingest's window_expect reads the batch's records). When they need a new chunk it is made
 * to measure for the rest of them (to 256 bytes, up to 64 KiB), instead of 4 KiB that doubles
 * while the source stays busy. With thousands of agents each batch is a few records, and those
 * chunks held about twice the records' bytes: twice the memory, and the page faults, for one
 * window.
 */
void merge_source_expect(struct merge *m, uint32_t src, uint64_t bytes);
/*
 * Whether src's FIFO holds records, and then the newest one's timestamp (*ts): a record pushed
 * older than it goes to the strays, not to a chunk (see "Order" above).
 */
bool merge_source_last(const struct merge *m, uint32_t src, uint64_t *ts);

/* Holds a copy of a record of src. -ENOMEM (nothing held), -ERANGE for a bad src. */
int merge_push(struct merge *m, uint32_t src, uint64_t ts, uint64_t arrival_us, const void *data,
	       uint32_t caplen, uint32_t origlen);
/* The next record, the smallest (ts, order) held; NULL when none is. */
const struct merge_rec *merge_peek(const struct merge *m);
/* Drops the record merge_peek returns (nothing when none is held). */
void merge_pop(struct merge *m);
/*
 * merge_pop that returns the record it drops (NULL when none is held): it stays readable until
 * the next merge_take, merge_pop, merge_push or merge_clear. The next record's memory is
 * prefetched meanwhile, so that the caller's copy of this one hides the next one's misses.
 */
const struct merge_rec *merge_take(struct merge *m);
/*
 * Records of source src handed out by merge_take and merge_pop so far (merge_clear does not
 * reset it): a caller's per-source accounts, kept here where each take touches the source
 * anyway, and read when the caller needs them (the ingest's agent_settle).
 */
uint64_t merge_source_taken(const struct merge *m, uint32_t src);

size_t merge_count(const struct merge *m);
/* What the records held take: sizeof(struct merge_rec) + caplen each. */
uint64_t merge_bytes(const struct merge *m);
/*
 * What the drained chunks kept for reuse take (malloc'd bytes): at most 2 MiB, or the most
 * bytes the window held when more (merge.c's SPARE_MIN_BYTES); 0 after merge_clear.
 */
uint64_t merge_spare_bytes(const struct merge *m);
/*
 * What the chunks holding records take (malloc'd bytes, headers and unused room included; the
 * spares and the strays not): the memory merge_bytes costs.
 */
uint64_t merge_chunk_bytes(const struct merge *m);
/* Records pushed out of their source's order, into the strays' heap, since merge_new. */
uint64_t merge_strays(const struct merge *m);

/* src is live (its newest timestamp counts for the watermark) or not. -ENOMEM, -ERANGE. */
int merge_source_live(struct merge *m, uint32_t src, bool live, uint64_t newest);
/* A live or not live source has sent records up to newest (ignored when not newer). */
void merge_source_advance(struct merge *m, uint32_t src, uint64_t newest);
/* The smallest newest timestamp of the live sources; UINT64_MAX when none is live. */
uint64_t merge_watermark(const struct merge *m);
size_t merge_live_count(const struct merge *m);

#endif /* EDGECAP_MERGE_H */
