// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_agent: benchmark B4b, the agent's cost per packet from the ring buffer to the wire.
 *
 * The real capture object is loaded and attached by the real engine (engine_new,
 * engine_add_iface) on a veth in a network namespace of the benchmark's own, and one capture
 * runs in it as a fleet capture does: filter on UDP destination port 5001, sample rate 1,
 * snaplen 160, no limits. The ring is filled by BPF_PROG_TEST_RUN of the attached program over
 * matching 512-byte UDP frames (a pool of 4096 with random payloads, one frame per call, so
 * that the records are as varied as real traffic's and deflate gets no easy repeats), in
 * chunks of a quarter of the ring: the fill level at which the engine wakes the agent's loop.
 * After each chunk the drain runs and is timed. Records stay in the engine's reorder window
 * (5 ms) as they do in the agent, so the window holds about what 5 ms of the fill rate gives; the
 * last records are let go by a final drain 6 ms after the last chunk.
 *
 * Three sinks, each over the same records:
 *   drain only   engine_poll with a sink that does nothing: the baseline, ring drain (libbpf's
 *                ring_buffer__consume), copy into the reorder window, release in time order;
 *   + batches    the agent's sink (batcher.c: batcher_add, batcher_flush) without the socket:
 *                wire_batch_add per record, wire_batch_finish (deflate or store) when a
 *                batch reaches its bound, the message then freed;
 *   + ship       the whole sink: the batch handed to ship_enqueue, and ship_pump after every
 *                drain as agent_tick does, and while the ring fills, every PUMP_EVERY records
 *                when messages wait, as the agent's loop wakes when the socket can take more
 *                (its poll on ship_send_fd); into a PUSH socket (ship_open) connected over
 *                ipc:// to a PULL socket that a thread of the benchmark reads and frees.
 * The sinks are the agent's own code: the benchmark links batcher.c, agent_clock.c and ship.c,
 * as edgecap-agent does, and calls them as its loop (loop.c, captures.c) does (batcher_tick with
 * the agent's default batch_ms after every drain, then ship_pump).
 *
 * Figures, per packet: "drain ns" is the wall-clock time of the drain thread in the timed
 * sections (engine_poll, and for the sinks the batch-age check and ship_pump), "drain CPU" its
 * CPU time there; "NNG CPU" is the CPU time of the process's other threads (NNG's
 * workers, which move the messages onto the socket) over the whole case, without the reader
 * thread, which stands in for the aggregator. The drain thread is pinned to --cpu, the reader
 * to another CPU when there is one; NNG's workers run where the scheduler puts them.
 *
 * Needs root. Not a test: it prints numbers; it only checks that every packet went through
 * (records in = records out, no ring_full, every message received).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libdeflate.h>
#include <lz4.h>
#include <zstd.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "agent_clock.h"
#include "batcher.h"
#include "bench_util.h"
#include "capture_abi.h"
#include "capture.skel.h"
#include "engine.h"
#include "log.h"
#include "request.h"
#include "ship.h"
#include "sp.h"
#include "wire.h"

#define RUNS_MAX    31
#define SNAPLEN	    REQ_SIMPLE_SNAPLEN
#define FRAME_LEN   512
#define FRAMES	    4096
#define DST_PORT    5001
#define BATCH_MS    100		  /* the agent's --batch-ms default */
#define QUEUE_BYTES (64ULL << 20) /* the agent's --queue-size default */
/* Records filled between two looks at the send side (the agent's poll on ship_send_fd). */
#define PUMP_EVERY 256
/*
 * Bytes a record of SNAPLEN bytes takes in the ring: its 8-byte header, ec_record, and the room
 * the program reserves for the data (the size class that holds SNAPLEN, ec_record_room).
 */
#define RING_RECORD_BYTES ((8 + sizeof(struct ec_record) + ec_record_room(SNAPLEN) + 7) & ~7UL)
_Static_assert(RUNS_MAX <= BENCH_RUNS_MAX, "bench_median takes at most BENCH_RUNS_MAX runs");

struct bench_opts {
	uint64_t records; /* per case and run */
	uint32_t runs;
	uint64_t ring_bytes;
	int cpu;    /* the drain thread's; -1: the last one */
	bool zeros; /* payloads: ec_livegen's (ECT1 header, zeros), not random */
};

static const struct bench_opts bench_defaults = {
	.records = 1000000,
	.runs = 3,
	.ring_bytes = 8U << 20,
	.cpu = -1,
};

enum sink_kind {
	SINK_NULL,
	SINK_BATCH,
	SINK_SHIP,
};

/*
 * The cases, in the order they run in each round: the baseline, then the two sinks with each
 * batch codec (protocol 1.2), deflate first: what every aggregator takes, and the agent's only
 * codec before 1.2, so the "before" of the codec rows.
 */
#define N_CASES (1 + 2 * WIRE_N_CODECS)

static enum sink_kind case_sink(unsigned int k)
{
	return k == 0 ? SINK_NULL : (k - 1) % 2 ? SINK_SHIP : SINK_BATCH;
}

static enum wire_codec case_codec(unsigned int k)
{
	return k == 0 ? WIRE_CODEC_DEFLATE : (enum wire_codec)((k - 1) / 2);
}

static void case_name(unsigned int k, char *buf, size_t len)
{
	enum sink_kind kind = case_sink(k);

	if (kind == SINK_NULL)
		snprintf(buf, len, "drain only (baseline)");
	else if (kind == SINK_BATCH)
		snprintf(buf, len, "+ batches, %s (wire_batch_add, _finish: compress or store)",
			 wire_codec_name(case_codec(k)));
	else
		snprintf(buf, len, "+ ship, %s (ship_enqueue, ship_pump, ipc://)",
			 wire_codec_name(case_codec(k)));
}

/* The stand-in for the aggregator: a PULL socket read by its own thread. */
struct reader {
	nng_socket sock;
	bool open;
	pthread_t thread;
	bool running;
	volatile bool stop;
	volatile uint64_t msgs, bytes;
};

struct result {
	double drain_ns[RUNS_MAX]; /* per record */
	double drain_cpu[RUNS_MAX];
	double other_cpu[RUNS_MAX];
	double fill_pps[RUNS_MAX];
	uint64_t records, ring_full, batches, wire_bytes, dropped;
};

struct bench {
	struct bench_opts opts;
	struct engine *engine;
	int prog_fd;
	int cpu;
	struct reader reader;
	struct ship *ship;
	char url[128];
	uint8_t (*frames)[FRAME_LEN];
	uint64_t rng;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_agent [--records N] [--runs N] [--ring BYTES] [--cpu N]\n"
		"                   [--payload random|zeros]\n"
		"\n"
		"Benchmark B4b: the agent's cost per packet from the ring buffer to the wire. "
		"Fills\n"
		"the real capture object's ring with BPF_PROG_TEST_RUN on a veth of its own "
		"network\n"
		"namespace and times the engine's drain into a sink that does nothing, into the\n"
		"agent's batches, and into the agent's batches and send queue over ipc://. Prints "
		"a\n"
		"Markdown table of medians. Needs root.\n"
		"\n"
		"options:\n"
		"  --records N    packets per case and run (default 1000000)\n"
		"  --runs N       runs per case, median reported, 1..%d (default 3)\n"
		"  --payload random|zeros  packet payloads: random, like encrypted traffic\n"
		"                 (default), or ec_livegen's ECT1 header and zeros\n"
		"  --ring BYTES   ring buffer size, a power of 2, K/M suffixes (default 8M, the\n"
		"                 agent's)\n"
		"  --cpu N        CPU of the drain thread (default the last one)\n"
		"\n"
		"examples:\n"
		"  sudo build/tests/bench/bench_agent\n"
		"  sudo build/tests/bench/bench_agent --records 300000 --runs 1 --cpu 0\n",
		RUNS_MAX);
}

/*
 * UDP/IPv4 frame number i of the pool: 192.0.2.1 -> 198.51.100.1, source port and IP id
 * changing per frame, destination port DST_PORT, random payload (or zeros after an ECT1
 * header); checksums left zero.
 */
static void frame_build(uint8_t *f, unsigned int i, bool zeros, uint64_t *rng)
{
	static const uint8_t head[] = { 0x02, 0xec, 0x00, 0x00, 0x00, 0x02, 0x02, 0xec, 0x00,
					0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x00,
					0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192,
					0,    2,    1,	  198,	51,   100,  1,	  0x00, 0x00,
					0x13, 0x89, 0x00, 0x00, 0x00, 0x00 };
	uint32_t ip_len = FRAME_LEN - 14, udp_len = FRAME_LEN - 34, j;

	memcpy(f, head, sizeof(head));
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[18] = (uint8_t)(i >> 8);
	f[19] = (uint8_t)i;
	f[34] = (uint8_t)((1024 + i) >> 8);
	f[35] = (uint8_t)(1024 + i);
	f[38] = (uint8_t)(udp_len >> 8);
	f[39] = (uint8_t)udp_len;
	if (zeros) {
		/* As ec_livegen's frames: "ECT1", a sequence number, zeros (calloc'd). */
		memcpy(f + sizeof(head), "ECT1", 4);
		f[sizeof(head) + 6] = (uint8_t)(i >> 8);
		f[sizeof(head) + 7] = (uint8_t)i;
		return;
	}
	for (j = sizeof(head); j < FRAME_LEN; j++)
		f[j] = (uint8_t)bench_rng_next(rng);
}

/* --- the sinks ------------------------------------------------------------------------- */

/* The baseline's sink: takes the record and does nothing with it. */
static int null_record(void *ctx, const struct ec_record *rec, const uint8_t *data,
		       uint32_t cap_len)
{
	(void)ctx;
	(void)rec;
	(void)data;
	(void)cap_len;
	return 0;
}

/* loop.c agent_tick, for one fleet capture: drain, ship aged batches, pump the queue. */
static void agent_tick(struct bench *b, struct batcher *bt, enum sink_kind kind)
{
	engine_poll(b->engine);
	if (kind == SINK_NULL)
		return;
	batcher_tick(bt, agent_now_ms(), BATCH_MS);
	if (bt->ship)
		ship_pump(bt->ship);
}

/* --- the reader: the aggregator's end of the socket ------------------------------------- */

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	nng_msg *msg;

	while (!r->stop) {
		if (nng_recvmsg(r->sock, &msg, 0))
			continue; /* NNG_OPT_RECVTIMEO: look at the stop flag */
		r->msgs++;
		r->bytes += nng_msg_len(msg);
		nng_msg_free(msg);
	}
	return NULL;
}

static int reader_start(struct bench *b)
{
	struct reader *r = &b->reader;
	int err;

	snprintf(b->url, sizeof(b->url), "ipc:///tmp/edgecap-bench-agent.%d.sock", (int)getpid());
	err = nng_pull0_open(&r->sock);
	if (err)
		return sp_errno(err);
	r->open = true;
	nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, 100);
	nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, 0);
	err = nng_listen(r->sock, b->url, NULL, 0);
	if (err) {
		fprintf(stderr, "bench_agent: cannot bind %s: %s\n", b->url, nng_strerror(err));
		return sp_errno(err);
	}
	err = -pthread_create(&r->thread, NULL, reader_main, r);
	if (err)
		return err;
	r->running = true;
	return 0;
}

static void reader_stop(struct bench *b)
{
	struct reader *r = &b->reader;

	if (r->running) {
		r->stop = true;
		pthread_join(r->thread, NULL);
		r->running = false;
	}
	if (r->open) {
		nng_close(r->sock);
		/* The ipc:// socket file, if NNG left it. */
		unlink(b->url + strlen("ipc://"));
	}
	r->open = false;
}

/* --- the cases ------------------------------------------------------------------------- */

/* n records into the ring: one test run per frame, cycling through the pool. */
static int ring_fill(struct bench *b, uint64_t first, uint64_t n)
{
	uint64_t i;
	int err;

	for (i = first; i < first + n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = b->frames[i % FRAMES],
			    .data_size_in = FRAME_LEN, .repeat = 1);

		err = bpf_prog_test_run_opts(b->prog_fd, &opts);
		if (err) {
			fprintf(stderr, "bench_agent: BPF_PROG_TEST_RUN failed: %s\n",
				strerror(-err));
			return err;
		}
		if (opts.retval != XDP_PASS) {
			fprintf(stderr, "bench_agent: the program returned %u, not XDP_PASS\n",
				opts.retval);
			return -EPROTO;
		}
	}
	return 0;
}

static void capture_params_bench(struct capture_params *p)
{
	struct req_filter f = { 0 };

	f.fields = EC_F_PROTOCOL | EC_F_DST_PORT;
	f.protocol = 17;
	f.dst_port = DST_PORT;
	memset(p, 0, sizeof(*p));
	filter_compile(&f, &p->filter);
	p->sample_rate = 1;
	p->snaplen = SNAPLEN;
}

/* Waits (up to 10 s) until the reader has every message the ship sent. */
static int ship_settle(struct bench *b, uint64_t want_msgs)
{
	int i;

	for (i = 0; i < 10000; i++) {
		ship_pump(b->ship);
		if (!ship_pending(b->ship) && b->reader.msgs >= want_msgs)
			return 0;
		usleep(1000);
	}
	fprintf(stderr, "bench_agent: the reader got %" PRIu64 " of %" PRIu64 " messages\n",
		(uint64_t)b->reader.msgs, want_msgs);
	return -ETIMEDOUT;
}

static int case_run(struct bench *b, unsigned int k, struct result *r, unsigned int run)
{
	enum sink_kind kind = case_sink(k);
	uint64_t chunk = b->opts.ring_bytes / 4 / RING_RECORD_BYTES, filled = 0, n, done, step;
	uint64_t msgs0, bytes0;
	uint8_t id[WIRE_CAPTURE_ID_LEN] = { 0xbe, 0x4c };
	double drain = 0, cpu = 0, fill = 0, t0, p0, r0, m0, pe, re, me, records;
	struct wire_counters sent = { 0 };
	struct batcher bt = { 0 };
	struct bench_span sp;
	struct capture_params p;
	struct capture_stats st;
	struct capture *cap;
	clockid_t reader_clock;
	char err[256];
	int ret;

	if (kind != SINK_NULL) {
		ret = batcher_init(&bt, id, "bench-agent", kind == SINK_SHIP ? b->ship : NULL,
				   &sent);
		if (ret)
			return ret;
		/* As fleet.c sets it from the aggregator's surveys; the batcher reads it. */
		bt.codec = case_codec(k);
		ship_set_codec(b->ship, case_codec(k));
	}
	capture_params_bench(&p);
	ret = capture_start(b->engine, &p, kind == SINK_NULL ? null_record : batcher_add, &bt, &cap,
			    err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_agent: %s\n", err);
		batcher_release(&bt);
		return ret;
	}
	ret = pthread_getcpuclockid(b->reader.thread, &reader_clock);
	if (ret) {
		ret = -ret;
		goto cleanup;
	}
	msgs0 = b->reader.msgs;
	bytes0 = b->reader.bytes;
	p0 = bench_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	r0 = bench_now_ns(reader_clock);
	m0 = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);

	while (filled < b->opts.records) {
		n = b->opts.records - filled < chunk ? b->opts.records - filled : chunk;
		for (done = 0; done < n; done += step) {
			step = n - done < PUMP_EVERY ? n - done : PUMP_EVERY;
			t0 = bench_now_ns(CLOCK_MONOTONIC);
			ret = ring_fill(b, filled + done, step);
			if (ret)
				goto cleanup;
			fill += bench_now_ns(CLOCK_MONOTONIC) - t0;
			/*
			 * The agent's loop polls the send side while messages wait and pumps as
			 * soon as the socket takes more: between drains too. So here.
			 */
			if (bt.ship && ship_pending(bt.ship)) {
				bench_span_start(&sp, CLOCK_THREAD_CPUTIME_ID);
				ship_pump(bt.ship);
				bench_span_add(&sp, &drain, &cpu);
			}
		}
		filled += n;
		if (filled == b->opts.records)
			/* Past the reorder window: the last drain lets everything go. */
			usleep(6000);
		bench_span_start(&sp, CLOCK_THREAD_CPUTIME_ID);
		agent_tick(b, &bt, kind);
		bench_span_add(&sp, &drain, &cpu);
	}
	/* What is left in the open batch goes as the agent sends it at the capture's end. */
	if (kind != SINK_NULL) {
		bench_span_start(&sp, CLOCK_THREAD_CPUTIME_ID);
		batcher_flush(&bt);
		if (bt.ship)
			ship_pump(bt.ship);
		bench_span_add(&sp, &drain, &cpu);
	}
	if (kind == SINK_SHIP) {
		ret = ship_settle(b, msgs0 + sent.batches_sent);
		if (ret)
			goto cleanup;
	}
	pe = bench_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	re = bench_now_ns(reader_clock);
	me = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);

	capture_finish(cap, &st);
	cap = NULL;
	/* packets_captured: the records the sink took. */
	if (st.packets_captured != b->opts.records || st.kernel.ring_full ||
	    (kind != SINK_NULL &&
	     sent.packets_sent + sent.records_dropped != st.packets_captured)) {
		char name[128];

		case_name(k, name, sizeof(name));
		fprintf(stderr,
			"bench_agent: %s: %" PRIu64 " packets, but %" PRIu64
			" reached the sink, %" PRIu64 " ring_full, %" PRIu64 " shipped\n",
			name, b->opts.records, st.packets_captured, (uint64_t)st.kernel.ring_full,
			sent.packets_sent);
		ret = -EPROTO;
		goto cleanup;
	}
	records = (double)st.packets_captured;
	r->drain_ns[run] = drain / records;
	r->drain_cpu[run] = cpu / records;
	/* The process's CPU less the drain thread's (the fill included) and the reader's. */
	r->other_cpu[run] = (pe - p0 - (me - m0) - (re - r0)) / records;
	r->fill_pps[run] = (double)filled / fill * 1e9;
	r->records += st.packets_captured;
	r->batches += sent.batches_sent;
	r->wire_bytes += kind == SINK_SHIP ? b->reader.bytes - bytes0 : 0;
	r->dropped += sent.records_dropped;
	ret = 0;
cleanup:
	if (cap)
		capture_finish(cap, NULL);
	batcher_release(&bt);
	return ret;
}

static int bench_open(struct bench *b)
{
	struct engine_opts eo;
	char err[512];
	unsigned int i;
	int ret;

	b->frames = calloc(FRAMES, sizeof(*b->frames));
	if (!b->frames)
		return -ENOMEM;
	for (i = 0; i < FRAMES; i++)
		frame_build(b->frames[i], i, b->opts.zeros, &b->rng);

	ret = bench_netns_veth("bench_agent");
	if (ret)
		return ret;
	engine_opts_default(&eo);
	eo.ring_bytes = (uint32_t)b->opts.ring_bytes;
	ret = engine_new(&eo, &b->engine);
	if (ret)
		return ret;
	/* Attached, the program stays in the XDP dispatcher (see bench_prog.c). */
	ret = engine_add_iface(b->engine, "bench0", EC_HOOK_XDP, XDP_MODE_SKB, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_agent: %s\n", err);
		return ret;
	}
	b->prog_fd = bpf_program__fd(engine_iface(b->engine, 0)->skel->progs.edgecap_xdp);

	/* The sockets, and so NNG's worker threads, before the drain thread is pinned. */
	ret = reader_start(b);
	if (!ret)
		ret = ship_open(b->url, NULL, QUEUE_BYTES, &b->ship, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_agent: %s\n", ret ? err : "");
		return ret;
	}
	return 0;
}

/* The drain thread on b->cpu, the reader on another CPU when there is one. */
static int bench_pin(struct bench *b)
{
	int ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN), other;
	cpu_set_t set;

	b->cpu = b->opts.cpu >= 0 ? b->opts.cpu : ncpus - 1;
	if (b->cpu >= ncpus) {
		fprintf(stderr, "bench_agent: --cpu %d: only %d CPUs online\n", b->cpu, ncpus);
		return -EINVAL;
	}
	other = b->cpu ? 0 : (ncpus > 1 ? 1 : 0);
	CPU_ZERO(&set);
	CPU_SET(other, &set);
	pthread_setaffinity_np(b->reader.thread, sizeof(set), &set);
	CPU_ZERO(&set);
	CPU_SET(b->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "bench_agent: cannot pin to CPU %d: %s\n", b->cpu, strerror(errno));
		return -errno;
	}
	return 0;
}

static void bench_close(struct bench *b)
{
	ship_close(b->ship);
	reader_stop(b);
	engine_free(b->engine);
	free(b->frames);
}

static void print_table(const struct bench *b, const struct result *res)
{
	static const char *const cols[] = {
		"sink",		"CPU ns/pkt",  "× drain only",	  "× deflate",	 "+ ns/pkt",
		"drain thread", "NNG threads", "Mpkt/s per core", "wall ns/pkt", "batches",
		"wire B/pkt",	"wire/raw",    "dropped",
	};
	double base = bench_median(res[0].drain_cpu, b->opts.runs), fill = 0;
	double cost[N_CASES];
	/* The raw payload per packet: a record's header and its snaplen bytes. */
	double raw = WIRE_RECORD_HDR_LEN + (SNAPLEN < FRAME_LEN ? SNAPLEN : FRAME_LEN);
	unsigned int k, shared = 0;

	for (k = 0; k < N_CASES; k++) {
		fill += bench_median(res[k].fill_pps, b->opts.runs) / N_CASES;
		cost[k] = bench_median(res[k].drain_cpu, b->opts.runs) +
			  (case_sink(k) == SINK_SHIP ? bench_median(res[k].other_cpu, b->opts.runs)
						     : 0);
	}
	printf("## B4b: agent cost per packet, ring buffer to wire\n\n");
	printf("The real capture object on a veth (XDP, skb mode), one capture: UDP dst port %d, "
	       "sample rate 1, snaplen %d; %u-byte UDP/IPv4 frames with %s payloads, %" PRIu64
	       " packets per case and run, drained every %" PRIu64 " records (a quarter of the "
	       "%u MiB ring, the engine's wake-up mark); the ring is filled by BPF_PROG_TEST_RUN "
	       "at %.2f Mpkt/s, so the 5 ms reorder window holds about %.0f records. Median of %u "
	       "runs (interleaved); kernel %s, drain thread on CPU %d.\n\n",
	       DST_PORT, SNAPLEN, FRAME_LEN, b->opts.zeros ? "ECT1-and-zeros" : "random",
	       b->opts.records, (uint64_t)(b->opts.ring_bytes / 4 / RING_RECORD_BYTES),
	       (unsigned int)(b->opts.ring_bytes >> 20), fill / 1e6, fill * 0.005, b->opts.runs,
	       bench_kernel(), b->cpu);
	bench_table_head(cols, 13, "lrrrrrrrrrrrr");
	for (k = 0; k < N_CASES; k++) {
		const struct result *r = &res[k];
		enum sink_kind kind = case_sink(k);
		double d = bench_median(r->drain_ns, b->opts.runs),
		       c = bench_median(r->drain_cpu, b->opts.runs),
		       o = kind == SINK_SHIP ? bench_median(r->other_cpu, b->opts.runs) : 0;
		char name[128];

		if (bench_shared(d, c))
			shared++;
		case_name(k, name, sizeof(name));
		printf("| %s | %.1f | %.2f | ", name, c + o, (c + o) / base);
		/* The same sink with deflate: case 1 (batches) or 2 (ship). */
		if (kind == SINK_NULL)
			printf("- | ");
		else
			printf("%.2f | ", cost[k] / cost[kind == SINK_BATCH ? 1 : 2]);
		printf("%.1f | %.1f | ", c + o - base, c);
		if (kind == SINK_SHIP)
			printf("%.1f", o);
		else
			printf("-");
		printf(" | %.2f | %.1f | ", 1e3 / (c + o), d);
		if (kind == SINK_NULL)
			printf("- | ");
		else
			printf("%" PRIu64 " | ", r->batches / b->opts.runs);
		if (kind == SINK_SHIP)
			printf("%.1f | %.3f | %" PRIu64 " |\n",
			       (double)r->wire_bytes / (double)r->records,
			       (double)r->wire_bytes / (double)r->records / raw, r->dropped);
		else
			printf("- | - | - |\n");
	}
	printf("\nCPU ns/pkt: the agent's CPU time per packet: its drain thread's in the loop's "
	       "work (engine_poll; for the sinks also the batch-age check and ship_pump) plus, "
	       "for the ship, its other threads' (NNG's workers) over the case, without the "
	       "reader that stands in for the aggregator; × and + compare it with the drain "
	       "alone; × deflate compares it with the same sink with deflate (the agent's only "
	       "codec before "
	       "protocol 1.2), in the same run.\nMpkt/s per core: 1000 / CPU ns/pkt. wall ns/pkt: "
	       "the drain thread's "
	       "wall clock in the same sections. batches: per run; wire bytes per packet and "
	       "dropped (by the send queue): over all runs; wire/raw: wire bytes (headers, "
	       "MAC-less) over "
	       "the raw record bytes, %.0f a packet.\n",
	       raw);
	if (shared)
		printf("\nNote: the drain's wall clock exceeds its CPU time by more than 5%% in %u "
		       "rows: other work shared its CPU, or it waited (NNG takes locks its "
		       "workers hold); the CPU figures are the cost.\n",
		       shared);
}

/*
 * The codecs alone, on one batch of the same records (the agent's batch bound, the records as
 * wire_batch_add lays them out): CPU per record to compress and to decompress, and the ratio.
 * This is what B4b's codec rows add to the drain, without the drain's noise, and the levels the
 * agent does not use, for the choice (docs/performance.md).
 */
struct codec_case {
	const char *name;
	int kind; /* 0 deflate, 1 zstd, 2 lz4 */
	int level;
};

static const struct codec_case codec_cases[] = {
	{ "deflate level 1 (libdeflate)", 0, 1 },
	{ "zstd level 1", 1, 1 },
	{ "zstd level -1", 1, -1 },
	{ "zstd level -5", 1, -5 },
	{ "lz4 acceleration 1", 2, 1 },
	{ "lz4 acceleration 8", 2, 8 },
};

static size_t codec_compress(const struct codec_case *c, void *state, const uint8_t *src, size_t n,
			     uint8_t *dst, size_t cap)
{
	size_t r;

	if (c->kind == 0)
		return libdeflate_zlib_compress(state, src, n, dst, cap);
	if (c->kind == 1) {
		r = ZSTD_compressCCtx(state, dst, cap, src, n, c->level);
		return ZSTD_isError(r) ? 0 : r;
	}
	return (size_t)LZ4_compress_fast_extState(state, (const char *)src, (char *)dst, (int)n,
						  (int)cap, c->level);
}

static int codec_table(struct bench *b)
{
	size_t cap = WIRE_BATCH_RAW_DEFAULT, len = 0, clen, max = cap + cap / 8 + 1024;
	uint8_t *raw = malloc(cap), *out = malloc(max), *back = malloc(cap);
	struct libdeflate_decompressor *dd = libdeflate_alloc_decompressor();
	ZSTD_DCtx *zd = ZSTD_createDCtx();
	unsigned int k, i, rec = 0, reps = 50;
	int ret = -ENOMEM;

	if (!raw || !out || !back || !dd || !zd)
		goto out;
	while (len + WIRE_RECORD_HDR_LEN + SNAPLEN <= cap) {
		uint8_t *p = raw + len;

		memset(p, 0, WIRE_RECORD_HDR_LEN);
		/* tstamp_ns rising by about a microsecond, ifindex, orig_len, cap_len: as real. */
		for (i = 0; i < 8; i++)
			p[i] = (uint8_t)((1700000000000000000ULL + rec * 1013ULL) >> (56 - 8 * i));
		p[11] = 2;
		p[18] = FRAME_LEN >> 8;
		p[19] = (uint8_t)FRAME_LEN;
		p[23] = SNAPLEN;
		memcpy(p + WIRE_RECORD_HDR_LEN, b->frames[rec % FRAMES], SNAPLEN);
		len += WIRE_RECORD_HDR_LEN + SNAPLEN;
		rec++;
	}
	printf("\n## B4b codecs: one %zu-byte batch of %u of the same records, compressed "
	       "alone\n\n",
	       len, rec);
	printf("| codec | compress ns/pkt | decompress ns/pkt | wire/raw | compress Mpkt/s |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (k = 0; k < sizeof(codec_cases) / sizeof(codec_cases[0]); k++) {
		const struct codec_case *c = &codec_cases[k];
		void *state = c->kind == 0   ? (void *)libdeflate_alloc_compressor(c->level)
			      : c->kind == 1 ? (void *)ZSTD_createCCtx()
					     : malloc((size_t)LZ4_sizeofState());
		double t0, tc = 1e300, td = 1e300, t;

		if (!state)
			goto out;
		for (i = 0; i < reps; i++) {
			t0 = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);
			clen = codec_compress(c, state, raw, len, out, max);
			t = bench_now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
			tc = t < tc ? t : tc;
			t0 = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);
			if (c->kind == 0)
				libdeflate_zlib_decompress(dd, out, clen, back, len, NULL);
			else if (c->kind == 1)
				ZSTD_decompressDCtx(zd, back, len, out, clen);
			else
				LZ4_decompress_safe((const char *)out, (char *)back, (int)clen,
						    (int)len);
			t = bench_now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
			td = t < td ? t : td;
		}
		if (!clen || memcmp(raw, back, len)) {
			fprintf(stderr, "bench_agent: %s does not round-trip\n", c->name);
			ret = -EPROTO;
		}
		printf("| %s | %.1f | %.1f | %.3f | %.2f |\n", c->name, tc / rec, td / rec,
		       (double)clen / (double)len, rec / tc * 1e3);
		if (c->kind == 0)
			libdeflate_free_compressor(state);
		else if (c->kind == 1)
			ZSTD_freeCCtx(state);
		else
			free(state);
	}
	printf("\nBest of %u rounds, CPU time of one thread; wire/raw: compressed over raw "
	       "bytes.\n",
	       reps);
	if (ret == -ENOMEM)
		ret = 0;
out:
	libdeflate_free_decompressor(dd);
	ZSTD_freeDCtx(zd);
	free(raw);
	free(out);
	free(back);
	return ret;
}

static int bench_run(struct bench *b)
{
	struct result res[N_CASES];
	unsigned int run, k;
	int ret;

	memset(res, 0, sizeof(res));
	/* Warm-up, not counted: JIT image, the ring's pages, the window, the socket buffers. */
	for (k = 0; k < N_CASES; k++) {
		struct bench_opts saved = b->opts;
		struct result warm = { 0 };

		b->opts.records = b->opts.records / 10 ? b->opts.records / 10 : 1;
		ret = case_run(b, k, &warm, 0);
		b->opts = saved;
		if (ret)
			return ret;
	}
	for (run = 0; run < b->opts.runs; run++) {
		for (k = 0; k < N_CASES; k++) {
			ret = case_run(b, k, &res[k], run);
			if (ret)
				return ret;
		}
	}
	print_table(b, res);
	return codec_table(b);
}

int main(int argc, char **argv)
{
	struct bench b = { .opts = bench_defaults, .rng = 0x9e3779b97f4a7c15ULL };
	const struct bench_opt opts[] = {
		{ "records", BENCH_OPT_U64, &b.opts.records, 1000, 1ULL << 32 },
		{ "runs", BENCH_OPT_U32, &b.opts.runs, 1, RUNS_MAX },
		{ "ring", BENCH_OPT_POW2, &b.opts.ring_bytes, 1 << 20, 1ULL << 30 },
		{ "cpu", BENCH_OPT_INT, &b.opts.cpu, 0, CPU_SETSIZE - 1, "a CPU number" },
		{ "payload", BENCH_OPT_PAYLOAD, &b.opts.zeros },
	};
	int err;

	if (!bench_args_parse("bench_agent", opts, 5, usage, argc, argv, &err))
		return err;
	log_set_ident("bench_agent");
	log_set_level(LOG_LEVEL_WARN);
	log_route_libbpf();
	err = bench_open(&b);
	if (!err)
		err = bench_pin(&b);
	if (!err)
		err = bench_run(&b);
	bench_close(&b);
	return err ? 1 : 0;
}
