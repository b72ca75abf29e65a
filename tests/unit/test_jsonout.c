// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_jsonout.c: JSON text written fast (common/jsonout.h) is json_dumps's, byte for byte, with
 * the flags the aggregator uses and others: random values of every type, keys and strings that
 * need escapes or hold UTF-8, integers at their limits, nesting past JSONOUT_MAX_DEPTH.
 */
#include <errno.h>
#include <stdint.h>

#include "jsonout.h"
#include "testing.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Strings a manifest may hold, and the ones whose escapes jansson writes. */
static const char *const strings[] = {
	"",
	"ORD",
	"edge-7.ord.example",
	"a\"quote",
	"back\\slash",
	"tab\there",
	"line\nbreak",
	"\x01\x1f control",
	"del \x7f",
	"slash / too",
	"caf\xc3\xa9",
	"\xe2\x80\xa8 line separator",
	"No space left on device",
	"{\"not\": \"json\"}",
};

#define N_STRINGS (sizeof(strings) / sizeof(strings[0]))

static const json_int_t ints[] = { 0,	1,	   -1,	      9,	 10,
				   -10, 123456789, INT64_MAX, INT64_MIN, INT64_MIN + 1 };

static json_t *random_value(int depth)
{
	json_t *v;
	size_t i, n;
	char key[32];

	switch (rnd() % (depth > 6 ? 6 : 8)) {
	case 0:
		return json_integer(ints[rnd() % (sizeof(ints) / sizeof(ints[0]))]);
	case 1:
		return json_integer((json_int_t)rnd());
	case 2:
		return json_string(strings[rnd() % N_STRINGS]);
	case 3:
		return json_boolean(rnd() & 1);
	case 4:
		return json_null();
	case 5:
		return json_real((double)(int64_t)rnd() / 1e6);
	case 6:
		v = json_object();
		n = rnd() % 6;
		for (i = 0; i < n; i++) {
			if (rnd() % 4)
				snprintf(key, sizeof(key), "key_%u", (unsigned)(rnd() % 100));
			else
				snprintf(key, sizeof(key), "%s", strings[rnd() % N_STRINGS]);
			json_object_set_new(v, key, random_value(depth + 1));
		}
		return v;
	default:
		v = json_array();
		n = rnd() % 6;
		for (i = 0; i < n; i++)
			json_array_append_new(v, random_value(depth + 1));
		return v;
	}
}

/* jsonout_json's text for j against json_dumps's; "" when they match, else why. */
static const char *compare(const json_t *j, size_t flags)
{
	static char why[512];
	struct jsonout b = { 0 };
	char *want = json_dumps(j, flags | JSON_ENCODE_ANY), *got;
	size_t len;
	int ret;

	ret = jsonout_json(&b, j, flags);
	got = jsonout_take(&b, &len);
	why[0] = '\0';
	if (ret || !got || !want)
		snprintf(why, sizeof(why), "jsonout_json: %d, text %s, json_dumps %s", ret,
			 got ? "written" : "none", want ? "written" : "none");
	else if (len != strlen(got) || strcmp(got, want))
		snprintf(why, sizeof(why), "flags %#zx:\n got: %.200s\nwant: %.200s", flags, got,
			 want);
	free(got);
	free(want);
	return why;
}

static const size_t flag_sets[] = {
	JSON_INDENT(2),
	JSON_COMPACT,
	0,
	JSON_INDENT(4) | JSON_COMPACT,
	JSON_INDENT(1),
	JSON_INDENT(31),
	JSON_PRESERVE_ORDER | JSON_INDENT(2),
	/* Not jsonout's own: jansson writes these, and the result is the same. */
	JSON_SORT_KEYS | JSON_INDENT(2),
	JSON_ENSURE_ASCII,
	JSON_ESCAPE_SLASH | JSON_COMPACT,
	JSON_REAL_PRECISION(5),
};

static void test_random_values_match_json_dumps(void)
{
	const char *why;
	unsigned int i, k;
	json_t *j;

	for (i = 0; i < 3000; i++) {
		j = random_value(0);
		for (k = 0; k < sizeof(flag_sets) / sizeof(flag_sets[0]); k++) {
			why = compare(j, flag_sets[k]);
			if (*why)
				json_decref(j);
			CHECK(!*why, "value %u: %s", i, why);
		}
		json_decref(j);
	}
}

/* As the manifest holds them: an object of 1,000 agents' reports, written with indent 2. */
static void test_a_manifest_matches_json_dumps(void)
{
	json_t *m = json_object(), *agents = json_object(), *a;
	const char *why;
	char host[64];
	unsigned int i;

	for (i = 0; i < 1000; i++) {
		a = json_pack("{s:s, s:b, s:I, s:I, s:I, s:s}", "colo", "ORD", "final_received",
			      i & 1, "records_received", (json_int_t)i * 1000003, "duplicates",
			      (json_int_t)0, "highest_seq", (json_int_t)INT64_MAX, "stop_reason",
			      "packet_limit");
		snprintf(host, sizeof(host), "edge-%u.ord.example", i);
		json_object_set_new(agents, host, a);
	}
	json_object_set_new(m, "version", json_integer(1));
	json_object_set_new(m, "agents", agents);
	json_object_set_new(m, "empty", json_object());
	json_object_set_new(m, "none", json_array());
	why = compare(m, JSON_INDENT(2));
	json_decref(m);
	CHECK(!*why, "%s", why);
}

static void test_scalars_and_integer_limits(void)
{
	json_t *j;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		j = json_integer(ints[i]);
		why = compare(j, JSON_COMPACT);
		json_decref(j);
		CHECK(!*why, "integer %lld: %s", (long long)ints[i], why);
	}
	for (i = 0; i < N_STRINGS; i++) {
		j = json_string(strings[i]);
		why = compare(j, JSON_INDENT(2));
		json_decref(j);
		CHECK(!*why, "string %zu: %s", i, why);
	}
}

/* Past JSONOUT_MAX_DEPTH jansson writes it; the text is still the same, not cut. */
static void test_deep_nesting_goes_to_jansson(void)
{
	json_t *root = json_array(), *cur = root, *next;
	struct jsonout b = { 0 };
	const char *why;
	unsigned int i;

	for (i = 0; i < JSONOUT_MAX_DEPTH + 10; i++) {
		next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	why = compare(root, JSON_INDENT(2));
	CHECK(!*why, "%s", why);
	/* Appended after what the buffer held, which stays. */
	jsonout_str(&b, "head:");
	CHECK(jsonout_json(&b, root, JSON_COMPACT) == 0, "deep value written");
	json_decref(root);
	CHECK(!strncmp(b.p, "head:[[[", 8), "the head stays: %.20s", b.p);
	jsonout_free(&b);
}

static void test_numbers_and_take(void)
{
	struct jsonout b = { 0 };
	char *text;
	size_t len;

	jsonout_u64(&b, 0);
	jsonout_str(&b, ",");
	jsonout_u64(&b, UINT64_MAX);
	jsonout_str(&b, ",");
	jsonout_i64(&b, INT64_MIN);
	jsonout_str(&b, ",");
	jsonout_i64(&b, 42);
	text = jsonout_take(&b, &len);
	CHECK(text && !strcmp(text, "0,18446744073709551615,-9223372036854775808,42"), "%s",
	      text ? text : "(null)");
	CHECK_EQ_U64(len, strlen(text), "length");
	CHECK(!b.p && !b.len, "take leaves the buffer empty");
	free(text);
	/* Nothing written: an empty string, not NULL. */
	text = jsonout_take(&b, &len);
	CHECK(text && !*text && !len, "empty take");
	free(text);
	/* A failed allocation: NULL at the end, whatever came after. */
	b.oom = b.failed = true;
	jsonout_str(&b, "x");
	CHECK(!jsonout_take(&b, &len) && !len, "oom gives NULL");
}

/* A value that cannot be written: -EINVAL, and no text at the end, not the part before it. */
static void test_a_failed_value_leaves_no_text(void)
{
	struct jsonout b = { 0 };
	json_t *bad = json_object();
	size_t len = 1;

	jsonout_str(&b, "head:");
	CHECK(jsonout_json(&b, NULL, 0) == -EINVAL, "NULL value");
	jsonout_str(&b, "more");
	CHECK(!jsonout_take(&b, &len) && !len, "no text after a failed value");
	/* Not UTF-8 (a key made without the check): jansson refuses it, and so does this. */
	json_object_set_new_nocheck(bad, "ok", json_string_nocheck("\xff"));
	CHECK(jsonout_json(&b, bad, JSON_INDENT(2)) == -EINVAL, "invalid UTF-8 refused");
	json_decref(bad);
	CHECK(!jsonout_take(&b, &len) && !len, "no text");
}

int main(void)
{
	RUN(test_random_values_match_json_dumps);
	RUN(test_a_manifest_matches_json_dumps);
	RUN(test_scalars_and_integer_limits);
	RUN(test_deep_nesting_goes_to_jansson);
	RUN(test_numbers_and_take);
	RUN(test_a_failed_value_leaves_no_text);
	return TEST_SUMMARY();
}
