// SPDX-License-Identifier: BSD-2-Clause
/*
 * store_admin.c: the store's housekeeping for operators (store.h): retention, which removes old
 * finished captures from memory and disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store_internal.h"

/* When the capture counts as done for retention: its finish, or its submission without one. */
static uint64_t done_us(const struct store_capture *c)
{
	return c->rec.finished_us ? c->rec.finished_us : c->rec.submitted_us;
}

/*
 * A capture's directory and every file in it (manifest, pcap, checkpoint, temporary files),
 * without following symlinks: entries are unlinked, never descended into.
 */
static int remove_capture_dir(const struct store *s, const char *id)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int ret = 0, dfd;
	DIR *d;

	ret = store_capture_dir(s, id, dir, sizeof(dir));
	if (ret)
		return ret;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dfd);
	if (!d) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dfd, de->d_name, 0) && errno != ENOENT && !ret) {
			ret = -errno;
			pr_warn("retention: cannot remove %s/%s: %s", dir, de->d_name,
				strerror(errno));
		}
	}
	closedir(d);
	if (!ret && rmdir(dir) && errno != ENOENT) {
		ret = -errno;
		pr_warn("retention: cannot remove %s: %s", dir, strerror(errno));
	}
	return ret;
}

/*
 * Gone after retention's age rule: a capture in a final state (a full capture's upload done or
 * given up, so the uploader holds nothing of it) that ended before the cutoff.
 */
static bool retainable(const struct store_capture *c, uint64_t cutoff)
{
	return capture_status_final(c->rec.status) && done_us(c) < cutoff;
}

/*
 * Marks in gone[] (by position in caps) what the rules remove: the age rule (cutoff 0: none),
 * and per account every capture in a final state past its newest max_kept such (0: no limit).
 * Returns how many.
 */
static size_t mark_gone(const struct store *s, uint64_t cutoff, size_t max_kept, bool *gone)
{
	size_t i, k, kept, n = 0;

	for (i = 0; i < s->n; i++) {
		gone[i] = cutoff && retainable(s->caps[i], cutoff);
		n += gone[i];
	}
	for (k = 0; max_kept && k < s->n_accts; k++) {
		const struct store_account_index *x = &s->accts[k];

		/* Its positions are oldest first: counted from the newest. */
		for (i = x->n, kept = 0; i-- > 0;) {
			size_t pos = x->pos[i];

			if (gone[pos] || !capture_status_final(s->caps[pos]->rec.status))
				continue;
			if (kept < max_kept) {
				kept++;
			} else {
				gone[pos] = true;
				n++;
			}
		}
	}
	return n;
}

int store_retain(struct store *s, uint64_t now_us, uint64_t max_age_us, size_t max_kept,
		 size_t *removed)
{
	struct store_capture **gone = NULL;
	size_t i, kept = 0, n = 0;
	uint64_t cutoff = 0;
	bool *mark = NULL;
	int ret = 0, r;

	if (removed)
		*removed = 0;
	now_us = store_wall_us(now_us); /* the records' times are the wall clock */
	if (max_age_us && now_us > max_age_us)
		cutoff = now_us - max_age_us;
	if (!cutoff && !max_kept)
		return 0;

	pthread_mutex_lock(&s->lock);
	mark = s->n ? calloc(s->n, sizeof(*mark)) : NULL;
	if (mark)
		n = mark_gone(s, cutoff, max_kept, mark);
	if (n)
		gone = calloc(n, sizeof(*gone));
	if ((s->n && !mark) || (n && !gone)) {
		pthread_mutex_unlock(&s->lock);
		free(mark);
		return -ENOMEM;
	}
	/* The array stays sorted oldest first: the kept ones close up in their order. */
	n = 0;
	for (i = 0; i < s->n; i++) {
		struct store_capture *c = s->caps[i];

		if (mark[i])
			gone[n++] = c;
		else
			s->caps[kept++] = c;
	}
	s->n = kept;
	free(mark);
	/* The per-account list index holds positions in caps[]: made again for the kept ones. */
	if (n)
		ret = store_index_rebuild(s);
	pthread_mutex_unlock(&s->lock);

	/* Off the lock: the API never finds these records again, so nobody waits on the disk. */
	for (i = 0; i < n; i++) {
		pr_debug("retention: removing capture %s (account %s, %s)", gone[i]->rec.id,
			 gone[i]->rec.account, capture_status_name(gone[i]->rec.status));
		r = remove_capture_dir(s, gone[i]->rec.id);
		if (r && !ret)
			ret = r;
		store_capture_free(gone[i]);
	}
	free(gone);
	if (removed)
		*removed = n;
	return ret;
}
