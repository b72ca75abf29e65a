// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_store.c: what the store's calls cost with many finished captures kept (issue 11, bounds
 * everywhere). Makes N finished simple captures in one account (untimed), then times, on one
 * core (CPU of the process, median of --reps calls each): a status of an id that is not there,
 * of the oldest capture, a page of the list, the lifecycle's tick, the running captures (what a
 * join and the uploader's poll ask for), the failed ones (all of them, and those whose upload
 * failed: the uploader's sweep), the census of the metrics' scrape, and one more capture created
 * and finished. Then reopens the store (the aggregator's start) once, and prints the process's
 * RSS. No pass or fail.
 *
 *   bench_store [--captures N] [--end success|failed] [--reps N] [--dir DIR]
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "request.h"
#include "store.h"

#define MAX_REPS 1001

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_store [--captures N] [--end success|failed] [--reps N] [--dir DIR]\n"
		"\n"
		"The store's calls with N finished captures kept in one account: a status of an\n"
		"id that is not there and of the oldest capture, a page of the list, the\n"
		"lifecycle's tick, the running captures listed, the failed ones (all, and those\n"
		"whose upload failed: the uploader's sweep), the metrics' census, a capture\n"
		"created and finished, and the store reopened (the aggregator's start). Prints\n"
		"the median CPU time of each and the RSS.\n"
		"\n"
		"options:\n"
		"  --captures N  finished captures made first, 1..10000000 (default 100000)\n"
		"  --end E       how they end: success (default) or failed (simple captures)\n"
		"  --reps N      timed calls of each kind, median reported, 1..%u (default 101)\n"
		"  --dir DIR     where the state directory goes (default $TMPDIR or /tmp)\n"
		"\n"
		"examples:\n"
		"  taskset -c 1 build/tests/bench/bench_store --dir /dev/shm\n"
		"  taskset -c 1 build/tests/bench/bench_store --captures 1000000 --dir /dev/shm\n",
		MAX_REPS);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int op_none(void *ctx, const struct capture_rec *c)
{
	(void)ctx;
	(void)c;
	return 0;
}

static const struct capture_ops no_ops = { op_none, op_none, op_none };

enum {
	T_GET_MISS,
	T_GET_OLDEST,
	T_LIST,
	T_TICK,
	T_RUNNING,
	T_FAILED,
	T_FAILED_UPLOADS,
	T_CENSUS,
	T_CREATE,
	T_KINDS
};

static const char *const kind_names[T_KINDS] = {
	"status of an id not kept",
	"status of the oldest capture",
	"list, first page of 50",
	"lifecycle tick, nothing due",
	"the running captures listed",
	"the failed captures listed",
	"the failed uploads listed (the sweep)",
	"the metrics' census",
	"a capture created and finished",
};

/* One capture made and finished at now: what the benchmark fills the store with. */
static int one(struct store *st, const struct capture_request *req, bool failed, uint64_t now,
	       struct capture_rec *rec, char *err, size_t errlen)
{
	int ret = store_create(st, "acct", req, false, now, rec, NULL, err, errlen);

	if (!ret && failed)
		ret = store_mark_failed(st, rec->id, "no agent", now + 1);
	else if (!ret)
		ret = store_mark_success(st, rec->id, "time_limit", now + 1);
	return ret;
}

/* One list call timed into *t; the list is freed. */
static int timed_list(struct store *st,
		      int (*list)(struct store *, struct capture_rec **, size_t *), double *t)
{
	struct capture_rec *recs = NULL;
	struct bench_span sp;
	double w = 0, c = 0;
	size_t n;
	int ret;

	bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
	ret = list(st, &recs, &n);
	bench_span_add(&sp, &w, &c);
	free(recs);
	*t = c;
	return ret;
}

static int list_running(struct store *st, struct capture_rec **out, size_t *n)
{
	return store_list_status(st, CAPTURE_RUNNING, out, n);
}

static int list_failed(struct store *st, struct capture_rec **out, size_t *n)
{
	return store_list_status(st, CAPTURE_FAILED, out, n);
}

/* As the uploader's sweep asks, with its default of 72 hours. */
static int list_failed_uploads(struct store *st, struct capture_rec **out, size_t *n)
{
	return store_list_failed_uploads(st, 72 * 3600 * 1000000ULL, store_now_us(), out, n);
}

int main(int argc, char **argv)
{
	static const char body[] = "{\"filter_v1\": {}, \"time_limit\": 60, \"packet_limit\": "
				   "100, \"type\": \"simple\", \"system\": \"magic-transit\"}";
	static const char *const ends[] = { "success", "failed" };
	uint32_t captures = 100000, reps = 101, i, k;
	unsigned int end = 0;
	const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const struct bench_opt opts[] = {
		{ "captures", BENCH_OPT_U32, &captures, 1, 10000000, NULL, NULL },
		{ "end", BENCH_OPT_CHOICE, &end, 0, 2, NULL, ends },
		{ "reps", BENCH_OPT_U32, &reps, 1, MAX_REPS, NULL, NULL },
		{ "dir", BENCH_OPT_STRING, &base, 0, 0, "a directory", NULL },
	};
	static double t[T_KINDS][MAX_REPS];
	struct store_opts so = { .grace_s = 5 };
	struct capture_rec oldest, rec, page[50];
	static uint64_t census[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES];
	struct capture_request req;
	struct store *st = NULL;
	struct bench_span sp;
	struct rusage ru;
	char dir[4096], err[512] = "";
	double w, c, open_ms = 0;
	size_t n, total;
	uint64_t now = store_now_us(), next;
	int ret, status;

	if (!bench_args_parse("bench_store", opts, sizeof(opts) / sizeof(opts[0]), usage, argc,
			      argv, &status))
		return status;
	snprintf(dir, sizeof(dir), "%s/edgecap-bench-store.XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench_store: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	so.state_dir = dir;
	so.manifest_interval_ms = STORE_MANIFEST_INTERVAL_MS_DEFAULT;
	ret = store_open(&so, &st, err, sizeof(err));
	if (!ret)
		ret = request_from_json(body, strlen(body), REQ_SCOPE_API, &req, err, sizeof(err));
	for (i = 0; i < captures && !ret; i++)
		ret = one(st, &req, end == 1, now + i, i ? &rec : &oldest, err, sizeof(err));
	fprintf(stderr, "bench_store: %u finished captures made\n", i);
	/* Past their agents' hold (STORE_AGENTS_HOLD_S): kept as retention keeps them. */
	now += captures + (STORE_AGENTS_HOLD_S + 1) * 1000000ULL;
	for (k = 0; k < reps && !ret; k++) {
		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		ret = store_get(st, "0123456789abcdef0123456789abcdef", &rec) == -ENOENT ? 0 : -EIO;
		bench_span_add(&sp, &w, &c);
		t[T_GET_MISS][k] = c;

		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		if (!ret)
			ret = store_get(st, oldest.id, &rec);
		bench_span_add(&sp, &w, &c);
		t[T_GET_OLDEST][k] = c;

		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		if (!ret)
			ret = store_list_page(st, "acct", 1, 50, page, &n, &total);
		bench_span_add(&sp, &w, &c);
		t[T_LIST][k] = c;

		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		if (!ret)
			ret = store_tick(st, now, &no_ops, NULL, &next);
		bench_span_add(&sp, &w, &c);
		t[T_TICK][k] = c;

		if (!ret)
			ret = timed_list(st, list_running, &t[T_RUNNING][k]);
		if (!ret)
			ret = timed_list(st, list_failed, &t[T_FAILED][k]);
		if (!ret)
			ret = timed_list(st, list_failed_uploads, &t[T_FAILED_UPLOADS][k]);

		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		if (!ret)
			store_census(st, census);
		bench_span_add(&sp, &w, &c);
		t[T_CENSUS][k] = c;

		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		if (!ret)
			ret = one(st, &req, end == 1, now + k, &rec, err, sizeof(err));
		bench_span_add(&sp, &w, &c);
		t[T_CREATE][k] = c;
	}
	if (!ret) {
		store_close(st);
		st = NULL;
		w = c = 0;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		ret = store_open(&so, &st, err, sizeof(err));
		bench_span_add(&sp, &w, &c);
		open_ms = c / 1e6;
	}
	if (ret) {
		fprintf(stderr, "bench_store: %s\n", err[0] ? err : strerror(-ret));
	} else {
		getrusage(RUSAGE_SELF, &ru);
		printf("| finished captures kept | call | CPU µs (median of %u) |\n", reps);
		printf("|---:|---|---:|\n");
		for (k = 0; k < T_KINDS; k++)
			printf("| %u | %s | %.1f |\n", captures, kind_names[k],
			       bench_median(t[k], reps) / 1e3);
		printf("| %u | the store reopened (the aggregator's start) | %.0f ms |\n", captures,
		       open_ms);
		printf("| %u | peak RSS of the process | %.1f MiB |\n", captures,
		       (double)ru.ru_maxrss / 1024);
	}
	store_close(st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return ret ? 1 : 0;
}
