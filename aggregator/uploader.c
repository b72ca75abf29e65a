// SPDX-License-Identifier: BSD-2-Clause
/* uploader.c: full captures' conversion and bucket uploads (uploader.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "uploader.h"

#define POLL_S	      1
#define BACKOFF_MAX_S 60
#define SWEEP_EVERY_S 60
#define US_PER_S      1000000ULL

struct uploader {
	struct uploader_opts opts;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked;
	bool stopping;
	bool started;
};

/* Waits up to s seconds or until kicked or stopping; true when stopping. */
static bool wait_s(struct uploader *u, unsigned int s, bool wake_on_kick)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += s;
	pthread_mutex_lock(&u->lock);
	while (!u->stopping && !(wake_on_kick && u->kicked)) {
		if (pthread_cond_timedwait(&u->cond, &u->lock, &ts) == ETIMEDOUT)
			break;
	}
	if (wake_on_kick)
		u->kicked = false;
	stop = u->stopping;
	pthread_mutex_unlock(&u->lock);
	return stop;
}

/* Records an upload's progress under agents.<host>.upload in the manifest. */
static void note_upload(struct uploader *u, const char *id, const char *host, json_t *agent,
			unsigned int attempts, const char *key, const char *last_error)
{
	json_t *copy = json_deep_copy(agent), *up;

	up = json_pack("{s:i, s:s}", "attempts", (json_int_t)attempts, "key", key);
	if (up && last_error)
		json_object_set_new(up, "last_error", json_string(last_error));
	if (copy && up && !json_object_set_new(copy, "upload", up)) {
		up = NULL;
		store_update_agent(u->opts.store, id, host, copy);
	}
	json_decref(up);
	json_decref(copy);
}

/*
 * One host's file to its object, with retries. 0, or the last error with why in err (and -EINTR
 * when the uploader is stopping: the capture stays in conversion for the next start).
 */
static int upload_one(struct uploader *u, const struct capture_rec *c, const struct bucket_url *b,
		      const char *dir, const char *host, json_t *agent, char *err, size_t errlen)
{
	const char *file = json_string_value(json_object_get(agent, "file"));
	char path[PATH_MAX], key[1024], why[768];
	unsigned int attempt, wait = u->opts.backoff_s ? u->opts.backoff_s : 1;
	int fd, ret;

	if (!file || strchr(file, '/') || file[0] == '.')
		return 0; /* the host never sent a record: no file */
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path) ||
	    s3_object_key(b, c->id, host, key, sizeof(key))) {
		snprintf(err, errlen, "the path of %s's file is too long", host);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %.700s for its upload: %s", path,
			 strerror(errno));
		return ret;
	}
	for (attempt = 1;; attempt++) {
		ret = s3_put_file(u->opts.client, b, key, fd, why, sizeof(why));
		if (!ret) {
			pr_info("capture %s: uploaded %s to %s://%s/%s%s", c->id, file,
				bucket_scheme_name(b->scheme), b->bucket, key,
				attempt > 1 ? " (after retries)" : "");
			note_upload(u, c->id, host, agent, attempt, key, NULL);
			break;
		}
		note_upload(u, c->id, host, agent, attempt, key, why);
		if (attempt > u->opts.retries) {
			snprintf(err, errlen,
				 "upload of %.64s to %s://%s/%.300s failed after %u attempt%s: "
				 "%.300s",
				 host, bucket_scheme_name(b->scheme), b->bucket, key, attempt,
				 attempt == 1 ? "" : "s", why);
			break;
		}
		pr_warn("capture %s: upload of %s to %s://%s/%s failed (attempt %u of %u): %s; "
			"retrying in %u s",
			c->id, file, bucket_scheme_name(b->scheme), b->bucket, key, attempt,
			u->opts.retries + 1, why, wait);
		if (wait_s(u, wait, false)) {
			ret = -EINTR;
			snprintf(err, errlen, "the aggregator is stopping");
			break;
		}
		wait = wait * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : wait * 2;
	}
	close(fd);
	return ret;
}

/* Removes the upload directory of capture id with the files in it. */
static void remove_upload_dir(struct uploader *u, const char *id)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX + 2];
	struct dirent *de;
	DIR *d;

	if (store_upload_dir(u->opts.store, id, dir, sizeof(dir)))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path))
			pr_warn("cannot remove %s: %s", path, strerror(errno));
	}
	closedir(d);
	if (rmdir(dir))
		pr_warn("cannot remove %s: %s", dir, strerror(errno));
}

/* A bucket capture's every host file to its object. */
static int upload_capture(struct uploader *u, const struct capture_rec *c, char *err, size_t errlen)
{
	json_t *manifest, *agents, *agent;
	struct bucket_url b;
	char dir[PATH_MAX];
	const char *host;
	int ret;

	ret = bucket_url_parse(c->req.destination_conf, &b, err, errlen);
	if (ret)
		return ret;
	if (store_upload_dir(u->opts.store, c->id, dir, sizeof(dir))) {
		snprintf(err, errlen, "the state directory's path is too long");
		return -ENAMETOOLONG;
	}
	/*
	 * NULL (out of memory, or a manifest that cannot be read back) is no manifest of no
	 * hosts: the files would go without an upload, and the capture say complete.
	 */
	manifest = store_manifest(u->opts.store, c->id);
	if (!manifest) {
		snprintf(err, errlen, "cannot read the capture's manifest (the log says why)");
		return -EIO;
	}
	agents = json_object_get(manifest, "agents");
	json_object_foreach (agents, host, agent) {
		ret = upload_one(u, c, &b, dir, host, agent, err, errlen);
		if (ret)
			break;
	}
	json_decref(manifest);
	return ret;
}

static void convert(struct uploader *u, const struct capture_rec *c)
{
	struct capture_rec now;
	char err[1024] = "";
	int ret;

	ret = store_mark_conversion(u->opts.store, c->id, CAPTURE_CONVERSION_RUNNING, NULL,
				    store_now_us());
	/*
	 * A failed manifest write (logged) leaves the status conversion_running in memory all
	 * the same (the tick writes it again): the upload goes on. Returning would leave the
	 * capture there until a restart (take() looks at conversion_running only at the start),
	 * its agents held in memory (they go only once it is final).
	 */
	if (ret &&
	    (store_get(u->opts.store, c->id, &now) || now.status != CAPTURE_CONVERSION_RUNNING))
		return;
	if (store_is_bucket(c)) {
		pr_info("capture %s: uploading its files to %s", c->id, c->req.destination_conf);
		ret = upload_capture(u, c, err, sizeof(err));
	}
	if (ret == -EINTR)
		return;
	if (ret) {
		pr_err("capture %s failed: %s (its files stay in the state directory for %" PRIu64
		       " s)",
		       c->id, err, u->opts.keep_failed_s);
		store_mark_failed(u->opts.store, c->id, err, store_now_us());
		return;
	}
	if (store_is_bucket(c))
		remove_upload_dir(u, c->id);
	store_mark_complete(u->opts.store, c->id, store_now_us());
	pr_info("capture %s complete", c->id);
}

/* The captures of status st, each converted; false when stopping. */
static bool take(struct uploader *u, enum capture_status st)
{
	struct capture_rec *recs;
	size_t i, n;
	bool stop = false;

	if (store_list_status(u->opts.store, st, &recs, &n))
		return true;
	for (i = 0; i < n && !stop; i++) {
		convert(u, &recs[i]);
		pthread_mutex_lock(&u->lock);
		stop = u->stopping;
		pthread_mutex_unlock(&u->lock);
	}
	free(recs);
	return !stop;
}

/* Failed bucket captures' local files, once kept long enough. */
static void sweep(struct uploader *u)
{
	struct capture_rec *recs;
	char dir[PATH_MAX];
	size_t i, n;

	if (store_list_failed_uploads(u->opts.store, u->opts.keep_failed_s * US_PER_S,
				      store_now_us(), &recs, &n))
		return;
	for (i = 0; i < n; i++) {
		const struct capture_rec *c = &recs[i];

		if (store_upload_dir(u->opts.store, c->id, dir, sizeof(dir)) || access(dir, F_OK))
			continue;
		pr_info("capture %s: removing the files of its failed upload (kept %" PRIu64 " s)",
			c->id, u->opts.keep_failed_s);
		remove_upload_dir(u, c->id);
	}
	free(recs);
}

static void *run(void *arg)
{
	struct uploader *u = arg;
	uint64_t last_sweep = 0;

	/* Left in conversion_running by a restart: taken again from the start. */
	if (!take(u, CAPTURE_CONVERSION_RUNNING))
		return NULL;
	for (;;) {
		if (!take(u, CAPTURE_CONVERSION_PENDING))
			break;
		if (store_now_us() >= last_sweep + SWEEP_EVERY_S * US_PER_S) {
			sweep(u);
			last_sweep = store_now_us();
		}
		if (wait_s(u, POLL_S, true))
			break;
	}
	return NULL;
}

int uploader_start(const struct uploader_opts *opts, struct uploader **out, char *err,
		   size_t errlen)
{
	struct uploader *u = calloc(1, sizeof(*u));
	pthread_condattr_t ca;
	int ret;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	u->opts = *opts;
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&u->thread, NULL, run, u);
	if (ret) {
		snprintf(err, errlen, "cannot start the uploader thread: %s", strerror(ret));
		uploader_stop(u);
		return -ret;
	}
	u->started = true;
	*out = u;
	return 0;
}

void uploader_kick(struct uploader *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->kicked = true;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

void uploader_stop(struct uploader *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->stopping = true;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
	if (u->started)
		pthread_join(u->thread, NULL);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
