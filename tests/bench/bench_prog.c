// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_prog: benchmark B1, the in-kernel cost per packet of edgecap's XDP program.
 *
 * Runs edgecap_xdp (bpf/capture.bpf.c) through BPF_PROG_TEST_RUN with a repeat count, beside the
 * no-op program xdp_noop (bpf/noop.bpf.c) measured in the same runs, for UDP/IPv4 frames of 64
 * and 1514 bytes in these states:
 *   idle       no slot active: the program's one load and one branch;
 *   no match   1, 4 or 8 slots whose filter (all five filter_v1 fields) differs from the frame
 *              only in the destination port, so every comparison runs before the miss;
 *   recorded   1, 4 or 8 slots whose filter matches, sample rate 1, no budget, no deadline
 *              (--deadline hour: one an hour ahead, as a capture with a time limit has), whole
 *              frames: one ring-buffer record per packet. The ring is drained between batches
 *              so it never fills, and the submitted and ring_full counters are read back and
 *              reported: a benchmark of "recorded" must really record.
 *
 * Each state is run --runs times, interleaved (no-op, idle, ... then again), and the median is
 * printed as a Markdown table. ns/pkt is the kernel's own figure: the average duration
 * BPF_PROG_TEST_RUN returns, which leaves out the time the test loop spends rescheduled, so other
 * tasks on the CPU do not count; it is a whole number of ns per call, so it may read up to 1 ns
 * low. Beside it, wall-clock time around each call divided by its packets: finer, but it counts
 * everything else that ran on the CPU. Where the two differ by more than 5% a footnote says the
 * CPU was shared. Pin the benchmark to one CPU (tests/bench/b1.sh uses taskset) and keep the
 * machine quiet.
 *
 * One thing makes that overhead much larger unless prevented: a test run with repeat > 1 puts
 * the program into the kernel's XDP dispatcher and takes it out again afterwards, waiting for an
 * RCU grace period each time (milliseconds), unless the program is already there because it is
 * attached somewhere. So the benchmark moves into a network namespace of its own, makes a veth
 * pair there and attaches both programs (skb mode) to interfaces that carry no traffic. The
 * namespace goes away with the process.
 *
 * Needs root. Not a test: it prints numbers and never judges them.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* capture_abi.h (through slot.h) before the skeleton: the skeleton uses its structs. */
#include "slot.h"
#include "capture.skel.h"
#include "noop.skel.h"
#include "bench_util.h"
#include "request.h"

#define RUNS_MAX  101
#define FRAME_MAX 1514
/* Bytes a ring-buffer record of a frame takes: the ring's 8-byte header, ec_record, the frame. */
#define RING_RECORD_BYTES(len) ((8 + sizeof(struct ec_record) + (len) + 7) & ~7UL)
_Static_assert(RUNS_MAX <= BENCH_RUNS_MAX, "bench_median takes at most BENCH_RUNS_MAX runs");

struct bench_opts {
	uint64_t repeat;       /* packets per state and run */
	uint32_t runs;	       /* runs per state; the median is reported */
	uint64_t ring_bytes;   /* ring buffer size (power of 2) */
	unsigned int deadline; /* DEADLINE_* */
};

/* --deadline: the slots' deadline (as every capture through the API has a time_limit). */
enum {
	DEADLINE_NONE,
	DEADLINE_HOUR,
	DEADLINE_COUNT
};
static const char *const deadline_names[] = { "none", "hour" };

static const struct bench_opts bench_defaults = {
	.repeat = 1000000,
	.runs = 7,
	.ring_bytes = 64 << 20,
};

enum state {
	STATE_NOOP,
	STATE_IDLE,
	STATE_NO_MATCH,
	STATE_RECORDED,
};

static const char *const state_names[] = {
	[STATE_NOOP] = "no-op (xdp_noop)",
	[STATE_IDLE] = "idle, no slot",
	[STATE_NO_MATCH] = "active, no match",
	[STATE_RECORDED] = "matching, recorded",
};

struct bench_case {
	enum state state;
	unsigned int slots;
	uint32_t frame_len;
	/* Per run: wall-clock ns per packet, the kernel's ns per packet. */
	double wall[RUNS_MAX];
	double kern[RUNS_MAX];
	/* Summed over runs. */
	uint64_t packets;
	uint64_t records;   /* drained from the ring */
	uint64_t submitted; /* slot 0's submitted counter */
	uint64_t ring_full; /* summed over the case's slots */
	uint64_t matched;   /* slot 0's matched counter */
};

struct bench {
	struct bench_opts opts;
	struct capture_bpf *cap;
	struct noop_bpf *noop;
	struct ring_buffer *ring;
	int links[2]; /* the programs' XDP links, which keep them in the dispatcher */
	uint64_t drained;
	uint8_t frames[2][FRAME_MAX];
	uint32_t frame_lens[2];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_prog [--repeat N] [--runs N] [--ring BYTES] [--deadline none|hour]\n"
		"\n"
		"Benchmark B1: edgecap's XDP program cost per packet, through BPF_PROG_TEST_RUN,\n"
		"idle, active without a match and matching-and-recorded with 1, 4 and 8 slots, "
		"for\n"
		"64- and 1514-byte frames, beside a no-op XDP program. Prints a Markdown table of\n"
		"medians. Needs root; pin it to one CPU.\n"
		"\n"
		"options:\n"
		"  --repeat N     packets per state and run (default 1000000)\n"
		"  --runs N       runs per state, median reported, 1..%d (default 7)\n"
		"  --ring BYTES   ring buffer size, a power of 2, K/M/G suffixes (default 64M)\n"
		"  --deadline none|hour  no slot deadline (default), or one an hour ahead, as\n"
		"                 a capture with a time limit has: what checking it costs\n"
		"\n"
		"examples:\n"
		"  taskset -c 1 build/tests/bench/bench_prog\n"
		"  tests/bench/b1.sh --repeat 200000 --runs 3\n"
		"  taskset -c 1 build/tests/bench/bench_prog --deadline hour --runs 5\n",
		RUNS_MAX);
}

/*
 * A UDP/IPv4 frame of len bytes, 192.0.2.1:1234 -> 198.51.100.1:5001, checksums left zero
 * (no program here checks them).
 */
static void frame_build(uint8_t *f, uint32_t len)
{
	static const uint8_t head[] = { /* Ethernet: dst, src, IPv4 */
					0x02, 0xec, 0x00, 0x00, 0x00, 0x02, 0x02, 0xec, 0x00, 0x00,
					0x00, 0x01, 0x08, 0x00,
					/* IPv4: 20 bytes, DF, TTL 64, UDP */
					0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
					0x00, 0x00, 192, 0, 2, 1, 198, 51, 100, 1,
					/* UDP: 1234 -> 5001 */
					0x04, 0xd2, 0x13, 0x89, 0x00, 0x00, 0x00, 0x00
	};
	uint32_t ip_len = len - 14, udp_len = len - 34;

	memset(f, 0, len);
	memcpy(f, head, sizeof(head));
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[38] = (uint8_t)(udp_len >> 8);
	f[39] = (uint8_t)udp_len;
}

/*
 * The five-field filter of the benchmark; dst_port says whether it matches the frame; with
 * deadline, a deadline an hour ahead.
 */
static int slot_config(uint16_t dst_port, bool deadline, struct ec_slot_config *cfg)
{
	struct timespec now;

	struct req_filter f = { 0 };
	char err[128];

	if (prefix_parse("192.0.2.0/24", &f.src, err, sizeof(err)) ||
	    prefix_parse("198.51.100.0/24", &f.dst, err, sizeof(err))) {
		fprintf(stderr, "bench_prog: cannot parse the benchmark's prefixes: %s\n", err);
		return -EINVAL;
	}
	f.fields = EC_F_SRC_ADDR | EC_F_DST_ADDR | EC_F_PROTOCOL | EC_F_SRC_PORT | EC_F_DST_PORT;
	f.protocol = 17;
	f.src_port = 1234;
	f.dst_port = dst_port;
	memset(cfg, 0, sizeof(*cfg));
	filter_compile(&f, &cfg->filter);
	cfg->sample_rate = 1;
	cfg->snaplen = EC_MAX_CAPLEN;
	if (deadline) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		cfg->deadline_ns = ((__u64)now.tv_sec + 3600) * 1000000000ULL + (__u64)now.tv_nsec;
	}
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

/*
 * Runs prog_fd over the frame repeat times in calls of at most batch packets, draining the ring
 * after each call. Adds the wall-clock and kernel-reported nanoseconds to *wall and *kern.
 */
static int run_prog(struct bench *b, int prog_fd, const uint8_t *frame, uint32_t len,
		    uint64_t repeat, uint64_t batch, double *wall, double *kern)
{
	uint64_t done = 0, n;
	double t0, t1;
	int err;

	*wall = 0;
	*kern = 0;
	while (done < repeat) {
		n = repeat - done < batch ? repeat - done : batch;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
			    .repeat = (__u32)n);
		t0 = bench_now_ns(CLOCK_MONOTONIC);
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		t1 = bench_now_ns(CLOCK_MONOTONIC);
		if (err) {
			fprintf(stderr, "bench_prog: BPF_PROG_TEST_RUN failed: %s\n",
				strerror(-err));
			return err;
		}
		if (opts.retval != XDP_PASS) {
			fprintf(stderr, "bench_prog: the program returned %u, not XDP_PASS\n",
				opts.retval);
			return -EPROTO;
		}
		*wall += t1 - t0;
		*kern += (double)opts.duration * (double)n;
		done += n;
		if (b->ring) {
			err = ring_buffer__consume(b->ring);
			if (err < 0) {
				fprintf(stderr, "bench_prog: failed to drain the ring: %s\n",
					strerror(-err));
				return err;
			}
		}
	}
	return 0;
}

/* Puts the capture object in the case's state: which slots are live and with what filter. */
static int state_set(struct bench *b, const struct bench_case *c)
{
	struct ec_slot_counters baseline;
	struct ec_slot_config cfg;
	unsigned int i;
	int err;

	for (i = 0; i < EC_MAX_SLOTS; i++)
		slot_stop(b->cap, i);
	if (c->state == STATE_NOOP || c->state == STATE_IDLE)
		return 0;
	err = slot_config(c->state == STATE_RECORDED ? 5001 : 9, b->opts.deadline == DEADLINE_HOUR,
			  &cfg);
	if (err)
		return err;
	for (i = 0; i < c->slots; i++) {
		err = slot_start(b->cap, i, &cfg, &baseline);
		if (err) {
			fprintf(stderr, "bench_prog: failed to start slot %u: %s\n", i,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

/* One run of one case: repeat packets, their time, and what the slots counted. */
static int case_run(struct bench *b, struct bench_case *c, unsigned int run)
{
	struct ec_slot_counters base[EC_MAX_SLOTS], now;
	const uint8_t *frame = b->frames[c->frame_len == FRAME_MAX];
	uint64_t batch = b->opts.repeat;
	double wall, kern;
	unsigned int i;
	int err, fd;

	err = state_set(b, c);
	if (err)
		return err;
	for (i = 0; i < c->slots; i++) {
		err = slot_counters(b->cap, i, NULL, &base[i]);
		if (err)
			return err;
	}
	/* Half the ring per call, drained after it: the ring never fills. */
	if (c->state == STATE_RECORDED)
		batch = b->opts.ring_bytes / 2 / RING_RECORD_BYTES(c->frame_len);
	fd = c->state == STATE_NOOP ? bpf_program__fd(b->noop->progs.xdp_noop)
				    : bpf_program__fd(b->cap->progs.edgecap_xdp);
	b->drained = 0;
	err = run_prog(b, fd, frame, c->frame_len, b->opts.repeat, batch, &wall, &kern);
	if (err)
		return err;
	c->wall[run] = wall / (double)b->opts.repeat;
	c->kern[run] = kern / (double)b->opts.repeat;
	c->packets += b->opts.repeat;
	c->records += b->drained;
	for (i = 0; i < c->slots; i++) {
		err = slot_counters(b->cap, i, &base[i], &now);
		if (err)
			return err;
		c->ring_full += now.ring_full;
		if (i == 0) {
			c->submitted += now.submitted;
			c->matched += now.matched;
		}
	}
	return 0;
}

static void print_table(const struct bench *b, const struct bench_case *cases, unsigned int n)
{
	static const char *const cols[] = { "frame",   "state",	      "slots",	 "ns/pkt",
					    "x no-op", "wall ns/pkt", "records", "ring_full" };
	const struct bench_case *noop = NULL;
	unsigned int i, shared = 0;
	double k, w;

	printf("## B1: XDP program cost per packet\n\n");
	printf("BPF_PROG_TEST_RUN, %" PRIu64 " packets per state and run, median of %u runs "
	       "(interleaved); kernel %s, CPU %d, ring %" PRIu64 " MiB. UDP/IPv4 frames; filters "
	       "use all five filter_v1 fields, \"no match\" differs only in the destination port; "
	       "\"recorded\" keeps whole frames, sample rate 1, no budget, %s.\n\n",
	       b->opts.repeat, b->opts.runs, bench_kernel(), sched_getcpu(),
	       b->opts.ring_bytes >> 20,
	       b->opts.deadline == DEADLINE_HOUR ? "a deadline an hour ahead" : "no deadline");
	bench_table_head(cols, 8, "rlrrrrrr");
	for (i = 0; i < n; i++) {
		const struct bench_case *c = &cases[i];

		if (c->state == STATE_NOOP)
			noop = c;
		k = bench_median(c->kern, b->opts.runs);
		w = bench_median(c->wall, b->opts.runs);
		if (bench_shared(w, k))
			shared++;
		printf("| %u | %s | %u | %.1f | %.2f | %.2f | ", c->frame_len,
		       state_names[c->state], c->slots, k,
		       noop ? k / bench_median(noop->kern, b->opts.runs) : 0.0, w);
		if (c->state == STATE_RECORDED)
			printf("%" PRIu64 " | %" PRIu64 " |\n", c->records, c->ring_full);
		else
			printf("- | - |\n");
	}
	printf("\nns/pkt: the kernel's average (whole ns per call, median over runs); wall: "
	       "wall-clock per packet.\nrecords: drained from the ring over all runs, one per "
	       "packet for all its slots together;\nring_full: summed over slots, 0 means nothing "
	       "was lost.\n");
	if (shared)
		printf("\nNote: wall-clock exceeds the kernel's figure by more than 5%% in %u "
		       "rows: "
		       "other work shared\nthe CPU, and the kernel's figure, which leaves it out, "
		       "is "
		       "the one to read.\n",
		       shared);
}

/* Checks that "recorded" recorded: one record and one submission per packet, nothing lost. */
static int check_recorded(const struct bench_case *cases, unsigned int n)
{
	unsigned int i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		const struct bench_case *c = &cases[i];

		if (c->state != STATE_RECORDED)
			continue;
		if (c->records != c->packets || c->submitted != c->packets ||
		    c->matched != c->packets || c->ring_full) {
			fprintf(stderr,
				"bench_prog: %u-byte frames, %u slots: %" PRIu64
				" packets but %" PRIu64 " matched, %" PRIu64
				" records drained, %" PRIu64 " submitted, %" PRIu64 " ring_full\n",
				c->frame_len, c->slots, c->packets, c->matched, c->records,
				c->submitted, c->ring_full);
			bad = 1;
		}
	}
	return bad ? -EPROTO : 0;
}

/*
 * Moves into a network namespace of our own with a veth pair, and attaches the no-op program
 * and the capture program there (skb mode): attached, they stay in the XDP dispatcher, and test
 * runs no longer wait for RCU twice per call.
 */
static int dispatcher_pin(struct bench *b)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = XDP_FLAGS_SKB_MODE);
	const char *devs[2] = { "bench0", "bench1" };
	int progs[2], i, err;

	err = bench_netns_veth("bench_prog");
	if (err)
		return err;
	progs[0] = bpf_program__fd(b->noop->progs.xdp_noop);
	progs[1] = bpf_program__fd(b->cap->progs.edgecap_xdp);
	for (i = 0; i < 2; i++) {
		b->links[i] =
			bpf_link_create(progs[i], (int)if_nametoindex(devs[i]), BPF_XDP, &lopts);
		if (b->links[i] < 0) {
			err = b->links[i];
			fprintf(stderr, "bench_prog: failed to attach a program to %s: %s\n",
				devs[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

static int bench_open(struct bench *b)
{
	int err;

	b->cap = capture_bpf__open();
	if (!b->cap) {
		err = -errno;
		fprintf(stderr, "bench_prog: failed to open the capture object: %s\n",
			strerror(-err));
		return err;
	}
	/* As the loader does: a big ring, the XDP program only. */
	err = bpf_map__set_max_entries(b->cap->maps.ec_records, (__u32)b->opts.ring_bytes);
	if (!err)
		err = bpf_program__set_autoload(b->cap->progs.edgecap_tc, false);
	if (!err)
		err = capture_bpf__load(b->cap);
	if (err) {
		fprintf(stderr, "bench_prog: failed to load the capture object: %s%s\n",
			strerror(-err), err == -EPERM ? " (needs root)" : "");
		return err;
	}
	b->noop = noop_bpf__open();
	if (!b->noop)
		return -errno;
	bpf_program__set_autoload(b->noop->progs.xdp_tx, false);
	bpf_program__set_autoload(b->noop->progs.xdp_drop, false);
	err = noop_bpf__load(b->noop);
	if (err) {
		fprintf(stderr, "bench_prog: failed to load the no-op program: %s\n",
			strerror(-err));
		return err;
	}
	b->ring = ring_buffer__new(bpf_map__fd(b->cap->maps.ec_records), count_record, b, NULL);
	if (!b->ring) {
		err = -errno;
		fprintf(stderr, "bench_prog: failed to map the ring buffer: %s\n", strerror(-err));
		return err;
	}
	frame_build(b->frames[0], 64);
	frame_build(b->frames[1], FRAME_MAX);
	return dispatcher_pin(b);
}

static void bench_close(struct bench *b)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (b->links[i] >= 0)
			close(b->links[i]);
	}
	ring_buffer__free(b->ring);
	noop_bpf__destroy(b->noop);
	capture_bpf__destroy(b->cap);
}

static int bench_run(struct bench *b)
{
	static const unsigned int slot_counts[] = { 1, 4, 8 };
	static const uint32_t lens[] = { 64, FRAME_MAX };
	struct bench_case cases[2 * 8];
	unsigned int n = 0, i, j, run;
	int err;

	memset(cases, 0, sizeof(cases));
	for (i = 0; i < 2; i++) {
		cases[n++] = (struct bench_case){ .state = STATE_NOOP, .frame_len = lens[i] };
		cases[n++] = (struct bench_case){ .state = STATE_IDLE, .frame_len = lens[i] };
		for (j = 0; j < 3; j++)
			cases[n++] = (struct bench_case){ .state = STATE_NO_MATCH,
							  .slots = slot_counts[j],
							  .frame_len = lens[i] };
		for (j = 0; j < 3; j++)
			cases[n++] = (struct bench_case){ .state = STATE_RECORDED,
							  .slots = slot_counts[j],
							  .frame_len = lens[i] };
	}

	/* A warm-up pass, not counted: JIT images and maps in cache, pages of the ring touched. */
	for (i = 0; i < n; i++) {
		struct bench_case warm = cases[i];
		struct bench_opts saved = b->opts;

		b->opts.repeat = b->opts.repeat / 10 ? b->opts.repeat / 10 : 1;
		err = case_run(b, &warm, 0);
		b->opts = saved;
		if (err)
			return err;
	}
	for (run = 0; run < b->opts.runs; run++) {
		for (i = 0; i < n; i++) {
			err = case_run(b, &cases[i], run);
			if (err)
				return err;
		}
	}
	for (i = 0; i < EC_MAX_SLOTS; i++)
		slot_stop(b->cap, i);
	print_table(b, cases, n);
	return check_recorded(cases, n);
}

int main(int argc, char **argv)
{
	struct bench b = { .opts = bench_defaults, .links = { -1, -1 } };
	const struct bench_opt opts[] = {
		{ "repeat", BENCH_OPT_U64, &b.opts.repeat, 1, UINT32_MAX },
		{ "runs", BENCH_OPT_U32, &b.opts.runs, 1, RUNS_MAX },
		{ "ring", BENCH_OPT_POW2, &b.opts.ring_bytes, 1 << 16, 1ULL << 30 },
		{ "deadline", BENCH_OPT_CHOICE, &b.opts.deadline, 0, DEADLINE_COUNT, NULL,
		  deadline_names },
	};
	int err;

	if (!bench_args_parse("bench_prog", opts, 4, usage, argc, argv, &err))
		return err;
	err = bench_open(&b);
	if (!err)
		err = bench_run(&b);
	bench_close(&b);
	return err ? 1 : 0;
}
