// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "safefile.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * path with `.` and empty components dropped, components joined by one '/' and no trailing one;
 * a leading '/' kept. -EINVAL for a `..` component (never resolved: what it climbs out of may
 * be a symlink), -ENAMETOOLONG when out is too small.
 */
static int normalize(const char *path, char *out, size_t outlen)
{
	const char *p = path, *end;
	size_t n = 0, len;

	if (outlen < 2)
		return -ENAMETOOLONG;
	if (*p == '/')
		out[n++] = '/';
	out[n] = '\0';
	while (*p) {
		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (len && !(len == 1 && p[0] == '.')) {
			bool sep = n && out[n - 1] != '/';

			if (n + sep + len + 1 > outlen)
				return -ENAMETOOLONG;
			if (sep)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
			out[n] = '\0';
		}
		p = end;
	}
	return 0;
}

int safe_confine(const char *const *roots, size_t nroots, const char *path, size_t *root, char *rel,
		 size_t relsize, char *err, size_t errlen)
{
	char norm[4096], nroot[4096];
	size_t i, rlen;
	int ret;

	if (!path[0]) {
		seterr(err, errlen, "an empty path");
		return -EINVAL;
	}
	ret = normalize(path, norm, sizeof(norm));
	if (ret == -EINVAL) {
		seterr(err, errlen, "%s: \"..\" is not allowed in the path", path);
		return ret;
	}
	if (ret) {
		seterr(err, errlen, "%s: path too long", path);
		return ret;
	}
	if (!nroots) {
		seterr(err, errlen, "%s: no root is configured", path);
		return -EPERM;
	}
	if (norm[0] != '/') {
		/* Relative: beneath the first root. */
		if (strlen(norm) >= relsize) {
			seterr(err, errlen, "%s: path too long", path);
			return -ENAMETOOLONG;
		}
		strcpy(rel, norm);
		*root = 0;
		return 0;
	}
	for (i = 0; i < nroots; i++) {
		if (normalize(roots[i], nroot, sizeof(nroot)) || nroot[0] != '/')
			continue;
		rlen = strlen(nroot);
		if (!strcmp(nroot, "/")) {
			rlen = 0; /* every absolute path is beneath "/" */
		} else if (strncmp(norm, nroot, rlen) || (norm[rlen] && norm[rlen] != '/')) {
			continue;
		}
		if (norm[rlen] == '/')
			rlen++;
		if (strlen(norm + rlen) >= relsize) {
			seterr(err, errlen, "%s: path too long", path);
			return -ENAMETOOLONG;
		}
		strcpy(rel, norm + rlen);
		*root = i;
		return 0;
	}
	seterr(err, errlen, "%s is not beneath %s%s", path, nroots > 1 ? "any of " : "", roots[0]);
	for (i = 1; i < nroots && err; i++) {
		size_t used = strlen(err);

		if (used + 1 < errlen)
			snprintf(err + used, errlen - used, ", %s", roots[i]);
	}
	return -EPERM;
}

int safe_open_root(const char *root, int *fd)
{
	int f = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (f < 0)
		return -errno;
	*fd = f;
	return 0;
}

/* One component name beneath dirfd, as a directory, never through a symlink. */
static int open_beneath(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	/* O_DIRECTORY | O_NOFOLLOW on a symlink gives ENOTDIR on some kernels: say what it is. */
	if (fd < 0 && errno == ENOTDIR) {
		struct stat st;

		if (!fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) && S_ISLNK(st.st_mode))
			errno = ELOOP;
		else
			errno = ENOTDIR;
	}
	return fd < 0 ? -errno : (int)fd;
}

int safe_open_dir(int rootfd, const char *rel, bool create, int *out)
{
	char comp[256];
	const char *p = rel, *end;
	int dfd, next, ret = 0;
	size_t len;

	dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	while (*p) {
		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (!len)
			break;
		if (len >= sizeof(comp)) {
			ret = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p = end;
		if (!strcmp(comp, ".."))
			ret = -EINVAL;
		else if (!strcmp(comp, "."))
			continue;
		if (ret)
			goto fail;
		next = open_beneath(dfd, comp);
		if (next == -ENOENT && create) {
			/* mkdirat never follows a symlink at comp: one there gives EEXIST. */
			if (mkdirat(dfd, comp, SAFE_DIR_MODE)) {
				if (errno != EEXIST) {
					ret = -errno;
					goto fail;
				}
			} else if (fsync(dfd)) {
				/* The new directory's entry in its parent survives a crash. */
				ret = -errno;
				goto fail;
			}
			next = open_beneath(dfd, comp);
			/* The umask may have taken bits away; the mode is what the design says. */
			if (next >= 0 && fchmod(next, SAFE_DIR_MODE)) {
				ret = -errno;
				close(next);
				goto fail;
			}
		}
		if (next < 0) {
			ret = next;
			goto fail;
		}
		close(dfd);
		dfd = next;
	}
	*out = dfd;
	return 0;
fail:
	close(dfd);
	return ret;
}

int safe_create(int dirfd, const char *name, int flags, mode_t mode, int *out)
{
	int fd;

	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode)) {
		int ret = -errno;

		close(fd);
		unlinkat(dirfd, name, 0);
		return ret;
	}
	*out = fd;
	return 0;
}

int safe_rename(int dirfd, const char *from, const char *to)
{
	if (renameat(dirfd, from, dirfd, to))
		return -errno;
	return fsync(dirfd) ? -errno : 0;
}

int safe_split(const char *rel, char *dir, size_t dirsize, char *base, size_t basesize)
{
	const char *slash = strrchr(rel, '/');
	size_t dlen = slash ? (size_t)(slash - rel) : 0;
	const char *b = slash ? slash + 1 : rel;

	if (!b[0] || !strcmp(b, ".") || !strcmp(b, ".."))
		return -EINVAL;
	if (dlen >= dirsize || strlen(b) >= basesize)
		return -ENAMETOOLONG;
	memcpy(dir, rel, dlen);
	dir[dlen] = '\0';
	strcpy(base, b);
	return 0;
}
