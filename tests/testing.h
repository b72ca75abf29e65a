/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * testing.h: the smallest test harness that reads well. A test is a `static void test_x(void)`;
 * CHECK* record a failure with what was expected and return from the test; main() runs each
 * test with RUN(test_x) and ends with TEST_SUMMARY(), which prints "N passed, N failed" and
 * gives ctest the exit code.
 */
#ifndef EDGECAP_TESTING_H
#define EDGECAP_TESTING_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failures_in_current;
static int tests_passed, tests_failed;

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

#define RUN(test)                                            \
	do {                                                 \
		test_failures_in_current = 0;                \
		test();                                      \
		if (test_failures_in_current) {              \
			tests_failed++;                      \
			fprintf(stderr, "FAIL %s\n", #test); \
		} else {                                     \
			tests_passed++;                      \
			printf("ok   %s\n", #test);          \
		}                                            \
	} while (0)

#define TEST_SUMMARY() \
	(printf("%d passed, %d failed\n", tests_passed, tests_failed), tests_failed ? 1 : 0)

#endif /* EDGECAP_TESTING_H */
