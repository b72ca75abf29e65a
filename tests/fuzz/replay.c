// SPDX-License-Identifier: BSD-2-Clause
/*
 * replay.c: a main() for a fuzz target without libFuzzer. Each argument is a file or a
 * directory; every regular file is read into a buffer of exactly its size (so that a sanitizer
 * sees any read past the end) and given to LLVMFuzzerTestOneInput, in name order. A property
 * that fails aborts; a directory with no inputs, or a file that cannot be read, fails the run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf = NULL;
	FILE *f = NULL;
	int ret = -EIO;

	f = fopen(path, "rb");
	if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode))
		goto cleanup;
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || fread(buf, 1, st.st_size, f) != (size_t)st.st_size)
		goto cleanup;
	LLVMFuzzerTestOneInput(buf, st.st_size);
	ret = 0;
cleanup:
	if (ret)
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
	free(buf);
	if (f)
		fclose(f);
	return ret;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Replays every file of dir; returns how many, or a negative errno. */
static int replay_dir(const char *dir)
{
	struct dirent **names = NULL;
	char path[4096];
	int i, n, ret = 0;

	n = scandir(dir, &names, not_hidden, alphasort);
	if (n < 0) {
		fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (!ret && replay_file(path))
			ret = -EIO;
		free(names[i]);
	}
	free(names);
	return ret ? ret : n;
}

int main(int argc, char **argv)
{
	struct stat st;
	int i, n, total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			n = replay_dir(argv[i]);
			if (n <= 0) {
				fprintf(stderr, "%s: no inputs replayed\n", argv[i]);
				return 1;
			}
		} else {
			n = replay_file(argv[i]) ? -1 : 1;
			if (n < 0)
				return 1;
		}
		total += n;
	}
	printf("replayed %d inputs through %s\n", total, argv[0]);
	return 0;
}
