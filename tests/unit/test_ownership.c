// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_ownership.c: the bucket-ownership records (aggregator/ownership.c) as ownership_open
 * reads them back from STATE_DIR/ownership.json, and as a change writes them again.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "ownership.h"
#include "testing.h"

/*
 * The test links with --wrap=s3_put_buf: the challenge objects are counted, not written. While
 * one is being written, the next of nested_accounts (up to n_nested) makes a create, whose
 * reply goes in nested_r: its own write, if admitted, makes the one after.
 */
int __wrap_s3_put_buf(const struct s3_client *cl, const struct bucket_url *u, const char *key,
		      const void *buf, size_t len, char *err, size_t errlen);
static unsigned int puts_made;
static struct ownership *nested_o;
static const char *nested_accounts[2];
static size_t n_nested, nested_next;
static struct ownership_reply nested_r[2];

int __wrap_s3_put_buf(const struct s3_client *cl, const struct bucket_url *u, const char *key,
		      const void *buf, size_t len, char *err, size_t errlen)
{
	static const char body[] = "{\"destination_conf\": \"s3://bucket\"}";
	size_t i = nested_next;

	(void)cl, (void)u, (void)key, (void)buf, (void)len, (void)err, (void)errlen;
	puts_made++;
	if (nested_o && i < n_nested) {
		nested_next++;
		ownership_api(nested_o, "POST", nested_accounts[i], "", body, sizeof(body) - 1,
			      &nested_r[i]);
	}
	return 0;
}

/* And with --wrap=store_now_us: the rule clock, which never steps, moved on by advance_us. */
uint64_t __real_store_now_us(void);
uint64_t __wrap_store_now_us(void);
static uint64_t advance_us;

uint64_t __wrap_store_now_us(void)
{
	return __real_store_now_us() + advance_us;
}

/* The test links with --wrap=calloc: the records' array of load() fails on demand. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static size_t fail_calloc_n;

void *__wrap_calloc(size_t n, size_t size)
{
	/* A record is larger than 512 bytes: its destination alone is. */
	if (fail_calloc_n && n == fail_calloc_n && size > 512) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

static char dir[] = "/tmp/edgecap-test-ownership-XXXXXX";
static char path[sizeof(dir) + 32];
static const char *const buckets[] = { "bucket" };

#define ID_A	  "0123456789abcdef0123456789abcdef"
#define ID_B	  "fedcba9876543210fedcba9876543210"
#define CHALLENGE "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* A record of account acct for s3://bucket, validated at `validated` (NULL: pending). */
static void record(FILE *f, const char *id, const char *validated, bool last)
{
	fprintf(f,
		"{\"id\": \"%s\", \"account\": \"acct\", \"destination_conf\": \"s3://bucket\", "
		"\"filename\": \"ownership-challenge-00000000.txt\", \"challenge\": \"" CHALLENGE
		"\", \"submitted\": \"1970-01-01T00:00:00.000000Z\"%s%s%s}%s\n",
		id, validated ? ", \"validated\": \"" : "", validated ? validated : "",
		validated ? "\"" : "", last ? "" : ",");
}

/*
 * A record validated at the epoch (validated_us 0) stays validated when the file is written
 * again: the "validated" member follows the flag, not the time.
 */
static void test_epoch_validation_survives_a_rewrite(void)
{
	struct ownership *o = NULL;
	struct ownership_reply r;
	char err[512];
	FILE *f = fopen(path, "w");
	int ret;

	CHECK(f, "fopen %s", path);
	fputs("[\n", f);
	record(f, ID_A, "1970-01-01T00:00:00.000000Z", false);
	record(f, ID_B, NULL, true);
	fputs("]\n", f);
	fclose(f);
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open: %s", err);
	ret = ownership_check(o, "acct", "s3://bucket", err, sizeof(err));
	CHECK(ret == 0, "validated at load: %s", err);
	ownership_api(o, "GET", "acct", "", NULL, 0, &r);
	CHECK(r.status == 200 && json_array_size(r.result) == 2, "list: %u", r.status);
	CHECK(json_object_get(json_array_get(r.result, 1), "validated") != NULL,
	      "a validated record is listed with its validated time");
	json_decref(r.result);
	ownership_api(o, "DELETE", "acct", "/" ID_B, NULL, 0, &r);
	CHECK(r.status == 200, "DELETE: %u %s", r.status, r.message);
	json_decref(r.result);
	ownership_close(o);
	o = NULL;
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open again: %s", err);
	ret = ownership_check(o, "acct", "s3://bucket", err, sizeof(err));
	ownership_close(o);
	CHECK(ret == 0, "still validated after the rewrite: %s", err);
}

/* No memory for the records: -ENOMEM, saying so, and nothing opened. */
static void test_no_memory_for_the_records(void)
{
	struct ownership *o = NULL;
	char err[512] = "";
	FILE *f = fopen(path, "w");
	int ret;

	CHECK(f, "fopen %s", path);
	fputs("[\n", f);
	record(f, ID_A, NULL, false);
	record(f, ID_B, NULL, true);
	fputs("]\n", f);
	fclose(f);
	fail_calloc_n = 3; /* two records, and one more */
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	fail_calloc_n = 0;
	CHECK(ret == -ENOMEM, "ownership_open: %d (%s)", ret, err);
	CHECK(o == NULL, "nothing opened");
	CHECK_STR_CONTAINS(err, "out of memory");
	CHECK_STR_CONTAINS(err, path);
}

/*
 * A file that is JSON but not an array of records is refused like one that is not JSON: it was
 * taken for no records, and the next change wrote over it.
 */
static void test_not_an_array_is_refused(void)
{
	static const char *const texts[] = { "{}\n", "{\"id\": \"" ID_A "\"}\n", "[}\n" };
	struct ownership *o;
	char err[512];
	size_t i;
	FILE *f;
	int ret;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		f = fopen(path, "w");
		CHECK(f, "fopen %s", path);
		fputs(texts[i], f);
		fclose(f);
		o = NULL;
		err[0] = '\0';
		ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
		if (!ret)
			ownership_close(o);
		CHECK(ret == -EINVAL, "%s: ownership_open: %d", texts[i], ret);
		CHECK_STR_CONTAINS(err, path);
	}
}

/*
 * A record the API could not have written (an id that is not 32 lower-case hex characters, an
 * account that is not an account id, a destination that is not a bucket) is skipped at load as
 * other invalid records are: one with a bad id was listed but could never be deleted (the
 * DELETE route takes only valid ids), one with a bad account was never seen and counted
 * against the limit of records.
 */
static void test_records_the_api_could_not_write_are_skipped(void)
{
	static const char *const bad[] = {
		"\"id\": \"0123456789ABCDEF0123456789ABCDEF\", \"account\": \"acct\", "
		"\"destination_conf\": \"s3://bucket\"",
		"\"id\": \"" ID_B
		"\", \"account\": \"acct/../x\", \"destination_conf\": \"s3://bucket\"",
		"\"id\": \"" ID_B "\", \"account\": \"acct\", \"destination_conf\": \"s3://\"",
		"\"id\": \"" ID_B "\", \"account\": \"acct\", \"destination_conf\": \"/var/tmp\"",
	};
	struct ownership *o = NULL;
	struct ownership_reply r;
	char err[512];
	json_error_t jerr;
	json_t *after;
	FILE *f = fopen(path, "w");
	size_t i;
	int ret;

	CHECK(f, "fopen %s", path);
	fputs("[\n", f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fprintf(f,
			"{%s, \"filename\": \"f.txt\", \"challenge\": \"" CHALLENGE "\", "
			"\"submitted\": \"2026-12-01T10:00:00.000000Z\", \"validated\": "
			"\"2026-12-01T10:00:00.000000Z\"},\n",
			bad[i]);
	record(f, ID_A, NULL, true);
	fputs("]\n", f);
	fclose(f);
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open: %s", err);
	ownership_api(o, "GET", "acct", "", NULL, 0, &r);
	CHECK(r.status == 200 && json_array_size(r.result) == 1, "%zu records listed",
	      json_array_size(r.result));
	json_decref(r.result);
	ownership_api(o, "DELETE", "acct", "/" ID_A, NULL, 0, &r);
	json_decref(r.result);
	ownership_close(o);
	CHECK(r.status == 200, "DELETE: %u %s", r.status, r.message);
	after = json_load_file(path, 0, &jerr);
	CHECK(after, "%s: %s", path, jerr.text);
	i = json_array_size(after);
	json_decref(after);
	CHECK(i == 0, "%zu records left in the file", i);
}

/*
 * ownership_open runs before the store's open and may be the one that makes the state
 * directory: 0750 (the design's mode for every directory the aggregator makes) under the unit's
 * umask of 0077 too, not 0700.
 */
static void test_new_state_directory_is_0750_whatever_the_umask(void)
{
	struct ownership *o = NULL;
	char state[sizeof(dir) + 16], err[512];
	struct stat sb;
	mode_t old;
	int ret;

	snprintf(state, sizeof(state), "%s/state", dir);
	old = umask(077);
	ret = ownership_open(state, buckets, 1, NULL, &o, err, sizeof(err));
	umask(old);
	CHECK(ret == 0, "ownership_open: %s", err);
	ownership_close(o);
	CHECK(stat(state, &sb) == 0, "%s made", state);
	CHECK((sb.st_mode & 07777) == 0750, "%s has mode %04o, not 0750", state,
	      (unsigned int)(sb.st_mode & 07777));
	rmdir(state);
}

/* A file of n records of account acct (acct0, acct1, ... when per_account), all pending. */
static void write_records(size_t n, size_t per_account)
{
	FILE *f = fopen(path, "w");
	size_t i;

	CHECK(f, "fopen %s", path);
	fputs("[\n", f);
	for (i = 0; i < n; i++)
		fprintf(f,
			"{\"id\": \"%032zx\", \"account\": \"acct%zu\", \"destination_conf\": "
			"\"s3://bucket\", \"filename\": \"f.txt\", \"challenge\": \"" CHALLENGE
			"\", \"submitted\": \"2026-12-01T10:00:00.000000Z\"}%s\n",
			i, per_account ? i / per_account : 0, i + 1 < n ? "," : "");
	fputs("]\n", f);
	fclose(f);
}

/* POST .../pcaps/ownership for account: the reply's status; how many objects it wrote. */
static unsigned int create(struct ownership *o, const char *account, unsigned int *puts)
{
	static const char body[] = "{\"destination_conf\": \"s3://bucket/p\"}";
	struct ownership_reply r;

	puts_made = 0;
	ownership_api(o, "POST", account, "", body, sizeof(body) - 1, &r);
	json_decref(r.result);
	*puts = puts_made;
	return r.status;
}

/*
 * The limits of records bind before the challenge object is written, and per account: one
 * account that had taken every record of the aggregator left the others unable to prove they
 * own a bucket (the records are not theirs to delete), and every refused create still wrote
 * an object into the bucket.
 */
static void test_limits_bind_per_account_before_the_put(void)
{
	struct ownership *o = NULL;
	unsigned int status, puts;
	char err[512];
	int ret;

	/* acct0 has 32, its limit: refused, nothing written; another account still may. */
	write_records(32, 0);
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open: %s", err);
	status = create(o, "acct0", &puts);
	CHECK(status == 429 && puts == 0, "acct0 at its limit: %u, %u objects written", status,
	      puts);
	status = create(o, "other", &puts);
	CHECK(status == 200 && puts == 1, "another account: %u, %u objects written", status, puts);
	ownership_close(o);

	/* 1024 records of 32 accounts: the aggregator's limit, refused before the PUT too. */
	o = NULL;
	write_records(1024, 32);
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open: %s", err);
	status = create(o, "other", &puts);
	CHECK(status == 429 && puts == 0, "at 1024 records: %u, %u objects written", status, puts);
	ownership_close(o);
	unlink(path);
}

/* Makes the creates of nested_accounts during the next create's write (__wrap_s3_put_buf). */
static void nest(struct ownership *o, const char *first, const char *second)
{
	memset(nested_r, 0, sizeof(nested_r));
	nested_o = o;
	nested_accounts[0] = first;
	nested_accounts[1] = second;
	n_nested = second ? 2 : 1;
	nested_next = 0;
}

static void unnest(void)
{
	json_decref(nested_r[0].result);
	json_decref(nested_r[1].result);
	memset(nested_r, 0, sizeof(nested_r));
	nested_o = NULL;
	n_nested = 0;
}

/*
 * The challenge object is written on the API's thread: two at a time at most, and one of them
 * an account's. With a single place, one account creating in a loop kept every other
 * account's creates out; with none, a slow bucket endpoint held every thread of the API.
 */
static void test_two_puts_at_a_time_one_an_account(void)
{
	struct ownership *o = NULL;
	unsigned int status, puts;
	char err[512];
	int ret;

	unlink(path);
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open: %s", err);
	/* The same account while its object is being written: refused, nothing written. */
	nest(o, "acct", NULL);
	status = create(o, "acct", &puts);
	CHECK(status == 200, "the first create: %u", status);
	CHECK(nested_r[0].status == 429 && puts == 1,
	      "the same account's create while its object is written: %u, %u objects written",
	      nested_r[0].status, puts);
	unnest();
	/* Another account meanwhile: written; a third while both are: refused. */
	nest(o, "other", "third");
	status = create(o, "acct", &puts);
	CHECK(status == 200, "the first create: %u", status);
	CHECK(nested_r[0].status == 200, "another account's create meanwhile: %u",
	      nested_r[0].status);
	CHECK(nested_r[1].status == 429 && puts == 2,
	      "a third while two are written: %u, %u objects written", nested_r[1].status, puts);
	unnest();
	/* The places are given back: the next creates write. */
	status = create(o, "third", &puts);
	CHECK(status == 200 && puts == 1, "a create after them: %u, %u objects written", status,
	      puts);
	ownership_close(o);
	unlink(path);
}

/* POST then DELETE for account: the DELETE's status (0 when the POST was refused). */
static unsigned int create_then_delete(struct ownership *o, const char *account)
{
	static const char body[] = "{\"destination_conf\": \"s3://bucket/p\"}";
	struct ownership_reply r, d;
	char rest[64];
	const char *id;

	ownership_api(o, "POST", account, "", body, sizeof(body) - 1, &r);
	id = r.status == 200 ? json_string_value(json_object_get(r.result, "id")) : NULL;
	if (!id) {
		json_decref(r.result);
		return 0;
	}
	snprintf(rest, sizeof(rest), "/%s", id);
	json_decref(r.result);
	ownership_api(o, "DELETE", account, rest, NULL, 0, &d);
	json_decref(d.result);
	return d.status;
}

/*
 * A DELETE frees a record but leaves its object in the bucket: a loop of creates and deletes
 * wrote objects without end. An account makes 32 creates an hour; the 33rd is refused before
 * anything is written, another account is not, and an hour later the account may again.
 */
static void test_creates_an_hour_are_bounded(void)
{
	struct ownership *o = NULL;
	unsigned int status, puts, i;
	char err[512];
	int ret;

	unlink(path);
	ret = ownership_open(dir, buckets, 1, NULL, &o, err, sizeof(err));
	CHECK(ret == 0, "ownership_open: %s", err);
	for (i = 0; i < 32; i++)
		CHECK(create_then_delete(o, "acct") == 200, "create and delete %u", i + 1);
	status = create(o, "acct", &puts);
	CHECK(status == 429 && puts == 0, "the 33rd create in an hour: %u, %u objects written",
	      status, puts);
	status = create(o, "other", &puts);
	CHECK(status == 200 && puts == 1, "another account: %u", status);
	advance_us += 3600ULL * 1000000;
	status = create(o, "acct", &puts);
	CHECK(status == 200 && puts == 1, "an hour later: %u, %u objects written", status, puts);
	/*
	 * A rolling hour, not a window from the first create: 31 more at 59 minutes, then a
	 * minute on only the one made an hour ago has left it (a window let 32 more in at once).
	 */
	advance_us += 59ULL * 60 * 1000000;
	for (i = 0; i < 31; i++)
		CHECK(create_then_delete(o, "acct") == 200, "create and delete %u at 59 min",
		      i + 1);
	advance_us += 60ULL * 1000000;
	CHECK(create_then_delete(o, "acct") == 200, "the one made an hour ago has left the hour");
	status = create(o, "acct", &puts);
	CHECK(status == 429 && puts == 0, "32 in the last hour, and one more: %u, %u written",
	      status, puts);
	ownership_close(o);
	unlink(path);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ownership.json", dir);
	log_set_level(LOG_LEVEL_ERROR);
	RUN(test_epoch_validation_survives_a_rewrite);
	RUN(test_no_memory_for_the_records);
	RUN(test_not_an_array_is_refused);
	RUN(test_records_the_api_could_not_write_are_skipped);
	RUN(test_new_state_directory_is_0750_whatever_the_umask);
	RUN(test_limits_bind_per_account_before_the_put);
	RUN(test_two_puts_at_a_time_one_an_account);
	RUN(test_creates_an_hour_are_bounded);
	unlink(path);
	rmdir(dir);
	return TEST_SUMMARY();
}
