// SPDX-License-Identifier: BSD-2-Clause
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static const char *current_ident;
/* -1: not decided yet; 0: plain lines; 1: stderr is the journal. */
static int to_journal = -1;
static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
	__atomic_store_n(&current_level, level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	/* The aggregator's SIGHUP changes it while the API thread logs. */
	return __atomic_load_n(&current_level, __ATOMIC_RELAXED);
}

void log_printable(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
	}
}

void log_set_ident(const char *ident)
{
	current_ident = ident;
}

bool log_journal_stream_matches(const char *journal_stream, uint64_t dev, uint64_t ino)
{
	unsigned long long d, i;
	char *end;

	if (!journal_stream || !*journal_stream)
		return false;
	d = strtoull(journal_stream, &end, 10);
	if (end == journal_stream || *end != ':')
		return false;
	journal_stream = end + 1;
	i = strtoull(journal_stream, &end, 10);
	if (end == journal_stream || *end)
		return false;
	return d == dev && i == ino;
}

void log_detect_journal(void)
{
	struct stat st;

	/* stderr redirected elsewhere by a child or a shell keeps the variable: check the file. */
	to_journal = !fstat(STDERR_FILENO, &st) &&
		     log_journal_stream_matches(getenv("JOURNAL_STREAM"), (uint64_t)st.st_dev,
						(uint64_t)st.st_ino);
}

bool log_to_journal(void)
{
	if (to_journal < 0)
		log_detect_journal();
	return to_journal == 1;
}

size_t log_format(char *buf, size_t size, bool journal, const char *ident, enum log_level level,
		  const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	/* sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG */
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };
	size_t n = 0, len = strlen(msg);
	const char *p, *nl;

	if (!size)
		return 0;
	buf[0] = '\0';
	while (len && msg[len - 1] == '\n')
		len--;
#define APPEND(...)                                                                  \
	do {                                                                         \
		int w_ = snprintf(buf + n, size - n, __VA_ARGS__);                   \
		n = w_ < 0 ? n : (size_t)w_ >= size - n ? size - 1 : n + (size_t)w_; \
	} while (0)
	if (!journal) {
		if (ident)
			APPEND("%s: ", ident);
		APPEND("%s: %.*s\n", names[level], (int)len, msg);
		return n;
	}
	/* The journal reads a priority at the start of each line: a multi-line message gets one
	 * per line (libbpf's verifier log). */
	for (p = msg; p < msg + len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(msg + len - p));
		if (!nl)
			nl = msg + len;
		APPEND("%s%.*s\n", prio[level], (int)(nl - p), p);
	}
	if (!len)
		APPEND("%s\n", prio[level]);
#undef APPEND
	return n;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[4096], line[4096 + 512];

	if (level > log_get_level())
		return;
	if (to_journal < 0)
		log_detect_journal();
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_format(line, sizeof(line), to_journal == 1, current_ident, level, msg);
	/* One write per line: lines of two threads never interleave. */
	fputs(line, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, unsigned long long *missed)
{
	bool ok;

	pthread_mutex_lock(&ratelimit_lock);
	if (!rl->window_start_ms || now_ms - rl->window_start_ms >= LOG_RATELIMIT_INTERVAL_MS ||
	    now_ms < rl->window_start_ms) {
		rl->window_start_ms = now_ms ? now_ms : 1;
		rl->printed = 0;
	}
	ok = rl->printed < LOG_RATELIMIT_BURST;
	*missed = 0;
	if (ok) {
		rl->printed++;
		*missed = rl->missed;
		rl->missed = 0;
	} else {
		rl->missed++;
	}
	pthread_mutex_unlock(&ratelimit_lock);
	return ok;
}

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	unsigned long long missed;
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!log_ratelimit_allow(rl, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
				 &missed))
		return;
	if (missed)
		log_msg(level, "suppressed %llu messages like the next one (at most %d every %d s)",
			missed, LOG_RATELIMIT_BURST, LOG_RATELIMIT_INTERVAL_MS / 1000);
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
