/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz.h: what every fuzz target shares. A target is one LLVMFuzzerTestOneInput that feeds its
 * input to a decoder of untrusted input and checks, with FUZZ_ASSERT, the properties the
 * decoder promises. It is linked either with libFuzzer (EDGECAP_FUZZ) or with replay.c, which
 * runs the checked-in corpus through it as a unit test.
 */
#ifndef EDGECAP_FUZZ_H
#define EDGECAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * What a target undoes before a broken promise aborts it (abort skips atexit's handlers): its
 * temporary directory, so that a failed replay test leaves nothing behind. NULL: nothing.
 */
static void (*fuzz_abort_hook)(void) __attribute__((unused));

/* A broken promise is a crash: libFuzzer saves the input, the replay test fails. */
#define FUZZ_ASSERT(cond)                                                                        \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                          \
			if (fuzz_abort_hook)                                                     \
				fuzz_abort_hook();                                               \
			abort();                                                                 \
		}                                                                                \
	} while (0)

static inline int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes path and everything under it, not following symbolic links. */
static inline void fuzz_rmtree(const char *path)
{
	nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The directory fuzz_tmpdir made, removed at exit and before a broken promise aborts. */
static const char *fuzz_tmpdir_path __attribute__((unused));

static inline void fuzz_tmpdir_remove(void)
{
	if (fuzz_tmpdir_path)
		fuzz_rmtree(fuzz_tmpdir_path);
}

/*
 * A new directory for a target's files, base = DIR/edgecap-fuzz-NAME-XXXXXX: DIR is $TMPDIR, or
 * /dev/shm when there is one (what the code under test fsyncs costs nothing there), or /tmp.
 * Removed when the process exits, and when a FUZZ_ASSERT fails (fuzz_abort_hook), so that a
 * replay test leaves nothing behind either way. base must outlive the process's inputs.
 */
static inline void fuzz_tmpdir(char *base, size_t len, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	struct stat sb;

	if (!tmp || !*tmp)
		tmp = !stat("/dev/shm", &sb) && S_ISDIR(sb.st_mode) && !access("/dev/shm", W_OK)
			      ? "/dev/shm"
			      : "/tmp";
	snprintf(base, len, "%s/edgecap-fuzz-%s-XXXXXX", tmp, name);
	FUZZ_ASSERT(mkdtemp(base));
	fuzz_tmpdir_path = base;
	atexit(fuzz_tmpdir_remove);
	fuzz_abort_hook = fuzz_tmpdir_remove;
}

#endif /* EDGECAP_FUZZ_H */
