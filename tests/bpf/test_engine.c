// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_engine.c: the capture engine (engine/engine.c) on the real capture object, attached to
 * the lo of a private network namespace, with records made by BPF_PROG_TEST_RUN of the attached
 * program. What only the engine and the kernel together decide lives here:
 *   - the kernel wakes the drain once per drain when the ring passes its watermark, and the
 *     engine re-arms that wake-up after every drain (without it the drain would run on its
 *     timer alone and a fast stream would overflow the ring between two ticks);
 *   - every record the kernel wrote reaches the capture's sink, in timestamp order;
 *   - records already older than the reorder horizon when drained go to the sink straight from
 *     the ring (none copied into the window), merged across rings and with the records the
 *     window holds in the exact (timestamp, arrival) order; the packet and byte limits stay
 *     exact on that path;
 *   - each CPU writes into a ring of its own (the program test-run on CPU 0, then CPU 1), and
 *     the engine merges the CPUs' rings into one complete sequence in timestamp order, both
 *     straight from the rings and through the window, and with a packet limit;
 *   - what the rings hold undrained (engine_ring_usage, the agent's ring metrics).
 * The tests run pinned to CPU 0 (BPF_PROG_TEST_RUN runs the program on the caller's CPU; XDP's
 * test run refuses BPF_F_TEST_RUN_ON_CPU), and move to another CPU where they say so.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture_abi.h"
#include "capture.skel.h"
#include "engine.h"
#include "testing.h"

#define RING_BYTES (64 * 1024) /* the engine wakes at a quarter: 16 KiB */
#define FRAME_LEN  64
#define MAX_TAGS   512
#define TAG_AT	   40 /* a byte of the frame that names its batch */
#define INJECTED   99 /* the batch the sink makes while it writes */

struct sink {
	uint64_t records;
	uint64_t last_ts;
	uint64_t out_of_order;
	uint8_t tags[MAX_TAGS]; /* each record's batch, in the order handed on */
	/* On its first record, the sink makes this many more on e's ring 0, as traffic would. */
	struct engine *e;
	unsigned int inject;
	uint64_t fail_at; /* the sink fails on this record (counted from 1; 0: never) */
};

static int make_tagged(struct engine *e, unsigned int iface, unsigned int n, uint8_t tag);

static int sink_record(void *ctx, const struct ec_record *rec, const uint8_t *data,
		       uint32_t cap_len)
{
	struct sink *s = ctx;

	if (s->inject) {
		unsigned int n = s->inject;

		s->inject = 0;
		if (make_tagged(s->e, 0, n, INJECTED))
			return -1;
	}
	if (s->fail_at && s->records + 1 == s->fail_at)
		return -1;

	if (s->records < MAX_TAGS && cap_len > TAG_AT)
		s->tags[s->records] = data[TAG_AT];
	if (rec->tstamp_ns < s->last_ts)
		s->out_of_order++;
	s->last_ts = rec->tstamp_ns;
	s->records++;
	return 0;
}

/* n records of batch tag through interface iface's XDP program, as n packets would make. */
static int make_tagged(struct engine *e, unsigned int iface, unsigned int n, uint8_t tag)
{
	uint8_t frame[FRAME_LEN] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = n);
	const struct capture_obj *obj = engine_iface(e, iface);

	frame[12] = 0x08; /* IPv4 ethertype; the rest does not matter to an empty filter */
	frame[TAG_AT] = tag;
	return bpf_prog_test_run_opts(bpf_program__fd(obj->skel->progs.edgecap_xdp), &opts);
}

/* n records through the attached XDP program, as n packets arriving on lo would make. */
static int make_records(struct engine *e, unsigned int n)
{
	return make_tagged(e, 0, n, 0);
}

/* Whether the engine's descriptor is readable now: a wake-up is pending. */
static int woken(struct engine *e)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC), n;

	/* A fresh epoll instance: no level-triggered leftovers of an earlier wait. */
	if (ep < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, engine_epoll_fd(e), &ev)) {
		close(ep);
		return -errno;
	}
	n = epoll_wait(ep, &ev, 1, 0);
	close(ep);
	return n;
}

static void test_watermark_wakes_once_per_drain(void)
{
	struct engine_opts o;
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };
	char err[256] = "";
	uint32_t per_record, k;
	int ret;

	engine_opts_default(&o);
	o.ring_bytes = RING_BYTES;
	o.reorder_ns = 0;
	ret = engine_new(&o, &e);
	CHECK(ret == 0, "engine_new: %s", strerror(-ret));
	ret = engine_add_iface(e, "lo", EC_HOOK_XDP, XDP_MODE_SKB, err, sizeof(err));
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "engine_add_iface(lo): %s", err);
	ret = capture_start(e, &p, sink_record, &s, &c, err, sizeof(err));
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "capture_start: %s", err);

	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(FRAME_LEN);
	k = (RING_BYTES / 4 + per_record - 1) / per_record; /* the k-th record reaches the mark */

	ret = make_records(e, k - 1);
	if (!ret && (ret = woken(e)) != 0)
		ret = ret > 0 ? -EAGAIN : ret;
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "below the watermark the drain sleeps (%d)", ret);

	ret = make_records(e, 1);
	if (!ret)
		ret = woken(e) == 1 ? 0 : -EAGAIN;
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "record %u reaches the watermark: the drain is woken", k);

	/* Past the mark, more records do not wake it again before it drains... */
	engine_poll(e);
	ret = woken(e);
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "drained: nothing pending (%d)", ret);

	/* ...and after the drain the next crossing does: the engine re-armed the wake-up. */
	ret = make_records(e, k);
	if (!ret)
		ret = woken(e) == 1 ? 0 : -EAGAIN;
	if (ret)
		engine_free(e);
	CHECK(ret == 0, "after a drain, the next %u records wake the drain again", k);

	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(s.records, 2 * k, "records handed to the sink");
	CHECK_EQ_U64(st.kernel.submitted, 2 * k, "records the kernel submitted");
	CHECK_EQ_U64(st.kernel.ring_full, 0, "ring_full");
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * An engine on lo and, with two, on the veth "ectest0" made in main, and one capture of every
 * frame into s. 0, or the engine is freed and a failure recorded.
 */
static int open_capture(unsigned int n_ifaces, uint64_t reorder_ns, const struct capture_params *p,
			struct sink *s, struct engine **ep, struct capture **cp)
{
	static const char *const names[] = { "lo", "ectest0" };
	struct engine_opts o;
	char err[256] = "";
	unsigned int i;
	int ret;

	engine_opts_default(&o);
	o.ring_bytes = RING_BYTES;
	o.reorder_ns = reorder_ns;
	ret = engine_new(&o, ep);
	if (ret) {
		fprintf(stderr, "engine_new: %s\n", strerror(-ret));
		return ret;
	}
	for (i = 0; i < n_ifaces && !ret; i++)
		ret = engine_add_iface(*ep, names[i], EC_HOOK_XDP, XDP_MODE_SKB, err, sizeof(err));
	if (!ret)
		ret = capture_start(*ep, p, sink_record, s, cp, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "setting up the capture: %s\n", err);
		engine_free(*ep);
	}
	return ret;
}

/* A check after set-up: on failure the engine (and its capture) is freed first. */
#define CHECK_LIVE(e, cond, ...)                   \
	do {                                       \
		if (!(cond)) {                     \
			engine_free(e);            \
			CHECK(false, __VA_ARGS__); \
		}                                  \
	} while (0)

/* Whether s got counts[k] records of tag k, k = 0, 1, ..., in that order. */
static bool tags_are(const struct sink *s, const unsigned int *counts, unsigned int n)
{
	uint64_t at = 0;
	unsigned int k, j;

	for (k = 0; k < n; k++)
		for (j = 0; j < counts[k]; j++, at++)
			if (at >= s->records || at >= MAX_TAGS || s->tags[at] != k)
				return false;
	return at == s->records;
}

/* With no reorder delay every drained record is old enough: none is copied into the window. */
static void test_in_order_records_bypass_the_window(void)
{
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };

	CHECK(open_capture(1, 0, &p, &s, &e, &c) == 0, "set up");
	CHECK_LIVE(e, make_records(e, 100) == 0, "records made");
	engine_poll(e);
	capture_get_stats(c, &st);
	CHECK_EQ_U64(s.records, 100, "handed on by the drain");
	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(st.records_direct, 100, "straight from the ring");
	CHECK_EQ_U64(st.records_windowed, 0, "copied into the window");
	CHECK_EQ_U64(st.packets_captured, 100, "captured");
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
}

/*
 * The drain reads ring 0 (newer records) before ring 1 (older ones, made first): straight from
 * the rings, they still come out oldest first. "In order so far" is not enough to hand a record
 * on: the next ring may hold older ones.
 */
static void test_rings_merge_in_timestamp_order_on_the_fast_path(void)
{
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	const unsigned int counts[] = { 50, 60, 70 };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };

	CHECK(open_capture(2, 0, &p, &s, &e, &c) == 0, "set up");
	CHECK_LIVE(e, make_tagged(e, 1, counts[0], 0) == 0, "ring 1, oldest");
	CHECK_LIVE(e, make_tagged(e, 0, counts[1], 1) == 0, "ring 0, newer");
	CHECK_LIVE(e, make_tagged(e, 1, counts[2], 2) == 0, "ring 1, newest");
	engine_poll(e);
	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(st.records_direct, 180, "straight from the rings");
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
	CHECK(tags_are(&s, counts, 3), "ring 1's older batch, ring 0's, ring 1's newer, in turn");
}

/* Pins the calling thread to cpu: the test runs of the program then run there. */
static int on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/*
 * engine_ring_usage, the agent's edgecap_agent_ring_used_bytes and _ring_size_bytes: the bytes
 * the kernel wrote that the drain has not consumed, summed over an interface's per-CPU rings (a
 * record made on CPU 1 counts with CPU 0's), as their sizes are; nothing once drained.
 */
static void test_ring_usage_counts_what_is_not_drained(void)
{
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	const uint64_t per_record =
		BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(FRAME_LEN);
	const uint64_t size_want = (uint64_t)RING_BYTES * (uint64_t)libbpf_num_possible_cpus();
	uint64_t used[2] = { 1, 1 }, size[2] = { 0, 0 };
	unsigned int lo_records = 10;
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };

	CHECK(open_capture(2, 0, &p, &s, &e, &c) == 0, "set up");
	CHECK_LIVE(e, !engine_ring_usage(e, 0, &used[0], &size[0]), "usage of lo");
	CHECK_LIVE(e, used[0] == 0 && size[0] == size_want,
		   "lo before any record: %llu used of %llu (want 0 of %llu)",
		   (unsigned long long)used[0], (unsigned long long)size[0],
		   (unsigned long long)size_want);
	CHECK_LIVE(e, make_records(e, 10) == 0, "records made on lo");
	CHECK_LIVE(e, make_tagged(e, 1, 3, 0) == 0, "records made on ectest0");
	if (libbpf_num_possible_cpus() >= 2 && !on_cpu(1)) {
		CHECK_LIVE(e, make_records(e, 5) == 0, "records made on lo from CPU 1");
		lo_records += 5;
	} else {
		CHECK_LIVE(e, !test_in_ci(), "CPU 1 not usable");
	}
	on_cpu(0);
	CHECK_LIVE(e,
		   !engine_ring_usage(e, 0, &used[0], &size[0]) &&
			   !engine_ring_usage(e, 1, &used[1], &size[1]),
		   "usage of both interfaces");
	CHECK_LIVE(e, used[0] == lo_records * per_record,
		   "lo: %llu bytes used, want %u records of %llu", (unsigned long long)used[0],
		   lo_records, (unsigned long long)per_record);
	CHECK_LIVE(e, used[1] == 3 * per_record && size[1] == size_want,
		   "ectest0: %llu used of %llu, want %llu of %llu", (unsigned long long)used[1],
		   (unsigned long long)size[1], (unsigned long long)(3 * per_record),
		   (unsigned long long)size_want);
	CHECK_LIVE(e, engine_ring_usage(e, 2, &used[0], &size[0]) == -ENOENT,
		   "an interface the engine does not have");
	engine_poll(e);
	CHECK_LIVE(e,
		   !engine_ring_usage(e, 0, &used[0], &size[0]) &&
			   !engine_ring_usage(e, 1, &used[1], &size[1]) && !used[0] && !used[1],
		   "after the drain: %llu and %llu bytes used", (unsigned long long)used[0],
		   (unsigned long long)used[1]);
	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(s.records, lo_records + 3, "records handed to the sink");
}

/* Bytes the kernel ever wrote into the ring of fd (its producer position). */
static uint64_t ring_produced(int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	const unsigned long *prod = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, page);
	uint64_t v;

	if (prod == MAP_FAILED)
		return UINT64_MAX;
	v = __atomic_load_n(prod, __ATOMIC_ACQUIRE);
	munmap((void *)prod, (size_t)page);
	return v;
}

/*
 * Batches made on CPU 0, CPU 1, CPU 0: each CPU's records land in its own ring (CPU 1's ring
 * stays empty until CPU 1 runs the program), and the drain, which reads CPU 0's ring (batches 0
 * and 2) before CPU 1's (batch 1), hands them on as batch 0, 1, 2: every record, in timestamp
 * order. reorder_ns 0 takes them straight from the rings; a long window copies them all and the
 * capture's end hands them on; a packet limit keeps exactly the oldest records across the CPUs.
 */
static void records_from_each_cpu_merge(uint64_t reorder_ns, uint64_t packet_limit)
{
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	const unsigned int counts[] = { 40, 50, 60 };
	const struct capture_obj *obj;
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };
	uint64_t cpu0, cpu1;
	unsigned int k;

	p.packet_limit = packet_limit;
	CHECK(open_capture(1, reorder_ns, &p, &s, &e, &c) == 0, "set up");
	obj = engine_iface(e, 0);
	CHECK_LIVE(e, obj->n_rings == (unsigned int)libbpf_num_possible_cpus(),
		   "a ring per possible CPU (%u rings)", obj->n_rings);
	CHECK_LIVE(e, make_tagged(e, 0, counts[0], 0) == 0, "batch 0 on CPU 0");
	cpu0 = ring_produced(obj->ring_fd[0]);
	cpu1 = ring_produced(obj->ring_fd[1]);
	CHECK_LIVE(e, cpu0 > 0 && cpu1 == 0, "CPU 0's records in CPU 0's ring only (%llu, %llu)",
		   (unsigned long long)cpu0, (unsigned long long)cpu1);
	CHECK_LIVE(e, on_cpu(1) == 0, "moved to CPU 1");
	CHECK_LIVE(e, make_tagged(e, 0, counts[1], 1) == 0, "batch 1 on CPU 1");
	CHECK_LIVE(e, on_cpu(0) == 0, "back on CPU 0");
	CHECK_LIVE(e, ring_produced(obj->ring_fd[1]) > 0 && ring_produced(obj->ring_fd[0]) == cpu0,
		   "CPU 1's records in CPU 1's ring only");
	CHECK_LIVE(e, make_tagged(e, 0, counts[2], 2) == 0, "batch 2 on CPU 0");
	engine_poll(e);
	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
	CHECK_EQ_U64(st.kernel.matched, 150, "matched on both CPUs");
	CHECK_EQ_U64(st.kernel.matched,
		     st.kernel.sampled_out + st.kernel.budget_exhausted + st.kernel.ring_full +
			     st.kernel.submitted,
		     "the counter identity");
	if (packet_limit) {
		CHECK_EQ_U64(s.records, packet_limit, "exactly the limit");
		for (k = 0; k < packet_limit && k < MAX_TAGS; k++)
			CHECK(s.tags[k] == (k < counts[0]		? 0
					    : k < counts[0] + counts[1] ? 1
									: 2),
			      "record %u in its batch", k);
		return;
	}
	CHECK(tags_are(&s, counts, 3), "batch 0 (CPU 0), 1 (CPU 1), 2 (CPU 0), in turn");
	if (reorder_ns)
		CHECK_EQ_U64(st.records_windowed, 150, "all through the window");
	else
		CHECK_EQ_U64(st.records_direct, 150, "all straight from the rings");
}

static void test_records_from_each_cpu_merge(void)
{
	if (libbpf_num_possible_cpus() < 2 || on_cpu(1) || on_cpu(0)) {
		CHECK(!test_in_ci(),
		      "two CPUs to run the program on: %d possible, CPU 1 not usable",
		      libbpf_num_possible_cpus());
		on_cpu(0);
		SKIP("needs two online CPUs");
	}
	records_from_each_cpu_merge(0, 0);
	records_from_each_cpu_merge(60ULL * 1000000000ULL, 0);
	records_from_each_cpu_merge(0, 70);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Records held in the window from an earlier drain and records old enough to go straight from
 * the rings, in one drain: one sequence in timestamp order. The window is long (WINDOW_MS) so
 * that the first drain finds the first batch young however loaded the machine is; if even that
 * passed before it, the test cannot tell and skips.
 */
static void test_held_and_direct_records_merge(void)
{
	enum {
		WINDOW_MS = 300
	};
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	const unsigned int counts[] = { 20, 30, 40 };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };
	uint64_t made;

	CHECK(open_capture(2, WINDOW_MS * 1000000ULL, &p, &s, &e, &c) == 0, "set up");
	made = mono_ms();
	CHECK_LIVE(e, make_tagged(e, 0, counts[0], 0) == 0, "ring 0, first");
	engine_poll(e);
	if (mono_ms() - made >= WINDOW_MS) {
		engine_free(e);
		SKIP("the first drain came %llu ms after the records, past the window",
		     (unsigned long long)(mono_ms() - made));
	}
	capture_get_stats(c, &st);
	CHECK_LIVE(e, s.records == 0, "younger than the window: held (%llu handed on)",
		   (unsigned long long)s.records);
	CHECK_LIVE(e, st.records_windowed == counts[0], "held in the window: %llu",
		   (unsigned long long)st.records_windowed);
	CHECK_LIVE(e, make_tagged(e, 1, counts[1], 1) == 0, "ring 1");
	CHECK_LIVE(e, make_tagged(e, 0, counts[2], 2) == 0, "ring 0, last");
	sleep_ms(WINDOW_MS + 20);
	engine_poll(e);
	capture_get_stats(c, &st);
	capture_finish(c, NULL);
	engine_free(e);
	CHECK_EQ_U64(st.records_direct, counts[1] + counts[2], "the later ones, from the rings");
	CHECK_EQ_U64(st.records_windowed, counts[0], "only the first batch copied");
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
	CHECK(tags_are(&s, counts, 3), "held batch, ring 1's, ring 0's, in turn");
}

/*
 * The kernel budgets each interface with the whole limit; the engine enforces the sum, exactly,
 * also for records handed on straight from the rings.
 */
static void test_limits_hold_on_the_fast_path(void)
{
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN, .packet_limit = 10 };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };

	CHECK(open_capture(2, 0, &p, &s, &e, &c) == 0, "set up");
	CHECK_LIVE(e, make_tagged(e, 0, 10, 0) == 0 && make_tagged(e, 1, 10, 0) == 0,
		   "records made");
	engine_poll(e);
	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(s.records, 10, "the packet limit");
	CHECK_EQ_U64(st.packets_captured, 10, "captured");
	CHECK_EQ_U64(st.over_limit, 10, "over the limit");
	CHECK(st.reason == STOP_PACKET_LIMIT, "stopped by %s", stop_reason_name(st.reason));
	CHECK_EQ_U64(st.records_windowed, 0, "copied into the window");

	memset(&s, 0, sizeof(s));
	p.packet_limit = 0;
	p.byte_limit = 5 * FRAME_LEN + 10;
	CHECK(open_capture(2, 0, &p, &s, &e, &c) == 0, "set up");
	CHECK_LIVE(e, make_tagged(e, 0, 5, 0) == 0 && make_tagged(e, 1, 5, 0) == 0, "records made");
	engine_poll(e);
	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(s.records, 5, "the byte limit");
	CHECK_EQ_U64(st.bytes_captured, 5 * FRAME_LEN, "bytes captured");
	CHECK_EQ_U64(st.over_limit, 5, "over the limit");
	CHECK(st.reason == STOP_BYTE_LIMIT, "stopped by %s", stop_reason_name(st.reason));
}

/*
 * Records the kernel writes while the sink writes (traffic goes on while a drain runs): the ring
 * must keep room for them. Two drains, both after the records passed the window (the sink is
 * slow, the drain late):
 *   - the ring past its watermark (70% full): the records before its last quarter are copied
 *     out, and their space given back, before the sink runs; only the last quarter goes straight
 *     from the ring (every record was copied before: 250 to 350 ns each instead of about 40);
 *   - the ring below its watermark: the records go straight from the ring, holding at most a
 *     quarter of it.
 * Either way the sink makes what fits in the other three quarters. No record is lost to a full
 * ring (ring_full 0), and every one reaches the sink in order.
 */
static void test_the_ring_has_room_while_the_sink_writes(void)
{
	const uint32_t per_record =
		BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(FRAME_LEN);
	const unsigned int late = (RING_BYTES * 7 / 10) / per_record;
	const unsigned int early = (RING_BYTES / 5) / per_record;
	const unsigned int inject = (RING_BYTES * 3 / 4) / per_record - 1;
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	struct capture_stats st;
	struct capture *c = NULL;
	struct engine *e = NULL;
	struct sink s = { 0 };

	CHECK(open_capture(1, 1000000ULL, &p, &s, &e, &c) == 0, "set up");
	s.e = e;

	CHECK_LIVE(e, make_tagged(e, 0, late, 0) == 0, "records made");
	sleep_ms(5);
	s.inject = inject;
	engine_poll(e);
	capture_get_stats(c, &st);
	CHECK_LIVE(e, st.kernel.ring_full == 0, "a late drain past the watermark: ring_full %llu",
		   (unsigned long long)st.kernel.ring_full);
	CHECK_LIVE(e, st.records_windowed + st.records_direct == late,
		   "past the watermark: %llu copied and %llu direct, of %u",
		   (unsigned long long)st.records_windowed, (unsigned long long)st.records_direct,
		   late);
	CHECK_LIVE(e,
		   st.records_direct > 0 && st.records_direct * per_record <= RING_BYTES / 4 &&
			   st.records_windowed * per_record >= RING_BYTES * 7 / 10 - RING_BYTES / 4,
		   "past the watermark only the last quarter direct: %llu copied, %llu direct",
		   (unsigned long long)st.records_windowed, (unsigned long long)st.records_direct);
	sleep_ms(5);
	engine_poll(e); /* the injected ones */

	CHECK_LIVE(e, make_tagged(e, 0, early, 1) == 0, "records made");
	sleep_ms(5);
	s.inject = inject;
	engine_poll(e);
	capture_get_stats(c, &st);
	CHECK_LIVE(e, st.kernel.ring_full == 0, "a late drain below the watermark: ring_full %llu",
		   (unsigned long long)st.kernel.ring_full);
	CHECK_LIVE(e, st.records_direct >= early,
		   "below the watermark straight from the ring: %llu",
		   (unsigned long long)st.records_direct);
	sleep_ms(5);
	engine_poll(e);

	capture_finish(c, &st);
	engine_free(e);
	CHECK_EQ_U64(st.kernel.ring_full, 0, "ring_full");
	CHECK_EQ_U64(s.records, late + early + 2 * inject, "records handed on");
	CHECK_EQ_U64(st.kernel.submitted, s.records, "records the kernel submitted");
	CHECK_EQ_U64(s.out_of_order, 0, "records out of timestamp order");
}

/*
 * Two captures of the same records straight from the ring; one's output fails part-way. It takes
 * nothing more (and does not count records it never wrote as handed on); the other gets them all.
 */
static void test_a_failed_capture_takes_nothing_more(void)
{
	struct capture_params p = { .sample_rate = 1, .snaplen = FRAME_LEN };
	struct capture_stats sa, sb;
	struct capture *a = NULL, *b = NULL;
	struct engine *e = NULL;
	struct sink s1 = { .fail_at = 31 }, s2 = { 0 };
	char err[256] = "";

	CHECK(open_capture(1, 0, &p, &s1, &e, &a) == 0, "set up");
	CHECK_LIVE(e, capture_start(e, &p, sink_record, &s2, &b, err, sizeof(err)) == 0, "%s", err);
	CHECK_LIVE(e, make_records(e, 100) == 0, "records made");
	engine_poll(e);
	CHECK_LIVE(e, make_records(e, 50) == 0, "records made");
	engine_poll(e);
	capture_finish(a, &sa);
	capture_finish(b, &sb);
	engine_free(e);
	CHECK(sa.reason == STOP_ERROR, "stopped by %s", stop_reason_name(sa.reason));
	CHECK_EQ_U64(s1.records, 30, "written before the failure");
	CHECK_EQ_U64(sa.packets_captured, 30, "captured");
	CHECK_EQ_U64(sa.records_direct, 31, "handed on: the 30 and the one that failed");
	CHECK_EQ_U64(sa.records_windowed, 0, "copied into the window");
	CHECK_EQ_U64(s2.records, 150, "the other capture: every record");
	CHECK_EQ_U64(sb.records_direct, 150, "straight from the ring");
	CHECK_EQ_U64(s2.out_of_order, 0, "records out of timestamp order");
}

int main(void)
{
	if (geteuid() != 0) {
		SKIP_ALL("the engine tests need root to attach and test-run BPF programs");
		return TEST_SUMMARY();
	}
	/* A private lo: nothing of the host's traffic meets the program. */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 1;
	}
	/* A second interface for the tests that merge rings. */
	if (system("ip link add ectest0 type veth peer name ectest1 && ip link set ectest0 up")) {
		fprintf(stderr, "cannot make the veth pair ectest0/ectest1\n");
		return 1;
	}
	if (on_cpu(0)) {
		fprintf(stderr, "cannot pin to CPU 0: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_watermark_wakes_once_per_drain);
	RUN(test_in_order_records_bypass_the_window);
	RUN(test_rings_merge_in_timestamp_order_on_the_fast_path);
	RUN(test_held_and_direct_records_merge);
	RUN(test_limits_hold_on_the_fast_path);
	RUN(test_the_ring_has_room_while_the_sink_writes);
	RUN(test_a_failed_capture_takes_nothing_more);
	RUN(test_records_from_each_cpu_merge);
	RUN(test_ring_usage_counts_what_is_not_drained);
	return TEST_SUMMARY();
}
