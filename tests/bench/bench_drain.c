// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_drain: the capture engine's user-space cost per record, ring buffer to pcap bytes in a
 * stdio buffer (issue 12, target 3), and its minor page faults per record.
 *
 * The real engine on a veth of a network namespace of its own, one capture of every frame
 * (snaplen 128); the ring (--ring, default 8 MiB) is filled by BPF_PROG_TEST_RUN of the attached
 * XDP program over one 64-byte frame (--repeat in one call, so as fast as the kernel runs it), a
 * quarter of the ring at a time (the engine's wake-up mark), then engine_poll drains it into a
 * sink that writes a pcap record header and the bytes with fwrite into a 1 MiB stdio buffer
 * (over /dev/null). Only engine_poll is timed, on the thread's CPU clock; minor page faults are
 * getrusage(RUSAGE_SELF) before and after each timed engine_poll (the first WARMUP_CHUNKS warm
 * up): the producer's BPF_PROG_TEST_RUN calls between them are not the drain's.
 *
 * --sink picks what the records go to: fwrite (the default, as above: a pcap record header and
 * the bytes, two fwrite calls as libpcap's pcap_dump makes), pcap (the capture's real sink,
 * pcap_sink and pcap_writer on stdout, which is moved to /dev/null: the pcap bytes through the
 * writer's 4 KiB buffer and stdio's, a write(2) to /dev/null every 4 KiB; the figures then go
 * to the original stdout), pcap-file (the same writer on a file, as edgecapctl -w FILE: its
 * 64 KiB buffer and stdio's 256 KiB; the file is in a directory of /dev/shm removed at the end,
 * and tmpfs's copy of the bytes is in the figure), or null (counted only: the engine's own cost).
 *
 * --producers 2 fills from both CPUs at once, a thread pinned to each running BPF_PROG_TEST_RUN
 * over half the chunk (issue 12, target 4). --rings picks the loader's ring layout of bench1:
 * shared (EDGECAP_RING_LAYOUT=shared, one ring all CPUs write into) or per-cpu (the default
 * layout, a ring per CPU, merged by timestamp in the drain). producer_ns_per_record is the
 * kernel's own time per run (the test run's duration): the cost of one reserve, fill and submit
 * on a CPU, with the other CPU producing meanwhile.
 *
 * --fill-pct N fills N% of the ring before each drain (default 25, the wake-up mark); past 25
 * the drain finds the ring past its watermark, as a late drain under a flood does: only the last
 * quarter may go straight from the ring, the rest is copied into the reorder window.
 *
 * --age-ms N waits N ms between each fill and its drain: 0 (the default) drains records younger
 * than the 5 ms reorder window (a drain that keeps up with a flood); 6 drains records already
 * past it (a drain that lags, or a slow trickle). Build with -DBENCH_BASE against an engine
 * without records_direct (the branch main) to compare.
 *
 * Needs root. Not a test: it prints one line of numbers.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_util.h"
#include "capture_abi.h"
#include "capture.skel.h"
#include "engine.h"
#include "pcap_sink.h"

#define FRAME_LEN 64
/*
 * Drains not measured: the reorder window grows to what the load needs over the first few (at
 * --age-ms 0 it holds two chunks), mapped pre-faulted once; the steady state comes after.
 */
#define WARMUP_CHUNKS 8
#define SNAPLEN	      128

enum sink_kind {
	SINK_FWRITE,
	SINK_PCAP,
	SINK_PCAP_FILE,
	SINK_NULL,
	SINK_COUNT
};
static const char *const sink_names[SINK_COUNT] = { "fwrite", "pcap", "pcap-file", "null" };

struct sink {
	FILE *f;
	struct pcap_sink pcap;
	uint64_t records;
};

static int sink_null(void *ctx, const struct ec_record *rec, const uint8_t *data, uint32_t cap_len)
{
	struct sink *s = ctx;

	(void)rec;
	(void)data;
	(void)cap_len;
	s->records++;
	return 0;
}

static int sink_pcap(void *ctx, const struct ec_record *rec, const uint8_t *data, uint32_t cap_len)
{
	struct sink *s = ctx;
	int ret = pcap_sink_record(&s->pcap, rec, data, cap_len);

	if (!ret)
		s->records++;
	return ret;
}

/* A pcap record: the 16-byte header, then the bytes, as pcap_writer writes them. */
static int sink_record(void *ctx, const struct ec_record *rec, const uint8_t *data,
		       uint32_t cap_len)
{
	struct sink *s = ctx;
	uint32_t hdr[4] = {
		(uint32_t)(rec->tstamp_ns / 1000000000ULL),
		(uint32_t)(rec->tstamp_ns % 1000000000ULL / 1000),
		cap_len,
		rec->orig_len,
	};

	if (fwrite(hdr, sizeof(hdr), 1, s->f) != 1 || fwrite(data, cap_len, 1, s->f) != 1)
		return -EIO;
	s->records++;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: bench_drain [--records N] [--ring BYTES] [--age-ms MS]\n"
		     "                   [--sink fwrite|pcap|pcap-file|null] [--producers 1|2]\n"
		     "                   [--rings per-cpu|shared] [--fill-pct 1..90]\n");
}

/* One producing CPU: runs prog over the frame repeat times, pinned to cpu. */
struct producer {
	pthread_t thread;
	pthread_barrier_t *start;
	int prog_fd, cpu, ret;
	uint32_t repeat;
	const uint8_t *frame;
	uint32_t duration; /* ns per run, as the kernel measured it */
};

static void *produce(void *arg)
{
	struct producer *pr = arg;
	LIBBPF_OPTS(bpf_test_run_opts, to, .data_in = pr->frame, .data_size_in = FRAME_LEN,
		    .repeat = pr->repeat);

	pthread_barrier_wait(pr->start);
	pr->ret = bpf_prog_test_run_opts(pr->prog_fd, &to);
	pr->duration = to.duration;
	return NULL;
}

/* Fills the ring(s) from n producers at once, each on its own CPU; 0 or -1. */
static int produce_all(struct producer *prs, unsigned int n, pthread_barrier_t *start)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < n; i++) {
		pthread_attr_t attr;
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(prs[i].cpu, &set);
		pthread_attr_init(&attr);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		prs[i].start = start;
		if (pthread_create(&prs[i].thread, &attr, produce, &prs[i]))
			return -1;
		pthread_attr_destroy(&attr);
	}
	for (i = 0; i < n; i++) {
		pthread_join(prs[i].thread, NULL);
		if (prs[i].ret)
			ret = -1;
	}
	return ret;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	if (ms)
		nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	uint64_t records = 2000000, ring = 8U << 20, made = 0, timed = 0, minflt = 0;
	int age_ms = 0, status = 0, ret;
	unsigned int fill_pct = 25;
	unsigned int producers = 1, rings_kind = 0, n_prs, i;
	static const char *const ring_names[2] = { "per-cpu", "shared" };
	struct producer prs[2];
	pthread_barrier_t start;
	double prod_ns = 0;
	uint64_t prod_runs = 0;
	unsigned int sink = SINK_FWRITE;
	capture_record_fn fns[SINK_COUNT] = { sink_record, sink_pcap, sink_pcap, sink_null };
	char pcap_dir[] = "/dev/shm/bench_drain.XXXXXX", pcap_path[sizeof(pcap_dir) + 16];
	FILE *report = stdout;
	const struct bench_opt opts[] = {
		{ "records", BENCH_OPT_U64, &records, 100000, 100000000 },
		{ "ring", BENCH_OPT_POW2, &ring, 1 << 18, 1U << 30 },
		{ "age-ms", BENCH_OPT_INT, &age_ms, 0, 1000 },
		{ "fill-pct", BENCH_OPT_U32, &fill_pct, 1, 90 },
		{ "sink", BENCH_OPT_CHOICE, &sink, 0, SINK_COUNT, NULL, sink_names },
		{ "producers", BENCH_OPT_U32, &producers, 1, 2 },
		{ "rings", BENCH_OPT_CHOICE, &rings_kind, 0, 2, NULL, ring_names },
	};
	struct capture_params p = { .sample_rate = 1, .snaplen = SNAPLEN };
	uint8_t frame[FRAME_LEN] = { 0 };
	struct sink s = { 0 };
	struct capture_stats st;
	struct rusage ru0, ru1;
	struct engine_opts eo;
	struct engine *e = NULL;
	struct capture *c = NULL;
	double cpu = 0, t0;
	uint32_t chunk, per_record;
	char err[256];
	int prog_fd;

	if (!bench_args_parse("bench_drain", opts, 6, usage, argc, argv, &status))
		return status;
	if (bench_netns_veth("bench_drain"))
		return 1;
	s.f = fopen("/dev/null", "w");
	if (!s.f || setvbuf(s.f, NULL, _IOFBF, 1 << 20))
		return 1;
	/* The real writer on stdout, moved to /dev/null; the figures go to the real stdout. */
	if (sink == SINK_PCAP) {
		int null_fd = open("/dev/null", O_WRONLY), out_fd = dup(STDOUT_FILENO);

		if (null_fd < 0 || out_fd < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
		    !(report = fdopen(out_fd, "w")) ||
		    pcap_sink_open(&s.pcap, "-", SNAPLEN, err, sizeof(err))) {
			fprintf(stderr, "bench_drain: cannot write pcap to /dev/null: %s\n", err);
			return 1;
		}
		close(null_fd);
	}
	if (sink == SINK_PCAP_FILE) {
		if (!mkdtemp(pcap_dir)) {
			perror("bench_drain: mkdtemp /dev/shm/bench_drain.XXXXXX");
			return 1;
		}
		snprintf(pcap_path, sizeof(pcap_path), "%s/out.pcap", pcap_dir);
		if (pcap_sink_open(&s.pcap, pcap_path, SNAPLEN, err, sizeof(err))) {
			fprintf(stderr, "bench_drain: %s\n", err);
			rmdir(pcap_dir);
			return 1;
		}
	}
	engine_opts_default(&eo);
	eo.ring_bytes = (uint32_t)ring;
	/* The loader reads the layout from the environment. */
	if (rings_kind == 1)
		setenv("EDGECAP_RING_LAYOUT", "shared", 1);
	else
		unsetenv("EDGECAP_RING_LAYOUT");
	ret = engine_new(&eo, &e);
	if (!ret)
		ret = engine_add_iface(e, "bench1", EC_HOOK_XDP, XDP_MODE_SKB, err, sizeof(err));
	if (!ret)
		ret = capture_start(e, &p, fns[sink], &s, &c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_drain: %s\n", err);
		return 1;
	}
	prog_fd = bpf_program__fd(engine_iface(e, 0)->skel->progs.edgecap_xdp);
	frame[12] = 0x08;
	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(FRAME_LEN);
	chunk = (uint32_t)(ring * fill_pct / 100 / per_record);
	n_prs = producers;
	if (n_prs > 1) {
		/* --fill-pct of a ring in all per drain, split over the producers. */
		chunk -= chunk % n_prs;
		pthread_barrier_init(&start, NULL, n_prs);
		for (i = 0; i < n_prs; i++)
			prs[i] = (struct producer){
				.prog_fd = prog_fd,
				.cpu = (int)i,
				.repeat = chunk / n_prs,
				.frame = frame,
			};
	}

	while (made < records) {
		LIBBPF_OPTS(bpf_test_run_opts, to, .data_in = frame, .data_size_in = FRAME_LEN,
			    .repeat = chunk);
		bool timing = made >= WARMUP_CHUNKS * (uint64_t)chunk;

		if (n_prs > 1 ? produce_all(prs, n_prs, &start)
			      : bpf_prog_test_run_opts(prog_fd, &to)) {
			fprintf(stderr, "bench_drain: BPF_PROG_TEST_RUN failed\n");
			return 1;
		}
		if (timing) {
			for (i = 0; i < n_prs; i++, prod_runs++)
				prod_ns += n_prs > 1 ? prs[i].duration : to.duration;
		}
		made += chunk;
		sleep_ms(age_ms);
		getrusage(RUSAGE_SELF, &ru0);
		t0 = bench_now_ns(CLOCK_THREAD_CPUTIME_ID);
		engine_poll(e);
		if (timing) {
			cpu += bench_now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
			getrusage(RUSAGE_SELF, &ru1);
			minflt += (uint64_t)(ru1.ru_minflt - ru0.ru_minflt);
			timed += chunk;
		}
	}
	sleep_ms(6);
	engine_poll(e);
	capture_finish(c, &st);
	engine_free(e);
	fflush(s.f);
	if (sink == SINK_PCAP || sink == SINK_PCAP_FILE)
		pcap_sink_close(&s.pcap, false);
	if (sink == SINK_PCAP_FILE)
		rmdir(pcap_dir);
	fprintf(report,
		"sink=%s age_ms=%d fill_pct=%u records=%" PRIu64 " sunk=%" PRIu64
		" ring_full=%" PRIu64
		" ns_per_record=%.1f minflt_per_record=%.5f producers=%u rings=%s"
		" producer_ns_per_record=%.1f",
		sink_names[sink], age_ms, fill_pct, made, s.records, (uint64_t)st.kernel.ring_full,
		cpu / (double)timed, (double)minflt / (double)timed, n_prs, ring_names[rings_kind],
		prod_ns / (double)(prod_runs ? prod_runs : 1));
#ifndef BENCH_BASE
	fprintf(report, " direct=%.3f", (double)st.records_direct / (double)(made ? made : 1));
#endif
	fprintf(report, "\n");
	fflush(report);
	return s.records == made ? 0 : 1;
}
