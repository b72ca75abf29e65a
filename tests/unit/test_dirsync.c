// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_dirsync.c: a directory made for a capture is fsynced in its parent, so that an
 * acknowledged capture survives a power loss (issue 11). Linked with -Wl,--wrap=fsync: every
 * fsync of the aggregator's code comes through __wrap_fsync, which notes the path of each
 * directory synced (/proc/self/fd), then syncs it. Pinned: store_create's captures/<id> (its
 * parent captures/), safe_open_dir's new components (each parent), and a resumable pcap's
 * partial file (its directory, for a restart to find it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_writer.h"
#include "request.h"
#include "safefile.h"
#include "store.h"
#include "testing.h"

#define MAX_SYNCED 256

static char synced[MAX_SYNCED][PATH_MAX];
static int nsynced;
static char dir[128];

int __real_fsync(int fd);
int __wrap_fsync(int fd);

int __wrap_fsync(int fd)
{
	char link[64];
	struct stat st;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (!fstat(fd, &st) && S_ISDIR(st.st_mode) && nsynced < MAX_SYNCED) {
		n = readlink(link, synced[nsynced], PATH_MAX - 1);
		if (n > 0) {
			synced[nsynced][n] = '\0';
			nsynced++;
		}
	}
	return __real_fsync(fd);
}

/* Whether the directory path (as the kernel names it) was fsynced since the log was cleared. */
static bool was_synced(const char *path)
{
	char real[PATH_MAX];
	int i;

	if (!realpath(path, real))
		return false;
	for (i = 0; i < nsynced; i++) {
		if (!strcmp(synced[i], real))
			return true;
	}
	return false;
}

static void log_clear(void)
{
	nsynced = 0;
}

static void test_store_create_syncs_the_captures_directory(void)
{
	static const char body[] = "{\"filter_v1\": {}, \"time_limit\": 60, \"packet_limit\": 100, "
				   "\"type\": \"simple\", \"system\": \"magic-transit\"}";
	struct store_opts opts = { .grace_s = 5 };
	struct capture_request req;
	struct capture_rec rec;
	struct store *st = NULL;
	char state[192], path[256], err[1024];

	snprintf(state, sizeof(state), "%s/state", dir);
	opts.state_dir = state;
	CHECK(!store_open(&opts, &st, err, sizeof(err)), "store_open: %s", err);
	CHECK(!request_from_json(body, strlen(body), REQ_SCOPE_API, &req, err, sizeof(err)),
	      "request: %s", err);
	log_clear();
	CHECK(!store_create(st, "acct", &req, false, store_now_us(), &rec, NULL, err, sizeof(err)),
	      "store_create: %s", err);
	snprintf(path, sizeof(path), "%s/captures/%s", state, rec.id);
	CHECK(!access(path, F_OK), "%s made", path);
	snprintf(path, sizeof(path), "%s/captures", state);
	CHECK(was_synced(path), "%s fsynced after the capture's directory was made in it", path);
	store_close(st);
}

static void test_safe_open_dir_syncs_each_parent(void)
{
	char root[192], path[256];
	int rootfd = -1, fd = -1;

	snprintf(root, sizeof(root), "%s/dest", dir);
	CHECK(!mkdir(root, 0750), "root made");
	CHECK(!safe_open_root(root, &rootfd), "root open");
	log_clear();
	CHECK(!safe_open_dir(rootfd, "a/b", true, &fd), "a/b made");
	CHECK(was_synced(root), "%s fsynced after a was made in it", root);
	snprintf(path, sizeof(path), "%s/a", root);
	CHECK(was_synced(path), "%s fsynced after b was made in it", path);
	close(fd);
	/* Nothing made: nothing to sync. */
	log_clear();
	CHECK(!safe_open_dir(rootfd, "a/b", true, &fd), "a/b opened again");
	CHECK(!was_synced(root), "no fsync when nothing was made");
	close(fd);
	close(rootfd);
}

static void test_resumable_partial_file_syncs_its_directory(void)
{
	struct pcap_writer_resume r = { .keep_len = 0 };
	struct pcap_writer *w = NULL;
	char out[192], e[512];
	int dfd;

	snprintf(out, sizeof(out), "%s/out", dir);
	CHECK(!mkdir(out, 0750), "out made");
	dfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0, "out open");
	log_clear();
	CHECK(!pcap_writer_open_resumable_at(dfd, "h.pcap", 0640, 262144, &r, &w, e, sizeof(e)),
	      "open: %s", e);
	CHECK(was_synced(out), "%s fsynced after the partial file was made in it", out);
	pcap_writer_detach(w);
	close(dfd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[192];

	snprintf(dir, sizeof(dir), "%s/edgecap-dirsync-XXXXXX",
		 tmp && strlen(tmp) < 60 ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	RUN(test_store_create_syncs_the_captures_directory);
	RUN(test_safe_open_dir_syncs_each_parent);
	RUN(test_resumable_partial_file_syncs_its_directory);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
	return TEST_SUMMARY();
}
