// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_store.c: the aggregator's capture store (aggregator/store.h): ids, RFC 3339 times with
 * microseconds, the two rate rules and their knobs, list order and cap, manifests on disk and
 * their round trip through a restart (pending fails, running resumes, finished stays), the
 * lifecycle timer's calls to capture_ops and its safety nets, the local ops, and creates racing
 * on several threads.
 *
 * Every test gets a fresh state directory and store (the globals below), removed after it, so
 * a failing CHECK that returns early leaves nothing behind. Times are driven by the tests.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "local_ops.h"
#include "store.h"
#include "testing.h"

#define S 1000000ULL /* microseconds per second */
/* 2021-12-20T17:29:20.641845Z, the seeds' first "submitted". */
#define SEED_TIME 1640021360641845ULL

static const char simple_body[] =
	"{\"filter_v1\": {\"source_address\": \"1.2.3.4\", \"source_port\": 123, "
	"\"destination_address\": \"5.6.7.8\", \"destination_port\": 80, \"protocol\": 6}, "
	"\"time_limit\": 60, \"packet_limit\": 100, \"type\": \"simple\", "
	"\"system\": \"magic-transit\"}";
static const char full_body[] =
	"{\"filter_v1\": {}, \"time_limit\": 300, \"packet_limit\": 10000, "
	"\"byte_limit\": 100000000, \"type\": \"full\", \"colo\": \"ORD\", "
	"\"system\": \"magic-transit\", \"destination_conf\": \"${BUCKET}\"}";

static char dir[128];
static struct store *st;
static struct store_opts opts;
static struct capture_request simple_req, full_req;
static char err[1024];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A store on a fresh directory with the given rules (grace 5 s). NULL st when it failed. */
static void fixture_begin(uint32_t interval_s, uint32_t max_full)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/edgecap-store-XXXXXX",
		 tmp && strlen(tmp) < 60 ? tmp : "/tmp");
	st = NULL;
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return;
	}
	opts = (struct store_opts){ .state_dir = dir,
				    .simple_interval_s = interval_s,
				    .max_full = max_full,
				    .grace_s = 5 };
	if (store_open(&opts, &st, err, sizeof(err)))
		fprintf(stderr, "store_open %s: %s\n", dir, err);
}

static void fixture_end(void)
{
	store_close(st);
	st = NULL;
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define RUN_WITH(test, interval_s, max_full)         \
	do {                                         \
		fixture_begin(interval_s, max_full); \
		RUN(test);                           \
		fixture_end();                       \
	} while (0)

/* Closes and opens the store again on the same directory: a restart. */
static int reopen(void)
{
	store_close(st);
	st = NULL;
	return store_open(&opts, &st, err, sizeof(err));
}

static int create(const char *account, const struct capture_request *req, uint64_t now,
		  struct capture_rec *out)
{
	struct capture_rec tmp;

	err[0] = '\0';
	return store_create(st, account, req, false, now, out ? out : &tmp, NULL, err, sizeof(err));
}

static bool file_exists(const char *id, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/captures/%.32s/%s", dir, id, name);
	return access(path, F_OK) == 0;
}

/* Files a manifest write leaves behind if it does not clean up. */
static int temp_files(const char *id)
{
	char path[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/captures/%s", dir, id);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, ".manifest.json.", 15);
	closedir(d);
	return n;
}

static int unlink_manifest(const char *id)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/captures/%s/manifest.json", dir, id);
	return unlink(path);
}

/* Entries under captures/: one directory per capture; -1 when it cannot be read. */
static int capture_dirs(void)
{
	char path[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/captures", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A capture_ops that records its calls and does what the test set. */
struct fake {
	int starts, stops, expires;
	bool mark_running; /* start marks the capture running at start_at */
	uint64_t start_at;
	int start_ret;
	char last_id[STORE_ID_LEN + 1];
};

static int fake_start(void *ctx, const struct capture_rec *c)
{
	struct fake *f = ctx;

	f->starts++;
	memcpy(f->last_id, c->id, sizeof(f->last_id));
	if (f->start_ret)
		return f->start_ret;
	return f->mark_running ? store_mark_running(st, c->id, f->start_at) : 0;
}

static int fake_stop(void *ctx, const struct capture_rec *c)
{
	struct fake *f = ctx;

	(void)c;
	f->stops++;
	return 0;
}

static int fake_expire(void *ctx, const struct capture_rec *c)
{
	struct fake *f = ctx;

	(void)c;
	f->expires++;
	return 0;
}

static const struct capture_ops fake_ops = {
	.start = fake_start,
	.stop = fake_stop,
	.expire = fake_expire,
};

/* Agents in the manifest on disk (not the store's memory); -1 when it cannot be read. */
/* id's manifest as on disk, or NULL. */
static json_t *disk_manifest(const char *id, char *path, size_t len)
{
	snprintf(path, len, "%s/captures/%.32s/manifest.json", dir, id);
	return json_load_file(path, 0, NULL);
}

static int disk_agents(const char *id)
{
	char path[512];
	json_t *m = disk_manifest(id, path, sizeof(path));
	int n;

	if (!m)
		return -1;
	n = (int)json_object_size(json_object_get(m, "agents"));
	json_decref(m);
	return n;
}

/*
 * Agents' reports rewrite the manifest at most once per manifest_interval_ms (2,000 hosts once
 * made every message rewrite and fsync a 680 KB manifest under the store's lock); status
 * changes write at once, with everything; store_tick writes what lags when it is due,
 * store_flush at once, and store_close before it lets go.
 */
static void test_manifest_writes_are_debounced(void)
{
	struct fake f = { 0 };
	struct capture_rec rec;
	uint64_t next, now;
	char host[32];
	json_t *agent, *m;
	int i;

	CHECK(st, "no store");
	opts.manifest_interval_ms = 400;
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "running");
	agent = json_pack("{s:s}", "colo", "ORD");
	for (i = 0; i < 100; i++) {
		snprintf(host, sizeof(host), "edge-%d", i);
		CHECK(store_update_agent(st, rec.id, host, agent) == 0, "update %d", i);
	}
	CHECK_EQ_U64(disk_agents(rec.id), 0, "100 reports within the interval: not written yet");
	m = store_manifest(st, rec.id);
	CHECK_EQ_U64(json_object_size(json_object_get(m, "agents")), 100, "all in memory");
	json_decref(m);
	now = store_now_us();
	CHECK(store_tick(st, now, &fake_ops, &f, &next) == 0, "tick");
	CHECK(next <= now + 400 * 1000, "the tick is due when the manifest is (%llu us)",
	      (unsigned long long)(next - now));
	CHECK_EQ_U64(disk_agents(rec.id), 0, "not due yet");
	usleep(450 * 1000);
	CHECK(store_tick(st, store_now_us(), &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(disk_agents(rec.id), 100, "written once the interval is over");

	/* A status change writes at once, with the reports that lag. */
	CHECK(store_update_agent(st, rec.id, "late-1", agent) == 0, "update");
	CHECK_EQ_U64(disk_agents(rec.id), 100, "lags");
	CHECK(store_mark_success(st, rec.id, "time_limit", SEED_TIME + 61 * S) == 0, "success");
	CHECK_EQ_U64(disk_agents(rec.id), 101, "the status change wrote it");

	/* store_flush writes what lags at once (before a close that may not return). */
	CHECK(store_update_agent(st, rec.id, "late-flush", agent) == 0, "update");
	CHECK_EQ_U64(disk_agents(rec.id), 101, "lags");
	store_flush(st);
	CHECK_EQ_U64(disk_agents(rec.id), 102, "store_flush wrote it");

	/* What lags when the store closes is written. */
	CHECK(store_update_agent(st, rec.id, "late-2", agent) == 0, "update");
	CHECK_EQ_U64(disk_agents(rec.id), 102, "lags");
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK_EQ_U64(disk_agents(rec.id), 103, "store_close wrote it");
	json_decref(agent);
}

static void test_ids_are_32_lowercase_hex_and_unique(void)
{
	static char ids[100][STORE_ID_LEN + 1];
	struct capture_rec rec;
	int i, j;
	size_t k;

	CHECK(st, "no store");
	for (i = 0; i < 100; i++) {
		CHECK(create("acct", &simple_req, SEED_TIME + (uint64_t)i, &rec) == 0, "create: %s",
		      err);
		CHECK(strlen(rec.id) == STORE_ID_LEN, "id %s: want %d characters", rec.id,
		      STORE_ID_LEN);
		for (k = 0; k < STORE_ID_LEN; k++)
			CHECK((rec.id[k] >= '0' && rec.id[k] <= '9') ||
				      (rec.id[k] >= 'a' && rec.id[k] <= 'f'),
			      "id %s: want lower-case hex only", rec.id);
		CHECK(store_id_valid(rec.id), "store_id_valid(%s)", rec.id);
		CHECK(file_exists(rec.id, "manifest.json"), "no manifest for %s", rec.id);
		memcpy(ids[i], rec.id, sizeof(ids[i]));
		for (j = 0; j < i; j++)
			CHECK(strcmp(ids[i], ids[j]), "id %s given twice", rec.id);
	}
	CHECK(!store_id_valid("6D1F0AAC13CD40E3900D29F5DD0E8A2B"), "upper case is not an id");
	CHECK(!store_id_valid("6d1f0aac13cd40e3900d29f5dd0e8a2"), "31 characters is not an id");
	CHECK(!store_id_valid("6d1f0aac13cd40e3900d29f5dd0e8a2bb"), "33 characters is not an id");
	CHECK(!store_id_valid("6d1f0aac13cd40e3900d29f5dd0e8a2g"), "g is not hex");
}

static void test_submitted_is_rfc3339_with_microseconds(void)
{
	static const char *const bad[] = {
		"2021-12-20T17:29:20Z",		    /* no fraction */
		"2021-12-20T17:29:20.641Z",	    /* milliseconds */
		"2021-12-20T17:29:20.641845+00:00", /* an offset, not Z */
		"2021-12-20 17:29:20.641845Z",	    /* a space */
		"2021-02-30T17:29:20.641845Z",	    /* no such day */
		"2021-12-20T24:00:00.000000Z",	    /* no such hour */
		"2021-12-20T17:29:20.641845Zx",	    /* trailing junk */
		"",
	};
	char text[RFC3339_US_LEN];
	struct capture_rec rec;
	uint64_t us;
	size_t i;

	rfc3339_us_format(SEED_TIME, text, sizeof(text));
	CHECK(!strcmp(text, "2021-12-20T17:29:20.641845Z"), "got %s", text);
	rfc3339_us_format(1000000ULL * 86400 + 5, text, sizeof(text));
	CHECK(!strcmp(text, "1970-01-02T00:00:00.000005Z"), "leading zeros of the fraction: %s",
	      text);
	CHECK(rfc3339_us_parse("2021-12-20T17:29:20.641845Z", &us) == 0 && us == SEED_TIME,
	      "parse the seeds' time: got %llu", (unsigned long long)us);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(rfc3339_us_parse(bad[i], &us) == -EINVAL, "\"%s\" must not parse", bad[i]);

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK_EQ_U64(rec.submitted_us, SEED_TIME, "submitted_us");
}

static void test_submitted_strictly_increases(void)
{
	struct capture_rec a, b, c;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &a) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME, &b) == 0, "create: %s", err);
	/* A clock that went back does not reorder captures either. */
	CHECK(create("acct", &simple_req, SEED_TIME - S, &c) == 0, "create: %s", err);
	CHECK_EQ_U64(b.submitted_us, a.submitted_us + 1, "same clock: 1 us later");
	CHECK_EQ_U64(c.submitted_us, b.submitted_us + 1, "clock went back: 1 us later");
}

static void test_simple_rule_allows_one_per_interval(void)
{
	struct capture_rec first, rec;
	uint32_t retry = 0;
	int ret;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &first) == 0, "create: %s", err);
	ret = store_create(st, "acct", &simple_req, false, SEED_TIME + 60 * S - 1, &rec, &retry,
			   err, sizeof(err));
	CHECK(ret == -EAGAIN, "1 us short of 60 s: want -EAGAIN, got %d", ret);
	CHECK_EQ_U64(retry, 1, "retry_after_s");
	CHECK_STR_CONTAINS(err, "rate limited");
	CHECK_STR_CONTAINS(err, "one simple capture every 60 s");
	CHECK_STR_CONTAINS(err, first.id);
	/*
	 * The rule counts per account (docs/design.md, "Security"): another account has its own
	 * interval, and its refusal names only its own capture.
	 */
	CHECK(create("other", &simple_req, SEED_TIME + S, &rec) == 0, "other account: %s", err);
	CHECK(create("other", &simple_req, SEED_TIME + 2 * S, NULL) == -EAGAIN, "other's second");
	CHECK_STR_CONTAINS(err, rec.id);
	CHECK(!strstr(err, first.id), "other's 429 names acct's capture: %s", err);
	/* A full capture is not a simple one. */
	CHECK(create("acct", &full_req, SEED_TIME + S, NULL) == 0, "full: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + 60 * S, NULL) == 0, "60 s later: %s", err);
}

static void test_simple_rule_interval_is_configurable(void)
{
	uint32_t retry = 0;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, NULL) == 0, "create: %s", err);
	CHECK(store_create(st, "acct", &simple_req, false, SEED_TIME + S, NULL, &retry, err,
			   sizeof(err)) == -EAGAIN,
	      "1 s later with a 2 s interval");
	CHECK_EQ_U64(retry, 1, "retry_after_s");
	CHECK(create("acct", &simple_req, SEED_TIME + 2 * S, NULL) == 0, "2 s later: %s", err);
}

static void test_simple_rule_off(void)
{
	int i;

	CHECK(st, "no store");
	for (i = 0; i < 5; i++)
		CHECK(create("acct", &simple_req, SEED_TIME, NULL) == 0, "capture %d: %s", i, err);
}

static void test_full_rule_one_pending_or_running(void)
{
	struct capture_rec a, b;

	CHECK(st, "no store");
	CHECK(create("acct", &full_req, SEED_TIME, &a) == 0, "create: %s", err);
	CHECK(create("acct", &full_req, SEED_TIME + S, NULL) == -EBUSY, "while pending");
	CHECK_STR_CONTAINS(err, "rate limited");
	CHECK_STR_CONTAINS(err, a.id);
	CHECK_STR_CONTAINS(err, "already pending or running");
	CHECK(store_mark_running(st, a.id, SEED_TIME + S) == 0, "mark running");
	CHECK(create("acct", &full_req, SEED_TIME + 2 * S, NULL) == -EBUSY, "while running");
	/* Per account: another account's full capture is not held up, nor told of acct's. */
	CHECK(create("other", &full_req, SEED_TIME + 2 * S, &b) == 0, "other account: %s", err);
	CHECK(create("other", &full_req, SEED_TIME + 2 * S, NULL) == -EBUSY, "other's second");
	CHECK_STR_CONTAINS(err, b.id);
	CHECK(!strstr(err, a.id), "other's 429 names acct's capture: %s", err);
	/* Simple captures are not held up by a full one. */
	CHECK(create("acct", &simple_req, SEED_TIME + 2 * S, NULL) == 0, "simple: %s", err);
	CHECK(store_mark_success(st, a.id, "time_limit", SEED_TIME + 3 * S) == 0, "mark success");
	CHECK(create("acct", &full_req, SEED_TIME + 3 * S, &a) == 0, "after success: %s", err);
	CHECK(store_mark_failed(st, a.id, "broken", SEED_TIME + 4 * S) == 0, "mark failed");
	CHECK(create("acct", &full_req, SEED_TIME + 4 * S, NULL) == 0, "after failed: %s", err);
}

static void test_full_rule_limit_is_configurable(void)
{
	CHECK(st, "no store");
	CHECK(create("acct", &full_req, SEED_TIME, NULL) == 0, "first: %s", err);
	CHECK(create("acct", &full_req, SEED_TIME, NULL) == 0, "second: %s", err);
	CHECK(create("acct", &full_req, SEED_TIME, NULL) == -EBUSY, "third of at most 2");
	CHECK_STR_CONTAINS(err, "at most 2");
}

static void test_full_rule_off(void)
{
	int i;

	CHECK(st, "no store");
	for (i = 0; i < 5; i++)
		CHECK(create("acct", &full_req, SEED_TIME, NULL) == 0, "capture %d: %s", i, err);
}

static void test_list_is_newest_first_and_capped(void)
{
	static struct capture_rec made[60], got[API_LIST_MAX + 10];
	size_t n = 0, i;

	CHECK(st, "no store");
	for (i = 0; i < 60; i++) {
		CHECK(create("acct", &simple_req, SEED_TIME + i * S, &made[i]) == 0, "create: %s",
		      err);
		if (i % 20 == 0)
			CHECK(create("other", &simple_req, SEED_TIME + i * S, NULL) == 0,
			      "other: %s", err);
	}
	store_list(st, "acct", got, API_LIST_MAX, &n);
	CHECK_EQ_U64(n, API_LIST_MAX, "listed");
	for (i = 0; i < n; i++)
		CHECK(!strcmp(got[i].id, made[59 - i].id), "position %zu: got %s, want %s", i,
		      got[i].id, made[59 - i].id);
	store_list(st, "other", got, API_LIST_MAX, &n);
	CHECK_EQ_U64(n, 3, "the other account's captures");
	store_list(st, "nobody", got, API_LIST_MAX, &n);
	CHECK_EQ_U64(n, 0, "an account with no captures");
	store_list(st, NULL, got, API_LIST_MAX + 10, &n);
	CHECK_EQ_U64(n, API_LIST_MAX + 10, "every account");
}

static void test_manifest_round_trip(void)
{
	struct capture_rec s0, f0, s1, f1;
	json_t *agent, *m;
	const char *rr;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &s0) == 0, "simple: %s", err);
	CHECK(store_create(st, "acct", &full_req, true, SEED_TIME + 1, &f0, NULL, err,
			   sizeof(err)) == 0,
	      "full: %s", err);
	CHECK(store_mark_running(st, s0.id, SEED_TIME + S) == 0, "running");
	CHECK(store_set_progress(st, s0.id, 42, 4200) == 0, "progress");
	agent = json_pack("{s:s, s:b, s:s, s:i, s:i, s:i}", "colo", "ORD", "accepted", 1,
			  "stop_reason", "time_limit", "packets", 42, "ring_full", 0, "dropped", 3);
	CHECK(agent, "json_pack");
	CHECK(store_update_agent(st, s0.id, "edge-1", agent) == 0, "update agent");
	json_decref(agent);
	/* Several at once, one manifest write: a fleet's reports (ingest.h). */
	agent = json_pack("{s:{s:s}, s:{s:s, s:b}}", "edge-2", "colo", "ORD", "edge-3", "colo",
			  "SJC", "accepted", 0);
	CHECK(agent && store_update_agents(st, s0.id, agent) == 0, "update agents");
	json_decref(agent);
	CHECK(store_update_agents(st, s0.id, NULL) == -EINVAL, "agents not an object");
	/* Taken rather than copied (the ingest's reports): the store holds them from now on. */
	agent = json_pack("{s:{s:s, s:i}}", "edge-4", "colo", "AMS", "packets", 7);
	CHECK(agent && store_update_agents_new(st, s0.id, agent) == 0, "update agents (taken)");
	CHECK(store_update_agents_new(st, s0.id, json_array()) == -EINVAL, "taken: not an object");
	CHECK(store_update_agents_new(st, s0.id, NULL) == -ENOMEM, "taken: none made");
	/* Staged: the store holds it at once, the file with the status's write (one, not two). */
	CHECK_EQ_U64(disk_agents(s0.id), 4, "on disk before the staged one");
	agent = json_pack("{s:{s:s}}", "edge-5", "colo", "LHR");
	CHECK(agent && store_stage_agents_new(st, s0.id, agent) == 0, "stage agents");
	CHECK_EQ_U64(disk_agents(s0.id), 4, "staged: not written");
	agent = store_manifest(st, s0.id);
	CHECK(json_object_get(json_object_get(agent, "agents"), "edge-5"), "staged: in the store");
	json_decref(agent);
	CHECK(store_mark_success(st, s0.id, "time_limit", SEED_TIME + 61 * S) == 0, "success");
	CHECK_EQ_U64(disk_agents(s0.id), 5, "staged: written with the status");
	CHECK(store_mark_failed(st, f0.id, NO_AGENT_MESSAGE, SEED_TIME + 2 * S) == 0, "failed");

	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(store_get(st, s0.id, &s1) == 0, "simple after restart");
	CHECK(store_get(st, f0.id, &f1) == 0, "full after restart");
	CHECK(!memcmp(&s1.req, &s0.req, sizeof(s0.req)), "simple request differs");
	CHECK(!memcmp(&f1.req, &f0.req, sizeof(f0.req)), "full request differs");
	CHECK(s1.status == CAPTURE_SUCCESS && f1.status == CAPTURE_FAILED, "statuses %d %d",
	      s1.status, f1.status);
	CHECK_EQ_U64(s1.submitted_us, SEED_TIME, "submitted");
	CHECK_EQ_U64(s1.started_us, SEED_TIME + S, "started");
	CHECK_EQ_U64(s1.finished_us, SEED_TIME + 61 * S, "finished");
	CHECK_EQ_U64(s1.packets, 42, "packets");
	CHECK_EQ_U64(s1.bytes, 4200, "bytes");
	CHECK(!strcmp(s1.stop_reason, "time_limit"), "stop_reason %s", s1.stop_reason);
	CHECK(!strcmp(f1.error_message, NO_AGENT_MESSAGE), "error_message %s", f1.error_message);
	CHECK(f1.colo_as_colo && !s1.colo_as_colo, "the colo spelling is kept");
	CHECK(!strcmp(f1.account, "acct"), "account %s", f1.account);
	CHECK(!s1.resumed && !f1.resumed, "finished captures are not resumed");

	m = store_manifest(st, s0.id);
	CHECK(m, "manifest");
	CHECK(json_integer_value(json_object_get(
		      json_object_get(json_object_get(m, "agents"), "edge-1"), "dropped")) == 3,
	      "agents.edge-1.dropped survives");
	CHECK(!strcmp(json_string_value(json_object_get(
			      json_object_get(json_object_get(m, "agents"), "edge-3"), "colo")),
		      "SJC") &&
		      json_object_get(json_object_get(m, "agents"), "edge-2"),
	      "agents edge-2 and edge-3 survive");
	CHECK(json_integer_value(json_object_get(
		      json_object_get(json_object_get(m, "agents"), "edge-4"), "packets")) == 7,
	      "agents.edge-4 (taken) survives");
	CHECK(!strcmp(json_string_value(json_object_get(m, "finished")),
		      "2021-12-20T17:30:21.641845Z"),
	      "finished in RFC 3339");
	json_decref(m);
	m = store_manifest(st, f0.id);
	CHECK(m, "manifest");
	rr = json_string_value(json_object_get(json_object_get(m, "request"), "colo"));
	CHECK(rr && !strcmp(rr, "ORD"), "request.colo as sent");
	json_decref(m);
}

static void test_manifest_is_written_on_every_change(void)
{
	struct capture_rec rec;
	char path[512];
	json_t *m;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	snprintf(path, sizeof(path), "%s/captures/%s/manifest.json", dir, rec.id);
	m = json_load_file(path, 0, NULL);
	CHECK(m, "%s: not JSON", path);
	CHECK(!strcmp(json_string_value(json_object_get(m, "status")), "pending"), "pending");
	json_decref(m);
	CHECK(store_request_stop(st, rec.id, SEED_TIME + S, NULL) == 0, "stop");
	m = json_load_file(path, 0, NULL);
	CHECK(m, "%s: not JSON", path);
	CHECK(json_is_string(json_object_get(m, "stop_requested")), "stop_requested written");
	json_decref(m);
	CHECK(temp_files(rec.id) == 0, "no temp file left");
}

static void test_restart_fails_pending_and_resumes_running(void)
{
	struct capture_rec pend, run, done, got, *resumed = NULL;
	uint64_t now = store_now_us();
	size_t n = 0;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, now - 3 * S, &done) == 0, "create: %s", err);
	CHECK(create("acct", &full_req, now - 2 * S, &run) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, now - S, &pend) == 0, "create: %s", err);
	CHECK(store_mark_success(st, done.id, "stopped", now - 2 * S) == 0, "success");
	CHECK(store_mark_running(st, run.id, now - 2 * S) == 0, "running");

	opts.simple_interval_s = 60;
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(store_get(st, pend.id, &got) == 0, "pending capture kept");
	CHECK(got.status == CAPTURE_FAILED, "pending -> failed, got %s",
	      capture_status_name(got.status));
	CHECK_STR_CONTAINS(got.error_message, "restarted");
	CHECK(store_get(st, run.id, &got) == 0, "running capture kept");
	CHECK(got.status == CAPTURE_RUNNING && got.resumed, "running stays running, resumed");
	CHECK(store_get(st, done.id, &got) == 0 && got.status == CAPTURE_SUCCESS, "done stays");
	CHECK(store_list_resumed(st, &resumed, &n) == 0, "list resumed");
	CHECK(n == 1 && !strcmp(resumed[0].id, run.id), "want only %s resumed, got %zu", run.id, n);
	free(resumed);

	/* The rules hold across the restart: the resumed full capture and the last simple one. */
	CHECK(create("acct", &full_req, now, NULL) == -EBUSY, "full rule after restart");
	CHECK(create("acct", &simple_req, now, NULL) == -EAGAIN, "simple rule after restart");
	/* And the order: a new capture is newer than everything loaded. */
	CHECK(store_mark_success(st, run.id, "time_limit", now) == 0, "finish resumed");
	CHECK(create("acct", &full_req, now - 10 * S, &got) == 0, "create: %s", err);
	CHECK(got.submitted_us > pend.submitted_us, "submitted after the loaded ones");
}

static void test_bad_manifests_are_skipped(void)
{
	struct capture_rec good, got[4];
	char path[512];
	size_t n = 0;
	FILE *f;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &good) == 0, "create: %s", err);
	snprintf(path, sizeof(path), "%s/captures/0123456789abcdef0123456789abcdef", dir);
	CHECK(mkdir(path, 0750) == 0, "mkdir %s", path);
	strcat(path, "/manifest.json");
	f = fopen(path, "w");
	CHECK(f, "create %s", path);
	fputs("{\"version\": 1, \"id\": \"0123", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/captures/not-a-capture", dir);
	CHECK(mkdir(path, 0750) == 0, "mkdir %s", path);
	snprintf(path, sizeof(path), "%s/captures/%s/.manifest.json.tmp123", dir, good.id);
	f = fopen(path, "w");
	CHECK(f, "create %s", path);
	fclose(f);

	CHECK(reopen() == 0, "one bad manifest does not stop the store: %s", err);
	store_list(st, NULL, got, 4, &n);
	CHECK(n == 1 && !strcmp(got[0].id, good.id), "want only the good capture, got %zu", n);
	CHECK(access(path, F_OK) != 0, "a crashed write's temp file is removed");
}

/* n bytes of c, then 2-byte characters (é): a cut at n + 1 bytes falls inside the first. */
static void text_cut_inside_a_character(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	strcpy(buf + n, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
}

/* got is n bytes of c: text_cut_inside_a_character's cut before the whole character. */
static bool cut_before_the_character(const char *got, size_t n, char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (got[i] != c)
			return false;
	return got[n] == '\0';
}

/*
 * A manifest's error_message longer than the record holds is cut before a whole character, not
 * inside one: cut inside, the record held bytes that are not UTF-8, and every later write of
 * its manifest failed (json_pack refuses them). Found by fuzz_manifest.
 */
static void test_long_error_message_is_cut_before_a_whole_character(void)
{
	struct capture_rec rec, got;
	char path[512];
	json_t *m, *again = NULL;
	char msg[520];

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_failed(st, rec.id, "x", SEED_TIME + S) == 0, "failed");
	snprintf(path, sizeof(path), "%s/captures/%s/manifest.json", dir, rec.id);
	m = json_load_file(path, 0, NULL);
	CHECK(m, "manifest read: %s", path);
	/* The record's 511 bytes end inside a character. */
	text_cut_inside_a_character(msg, 510, 'x');
	CHECK(!json_object_set_new(m, "error_message", json_string(msg)), "a long message");
	CHECK(!json_dump_file(m, path, 0), "manifest rewritten: %s", path);
	json_decref(m);

	CHECK(reopen() == 0, "reopened: %s", err);
	CHECK(store_get(st, rec.id, &got) == 0, "the capture loaded");
	CHECK(cut_before_the_character(got.error_message, 510, 'x'),
	      "cut to the 510 bytes before the character, %zu", strlen(got.error_message));
	again = store_manifest(st, rec.id);
	CHECK(again, "its manifest can be written again");
	json_decref(again);
}

/*
 * A failure's message and an end's reason longer than their record members, cut by the store
 * itself: before a whole character, so that the manifest stays writable (the cut inside one
 * left bytes that json_pack refuses, and every later write of the manifest failed).
 */
static void test_long_messages_from_the_store_are_cut_before_a_whole_character(void)
{
	struct capture_rec failed, ended, got;
	char msg[520], reason[72];
	json_t *m;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &failed) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + 100 * S, &ended) == 0, "create: %s", err);
	/* The member's 511 bytes end inside a character. */
	text_cut_inside_a_character(msg, 510, 'x');
	CHECK(store_mark_failed(st, failed.id, msg, SEED_TIME + 101 * S) == 0,
	      "failed with a long message");
	CHECK(store_get(st, failed.id, &got) == 0, "get");
	CHECK(cut_before_the_character(got.error_message, 510, 'x'),
	      "cut to the 510 bytes before the character, %zu", strlen(got.error_message));
	m = store_manifest(st, failed.id);
	CHECK(m, "its manifest can be written");
	json_decref(m);

	/* The same for stop_reason's 63 bytes. */
	text_cut_inside_a_character(reason, 62, 'r');
	CHECK(store_mark_success(st, ended.id, reason, SEED_TIME + 101 * S) == 0,
	      "ended with a long reason");
	CHECK(store_get(st, ended.id, &got) == 0, "get");
	CHECK(cut_before_the_character(got.stop_reason, 62, 'r'),
	      "cut to the 62 bytes before the character, %zu", strlen(got.stop_reason));
	m = store_manifest(st, ended.id);
	CHECK(m, "its manifest can be written");
	json_decref(m);

	/* Both as they were written, after a restart. */
	CHECK(reopen() == 0, "reopened: %s", err);
	CHECK(store_get(st, failed.id, &got) == 0 && got.status == CAPTURE_FAILED &&
		      cut_before_the_character(got.error_message, 510, 'x'),
	      "the failure was written");
	CHECK(store_get(st, ended.id, &got) == 0 && got.status == CAPTURE_SUCCESS &&
		      cut_before_the_character(got.stop_reason, 62, 'r'),
	      "the end was written");
}

static void test_transitions_are_checked(void)
{
	struct capture_rec rec, out;
	json_t *arr = json_array();

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, "0123456789abcdef0123456789abcdef", SEED_TIME) == -ENOENT,
	      "unknown id");
	CHECK(store_get(st, "0123456789abcdef0123456789abcdef", &out) == -ENOENT, "get unknown");
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "pending -> running");
	CHECK(store_mark_running(st, rec.id, SEED_TIME + 2 * S) == 0, "running -> running");
	CHECK(store_get(st, rec.id, &out) == 0 && out.started_us == SEED_TIME + S, "started once");
	CHECK(store_mark_success(st, rec.id, NULL, SEED_TIME + 3 * S) == 0, "running -> success");
	CHECK(store_mark_failed(st, rec.id, "x", SEED_TIME) == -EALREADY, "success -> failed");
	CHECK(store_mark_running(st, rec.id, SEED_TIME) == -EALREADY, "success -> running");
	CHECK(store_request_stop(st, rec.id, SEED_TIME, &out) == -EALREADY, "stop after success");
	CHECK(out.status == CAPTURE_SUCCESS, "the record comes back with -EALREADY");
	CHECK(store_update_agent(st, rec.id, "edge-1", arr) == -EINVAL, "agent info not object");
	json_decref(arr);
	CHECK(store_create(st, "bad/acct", &simple_req, false, SEED_TIME, &out, NULL, err,
			   sizeof(err)) == -EINVAL,
	      "account ids are checked");
}

static void test_tick_starts_once_and_expires_at_the_deadline(void)
{
	struct fake f = { .mark_running = true, .start_at = SEED_TIME + S };
	uint64_t next = 0, deadline = SEED_TIME + S + (60 + 5) * S;
	struct capture_rec rec;
	struct pollfd pfd;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	pfd = (struct pollfd){ .fd = store_wake_fd(st), .events = POLLIN };
	CHECK(poll(&pfd, 1, 0) == 1, "a create wakes the main loop");
	CHECK(store_tick(st, SEED_TIME + S, &fake_ops, &f, &next) == 0, "tick");
	CHECK(poll(&pfd, 1, 0) == 0, "store_tick drains the wake-up");
	CHECK(f.starts == 1 && !strcmp(f.last_id, rec.id), "start called once for %s", rec.id);
	CHECK_EQ_U64(next, deadline, "next deadline: started + time_limit + grace");
	CHECK(store_tick(st, deadline - 1, &fake_ops, &f, &next) == 0, "tick");
	CHECK(f.starts == 1 && f.expires == 0, "nothing due 1 us early");
	CHECK(store_tick(st, deadline, &fake_ops, &f, &next) == 0, "tick");
	CHECK(f.expires == 1, "expire at the deadline");
	CHECK(store_tick(st, deadline + S, &fake_ops, &f, &next) == 0, "tick");
	CHECK(f.expires == 1, "expire called once, got %d", f.expires);
}

static void test_tick_forwards_a_stop_and_shortens_the_deadline(void)
{
	struct fake f = { .mark_running = true, .start_at = SEED_TIME };
	struct capture_rec rec, out;
	uint64_t next = 0;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_tick(st, SEED_TIME, &fake_ops, &f, &next) == 0, "tick");
	CHECK(store_request_stop(st, rec.id, SEED_TIME + 10 * S, &out) == 0, "stop");
	CHECK(out.status == CAPTURE_RUNNING && out.stop_requested_us == SEED_TIME + 10 * S,
	      "a stop leaves the status running until the capture ends");
	CHECK(store_request_stop(st, rec.id, SEED_TIME + 11 * S, &out) == 0, "stop again");
	CHECK_EQ_U64(out.stop_requested_us, SEED_TIME + 10 * S, "the first stop time stays");
	CHECK(store_tick(st, SEED_TIME + 11 * S, &fake_ops, &f, &next) == 0, "tick");
	CHECK(f.stops == 1, "stop forwarded once, got %d", f.stops);
	CHECK_EQ_U64(next, SEED_TIME + (10 + 5) * S, "deadline: stop + grace");
	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK(f.expires == 1, "expired at stop + grace");
}

static void test_tick_safety_nets_end_stuck_captures(void)
{
	struct fake f = { 0 };
	struct capture_rec a, b, got;
	uint64_t next = 0, t;

	CHECK(st, "no store");
	/* a: no agent ever confirms it. */
	CHECK(create("acct", &simple_req, SEED_TIME, &a) == 0, "create: %s", err);
	CHECK(store_tick(st, SEED_TIME, &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(next, SEED_TIME + (60 + 5) * S, "pending deadline");
	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_FAILED, "a failed");
	CHECK_STR_CONTAINS(got.error_message, "no agent confirmed");

	/* b: running, expired, and never finished by the ingest. */
	t = SEED_TIME + 100 * S;
	CHECK(create("acct", &simple_req, t, &b) == 0, "create: %s", err);
	f.mark_running = true;
	f.start_at = t;
	CHECK(store_tick(st, t, &fake_ops, &f, &next) == 0, "tick");
	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK(f.expires == 1, "expired");
	CHECK(store_tick(st, next - 1, &fake_ops, &f, &next) == 0, "tick");
	CHECK(store_get(st, b.id, &got) == 0 && got.status == CAPTURE_RUNNING, "still running");
	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK(store_get(st, b.id, &got) == 0 && got.status == CAPTURE_FAILED, "b failed");
	CHECK_STR_CONTAINS(got.error_message, "did not finish");
	/* Last, the finished captures' agents leave memory (store_internal.h). */
	t = next;
	CHECK(store_tick(st, t, &fake_ops, &f, &next) == 0, "tick");
	CHECK(next > t, "the agents' hold is still to come");
	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(next, UINT64_MAX, "nothing left to wait for");
}

static void test_tick_fails_a_capture_whose_start_fails(void)
{
	struct fake f = { .start_ret = -EIO };
	struct capture_rec rec, got;
	uint64_t next;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_tick(st, SEED_TIME, &fake_ops, &f, &next) == 0, "tick");
	CHECK(store_get(st, rec.id, &got) == 0 && got.status == CAPTURE_FAILED, "failed");
	CHECK_STR_CONTAINS(got.error_message, "failed to start the capture");
}

static void test_no_fanout_ops_fail_with_no_agent(void)
{
	struct capture_rec rec, got;
	uint64_t next, now = store_now_us();

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, now, &rec) == 0, "create: %s", err);
	CHECK(store_tick(st, now, &no_fanout_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, rec.id, &got) == 0 && got.status == CAPTURE_FAILED, "failed");
	CHECK_STR_CONTAINS(got.error_message, NO_AGENT_MESSAGE);
	CHECK(!file_exists(rec.id, "capture.pcap"), "no pcap for a failed capture");
}

static void test_no_agents_ops_end_with_an_empty_pcap(void)
{
	struct capture_rec a, b, got;
	uint64_t next, now = store_now_us();
	char path[512];
	struct stat sb;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, now, &a) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, now, &b) == 0, "create: %s", err);
	CHECK(store_tick(st, now, &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_RUNNING, "a running");
	/* b is stopped: it ends after the grace (5 s), as it would with agents. */
	CHECK(store_request_stop(st, b.id, now, NULL) == 0, "stop b");
	CHECK(store_tick(st, now + 5 * S - 1, &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, b.id, &got) == 0 && got.status == CAPTURE_RUNNING, "b in its grace");
	CHECK(store_tick(st, now + 5 * S, &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, b.id, &got) == 0 && got.status == CAPTURE_SUCCESS, "b success");
	CHECK(!strcmp(got.stop_reason, "stopped"), "b: stop_reason %s", got.stop_reason);
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_RUNNING, "a still running");
	/* a's time is up: time_limit 60 s and grace 5 s after it started (by the real clock). */
	CHECK(store_tick(st, store_now_us() + 66 * S, &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_SUCCESS, "a success");
	CHECK(!strcmp(got.stop_reason, "time_limit"), "a: stop_reason %s", got.stop_reason);
	CHECK(store_pcap_path(st, a.id, path, sizeof(path)) == 0, "pcap path");
	CHECK(stat(path, &sb) == 0, "%s exists", path);
	CHECK_EQ_U64(sb.st_size, 24, "an empty pcap is its 24-byte header");
}

/*
 * A wall-clock step of +1 h, then -1 h, mid-capture (through store_clock_shift, the store's clock
 * seam): the time limit, the grace and the simple-capture interval run on the rule clock and do
 * not move; the times the user sees follow the wall clock.
 */
static void test_wall_clock_steps_move_no_rule(void)
{
	struct capture_rec a, b, got;
	uint64_t next, now = store_now_us();

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, now, &a) == 0, "create: %s", err);
	CHECK(store_tick(st, now, &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_RUNNING, "a running");

	store_clock_shift(3600 * (int64_t)S);
	CHECK(store_now_us() < now + 30 * S, "the rule clock does not step");
	CHECK(store_tick(st, store_now_us(), &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_RUNNING,
	      "a forward step must not expire a (status %s)", capture_status_name(got.status));
	CHECK(next >= now + (60 + 5 - 30) * S && next <= now + (60 + 5 + 30) * S,
	      "the deadline stays time_limit + grace after the start");
	CHECK(create("acct", &simple_req, store_now_us(), NULL) == -EAGAIN,
	      "a forward step must not lift the simple-capture interval");
	CHECK(store_request_stop(st, a.id, store_now_us(), &got) == 0, "stop a");
	CHECK(got.stop_requested_us >= got.started_us + 3590 * S,
	      "the stop time the user sees is the stepped wall clock");

	store_clock_shift(-7200 * (int64_t)S);
	CHECK(store_tick(st, store_now_us() + 5 * S, &no_agents_ops, st, &next) == 0, "tick");
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_SUCCESS,
	      "a ends its grace after the operator's stop, a backward step or not");
	CHECK(!strcmp(got.stop_reason, "stopped"), "a: stop_reason %s", got.stop_reason);
	CHECK(create("acct", &simple_req, store_now_us() + 61 * S, &b) == 0,
	      "a backward step must not block simple captures: %s", err);
	CHECK(b.submitted_us > a.submitted_us, "submitted still increases");
	store_clock_shift(3600 * (int64_t)S);
}

/*
 * The manifest keeps wall-clock times. A restart after the wall clock went back 1 h finds a
 * running capture started "in the future": it is resumed as started now, so it still ends within
 * time_limit + grace, not an hour later.
 */
static void test_restart_after_a_backward_step_still_ends(void)
{
	struct capture_rec a, got;
	uint64_t next, now = store_now_us();

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, now, &a) == 0, "create: %s", err);
	CHECK(store_mark_running(st, a.id, now) == 0, "running");
	store_clock_shift(-3600 * (int64_t)S);
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(store_get(st, a.id, &got) == 0 && got.status == CAPTURE_RUNNING && got.resumed,
	      "a resumed");
	CHECK(store_tick(st, store_now_us(), &no_agents_ops, st, &next) == 0, "tick");
	store_clock_shift(3600 * (int64_t)S);
	CHECK(next <= store_now_us() + (60 + 5) * S,
	      "a ends within time_limit + grace of the restart");
}

static void test_create_makes_the_directory_and_the_record(void)
{
	struct capture_rec rec, got;
	size_t n;

	CHECK(st, "no store");
	CHECK(create("acct", &full_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(file_exists(rec.id, "manifest.json"), "%s/manifest.json", rec.id);
	CHECK(temp_files(rec.id) == 0, "no temp file left");
	CHECK(store_get(st, rec.id, &got) == 0 && got.status == CAPTURE_PENDING,
	      "visible, pending");
	CHECK(store_list(st, "acct", &got, 1, &n) == 0 && n == 1 && !strcmp(got.id, rec.id),
	      "listed");
	CHECK_EQ_U64(capture_dirs(), 1, "one directory");
}

/* The mode of path, or -1 when it is not there. */
static int mode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? -1 : (int)(sb.st_mode & 07777);
}

/*
 * Every directory the store makes is 0750, as the design says, also under the aggregator's unit
 * (UMask=0077), where mkdir alone gave 0700 and the operators in its group could not reach the
 * 0640 pcaps: the state directory, captures/, a capture's own, the default destination root.
 */
static void test_directories_are_0750_whatever_the_umask(void)
{
	struct store_opts o = opts;
	struct store *s = NULL;
	struct capture_rec rec;
	char state[sizeof(dir) + 16], path[sizeof(state) + 64];
	const char *const made[] = { "", "/captures", "/destinations" };
	mode_t old;
	size_t i;
	int ret;

	CHECK(st, "no store");
	snprintf(state, sizeof(state), "%s/state", dir);
	o.state_dir = state;
	old = umask(077);
	ret = store_open(&o, &s, err, sizeof(err));
	if (!ret)
		ret = store_create(s, "acct", &simple_req, false, SEED_TIME, &rec, NULL, err,
				   sizeof(err));
	umask(old);
	CHECK(ret == 0, "store_open and store_create under umask 077: %s", err);
	for (i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", state, made[i]);
		CHECK(mode_of(path) == 0750, "%s has mode %04o, not 0750", path, mode_of(path));
	}
	snprintf(path, sizeof(path), "%s/captures/%s", state, rec.id);
	CHECK(mode_of(path) == 0750, "%s has mode %04o, not 0750", path, mode_of(path));
	store_close(s);
}

static void test_refused_create_leaves_no_directory(void)
{
	struct capture_rec rec;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "simple: %s", err);
	CHECK(create("acct", &full_req, SEED_TIME + 1, &rec) == 0, "full: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + 2, NULL) == -EAGAIN, "second simple: %s",
	      err);
	CHECK(create("acct", &full_req, SEED_TIME + 3, NULL) == -EBUSY, "second full: %s", err);
	CHECK(create("no/such", &full_req, SEED_TIME + 4, NULL) == -EINVAL, "bad account");
	CHECK_EQ_U64(capture_dirs(), 2, "only the two stored captures have a directory");
}

#define RACERS	      8
#define RACER_CREATES 10

static pthread_barrier_t race_start;

struct racer {
	uint64_t now; /* racers' clocks differ: submitted alone does not order them */
	int ok, busy, other;
};

static void racer_create(struct racer *r, const struct capture_request *req, uint64_t now)
{
	struct capture_rec rec;
	char why[512];
	int ret;

	ret = store_create(st, "acct", req, false, now, &rec, NULL, why, sizeof(why));
	if (!ret)
		r->ok++;
	else if (ret == -EBUSY)
		r->busy++;
	else
		r->other++;
}

/* Every racer asks for a full capture at once, then for simple ones. */
static void *race(void *arg)
{
	struct racer *r = arg;
	int i;

	pthread_barrier_wait(&race_start);
	racer_create(r, &full_req, r->now);
	for (i = 0; i < RACER_CREATES; i++)
		racer_create(r, &simple_req, r->now + 1 + (uint64_t)i);
	return NULL;
}

/*
 * Creates racing on several threads: between a create's first check of the rules and its
 * insertion (its files made unlocked) others come in, and still the rules hold, submitted
 * stays strictly increasing, and a loser leaves nothing on disk.
 */
static void test_racing_creates_keep_the_rules(void)
{
	static struct capture_rec list[RACERS * (RACER_CREATES + 1)];
	struct racer r[RACERS] = { 0 };
	int i, ok = 0, busy = 0, other = 0;
	pthread_t t[RACERS];
	size_t n;

	CHECK(st, "no store");
	CHECK(pthread_barrier_init(&race_start, NULL, RACERS) == 0, "pthread_barrier_init");
	for (i = 0; i < RACERS; i++) {
		r[i].now = SEED_TIME + (uint64_t)i * S;
		CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0, "pthread_create");
	}
	for (i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].ok;
		busy += r[i].busy;
		other += r[i].other;
	}
	pthread_barrier_destroy(&race_start);
	/* No simple interval; one full capture at a time, and none finishes here. */
	CHECK_EQ_U64(other, 0, "no other error");
	CHECK_EQ_U64(ok, RACERS * RACER_CREATES + 1, "every simple capture and one full one");
	CHECK_EQ_U64(busy, RACERS - 1, "the other full ones refused");
	CHECK_EQ_U64(capture_dirs(), ok, "a directory per stored capture, none per refused one");
	CHECK(store_list(st, NULL, list, RACERS * (RACER_CREATES + 1), &n) == 0, "list");
	CHECK_EQ_U64(n, ok, "every stored capture listed");
	for (i = 1; i < (int)n; i++)
		CHECK(list[i - 1].submitted_us > list[i].submitted_us,
		      "submitted strictly decreases newest first (%d)", i);
}

/* Full captures: conversion_pending -> conversion_running -> complete; a stop comes too late. */
static void test_full_capture_goes_through_conversion(void)
{
	struct capture_rec rec, out, *list = NULL;
	size_t n = 0;

	CHECK(st, "no store");
	CHECK(create("acct", &full_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "running");
	CHECK(store_mark_conversion(st, rec.id, CAPTURE_CONVERSION_PENDING, "time_limit",
				    SEED_TIME + 2 * S) == 0,
	      "-> conversion_pending");
	CHECK(store_get(st, rec.id, &out) == 0 && out.status == CAPTURE_CONVERSION_PENDING &&
		      !strcmp(capture_status_name(out.status), "conversion_pending"),
	      "conversion_pending");
	CHECK(store_request_stop(st, rec.id, SEED_TIME + 2 * S, &out) == -EALREADY,
	      "a stop once the agents are done");
	CHECK(!store_list_status(st, CAPTURE_CONVERSION_PENDING, &list, &n) && n == 1 &&
		      !strcmp(list[0].id, rec.id),
	      "listed for the uploader");
	free(list);
	/* Another full capture may start: a conversion does not hold the full rule. */
	CHECK(create("acct", &full_req, SEED_TIME + 3 * S, NULL) == 0, "second full: %s", err);
	CHECK(store_mark_conversion(st, rec.id, CAPTURE_CONVERSION_RUNNING, NULL,
				    SEED_TIME + 3 * S) == 0,
	      "-> conversion_running");
	CHECK(store_mark_conversion(st, rec.id, CAPTURE_CONVERSION_PENDING, NULL,
				    SEED_TIME + 3 * S) == -EALREADY,
	      "not back to pending");
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(store_get(st, rec.id, &out) == 0 && out.status == CAPTURE_CONVERSION_RUNNING &&
		      !out.resumed,
	      "conversion_running survives a restart, for the uploader");
	CHECK(store_mark_complete(st, rec.id, SEED_TIME + 4 * S) == 0, "-> complete");
	CHECK(store_get(st, rec.id, &out) == 0 && out.status == CAPTURE_COMPLETE &&
		      out.finished_us == SEED_TIME + 4 * S &&
		      !strcmp(out.stop_reason, "time_limit"),
	      "complete, with its stop reason");
	CHECK(store_mark_failed(st, rec.id, "x", SEED_TIME) == -EALREADY, "complete is final");
	CHECK(reopen() == 0 && store_get(st, rec.id, &out) == 0 && out.status == CAPTURE_COMPLETE,
	      "complete after a restart");
}

/* Pages come from the account's index, newest first, whatever other accounts hold. */
static void test_list_page_reads_the_account_index(void)
{
	struct capture_rec ids[7], out[3];
	size_t n, total, i;

	CHECK(st, "no store");
	for (i = 0; i < 7; i++) {
		CHECK(create("a", &simple_req, SEED_TIME + i * S, &ids[i]) == 0, "a: %s", err);
		CHECK(create("b", &simple_req, SEED_TIME + i * S, NULL) == 0, "b: %s", err);
	}
	CHECK(!store_list_page(st, "a", 1, 3, out, &n, &total) && n == 3 && total == 7,
	      "page 1: %zu of %zu", n, total);
	CHECK(!strcmp(out[0].id, ids[6].id) && !strcmp(out[2].id, ids[4].id), "newest first");
	CHECK(!store_list_page(st, "a", 3, 3, out, &n, &total) && n == 1 &&
		      !strcmp(out[0].id, ids[0].id),
	      "the last page");
	CHECK(!store_list_page(st, "a", 4, 3, out, &n, &total) && n == 0 && total == 7, "past it");
	CHECK(!store_list_page(st, "nobody", 1, 3, out, &n, &total) && n == 0 && total == 0,
	      "an account without captures");
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(!store_list_page(st, "a", 1, 3, out, &n, &total) && n == 3 && total == 7 &&
		      !strcmp(out[0].id, ids[6].id),
	      "the index is rebuilt at load");
}

static int owned_only_by_acme(void *ctx, const char *account, const char *dest, char *e,
			      size_t elen)
{
	(void)ctx;
	(void)dest;
	if (!strcmp(account, "acme"))
		return 0;
	snprintf(e, elen, "destination_conf: account %s has no validated ownership", account);
	return -EPERM;
}

/* A bucket must be allowed and owned; its files wait in captures/<id>/upload. */
static void test_bucket_destinations(void)
{
	static const char *const buckets[] = { "pcaps" };
	struct capture_request req = full_req;
	struct capture_rec rec, other, *list = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	int fd = -1;

	CHECK(st, "no store");
	opts.buckets = buckets;
	opts.n_buckets = 1;
	opts.bucket_owned = owned_only_by_acme;
	CHECK(reopen() == 0, "reopen: %s", err);
	snprintf(req.destination_conf, sizeof(req.destination_conf), "s3://other/p");
	CHECK(create("acme", &req, SEED_TIME, NULL) == -EINVAL &&
		      strstr(err, "destination_conf: bucket \"other\" is not one"),
	      "a bucket not allowed: %s", err);
	snprintf(req.destination_conf, sizeof(req.destination_conf),
		 "s3://pcaps/p?region=eu-west-1");
	CHECK(create("someone", &req, SEED_TIME, NULL) == -EINVAL &&
		      strstr(err, "no validated ownership"),
	      "not owned: %s", err);
	CHECK(create("acme", &req, SEED_TIME, &rec) == 0, "owned: %s", err);
	CHECK(store_is_bucket(&rec), "a bucket");
	CHECK(store_destination_open(st, &rec, &fd, path, sizeof(path), err, sizeof(err)) == 0,
	      "upload dir: %s", err);
	CHECK(strstr(path, "/captures/") && strstr(path, "/upload"), "under the state: %s", path);
	if (fd >= 0)
		close(fd);
	/* The sweep's list: failed captures to a bucket, not other failed ones. */
	CHECK(create("acme", &simple_req, SEED_TIME + S, &other) == 0 &&
		      store_mark_failed(st, other.id, "x", SEED_TIME + 2 * S) == 0,
	      "a failed simple capture: %s", err);
	CHECK(create("acme", &full_req, SEED_TIME + 2 * S, &other) == 0 &&
		      store_mark_failed(st, other.id, "x", SEED_TIME + 3 * S) == 0,
	      "a failed full capture to a directory: %s", err);
	CHECK(!store_list_failed_uploads(st, 0, SEED_TIME + 9 * S, &list, &n) && n == 0,
	      "none failed yet: %zu", n);
	free(list);
	CHECK(store_mark_failed(st, rec.id, "x", SEED_TIME + 3 * S) == 0, "the upload failed");
	CHECK(!store_list_failed_uploads(st, 0, SEED_TIME + 3 * S, &list, &n) && n == 1 &&
		      !strcmp(list[0].id, rec.id),
	      "the sweep's list: %zu", n);
	free(list);
	/* Kept an hour from the failure, on the rule clock: a wall-clock step moves nothing. */
	CHECK(!store_list_failed_uploads(st, 3600 * S, SEED_TIME + 3602 * S, &list, &n) && n == 0,
	      "kept for its hour: %zu", n);
	free(list);
	store_clock_shift(7200 * (int64_t)S);
	CHECK(!store_list_failed_uploads(st, 3600 * S, SEED_TIME + 1800 * S, &list, &n) && n == 0,
	      "a step of the wall clock +2 h after the failure: %zu", n);
	free(list);
	store_clock_shift(-7200 * (int64_t)S);
	CHECK(!store_list_failed_uploads(st, 3600 * S, SEED_TIME + 3603 * S, &list, &n) && n == 1,
	      "due after its hour: %zu", n);
	free(list);
	/* One that failed before this start counts from its finished_us. */
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(!store_list_failed_uploads(st, 3600 * S, SEED_TIME + 3602 * S, &list, &n) && n == 0,
	      "after a restart, kept for its hour: %zu", n);
	free(list);
	CHECK(!store_list_failed_uploads(st, 3600 * S, SEED_TIME + 3603 * S, &list, &n) && n == 1,
	      "after a restart, due after its hour: %zu", n);
	free(list);
	opts.buckets = NULL;
	opts.n_buckets = 0;
	opts.bucket_owned = NULL;
}

static void test_paths(void)
{
	struct capture_rec rec = { 0 };
	char want[512], got[512];

	CHECK(st, "no store");
	snprintf(rec.id, sizeof(rec.id), "6d1f0aac13cd40e3900d29f5dd0e8a2b");
	CHECK(store_pcap_path(st, rec.id, got, sizeof(got)) == 0, "pcap path");
	snprintf(want, sizeof(want), "%s/captures/%s/capture.pcap", dir, rec.id);
	CHECK(!strcmp(got, want), "pcap path %s, want %s", got, want);
	rec.req = full_req;
	CHECK(store_destination_dir(st, &rec, got, sizeof(got), err, sizeof(err)) == 0,
	      "relative: %s", err);
	snprintf(want, sizeof(want), "%s/destinations/${BUCKET}", dir);
	CHECK(!strcmp(got, want), "relative destination %s, want %s", got, want);
	/* Absolute paths and file:// URLs only beneath a root (here the default one). */
	snprintf(rec.req.destination_conf, sizeof(rec.req.destination_conf),
		 "file://%s/destinations/a", dir);
	snprintf(want, sizeof(want), "%s/destinations/a", dir);
	CHECK(store_destination_dir(st, &rec, got, sizeof(got), err, sizeof(err)) == 0 &&
		      !strcmp(got, want),
	      "file:// URL: %s, want %s", got, want);
	snprintf(rec.req.destination_conf, sizeof(rec.req.destination_conf),
		 "file:///var/lib/pcaps");
	CHECK(store_destination_dir(st, &rec, got, sizeof(got), err, sizeof(err)) == -EPERM &&
		      strstr(err, "destination_conf: /var/lib/pcaps is not beneath"),
	      "file:// URL outside the roots: %s", err);
	snprintf(rec.req.destination_conf, sizeof(rec.req.destination_conf), "/srv/pcaps");
	CHECK(store_destination_dir(st, &rec, got, sizeof(got), err, sizeof(err)) == -EPERM,
	      "absolute outside the roots: %s", err);
	snprintf(rec.req.destination_conf, sizeof(rec.req.destination_conf), "a/../../x");
	CHECK(store_destination_dir(st, &rec, got, sizeof(got), err, sizeof(err)) == -EINVAL &&
		      strstr(err, "destination_conf: "),
	      "..: %s", err);
}

#define DAY (86400 * S)

/* Retention (store_retain) with the clock driven by the test: memory and disk, never unfinished. */
static void test_retention_removes_old_finished_captures(void)
{
	struct capture_rec old, recent, running, pending, got, list[8];
	size_t removed = 99, n = 0;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &old) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + S, &running) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + 2 * S, &pending) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + 3 * S, &recent) == 0, "create: %s", err);
	CHECK(store_mark_success(st, old.id, "time_limit", SEED_TIME + 60 * S) == 0, "old ends");
	CHECK(store_mark_running(st, running.id, SEED_TIME + S) == 0, "running");
	CHECK(store_mark_failed(st, recent.id, "x", SEED_TIME + 20 * DAY) == 0, "recent fails");
	CHECK(file_exists(old.id, "manifest.json"), "old capture's manifest");

	/* 30 days after the old one finished, less 1 us: nothing goes yet. */
	CHECK(store_retain(st, SEED_TIME + 60 * S + 30 * DAY, 30 * DAY, 0, &removed) == 0,
	      "retain");
	CHECK_EQ_U64(removed, 0, "removed at exactly the retention");
	CHECK(store_get(st, old.id, &got) == 0, "old capture still there");

	CHECK(store_retain(st, SEED_TIME + 60 * S + 30 * DAY + 1, 30 * DAY, 0, &removed) == 0,
	      "retain");
	CHECK_EQ_U64(removed, 1, "removed 1 us later");
	CHECK(store_get(st, old.id, &got) == -ENOENT, "the old record is gone");
	CHECK(!file_exists(old.id, "manifest.json"), "its manifest is gone");
	CHECK(capture_dirs() == 3, "its directory is gone: %d directories left", capture_dirs());
	CHECK(store_list(st, "acct", list, 8, &n) == 0 && n == 3, "3 listed, got %zu", n);
	CHECK(store_get(st, running.id, &got) == 0 && got.status == CAPTURE_RUNNING,
	      "a running capture stays, however old");
	CHECK(store_get(st, pending.id, &got) == 0 && got.status == CAPTURE_PENDING,
	      "a pending capture stays, however old");
	CHECK(store_get(st, recent.id, &got) == 0, "a capture finished 20 days in stays");

	/* The index the rate rules and lists use stays sorted: the newest first. */
	CHECK(list[0].submitted_us > list[1].submitted_us &&
		      list[1].submitted_us > list[2].submitted_us,
	      "the list is still newest first");
	/* The paged list's per-account index follows: the 3 left, newest first, none removed. */
	{
		struct capture_rec page[8];
		size_t total = 0;

		n = 0;
		CHECK(store_list_page(st, "acct", 1, 8, page, &n, &total) == 0, "page");
		CHECK(n == 3 && total == 3, "page: %zu of %zu, want 3 of 3", n, total);
		CHECK(!strcmp(page[0].id, recent.id) && !strcmp(page[1].id, pending.id) &&
			      !strcmp(page[2].id, running.id),
		      "the page holds the kept captures, newest first");
	}
	CHECK(reopen() == 0, "restart: %s", err);
	CHECK(store_get(st, old.id, &got) == -ENOENT, "the old capture does not come back");
}

/*
 * The count rule (--retention-captures): each account keeps its newest max_kept captures in a
 * final status; older ones go from memory and disk, a capture not finished stays and does not
 * count, and the other accounts keep theirs. The indexes follow: every kept id is found, no
 * removed one is, and a capture made after is found too.
 */
static void test_retention_keeps_each_accounts_newest(void)
{
	static struct capture_rec a[300];
	struct capture_rec got, more, list[8];
	size_t removed = 0, n = 0, total = 0, i, kept_a0 = 0, finished[3] = { 0 };
	uint64_t next = 0;
	struct fake f = { 0 };
	char acct[16];

	CHECK(st, "no store");
	/* 300 captures, of accounts a0, a1, a2 in turn; every third of a0's stays pending. */
	for (i = 0; i < 300; i++) {
		snprintf(acct, sizeof(acct), "a%zu", i % 3);
		CHECK(create(acct, &simple_req, SEED_TIME + i * S, &a[i]) == 0, "create: %s", err);
		if (i % 3 == 0 && i % 9 == 0)
			continue;
		CHECK(store_mark_success(st, a[i].id, "time_limit", SEED_TIME + i * S + 1) == 0,
		      "success %zu", i);
	}
	CHECK(store_retain(st, SEED_TIME + 400 * S, 0, 0, &removed) == 0 && removed == 0,
	      "no rule: none removed, got %zu", removed);
	CHECK(store_retain(st, SEED_TIME + 400 * S, 0, 10, &removed) == 0, "retain");
	/* a0: 100 captures, 34 pending (i = 0, 9, ..., 297), 66 finished: 56 go. a1, a2: 90 each.
	 */
	CHECK_EQ_U64(removed, 56 + 90 + 90, "removed");
	for (i = 300; i-- > 0;) {
		bool pending = i % 9 == 0;
		/* Newest first, each account keeps 10 finished ones. */
		bool want = pending || finished[i % 3]++ < 10;
		int r = store_get(st, a[i].id, &got);

		CHECK(r == (want ? 0 : -ENOENT), "capture %zu (%s): got %d", i,
		      pending ? "pending" : "finished", r);
		CHECK(file_exists(a[i].id, "manifest.json") == want, "capture %zu's files", i);
		kept_a0 += i % 3 == 0 && want && !pending;
	}
	CHECK_EQ_U64(kept_a0, 10, "a0 keeps 10 finished");
	CHECK(capture_dirs() == 34 + 30, "directories left: %d", capture_dirs());
	CHECK(store_list_page(st, "a1", 1, 8, list, &n, &total) == 0 && total == 10 && n == 8,
	      "a1's list: %zu of %zu", n, total);
	CHECK(!strcmp(list[0].id, a[298].id), "a1's newest first");
	CHECK(store_get(st, "0123456789abcdef0123456789abcdef", &got) == -ENOENT, "no such id");
	CHECK(create("a1", &simple_req, SEED_TIME + 500 * S, &more) == 0, "create: %s", err);
	CHECK(store_get(st, more.id, &got) == 0, "a capture made after is found");
	/* The pending ones are still the tick's: the oldest's deadline comes first. */
	CHECK(store_tick(st, SEED_TIME + 500 * S, &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(next, SEED_TIME + (60 + 5) * S, "the oldest pending capture's deadline");
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK(store_get(st, a[294].id, &got) == 0 && store_get(st, a[0].id, &got) == 0 &&
		      store_get(st, a[3].id, &got) == -ENOENT,
	      "after a restart, the same");
}

/* Sets a host in id's manifest on disk, as an edit would: tells a read from the disk. */
static int disk_agent_add(const char *id, const char *host)
{
	char path[512];
	json_t *m = disk_manifest(id, path, sizeof(path));
	int ret;

	if (!m)
		return -1;
	ret = json_object_set_new(json_object_get(m, "agents"), host, json_object());
	if (!ret)
		ret = json_dump_file(m, path, JSON_INDENT(2));
	json_decref(m);
	return ret;
}

/*
 * A finished capture's agents leave memory STORE_AGENTS_HOLD_S after its finish (with 10,000
 * agents they are 40 MB, kept retention-days): then whatever reads or changes them reads the
 * manifest on disk, and a manifest that is gone is not written again without them.
 */
static void test_finished_capture_agents_go_to_disk(void)
{
	struct capture_rec rec;
	uint64_t next = 0, end = SEED_TIME + 61 * S;
	struct fake f = { 0 };
	json_t *agent = json_pack("{s:s}", "colo", "ORD"), *m;

	CHECK(st && agent, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "running");
	CHECK(store_update_agent(st, rec.id, "edge-1", agent) == 0, "update");
	CHECK(store_update_agent(st, rec.id, "edge-2", agent) == 0, "update");
	CHECK(store_mark_success(st, rec.id, "time_limit", end) == 0, "success");
	CHECK(disk_agent_add(rec.id, "edited-on-disk") == 0, "edit the manifest");

	CHECK(store_tick(st, end + STORE_AGENTS_HOLD_S * S - 1, &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(next, end + STORE_AGENTS_HOLD_S * S, "the hold's end is the next deadline");
	m = store_manifest(st, rec.id);
	CHECK_EQ_U64(json_object_size(json_object_get(m, "agents")), 2, "held: from memory");
	json_decref(m);

	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(next, UINT64_MAX, "nothing left to wait for");
	/* One more: the tick's list lets it go too. */
	CHECK(store_tick(st, end + STORE_AGENTS_HOLD_S * S + 1, &fake_ops, &f, &next) == 0, "tick");
	m = store_manifest(st, rec.id);
	CHECK(json_object_get(json_object_get(m, "agents"), "edited-on-disk"),
	      "after the hold: read from disk");
	json_decref(m);

	/* A late report after it: the agents on disk, and it. */
	CHECK(store_update_agent(st, rec.id, "edge-late", agent) == 0, "late update");
	CHECK_EQ_U64(disk_agents(rec.id), 4, "edge-1, edge-2, the edit and the late one");
	/* ... which the next tick lets go again. */
	CHECK(store_tick(st, end + 2 * STORE_AGENTS_HOLD_S * S, &fake_ops, &f, &next) == 0, "tick");
	CHECK(disk_agent_add(rec.id, "edited-again") == 0, "edit the manifest");
	m = store_manifest(st, rec.id);
	CHECK(json_object_get(json_object_get(m, "agents"), "edited-again"), "read from disk");
	json_decref(m);
	CHECK(reopen() == 0, "reopen: %s", err);
	m = store_manifest(st, rec.id);
	CHECK_EQ_U64(json_object_size(json_object_get(m, "agents")), 5, "after a restart");
	json_decref(m);

	/* Its manifest gone: a late report fails, and writes no manifest of no agents. */
	CHECK(unlink_manifest(rec.id) == 0, "unlink");
	CHECK(store_update_agent(st, rec.id, "edge-later", agent) == -ENOENT, "refused");
	CHECK(!file_exists(rec.id, "manifest.json"), "no manifest written without its agents");
	CHECK(store_mark_conversion(st, rec.id, CAPTURE_CONVERSION_PENDING, NULL, end) == -EALREADY,
	      "final");
	json_decref(agent);
}

/*
 * A full capture's upload notes each host's progress in its agents: they stay in memory until
 * it is final (complete), however long it takes, and go a hold after that.
 */
static void test_uploading_capture_keeps_its_agents(void)
{
	struct capture_rec rec;
	uint64_t next = 0, t = SEED_TIME + 400 * S;
	struct fake f = { 0 };
	json_t *agent = json_pack("{s:s}", "colo", "ORD"), *m;

	CHECK(st && agent, "no store");
	CHECK(create("acct", &full_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "running");
	CHECK(store_update_agent(st, rec.id, "edge-1", agent) == 0, "update");
	CHECK(store_mark_conversion(st, rec.id, CAPTURE_CONVERSION_PENDING, "time_limit", t) == 0,
	      "conversion");
	CHECK(disk_agent_add(rec.id, "edited-on-disk") == 0, "edit the manifest");
	CHECK(store_tick(st, t + 10 * STORE_AGENTS_HOLD_S * S, &fake_ops, &f, &next) == 0, "tick");
	m = store_manifest(st, rec.id);
	CHECK(!json_object_get(json_object_get(m, "agents"), "edited-on-disk"),
	      "uploading: from memory");
	json_decref(m);
	t += 10 * STORE_AGENTS_HOLD_S * S;
	CHECK(store_mark_complete(st, rec.id, t) == 0, "complete");
	CHECK(disk_agent_add(rec.id, "edited-on-disk") == 0, "edit the manifest");
	/* The hold counts from the final status. */
	CHECK(store_tick(st, t + STORE_AGENTS_HOLD_S * S - S, &fake_ops, &f, &next) == 0, "tick");
	m = store_manifest(st, rec.id);
	CHECK(!json_object_get(json_object_get(m, "agents"), "edited-on-disk"),
	      "complete, within the hold: from memory");
	json_decref(m);
	CHECK(store_tick(st, t + STORE_AGENTS_HOLD_S * S, &fake_ops, &f, &next) == 0, "tick");
	m = store_manifest(st, rec.id);
	CHECK(json_object_get(json_object_get(m, "agents"), "edited-on-disk"),
	      "complete, a hold later: from disk");
	json_decref(m);
	json_decref(agent);
}

/*
 * A manifest write that fails (a full disk; here RLIMIT_FSIZE, which binds root too) leaves
 * the agents in memory the only copy of a report: they must not leave memory at the hold's end
 * before a write has them, or the report is gone and the disk's older agents come back.
 */
static void test_agents_whose_write_failed_stay_until_written(void)
{
	struct capture_rec rec;
	uint64_t next = 0, next2 = 0, next3 = 0, end = SEED_TIME + 61 * S;
	struct fake f = { 0 };
	struct rlimit old, lim;
	char path[512];
	struct stat sb;
	json_t *agent = json_pack("{s:s}", "colo", "ORD"), *m;
	int ret;

	CHECK(st && agent, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "running");
	CHECK(store_update_agent(st, rec.id, "edge-1", agent) == 0, "update");
	CHECK(store_mark_success(st, rec.id, "time_limit", end) == 0, "success");
	snprintf(path, sizeof(path), "%s/captures/%s/manifest.json", dir, rec.id);
	CHECK(stat(path, &sb) == 0, "stat");

	/* The late report's write fails: no file may grow past the manifest's size. */
	signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0, "getrlimit");
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
	ret = store_update_agent(st, rec.id, "edge-late", agent);
	/*
	 * The hold ends while the disk still fails. The write is tried again a second later, not
	 * at once: with no interval, the tick would spin on a failing disk.
	 */
	store_tick(st, end + STORE_AGENTS_HOLD_S * S, &fake_ops, &f, &next);
	next2 = next;
	/* A second later the tick tries again, fails again, and comes back two seconds on. */
	usleep(1100 * 1000);
	store_tick(st, end + STORE_AGENTS_HOLD_S * S + 2 * S, &fake_ops, &f, &next3);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0, "setrlimit");
	signal(SIGXFSZ, SIG_DFL);
	CHECK(ret == -EFBIG, "the late report's write fails: %d", ret);
	CHECK_EQ_U64(disk_agents(rec.id), 1, "not on disk");
	/* (A tenth: the machine may stall between the report and the tick.) */
	CHECK(next2 >= end + STORE_AGENTS_HOLD_S * S + S / 10, "the retry waits: %llu us",
	      (unsigned long long)(next2 - end - STORE_AGENTS_HOLD_S * S));
	CHECK(next3 >= end + STORE_AGENTS_HOLD_S * S + 2 * S + 3 * S / 2 &&
		      next3 <= end + STORE_AGENTS_HOLD_S * S + 5 * S,
	      "after a failed retry the tick comes back, later: %llu us",
	      (unsigned long long)(next3 - end - STORE_AGENTS_HOLD_S * S - 2 * S));

	/* The disk works again. */
	CHECK(store_tick(st, end + STORE_AGENTS_HOLD_S * S + 1, &fake_ops, &f, &next) == 0, "tick");
	m = store_manifest(st, rec.id);
	CHECK(json_object_get(json_object_get(m, "agents"), "edge-late"),
	      "the late report is not lost when the agents leave memory");
	json_decref(m);
	usleep(2100 * 1000);
	CHECK(store_tick(st, next, &fake_ops, &f, &next) == 0, "tick");
	CHECK_EQ_U64(disk_agents(rec.id), 2, "the tick wrote it again");
	CHECK(store_tick(st, next + 1, &fake_ops, &f, &next) == 0, "tick");
	m = store_manifest(st, rec.id);
	CHECK(json_object_get(json_object_get(m, "agents"), "edge-late"), "then from disk");
	json_decref(m);
	CHECK(reopen() == 0, "reopen: %s", err);
	CHECK_EQ_U64(disk_agents(rec.id), 2, "on disk after a restart");
	json_decref(agent);
}

/*
 * A manifest without "agents" loads with none (manifest_parse): a final capture's agents are
 * on disk only after a restart, and are read back the same way, not refused, so a late report
 * is still written.
 */
static void test_manifest_without_agents_stays_writable(void)
{
	struct capture_rec rec;
	char path[512];
	json_t *agent = json_pack("{s:s}", "colo", "ORD"), *m;

	CHECK(st && agent, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &rec) == 0, "create: %s", err);
	CHECK(store_mark_running(st, rec.id, SEED_TIME + S) == 0, "running");
	CHECK(store_mark_success(st, rec.id, "time_limit", SEED_TIME + 61 * S) == 0, "success");
	m = disk_manifest(rec.id, path, sizeof(path));
	CHECK(m && json_object_del(m, "agents") == 0 && json_dump_file(m, path, 0) == 0,
	      "a manifest without agents");
	json_decref(m);
	CHECK(reopen() == 0, "reopen: %s", err);
	m = store_manifest(st, rec.id);
	CHECK(json_is_object(json_object_get(m, "agents")), "its manifest, with no agents");
	json_decref(m);
	CHECK(store_update_agent(st, rec.id, "edge-late", agent) == 0, "a late report");
	CHECK_EQ_U64(disk_agents(rec.id), 1, "written");
	json_decref(agent);
}

static void test_census_counts_by_status_and_type(void)
{
	uint64_t c[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES];
	struct capture_rec a, b;

	CHECK(st, "no store");
	CHECK(create("acct", &simple_req, SEED_TIME, &a) == 0, "create: %s", err);
	CHECK(create("acct", &simple_req, SEED_TIME + S, &b) == 0, "create: %s", err);
	CHECK(create("acct", &full_req, SEED_TIME + 2 * S, NULL) == 0, "create: %s", err);
	CHECK(store_mark_running(st, a.id, SEED_TIME + S) == 0, "running");
	CHECK(store_mark_failed(st, b.id, "x", SEED_TIME + S) == 0, "failed");
	store_census(st, c);
	CHECK_EQ_U64(c[CAPTURE_RUNNING][CAPTURE_SIMPLE], 1, "running simple");
	CHECK_EQ_U64(c[CAPTURE_FAILED][CAPTURE_SIMPLE], 1, "failed simple");
	CHECK_EQ_U64(c[CAPTURE_PENDING][CAPTURE_FULL], 1, "pending full");
	CHECK_EQ_U64(c[CAPTURE_SUCCESS][CAPTURE_SIMPLE], 0, "success simple");
}

/* A capture the census test follows: what its status should be, or that retention took it. */
struct followed {
	struct capture_rec rec;
	enum capture_status want;
	bool gone;
};

/*
 * The census against the statuses f says, and each status's list against both: the same
 * captures, oldest first. A status not final is listed from the busy list, a final one from
 * every record kept.
 */
static void check_census(const struct followed *f, size_t n, const char *when)
{
	uint64_t got[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES];
	uint64_t want[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES] = { { 0 } };
	struct capture_rec *list, rec;
	size_t i, k, len, st_i;

	for (i = 0; i < n; i++) {
		if (!f[i].gone)
			want[f[i].want][f[i].rec.req.type]++;
		CHECK(store_get(st, f[i].rec.id, &rec) == (f[i].gone ? -ENOENT : 0) &&
			      (f[i].gone || rec.status == f[i].want),
		      "%s: capture %zu is %s", when, i,
		      f[i].gone ? "gone" : capture_status_name(f[i].want));
	}
	store_census(st, got);
	for (st_i = 0; st_i <= CAPTURE_STATUS_LAST; st_i++) {
		for (k = 0; k < STORE_CENSUS_TYPES; k++)
			CHECK(got[st_i][k] == want[st_i][k],
			      "%s: census of %s, type %zu: %" PRIu64 ", want %" PRIu64, when,
			      capture_status_name((enum capture_status)st_i), k, got[st_i][k],
			      want[st_i][k]);
		list = NULL;
		len = 0;
		CHECK(store_list_status(st, (enum capture_status)st_i, &list, &len) == 0,
		      "%s: list", when);
		CHECK(len == want[st_i][CAPTURE_SIMPLE] + want[st_i][CAPTURE_FULL],
		      "%s: %zu listed as %s", when, len,
		      capture_status_name((enum capture_status)st_i));
		/* f is in the order the captures came: the list follows it. */
		for (i = 0, k = 0; i < n && k < len; i++) {
			if (!f[i].gone && f[i].want == st_i)
				CHECK(!strcmp(list[k++].id, f[i].rec.id),
				      "%s: %s list, entry %zu is capture %zu", when,
				      capture_status_name((enum capture_status)st_i), k - 1, i);
		}
		free(list);
	}
}

/*
 * The census and the lists by status are kept as captures change (no walk over every record
 * kept): through every transition, a restart's rules, the tick and retention.
 */
static void test_census_and_status_lists_follow_every_change(void)
{
	enum {
		S0,
		S1,
		S2,
		S3,
		F0,
		F1,
		F2,
		F3,
		F4,
		F5,
		S4,
		S5,
		N_CAPS
	};
	static const bool full[N_CAPS] = {
		[F0] = true, [F1] = true, [F2] = true, [F3] = true, [F4] = true, [F5] = true
	};
	struct followed f[N_CAPS];
	struct fake fk = { 0 };
	size_t i, removed = 0;
	uint64_t next = 0, t = SEED_TIME;

	CHECK(st, "no store");
	for (i = 0; i < N_CAPS; i++) {
		CHECK(create("acct", full[i] ? &full_req : &simple_req, t + i * S, &f[i].rec) == 0,
		      "create %zu: %s", i, err);
		f[i].want = CAPTURE_PENDING;
		f[i].gone = false;
	}
	check_census(f, N_CAPS, "all pending");
	/* Every status, finished ones between those that are not. */
	for (i = 0; i < N_CAPS; i++) {
		if (i == S0 || i == F0)
			continue;
		CHECK(store_mark_running(st, f[i].rec.id, t + 20 * S) == 0, "running %zu", i);
		f[i].want = CAPTURE_RUNNING;
	}
	CHECK(store_mark_success(st, f[S2].rec.id, "time_limit", t + 21 * S) == 0, "S2");
	f[S2].want = CAPTURE_SUCCESS;
	CHECK(store_mark_failed(st, f[S3].rec.id, "x", t + 21 * S) == 0, "S3");
	f[S3].want = CAPTURE_FAILED;
	CHECK(store_mark_failed(st, f[F5].rec.id, "x", t + 21 * S) == 0, "F5");
	f[F5].want = CAPTURE_FAILED;
	CHECK(store_mark_success(st, f[S5].rec.id, "packet_limit", t + 21 * S) == 0, "S5");
	f[S5].want = CAPTURE_SUCCESS;
	for (i = F2; i <= F4; i++) {
		CHECK(store_mark_conversion(st, f[i].rec.id, CAPTURE_CONVERSION_PENDING,
					    "time_limit", t + 22 * S) == 0,
		      "conversion %zu", i);
		f[i].want = CAPTURE_CONVERSION_PENDING;
	}
	CHECK(store_mark_conversion(st, f[F3].rec.id, CAPTURE_CONVERSION_RUNNING, NULL,
				    t + 23 * S) == 0,
	      "F3 converting");
	f[F3].want = CAPTURE_CONVERSION_RUNNING;
	CHECK(store_mark_conversion(st, f[F4].rec.id, CAPTURE_CONVERSION_RUNNING, NULL,
				    t + 23 * S) == 0 &&
		      store_mark_complete(st, f[F4].rec.id, t + 24 * S) == 0,
	      "F4 complete");
	f[F4].want = CAPTURE_COMPLETE;
	/* Refused changes count nothing. */
	CHECK(store_mark_success(st, f[F4].rec.id, NULL, t + 25 * S) == -EALREADY &&
		      store_mark_running(st, f[S2].rec.id, t + 25 * S) == -EALREADY,
	      "final stays final");
	check_census(f, N_CAPS, "every status");
	/* The tick prunes its list, and lets the finished ones' agents go after their hold. */
	CHECK(store_tick(st, t + 30 * S, &fake_ops, &fk, &next) == 0, "tick");
	CHECK(store_tick(st, t + (25 + STORE_AGENTS_HOLD_S + 1) * S, &fake_ops, &fk, &next) == 0,
	      "tick after the hold");
	/* Past its deadline (time_limit 60 s and grace 5 s): the tick fails the pending S0. */
	f[S0].want = CAPTURE_FAILED;
	f[F0].want = CAPTURE_FAILED;
	check_census(f, N_CAPS, "after the ticks");
	/* A restart: the running ones resume, and a conversion waits for the uploader again. */
	CHECK(reopen() == 0, "reopen: %s", err);
	check_census(f, N_CAPS, "after a restart");
	CHECK(store_mark_success(st, f[S1].rec.id, "stopped", t + 30 * S) == 0, "S1");
	f[S1].want = CAPTURE_SUCCESS;
	CHECK(store_mark_conversion(st, f[F2].rec.id, CAPTURE_CONVERSION_RUNNING, NULL,
				    t + 30 * S) == 0,
	      "F2 converting");
	f[F2].want = CAPTURE_CONVERSION_RUNNING;
	check_census(f, N_CAPS, "after the restart's changes");
	/* Retention: the account keeps its 3 newest final captures (S5, F5, F4). */
	CHECK(store_retain(st, t + 40 * S, 0, 3, &removed) == 0, "retain");
	CHECK_EQ_U64(removed, 5, "S0, S1, S2, S3, F0 removed");
	f[S0].gone = f[S1].gone = f[S2].gone = f[S3].gone = f[F0].gone = true;
	check_census(f, N_CAPS, "after retention");
	/* A restart with a capture pending: failed by the restart's rules. */
	CHECK(create("acct", &simple_req, t + 41 * S, &f[S0].rec) == 0, "create: %s", err);
	f[S0].want = CAPTURE_FAILED;
	f[S0].gone = false;
	CHECK(reopen() == 0, "reopen: %s", err);
	/* f is no longer in the order the captures came: S0 is the newest. */
	{
		struct followed g[N_CAPS];

		memcpy(g, f + 1, (N_CAPS - 1) * sizeof(*g));
		g[N_CAPS - 1] = f[S0];
		check_census(g, N_CAPS, "after a restart that failed a pending capture");
	}
}

int main(void)
{
	if (request_from_json(simple_body, strlen(simple_body), REQ_SCOPE_API, &simple_req, err,
			      sizeof(err)) ||
	    request_from_json(full_body, strlen(full_body), REQ_SCOPE_API, &full_req, err,
			      sizeof(err))) {
		fprintf(stderr, "test requests do not parse: %s\n", err);
		return 1;
	}
	RUN_WITH(test_ids_are_32_lowercase_hex_and_unique, 0, 0);
	RUN_WITH(test_submitted_is_rfc3339_with_microseconds, 60, 1);
	RUN_WITH(test_submitted_strictly_increases, 0, 1);
	RUN_WITH(test_simple_rule_allows_one_per_interval, 60, 1);
	RUN_WITH(test_simple_rule_interval_is_configurable, 2, 1);
	RUN_WITH(test_simple_rule_off, 0, 1);
	RUN_WITH(test_full_rule_one_pending_or_running, 0, 1);
	RUN_WITH(test_full_rule_limit_is_configurable, 0, 2);
	RUN_WITH(test_full_rule_off, 0, 0);
	RUN_WITH(test_list_is_newest_first_and_capped, 0, 1);
	RUN_WITH(test_manifest_round_trip, 60, 1);
	RUN_WITH(test_manifest_is_written_on_every_change, 60, 1);
	RUN_WITH(test_restart_fails_pending_and_resumes_running, 0, 1);
	RUN_WITH(test_bad_manifests_are_skipped, 60, 1);
	RUN_WITH(test_long_error_message_is_cut_before_a_whole_character, 60, 1);
	RUN_WITH(test_long_messages_from_the_store_are_cut_before_a_whole_character, 60, 1);
	RUN_WITH(test_transitions_are_checked, 60, 1);
	RUN_WITH(test_tick_starts_once_and_expires_at_the_deadline, 60, 1);
	RUN_WITH(test_tick_forwards_a_stop_and_shortens_the_deadline, 60, 1);
	RUN_WITH(test_tick_safety_nets_end_stuck_captures, 0, 1);
	RUN_WITH(test_tick_fails_a_capture_whose_start_fails, 60, 1);
	RUN_WITH(test_no_fanout_ops_fail_with_no_agent, 60, 1);
	RUN_WITH(test_no_agents_ops_end_with_an_empty_pcap, 0, 1);
	RUN_WITH(test_paths, 60, 1);
	RUN_WITH(test_full_capture_goes_through_conversion, 0, 1);
	RUN_WITH(test_list_page_reads_the_account_index, 0, 0);
	RUN_WITH(test_bucket_destinations, 0, 0);
	RUN_WITH(test_create_makes_the_directory_and_the_record, 60, 1);
	RUN_WITH(test_refused_create_leaves_no_directory, 60, 1);
	RUN_WITH(test_directories_are_0750_whatever_the_umask, 60, 1);
	RUN_WITH(test_racing_creates_keep_the_rules, 0, 1);
	RUN_WITH(test_retention_removes_old_finished_captures, 0, 0);
	RUN_WITH(test_census_counts_by_status_and_type, 0, 0);
	RUN_WITH(test_census_and_status_lists_follow_every_change, 0, 0);
	RUN_WITH(test_retention_keeps_each_accounts_newest, 0, 0);
	RUN_WITH(test_finished_capture_agents_go_to_disk, 60, 1);
	RUN_WITH(test_uploading_capture_keeps_its_agents, 0, 1);
	RUN_WITH(test_agents_whose_write_failed_stay_until_written, 60, 1);
	RUN_WITH(test_manifest_without_agents_stays_writable, 60, 1);
	RUN_WITH(test_manifest_writes_are_debounced, 0, 0);
	RUN_WITH(test_wall_clock_steps_move_no_rule, 60, 1);
	RUN_WITH(test_restart_after_a_backward_step_still_ends, 60, 1);
	return TEST_SUMMARY();
}
