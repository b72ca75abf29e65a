// SPDX-License-Identifier: BSD-2-Clause
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static const char *current_ident;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_ident(const char *ident)
{
	current_ident = ident;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[4096];
	size_t n;

	if (level > current_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (level == LOG_LEVEL_INFO)
		fprintf(stderr, "%s%s%s\n", current_ident ? current_ident : "",
			current_ident ? ": " : "", line);
	else
		fprintf(stderr, "%s%s%s: %s\n", current_ident ? current_ident : "",
			current_ident ? ": " : "", names[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
