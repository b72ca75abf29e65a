// SPDX-License-Identifier: BSD-2-Clause
/*
 * store.c: the capture store's record state machine (store.h): records in memory, oldest first,
 * behind one mutex; each change written to the capture's manifest (manifest.c); the rate rules;
 * the lifecycle timers that store_tick runs for the main loop. Opening, loading and the restart
 * rules are store_load.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "log.h"
#include "manifest.h"
#include "osrandom.h"
#include "safefile.h"
#include "store_internal.h"
#include "wire.h"

static const char *const status_names[] = {
	[CAPTURE_PENDING] = "pending",
	[CAPTURE_RUNNING] = "running",
	[CAPTURE_SUCCESS] = "success",
	[CAPTURE_FAILED] = "failed",
	[CAPTURE_CONVERSION_PENDING] = "conversion_pending",
	[CAPTURE_CONVERSION_RUNNING] = "conversion_running",
	[CAPTURE_COMPLETE] = "complete",
};

const char *capture_status_name(enum capture_status st)
{
	if ((unsigned int)st < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[st];
	return "unknown";
}

bool capture_status_captured(enum capture_status st)
{
	return st != CAPTURE_PENDING && st != CAPTURE_RUNNING;
}

bool capture_status_final(enum capture_status st)
{
	return st == CAPTURE_SUCCESS || st == CAPTURE_FAILED || st == CAPTURE_COMPLETE;
}

/* The agents are done with it: no lifecycle work, no stop, not counted as active. */
static bool finished(const struct store_capture *c)
{
	return capture_status_captured(c->rec.status);
}

bool store_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < STORE_ID_LEN; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return id[STORE_ID_LEN] == '\0';
}

bool store_account_valid(const char *account)
{
	size_t i;

	for (i = 0; account[i]; i++) {
		if (i == STORE_ACCOUNT_MAX ||
		    !(isalnum((unsigned char)account[i]) || account[i] == '-' || account[i] == '_'))
			return false;
	}
	return i > 0;
}

void rfc3339_us_format(uint64_t us, char *buf, size_t len)
{
	time_t sec = (time_t)(us / US_PER_S);
	struct tm tm;
	int n;

	if (!gmtime_r(&sec, &tm)) {
		snprintf(buf, len, "invalid time");
		return;
	}
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (unsigned int)(us % US_PER_S));
	/*
	 * Only a year past 9999 (or a buffer below RFC3339_US_LEN) does not fit: a cut-off time
	 * would read as another one, so it is not written at all.
	 */
	if (n < 0 || (size_t)n >= len)
		snprintf(buf, len, "invalid time");
}

/* The decimal value of n digits at s, or -1 when one is not a digit. */
static long digits(const char *s, int n)
{
	long v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int rfc3339_us_parse(const char *s, uint64_t *us)
{
	long year, mon, day, hour, min, sec, frac;
	struct tm tm = { 0 }, check;
	time_t t;

	if (strlen(s) != RFC3339_US_LEN - 1 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z')
		return -EINVAL;
	year = digits(s, 4);
	mon = digits(s + 5, 2);
	day = digits(s + 8, 2);
	hour = digits(s + 11, 2);
	min = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	frac = digits(s + 20, 6);
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
	    min < 0 || min > 59 || sec < 0 || sec > 59 || frac < 0)
		return -EINVAL;
	tm.tm_year = (int)year - 1900;
	tm.tm_mon = (int)mon - 1;
	tm.tm_mday = (int)day;
	tm.tm_hour = (int)hour;
	tm.tm_min = (int)min;
	tm.tm_sec = (int)sec;
	t = timegm(&tm);
	/* timegm normalizes 31 April into 1 May: a date that does not come back is not a date. */
	if (t < 0 || !gmtime_r(&t, &check) || check.tm_mday != (int)day ||
	    check.tm_mon != (int)mon - 1)
		return -EINVAL;
	*us = (uint64_t)t * US_PER_S + (uint64_t)frac;
	return 0;
}

int store_path_join(char *buf, size_t len, const char *a, const char *b, const char *c)
{
	int n;

	n = snprintf(buf, len, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int store_capture_dir(const struct store *s, const char *id, char *buf, size_t len)
{
	char sub[16 + STORE_ID_LEN];

	snprintf(sub, sizeof(sub), "captures/%.32s", id);
	return store_path_join(buf, len, s->state_dir, sub, NULL);
}

int store_pcap_path(const struct store *s, const char *id, char *buf, size_t len)
{
	char sub[16 + STORE_ID_LEN];

	snprintf(sub, sizeof(sub), "captures/%.32s", id);
	return store_path_join(buf, len, s->state_dir, sub, PCAP_NAME);
}

/* The destination's root index and the path beneath it; err starts "destination_conf: ". */
static int dest_confine(const struct store *s, const struct capture_rec *c, size_t *root, char *rel,
			size_t rellen, char *err, size_t errlen)
{
	const char *d = c->req.destination_conf;
	char why[PATH_MAX + 256];
	int ret;

	if (!d[0]) {
		snprintf(err, errlen, "destination_conf: missing");
		return -EINVAL;
	}
	/* request_validate let through only file:// URLs with an absolute path, and plain paths. */
	if (!strncasecmp(d, "file://", 7))
		d += 7;
	ret = safe_confine(s->dest_root, s->n_dest_roots, d, root, rel, rellen, why, sizeof(why));
	if (ret == -EPERM)
		snprintf(err, errlen,
			 "destination_conf: %s (a destination must lie beneath a "
			 "--destination-root)",
			 why);
	else if (ret)
		snprintf(err, errlen, "destination_conf: %s", why);
	return ret;
}

bool store_is_bucket(const struct capture_rec *c)
{
	return c->req.type == CAPTURE_FULL && bucket_url_is(c->req.destination_conf);
}

int store_upload_dir(const struct store *s, const char *id, char *buf, size_t len)
{
	char sub[16 + STORE_ID_LEN];

	snprintf(sub, sizeof(sub), "captures/%.32s", id);
	return store_path_join(buf, len, s->state_dir, sub, UPLOAD_DIR_NAME);
}

/* A bucket destination: one of --s3-allow-bucket, owned by the account (store_opts). */
static int bucket_allowed(const struct store *s, const char *account, const char *dest, char *err,
			  size_t errlen)
{
	struct bucket_url u;
	size_t i;
	int ret;

	ret = bucket_url_parse(dest, &u, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < s->n_buckets && strcmp(s->bucket[i], u.bucket); i++)
		;
	if (i == s->n_buckets) {
		snprintf(err, errlen,
			 "destination_conf: bucket \"%s\" is not one this aggregator may write to "
			 "(%s)",
			 u.bucket,
			 s->n_buckets ? "not among its --s3-allow-bucket names"
				      : "it was started without --s3-allow-bucket");
		return -EINVAL;
	}
	if (account && s->opts.bucket_owned)
		return s->opts.bucket_owned(s->opts.bucket_owned_ctx, account, dest, err, errlen);
	return 0;
}

/* A bucket capture's upload directory, made (0750) when create; *fd when fd is not NULL. */
static int upload_dir_open(const struct store *s, const struct capture_rec *c, bool create, int *fd,
			   char *buf, size_t len, char *err, size_t errlen)
{
	int dfd, ret;

	if (store_upload_dir(s, c->id, buf, len)) {
		snprintf(err, errlen, "the state directory's path is too long");
		return -ENAMETOOLONG;
	}
	if (!create)
		return 0;
	ret = file_mkdir_durably(buf, 0750);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", buf, strerror(-ret));
		return ret;
	}
	dfd = open(buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", buf, strerror(errno));
		return -errno;
	}
	if (fd)
		*fd = dfd;
	else
		close(dfd);
	return 0;
}

int store_destination_dir(const struct store *s, const struct capture_rec *c, char *buf, size_t len,
			  char *err, size_t errlen)
{
	char rel[PATH_MAX];
	size_t root;
	int ret, n;

	if (store_is_bucket(c))
		return upload_dir_open(s, c, false, NULL, buf, len, err, errlen);
	ret = dest_confine(s, c, &root, rel, sizeof(rel), err, errlen);
	if (ret)
		return ret;
	n = snprintf(buf, len, "%s%s%s", s->dest_root[root], rel[0] ? "/" : "", rel);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "destination_conf: path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Walks (create: makes) the destination beneath its root; *fd when fd is not NULL. */
static int dest_walk(const struct store *s, const struct capture_rec *c, bool create, int *fd,
		     char *buf, size_t len, char *err, size_t errlen)
{
	char rel[PATH_MAX];
	int rootfd, dfd, ret;
	size_t root;

	if (store_is_bucket(c))
		return upload_dir_open(s, c, create, fd, buf, len, err, errlen);
	ret = dest_confine(s, c, &root, rel, sizeof(rel), err, errlen);
	if (!ret)
		ret = store_destination_dir(s, c, buf, len, err, errlen);
	if (ret)
		return ret;
	ret = safe_open_root(s->dest_root[root], &rootfd);
	if (ret) {
		snprintf(err, errlen, "destination root %s: %s", s->dest_root[root],
			 strerror(-ret));
		return ret;
	}
	ret = safe_open_dir(rootfd, rel, create, &dfd);
	close(rootfd);
	if (ret == -ENOENT && !create)
		return 0; /* made when the capture starts */
	if (ret == -ELOOP) {
		snprintf(err, errlen,
			 "destination_conf: %s: a symbolic link is on the way beneath %s (not "
			 "followed)",
			 c->req.destination_conf, s->dest_root[root]);
		return ret;
	}
	if (ret == -ENOTDIR) {
		snprintf(err, errlen, "destination_conf: %s: not a directory", buf);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "cannot open the destination %s: %s", buf, strerror(-ret));
		return ret;
	}
	if (fd)
		*fd = dfd;
	else
		close(dfd);
	return 0;
}

int store_destination_open(const struct store *s, const struct capture_rec *c, int *fd, char *buf,
			   size_t len, char *err, size_t errlen)
{
	return dest_walk(s, c, true, fd, buf, len, err, errlen);
}

/*
 * A full capture's destination, checked before anything is written: beneath a root, and no
 * symlink among the parts that exist already. -EINVAL (err names destination_conf) otherwise.
 */
static int check_destination(const struct store *s, const char *account,
			     const struct capture_request *req, char *err, size_t errlen)
{
	struct capture_rec rec = { .req = *req };
	char buf[PATH_MAX];
	int ret;

	if (req->type != CAPTURE_FULL)
		return 0;
	if (store_is_bucket(&rec)) {
		ret = bucket_allowed(s, account, req->destination_conf, err, errlen);
		return ret == -EPERM ? -EINVAL : ret;
	}
	ret = dest_walk(s, &rec, false, NULL, buf, sizeof(buf), err, errlen);
	if (ret == -EPERM || ret == -ELOOP || ret == -ENOTDIR || ret == -ENAMETOOLONG)
		ret = -EINVAL;
	return ret;
}

int store_wake_fd(const struct store *s)
{
	return s->wake_fd;
}

static void wake(struct store *s)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is already non-zero, so the fd is readable anyway. */
	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("failed to wake the main loop: %s", strerror(errno));
}

void store_capture_free(struct store_capture *c)
{
	if (!c)
		return;
	json_decref(c->agents);
	free(c);
}

json_t *store_request_json(const struct capture_rec *c)
{
	json_t *req, *colo;

	req = request_to_json(&c->req);
	if (!req || !c->colo_as_colo)
		return req;
	colo = json_object_get(req, "colo_name");
	if (colo && json_object_set(req, "colo", colo)) {
		json_decref(req);
		return NULL;
	}
	json_object_del(req, "colo_name");
	return req;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * c's agents in memory: a finished capture's are read back from its manifest (err says why),
 * and the tick lets them go again (they are past their hold, or a load would not need them).
 */
static int agents_load(struct store *s, struct store_capture *c, char *err, size_t errlen)
{
	json_t *m;
	int ret;

	if (c->agents)
		return 0;
	ret = manifest_read(s, c->rec.id, &m, err, errlen);
	if (ret)
		return ret;
	c->agents = json_incref(json_object_get(m, "agents"));
	json_decref(m);
	store_busy_add(s, c);
	wake(s);
	return 0;
}

/* For changes that are made in memory whatever the disk says: the failure is logged. */
static int persist(struct store *s, struct store_capture *c)
{
	char err[PATH_MAX + 128];
	bool failed = false;
	int ret;

	/* A manifest is never written without its agents: the change waits in memory. */
	ret = agents_load(s, c, err, sizeof(err));
	if (!ret) {
		ret = manifest_write(s, c, err, sizeof(err));
		failed = ret != 0;
	}
	if (ret)
		pr_err("%s", err);
	/*
	 * Written or not, the next try waits: a failing disk is not hammered either. A failed
	 * write leaves the manifest lagging: the agents in memory may be the only copy of a
	 * report, so the tick writes it again (manifest_due: 1 s after, doubling up to a minute
	 * while it keeps failing), and lets them go only once it is written.
	 */
	c->manifest_dirty = failed;
	if (failed) {
		if (c->manifest_fails < UINT8_MAX)
			c->manifest_fails++;
		store_busy_add(s, c);
	} else {
		c->manifest_fails = 0;
	}
	c->manifest_mono_us = mono_us();
	return ret;
}

void store_manifest_flush(struct store *s, struct store_capture *c)
{
	if (c->manifest_dirty)
		persist(s, c);
}

/* When c's lagging manifest is due (monotonic), or UINT64_MAX when it does not lag. */
static uint64_t manifest_due(const struct store *s, const struct store_capture *c)
{
	uint64_t wait = (uint64_t)s->opts.manifest_interval_ms * 1000;

	if (!c->manifest_dirty)
		return UINT64_MAX;
	/*
	 * Not at once after a failed write, even with no interval (the tick would spin), and
	 * less often while it keeps failing (a directory gone, a file system read-only).
	 */
	if (c->manifest_fails) {
		uint64_t retry = (uint64_t)STORE_MANIFEST_RETRY_MS * 1000
				 << (c->manifest_fails < 7 ? c->manifest_fails - 1 : 6);

		if (retry > STORE_MANIFEST_RETRY_MAX_MS * 1000)
			retry = STORE_MANIFEST_RETRY_MAX_MS * 1000;
		if (wait < retry)
			wait = retry;
	}
	return c->manifest_mono_us + wait;
}

/* A capture id is a wire capture id in its text form: the agents carry it in every message. */
_Static_assert(STORE_ID_LEN + 1 == WIRE_CAPTURE_ID_HEX_LEN, "store ids are wire capture ids");

static int gen_id(char *id)
{
	uint8_t raw[WIRE_CAPTURE_ID_LEN];
	int ret = osrandom_fill(raw, sizeof(raw));

	if (ret)
		return ret;
	wire_capture_id_format(raw, id);
	return 0;
}

int store_grow(struct store *s)
{
	struct store_capture **caps;
	size_t cap;

	if (s->n < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 64;
	caps = realloc(s->caps, cap * sizeof(*caps));
	if (!caps)
		return -ENOMEM;
	s->caps = caps;
	s->cap = cap;
	return 0;
}

/* The account's full captures that are pending or running; *one is the newest. */
static unsigned int active_full(const struct store *s, const char *account, const char **one)
{
	unsigned int n = 0;
	size_t i;

	/* Every capture not finished is on the busy list, in the order they came. */
	for (i = 0; i < s->n_busy; i++) {
		const struct store_capture *c = s->busy[i];

		if (c->rec.req.type == CAPTURE_FULL && !finished(c) &&
		    !strcmp(c->rec.account, account)) {
			*one = c->rec.id;
			n++;
		}
	}
	return n;
}

/* The account's newest simple capture, or NULL. Its positions are oldest first. */
static const struct store_capture *last_simple(const struct store *s, const char *account)
{
	const struct store_account_index *x = store_account_find(s, account);
	size_t i;

	for (i = x ? x->n : 0; i-- > 0;) {
		const struct store_capture *c = s->caps[x->pos[i]];

		if (c->rec.req.type == CAPTURE_SIMPLE)
			return c;
	}
	return NULL;
}

/*
 * The rate rules of the API, per account, checked under the lock (store_create: before and with
 * the insertion). A refusal names only the account's own captures.
 */
static int check_rules(struct store *s, const char *account, const struct capture_request *req,
		       uint64_t now_us, uint32_t *retry_after_s, char *err, size_t errlen)
{
	uint64_t interval = (uint64_t)s->opts.simple_interval_s * US_PER_S, left;
	const struct store_capture *last;
	char when[RFC3339_US_LEN];
	const char *one = "";
	unsigned int n;

	last = req->type == CAPTURE_SIMPLE && interval ? last_simple(s, account) : NULL;
	if (last && now_us < last->submitted_at + interval) {
		left = last->submitted_at + interval - now_us;
		if (retry_after_s)
			*retry_after_s = (uint32_t)((left + US_PER_S - 1) / US_PER_S);
		rfc3339_us_format(last->rec.submitted_us, when, sizeof(when));
		snprintf(err, errlen,
			 "rate limited: at most one simple capture every %" PRIu32
			 " s; the last one (%s) was submitted at %s, try again in %" PRIu64 " s",
			 s->opts.simple_interval_s, last->rec.id, when,
			 (uint64_t)((left + US_PER_S - 1) / US_PER_S));
		return -EAGAIN;
	}
	if (req->type == CAPTURE_FULL && s->opts.max_full) {
		n = active_full(s, account, &one);
		if (n >= s->opts.max_full) {
			if (s->opts.max_full == 1)
				snprintf(err, errlen,
					 "rate limited: a full capture (%s) is already pending or "
					 "running, and only one may be at a time",
					 one);
			else
				snprintf(err, errlen,
					 "rate limited: %u full captures are already pending or "
					 "running (the newest is %s), and at most %" PRIu32
					 " may be at a time",
					 n, one, s->opts.max_full);
			return -EBUSY;
		}
	}
	return 0;
}

/* Undoes create_files: the capture's manifest and its directory. */
static void remove_files(const char *dir)
{
	char path[PATH_MAX];

	if (!store_path_join(path, sizeof(path), dir, MANIFEST_NAME, NULL) && unlink(path) &&
	    errno != ENOENT)
		pr_warn("failed to remove %s: %s", path, strerror(errno));
	if (rmdir(dir))
		pr_warn("failed to remove %s: %s", dir, strerror(errno));
}

/*
 * A fresh id whose directory did not exist, that directory made (dir), and c's manifest in it.
 * Called without the lock: mkdir and the manifest's fsyncs must not stall the HTTP thread.
 * *tries counts the ids that were taken, across calls.
 */
static int create_files(struct store *s, struct store_capture *c, int *tries, char *dir,
			size_t dirlen, char *err, size_t errlen)
{
	char werr[PATH_MAX + 128];
	int ret;

	/* 128 random bits do not collide; the loop guards against a broken random source. */
	for (;; (*tries)++) {
		if (*tries >= 8) {
			snprintf(err, errlen, "failed to make a fresh capture id after %d tries",
				 *tries);
			return -EEXIST;
		}
		ret = gen_id(c->rec.id);
		if (ret) {
			snprintf(err, errlen, "failed to make a capture id: getrandom: %s",
				 strerror(-ret));
			return ret;
		}
		ret = store_capture_dir(s, c->rec.id, dir, dirlen);
		if (ret) {
			snprintf(err, errlen, "failed to store the capture: state path too long");
			return ret;
		}
		/* Durably: an acknowledged capture must not vanish with its directory. */
		ret = file_mkdir_durably(dir, 0750);
		if (!ret)
			break;
		if (ret != -EEXIST) {
			snprintf(err, errlen, "failed to create %s: %s", dir, strerror(-ret));
			return ret;
		}
	}
	ret = manifest_write(s, c, werr, sizeof(werr));
	if (ret) {
		snprintf(err, errlen, "%s", werr);
		remove_files(dir);
	}
	return ret;
}

int store_create(struct store *s, const char *account, const struct capture_request *req,
		 bool colo_as_colo, uint64_t now_us, struct capture_rec *out,
		 uint32_t *retry_after_s, char *err, size_t errlen)
{
	struct store_capture *c = NULL;
	char dir[PATH_MAX];
	int ret, tries = 0;
	bool taken;

	if (!account || !store_account_valid(account) || !req) {
		snprintf(err, errlen, "account_id: must be 1 to %d letters, digits, '-' or '_'",
			 STORE_ACCOUNT_MAX);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->agents = json_object();
	if (!c || !c->agents) {
		snprintf(err, errlen, "failed to store the capture: out of memory");
		store_capture_free(c);
		return -ENOMEM;
	}
	snprintf(c->rec.account, sizeof(c->rec.account), "%s", account);
	ret = check_destination(s, account, req, err, errlen);
	if (ret) {
		/* An attempt to write outside the roots is worth a line in the log. */
		pr_warn_ratelimited("refused a full capture for account %s: %s account=%s", account,
				    err, account);
		store_capture_free(c);
		return ret;
	}
	c->rec.req = *req;
	c->rec.colo_as_colo = colo_as_colo;
	c->rec.status = CAPTURE_PENDING;

	/*
	 * The rules are checked twice: before the files are made, so that a refused capture
	 * leaves nothing on disk, and again with the insertion, since another create may have
	 * come in between. The files are made in between, unlocked.
	 */
	for (;;) {
		pthread_mutex_lock(&s->lock);
		ret = check_rules(s, account, req, now_us, retry_after_s, err, errlen);
		/* Strictly increasing: "newest first" is one order, after a restart too. */
		c->rec.submitted_us = store_wall_us(now_us) > s->last_submitted_us
					      ? store_wall_us(now_us)
					      : s->last_submitted_us + 1;
		c->submitted_at = now_us;
		pthread_mutex_unlock(&s->lock);
		if (ret)
			goto out;

		ret = create_files(s, c, &tries, dir, sizeof(dir), err, errlen);
		if (ret)
			goto out;

		pthread_mutex_lock(&s->lock);
		ret = check_rules(s, account, req, now_us, retry_after_s, err, errlen);
		if (!ret && store_grow(s)) {
			ret = -ENOMEM;
			snprintf(err, errlen, "failed to store the capture: out of memory");
		}
		taken = !ret && store_find(s, c->rec.id);
		if (!ret && !taken && c->rec.submitted_us > s->last_submitted_us)
			break; /* with the lock held */
		pthread_mutex_unlock(&s->lock);
		remove_files(dir);
		if (ret)
			goto out;
		/* Another create took the next submitted time (or the id): again, with new ones. */
		if (taken)
			tries++;
	}
	c->start_due = true;
	s->caps[s->n++] = c;
	if (store_index_add(s, s->n - 1)) {
		s->n--;
		pthread_mutex_unlock(&s->lock);
		remove_files(dir);
		ret = -ENOMEM;
		snprintf(err, errlen, "failed to store the capture: out of memory");
		goto out;
	}
	s->last_submitted_us = c->rec.submitted_us;
	if (out)
		*out = c->rec;
	wake(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
out:
	store_capture_free(c);
	return ret;
}

int store_get(struct store *s, const char *id, struct capture_rec *out)
{
	struct store_capture *c;
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (c) {
		*out = c->rec;
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_list(struct store *s, const char *account, struct capture_rec *out, size_t max, size_t *n)
{
	size_t i;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	for (i = s->n; i > 0 && *n < max; i--) {
		const struct store_capture *c = s->caps[i - 1];

		if (!account || !strcmp(c->rec.account, account))
			out[(*n)++] = c->rec;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int store_list_page(struct store *s, const char *account, size_t page, size_t per_page,
		    struct capture_rec *out, size_t *n, size_t *total)
{
	const struct store_account_index *x;
	size_t skip, i;

	*n = 0;
	*total = 0;
	if (!page || !per_page)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	x = store_account_find(s, account);
	if (x) {
		*total = x->n;
		skip = (page - 1) * per_page;
		/* Newest first: from the end of the account's positions. */
		for (i = skip; i < x->n && *n < per_page && skip / per_page == page - 1; i++)
			out[(*n)++] = s->caps[x->pos[x->n - 1 - i]]->rec;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Copies of the records for which pick(c, arg) holds, oldest first, into a new array (*out,
 * NULL when none; the caller frees it); 0 or -ENOMEM. not_final: pick takes no final capture,
 * and the busy list, which holds every capture not final in the order they came, is read in
 * place of every record kept (store_internal.h).
 */
static int list_where(struct store *s, bool (*pick)(const struct store_capture *c, const void *arg),
		      const void *arg, bool not_final, struct capture_rec **out, size_t *n)
{
	struct store_capture **from;
	size_t i, k = 0, len;
	int ret = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->lock);
	from = not_final ? s->busy : s->caps;
	len = not_final ? s->n_busy : s->n;
	for (i = 0; i < len; i++)
		k += pick(from[i], arg);
	if (!k)
		goto out;
	*out = calloc(k, sizeof(**out));
	if (!*out) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < len; i++) {
		if (pick(from[i], arg))
			(*out)[(*n)++] = from[i]->rec;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static bool resumed_unfinished(const struct store_capture *c, const void *arg)
{
	(void)arg;
	return c->rec.resumed && !finished(c);
}

int store_list_resumed(struct store *s, struct capture_rec **out, size_t *n)
{
	return list_where(s, resumed_unfinished, NULL, true, out, n);
}

int store_request_stop(struct store *s, const char *id, uint64_t now_us, struct capture_rec *out)
{
	struct store_capture *c;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (!c) {
		ret = -ENOENT;
		goto out;
	}
	if (finished(c)) {
		ret = -EALREADY;
	} else if (!c->rec.stop_requested_us) {
		c->rec.stop_requested_us = store_wall_us(now_us);
		c->stop_at = now_us;
		c->stop_due = true;
		/* The stop stands in memory even when the disk refuses; persist logged why. */
		persist(s, c);
		wake(s);
	}
	if (out)
		*out = c->rec;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Looks id up for a status change: -ENOENT, -EALREADY when finished, else 0 and *cp. */
static int find_unfinished(struct store *s, const char *id, struct store_capture **cp)
{
	*cp = store_find(s, id);
	if (!*cp)
		return -ENOENT;
	return capture_status_final((*cp)->rec.status) ? -EALREADY : 0;
}

int store_mark_running(struct store *s, const char *id, uint64_t now_us)
{
	struct store_capture *c;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = find_unfinished(s, id, &c);
	if (!ret && c->rec.status == CAPTURE_PENDING) {
		store_set_status(s, c, CAPTURE_RUNNING);
		c->rec.started_us = store_wall_us(now_us);
		c->started_at = now_us;
		ret = persist(s, c);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Any unfinished status -> success or failed; no ops are due for a finished capture. */
int store_capture_finish(struct store *s, struct store_capture *c, enum capture_status st,
			 const char *reason, const char *message, uint64_t now_us)
{
	store_set_status(s, c, st);
	c->rec.finished_us = store_wall_us(now_us);
	c->finished_at = now_us;
	if (reason)
		manifest_str_copy(c->rec.stop_reason, sizeof(c->rec.stop_reason), reason);
	if (message)
		manifest_str_copy(c->rec.error_message, sizeof(c->rec.error_message), message);
	c->start_due = false;
	c->stop_due = false;
	return persist(s, c);
}

/* An unfinished capture to a final status (store_capture_finish), under the lock. */
static int mark_final(struct store *s, const char *id, enum capture_status st, const char *reason,
		      const char *message, uint64_t now_us)
{
	struct store_capture *c;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = find_unfinished(s, id, &c);
	if (!ret)
		ret = store_capture_finish(s, c, st, reason, message, now_us);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_mark_success(struct store *s, const char *id, const char *stop_reason, uint64_t now_us)
{
	return mark_final(s, id, CAPTURE_SUCCESS, stop_reason, NULL, now_us);
}

int store_mark_failed(struct store *s, const char *id, const char *error_message, uint64_t now_us)
{
	return mark_final(s, id, CAPTURE_FAILED, NULL,
			  error_message && *error_message ? error_message : "capture failed",
			  now_us);
}

int store_mark_conversion(struct store *s, const char *id, enum capture_status st,
			  const char *stop_reason, uint64_t now_us)
{
	struct store_capture *c;
	int ret;

	if (st != CAPTURE_CONVERSION_PENDING && st != CAPTURE_CONVERSION_RUNNING)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	ret = find_unfinished(s, id, &c);
	if (!ret && c->rec.status == CAPTURE_CONVERSION_RUNNING)
		ret = st == CAPTURE_CONVERSION_RUNNING ? 0 : -EALREADY;
	else if (!ret) {
		store_set_status(s, c, st);
		if (stop_reason)
			manifest_str_copy(c->rec.stop_reason, sizeof(c->rec.stop_reason),
					  stop_reason);
		c->start_due = false;
		c->stop_due = false;
		(void)now_us;
		ret = persist(s, c);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_mark_complete(struct store *s, const char *id, uint64_t now_us)
{
	return mark_final(s, id, CAPTURE_COMPLETE, NULL, NULL, now_us);
}

static bool has_status(const struct store_capture *c, const void *arg)
{
	return c->rec.status == *(const enum capture_status *)arg;
}

int store_list_status(struct store *s, enum capture_status st, struct capture_rec **out, size_t *n)
{
	return list_where(s, has_status, &st, !capture_status_final(st), out, n);
}

struct failed_before {
	uint64_t keep_us, now_us;
};

static bool failed_upload_due(const struct store_capture *c, const void *arg)
{
	const struct failed_before *due = arg;
	uint64_t at;

	if (c->rec.status != CAPTURE_FAILED || !store_is_bucket(&c->rec))
		return false;
	at = c->finished_at ? c->finished_at : store_from_wall_us(c->rec.finished_us);
	return at + due->keep_us <= due->now_us;
}

int store_list_failed_uploads(struct store *s, uint64_t keep_us, uint64_t now_us,
			      struct capture_rec **out, size_t *n)
{
	const struct failed_before due = { keep_us, now_us };

	return list_where(s, failed_upload_due, &due, false, out, n);
}

int store_set_progress(struct store *s, const char *id, uint64_t packets, uint64_t bytes)
{
	struct store_capture *c;
	int ret = -ENOENT;

	/* In memory only: progress changes with every batch; the next manifest write has it. */
	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (c) {
		c->rec.packets = packets;
		c->rec.bytes = bytes;
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_set_truncated(struct store *s, const char *id)
{
	struct store_capture *c;
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (c) {
		c->rec.truncated = true;
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_update_agent(struct store *s, const char *id, const char *host_id,
		       const json_t *agent_info)
{
	struct store_capture *c;
	json_t *copy;
	char err[PATH_MAX + 128];
	int ret;

	if (!host_id || !*host_id || !json_is_object(agent_info))
		return -EINVAL;
	copy = json_deep_copy(agent_info);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (!c) {
		ret = -ENOENT;
		json_decref(copy);
	} else if ((ret = agents_load(s, c, err, sizeof(err)))) {
		pr_err("%s", err);
		json_decref(copy);
	} else if (json_object_set_new(c->agents, host_id, copy)) {
		ret = -ENOMEM;
	} else if (s->opts.manifest_interval_ms && c->manifest_mono_us &&
		   mono_us() <
			   c->manifest_mono_us + (uint64_t)s->opts.manifest_interval_ms * 1000) {
		/* Debounced (store.h): store_tick writes it when the interval is over. */
		if (!c->manifest_dirty)
			wake(s);
		c->manifest_dirty = true;
		store_busy_add(s, c);
		ret = 0;
	} else {
		ret = persist(s, c);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_update_agents(struct store *s, const char *id, const json_t *agents)
{
	if (!json_is_object(agents))
		return -EINVAL;
	return store_update_agents_new(s, id, json_deep_copy(agents));
}

static int update_agents(struct store *s, const char *id, json_t *copy, bool write)
{
	struct store_capture *c;
	const char *host;
	json_t *info;
	char err[PATH_MAX + 128];
	int ret = 0;

	if (!json_is_object(copy)) {
		json_decref(copy);
		return copy ? -EINVAL : -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (!c) {
		ret = -ENOENT;
	} else if ((ret = agents_load(s, c, err, sizeof(err)))) {
		pr_err("%s", err);
	} else {
		json_object_foreach (copy, host, info) {
			if (*host && json_is_object(info) &&
			    json_object_set(c->agents, host, info)) {
				ret = -ENOMEM;
				break;
			}
		}
		if (!ret && write)
			ret = persist(s, c);
		else if (!ret) {
			c->manifest_dirty = true; /* the next write, or the lagging one */
			store_busy_add(s, c);
		}
	}
	/* Under the lock: the members are the store's now, shared until this lets go. */
	json_decref(copy);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_update_agents_new(struct store *s, const char *id, json_t *copy)
{
	return update_agents(s, id, copy, true);
}

int store_stage_agents_new(struct store *s, const char *id, json_t *copy)
{
	return update_agents(s, id, copy, false);
}

json_t *store_manifest(struct store *s, const char *id)
{
	struct store_capture *c;
	json_t *m = NULL, *copy = NULL;
	char err[PATH_MAX + 128];
	bool on_disk = false;

	pthread_mutex_lock(&s->lock);
	c = store_find(s, id);
	if (c && c->agents)
		m = manifest_json(c);
	else if (c)
		on_disk = true; /* no agents held: nothing lags, the file is the whole record */
	/* A deep copy: the manifest shares the store's agents object, which the store changes. */
	if (m)
		copy = json_deep_copy(m);
	pthread_mutex_unlock(&s->lock);
	json_decref(m);
	/* Off the lock: a manifest is replaced whole (manifest_write), never seen half written. */
	if (on_disk && manifest_read(s, id, &copy, err, sizeof(err)))
		pr_err("%s", err);
	return copy;
}

/* The end of a running capture: its time plus grace, or sooner after the operator's stop. */
static uint64_t run_deadline(const struct store *s, const struct store_capture *c)
{
	uint64_t grace = (uint64_t)s->opts.grace_s * US_PER_S;
	uint64_t end = c->started_at + c->rec.req.time_limit * US_PER_S + grace;

	if (c->stop_at && c->stop_at + grace < end)
		end = c->stop_at + grace;
	return end;
}

static uint64_t pending_deadline(const struct store *s, const struct store_capture *c)
{
	return c->submitted_at + (c->rec.req.time_limit + s->opts.grace_s) * US_PER_S;
}

enum work_kind {
	WORK_START,
	WORK_STOP,
	WORK_EXPIRE,
};

struct work {
	enum work_kind kind;
	struct capture_rec rec;
};

/* What store_tick hands to the ops: only what is due, so usually nothing is allocated. */
struct work_list {
	struct work *w;
	size_t n, cap;
};

static int work_push(struct work_list *l, enum work_kind kind, const struct store_capture *c)
{
	struct work *w;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 8;
		w = realloc(l->w, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		l->w = w;
		l->cap = cap;
	}
	l->w[l->n].kind = kind;
	l->w[l->n++].rec = c->rec;
	return 0;
}

/*
 * Under the lock: what is due now, and the safety nets applied in place. A capture's flag is
 * cleared only once its work is queued: without memory, it stays due for the next tick.
 */
static int collect_work(struct store *s, uint64_t now_us, struct work_list *l)
{
	char msg[160];
	size_t i;

	/* The busy list holds every capture not finished, oldest first. */
	store_busy_prune(s);
	for (i = 0; i < s->n_busy; i++) {
		struct store_capture *c = s->busy[i];

		if (finished(c))
			continue;
		if (c->start_due) {
			if (work_push(l, WORK_START, c))
				return -ENOMEM;
			c->start_due = false;
			/* Its start goes out now: no deadline applies to it yet. */
			continue;
		}
		if (c->stop_due) {
			if (work_push(l, WORK_STOP, c))
				return -ENOMEM;
			c->stop_due = false;
		}
		if (c->rec.status == CAPTURE_PENDING && now_us >= pending_deadline(s, c)) {
			snprintf(msg, sizeof(msg),
				 "no agent confirmed the capture within its time_limit and grace "
				 "(%" PRIu64 " s)",
				 c->rec.req.time_limit + s->opts.grace_s);
			store_capture_finish(s, c, CAPTURE_FAILED, NULL, msg, now_us);
		} else if (c->rec.status == CAPTURE_RUNNING && !c->expired_us &&
			   now_us >= run_deadline(s, c)) {
			if (work_push(l, WORK_EXPIRE, c))
				return -ENOMEM;
			c->expired_us = now_us;
		} else if (c->rec.status == CAPTURE_RUNNING && c->expired_us &&
			   now_us >= c->expired_us + STORE_FINISH_TIMEOUT_S * US_PER_S) {
			snprintf(msg, sizeof(msg),
				 "the capture did not finish within %d s of its end (no final "
				 "result was recorded)",
				 STORE_FINISH_TIMEOUT_S);
			store_capture_finish(s, c, CAPTURE_FAILED, NULL, msg, now_us);
		}
	}
	return 0;
}

static uint64_t next_deadline(const struct store *s, uint64_t now_us)
{
	uint64_t next = UINT64_MAX, t;
	size_t i;

	for (i = 0; i < s->n_busy; i++) {
		const struct store_capture *c = s->busy[i];

		if (finished(c))
			continue;
		if (c->start_due || c->stop_due)
			t = now_us;
		else if (c->rec.status == CAPTURE_PENDING)
			t = pending_deadline(s, c);
		else if (!c->expired_us)
			t = run_deadline(s, c);
		else
			t = c->expired_us + STORE_FINISH_TIMEOUT_S * US_PER_S;
		if (t < next)
			next = t;
	}
	return next;
}

static void run_work(struct store *s, const struct work *w, const struct capture_ops *ops,
		     void *ctx, uint64_t now_us)
{
	char msg[160];
	int ret = 0;

	switch (w->kind) {
	case WORK_START:
		ret = ops->start ? ops->start(ctx, &w->rec) : -EOPNOTSUPP;
		if (ret) {
			snprintf(msg, sizeof(msg), "failed to start the capture: %s",
				 strerror(-ret));
			store_mark_failed(s, w->rec.id, msg, now_us);
		}
		break;
	case WORK_STOP:
		ret = ops->stop ? ops->stop(ctx, &w->rec) : 0;
		if (ret)
			pr_warn("failed to stop capture %s: %s (it ends at its deadline) "
				"capture=%s",
				w->rec.id, strerror(-ret), w->rec.id);
		break;
	case WORK_EXPIRE:
		ret = ops->expire ? ops->expire(ctx, &w->rec) : -EOPNOTSUPP;
		if (ret) {
			snprintf(msg, sizeof(msg), "failed to finish the capture: %s",
				 strerror(-ret));
			store_mark_failed(s, w->rec.id, msg, now_us);
		}
		break;
	}
}

int store_tick(struct store *s, uint64_t now_us, const struct capture_ops *ops, void *ctx,
	       uint64_t *next_us)
{
	struct work_list l = { 0 };
	uint64_t count, mono, due;
	size_t i;
	int ret;

	if (!ops)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	/* Drained first: work added from here on wakes the next poll again. */
	if (read(s->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		pr_warn("failed to read the store's wake-up eventfd: %s", strerror(errno));
	ret = collect_work(s, now_us, &l);
	pthread_mutex_unlock(&s->lock);

	/* Unlocked: the ops call back into the store. */
	for (i = 0; i < l.n; i++)
		run_work(s, &l.w[i], ops, ctx, now_us);
	free(l.w);

	pthread_mutex_lock(&s->lock);
	*next_us = next_deadline(s, now_us);
	/* Lagging manifests (store_update_agent): those due now are written. */
	mono = mono_us();
	for (i = 0; i < s->n_busy; i++) {
		due = manifest_due(s, s->busy[i]);
		if (due == UINT64_MAX)
			continue;
		if (due <= mono) {
			persist(s, s->busy[i]);
			/* Failed: tried again (manifest_due), so the tick comes back for it. */
			due = manifest_due(s, s->busy[i]);
			if (due == UINT64_MAX)
				continue;
		}
		due = due > mono ? now_us + (due - mono) : now_us;
		if (due < *next_us)
			*next_us = due;
	}
	/*
	 * A capture's agents, once it is final and its late reports are over, stay on disk only.
	 * Not before: a full capture's upload notes each host's progress in them.
	 */
	for (i = 0; i < s->n_busy; i++) {
		struct store_capture *c = s->busy[i];

		if (!capture_status_final(c->rec.status) || c->manifest_dirty || !c->agents)
			continue;
		due = c->finished_at + STORE_AGENTS_HOLD_S * US_PER_S;
		if (due <= now_us) {
			json_decref(c->agents);
			c->agents = NULL;
		} else if (due < *next_us) {
			*next_us = due;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
