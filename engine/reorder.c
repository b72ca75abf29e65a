// SPDX-License-Identifier: BSD-2-Clause
/*
 * reorder.c: the reorder window (see reorder.h for the layout and the ordering rule).
 *
 * Both rings of a run, the arena and the index, are sized the same way. One that is full is
 * reallocated to the smallest power of two (at least its minimum) that holds twice what it holds
 * with the new record, and what it holds is copied across, unwrapped. One that holds less than
 * an eighth of itself is reallocated to half its size, so that a burst's memory goes back once
 * the burst has passed. Both are checked only when a record reaches a limit (the end of a lap,
 * the oldest held byte, a full index, or the run was found empty), so most records pass two
 * comparisons and nothing more.
 * Each reallocation copies at most what was appended since the one before, so a record is copied
 * a bounded number of times on average, and the memory follows what is held: at most about 8x,
 * and never below the minimum (64 KiB).
 * A window given a floor by reorder_init() (the engine sizes it from its ring) does not shrink as
 * it goes: it is allocated once, pre-faulted, at the floor, grows only past what it ever held,
 * and is reused lap after lap. Shrinking to grow again was the churn that made a flood's drain
 * fault on fresh pages. What a burst grew it to goes back to the floor through reorder_trim(),
 * once the window has held little for a while (see run_trim).
 *
 * A record never wraps around the arena's end: when it does not fit before the end, a padding
 * record, released from the start, fills the rest and the record goes to the start.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "reorder.h"

#define ARENA_MIN (64U << 10)
#define INDEX_MIN 1024U
/* Index entries a floor of the arena gets: records of 64 bytes (a held header and 24 bytes). */
#define ARENA_BYTES_PER_ENTRY 64U

/* A record in an arena: this header, then cap_len bytes, then padding to 8 bytes. */
struct held_hdr {
	uint32_t size;	      /* bytes the record takes in the arena, this header included */
	uint32_t released;    /* handed on; its space comes back once every record before it has */
	struct ec_record rec; /* not in a padding record, which has only the two fields above */
};

_Static_assert(sizeof(struct held_hdr) % 8 == 0, "records in an arena stay 8-byte aligned");

static struct held_hdr *held_at(const struct reorder_run *run, uint64_t pos)
{
	return (struct held_hdr *)(run->buf + ((size_t)(pos - run->base) & (run->buf_cap - 1)));
}

/*
 * Arenas and indexes are mapped, not malloc'ed: pre-faulted (MAP_POPULATE), so that the drain
 * takes no page fault in them, and given back whole when they are replaced or freed.
 */
static void *mem_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void mem_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

/* The smallest power of two, at least min, that holds twice n; 0 if none fits in a size_t. */
static size_t fit_cap(size_t n, size_t min)
{
	size_t cap = min;

	if (n > SIZE_MAX / 4)
		return 0;
	while (cap < 2 * n)
		cap *= 2;
	return cap;
}

/* Copies n bytes from a ring of cap bytes, starting at offset off, to dst, unwrapped. */
static void ring_copy(void *dst, const void *ring, size_t cap, size_t off, size_t n)
{
	size_t first = n < cap - off ? n : cap - off;

	if (first)
		memcpy(dst, (const uint8_t *)ring + off, first);
	if (n > first)
		memcpy((uint8_t *)dst + first, ring, n - first);
}

/* Moves what the arena holds to a new one of cap bytes, at its start. */
static int arena_resize(struct reorder_run *run, size_t cap)
{
	size_t live = (size_t)(run->end - run->reclaim);
	uint8_t *buf;

	if (!cap || live > cap)
		return -ENOMEM;
	buf = mem_map(cap);
	if (!buf)
		return -ENOMEM;
	if (live)
		ring_copy(buf, run->buf, run->buf_cap,
			  (size_t)(run->reclaim - run->base) & (run->buf_cap - 1), live);
	mem_unmap(run->buf, run->buf_cap);
	run->buf = buf;
	run->buf_cap = cap;
	run->base = run->reclaim;
	return 0;
}

/*
 * The checks a record skips while run->end stays within run->limit: the limit is where the
 * arena's lap ends or where its oldest held byte would be overwritten, whichever comes first.
 * reclaim only grows, so a limit computed earlier is never too far.
 */
static void arena_set_limit(struct reorder_run *run)
{
	size_t off = (size_t)(run->end - run->base) & (run->buf_cap - 1);
	uint64_t lap_end = run->end - off + run->buf_cap;

	run->limit = run->reclaim + run->buf_cap < lap_end ? run->reclaim + run->buf_cap : lap_end;
}

/* Room for size contiguous bytes at run->end, which the caller then moves; NULL if none. */
static struct held_hdr *arena_append_slow(struct reorder_run *run, size_t size, size_t min,
					  bool fixed)
{
	size_t cap = run->buf_cap, live = (size_t)(run->end - run->reclaim), off = 0, pad = 0;
	struct held_hdr *h;

	if (cap) {
		off = (size_t)(run->end - run->base) & (cap - 1);
		pad = off + size > cap ? cap - off : 0;
	}
	if (!cap || live + pad + size > cap) {
		if (arena_resize(run, fit_cap(live + size, min)))
			return NULL;
		pad = 0;
	} else if (!fixed && cap > min && live + size <= cap / 8 && !arena_resize(run, cap / 2)) {
		/* Far larger than what it holds: a smaller one (without memory, this one). */
		pad = 0;
	}
	if (pad) {
		/* Never first in line: an empty run starts at the arena's start. */
		h = held_at(run, run->end);
		h->size = (uint32_t)pad;
		h->released = 1;
		run->end += pad;
	}
	arena_set_limit(run);
	return held_at(run, run->end);
}

/* Moves the index's entries to a new one of cap entries, renumbered from 0. */
static int index_resize(struct reorder_run *run, size_t cap)
{
	size_t live = run->tail - run->head;
	struct reorder_entry *idx;

	if (!cap || live > cap || cap > SIZE_MAX / sizeof(*idx))
		return -ENOMEM;
	idx = mem_map(cap * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	if (live)
		ring_copy(idx, run->idx, run->idx_cap * sizeof(*idx),
			  (run->head & (run->idx_cap - 1)) * sizeof(*idx), live * sizeof(*idx));
	mem_unmap(run->idx, run->idx_cap * sizeof(*idx));
	run->idx = idx;
	run->idx_cap = cap;
	run->head = 0;
	run->tail = live;
	return 0;
}

/* Entries fit up to idx_limit: the index wraps freely, a full one needs a check. */
static void index_set_limit(struct reorder_run *run)
{
	run->idx_limit = run->head + run->idx_cap;
}

/* Room for one more entry at the index's tail. */
static int index_make_room(struct reorder_run *run, size_t min, bool fixed)
{
	size_t cap = run->idx_cap, live = run->tail - run->head;

	if (live == cap) {
		if (index_resize(run, fit_cap(live + 1, min)))
			return -ENOMEM;
	} else if (!fixed && cap > min && live + 1 <= cap / 8) {
		/* Far larger than what it holds, as in the arena. */
		index_resize(run, cap / 2);
	}
	index_set_limit(run);
	return 0;
}

int reorder_push(struct reorder *r, unsigned int src, const struct ec_record *rec,
		 uint64_t tstamp_ns, const uint8_t *data, uint32_t cap_len)
{
	struct reorder_entry *idx;
	struct reorder_run *run;
	struct held_hdr *h;
	size_t size, mask, i;

	if (src >= REORDER_MAX_SOURCES)
		return -EINVAL;
	run = &r->run[src];
	size = (sizeof(*h) + (size_t)cap_len + 7) & ~(size_t)7;
	/* The index first: a failure then leaves the arena as it was. */
	if (run->tail == run->idx_limit &&
	    index_make_room(run, r->index_floor ? r->index_floor : INDEX_MIN, r->index_floor))
		return -ENOMEM;
	if (run->end + size <= run->limit)
		h = held_at(run, run->end);
	else if (!(h = arena_append_slow(run, size, r->arena_floor ? r->arena_floor : ARENA_MIN,
					 r->arena_floor)))
		return -ENOMEM;

	h->size = (uint32_t)size;
	h->released = 0;
	h->rec = *rec;
	h->rec.tstamp_ns = tstamp_ns;
	h->rec.cap_len = cap_len;
	memcpy(h + 1, data, cap_len);

	/* Insertion from the tail: stable, since a record never passes one with its timestamp. */
	idx = run->idx;
	mask = run->idx_cap - 1;
	i = run->tail++;
	while (i != run->head && tstamp_ns < idx[(i - 1) & mask].tstamp_ns) {
		idx[i & mask] = idx[(i - 1) & mask];
		i--;
	}
	idx[i & mask] = (struct reorder_entry){
		.tstamp_ns = tstamp_ns,
		.seq = r->seq++,
		.pos = run->end,
	};
	run->end += size;
	r->busy |= 1ULL << src;
	r->held++;
	return 0;
}

static bool entry_before(const struct reorder_entry *a, const struct reorder_entry *b)
{
	if (a->tstamp_ns != b->tstamp_ns)
		return a->tstamp_ns < b->tstamp_ns;
	return a->seq < b->seq;
}

static const struct reorder_entry *run_first(const struct reorder_run *run)
{
	return &run->idx[run->head & (run->idx_cap - 1)];
}

const struct ec_record *reorder_next(struct reorder *r, uint64_t horizon)
{
	const struct reorder_entry *first;
	struct reorder_run *run;
	struct held_hdr *h, *next;
	uint64_t busy = r->busy;
	unsigned int src;

	if (!busy)
		return NULL;
	src = (unsigned int)__builtin_ctzll(busy);
	first = run_first(&r->run[src]);
	for (busy &= busy - 1; busy; busy &= busy - 1) {
		unsigned int i = (unsigned int)__builtin_ctzll(busy);
		const struct reorder_entry *e = run_first(&r->run[i]);

		if (entry_before(e, first)) {
			first = e;
			src = i;
		}
	}
	if (first->tstamp_ns >= horizon)
		return NULL;

	run = &r->run[src];
	h = held_at(run, first->pos);
	h->released = 1;
	/* Space comes back in arrival order: past this record and any released after it. */
	if (first->pos == run->reclaim) {
		next = h;
		do {
			run->reclaim += next->size;
			if (run->reclaim == run->end)
				break;
			next = held_at(run, run->reclaim);
		} while (next->released);
	}
	run->head++;
	r->held--;
	if (run->head == run->tail) {
		/*
		 * Empty: the next record goes to the arena's start. The bytes of this one stay
		 * where they are until then.
		 */
		run->head = run->tail = 0;
		run->reclaim = run->base = run->end;
		/* The next push checks whether the arena and index are now too large. */
		run->limit = run->end;
		run->idx_limit = 0;
		r->busy &= ~(1ULL << src);
	}
	return &h->rec;
}

size_t reorder_held(const struct reorder *r)
{
	return r->held;
}

/* The smallest power of two, at least min, that is at least n (n itself when that overflows). */
static size_t pow2_at_least(size_t n, size_t min)
{
	size_t cap = min;

	while (cap < n && cap <= SIZE_MAX / 2)
		cap *= 2;
	return cap;
}

void reorder_init(struct reorder *r, size_t arena_bytes)
{
	memset(r, 0, sizeof(*r));
	r->arena_floor = pow2_at_least(arena_bytes, ARENA_MIN);
	r->index_floor = pow2_at_least(r->arena_floor / ARENA_BYTES_PER_ENTRY, INDEX_MIN);
}

/*
 * A run above its floor that held at most a quarter of the floor at TRIM_CALLS calls in a row
 * goes back to its floor, what it holds copied across. The band between a quarter of the floor
 * (back down) and the arena's whole size (up) is the hysteresis: a steady load that needs more
 * than the floor keeps its memory, and one that needs less does not grow.
 */
#define TRIM_CALLS 8

static void run_trim(struct reorder_run *run, size_t arena_floor, size_t index_floor)
{
	size_t live = (size_t)(run->end - run->reclaim), entries = run->tail - run->head;

	if (run->buf_cap <= arena_floor && run->idx_cap <= index_floor) {
		run->quiet = 0;
		return;
	}
	if (live > arena_floor / 4 || entries > index_floor / 4) {
		run->quiet = 0;
		return;
	}
	if (++run->quiet < TRIM_CALLS)
		return;
	run->quiet = 0;
	/* The index first, as in reorder_push: each resize leaves the run intact when it fails. */
	if (run->idx_cap > index_floor && !index_resize(run, index_floor))
		index_set_limit(run);
	if (run->buf_cap > arena_floor && !arena_resize(run, arena_floor))
		arena_set_limit(run);
	if (run->head == run->tail) {
		/* An empty run sends its next record through the checks, as reorder_next leaves it.
		 */
		run->limit = run->end;
		run->idx_limit = 0;
	}
}

void reorder_trim(struct reorder *r)
{
	unsigned int i;

	if (!r->arena_floor)
		return;
	for (i = 0; i < REORDER_MAX_SOURCES; i++)
		if (r->run[i].buf)
			run_trim(&r->run[i], r->arena_floor, r->index_floor);
}

size_t reorder_mem(const struct reorder *r)
{
	size_t mem = 0;
	unsigned int i;

	for (i = 0; i < REORDER_MAX_SOURCES; i++)
		mem += r->run[i].buf_cap + r->run[i].idx_cap * sizeof(struct reorder_entry);
	return mem;
}

void reorder_free(struct reorder *r)
{
	size_t arena_floor = r->arena_floor;
	unsigned int i;

	for (i = 0; i < REORDER_MAX_SOURCES; i++) {
		mem_unmap(r->run[i].buf, r->run[i].buf_cap);
		mem_unmap(r->run[i].idx, r->run[i].idx_cap * sizeof(struct reorder_entry));
	}
	if (arena_floor)
		reorder_init(r, arena_floor);
	else
		memset(r, 0, sizeof(*r));
}
