// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_ownership.c: the bucket-ownership records, STATE_DIR/ownership.json, as the aggregator
 * reads them back at start (aggregator/ownership.c's load, from ownership_open). The input is
 * written as ownership.json of a state directory (a temp directory, one a process, emptied
 * between inputs), opened with ownership_open (no S3 client: nothing here reaches the network),
 * then read through what serves the records: the API's list (GET) for the accounts the input
 * names, ownership_check for the destinations it names, and a DELETE, which writes the file
 * back. Properties:
 *   - ownership_open never crashes: 0, or -EINVAL with an error naming the file, or -ENOMEM;
 *   - every record listed has a valid id and destination, an account that is valid (others
 *     list nothing), its string members within their buffers, a status "success"
 *     exactly when it has a "validated" time, and matches a record of the file with the same
 *     id, account, destination_conf and filename, whose "validated" time is valid exactly when
 *     the record is listed as validated;
 *   - ownership_check grants a destination only to an account that has a validated record of
 *     that scheme and bucket in its list;
 *   - after a DELETE, the file written back opens again to the same records but the one
 *     deleted, and an unknown id is a 404 that writes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bucket_url.h"
#include "fuzz.h"
#include "log.h"
#include "ownership.h"
#include "store.h"

#define MAX_ACCOUNTS 6
#define MAX_DESTS    6

static const char *const buckets[] = { "bucket", "other-bucket" };

static char base[PATH_MAX];
static char file[PATH_MAX + 32];

static void setup(void)
{
	fuzz_tmpdir(base, sizeof(base), "ownership");
	snprintf(file, sizeof(file), "%s/ownership.json", base);
	log_set_level(LOG_LEVEL_ERROR);
}

static void write_state(const uint8_t *data, size_t size)
{
	int fd;

	fuzz_rmtree(base);
	FUZZ_ASSERT(!mkdir(base, 0700));
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

static int open_state(struct ownership **o)
{
	char err[PATH_MAX + 512];
	int ret;

	err[0] = '\0';
	ret = ownership_open(base, buckets, 2, NULL, o, err, sizeof(err));
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	FUZZ_ASSERT(memchr(err, '\0', sizeof(err)));
	if (ret == -EINVAL)
		FUZZ_ASSERT(strstr(err, file) != NULL);
	return ret;
}

static bool str_within(const json_t *rec, const char *key, size_t len)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s && strlen(s) < len;
}

static bool time_valid(const json_t *v)
{
	uint64_t us;

	return json_is_string(v) && !rfc3339_us_parse(json_string_value(v), &us);
}

/* A record of the file with the listed one's members, validated as the listed one is. */
static bool in_file(const json_t *file_recs, const char *account, const json_t *listed)
{
	bool validated = !strcmp(json_string_value(json_object_get(listed, "status")), "success");
	static const char *const keys[] = { "id", "destination_conf", "filename" };
	const json_t *f;
	size_t i, k;

	json_array_foreach (file_recs, i, f) {
		const char *a = json_string_value(json_object_get(f, "account"));

		if (!a || strcmp(a, account))
			continue;
		for (k = 0; k < 3; k++) {
			const char *x = json_string_value(json_object_get(f, keys[k]));

			if (!x || strcmp(x, json_string_value(json_object_get(listed, keys[k]))))
				break;
		}
		if (k == 3 && time_valid(json_object_get(f, "validated")) == validated)
			return true;
	}
	return false;
}

static json_t *list(struct ownership *o, const char *account)
{
	struct ownership_reply r;
	struct bucket_url u;
	const json_t *rec;
	char why[256];
	size_t i;

	ownership_api(o, "GET", account, "", NULL, 0, &r);
	FUZZ_ASSERT(r.status == 200 && json_is_array(r.result));
	/* An account the API authenticates is a valid one: others have no records. */
	if (!store_account_valid(account))
		FUZZ_ASSERT(json_array_size(r.result) == 0);
	json_array_foreach (r.result, i, rec) {
		const char *status = json_string_value(json_object_get(rec, "status"));

		FUZZ_ASSERT(str_within(rec, "id", STORE_ID_LEN + 1));
		/* One the API could have written: a DELETE can name it, a check can parse it. */
		FUZZ_ASSERT(store_id_valid(json_string_value(json_object_get(rec, "id"))));
		FUZZ_ASSERT(!bucket_url_parse(
			json_string_value(json_object_get(rec, "destination_conf")), &u, why,
			sizeof(why)));
		FUZZ_ASSERT(str_within(rec, "destination_conf", 512));
		FUZZ_ASSERT(str_within(rec, "filename", BUCKET_PREFIX_MAX + 64));
		FUZZ_ASSERT(time_valid(json_object_get(rec, "submitted")));
		FUZZ_ASSERT(status && (!strcmp(status, "success") || !strcmp(status, "pending")));
		FUZZ_ASSERT(!json_object_get(rec, "account") && !json_object_get(rec, "challenge"));
		/* What a client reads: validated, with its time, or pending, with none. */
		FUZZ_ASSERT(!strcmp(status, "success") ==
			    (json_object_get(rec, "validated") != NULL));
	}
	return r.result;
}

/* Whether account's list has a validated record of u's scheme and bucket. */
static bool listed_owner(const json_t *recs, const struct bucket_url *u)
{
	struct bucket_url have;
	const json_t *rec;
	char why[256];
	size_t i;

	json_array_foreach (recs, i, rec) {
		if (strcmp(json_string_value(json_object_get(rec, "status")), "success"))
			continue;
		if (!bucket_url_parse(json_string_value(json_object_get(rec, "destination_conf")),
				      &have, why, sizeof(why)) &&
		    have.scheme == u->scheme && !strcmp(have.bucket, u->bucket))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *accounts[MAX_ACCOUNTS], *dests[MAX_DESTS];
	json_t *lists[MAX_ACCOUNTS] = { 0 }, *file_recs, *f, *again, *before;
	size_t n_acc = 0, n_dest = 0, i, j;
	struct ownership *o = NULL, *o2 = NULL;
	struct ownership_reply r;
	struct bucket_url u;
	char err[1024], why[256];
	const char *id = NULL;
	size_t del_acc = 0;
	json_error_t jerr;
	int ret;

	if (!base[0])
		setup();
	write_state(data, size);
	if (open_state(&o))
		return 0;
	/* What the file says, as jansson reads it (ownership_open accepted it: it parses). */
	file_recs = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	accounts[n_acc++] = "acct";
	dests[n_dest++] = "s3://bucket";
	dests[n_dest++] = "gs://bucket/prefix";
	json_array_foreach (file_recs, i, f) {
		const char *a = json_string_value(json_object_get(f, "account"));
		const char *d = json_string_value(json_object_get(f, "destination_conf"));

		if (a && n_acc < MAX_ACCOUNTS)
			accounts[n_acc++] = a;
		if (d && n_dest < MAX_DESTS)
			dests[n_dest++] = d;
	}
	for (i = 0; i < n_acc; i++) {
		const json_t *rec;

		lists[i] = list(o, accounts[i]);
		json_array_foreach (lists[i], j, rec)
			FUZZ_ASSERT(in_file(file_recs, accounts[i], rec));
		if (!id && json_array_size(lists[i])) {
			id = json_string_value(json_object_get(json_array_get(lists[i], 0), "id"));
			del_acc = i;
		}
	}
	for (i = 0; i < n_acc; i++) {
		for (j = 0; j < n_dest; j++) {
			err[0] = '\0';
			ret = ownership_check(o, accounts[i], dests[j], err, sizeof(err));
			FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -EPERM);
			FUZZ_ASSERT(memchr(err, '\0', sizeof(err)));
			if (!ret) {
				FUZZ_ASSERT(!bucket_url_parse(dests[j], &u, why, sizeof(why)));
				FUZZ_ASSERT(listed_owner(lists[i], &u));
			}
		}
	}
	/* The first listed record deleted: the file written back reopens to the rest. */
	if (id && strlen(id) == STORE_ID_LEN && store_id_valid(id)) {
		char rest[STORE_ID_LEN + 2];

		snprintf(rest, sizeof(rest), "/%s", id);
		ownership_api(o, "DELETE", accounts[del_acc], rest, NULL, 0, &r);
		FUZZ_ASSERT(r.status == 200);
		json_decref(r.result);
		FUZZ_ASSERT(open_state(&o2) == 0);
		for (i = 0; i < n_acc; i++) {
			json_t *now = list(o2, accounts[i]), *want = json_deep_copy(lists[i]);
			size_t k;

			/* The oldest record of that id is gone: the last one listed. */
			if (!strcmp(accounts[i], accounts[del_acc])) {
				for (k = json_array_size(want); k-- > 0;) {
					if (!strcmp(json_string_value(json_object_get(
							    json_array_get(want, k), "id")),
						    id)) {
						json_array_remove(want, k);
						break;
					}
				}
			}
			FUZZ_ASSERT(json_equal(now, want));
			json_decref(now);
			json_decref(want);
		}
		ownership_close(o2);
	}
	/* An id nobody has (likely): a 404 that leaves the file as it was. */
	before = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	ownership_api(o, "DELETE", accounts[0], "/ffffffffffffffffffffffffffffff0f", NULL, 0, &r);
	json_decref(r.result);
	FUZZ_ASSERT(r.status == 404 || r.status == 200);
	if (r.status == 404) {
		again = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
		FUZZ_ASSERT(json_equal(again, before));
		json_decref(again);
	}
	json_decref(before);
	for (i = 0; i < n_acc; i++)
		json_decref(lists[i]);
	json_decref(file_recs);
	ownership_close(o);
	return 0;
}
