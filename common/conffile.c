// SPDX-License-Identifier: BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int conffile_parse(const char *path, conffile_fn fn, void *ctx, char *err, size_t errlen)
{
	char *line = NULL, *key, *value, *eq, msg[256];
	size_t cap = 0;
	unsigned int lineno = 0;
	FILE *f;
	int ret = 0;

	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
		return ret;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected `key = value`, got \"%s\"", path,
				 lineno, key);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		msg[0] = '\0';
		ret = fn(ctx, key, value, msg, sizeof(msg));
		if (ret) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "cannot read config file %s", path);
	}
	free(line);
	fclose(f);
	return ret;
}
