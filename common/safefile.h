/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * safefile.h: files that land only where they are allowed to, whatever an attacker planted on
 * the way there. Used for a full capture's destination (the aggregator's --destination-root) and
 * the agent's local captures (--output-dir).
 *
 * Two steps:
 *  - safe_confine() is lexical: it names which root a path falls beneath and the part of it
 *    below that root. `..` is refused outright, wherever it stands; a relative path is taken
 *    relative to the first root.
 *  - The opens never follow a symbolic link below the root: every directory is opened one
 *    component at a time with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the one
 *    before, files are created with O_CREAT | O_EXCL | O_NOFOLLOW relative to their directory's
 *    descriptor, and renames stay within that directory (renameat). A symlink anywhere below the
 *    root fails the open with -ELOOP; the root itself is the operator's and may be one.
 *
 * Modes are set exactly (fchmod after the create), whatever the umask: SAFE_FILE_MODE for files,
 * SAFE_DIR_MODE for the directories made here. Every function returns 0 or a negative errno.
 */
#ifndef EDGECAP_SAFEFILE_H
#define EDGECAP_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SAFE_FILE_MODE 0640
#define SAFE_DIR_MODE  0750

/*
 * Finds the first of the nroots roots that path (a plain path, absolute or relative) falls
 * beneath, on whole components; `.` and repeated slashes are ignored, in path and in the roots.
 * *root gets its index and rel (relsize bytes) the rest, "" for the root itself. Errors:
 * -EINVAL (empty, or a `..` component), -EPERM (beneath no root), -ENAMETOOLONG; err (may be
 * NULL) says which, naming path.
 */
int safe_confine(const char *const *roots, size_t nroots, const char *path, size_t *root, char *rel,
		 size_t relsize, char *err, size_t errlen);

/* Opens root as a directory (following links: the operator chose it); *fd is O_CLOEXEC. */
int safe_open_root(const char *root, int *fd);

/*
 * Opens rel (a relative path without `..`, "" for rootfd itself) beneath rootfd as a directory,
 * one component at a time, never following a symlink (-ELOOP). create: missing components are
 * made with SAFE_DIR_MODE; otherwise a missing one is -ENOENT. *fd is a new O_CLOEXEC
 * descriptor, readable (so that it can be fsynced).
 */
int safe_open_dir(int rootfd, const char *rel, bool create, int *fd);

/*
 * Creates name (one component) in dirfd exclusively and without following a symlink there:
 * -EEXIST when anything, a symlink included, has that name. flags add to O_CREAT | O_EXCL |
 * O_NOFOLLOW | O_CLOEXEC (e.g. O_WRONLY); the file gets mode exactly.
 */
int safe_create(int dirfd, const char *name, int flags, mode_t mode, int *fd);

/* Renames from to to within dirfd, then fsyncs dirfd, so that the rename survives a crash. */
int safe_rename(int dirfd, const char *from, const char *to);

/*
 * Splits rel into its directory part (dir, "" when none) and its last component (base):
 * "a/b/c.pcap" gives "a/b" and "c.pcap". -EINVAL when rel has no last component.
 */
int safe_split(const char *rel, char *dir, size_t dirsize, char *base, size_t basesize);

#endif /* EDGECAP_SAFEFILE_H */
