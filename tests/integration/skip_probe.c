// SPDX-License-Identifier: BSD-2-Clause
/*
 * skip_probe.c: a test program on tests/testing.h that test_skip_policy.sh runs to show the skip
 * policy holds: "skip" SKIPs one test of two, "skip-all" skips the whole program with SKIP_ALL,
 * "fail" fails one test and skips another, "pass" passes.
 */
#include <string.h>

#include "testing.h"

static const char *mode;

static void test_passes(void)
{
	CHECK(1 + 1 == 2, "arithmetic");
}

static void test_may_skip(void)
{
	if (!strcmp(mode, "skip") || !strcmp(mode, "fail"))
		SKIP("the probe was asked to skip");
}

static void test_may_fail(void)
{
	CHECK(strcmp(mode, "fail"), "the probe was asked to fail");
}

int main(int argc, char **argv)
{
	mode = argc > 1 ? argv[1] : "pass";
	if (!strcmp(mode, "skip-all")) {
		SKIP_ALL("the probe was asked to skip everything");
		return TEST_SUMMARY();
	}
	RUN(test_passes);
	RUN(test_may_skip);
	RUN(test_may_fail);
	return TEST_SUMMARY();
}
