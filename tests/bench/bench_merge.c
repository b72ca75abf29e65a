// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_merge: a simple capture's reorder window alone (aggregator/merge.h), with N sources, as
 * bench_ingest's rows feed it but without the ingest around it: no decoding, no accounts, no
 * pcap. Every source sends a batch of --batch-ms of its records in turn (the merged stream at
 * --rate records a second, the sources' records interleaved in time), and the records more than a
 * batch behind the newest are taken, in timestamp order, as the ingest's window releases them.
 * The CPU time per record taken, push and take together, median of --runs, with the runs of the
 * cases interleaved (a noisy machine slows every case alike). --caplen 0 leaves the records' data
 * out, so that what is left is the window's own work per record: which part of the cost of many
 * sources is the records' memory, and which the tree's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "merge.h"

#define CASES_MAX 8

static uint64_t n_records = 4000000, rate = 3000000;
static uint32_t batch_ms = 100, caplen = 160, runs = 5, only_sources;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_merge [--sources N] [--records N] [--rate PPS] [--batch-ms MS]\n"
		"                   [--caplen BYTES] [--runs N]\n"
		"\n"
		"The simple capture's reorder window alone (aggregator/merge.h): CPU ns per "
		"record\n"
		"pushed and taken, with 8, 1000 and 10000 sources (agents), each sending a batch "
		"of\n"
		"--batch-ms of its records in turn; prints a Markdown table of medians, the runs "
		"of\n"
		"the cases interleaved. No privileges; pin it to one CPU.\n"
		"\n"
		"options:\n"
		"  --sources N    only N sources, 1..65536 (default: 8, 1000 and 10000)\n"
		"  --records N    records per run (default 4000000)\n"
		"  --rate PPS     records a second of the merged stream: their timestamps, and so\n"
		"                 how many records a source's batch holds (default 3000000)\n"
		"  --batch-ms MS  a source's batch spans MS of its records (default 100)\n"
		"  --caplen BYTES each record's data, 0..1514 (default 160, a simple capture's)\n"
		"  --runs N       runs per case, median reported, 1..31 (default 5)\n"
		"\n"
		"examples:\n"
		"  taskset -c 1 build/tests/bench/bench_merge\n"
		"  taskset -c 1 build/tests/bench/bench_merge --caplen 0 --runs 7\n");
}

/* One run: CPU ns per record pushed and taken. */
static double run_case(uint32_t sources, uint64_t *strays)
{
	uint64_t per_batch, pushed = 0, taken = 0, round = 0, k, newest, limit, sum = 0;
	double gap = 1e9 / (double)rate, wall = 0, cpu = 0;
	const uint64_t window_ns = (uint64_t)batch_ms * 1000000;
	const struct merge_rec *r;
	struct bench_span span;
	uint64_t *next = calloc(sources, sizeof(*next));
	uint8_t *data = calloc(1, caplen + 1);
	struct merge *m;
	uint32_t i, s;

	if (!next || !data || merge_new(&m)) {
		fprintf(stderr, "bench_merge: out of memory\n");
		exit(1);
	}
	memset(data, 0xab, caplen);
	per_batch = (uint64_t)((double)window_ns / (gap * sources));
	if (!per_batch)
		per_batch = 1;
	bench_span_start(&span, CLOCK_PROCESS_CPUTIME_ID);
	while (pushed < n_records) {
		/* Every source's next batch, in an order that changes from round to round. */
		for (i = 0; i < sources && pushed < n_records; i++) {
			s = (uint32_t)((i + round * 7919) % sources);
			merge_source_expect(m, s, per_batch * MERGE_REC_BYTES(caplen));
			for (k = 0; k < per_batch; k++, pushed++) {
				/* Source s's k-th record: the stream's record k * sources + s. */
				uint64_t ts = (uint64_t)((double)(next[s]++ * sources + s) * gap);

				if (merge_push(m, s, ts, 0, data, caplen, 512)) {
					fprintf(stderr, "bench_merge: merge_push failed\n");
					exit(1);
				}
			}
		}
		round++;
		/* What is more than a batch behind the newest record goes out, in order. */
		newest = (uint64_t)((double)(next[0] * sources) * gap);
		limit = newest > window_ns ? newest - window_ns : 0;
		while ((r = merge_peek(m)) && r->ts < limit) {
			r = merge_take(m);
			sum += r->caplen ? r->data[r->caplen - 1] : r->ts;
			taken++;
		}
	}
	while ((r = merge_take(m))) {
		sum += r->caplen ? r->data[r->caplen - 1] : r->ts;
		taken++;
	}
	bench_span_add(&span, &wall, &cpu);
	*strays = merge_strays(m);
	merge_free(m);
	free(next);
	free(data);
	/* The sum keeps the reads of the records from being optimised away. */
	if (sum == 42)
		fprintf(stderr, " ");
	return cpu / (double)taken;
}

int main(int argc, char **argv)
{
	const struct bench_opt opts[] = {
		{ "sources", BENCH_OPT_U32, &only_sources, 1, MERGE_MAX_SOURCES, NULL, NULL },
		{ "records", BENCH_OPT_U64, &n_records, 1000, 1000000000, NULL, NULL },
		{ "rate", BENCH_OPT_U64, &rate, 1000, 100000000, NULL, NULL },
		{ "batch-ms", BENCH_OPT_U32, &batch_ms, 1, 10000, NULL, NULL },
		{ "caplen", BENCH_OPT_U32, &caplen, 0, 1514, NULL, NULL },
		{ "runs", BENCH_OPT_U32, &runs, 1, 31, NULL, NULL },
	};
	static const char *const head[] = { "sources", "records a batch",
					    "CPU ns per record (runs)", "median", "× 8 sources" };
	uint32_t cases[CASES_MAX] = { 8, 1000, 10000 }, n_cases = 3, c, j;
	double ns[CASES_MAX][BENCH_RUNS_MAX], med[CASES_MAX], base = 0;
	uint64_t strays = 0, per_batch;
	int status;

	if (!bench_args_parse("bench_merge", opts, sizeof(opts) / sizeof(opts[0]), usage, argc,
			      argv, &status))
		return status;
	if (only_sources) {
		cases[0] = only_sources;
		n_cases = 1;
	}
	for (j = 0; j < runs; j++)
		for (c = 0; c < n_cases; c++)
			ns[c][j] = run_case(cases[c], &strays);
	printf("\nbench_merge: %llu records a run at %llu records/s, --batch-ms %u, caplen %u, "
	       "kernel %s\n\n",
	       (unsigned long long)n_records, (unsigned long long)rate, batch_ms, caplen,
	       bench_kernel());
	bench_table_head(head, 5, "rrlrr");
	for (c = 0; c < n_cases; c++) {
		med[c] = bench_median(ns[c], runs);
		if (cases[c] == 8)
			base = med[c];
	}
	for (c = 0; c < n_cases; c++) {
		per_batch = (uint64_t)((double)batch_ms * 1e6 / (1e9 / (double)rate * cases[c]));
		printf("| %u | %llu | ", cases[c], (unsigned long long)(per_batch ? per_batch : 1));
		for (j = 0; j < runs; j++)
			printf("%s%.1f", j ? ", " : "", ns[c][j]);
		if (base > 0)
			printf(" | %.1f | %.2f |\n", med[c], med[c] / base);
		else
			printf(" | %.1f | - |\n", med[c]);
	}
	if (strays)
		printf("\n%llu records took the strays' path in the last run.\n",
		       (unsigned long long)strays);
	return 0;
}
