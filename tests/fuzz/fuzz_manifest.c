// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_manifest.c: a capture's manifest, captures/<id>/manifest.json, as the aggregator reads it
 * back at start (aggregator/manifest.c's manifest_parse, from store_load.c's capture_load). The
 * input goes through the codec (json_loadb as capture_load loads it, then manifest_parse) and
 * through the real read path: store_open on a state directory (a temp directory, one a process,
 * emptied between inputs) holding the input as the manifest of capture ID. Properties:
 *   - a refusal is -EINVAL with why naming the bad member ("MEMBER: ..."), or -ENOMEM;
 *   - an accepted capture has the directory's id, a valid status, an account that passes
 *     store_account_valid, a request that passes request_validate, a submitted time, an
 *     "agents" object, and every string NUL-terminated within its buffer;
 *   - what is accepted is written back (manifest_json) and read again to the same record: a
 *     restart after the next manifest write loads the same capture;
 *   - store_open loads the capture exactly when the codec accepts it, with the same record
 *     (but for the restart rules: pending becomes failed, running is resumed).
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

#include "fuzz.h"
#include "log.h"
#include "manifest.h"
#include "request.h"
#include "store.h"
#include "store_internal.h"

#define ID "0123456789abcdef0123456789abcdef"

/* The members manifest_parse may name in a refusal (docs/manifest.md). */
static const char *const members[] = {
	"version",	 "id",	    "account_id",     "request",  "status",
	"submitted",	 "started", "stop_requested", "finished", "stop_reason",
	"error_message", "packets", "bytes",	      "agents",	  "truncated",
};

static char base[PATH_MAX];

/* The process's temp directory: tmpfs when there is one (a store fsyncs what it writes). */
static void setup(void)
{
	fuzz_tmpdir(base, sizeof(base), "manifest");
	log_set_level(LOG_LEVEL_ERROR);
}

static bool nul_within(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

static bool names_a_member(const char *why)
{
	size_t i, n;

	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		n = strlen(members[i]);
		if (!strncmp(why, members[i], n) && why[n] == ':' && why[n + 1] == ' ')
			return true;
	}
	return false;
}

static void check_accepted(const struct store_capture *c)
{
	char err[256];

	FUZZ_ASSERT(nul_within(c->rec.id, sizeof(c->rec.id)) && !strcmp(c->rec.id, ID));
	FUZZ_ASSERT(nul_within(c->rec.account, sizeof(c->rec.account)));
	FUZZ_ASSERT(store_account_valid(c->rec.account));
	FUZZ_ASSERT((int)c->rec.status >= CAPTURE_PENDING && c->rec.status <= CAPTURE_STATUS_LAST);
	FUZZ_ASSERT(request_validate(&c->rec.req, REQ_SCOPE_API, err, sizeof(err)) == 0);
	FUZZ_ASSERT(c->rec.submitted_us != 0);
	FUZZ_ASSERT(nul_within(c->rec.stop_reason, sizeof(c->rec.stop_reason)));
	FUZZ_ASSERT(nul_within(c->rec.error_message, sizeof(c->rec.error_message)));
	FUZZ_ASSERT(json_is_object(c->agents));
}

/* The members of a record that its manifest carries. */
static bool same_record(const struct capture_rec *a, const struct capture_rec *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->account, b->account) &&
	       a->req.type == b->req.type && a->colo_as_colo == b->colo_as_colo &&
	       a->status == b->status && a->submitted_us == b->submitted_us &&
	       a->started_us == b->started_us && a->stop_requested_us == b->stop_requested_us &&
	       a->finished_us == b->finished_us && a->packets == b->packets &&
	       a->bytes == b->bytes && !strcmp(a->stop_reason, b->stop_reason) &&
	       !strcmp(a->error_message, b->error_message) && a->truncated == b->truncated;
}

/* manifest_json, then manifest_parse again: the same record. */
static void check_round_trip(const struct store_capture *c)
{
	struct store_capture again = { 0 };
	char why[512] = "";
	json_t *m;
	int ret;

	m = manifest_json(c);
	FUZZ_ASSERT(m);
	ret = manifest_parse(m, ID, &again, why, sizeof(why));
	if (ret)
		fprintf(stderr, "written back, refused: %s\n", why);
	FUZZ_ASSERT(ret == 0);
	FUZZ_ASSERT(same_record(&c->rec, &again.rec));
	FUZZ_ASSERT(json_equal(c->agents, again.agents));
	json_decref(again.agents);
	json_decref(m);
}

/* The input as captures/ID/manifest.json of a fresh state directory. */
static void write_state(const uint8_t *data, size_t size)
{
	char path[PATH_MAX + 64];
	int fd;

	fuzz_rmtree(base);
	FUZZ_ASSERT(!mkdir(base, 0700));
	snprintf(path, sizeof(path), "%s/captures", base);
	FUZZ_ASSERT(!mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/captures/" ID, base);
	FUZZ_ASSERT(!mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/captures/" ID "/manifest.json", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

/* What store_open makes of it: the capture iff the codec took it (accepted: NULL if not). */
static void check_store(const uint8_t *data, size_t size, const struct store_capture *accepted)
{
	struct store_opts opts = { .state_dir = base };
	struct capture_rec rec, want;
	struct store *s = NULL;
	char err[PATH_MAX + 256];
	int ret;

	write_state(data, size);
	ret = store_open(&opts, &s, err, sizeof(err));
	if (ret)
		fprintf(stderr, "store_open: %s\n", err);
	FUZZ_ASSERT(ret == 0);
	ret = store_get(s, ID, &rec);
	FUZZ_ASSERT(accepted ? ret == 0 : ret == -ENOENT);
	if (accepted) {
		want = accepted->rec;
		/* The restart rules (store.h, "Restart"). */
		if (want.status == CAPTURE_PENDING) {
			FUZZ_ASSERT(rec.status == CAPTURE_FAILED);
			FUZZ_ASSERT(rec.error_message[0] && rec.finished_us);
			FUZZ_ASSERT(!rec.resumed);
		} else {
			FUZZ_ASSERT(same_record(&rec, &want));
			FUZZ_ASSERT(rec.resumed == (want.status == CAPTURE_RUNNING));
		}
		FUZZ_ASSERT(store_account_valid(rec.account));
	}
	store_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_capture c = { 0 };
	char why[512] = "";
	json_error_t jerr;
	json_t *m;
	int ret = -EINVAL;

	if (!base[0])
		setup();
	/* As capture_load reads the file. */
	m = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (m) {
		ret = manifest_parse(m, ID, &c, why, sizeof(why));
		FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
		if (ret == -EINVAL) {
			FUZZ_ASSERT(nul_within(why, sizeof(why)));
			if (!names_a_member(why))
				fprintf(stderr, "refusal names no member: \"%s\"\n", why);
			FUZZ_ASSERT(names_a_member(why));
		}
		if (!ret) {
			check_accepted(&c);
			check_round_trip(&c);
		}
		json_decref(m);
	}
	if (ret != -ENOMEM)
		check_store(data, size, ret ? NULL : &c);
	json_decref(c.agents);
	return 0;
}
