// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "capture_abi.h"
/* The skeleton uses the ABI structs without including their header. */
#include "capture.skel.h"
#include "engine.h"
#include "log.h"
#include "reorder.h"
#include "request.h"
#include "slot.h"

struct capture {
	struct engine *e;
	unsigned int slot;
	struct capture_params p;
	capture_record_fn fn;
	void *ctx;
	struct ec_slot_counters baseline[ENGINE_MAX_IFACES];
	struct ec_slot_counters last[ENGINE_MAX_IFACES];
	struct reorder held; /* records waiting for their turn in timestamp order */
	uint64_t horizon;    /* this drain's: records older than this (UTC) are handed on */
	uint64_t records_direct, records_windowed;
	uint64_t start_mono_ns;
	uint64_t deadline_mono_ns; /* 0: none */
	uint64_t end_mono_ns;
	uint64_t packets_captured, bytes_captured, over_limit;
	enum stop_reason reason;
	char error[256];
};

/*
 * A capture's reorder window is allocated at a quarter of the ring (what a drain woken at the
 * watermark brings), at most this much per ring: past it, a flood grows the window, which keeps
 * its memory while the flood lasts and gives it back after (reorder_trim).
 */
#define WINDOW_FLOOR_MAX (2U << 20)
/* The list of old records starts this long and doubles as a drain needs more. */
#define OLD_MIN 1024U

/* A record older than the drain's horizon, handed on from where it lies in the ring. */
struct ring_old {
	uint64_t tstamp_ns; /* UTC */
	const struct ec_record *rec;
};

/*
 * A ring buffer of an interface (one per CPU, or one shared by its CPUs), read by the engine itself
 * (not libbpf's ring_buffer__consume, which gives each record's space back as soon as its callback
 * returns): a drain keeps the records it hands on straight from the ring until it has handed them
 * on.
 */
struct engine_ring {
	unsigned long *consumer_pos;	   /* the consumer page, mapped read-write */
	const unsigned long *producer_pos; /* the producer page, then the data, mapped twice */
	const uint8_t *data;
	size_t mask; /* ring bytes - 1 */
	size_t map_bytes;
	uint64_t scan_prod; /* the producer position this drain reads up to */
	uint64_t scan_end;  /* where this drain's scan stopped */
	/* Records from here to scan_prod may be handed on from the ring (drain_marks). */
	uint64_t direct_from;
	/* This drain's records older than the horizon, sorted by (timestamp, position). */
	struct ring_old *old;
	size_t n_old, old_cap;
	size_t old_max; /* the most a drain can find: a quarter of the ring (drain_marks) */
	size_t at;	/* release()'s cursor in old */
	uint32_t bytes;
};

struct engine {
	struct engine_opts opts;
	struct capture_obj ifaces[ENGINE_MAX_IFACES];
	/* Every interface's rings, interface by interface, CPU by CPU: arrival order in a drain. */
	struct engine_ring *rings;
	unsigned int n_rings;
	unsigned int
		ring0[ENGINE_MAX_IFACES + 1]; /* interface i has rings ring0[i]..ring0[i+1]-1 */
	unsigned int n_ifaces;
	int epoll_fd; /* every ring's map: readable while its ring holds a record */
	struct capture *slots[EC_MAX_SLOTS];
	int64_t tai_offset_ns; /* CLOCK_TAI - CLOCK_REALTIME */
};

/*
 * Each ring is a source of its own in a capture's reorder window, up to REORDER_MAX_SOURCES rings;
 * past that, rings share sources (the output is the same, the insertion walks further).
 */
_Static_assert(ENGINE_MAX_IFACES <= REORDER_MAX_SOURCES, "a reorder source per interface");

static unsigned int ring_source(unsigned int ring)
{
	return ring % REORDER_MAX_SOURCES;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void refresh_tai_offset(struct engine *e)
{
	uint64_t tai = clock_ns(CLOCK_TAI), utc = clock_ns(CLOCK_REALTIME);

	e->tai_offset_ns = (int64_t)(tai - utc);
}

const char *stop_reason_name(enum stop_reason reason)
{
	switch (reason) {
	case STOP_NONE:
		return "running";
	case STOP_TIME_LIMIT:
		return "time_limit";
	case STOP_PACKET_LIMIT:
		return "packet_limit";
	case STOP_BYTE_LIMIT:
		return "byte_limit";
	case STOP_STOPPED:
		return "stopped";
	case STOP_ERROR:
		return "error";
	}
	return "?";
}

void engine_opts_default(struct engine_opts *opts)
{
	opts->ring_bytes = 8U << 20;
	opts->poll_interval_ms = 20;
	opts->reorder_ns = 5 * 1000000ULL;
}

int engine_new(const struct engine_opts *opts, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->opts = *opts;
	e->epoll_fd = -1;
	refresh_tai_offset(e);
	*out = e;
	return 0;
}

static void ring_unmap(struct engine_ring *r, long page)
{
	if (r->consumer_pos)
		munmap(r->consumer_pos, (size_t)page);
	if (r->producer_pos)
		munmap((void *)r->producer_pos, r->map_bytes);
	free(r->old);
	memset(r, 0, sizeof(*r));
}

/*
 * Maps ring i (the map fd, of bytes bytes) as libbpf does: the consumer page read-write, the
 * producer page and the data read-only, the data twice in a row so that a record that wraps
 * around the end reads as one piece. Its list of old records is allocated by the first drain that
 * needs it, and grows to at most what a quarter of the ring holds of the smallest records (only
 * a ring's last quarter is handed on from it), so that steady drains do not allocate.
 */
static int ring_map(struct engine *e, unsigned int i, int fd, uint32_t bytes)
{
	struct engine_ring *r = &e->rings[i];
	long page = sysconf(_SC_PAGESIZE);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
	size_t min_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(1);
	void *p;
	int ret;

	memset(r, 0, sizeof(*r));
	if (e->epoll_fd < 0) {
		e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		if (e->epoll_fd < 0)
			return -errno;
	}
	r->bytes = bytes;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer_pos = p;
	r->map_bytes = (size_t)page + 2 * (size_t)bytes;
	p = mmap(NULL, r->map_bytes, PROT_READ, MAP_SHARED, fd, page);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	r->producer_pos = p;
	r->data = (const uint8_t *)p + page;
	r->mask = (size_t)bytes - 1;
	r->old_max = bytes / 4 / min_record + 1;
	if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	ring_unmap(r, page);
	return ret;
}

/*
 * How much of interface i's rings holds records not yet consumed (the positions the drain itself
 * reads), summed over its rings, as is their size.
 */
int engine_ring_usage(const struct engine *e, unsigned int i, uint64_t *used, uint64_t *size)
{
	unsigned long cons, prod;
	unsigned int k;

	if (i >= e->n_ifaces)
		return -ENOENT;
	*used = 0;
	*size = 0;
	for (k = e->ring0[i]; k < e->ring0[i + 1]; k++) {
		const struct engine_ring *r = &e->rings[k];

		if (!r->consumer_pos)
			return -ENOENT;
		cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
		prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		*used += prod - cons;
		*size += r->bytes;
	}
	return 0;
}

int engine_add_iface(struct engine *e, const char *ifname, enum ec_hook hook, enum xdp_mode mode,
		     char *err, size_t errlen)
{
	struct loader_opts lo = {
		.hook = hook,
		.mode = mode,
		.ring_bytes = e->opts.ring_bytes,
		/* Wake the drain early once a quarter of the ring is used. */
		.wakeup_bytes = e->opts.ring_bytes / 4,
	};
	struct capture_obj *obj;
	struct engine_ring *rings;
	unsigned int i, first;
	int ret;

	if (e->n_ifaces >= ENGINE_MAX_IFACES) {
		snprintf(err, errlen, "too many interfaces (at most %d)", ENGINE_MAX_IFACES);
		return -E2BIG;
	}
	for (i = 0; i < e->n_ifaces; i++) {
		if (!strcmp(e->ifaces[i].ifname, ifname) && e->ifaces[i].hook == hook) {
			snprintf(err, errlen, "interface %s given twice for %s", ifname,
				 hook_name(hook));
			return -EEXIST;
		}
	}
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (e->slots[i]) {
			snprintf(err, errlen, "cannot add %s while captures run", ifname);
			return -EBUSY;
		}
	}

	obj = &e->ifaces[e->n_ifaces];
	ret = loader_attach(ifname, &lo, obj, err, errlen);
	if (ret)
		return ret;

	first = e->n_rings;
	rings = realloc(e->rings, (first + obj->n_rings) * sizeof(*rings));
	if (!rings) {
		snprintf(err, errlen, "out of memory for the rings of %s", ifname);
		loader_detach(obj);
		return -ENOMEM;
	}
	e->rings = rings;
	for (i = 0; i < obj->n_rings; i++) {
		ret = ring_map(e, first + i, obj->ring_fd[i], obj->ring_bytes);
		if (ret) {
			snprintf(err, errlen, "failed to set up ring buffer %u of %s: %s", i,
				 ifname, strerror(-ret));
			while (i--)
				ring_unmap(&e->rings[first + i], sysconf(_SC_PAGESIZE));
			loader_detach(obj);
			return ret;
		}
	}
	e->n_rings = first + obj->n_rings;
	obj->skel->bss->ec_active_mask = 0;
	e->n_ifaces++;
	e->ring0[e->n_ifaces] = e->n_rings;
	return 0;
}

unsigned int engine_n_ifaces(const struct engine *e)
{
	return e->n_ifaces;
}

const struct capture_obj *engine_iface(const struct engine *e, unsigned int i)
{
	return i < e->n_ifaces ? &e->ifaces[i] : NULL;
}

int engine_epoll_fd(const struct engine *e)
{
	return e->epoll_fd;
}

int engine_timeout_ms(const struct engine *e)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	int timeout = (int)e->opts.poll_interval_ms;
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		const struct capture *c = e->slots[i];
		int ms;

		if (!c || c->reason || !c->deadline_mono_ns)
			continue;
		ms = c->deadline_mono_ns <= now
			     ? 0
			     : (int)((c->deadline_mono_ns - now + 999999) / 1000000);
		if (ms < timeout)
			timeout = ms;
	}
	return timeout;
}

/* Room for one more old record on ring r's list: 0, or -ENOMEM (the record is then copied). */
static int ring_old_grow(struct engine_ring *r)
{
	size_t cap = r->old_cap ? 2 * r->old_cap : OLD_MIN;
	struct ring_old *old;

	if (cap > r->old_max)
		cap = r->old_max;
	if (cap <= r->old_cap)
		return -ENOMEM;
	old = realloc(r->old, cap * sizeof(*old));
	if (!old)
		return -ENOMEM;
	r->old = old;
	r->old_cap = cap;
	return 0;
}

/*
 * One record of ring ring (scan order is arrival order). For each capture in its slot mask: in
 * its ring's last quarter (may_direct), a record older than the capture's horizon stays where it
 * is and goes on the ring's list of old records, to be handed on from there once the drain has
 * seen every ring; any other is copied into the capture's reorder window.
 */
static void on_record(struct engine *e, struct engine_ring *ring, unsigned int src,
		      const struct ec_record *rec, size_t size, bool may_direct)
{
	uint64_t tstamp = rec->tstamp_ns - (uint64_t)e->tai_offset_ns;
	unsigned int mask = rec->slot_mask & ((1U << EC_MAX_SLOTS) - 1);
	bool old = false;
	size_t i;

	if (size < sizeof(*rec) || size - sizeof(*rec) < rec->cap_len)
		return;
	for (; mask; mask &= mask - 1) {
		struct capture *c = e->slots[__builtin_ctz(mask)];
		uint32_t cap;

		/*
		 * Whatever the kernel recorded before the capture stopped is kept (release applies
		 * the packet and byte limits); only a failed capture takes nothing more.
		 */
		if (!c || c->reason == STOP_ERROR)
			continue;
		if (may_direct && tstamp < c->horizon &&
		    (ring->n_old < ring->old_cap || !ring_old_grow(ring))) {
			old = true;
			continue;
		}
		cap = rec->cap_len < c->p.snaplen ? rec->cap_len : c->p.snaplen;
		c->records_windowed++;
		/* The one copy out of the ring: the sink is handed the record where it is held. */
		if (reorder_push(&c->held, src, rec, tstamp, (const uint8_t *)(rec + 1), cap))
			capture_stop(c, STOP_ERROR, "out of memory holding records");
	}
	if (!old)
		return;
	/* Insertion from the tail, stable: the CPUs sharing a ring race by microseconds at most. */
	i = ring->n_old++;
	while (i && tstamp < ring->old[i - 1].tstamp_ns) {
		ring->old[i] = ring->old[i - 1];
		i--;
	}
	ring->old[i] = (struct ring_old){ .tstamp_ns = tstamp, .rec = rec };
}

/*
 * Reads ring i from its consumer position up to its producer position as drain_marks found it
 * (a record still being written ends the scan, as in libbpf). The space of the records before the
 * first old one goes back to the kernel now; the rest once the drain has handed them on (on a
 * ring's last quarter only).
 */
static void ring_scan(struct engine *e, unsigned int i)
{
	struct engine_ring *r = &e->rings[i];
	uint64_t cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	uint64_t prod = r->scan_prod; /* read (acquire) by drain_marks */
	uint64_t keep_from = UINT64_MAX;

	r->n_old = 0;
	while (cons < prod) {
		const uint32_t *hdr = (const uint32_t *)(r->data + (cons & r->mask));
		uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		size_t n_old = r->n_old;

		if (len & BPF_RINGBUF_BUSY_BIT)
			break;
		if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
			on_record(e, r, ring_source(i),
				  (const struct ec_record *)((const uint8_t *)hdr +
							     BPF_RINGBUF_HDR_SZ),
				  len, cons >= r->direct_from);
			if (r->n_old != n_old && keep_from == UINT64_MAX)
				keep_from = cons;
		}
		len &= ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		cons += (len + BPF_RINGBUF_HDR_SZ + 7) & ~7U;
	}
	r->scan_end = cons;
	__atomic_store_n(r->consumer_pos, keep_from < cons ? keep_from : cons, __ATOMIC_RELEASE);
}

/* Hands rec on to the sink, enforcing the user-space limits. */
static void release_one(struct capture *c, const struct ec_record *rec, const uint8_t *data)
{
	if (c->reason == STOP_ERROR) {
		/* The output is gone: nothing more can be written. */
	} else if (c->p.packet_limit && c->packets_captured >= c->p.packet_limit) {
		c->over_limit++;
		capture_stop(c, STOP_PACKET_LIMIT, NULL);
	} else if (c->p.byte_limit && c->bytes_captured + rec->cap_len > c->p.byte_limit) {
		c->over_limit++;
		capture_stop(c, STOP_BYTE_LIMIT, NULL);
	} else if (c->fn(c->ctx, rec, data, rec->cap_len) < 0) {
		capture_stop(c, STOP_ERROR, "the capture's output failed");
	} else {
		c->packets_captured++;
		c->bytes_captured += rec->cap_len;
		if (c->p.packet_limit && c->packets_captured == c->p.packet_limit)
			capture_stop(c, STOP_PACKET_LIMIT, NULL);
	}
}

/* An old record, straight from the ring: only its header is rewritten, on the stack. */
static void release_direct(struct capture *c, const struct ring_old *o)
{
	struct ec_record rec = *o->rec;

	rec.tstamp_ns = o->tstamp_ns;
	/* A failed capture takes nothing more (on_record copies nothing for it either). */
	if (c->reason == STOP_ERROR)
		return;
	if (rec.cap_len > c->p.snaplen)
		rec.cap_len = c->p.snaplen;
	c->records_direct++;
	release_one(c, &rec, (const uint8_t *)(o->rec + 1));
}

/*
 * Hands the capture every record older than its horizon, in (timestamp, arrival) order: the
 * rings' old records of this drain (each ring's list sorted, merged across rings, the earlier
 * ring first on a tie, as it was read first), and before each of them the held records not
 * younger than it (held records arrived in an earlier drain, so they go first on a tie); then
 * the held records that remain below the horizon.
 */
static void release(struct capture *c)
{
	const struct engine *e = c->e;
	unsigned int bit = 1U << c->slot, n = e->n_rings, k, best = 0;
	const struct ec_record *rec;

	for (k = 0; k < n; k++)
		e->rings[k].at = 0;
	for (;;) {
		const struct ring_old *o = NULL;

		for (k = 0; k < n; k++) {
			struct engine_ring *r = &e->rings[k];

			while (r->at < r->n_old && (!(r->old[r->at].rec->slot_mask & bit) ||
						    r->old[r->at].tstamp_ns >= c->horizon))
				r->at++;
			if (r->at < r->n_old && (!o || r->old[r->at].tstamp_ns < o->tstamp_ns)) {
				o = &r->old[r->at];
				best = k;
			}
		}
		if (!o)
			break;
		e->rings[best].at++;
		while ((rec = reorder_next(&c->held, o->tstamp_ns + 1)))
			release_one(c, rec, reorder_data(rec));
		release_direct(c, o);
	}
	while ((rec = reorder_next(&c->held, c->horizon)))
		release_one(c, rec, reorder_data(rec));
}

static void read_counters(struct capture *c)
{
	struct engine *e = c->e;
	unsigned int i;

	for (i = 0; i < e->n_ifaces; i++)
		slot_counters(e->ifaces[i].skel, c->slot, &c->baseline[i], &c->last[i]);
}

/* Limits the kernel enforced: a refusal there means the capture has reached it. */
static void check_kernel_budget(struct capture *c)
{
	unsigned int i;

	for (i = 0; i < c->e->n_ifaces; i++) {
		if (!c->last[i].budget_exhausted)
			continue;
		if (c->p.packet_limit && c->last[i].submitted >= c->p.packet_limit)
			c->reason = c->reason ? c->reason : STOP_PACKET_LIMIT;
		else
			c->reason = c->reason ? c->reason : STOP_BYTE_LIMIT;
	}
}

/*
 * Where this drain may start to hand old records on straight from each ring: at most its last
 * quarter (the watermark). Those records keep their space in the ring while the sink writes them,
 * and the kernel goes on writing meanwhile: held back, that space must stay small beside the
 * ring's. In a ring found fuller (a flood, a late drain) the records before its last quarter are
 * copied out, and their space goes back to the kernel before the sink runs, as libbpf's consume
 * would give it; only the last quarter waits for the sink. Copying every record of such a ring
 * cost 250 to 350 ns each here where the direct path costs about 40, and a drain woken at the
 * watermark under load often finds its ring a little past it.
 */
static void drain_marks(struct engine *e)
{
	unsigned int i;

	for (i = 0; i < e->n_rings; i++) {
		struct engine_ring *r = &e->rings[i];
		uint64_t cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
		uint64_t quarter = (r->mask + 1) / 4;

		/* The scan reads no further than this: what was measured is what is held. */
		r->scan_prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		r->direct_from = r->scan_prod - cons > quarter ? r->scan_prod - quarter : cons;
	}
}

/*
 * Reads every ring, then hands each capture what is older than its horizon (c->horizon, set by
 * the caller), then gives the rings' space back.
 */
static void drain(struct engine *e)
{
	unsigned int i;

	drain_marks(e);
	for (i = 0; i < e->n_rings; i++)
		ring_scan(e, i);
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (e->slots[i]) {
			release(e->slots[i]);
			reorder_trim(&e->slots[i]->held);
		}
	}
	for (i = 0; i < e->n_rings; i++) {
		struct engine_ring *r = &e->rings[i];

		__atomic_store_n(r->consumer_pos, r->scan_end, __ATOMIC_RELEASE);
		r->n_old = 0;
	}
	/*
	 * The rings were empty a moment ago: let the next record past the watermark wake the drain
	 * again (the kernel wakes it once per drain, not once per record; see capture_abi.h).
	 */
	for (i = 0; i < e->n_ifaces; i++)
		__atomic_store_n(&e->ifaces[i].skel->bss->ec_wakeup_sent, 0, __ATOMIC_RELEASE);
}

int engine_poll(struct engine *e)
{
	uint64_t now_mono, horizon;
	unsigned int i;

	if (!e->n_ifaces)
		return 0;
	refresh_tai_offset(e);
	/* Everything the kernel timestamped before this point is in the rings once they drain. */
	horizon = clock_ns(CLOCK_REALTIME) - e->opts.reorder_ns;
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (e->slots[i])
			e->slots[i]->horizon = horizon;
	}
	drain(e);
	now_mono = clock_ns(CLOCK_MONOTONIC);

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		struct capture *c = e->slots[i];

		if (!c)
			continue;
		if (c->reason)
			continue;
		if (c->deadline_mono_ns && now_mono >= c->deadline_mono_ns) {
			capture_stop(c, STOP_TIME_LIMIT, NULL);
			continue;
		}
		read_counters(c);
		check_kernel_budget(c);
		if (c->reason) {
			enum stop_reason r = c->reason;

			c->reason = STOP_NONE;
			capture_stop(c, r, NULL);
		}
	}
	return 0;
}

int capture_start(struct engine *e, const struct capture_params *p, capture_record_fn fn, void *ctx,
		  struct capture **out, char *err, size_t errlen)
{
	struct ec_slot_config cfg = {};
	struct capture *c;
	unsigned int slot, i;
	int ret;

	if (!e->n_ifaces) {
		snprintf(err, errlen, "no interface to capture on");
		return -EINVAL;
	}
	if (!p->snaplen || p->snaplen > EC_MAX_CAPLEN) {
		snprintf(err, errlen, "snaplen: must be from 1 to %d (got %u)", EC_MAX_CAPLEN,
			 p->snaplen);
		return -EINVAL;
	}
	for (slot = 0; slot < EC_MAX_SLOTS && e->slots[slot]; slot++)
		;
	if (slot == EC_MAX_SLOTS) {
		snprintf(err, errlen, "all %d capture slots are in use", EC_MAX_SLOTS);
		return -EBUSY;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->e = e;
	c->slot = slot;
	c->p = *p;
	c->fn = fn;
	c->ctx = ctx;
	/* What a drain woken at the watermark brings: the window is allocated for that, once. */
	reorder_init(&c->held, e->opts.ring_bytes / 4 < WINDOW_FLOOR_MAX ? e->opts.ring_bytes / 4
									 : WINDOW_FLOOR_MAX);

	cfg.filter = p->filter;
	cfg.sample_rate = p->sample_rate ? p->sample_rate : 1;
	cfg.snaplen = p->snaplen;
	/* The kernel budgets each interface with the whole limit; the engine enforces the sum. */
	cfg.packet_limit = p->packet_limit;
	cfg.byte_limit = p->byte_limit;
	c->start_mono_ns = clock_ns(CLOCK_MONOTONIC);
	if (p->time_limit_ns) {
		/* The monotonic clock: a wall-clock step moves CLOCK_TAI, not the deadline. */
		c->deadline_mono_ns = c->start_mono_ns + p->time_limit_ns;
		cfg.deadline_ns = c->deadline_mono_ns;
	}

	for (i = 0; i < e->n_ifaces; i++) {
		ret = slot_start(e->ifaces[i].skel, slot, &cfg, &c->baseline[i]);
		if (ret) {
			snprintf(err, errlen, "failed to start capture slot %u on %s: %s", slot,
				 e->ifaces[i].ifname, strerror(-ret));
			while (i--)
				slot_stop(e->ifaces[i].skel, slot);
			free(c);
			return ret;
		}
	}
	e->slots[slot] = c;
	*out = c;
	return 0;
}

void capture_stop(struct capture *c, enum stop_reason reason, const char *error)
{
	unsigned int i;

	if (c->reason)
		return;
	c->reason = reason;
	if (error)
		snprintf(c->error, sizeof(c->error), "%s", error);
	c->end_mono_ns = clock_ns(CLOCK_MONOTONIC);
	for (i = 0; i < c->e->n_ifaces; i++)
		slot_stop(c->e->ifaces[i].skel, c->slot);
}

bool capture_done(const struct capture *c)
{
	return c->reason != STOP_NONE;
}

const char *capture_error(const struct capture *c)
{
	return c->error;
}

unsigned int capture_slot(const struct capture *c)
{
	return c->slot;
}

void capture_get_stats(const struct capture *c, struct capture_stats *out)
{
	const struct engine *e = c->e;
	uint64_t end = c->end_mono_ns ? c->end_mono_ns : clock_ns(CLOCK_MONOTONIC);
	unsigned int i;

	memset(out, 0, sizeof(*out));
	out->packets_captured = c->packets_captured;
	out->bytes_captured = c->bytes_captured;
	out->over_limit = c->over_limit;
	out->records_direct = c->records_direct;
	out->records_windowed = c->records_windowed;
	out->reason = c->reason;
	out->duration_s = (double)(end - c->start_mono_ns) / 1e9;
	out->n_ifaces = e->n_ifaces;
	for (i = 0; i < e->n_ifaces; i++) {
		struct capture_iface_stats *s = &out->iface[i];

		snprintf(s->ifname, sizeof(s->ifname), "%s", e->ifaces[i].ifname);
		s->ifindex = e->ifaces[i].ifindex;
		s->hook = hook_name(e->ifaces[i].hook);
		s->attach_mode = e->ifaces[i].attach_mode;
		s->kernel = c->last[i];
		slot_counters_add(&out->kernel, &c->last[i]);
	}
}

void capture_finish(struct capture *c, struct capture_stats *final)
{
	struct engine *e = c->e;
	struct timespec grace = { .tv_sec = 0, .tv_nsec = 2 * 1000000L };
	unsigned int i;

	capture_stop(c, STOP_STOPPED, NULL);
	/*
	 * A packet being processed on another CPU when the slot stopped may still write its
	 * record; programs run for microseconds, so a short grace covers them.
	 */
	nanosleep(&grace, NULL);
	/*
	 * Everything of this capture goes out now; the others' records all wait in their windows,
	 * as they would have, for their next engine_poll.
	 */
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (e->slots[i])
			e->slots[i]->horizon = 0;
	}
	c->horizon = UINT64_MAX;
	drain(e);
	read_counters(c);
	if (final)
		capture_get_stats(c, final);
	e->slots[c->slot] = NULL;
	reorder_free(&c->held);
	free(c);
}

void engine_free(struct engine *e)
{
	unsigned int i;

	if (!e)
		return;
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (e->slots[i])
			capture_finish(e->slots[i], NULL);
	}
	for (i = 0; i < e->n_rings; i++)
		ring_unmap(&e->rings[i], sysconf(_SC_PAGESIZE));
	free(e->rings);
	for (i = 0; i < e->n_ifaces; i++)
		loader_detach(&e->ifaces[i]);
	if (e->epoll_fd >= 0)
		close(e->epoll_fd);
	free(e);
}

void capture_params_from_request(const struct capture_request *req, uint32_t simple_sample_rate,
				 struct capture_params *out)
{
	memset(out, 0, sizeof(*out));
	filter_compile(&req->filter, &out->filter);
	out->sample_rate = request_sample_rate(req, simple_sample_rate);
	out->snaplen = request_snaplen(req);
	out->packet_limit = req->packet_limit;
	out->byte_limit = req->byte_limit;
	out->time_limit_ns = req->time_limit * 1000000000ULL;
}
