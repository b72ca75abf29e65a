/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * testing.h: the smallest test harness that reads well. A test is a `static void test_x(void)`;
 * CHECK* record a failure with what was expected and return from the test; SKIP(reason) ends the
 * test as skipped, for a prerequisite this machine lacks (root, a tool, a kernel feature), never
 * for a check that did not hold. main() runs each test with RUN(test_x), prints "ok", "FAIL" or
 * "skip" per test, and ends with TEST_SUMMARY(), which prints "N passed, N failed" (and
 * "(N skipped)") and gives ctest the exit code:
 *   1   something failed;
 *   77  nothing failed but something skipped (ctest's SKIP_RETURN_CODE: reported as skipped);
 *   1   as well when something skipped under CI (CI=true in the environment): a CI machine has
 *       every prerequisite, so a skip there means a tier did not run, and that must not pass;
 *   0   everything passed.
 * A prerequisite of the whole program is checked in main(): SKIP_ALL(reason) counts the skip,
 * and main returns TEST_SUMMARY().
 *
 * The counters are shared by every file of one test program (weak definitions: the linker keeps
 * one), so a harness in a file of its own can CHECK and count failures of the running test.
 */
#ifndef EDGECAP_TESTING_H
#define EDGECAP_TESTING_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTING_SHARED __attribute__((weak))

/* Whether AddressSanitizer is built in: its allocator answers no mallinfo2, its shadow faults. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

TESTING_SHARED int test_failures_in_current, test_skipped_current;
TESTING_SHARED int tests_passed, tests_failed, tests_skipped;
/* Why the current test skipped. */
TESTING_SHARED char test_skip_reason[256];

/* Whether this runs under CI: CI set to anything but "", "0", "false" or "no". */
static inline bool test_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci && *ci && strcmp(ci, "0") && strcmp(ci, "false") && strcmp(ci, "no");
}

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fprintf(stderr, "\n");                                                   \
			test_failures_in_current++;                                              \
			return;                                                                  \
		}                                                                                \
	} while (0)

#define CHECK_EQ_U64(got, want, what)                                                          \
	CHECK((uint64_t)(got) == (uint64_t)(want), "%s: got %" PRIu64 ", want %" PRIu64, what, \
	      (uint64_t)(got), (uint64_t)(want))

#define CHECK_STR_CONTAINS(hay, needle) \
	CHECK(strstr((hay), (needle)) != NULL, "expected \"%s\" in \"%s\"", needle, hay)

/* Ends the current test as skipped, saying why (printf format and arguments). */
#define SKIP(...)                                                                  \
	do {                                                                       \
		snprintf(test_skip_reason, sizeof(test_skip_reason), __VA_ARGS__); \
		test_skipped_current = 1;                                          \
		return;                                                            \
	} while (0)

/* Runs one test and reports it: "ok", "FAIL" or "skip" (RUN, and programs that pick by name). */
static inline void test_run(const char *name, void (*test)(void))
{
	test_failures_in_current = 0;
	test_skipped_current = 0;
	test();
	if (test_failures_in_current) {
		tests_failed++;
		fprintf(stderr, "FAIL %s\n", name);
	} else if (test_skipped_current) {
		tests_skipped++;
		printf("skip %s: %s\n", name, test_skip_reason);
	} else {
		tests_passed++;
		printf("ok   %s\n", name);
	}
}

#define RUN(test) test_run(#test, test)

/* In main(): every test of the program needs what is missing; counts one skip, saying why. */
#define SKIP_ALL(...)                   \
	do {                            \
		tests_skipped++;        \
		printf("skip (all): "); \
		printf(__VA_ARGS__);    \
		printf("\n");           \
	} while (0)

static inline int test_summary(void)
{
	if (tests_skipped)
		printf("%d passed, %d failed (%d skipped)\n", tests_passed, tests_failed,
		       tests_skipped);
	else
		printf("%d passed, %d failed\n", tests_passed, tests_failed);
	if (tests_failed)
		return 1;
	if (!tests_skipped)
		return 0;
	if (test_in_ci()) {
		fprintf(stderr, "FAIL: %d skipped under CI=%s: CI must run every test\n",
			tests_skipped, getenv("CI"));
		return 1;
	}
	return 77;
}

#define TEST_SUMMARY() test_summary()

#endif /* EDGECAP_TESTING_H */
