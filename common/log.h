/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h: one small logging module for every edgecap program, with levels. libbpf's own messages
 * are routed through it (log_route_libbpf), so a verifier or attach failure reads like ours.
 * Messages say what failed, on what, and why, in lower case: "failed to attach XDP to eth0: ...".
 */
#ifndef EDGECAP_LOG_H
#define EDGECAP_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Messages above this level are dropped; the default is LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Prefix every line with the program name, e.g. "edgecapctl: ". */
void log_set_ident(const char *ident);
/*
 * Send libbpf's warnings (and, at debug level, its info and debug lines) through this module.
 * In log_libbpf.c, library edgecap_libbpf_log: only a program that links it needs libbpf.
 */
void log_route_libbpf(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define pr_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define pr_err(...)   log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* EDGECAP_LOG_H */
