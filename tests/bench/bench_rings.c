// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_rings: issue 12, target 4. The in-kernel cost of a record with one ring buffer shared by
 * every CPU against a ring per CPU (the loader's two layouts, EDGECAP_RING_LAYOUT=shared and the
 * default), with one and with two CPUs producing at once.
 *
 * Both capture objects are loaded by the loader itself (engine/loader.c) and attached in skb mode
 * to the two ends of a veth pair in a network namespace of the benchmark's own (attached, they
 * stay in the XDP dispatcher: test runs then do not wait for RCU). One slot matches every frame
 * (all five filter_v1 fields, sample rate 1, whole frames); "no match" differs only in the
 * destination port. P threads, pinned to CPUs 0..P-1, run edgecap_xdp through
 * BPF_PROG_TEST_RUN (which runs the program on the caller's CPU) in batches started together
 * behind a barrier; between batches one thread drains every ring, so no ring ever fills.
 *
 * ns/pkt is the kernel's own average per call (whole ns), averaged over the threads, median over
 * --runs interleaved runs; "per record" is that less the same layout's "no match" with the same
 * number of producers: what reserving, filling and submitting a record adds (accounting
 * included). Aggregate Mpps is every thread's packets over the batches' wall-clock time. The
 * ratios compare the per-CPU rings with the shared ring in the same run.
 *
 * Needs root and two CPUs. Not a test: it prints numbers and never judges them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* capture_abi.h (through slot.h) before the skeleton: the skeleton uses its structs. */
#include "slot.h"
#include "capture.skel.h"
#include "loader.h"
#include "bench_util.h"
#include "request.h"

#define RUNS_MAX  101
#define FRAME_MAX 1514
#define PROD_MAX  2
_Static_assert(RUNS_MAX <= BENCH_RUNS_MAX, "bench_median takes at most BENCH_RUNS_MAX runs");

struct bench_opts {
	uint64_t repeat;     /* packets per thread, state and run */
	uint32_t runs;	     /* runs per state; the median is reported */
	uint64_t ring_bytes; /* --ring-size of both layouts */
};

static const struct bench_opts bench_defaults = {
	.repeat = 500000,
	.runs = 7,
	.ring_bytes = 64 << 20,
};

struct layout {
	const char *name;
	struct capture_obj obj;
	struct ring_buffer *rb;
};

struct bench_case {
	unsigned int layout; /* 0 shared, 1 per CPU */
	unsigned int producers;
	uint32_t frame_len;
	bool match;
	double kern[RUNS_MAX];
	double mpps[RUNS_MAX];
	uint64_t packets, records, ring_full;
};

struct bench;

struct producer {
	struct bench *b;
	unsigned int cpu;
	pthread_t thread;
	double kern; /* ns summed over the run's calls */
	int err;
};

struct bench {
	struct bench_opts opts;
	struct layout lay[2];
	pthread_barrier_t start, end;
	/* The case the threads run now. */
	const struct bench_case *c;
	uint64_t batch, batches;
	uint64_t drained;
	bool quit;
	struct producer prod[PROD_MAX];
	uint8_t frames[2][FRAME_MAX];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_rings [--repeat N] [--runs N] [--ring BYTES]\n"
		"\n"
		"Issue 12, target 4: the kernel's cost per record with one ring buffer shared by\n"
		"every CPU against a ring per CPU, with 1 and 2 CPUs producing at once, 64- and\n"
		"1514-byte frames. Prints a Markdown table of medians. Needs root and 2 CPUs.\n"
		"\n"
		"options:\n"
		"  --repeat N     packets per producing CPU, state and run (default 500000)\n"
		"  --runs N       runs per state, median reported, 1..%d (default 7)\n"
		"  --ring BYTES   --ring-size of both layouts, a power of 2 (default 64M)\n",
		RUNS_MAX);
}

/* A UDP/IPv4 frame of len bytes, 192.0.2.1:1234 -> 198.51.100.1:5001 (as bench_prog). */
static void frame_build(uint8_t *f, uint32_t len)
{
	static const uint8_t head[] = { 0x02, 0xec, 0x00, 0x00, 0x00, 0x02, 0x02, 0xec, 0x00,
					0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x00,
					0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192,
					0,    2,    1,	  198,	51,   100,  1,	  0x04, 0xd2,
					0x13, 0x89, 0x00, 0x00, 0x00, 0x00 };
	uint32_t ip_len = len - 14, udp_len = len - 34;

	memset(f, 0, len);
	memcpy(f, head, sizeof(head));
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[38] = (uint8_t)(udp_len >> 8);
	f[39] = (uint8_t)udp_len;
}

static int slot_config(uint16_t dst_port, struct ec_slot_config *cfg)
{
	struct req_filter f = { 0 };
	char err[128];

	if (prefix_parse("192.0.2.0/24", &f.src, err, sizeof(err)) ||
	    prefix_parse("198.51.100.0/24", &f.dst, err, sizeof(err)))
		return -EINVAL;
	f.fields = EC_F_SRC_ADDR | EC_F_DST_ADDR | EC_F_PROTOCOL | EC_F_SRC_PORT | EC_F_DST_PORT;
	f.protocol = 17;
	f.src_port = 1234;
	f.dst_port = dst_port;
	memset(cfg, 0, sizeof(*cfg));
	filter_compile(&f, &cfg->filter);
	cfg->sample_rate = 1;
	cfg->snaplen = EC_MAX_CAPLEN;
	return 0;
}

static int count_record(void *ctx, void *data, size_t size)
{
	struct bench *b = ctx;

	(void)data;
	(void)size;
	b->drained++;
	return 0;
}

static int pin(unsigned int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* One producer: per run, batches of test runs between two barriers; thread 0 drains. */
static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct bench *b = p->b;

	p->err = pin(p->cpu);
	for (;;) {
		const struct bench_case *c;
		uint64_t k, batches, batch;

		pthread_barrier_wait(&b->start);
		if (b->quit)
			return NULL;
		/* Read once: the main thread sets up the next case once the last barrier passed. */
		c = b->c;
		batches = b->batches;
		batch = b->batch;
		p->kern = 0;
		for (k = 0; k < batches; k++) {
			const struct layout *l = &b->lay[c->layout];
			LIBBPF_OPTS(bpf_test_run_opts, opts,
				    .data_in = b->frames[c->frame_len == FRAME_MAX],
				    .data_size_in = c->frame_len, .repeat = (__u32)batch);

			if (p->cpu < c->producers && !p->err) {
				int err = bpf_prog_test_run_opts(
					bpf_program__fd(l->obj.skel->progs.edgecap_xdp), &opts);

				if (err || opts.retval != XDP_PASS)
					p->err = err ? err : -EPROTO;
				p->kern += (double)opts.duration * (double)batch;
			}
			pthread_barrier_wait(&b->end);
			if (p->cpu == 0 && l->rb && ring_buffer__consume(l->rb) < 0)
				p->err = -EIO;
			pthread_barrier_wait(&b->end);
		}
	}
}

static int case_run(struct bench *b, struct bench_case *c, unsigned int run, bool count)
{
	struct layout *l = &b->lay[c->layout];
	struct ec_slot_counters base, now;
	struct ec_slot_config cfg;
	size_t per = (8 + sizeof(struct ec_record) + ec_record_room(c->frame_len) + 7) & ~7UL;
	double t0, kern = 0;
	unsigned int i;
	int err;

	for (i = 0; i < 2; i++)
		slot_stop(b->lay[i].obj.skel, 0);
	err = slot_config(c->match ? 5001 : 9, &cfg);
	if (!err)
		err = slot_start(l->obj.skel, 0, &cfg, &base);
	if (err)
		return err;
	/*
	 * The same batches in both layouts, half a per-CPU ring across the producers: no ring ever
	 * fills.
	 */
	b->batch = b->lay[1].obj.ring_bytes / 2 / per / PROD_MAX;
	if (b->batch > b->opts.repeat)
		b->batch = b->opts.repeat;
	b->batches = (b->opts.repeat + b->batch - 1) / b->batch;
	b->c = c;
	b->drained = 0;
	t0 = bench_now_ns(CLOCK_MONOTONIC);
	pthread_barrier_wait(&b->start);
	for (i = 0; i < b->batches; i++) {
		pthread_barrier_wait(&b->end);
		pthread_barrier_wait(&b->end);
	}
	/* The last drain is in the wall time; one per batch, as in every case. */
	t0 = bench_now_ns(CLOCK_MONOTONIC) - t0;
	for (i = 0; i < c->producers; i++) {
		if (b->prod[i].err)
			return b->prod[i].err < 0 ? b->prod[i].err : -b->prod[i].err;
		kern += b->prod[i].kern;
	}
	if (!count)
		return 0;
	c->kern[run] = kern / (double)(b->batch * b->batches * c->producers);
	c->mpps[run] = (double)(b->batch * b->batches * c->producers) / t0 * 1e3;
	c->packets += b->batch * b->batches * c->producers;
	c->records += b->drained;
	err = slot_counters(l->obj.skel, 0, &base, &now);
	if (err)
		return err;
	c->ring_full += now.ring_full;
	return 0;
}

static int layouts_open(struct bench *b)
{
	static const char *const devs[2] = { "bench0", "bench1" };
	char err[256];
	unsigned int i, k;
	int ret;

	ret = bench_netns_veth("bench_rings");
	if (ret)
		return ret;
	for (i = 0; i < 2; i++) {
		struct layout *l = &b->lay[i];
		struct loader_opts lo = { .hook = EC_HOOK_XDP,
					  .mode = XDP_MODE_SKB,
					  .ring_bytes = (__u32)b->opts.ring_bytes };

		l->name = i ? "per CPU" : "shared";
		if (i)
			unsetenv("EDGECAP_RING_LAYOUT");
		else
			setenv("EDGECAP_RING_LAYOUT", "shared", 1);
		ret = loader_attach(devs[i], &lo, &l->obj, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "bench_rings: %s\n", err);
			return ret;
		}
		for (k = 0; k < l->obj.n_rings; k++) {
			ret = k ? ring_buffer__add(l->rb, l->obj.ring_fd[k], count_record, b) : 0;
			if (!k) {
				l->rb = ring_buffer__new(l->obj.ring_fd[0], count_record, b, NULL);
				ret = l->rb ? 0 : -errno;
			}
			if (ret) {
				fprintf(stderr, "bench_rings: cannot map ring %u: %s\n", k,
					strerror(-ret));
				return ret;
			}
		}
	}
	unsetenv("EDGECAP_RING_LAYOUT");
	frame_build(b->frames[0], 64);
	frame_build(b->frames[1], FRAME_MAX);
	return 0;
}

static void print_table(const struct bench *b, struct bench_case *cases, unsigned int n)
{
	static const char *const cols[] = { "frame",	       "producing CPUs",  "layout",
					    "no match ns/pkt", "recorded ns/pkt", "per record ns",
					    "x shared",	       "aggregate Mpps",  "records",
					    "ring_full" };
	unsigned int i, j;

	printf("## Ring layout: one shared ring against a ring per CPU\n\n");
	printf("BPF_PROG_TEST_RUN on CPUs 0..P-1 at once, %" PRIu64 " packets per CPU, state and "
	       "run, median of %u runs (interleaved); kernel %s; --ring-size %" PRIu64 " MiB "
	       "(shared: one ring of it; per CPU: %u MiB each). One slot, all five filter fields, "
	       "whole frames.\n\n",
	       b->opts.repeat, b->opts.runs, bench_kernel(), b->opts.ring_bytes >> 20,
	       b->lay[1].obj.ring_bytes >> 20);
	bench_table_head(cols, 10, "rrlrrrrrrr");
	/* cases come in quadruples: shared no match, shared recorded, per CPU no match, recorded */
	for (i = 0; i + 3 < n; i += 4) {
		double rec_shared = 0;

		for (j = 0; j < 2; j++) {
			struct bench_case *nm = &cases[i + 2 * j], *rc = &cases[i + 2 * j + 1];
			double k0 = bench_median(nm->kern, b->opts.runs);
			double k1 = bench_median(rc->kern, b->opts.runs);

			if (!j)
				rec_shared = k1 - k0;
			printf("| %u | %u | %s | %.1f | %.1f | %.1f | %.2f | %.2f | %" PRIu64
			       " | %" PRIu64 " |\n",
			       rc->frame_len, rc->producers, b->lay[rc->layout].name, k0, k1,
			       k1 - k0, rec_shared > 0 ? (k1 - k0) / rec_shared : 0.0,
			       bench_median(rc->mpps, b->opts.runs), rc->records, rc->ring_full);
		}
	}
	printf("\nns/pkt: the kernel's average per packet on each producing CPU; per record: "
	       "recorded less no match;\nx shared: per record against the shared ring with the "
	       "same producers; aggregate Mpps: all CPUs'\npackets over the wall-clock time of "
	       "the batches (drains between batches included).\n");
}

int main(int argc, char **argv)
{
	static const uint32_t lens[] = { 64, FRAME_MAX };
	struct bench *b = calloc(1, sizeof(*b));
	const struct bench_opt opts[] = {
		{ "repeat", BENCH_OPT_U64, &b->opts.repeat, 1000, UINT32_MAX },
		{ "runs", BENCH_OPT_U32, &b->opts.runs, 1, RUNS_MAX },
		{ "ring", BENCH_OPT_POW2, &b->opts.ring_bytes, 1 << 20, 1ULL << 30 },
	};
	struct bench_case cases[2 * 2 * 4];
	unsigned int n = 0, i, j, run;
	int err;

	if (!b)
		return 1;
	b->opts = bench_defaults;
	if (!bench_args_parse("bench_rings", opts, 3, usage, argc, argv, &err))
		return err;
	if (sysconf(_SC_NPROCESSORS_ONLN) < PROD_MAX) {
		fprintf(stderr, "bench_rings: needs %d online CPUs\n", PROD_MAX);
		return 1;
	}
	err = layouts_open(b);
	if (err)
		return 1;
	memset(cases, 0, sizeof(cases));
	for (i = 0; i < 2; i++)
		for (j = 1; j <= PROD_MAX; j++) {
			unsigned int lay, m;

			for (lay = 0; lay < 2; lay++)
				for (m = 0; m < 2; m++)
					cases[n++] = (struct bench_case){ .layout = lay,
									  .producers = j,
									  .frame_len = lens[i],
									  .match = m };
		}
	pthread_barrier_init(&b->start, NULL, PROD_MAX + 1);
	pthread_barrier_init(&b->end, NULL, PROD_MAX + 1);
	for (i = 0; i < PROD_MAX; i++) {
		b->prod[i] = (struct producer){ .b = b, .cpu = i };
		pthread_create(&b->prod[i].thread, NULL, producer_main, &b->prod[i]);
	}
	/* A warm-up run, not counted: JIT images, maps and the rings' pages. */
	for (i = 0; i < n && !err; i++)
		err = case_run(b, &cases[i], 0, false);
	for (run = 0; run < b->opts.runs && !err; run++)
		for (i = 0; i < n && !err; i++)
			err = case_run(b, &cases[i], run, true);
	b->quit = true;
	pthread_barrier_wait(&b->start);
	for (i = 0; i < PROD_MAX; i++)
		pthread_join(b->prod[i].thread, NULL);
	if (err) {
		fprintf(stderr, "bench_rings: a run failed: %s\n", strerror(-err));
		return 1;
	}
	print_table(b, cases, n);
	for (i = 0; i < 2; i++) {
		ring_buffer__free(b->lay[i].rb);
		loader_detach(&b->lay[i].obj);
	}
	free(b);
	return 0;
}
