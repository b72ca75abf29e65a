/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_util.h: what the benchmarks (bench_prog, bench_agent, bench_ingest) share: clocks and
 * spans of wall-clock and CPU time, medians over runs, the command line, the Markdown table's
 * header and a veth pair in a network namespace of the benchmark's own. Each benchmark keeps its
 * own cases, rows and wording; only the mechanics live here.
 */
#ifndef EDGECAP_BENCH_UTIL_H
#define EDGECAP_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define BENCH_EXIT_USAGE 2
/* The most runs a benchmark may take: the bound of bench_median's copy. */
#define BENCH_RUNS_MAX 101

/* Clock id's time in ns, as a double (CLOCK_MONOTONIC, or one of the CPU-time clocks). */
double bench_now_ns(clockid_t id);

/* A stretch of code's wall-clock time and CPU time on cpu_clock (thread's or process's). */
struct bench_span {
	clockid_t cpu_clock;
	double wall0, cpu0;
};

void bench_span_start(struct bench_span *s, clockid_t cpu_clock);
/* Adds the ns since bench_span_start to *wall and *cpu. */
void bench_span_add(const struct bench_span *s, double *wall, double *cpu);

/* The median of v[0..n), n from 1 to BENCH_RUNS_MAX; v is left as it was. */
double bench_median(const double *v, unsigned int n);

/* xorshift64*: a fixed seed gives every run of a benchmark the same bytes. */
uint64_t bench_rng_next(uint64_t *s);

/* The running kernel's release, for the line above a table. */
const char *bench_kernel(void);
/* Whether a row's wall clock exceeds its CPU (or kernel) time by more than 5%: a shared CPU. */
bool bench_shared(double wall, double cpu);
/*
 * A Markdown table's header row and alignment row: n column names, and align, n characters of
 * 'l' (left) or 'r' (right).
 */
void bench_table_head(const char *const *names, unsigned int n, const char *align);

enum bench_opt_kind {
	BENCH_OPT_U64,	   /* uint64_t, min..max */
	BENCH_OPT_U32,	   /* uint32_t, min..max */
	BENCH_OPT_INT,	   /* int, min..max */
	BENCH_OPT_POW2,	   /* uint64_t, a power of 2 in min..max, K/M/G suffixes */
	BENCH_OPT_PAYLOAD, /* bool: random (false) or zeros (true) */
	BENCH_OPT_STRING,  /* const char * */
	BENCH_OPT_CHOICE,  /* unsigned int: the index of the argument in choices */
};

/* One --option with an argument. */
struct bench_opt {
	const char *name; /* without the dashes */
	enum bench_opt_kind kind;
	void *out;
	uint64_t min, max;
	const char *what;	    /* what the argument must be, when not "a number in .." */
	const char *const *choices; /* BENCH_OPT_CHOICE: max names */
};

/*
 * Parses argv: the options of opts (n of them) and --help. Returns true when the benchmark is to
 * run; false when main is to return *status: 0 after --help (usage printed on stdout), or
 * BENCH_EXIT_USAGE after an argument that is wrong (said on stderr, prefixed with prog).
 */
bool bench_args_parse(const char *prog, const struct bench_opt *opts, unsigned int n,
		      void (*usage)(FILE *out), int argc, char **argv, int *status);

/*
 * Moves the process into a network namespace of its own and makes the veth pair "bench0" /
 * "bench1" there; says on stderr, prefixed with prog, what failed. Returns 0 or a negative errno.
 */
int bench_netns_veth(const char *prog);

#endif /* EDGECAP_BENCH_UTIL_H */
