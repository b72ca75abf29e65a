// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/magic.h>

#include "fileutil.h"

int file_fsync_dir(const char *dir)
{
	int fd, ret = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int file_fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	return file_fsync_dir(dirname(buf));
}

int file_mkdir_durably(const char *path, mode_t mode)
{
	int fd, ret = 0;

	if (mkdir(path, mode))
		return -errno;
	/*
	 * The umask may have taken bits away (the aggregator's unit runs with 0077): the mode is
	 * what the caller asked for, which for the state's directories is the design's 0750, so
	 * that the operators in the daemon's group can reach its 0640 pcaps.
	 */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, mode))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret ? ret : file_fsync_dir_of(path);
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_durably(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
		       const char **what)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *step = "create";
	int fd, n, ret;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	step = "write";
	ret = write_all(fd, data, len);
	if (!ret && fchmod(fd, mode))
		ret = -errno;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret) {
		step = "rename";
		if (rename(tmp, path))
			ret = -errno;
	}
	if (ret) {
		unlink(tmp);
		goto out;
	}
	step = "sync";
	ret = file_fsync_dir(dir);
out:
	if (what)
		*what = step;
	return ret;
}

bool file_syncfs_trusted(int fd)
{
	static int kernel_ok = -1;
	struct statfs sf;
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (kernel_ok < 0) {
		kernel_ok = !uname(&u) && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
			    (major > 5 || (major == 5 && minor >= 8));
	}
	if (!kernel_ok || fstatfs(fd, &sf))
		return false;
	switch ((unsigned long)sf.f_type) {
	case EXT4_SUPER_MAGIC: /* ext2 and ext3 share it */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
		return true;
	default:
		return false;
	}
}

static const char *file_type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "not a regular file (a directory)";
	if (S_ISFIFO(mode))
		return "not a regular file (a FIFO)";
	if (S_ISSOCK(mode))
		return "not a regular file (a socket)";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "not a regular file (a device)";
	return "not a regular file";
}

int file_open_regular(const char *path, const char **why)
{
	struct stat st;
	int fd, flags, ret;

	if (why)
		*why = NULL;
	/* O_NONBLOCK: the open of a FIFO with no writer returns at once instead of waiting. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		if (why)
			*why = file_type_name(st.st_mode);
		close(fd);
		return -EINVAL;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

FILE *file_fopen_regular(const char *path, const char **why)
{
	int fd = file_open_regular(path, why), saved;
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return f;
}
