// SPDX-License-Identifier: BSD-2-Clause
/*
 * log_libbpf.c: log_route_libbpf (log.h), apart from log.c so that only the programs that load
 * BPF link libbpf; the aggregator logs through log.c without it.
 */
#include <stdarg.h>
#include <bpf/libbpf.h>

#include "log.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = level == LIBBPF_WARN ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;

	/* libbpf's lines already end in a newline; log_vmsg strips it. */
	log_vmsg(ours, fmt, ap);
	return 0;
}

void log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
