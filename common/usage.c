// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "usage.h"

int usage_error(const char *prog, const char *what, const char *value, const char *why_fmt, ...)
{
	char why[1024] = "";
	va_list ap;

	if (why_fmt) {
		va_start(ap, why_fmt);
		vsnprintf(why, sizeof(why), why_fmt, ap);
		va_end(ap);
	}
	/* One write per line, as log.c's. */
	fprintf(stderr, "%s%s: %s%s%s%s%s%s\n", log_to_journal() ? "<3>" : "", prog, what,
		value ? " '" : "", value ? value : "", value ? "'" : "", why_fmt ? ": " : "", why);
	fprintf(stderr, "%srun '%s --help' for usage\n", log_to_journal() ? "<6>" : "", prog);
	return -EINVAL;
}

int usage_getopt_error(const char *prog, int opt, char **argv)
{
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const char *which;

	/* A long option is the argument getopt just read; a short one's letter is in optopt. */
	if ((arg[0] == '-' && arg[1] == '-') || optopt <= 0 || optopt >= 128)
		which = arg;
	else
		which = shortopt;
	if (opt == ':')
		return usage_error(prog, "missing value for", which, "it takes one");
	return usage_error(prog, "unknown option", which, NULL);
}
