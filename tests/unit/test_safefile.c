// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_safefile.c: common/safefile.c, the confinement of destinations and local outputs: which
 * paths fall beneath which root, and opens that never follow a symlink planted beneath it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"
#include "testing.h"

static const char *const roots[] = { "/srv/pcaps", "/data//edge/" };

/* safe_confine of path: its return, the root's index in *idx, the rest in rel. */
static int confine(const char *path, size_t *idx, char *rel, size_t len, char *err, size_t errlen)
{
	*idx = 99;
	rel[0] = err[0] = '\0';
	return safe_confine(roots, 2, path, idx, rel, len, err, errlen);
}

#define EXPECT_BENEATH(path, want_root, want_rel)                                              \
	do {                                                                                   \
		char r_[256], e_[256];                                                         \
		size_t i_;                                                                     \
		int ret_ = confine(path, &i_, r_, sizeof(r_), e_, sizeof(e_));                 \
		CHECK(ret_ == 0 && i_ == (want_root) && !strcmp(r_, want_rel),                 \
		      "%s: got %d, root %zu, rel \"%s\" (%s); want root %d, rel \"%s\"", path, \
		      ret_, i_, r_, e_, want_root, want_rel);                                  \
	} while (0)

#define EXPECT_REFUSED(path, want_ret, want_msg)                                                \
	do {                                                                                    \
		char r_[256], e_[256];                                                          \
		size_t i_;                                                                      \
		int ret_ = confine(path, &i_, r_, sizeof(r_), e_, sizeof(e_));                  \
		CHECK(ret_ == (want_ret) && strstr(e_, want_msg),                               \
		      "%s: got %d \"%s\", want %d \"%s\"", path, ret_, e_, want_ret, want_msg); \
	} while (0)

static void test_paths_beneath_a_root(void)
{
	EXPECT_BENEATH("/srv/pcaps", 0, "");
	EXPECT_BENEATH("/srv/pcaps/", 0, "");
	EXPECT_BENEATH("/srv/pcaps/a/b", 0, "a/b");
	EXPECT_BENEATH("//srv/./pcaps//a/./b/", 0, "a/b");
	EXPECT_BENEATH("/data/edge/x", 1, "x");
	/* Relative: beneath the first root. */
	EXPECT_BENEATH("pcaps", 0, "pcaps");
	EXPECT_BENEATH("./a//b", 0, "a/b");
	EXPECT_BENEATH("${BUCKET}", 0, "${BUCKET}");
}

static void test_paths_elsewhere_are_refused(void)
{
	EXPECT_REFUSED("/etc/cron.d", -EPERM, "/etc/cron.d is not beneath any of /srv/pcaps");
	EXPECT_REFUSED("/srv/pcapsX/a", -EPERM, "not beneath");
	EXPECT_REFUSED("/srv", -EPERM, "not beneath");
	EXPECT_REFUSED("/", -EPERM, "not beneath");
	/* ".." is refused wherever it stands, even where it would stay beneath the root. */
	EXPECT_REFUSED("../../x", -EINVAL, "\"..\" is not allowed");
	EXPECT_REFUSED("a/../b", -EINVAL, "\"..\" is not allowed");
	EXPECT_REFUSED("/srv/pcaps/../pcaps/x", -EINVAL, "\"..\" is not allowed");
	EXPECT_REFUSED("/srv/pcaps/a/..", -EINVAL, "\"..\" is not allowed");
	EXPECT_REFUSED("", -EINVAL, "empty");
}

static void test_no_root_and_long_paths(void)
{
	char rel[8], err[128];
	size_t idx;

	CHECK(safe_confine(roots, 0, "/srv/pcaps/a", &idx, rel, sizeof(rel), err, sizeof(err)) ==
		      -EPERM,
	      "no roots: %s", err);
	CHECK(safe_confine(roots, 2, "/srv/pcaps/longer-than-eight", &idx, rel, sizeof(rel), err,
			   sizeof(err)) == -ENAMETOOLONG,
	      "too long for rel");
	/* Dots that are names, not "." or "..", are names. */
	EXPECT_BENEATH("/srv/pcaps/...", 0, "...");
	EXPECT_BENEATH("/srv/pcaps/..x/.y", 0, "..x/.y");
}

static char dir[128];

static void make_tmp(void)
{
	snprintf(dir, sizeof(dir), "%s/edgecap-safefile-XXXXXX",
		 getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 60 ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		dir[0] = '\0';
}

static void test_open_dir_makes_0750_and_never_follows_links(void)
{
	char path[256], target[256];
	struct stat st;
	int root = -1, fd = -1, fd2 = -1;

	CHECK(dir[0], "no temporary directory");
	CHECK(!safe_open_root(dir, &root), "root %s", dir);
	umask(022);
	CHECK(!safe_open_dir(root, "a/b/c", true, &fd), "made a/b/c");
	snprintf(path, sizeof(path), "%s/a/b", dir);
	CHECK(!stat(path, &st) && (st.st_mode & 07777) == 0750, "%s: mode %o, want 0750", path,
	      st.st_mode & 07777);
	/* Without create, a missing part is -ENOENT; what exists opens. */
	CHECK(safe_open_dir(root, "a/nope", false, &fd2) == -ENOENT, "missing without create");
	CHECK(!safe_open_dir(root, "a/b", false, &fd2), "existing without create");
	close(fd2);
	/* A symlink to a directory outside, then one inside: neither is followed. */
	snprintf(target, sizeof(target), "%s/outside", dir);
	CHECK(!mkdir(target, 0700), "outside");
	snprintf(path, sizeof(path), "%s/a/link", dir);
	CHECK(!symlink(target, path), "symlink");
	CHECK(safe_open_dir(root, "a/link", true, &fd2) == -ELOOP, "through a link to a dir");
	CHECK(safe_open_dir(root, "a/link/new", true, &fd2) == -ELOOP, "beyond a link");
	snprintf(path, sizeof(path), "%s/outside/new", dir);
	CHECK(access(path, F_OK), "a directory was made through the link");
	snprintf(path, sizeof(path), "%s/a/rel", dir);
	CHECK(!symlink("b", path), "relative symlink");
	CHECK(safe_open_dir(root, "a/rel", false, &fd2) == -ELOOP, "through a relative link");
	CHECK(safe_open_dir(root, "a/../a", true, &fd2) == -EINVAL, "..");
	close(fd);
	close(root);
}

static void test_create_is_exclusive_and_never_follows_links(void)
{
	char path[256], target[256], buf[8] = "";
	struct stat st;
	int root = -1, fd = -1, tfd;

	CHECK(dir[0], "no temporary directory");
	CHECK(!safe_open_root(dir, &root), "root %s", dir);
	umask(077);
	CHECK(!safe_create(root, "f.pcap", O_WRONLY, SAFE_FILE_MODE, &fd), "created");
	close(fd);
	snprintf(path, sizeof(path), "%s/f.pcap", dir);
	CHECK(!stat(path, &st) && (st.st_mode & 07777) == 0640,
	      "mode %o, want 0640 whatever the umask", st.st_mode & 07777);
	CHECK(safe_create(root, "f.pcap", O_WRONLY, SAFE_FILE_MODE, &fd) == -EEXIST, "exclusive");
	/* A planted link to a file: refused, the file untouched. */
	snprintf(target, sizeof(target), "%s/victim", dir);
	tfd = open(target, O_WRONLY | O_CREAT, 0600);
	CHECK(tfd >= 0 && write(tfd, "root", 4) == 4, "victim");
	close(tfd);
	snprintf(path, sizeof(path), "%s/.x.partial", dir);
	CHECK(!symlink(target, path), "symlink");
	CHECK(safe_create(root, ".x.partial", O_WRONLY, SAFE_FILE_MODE, &fd) == -EEXIST,
	      "created through a link");
	tfd = open(target, O_RDONLY);
	CHECK(tfd >= 0 && read(tfd, buf, sizeof(buf)) == 4 && !memcmp(buf, "root", 4),
	      "the victim changed");
	close(tfd);
	CHECK(safe_create(root, "a/b", O_WRONLY, SAFE_FILE_MODE, &fd) == -EINVAL, "a slash");
	CHECK(safe_create(root, "..", O_WRONLY, SAFE_FILE_MODE, &fd) == -EINVAL, "..");
	/* A rename within the directory replaces a link, never writes through it. */
	CHECK(!safe_rename(root, "f.pcap", ".x.partial"), "rename");
	CHECK(!lstat(path, &st) && S_ISREG(st.st_mode), "the link was replaced");
	close(root);
}

static void test_split(void)
{
	char d[16], b[16];

	CHECK(!safe_split("a/b/c.pcap", d, sizeof(d), b, sizeof(b)) && !strcmp(d, "a/b") &&
		      !strcmp(b, "c.pcap"),
	      "a/b/c.pcap: %s %s", d, b);
	CHECK(!safe_split("c.pcap", d, sizeof(d), b, sizeof(b)) && !d[0] && !strcmp(b, "c.pcap"),
	      "c.pcap");
	CHECK(safe_split("", d, sizeof(d), b, sizeof(b)) == -EINVAL, "empty");
	CHECK(safe_split("a/", d, sizeof(d), b, sizeof(b)) == -EINVAL, "trailing slash");
}

int main(void)
{
	make_tmp();
	RUN(test_paths_beneath_a_root);
	RUN(test_paths_elsewhere_are_refused);
	RUN(test_no_root_and_long_paths);
	RUN(test_open_dir_makes_0750_and_never_follows_links);
	RUN(test_create_is_exclusive_and_never_follows_links);
	RUN(test_split);
	if (dir[0]) {
		char cmd[192];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return TEST_SUMMARY();
}
