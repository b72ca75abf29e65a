/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h: one small logging module for every edgecap program, with levels. libbpf's own messages
 * are routed through it (log_route_libbpf), so a verifier or attach failure reads like ours.
 * Messages say what failed, on what, and why, in lower case: "failed to attach XDP to eth0: ...".
 *
 * Lines go to stderr. When stderr is the journal (JOURNAL_STREAM names stderr's device and
 * inode, as systemd sets it for StandardError=journal), each line starts with its sd-daemon
 * priority, "<3>" error, "<4>" warning, "<6>" info, "<7>" debug, and nothing else: the journal
 * knows the program. Otherwise a line is "PROGRAM: LEVEL: message".
 *
 * Fields: a line about a capture, an account, an agent's host or an interface ends with
 * key=value fields, "capture=ID", "account=ID", "host=HOST", "iface=IF", so that they can be
 * grepped out of the journal: `journalctl -u edgecap-aggregator | grep capture=abc`.
 *
 * Rate limits: a line that can repeat once per packet, message or request is logged through a
 * pr_*_ratelimited macro: each call site gets LOG_RATELIMIT_BURST lines per
 * LOG_RATELIMIT_INTERVAL_MS, and the first line it logs after dropping some says how many.
 */
#ifndef EDGECAP_LOG_H
#define EDGECAP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * Makes s one line of printable ASCII, in place: every other byte (a control character, any byte
 * of UTF-8's) becomes '?'. For text a peer, a file or a store chose that goes into a log line or
 * a JSON message: a control character would break the line, and json_pack refuses invalid UTF-8
 * (a cut character, a hostile peer's bytes), so the message would not be made at all.
 */
void log_printable(char *s);
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

/* --- rate limits ------------------------------------------------------------------------- */

#define LOG_RATELIMIT_BURST	  10
#define LOG_RATELIMIT_INTERVAL_MS 10000

/* One call site's state; zero-initialised (static) before its first use. */
struct log_ratelimit {
	uint64_t window_start_ms;
	unsigned int printed;	   /* lines logged in the current window */
	unsigned long long missed; /* lines dropped since the last one logged */
};

/*
 * Whether a line at now_ms may go out. When it may and lines were dropped before it, *missed is
 * how many (and the count starts again); otherwise *missed is 0. Thread-safe.
 */
bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, unsigned long long *missed);
void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_ratelimited_(level, ...)                                         \
	do {                                                                 \
		static struct log_ratelimit log_rl_;                         \
		if ((level) <= log_get_level())                              \
			log_msg_ratelimited(&log_rl_, (level), __VA_ARGS__); \
	} while (0)
#define pr_err_ratelimited(...)	  log_ratelimited_(LOG_LEVEL_ERROR, __VA_ARGS__)
#define pr_warn_ratelimited(...)  log_ratelimited_(LOG_LEVEL_WARN, __VA_ARGS__)
#define pr_info_ratelimited(...)  log_ratelimited_(LOG_LEVEL_INFO, __VA_ARGS__)
#define pr_debug_ratelimited(...) log_ratelimited_(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* --- for the tests ----------------------------------------------------------------------- */

/* Whether JOURNAL_STREAM's value ("DEV:INO", decimal) names the file with this dev and ino. */
bool log_journal_stream_matches(const char *journal_stream, uint64_t dev, uint64_t ino);
/*
 * Formats msg as log_vmsg writes it into buf (NUL-terminated, truncated to size): with journal,
 * "<N>" before every line of msg; without, "IDENT: LEVEL: msg" (no "IDENT: " when ident is
 * NULL). Trailing newlines of msg are dropped and one is added. Returns the length written.
 */
size_t log_format(char *buf, size_t size, bool journal, const char *ident, enum log_level level,
		  const char *msg);
/* Whether lines go to the journal (with "<N>" prefixes); decided at the first line. */
bool log_to_journal(void);
/* Decides again whether stderr is the journal (from the environment, as at the first line). */
void log_detect_journal(void);

#endif /* EDGECAP_LOG_H */
