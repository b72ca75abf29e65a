// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

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
	uint64_t start_mono_ns;
	uint64_t deadline_mono_ns; /* 0: none */
	uint64_t end_mono_ns;
	uint64_t packets_captured, bytes_captured, over_limit;
	enum stop_reason reason;
	char error[256];
};

/* What a ring's callback is given: the engine, and which interface's ring it drains. */
struct engine_ring {
	struct engine *e;
	unsigned int iface;
	/*
	 * The ring's consumer and producer positions (its first two pages, mapped read-only) for
	 * engine_ring_usage: libbpf 1.1 has no ring__avail_data_size.
	 */
	const unsigned long *pos;
	size_t pos_len;
};

struct engine {
	struct engine_opts opts;
	struct capture_obj ifaces[ENGINE_MAX_IFACES];
	struct engine_ring rings[ENGINE_MAX_IFACES];
	unsigned int n_ifaces;
	struct ring_buffer *rb;
	struct capture *slots[EC_MAX_SLOTS];
	int64_t tai_offset_ns; /* CLOCK_TAI - CLOCK_REALTIME */
};

/* Each interface's ring is a source of its own in a capture's reorder window. */
_Static_assert(ENGINE_MAX_IFACES <= REORDER_MAX_SOURCES, "a reorder source per interface");

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
	refresh_tai_offset(e);
	*out = e;
	return 0;
}

static int on_record(void *ctx, void *data, size_t size);

/* Maps the ring's two position pages; without them engine_ring_usage reports nothing. */
static void ring_map_positions(struct engine_ring *r, int fd)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		pr_debug("cannot map the ring's positions (no ring occupancy metric): %s",
			 strerror(errno));
		return;
	}
	r->pos = p;
	r->pos_len = 2 * page;
}

int engine_ring_usage(const struct engine *e, unsigned int i, uint64_t *used, uint64_t *size)
{
	const struct engine_ring *r;
	unsigned long cons, prod;

	if (i >= e->n_ifaces || !e->rings[i].pos)
		return -ENOENT;
	r = &e->rings[i];
	cons = __atomic_load_n(&r->pos[0], __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(&r->pos[r->pos_len / 2 / sizeof(unsigned long)], __ATOMIC_ACQUIRE);
	*used = prod - cons;
	*size = e->opts.ring_bytes;
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
	unsigned int i;
	int ret, fd;

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

	fd = bpf_map__fd(obj->skel->maps.ec_records);
	e->rings[e->n_ifaces] = (struct engine_ring){ .e = e, .iface = e->n_ifaces };
	if (!e->rb) {
		e->rb = ring_buffer__new(fd, on_record, &e->rings[e->n_ifaces], NULL);
		ret = e->rb ? 0 : -errno;
	} else {
		ret = ring_buffer__add(e->rb, fd, on_record, &e->rings[e->n_ifaces]);
	}
	if (ret) {
		snprintf(err, errlen, "failed to set up the ring buffer of %s: %s", ifname,
			 strerror(-ret));
		loader_detach(obj);
		return ret;
	}
	obj->skel->bss->ec_active_mask = 0;
	ring_map_positions(&e->rings[e->n_ifaces], fd);
	e->n_ifaces++;
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
	return e->rb ? ring_buffer__epoll_fd(e->rb) : -1;
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

static void deliver(struct engine *e, unsigned int iface, const struct ec_record *rec,
		    const uint8_t *data)
{
	uint64_t tstamp = rec->tstamp_ns - (uint64_t)e->tai_offset_ns;
	unsigned int mask = rec->slot_mask & ((1U << EC_MAX_SLOTS) - 1);

	for (; mask; mask &= mask - 1) {
		struct capture *c = e->slots[__builtin_ctz(mask)];
		uint32_t cap;

		/*
		 * Whatever the kernel recorded before the capture stopped is kept (release applies
		 * the packet and byte limits); only a failed capture takes nothing more.
		 */
		if (!c || c->reason == STOP_ERROR)
			continue;
		cap = rec->cap_len < c->p.snaplen ? rec->cap_len : c->p.snaplen;
		/* The one copy out of the ring: the sink is handed the record where it is held. */
		if (reorder_push(&c->held, iface, rec, tstamp, data, cap))
			capture_stop(c, STOP_ERROR, "out of memory holding records");
	}
}

/* Ring-buffer callback: copy the record to every capture in its slot mask. */
static int on_record(void *ctx, void *data, size_t size)
{
	const struct engine_ring *ring = ctx;
	const struct ec_record *rec = data;

	if (size < sizeof(*rec) || size - sizeof(*rec) < rec->cap_len)
		return 0;
	deliver(ring->e, ring->iface, rec, (const uint8_t *)(rec + 1));
	return 0;
}

/* Hands held records older than horizon (UTC ns) to the sink, enforcing the user-space limits. */
static void release(struct capture *c, uint64_t horizon)
{
	const struct ec_record *rec;

	while ((rec = reorder_next(&c->held, horizon))) {
		if (c->reason == STOP_ERROR) {
			/* The output is gone: nothing more can be written. */
		} else if (c->p.packet_limit && c->packets_captured >= c->p.packet_limit) {
			c->over_limit++;
			capture_stop(c, STOP_PACKET_LIMIT, NULL);
		} else if (c->p.byte_limit && c->bytes_captured + rec->cap_len > c->p.byte_limit) {
			c->over_limit++;
			capture_stop(c, STOP_BYTE_LIMIT, NULL);
		} else if (c->fn(c->ctx, rec, reorder_data(rec), rec->cap_len) < 0) {
			capture_stop(c, STOP_ERROR, "the capture's output failed");
		} else {
			c->packets_captured++;
			c->bytes_captured += rec->cap_len;
			if (c->p.packet_limit && c->packets_captured == c->p.packet_limit)
				capture_stop(c, STOP_PACKET_LIMIT, NULL);
		}
	}
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

static void drain(struct engine *e)
{
	unsigned int i;

	ring_buffer__consume(e->rb);
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

	if (!e->rb)
		return 0;
	refresh_tai_offset(e);
	/* Everything the kernel timestamped before this point is in the rings once they drain. */
	horizon = clock_ns(CLOCK_REALTIME) - e->opts.reorder_ns;
	drain(e);
	now_mono = clock_ns(CLOCK_MONOTONIC);

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		struct capture *c = e->slots[i];

		if (!c)
			continue;
		release(c, horizon);
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
	uint64_t now_tai;
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

	cfg.filter = p->filter;
	cfg.sample_rate = p->sample_rate ? p->sample_rate : 1;
	cfg.snaplen = p->snaplen;
	/* The kernel budgets each interface with the whole limit; the engine enforces the sum. */
	cfg.packet_limit = p->packet_limit;
	cfg.byte_limit = p->byte_limit;
	now_tai = clock_ns(CLOCK_TAI);
	c->start_mono_ns = clock_ns(CLOCK_MONOTONIC);
	if (p->time_limit_ns) {
		cfg.deadline_ns = now_tai + p->time_limit_ns;
		c->deadline_mono_ns = c->start_mono_ns + p->time_limit_ns;
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

	capture_stop(c, STOP_STOPPED, NULL);
	/*
	 * A packet being processed on another CPU when the slot stopped may still write its
	 * record; programs run for microseconds, so a short grace covers them.
	 */
	nanosleep(&grace, NULL);
	drain(e);
	release(c, UINT64_MAX);
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
	ring_buffer__free(e->rb);
	for (i = 0; i < e->n_ifaces; i++) {
		if (e->rings[i].pos)
			munmap((void *)e->rings[i].pos, e->rings[i].pos_len);
		loader_detach(&e->ifaces[i]);
	}
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
