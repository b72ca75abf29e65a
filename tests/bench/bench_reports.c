// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_reports.c: what the aggregator's loop does once a second for a simple capture whatever
 * its rate, with N agents sending (issue 11): every agent's report into the store, the
 * manifest written, and the ingest's checkpoint (ingest_tick after a second). Each round every
 * agent sends one batch of one record, untimed; then one ingest_tick, timed (CPU of the
 * process, kernel included: the files' writes). Prints the median per tick, the files' sizes,
 * and the heap the finished capture keeps an hour after (the store's record); no pass or fail.
 *
 *   bench_reports [--agents N] [--rounds N] [--dir DIR]
 */
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "ingest.h"
#include "request.h"
#include "store.h"
#include "wire.h"

#define MAX_ROUNDS 31

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_reports [--agents N] [--rounds N] [--dir DIR]\n"
		"\n"
		"The aggregator's once-a-second work for one simple capture with N agents: their\n"
		"reports into the manifest, the manifest's write and the ingest's checkpoint\n"
		"(ingest_tick a second after every agent sent a batch). Prints the median CPU "
		"time\n"
		"of that tick and the two files' sizes.\n"
		"\n"
		"options:\n"
		"  --agents N   agents sending, 1..%u (default 10000)\n"
		"  --rounds N   timed ticks, median reported, 1..%u (default 7)\n"
		"  --dir DIR    where the state directory goes (default $TMPDIR or /tmp)\n"
		"\n"
		"examples:\n"
		"  taskset -c 1 build/tests/bench/bench_reports\n"
		"  taskset -c 1 build/tests/bench/bench_reports --agents 1000 --dir /dev/shm\n",
		INGEST_MAX_HOSTS_DEFAULT, MAX_ROUNDS);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static long file_size(const char *dir, const char *id, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/captures/%s/%s", dir, id, name);
	return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Heap bytes in use: the arenas' allocations and the mmap'd chunks. */
static double heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (double)mi.uordblks + (double)mi.hblkhd;
}

static int op_none(void *ctx, const struct capture_rec *c)
{
	(void)ctx;
	(void)c;
	return 0;
}

static const struct capture_ops no_ops = { op_none, op_none, op_none };

/* A message fed to the ingest, then freed; ingest_feed's result. */
static int feed(struct ingest *in, void *msg, size_t len, uint64_t now_us)
{
	int ret = ingest_feed(in, msg, len, now_us);

	free(msg);
	return ret;
}

/* Each agent's next batch, one record at now_us, fed to the ingest. */
static int send_round(struct ingest *in, struct wire_batch **b, uint32_t agents, uint64_t now_us)
{
	uint8_t frame[64] = { 0 };
	struct wire_record r = { .orig_len = 60, .cap_len = 60, .data = frame };
	size_t len;
	void *msg;
	uint32_t i;
	int ret;

	for (i = 0; i < agents; i++) {
		r.tstamp_ns = now_us * 1000 + i;
		ret = wire_batch_add(b[i], &r);
		if (!ret)
			ret = wire_batch_finish(b[i], &msg, &len);
		if (!ret)
			ret = feed(in, msg, len, now_us);
		if (ret)
			return ret;
	}
	return 0;
}

/* Each agent's final (stopped), untimed, as a capture's end brings them. */
static int send_finals(struct ingest *in, struct wire_batch **b, const uint8_t *id, uint32_t agents,
		       uint32_t rounds, uint64_t now_us)
{
	struct wire_final f = { .reason = WIRE_STOP_STOPPED };
	char host[32];
	size_t len;
	void *msg;
	uint32_t i;
	int ret;

	for (i = 0; i < agents; i++) {
		snprintf(host, sizeof(host), "edge-%05u.example.net", i);
		f.c.last_seq = wire_batch_last_seq(b[i]);
		f.c.batches_sent = f.c.last_seq;
		f.c.packets_sent = f.c.submitted = f.c.seen = f.c.matched = rounds + 1;
		ret = wire_final_encode(id, host, &f, &msg, &len);
		if (!ret)
			ret = feed(in, msg, len, now_us);
		if (ret)
			return ret;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char body[] = "{\"filter_v1\": {}, \"time_limit\": 300, \"packet_limit\": "
				   "1000, \"type\": \"simple\", \"system\": \"magic-transit\"}";
	uint32_t agents = 10000, rounds = 7, r;
	const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const struct bench_opt opts[] = {
		{ "agents", BENCH_OPT_U32, &agents, 1, INGEST_MAX_HOSTS_DEFAULT, NULL, NULL },
		{ "rounds", BENCH_OPT_U32, &rounds, 1, MAX_ROUNDS, NULL, NULL },
		{ "dir", BENCH_OPT_STRING, &base, 0, 0, "a directory", NULL },
	};
	double cpu[MAX_ROUNDS], w, c, first = 0, end = 0, ckpt_mb = 0, heap0, kept = 0;
	struct ingest_opts io = { 0 };
	struct store_opts so = { .grace_s = 5 };
	uint8_t id[WIRE_CAPTURE_ID_LEN];
	struct capture_request req;
	struct wire_batch **b = NULL;
	struct ingest *in = NULL;
	struct store *st = NULL;
	char host[32];
	struct capture_rec rec;
	struct bench_span sp;
	char dir[4096], err[512] = "";
	uint64_t now;
	int ret, status;

	if (!bench_args_parse("bench_reports", opts, sizeof(opts) / sizeof(opts[0]), usage, argc,
			      argv, &status))
		return status;
	snprintf(dir, sizeof(dir), "%s/edgecap-bench-reports.XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench_reports: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	so.state_dir = dir;
	so.manifest_interval_ms = STORE_MANIFEST_INTERVAL_MS_DEFAULT;
	ret = store_open(&so, &st, err, sizeof(err));
	if (!ret)
		ret = ingest_open(st, &io, &in, err, sizeof(err));
	heap0 = heap_bytes();
	if (!ret)
		ret = request_from_json(body, strlen(body), REQ_SCOPE_API, &req, err, sizeof(err));
	/* Past the API's 10,000: the window releases every agent's record each second. */
	req.packet_limit = (uint64_t)1 << 40;
	if (!ret)
		ret = store_create(st, "acct", &req, false, store_now_us(), &rec, NULL, err,
				   sizeof(err));
	if (!ret)
		ret = store_mark_running(st, rec.id, store_now_us());
	if (!ret)
		ret = ingest_capture_start(in, &rec);
	if (!ret)
		ret = wire_capture_id_parse(rec.id, id);
	/* A batcher per agent, as each agent has: its batches numbered 1, 2, 3, ... */
	if (!ret && !(b = calloc(agents, sizeof(*b))))
		ret = -ENOMEM;
	for (r = 0; r < agents && !ret; r++) {
		snprintf(host, sizeof(host), "edge-%05u.example.net", r);
		ret = wire_batch_new(id, host, 4096, &b[r]);
	}
	if (ret && !err[0])
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	now = store_now_us();
	/* Round 0 brings every agent in (its first report is written at once): untimed. */
	for (r = 0; r <= rounds && !ret; r++) {
		now += 1000000;
		ret = send_round(in, b, agents, now);
		if (ret) {
			snprintf(err, sizeof(err), "ingest_feed: %s", strerror(-ret));
			break;
		}
		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		ingest_tick(in, now + 1000, NULL);
		bench_span_add(&sp, &w, &c);
		if (r) {
			cpu[r - 1] = c;
		} else {
			first = c;
		}
	}
	ckpt_mb = (double)file_size(dir, rec.id, "ingest-state.json") / 1e6;
	/* The end: every agent's final (untimed), then the capture ends (timed). */
	if (!ret) {
		now += 1000000;
		ret = send_finals(in, b, id, agents, rounds, now);
		if (ret)
			snprintf(err, sizeof(err), "a final: %s", strerror(-ret));
	}
	if (!ret) {
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		ret = ingest_capture_expire(in, &rec);
		bench_span_add(&sp, &w, &end);
		if (ret)
			snprintf(err, sizeof(err), "ingest_capture_expire: %s", strerror(-ret));
	}
	/* Before the heap is measured, on every path. */
	for (r = 0; b && r < agents; r++)
		wire_batch_free(b[r]);
	free(b);
	/*
	 * An hour later: the ingest has forgotten the capture, and the store keeps its record
	 * (for retention-days). What that record holds, against the heap before the capture.
	 */
	if (!ret) {
		uint64_t next;

		ingest_tick(in, now + 3600000000ULL, NULL);
		store_tick(st, now + 3600000000ULL, &no_ops, NULL, &next);
		kept = heap_bytes() - heap0;
	}
	if (!ret) {
		printf("| agents | first second | every second after (median of %u) | the end | "
		       "checkpoint | manifest at the end | kept an hour after |\n",
		       rounds);
		printf("|---:|---:|---:|---:|---:|---:|---:|\n");
		printf("| %u | %.1f ms | %.1f ms | %.1f ms | %.2f MB | %.2f MB | %.1f KiB |\n",
		       agents, first / 1e6, bench_median(cpu, rounds) / 1e6, end / 1e6, ckpt_mb,
		       (double)file_size(dir, rec.id, "manifest.json") / 1e6, kept / 1024);
	} else {
		fprintf(stderr, "bench_reports: %s\n", err);
	}
	ingest_close(in);
	store_close(st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return ret ? 1 : 0;
}
