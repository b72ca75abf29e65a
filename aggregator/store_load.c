// SPDX-License-Identifier: BSD-2-Clause
/*
 * store_load.c: opening and closing the store (store.h, "Restart"): the state directory made
 * when missing, every captures/<id>/manifest.json loaded (a bad one skipped with a warning), the
 * captures sorted oldest first, and the restart rules applied to the unfinished ones.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "log.h"
#include "manifest.h"
#include "safefile.h"
#include "store_internal.h"

/* Temp files of a manifest write that a crash interrupted. */
static void remove_stale_temps(const char *dir)
{
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, MANIFEST_TMP, strlen(MANIFEST_TMP)) &&
		    unlinkat(dirfd(d), de->d_name, 0))
			pr_warn("failed to remove %s/%s: %s", dir, de->d_name, strerror(errno));
	}
	closedir(d);
}

static int capture_load(struct store *s, const char *id, struct store_capture **out, char *why,
			size_t whylen)
{
	char dir[PATH_MAX], path[PATH_MAX], perr[512];
	struct store_capture *c = NULL;
	json_error_t jerr;
	json_t *m = NULL;
	int ret;

	ret = store_capture_dir(s, id, dir, sizeof(dir));
	if (!ret)
		ret = store_path_join(path, sizeof(path), dir, MANIFEST_NAME, NULL);
	if (ret) {
		snprintf(why, whylen, "path too long");
		return ret;
	}
	remove_stale_temps(dir);
	m = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!m) {
		snprintf(why, whylen, "%s: %s", path,
			 access(path, F_OK) ? strerror(errno) : jerr.text);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		ret = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	ret = manifest_parse(m, id, c, perr, sizeof(perr));
	if (ret) {
		snprintf(why, whylen, "%s: %s", path, perr);
		goto out;
	}
	*out = c;
	c = NULL;
out:
	store_capture_free(c);
	json_decref(m);
	return ret;
}

static int cmp_submitted(const void *a, const void *b)
{
	const struct store_capture *x = *(struct store_capture *const *)a,
				   *y = *(struct store_capture *const *)b;

	if (x->rec.submitted_us != y->rec.submitted_us)
		return x->rec.submitted_us < y->rec.submitted_us ? -1 : 1;
	return strcmp(x->rec.id, y->rec.id);
}

/* After loading: the restart rules of store.h (the rate rules read the loaded captures). */
static void apply_restart(struct store *s, uint64_t now_us)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct store_capture *c = s->caps[i];

		if (c->rec.submitted_us > s->last_submitted_us)
			s->last_submitted_us = c->rec.submitted_us;
		/* Kept as wall-clock times (a reboot resets the rule clock): back on the rule
		 * clock. */
		c->submitted_at = store_from_wall_us(c->rec.submitted_us);
		c->started_at = store_from_wall_us(c->rec.started_us);
		c->stop_at = store_from_wall_us(c->rec.stop_requested_us);
		if (c->rec.status == CAPTURE_PENDING) {
			pr_warn("capture %s was pending when the aggregator stopped: marking it "
				"failed capture=%s",
				c->rec.id, c->rec.id);
			store_capture_finish(
				s, c, CAPTURE_FAILED, NULL,
				"the aggregator restarted before any agent confirmed the capture",
				now_us);
		} else if (c->rec.status == CAPTURE_RUNNING) {
			pr_info("capture %s was running when the aggregator stopped: resuming it "
				"capture=%s",
				c->rec.id, c->rec.id);
			c->rec.resumed = true;
		}
		/*
		 * No late report comes for a final capture from before this start (store_tick).
		 * One whose write just failed keeps them until it is written.
		 */
		if (capture_status_final(c->rec.status) && !c->manifest_dirty) {
			json_decref(c->agents);
			c->agents = NULL;
		}
	}
}

static int store_load(struct store *s, char *err, size_t errlen)
{
	char dir[PATH_MAX], why[PATH_MAX + 640];
	struct store_capture *c;
	struct dirent *de;
	DIR *d = NULL;
	size_t i, seen = 0;
	int ret;

	ret = store_path_join(dir, sizeof(dir), s->state_dir, "captures", NULL);
	if (ret) {
		snprintf(err, errlen, "state directory path too long: %s", s->state_dir);
		return ret;
	}
	ret = file_mkdir_durably(dir, 0750);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "failed to create %s: %s", dir, strerror(-ret));
		return ret;
	}
	d = opendir(dir);
	if (!d) {
		ret = -errno;
		snprintf(err, errlen, "failed to read %s: %s", dir, strerror(errno));
		return ret;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!store_id_valid(de->d_name)) {
			pr_warn("ignoring %s/%s: not a capture (their names are 32 hex characters)",
				dir, de->d_name);
			continue;
		}
		if (++seen % STORE_LOAD_PROGRESS_EVERY == 0 && s->opts.load_progress)
			s->opts.load_progress(s->opts.load_progress_ctx, seen);
		c = NULL;
		ret = capture_load(s, de->d_name, &c, why, sizeof(why));
		if (ret == -ENOMEM)
			goto nomem;
		if (ret) {
			pr_warn("skipping capture %s: %s", de->d_name, why);
			continue;
		}
		if (store_grow(s)) {
			store_capture_free(c);
			goto nomem;
		}
		s->caps[s->n++] = c;
	}
	closedir(d);
	/* An empty state directory has no array yet: qsort must not see NULL (UBSan). */
	if (s->n)
		qsort(s->caps, s->n, sizeof(*s->caps), cmp_submitted);
	for (i = 0; i < s->n; i++) {
		if (store_index_add(s, i))
			goto nomem_closed;
	}
	apply_restart(s, store_now_us());
	return 0;
nomem_closed:
	snprintf(err, errlen, "failed to load %s: out of memory", dir);
	return -ENOMEM;
nomem:
	closedir(d);
	snprintf(err, errlen, "failed to load %s: out of memory", dir);
	return -ENOMEM;
}

/*
 * Copies the destination roots (or STATE_DIR/destinations) into s and makes sure each is a
 * directory we can open: its last component is made (0750) when missing.
 */
static int open_dest_roots(struct store *s, const struct store_opts *opts, char *err, size_t errlen)
{
	size_t i, n = opts->n_dest_roots;
	int fd, ret;

	if (n > STORE_MAX_DEST_ROOTS) {
		snprintf(err, errlen, "at most %d destination roots", STORE_MAX_DEST_ROOTS);
		return -EINVAL;
	}
	if (!n)
		snprintf(s->dest_root_buf[0], sizeof(s->dest_root_buf[0]), "%.*s/destinations",
			 (int)sizeof(s->dest_root_buf[0]) - 16, s->state_dir);
	for (i = 0; i < n; i++) {
		if (strlen(opts->dest_roots[i]) >= sizeof(s->dest_root_buf[i])) {
			snprintf(err, errlen, "destination root path too long: %s",
				 opts->dest_roots[i]);
			return -ENAMETOOLONG;
		}
		strcpy(s->dest_root_buf[i], opts->dest_roots[i]);
	}
	s->n_dest_roots = n ? n : 1;
	for (i = 0; i < s->n_dest_roots; i++) {
		s->dest_root[i] = s->dest_root_buf[i];
		ret = file_mkdir_durably(s->dest_root[i], SAFE_DIR_MODE);
		if (ret && ret != -EEXIST) {
			snprintf(err, errlen, "cannot create the destination root %s: %s",
				 s->dest_root[i], strerror(-ret));
			return ret;
		}
		ret = safe_open_root(s->dest_root[i], &fd);
		if (ret) {
			snprintf(err, errlen, "cannot open the destination root %s: %s",
				 s->dest_root[i], strerror(-ret));
			return ret;
		}
		close(fd);
	}
	s->opts.dest_roots = s->dest_root;
	s->opts.n_dest_roots = s->n_dest_roots;
	return 0;
}

int store_open(const struct store_opts *opts, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	size_t i;
	int ret;

	if (!opts->state_dir || !*opts->state_dir) {
		snprintf(err, errlen, "no state directory given");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "failed to open the store: out of memory");
		return -ENOMEM;
	}
	s->wake_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (strlen(opts->state_dir) >= sizeof(s->state_dir) - 64) {
		ret = -ENAMETOOLONG;
		snprintf(err, errlen, "state directory path too long: %s", opts->state_dir);
		goto fail;
	}
	snprintf(s->state_dir, sizeof(s->state_dir), "%s", opts->state_dir);
	s->opts = *opts;
	s->opts.state_dir = s->state_dir;
	ret = file_mkdir_durably(s->state_dir, 0750);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "failed to create the state directory %s: %s", s->state_dir,
			 strerror(-ret));
		goto fail;
	}
	for (i = 0; i < opts->n_buckets; i++) {
		if (i == STORE_MAX_BUCKETS || strlen(opts->buckets[i]) > BUCKET_NAME_MAX) {
			snprintf(err, errlen, "too many buckets, or a name too long: %s",
				 opts->buckets[i]);
			ret = -EINVAL;
			goto fail;
		}
		strcpy(s->bucket[s->n_buckets++], opts->buckets[i]);
	}
	s->opts.buckets = NULL;
	ret = open_dest_roots(s, opts, err, errlen);
	if (ret)
		goto fail;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "failed to create an eventfd: %s", strerror(errno));
		goto fail;
	}
	ret = store_load(s, err, errlen);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return ret;
}

void store_flush(struct store *s)
{
	size_t i;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++)
		store_manifest_flush(s, s->caps[i]);
	pthread_mutex_unlock(&s->lock);
}

void store_close(struct store *s)
{
	size_t i;

	if (!s)
		return;
	/* What the debounce held back (store_update_agent) goes out before the records. */
	for (i = 0; i < s->n; i++) {
		store_manifest_flush(s, s->caps[i]);
		store_capture_free(s->caps[i]);
	}
	free(s->caps);
	store_index_free(s);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
