// SPDX-License-Identifier: BSD-2-Clause
/*
 * merge.c: a simple capture's reorder window (merge.h has the contract). A tournament tree
 * over the sources' oldest records (keyed by a copy of (ts, order), so that a replay touches
 * only the tree), and two heaps: the strays, and the live sources' newest timestamps (indexed,
 * for updates in place).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"

/*
 * Chunk sizes, malloc'd size with the header: a multiple of CHUNK_STEP up to CHUNK_MAX, each
 * size a class with its own spares. A source that was empty starts with 4 KiB and a busy one
 * doubles up to CHUNK_MAX, unless it was told what its batch takes (merge_source_expect): then
 * the chunk is made to measure, to the next CHUNK_STEP.
 */
#define CHUNK_STEP_SHIFT 8
#define CHUNK_STEP	 ((size_t)1 << CHUNK_STEP_SHIFT)
#define CHUNK_FIRST	 ((size_t)4 << 10)
#define CHUNK_MAX	 ((size_t)64 << 10)
#define CHUNK_CLASSES	 (CHUNK_MAX >> CHUNK_STEP_SHIFT)
/* A chunk made for one record larger than CHUNK_MAX; freed when drained, not kept. */
#define CHUNK_OVERSIZE CHUNK_CLASSES
/* A spare a class or a few larger serves a request too: at most this many steps unused. */
#define CHUNK_SPARE_REACH 3
/*
 * Drained chunks kept for reuse: up to 2 MiB in all, or as many bytes as the window holds, when
 * it holds more. Thousands of sources with a few records each drain a chunk every batch; without
 * spares each would be a malloc and a free of 4 KiB (and page faults when the heap's top is
 * trimmed and grown again). The spares never exceed the window's own peak: at most twice its
 * memory, and given back by merge_clear.
 */
#define SPARE_MIN_BYTES (2u << 20)

/*
 * Records of one source, back to back up to tail; a record never spans chunks. Only a source's
 * first chunk is drained, from its oldest record, which the source's leaf in the tree points
 * at: a take reads the source and the tree, not this header (but when the chunk drains).
 */
struct chunk {
	struct chunk *next;
	uint32_t size; /* bytes of data */
	uint32_t tail; /* offset where the next record goes */
	uint32_t cls;
	uint32_t pad; /* data aligned for its records */
	uint8_t data[];
};

_Static_assert(offsetof(struct chunk, data) % _Alignof(struct merge_rec) == 0,
	       "records in a chunk must be aligned");

struct source {
	struct chunk *first, *last; /* the FIFO; empty: both NULL */
	uint64_t last_ts;	    /* the newest record in the FIFO */
	uint64_t newest;	    /* what it has sent: the watermark's key */
	uint64_t taken;		    /* records handed out (merge_source_taken) */
	const uint8_t *first_end;   /* where the first chunk's records end (its data + tail) */
	int32_t live_pos;	    /* in merge.live; -1: not live */
	uint32_t expect;	    /* bytes of its batch still to come (merge_source_expect) */
};

/*
 * A source's oldest record, as the sources' tree keeps it: 32 bytes, so that two siblings share
 * a cache line. An empty source's leaf holds HEAD_NONE_* (after every record: no record's order
 * reaches UINT64_MAX).
 */
struct head {
	uint64_t ts, order;
	uint32_t src;
	uint32_t pad;
	const struct merge_rec *rec; /* the record itself; NULL in an empty source's leaf */
};

#define HEAD_NONE_TS	UINT64_MAX
#define HEAD_NONE_ORDER UINT64_MAX

struct merge {
	struct source *src;
	uint32_t nsrc; /* sources allocated (all initialised) */
	/*
	 * The sources' tournament (winner) tree, 2 * nsrc entries (nsrc is a power of two): leaf
	 * nsrc + i is source i's oldest record, entry i < nsrc the smaller of entries 2i and 2i +
	 * 1, so entry 1 is the next record of the sources; entry 0 is unused.
	 */
	struct head *tree;
	size_t nheads; /* sources with records held */
	uint32_t *live;
	size_t nlive; /* live sources; capacity nsrc */
	struct merge_rec **strays;
	size_t nstrays, strays_cap;
	/* What merge_take handed out, freed by the next take, pop, push or clear. */
	struct chunk *taken_chunk;
	struct merge_rec *taken_stray;
	struct chunk *spare[CHUNK_CLASSES];
	size_t spare_bytes; /* malloc'd bytes of the spares, headers included */
	size_t chunk_bytes; /* ... of the chunks that hold records, or were just taken */
	size_t count;
	uint64_t bytes, order, strays_total;
};

_Static_assert(_Alignof(struct merge_rec) <= MERGE_REC_ALIGN, "a stride keeps records aligned");

static size_t rec_stride(uint32_t caplen)
{
	return MERGE_REC_BYTES(caplen);
}

static bool before(uint64_t ts_a, uint64_t order_a, uint64_t ts_b, uint64_t order_b)
{
	return ts_a != ts_b ? ts_a < ts_b : order_a < order_b;
}

int merge_new(struct merge **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

/* --- the sources' tree -------------------------------------------------------------------- */

/* (ts, order) of a before b's, without branches: the tree's compares are unpredictable. */
static inline bool head_before(const struct head *a, const struct head *b)
{
	return (a->ts < b->ts) | ((a->ts == b->ts) & (a->order < b->order));
}

static void tree_leaf_none(struct head *t, size_t cap, uint32_t src)
{
	t[cap + src] = (struct head){ .ts = HEAD_NONE_TS, .order = HEAD_NONE_ORDER, .src = src };
}

/* Every entry above the leaves, from the leaves. */
static void tree_build(struct head *t, size_t cap)
{
	size_t i;

	for (i = cap - 1; i; i--)
		t[i] = head_before(&t[2 * i + 1], &t[2 * i]) ? t[2 * i + 1] : t[2 * i];
}

/* A tree for cap sources (a power of two), with the leaves of the old one. */
static int tree_grow(struct merge *m, uint32_t cap)
{
	struct head *t = aligned_alloc(64, 2 * (size_t)cap * sizeof(*t));
	uint32_t i;

	if (!t)
		return -ENOMEM;
	for (i = 0; i < cap; i++) {
		if (i < m->nsrc)
			t[cap + i] = m->tree[m->nsrc + i];
		else
			tree_leaf_none(t, cap, i);
	}
	t[0] = (struct head){ 0 };
	tree_build(t, cap);
	free(m->tree);
	m->tree = t;
	return 0;
}

/*
 * The entries that a replay from leaf src reads (a pair of siblings a level, in one cache line),
 * all at once: the path is known before the leaf changes, and the lower levels are rarely cached.
 */
static inline void tree_prefetch_path(const struct merge *m, uint32_t src)
{
	size_t i;

	for (i = (m->nsrc + src) >> 1; i > 1; i >>= 1)
		__builtin_prefetch(&m->tree[i & ~(size_t)1]);
}

/*
 * After leaf src changed: the entries on its path up to the root, one compare a level against
 * the sibling, with the winner so far carried in registers (only the siblings' loads, whose
 * addresses are known up front, wait on memory). Unless to_root, stops where an entry comes out
 * as it was (nothing above it changes then): a source that gets its first record and is not the
 * smallest stops at once. After a pop the winner's path changes up to the root.
 */
static inline void tree_replay(struct merge *m, uint32_t src, bool to_root)
{
	struct head *t = m->tree;
	size_t i = m->nsrc + src, p;
	const struct merge_rec *rec = t[i].rec;
	uint64_t ts = t[i].ts, order = t[i].order;
	uint32_t wsrc = t[i].src;
	const struct head *o;
	bool sib;

	for (; i > 1; i = p) {
		p = i >> 1;
		o = &t[i ^ 1];
		/* Equal keys (empty leaves only: orders are unique) keep the left one. */
		sib = (i & 1) ? !((ts < o->ts) | ((ts == o->ts) & (order < o->order)))
			      : ((o->ts < ts) | ((o->ts == ts) & (o->order < order)));
		ts = sib ? o->ts : ts;
		order = sib ? o->order : order;
		wsrc = sib ? o->src : wsrc;
		rec = sib ? o->rec : rec;
		if (!to_root && t[p].src == wsrc && t[p].order == order && t[p].ts == ts)
			break;
		t[p].ts = ts;
		t[p].order = order;
		t[p].src = wsrc;
		t[p].rec = rec;
	}
}

/* --- sources ------------------------------------------------------------------------------ */

/* Makes room for sources up to i. */
static int sources_grow(struct merge *m, uint32_t i)
{
	uint32_t cap = m->nsrc ? m->nsrc : 8, j;
	void *grown;
	int ret;

	if (i >= MERGE_MAX_SOURCES)
		return -ERANGE;
	while (cap <= i)
		cap *= 2;
	if (cap > MERGE_MAX_SOURCES)
		cap = MERGE_MAX_SOURCES;
	/* Each array that grew is kept: a failure later only leaves spare room. */
	grown = realloc(m->src, cap * sizeof(*m->src));
	if (!grown)
		return -ENOMEM;
	m->src = grown;
	grown = realloc(m->live, cap * sizeof(*m->live));
	if (!grown)
		return -ENOMEM;
	m->live = grown;
	ret = tree_grow(m, cap);
	if (ret)
		return ret;
	for (j = m->nsrc; j < cap; j++)
		m->src[j] = (struct source){ .live_pos = -1 };
	m->nsrc = cap;
	return 0;
}

/* Once per record: the known source without a call. */
static inline int source_get(struct merge *m, uint32_t i, struct source **out)
{
	int ret;

	if (__builtin_expect(i >= m->nsrc, 0)) {
		ret = sources_grow(m, i);
		if (ret)
			return ret;
	}
	*out = &m->src[i];
	return 0;
}

/* --- chunks ------------------------------------------------------------------------------- */

/* A chunk whose data holds at least need bytes: a spare of its class (or a little larger). */
static struct chunk *chunk_get(struct merge *m, size_t need)
{
	size_t alloc = (sizeof(struct chunk) + need + CHUNK_STEP - 1) & ~(CHUNK_STEP - 1);
	uint32_t cls =
		alloc <= CHUNK_MAX ? (uint32_t)(alloc >> CHUNK_STEP_SHIFT) - 1 : CHUNK_OVERSIZE;
	uint32_t k;
	struct chunk *c;

	for (k = cls; k < CHUNK_CLASSES && k <= cls + CHUNK_SPARE_REACH; k++) {
		c = m->spare[k];
		if (c) {
			m->spare[k] = c->next;
			m->spare_bytes -= sizeof(struct chunk) + c->size;
			goto got;
		}
	}
	c = malloc(alloc);
	if (!c)
		return NULL;
	c->size = (uint32_t)(alloc - sizeof(struct chunk));
	c->cls = cls;
got:
	m->chunk_bytes += sizeof(struct chunk) + c->size;
	c->next = NULL;
	c->tail = 0;
	return c;
}

static void chunk_put(struct merge *m, struct chunk *c)
{
	size_t alloc = sizeof(struct chunk) + c->size;

	m->chunk_bytes -= alloc;
	if (c->cls < CHUNK_CLASSES &&
	    m->spare_bytes + alloc <= (m->bytes > SPARE_MIN_BYTES ? m->bytes : SPARE_MIN_BYTES)) {
		c->next = m->spare[c->cls];
		m->spare[c->cls] = c;
		m->spare_bytes += alloc;
	} else {
		free(c);
	}
}

/* --- the strays' heap --------------------------------------------------------------------- */

static bool stray_before(const struct merge_rec *a, const struct merge_rec *b)
{
	return before(a->ts, a->order, b->ts, b->order);
}

static int stray_push(struct merge *m, struct merge_rec *r)
{
	struct merge_rec **grown;
	size_t i, parent, cap;

	if (m->nstrays == m->strays_cap) {
		cap = m->strays_cap ? 2 * m->strays_cap : 64;
		grown = realloc(m->strays, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		m->strays = grown;
		m->strays_cap = cap;
	}
	for (i = m->nstrays++; i; i = parent) {
		parent = (i - 1) / 2;
		if (!stray_before(r, m->strays[parent]))
			break;
		m->strays[i] = m->strays[parent];
	}
	m->strays[i] = r;
	return 0;
}

/* Drops the smallest stray; returns it when keep, else frees it. */
static struct merge_rec *stray_pop(struct merge *m, bool keep)
{
	struct merge_rec *top = m->strays[0], *last = m->strays[--m->nstrays];
	size_t i = 0, child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= m->nstrays)
			break;
		if (child + 1 < m->nstrays && stray_before(m->strays[child + 1], m->strays[child]))
			child++;
		if (!stray_before(m->strays[child], last))
			break;
		m->strays[i] = m->strays[child];
		i = child;
	}
	if (m->nstrays)
		m->strays[i] = last;
	if (keep)
		return top;
	free(top);
	return NULL;
}

/* --- records ------------------------------------------------------------------------------ */

/* What merge_take handed out: back to the spares, or freed. */
static void taken_release(struct merge *m)
{
	if (m->taken_chunk) {
		chunk_put(m, m->taken_chunk);
		m->taken_chunk = NULL;
	}
	free(m->taken_stray);
	m->taken_stray = NULL;
}

int merge_push(struct merge *m, uint32_t src, uint64_t ts, uint64_t arrival_us, const void *data,
	       uint32_t caplen, uint32_t origlen)
{
	size_t stride = rec_stride(caplen);
	struct chunk *c = NULL;
	struct merge_rec *r;
	struct source *s;
	bool stray, was_empty;
	size_t need;
	int ret;

	taken_release(m);
	ret = source_get(m, src, &s);
	if (ret)
		return ret;
	was_empty = !s->first;
	/* Older than its source's newest held: in the FIFO it would break the order. */
	stray = !was_empty && ts < s->last_ts;
	if (stray) {
		r = malloc(sizeof(*r) + caplen);
		if (!r)
			return -ENOMEM;
	} else {
		c = s->last;
		if (!c || c->size - c->tail < stride) {
			/*
			 * The rest of its batch, when told; else a busy source gets larger
			 * chunks and one that was empty starts small.
			 */
			if (s->expect > stride)
				need = s->expect;
			else if (c && c->size + sizeof(struct chunk) < CHUNK_MAX)
				need = 2 * (c->size + sizeof(struct chunk)) - sizeof(struct chunk);
			else
				need = (c ? CHUNK_MAX : CHUNK_FIRST) - sizeof(struct chunk);
			if (need > CHUNK_MAX - sizeof(struct chunk))
				need = CHUNK_MAX - sizeof(struct chunk);
			c = chunk_get(m, need > stride ? need : stride);
			if (!c)
				return -ENOMEM;
		}
		s->expect = s->expect > stride ? s->expect - (uint32_t)stride : 0;
		r = (struct merge_rec *)(c->data + c->tail);
	}
	r->ts = ts;
	r->order = m->order++;
	r->arrival_us = arrival_us;
	r->caplen = caplen;
	r->origlen = origlen;
	r->src = src;
	r->reserved = 0;
	memcpy(r->data, data, caplen);

	if (stray) {
		ret = stray_push(m, r);
		if (ret) {
			free(r);
			return ret;
		}
		m->strays_total++;
	} else {
		if (c != s->last) {
			if (s->last)
				s->last->next = c;
			else
				s->first = c;
			s->last = c;
		}
		c->tail += (uint32_t)stride;
		if (c == s->first)
			s->first_end = c->data + c->tail;
		s->last_ts = ts;
		if (was_empty) {
			/* Its only record: the source's leaf in the tree gets a key. */
			m->tree[m->nsrc + src].ts = ts;
			m->tree[m->nsrc + src].order = r->order;
			m->tree[m->nsrc + src].rec = r;
			m->nheads++;
			tree_replay(m, src, false);
		}
	}
	m->count++;
	m->bytes += sizeof(*r) + caplen;
	return 0;
}

/* Whether the next record is the smallest stray rather than a source's head. */
static bool next_is_stray(const struct merge *m)
{
	if (!m->nstrays)
		return false;
	if (!m->nheads)
		return true;
	return before(m->strays[0]->ts, m->strays[0]->order, m->tree[1].ts, m->tree[1].order);
}

const struct merge_rec *merge_peek(const struct merge *m)
{
	if (next_is_stray(m))
		return m->strays[0];
	return m->nheads ? m->tree[1].rec : NULL;
}

/* Drops the next record; keep: returns it, with its memory kept until taken_release. */
static const struct merge_rec *drop_next(struct merge *m, bool keep)
{
	const struct merge_rec *r, *out;
	const uint8_t *next;
	struct head *leaf;
	struct source *s;
	struct chunk *c;
	uint32_t src;

	if (next_is_stray(m)) {
		m->count--;
		m->bytes -= sizeof(*r) + m->strays[0]->caplen;
		m->src[m->strays[0]->src].taken++;
		m->taken_stray = stray_pop(m, keep);
		return m->taken_stray;
	}
	if (!m->nheads)
		return NULL;
	src = m->tree[1].src;
	out = r = m->tree[1].rec;
	tree_prefetch_path(m, src);
	leaf = &m->tree[m->nsrc + src];
	s = &m->src[src];
	s->taken++;
	m->count--;
	m->bytes -= sizeof(*r) + r->caplen;
	/* The next record of the source: right after this one, unless this one was the last. */
	next = (const uint8_t *)r + rec_stride(r->caplen);
	if (next == s->first_end) {
		/* Drained: a chunk after it holds the next record, or the source is empty. */
		c = s->first;
		s->first = c->next;
		if (s->first) {
			next = s->first->data;
			s->first_end = s->first->data + s->first->tail;
		} else {
			s->last = NULL;
			s->first_end = NULL;
		}
		if (keep)
			m->taken_chunk = c;
		else
			chunk_put(m, c);
	}
	if (s->first) {
		r = (const struct merge_rec *)next;
		leaf->ts = r->ts;
		leaf->order = r->order;
		leaf->rec = r;
	} else {
		leaf->ts = HEAD_NONE_TS;
		leaf->order = HEAD_NONE_ORDER;
		leaf->rec = NULL;
		m->nheads--;
	}
	tree_replay(m, src, true);
	/*
	 * The next record, for the caller's copy, and the key of the one after it in its source,
	 * which its take reads: a simple capture's record (160 bytes of data) ends, with that key,
	 * within 256 bytes of its start, in any of five lines as it falls.
	 */
	if (m->nheads) {
		/* And what its pop reads: its source, and the tree's path that it replays. */
		__builtin_prefetch(&m->src[m->tree[1].src]);
		__builtin_prefetch((const char *)&m->src[m->tree[1].src] + sizeof(struct source) -
				   1);
		tree_prefetch_path(m, m->tree[1].src);
		r = m->tree[1].rec;
		__builtin_prefetch(r);
		__builtin_prefetch((const uint8_t *)r + 64);
		__builtin_prefetch((const uint8_t *)r + 128);
		__builtin_prefetch((const uint8_t *)r + 192);
		__builtin_prefetch((const uint8_t *)r + 255);
	}
	return keep ? out : NULL;
}

void merge_pop(struct merge *m)
{
	taken_release(m);
	drop_next(m, false);
}

const struct merge_rec *merge_take(struct merge *m)
{
	taken_release(m);
	return drop_next(m, true);
}

uint64_t merge_source_taken(const struct merge *m, uint32_t src)
{
	return src < m->nsrc ? m->src[src].taken : 0;
}

size_t merge_count(const struct merge *m)
{
	return m->count;
}

uint64_t merge_spare_bytes(const struct merge *m)
{
	return m->spare_bytes;
}

uint64_t merge_bytes(const struct merge *m)
{
	return m->bytes;
}

uint64_t merge_strays(const struct merge *m)
{
	return m->strays_total;
}

/* --- the watermark ------------------------------------------------------------------------ */

static uint64_t live_key(const struct merge *m, size_t i)
{
	return m->src[m->live[i]].newest;
}

static void live_set(struct merge *m, size_t i, uint32_t src)
{
	m->live[i] = src;
	m->src[src].live_pos = (int32_t)i;
}

/* Restores the heap around position i after its key changed either way. */
static void live_fix(struct merge *m, size_t i)
{
	uint32_t src = m->live[i];
	uint64_t key = m->src[src].newest;
	size_t parent, child;

	while (i && key < live_key(m, parent = (i - 1) / 2)) {
		live_set(m, i, m->live[parent]);
		i = parent;
	}
	for (;;) {
		child = 2 * i + 1;
		if (child >= m->nlive)
			break;
		if (child + 1 < m->nlive && live_key(m, child + 1) < live_key(m, child))
			child++;
		if (live_key(m, child) >= key)
			break;
		live_set(m, i, m->live[child]);
		i = child;
	}
	live_set(m, i, src);
}

int merge_source_live(struct merge *m, uint32_t src, bool live, uint64_t newest)
{
	struct source *s;
	size_t i;
	int ret;

	ret = source_get(m, src, &s);
	if (ret)
		return ret;
	s->newest = newest;
	if (live) {
		if (s->live_pos < 0)
			live_set(m, m->nlive++, src);
		live_fix(m, (size_t)s->live_pos);
	} else if (s->live_pos >= 0) {
		i = (size_t)s->live_pos;
		s->live_pos = -1;
		if (i != --m->nlive) {
			live_set(m, i, m->live[m->nlive]);
			live_fix(m, i);
		}
	}
	return 0;
}

void merge_source_advance(struct merge *m, uint32_t src, uint64_t newest)
{
	struct source *s;

	if (src >= m->nsrc)
		return;
	s = &m->src[src];
	if (newest <= s->newest)
		return;
	s->newest = newest;
	if (s->live_pos >= 0)
		live_fix(m, (size_t)s->live_pos);
}

void merge_source_expect(struct merge *m, uint32_t src, uint64_t bytes)
{
	struct source *s;

	/* A source that cannot be made now fails its first push the same way. */
	if (source_get(m, src, &s))
		return;
	/* Whole records' strides, so that the chunk's last record fits exactly. */
	bytes = (bytes + MERGE_REC_ALIGN - 1) & ~(uint64_t)(MERGE_REC_ALIGN - 1);
	s->expect = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

bool merge_source_last(const struct merge *m, uint32_t src, uint64_t *ts)
{
	if (src >= m->nsrc || !m->src[src].first)
		return false;
	*ts = m->src[src].last_ts;
	return true;
}

uint64_t merge_chunk_bytes(const struct merge *m)
{
	return m->chunk_bytes;
}

uint64_t merge_watermark(const struct merge *m)
{
	return m->nlive ? live_key(m, 0) : UINT64_MAX;
}

size_t merge_live_count(const struct merge *m)
{
	return m->nlive;
}

/* --- teardown ----------------------------------------------------------------------------- */

void merge_clear(struct merge *m)
{
	struct chunk *c, *next;
	uint32_t i;

	if (!m)
		return;
	taken_release(m);
	for (i = 0; i < m->nsrc; i++) {
		for (c = m->src[i].first; c; c = next) {
			next = c->next;
			free(c);
		}
		m->src[i].first = m->src[i].last = NULL;
		m->src[i].first_end = NULL;
		tree_leaf_none(m->tree, m->nsrc, i);
	}
	if (m->nsrc)
		tree_build(m->tree, m->nsrc);
	for (i = 0; i < CHUNK_CLASSES; i++) {
		for (c = m->spare[i]; c; c = next) {
			next = c->next;
			free(c);
		}
		m->spare[i] = NULL;
	}
	m->spare_bytes = 0;
	m->chunk_bytes = 0;
	while (m->nstrays)
		free(m->strays[--m->nstrays]);
	free(m->strays);
	m->strays = NULL;
	m->strays_cap = 0;
	m->nheads = 0;
	m->count = 0;
	m->bytes = 0;
}

void merge_free(struct merge *m)
{
	if (!m)
		return;
	merge_clear(m);
	free(m->src);
	free(m->tree);
	free(m->live);
	free(m);
}
