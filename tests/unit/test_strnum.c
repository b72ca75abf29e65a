// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_strnum.c: strict number parsing (common/strnum.h): the whole string is a decimal number
 * in range, or it is refused with -EINVAL (not a number) or -ERANGE (out of range).
 */
#include <errno.h>
#include <stdint.h>

#include "strnum.h"
#include "testing.h"

/* Strings that are not a plain decimal number, whatever the range. */
static const char *const not_numbers[] = {
	"",    " 1",  "1 ",    "\t1",	"1\n",	    "+1",  "-1", "-0", "1x",   "x1",  "0x10",
	"1e3", "1.0", "1,000", "1_000", "\xd9\xa1", "one", "1K", "  ", "\xff", "0b1",
};

static void test_u64_accepts_plain_decimals(void)
{
	uint64_t v;

	CHECK(strnum_u64("0", 0, UINT64_MAX, &v) == 0 && v == 0, "0");
	CHECK(strnum_u64("1", 0, UINT64_MAX, &v) == 0 && v == 1, "1");
	CHECK(strnum_u64("300", 1, 300, &v) == 0 && v == 300, "300 in [1, 300]");
	CHECK(strnum_u64("18446744073709551615", 0, UINT64_MAX, &v) == 0 && v == UINT64_MAX,
	      "UINT64_MAX");
	/* Leading zeros are still a decimal number. */
	CHECK(strnum_u64("007", 0, 10, &v) == 0 && v == 7, "007");
}

static void test_u64_rejects_junk_blanks_and_signs(void)
{
	uint64_t v = 42;
	size_t i;

	for (i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++)
		CHECK(strnum_u64(not_numbers[i], 0, UINT64_MAX, &v) == -EINVAL,
		      "\"%s\" is not a number", not_numbers[i]);
	CHECK(strnum_u64(NULL, 0, UINT64_MAX, &v) == -EINVAL, "NULL");
	CHECK(v == 42, "out is untouched on error");
}

static void test_u64_overflow_is_a_range_error(void)
{
	uint64_t v = 42;

	CHECK(strnum_u64("18446744073709551616", 0, UINT64_MAX, &v) == -ERANGE, "UINT64_MAX + 1");
	CHECK(strnum_u64("18446744073709551620", 0, UINT64_MAX, &v) == -ERANGE, "last digit over");
	CHECK(strnum_u64("99999999999999999999999", 0, UINT64_MAX, &v) == -ERANGE, "far over");
	CHECK(v == 42, "out is untouched on error");
}

static void test_u64_range(void)
{
	uint64_t v = 42;

	CHECK(strnum_u64("0", 1, 300, &v) == -ERANGE, "below min");
	CHECK(strnum_u64("1", 1, 300, &v) == 0 && v == 1, "min");
	CHECK(strnum_u64("300", 1, 300, &v) == 0 && v == 300, "max");
	CHECK(strnum_u64("301", 1, 300, &v) == -ERANGE, "above max");
	CHECK(v == 300, "out is untouched on error");
}

static void test_u32(void)
{
	uint32_t v = 42;

	CHECK(strnum_u32("4294967295", 0, UINT32_MAX, &v) == 0 && v == UINT32_MAX, "UINT32_MAX");
	CHECK(strnum_u32("4294967296", 0, UINT32_MAX, &v) == -ERANGE, "UINT32_MAX + 1");
	CHECK(strnum_u32("65535", 1, 65535, &v) == 0 && v == 65535, "max");
	CHECK(strnum_u32("65536", 1, 65535, &v) == -ERANGE, "above max");
	CHECK(strnum_u32("0", 1, 65535, &v) == -ERANGE, "below min");
	CHECK(strnum_u32("-1", 0, UINT32_MAX, &v) == -EINVAL, "sign");
	CHECK(strnum_u32("12 ", 0, UINT32_MAX, &v) == -EINVAL, "trailing blank");
	CHECK(v == 65535, "out is untouched on error");
}

static void test_size_suffixes(void)
{
	uint64_t v;

	CHECK(strnum_size("4096", 0, UINT64_MAX, &v) == 0 && v == 4096, "no suffix");
	CHECK(strnum_size("1K", 0, UINT64_MAX, &v) == 0 && v == 1024, "K");
	CHECK(strnum_size("1k", 0, UINT64_MAX, &v) == 0 && v == 1024, "k");
	CHECK(strnum_size("8M", 0, UINT64_MAX, &v) == 0 && v == 8ULL << 20, "M");
	CHECK(strnum_size("8m", 0, UINT64_MAX, &v) == 0 && v == 8ULL << 20, "m");
	CHECK(strnum_size("2G", 0, UINT64_MAX, &v) == 0 && v == 2ULL << 30, "G");
	CHECK(strnum_size("0K", 0, UINT64_MAX, &v) == 0 && v == 0, "0K");
	CHECK(strnum_size("17179869183G", 0, UINT64_MAX, &v) == 0 && v == 17179869183ULL << 30,
	      "largest G that fits");
}

static void test_size_rejects_junk(void)
{
	static const char *const bad[] = {
		"",	"K",  "M",   " 8M", "8M ", "8 M",  "8MB",
		"8MiB", "8T", "8KK", "+8M", "-8M", "8.5M", "M8",
	};
	uint64_t v = 42;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(strnum_size(bad[i], 0, UINT64_MAX, &v) == -EINVAL, "\"%s\" is not a size",
		      bad[i]);
	CHECK(strnum_size(NULL, 0, UINT64_MAX, &v) == -EINVAL, "NULL");
	CHECK(v == 42, "out is untouched on error");
}

static void test_size_overflow_and_range(void)
{
	uint64_t v = 42;

	/* 2^34 G is 2^64: the shift would lose the top bit. */
	CHECK(strnum_size("17179869184G", 0, UINT64_MAX, &v) == -ERANGE, "2^64 bytes");
	CHECK(strnum_size("18014398509481984K", 0, UINT64_MAX, &v) == -ERANGE, "2^54 K");
	CHECK(strnum_size("99999999999999999999M", 0, UINT64_MAX, &v) == -ERANGE, "digits over");
	CHECK(strnum_size("1K", 0, 1023, &v) == -ERANGE, "above max after the suffix");
	CHECK(strnum_size("1K", 1025, UINT64_MAX, &v) == -ERANGE, "below min after the suffix");
	CHECK(strnum_size("1K", 1024, 1024, &v) == 0 && v == 1024, "exactly in range");
}

int main(void)
{
	RUN(test_u64_accepts_plain_decimals);
	RUN(test_u64_rejects_junk_blanks_and_signs);
	RUN(test_u64_overflow_is_a_range_error);
	RUN(test_u64_range);
	RUN(test_u32);
	RUN(test_size_suffixes);
	RUN(test_size_rejects_junk);
	RUN(test_size_overflow_and_range);
	return TEST_SUMMARY();
}
