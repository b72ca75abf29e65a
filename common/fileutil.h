/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fileutil.h: files that must survive a crash whole. file_write_durably replaces a file so that
 * a reader, or a restart after a crash, sees the old content or the new, never part of either:
 * a temporary file beside it, fsync, rename, fsync of the directory.
 */
#ifndef EDGECAP_FILEUTIL_H
#define EDGECAP_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * Whether a syncfs(2) of the file system under fd says what a fsync of each file there would:
 * that every file's data is durable, or that one of them failed. Since Linux 5.8 syncfs reports
 * write-back errors (before, it returned 0 whatever happened); and only file systems that sync
 * themselves for it are trusted (ext4, XFS, Btrfs, tmpfs; not FUSE, whose server a syncfs does
 * not ask, nor an overlay that may not pass its upper layer's errors up).
 */
bool file_syncfs_trusted(int fd);
/* Makes the directory's entries (a rename, a new file) durable. */
int file_fsync_dir(const char *dir);
/* The same, for the directory that holds path. */
int file_fsync_dir_of(const char *path);
/*
 * mkdir(path, mode) with exactly mode, whatever the umask, then an fsync of its parent, so that
 * the new directory survives a crash (a capture acknowledged to the operator must not vanish
 * with its directory). Returns 0, or a negative errno: -EEXIST when path was there already
 * (its mode is left as it is, and nothing is synced then).
 */
int file_mkdir_durably(const char *path, mode_t mode);
/*
 * Writes len bytes of data as dir/name with mode, durably (see above). Returns 0 or a negative
 * errno; on failure the old file, if any, is untouched and no temporary file is left. *what
 * (may be NULL) says which step failed, for messages: "create", "write", "rename", "sync".
 */
int file_write_durably(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
		       const char **what);
/*
 * Opens path read-only (O_CLOEXEC, O_NOCTTY), refusing what is not a regular file (symlinks are
 * followed) without waiting on it: a FIFO or a device given for a settings file would block the
 * open, or its read, for ever. The descriptor, or a negative errno: -EINVAL for a file of another
 * type, which *why (may be NULL) then names ("not a regular file (a FIFO)", ...).
 */
int file_open_regular(const char *path, const char **why);
/* The same as a stdio stream for reading: NULL with errno set (EINVAL for another type). */
FILE *file_fopen_regular(const char *path, const char **why);

#endif /* EDGECAP_FILEUTIL_H */
