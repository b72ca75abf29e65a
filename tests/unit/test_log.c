// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_log.c: the logging module (common/log.h): "<N>" priority prefixes when stderr is the
 * journal (JOURNAL_STREAM names stderr's device and inode) and "PROGRAM: LEVEL: message"
 * otherwise, and the per-call-site rate limiter with its "suppressed N messages" line.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testing.h"

static void test_journal_stream_must_name_the_file(void)
{
	CHECK(log_journal_stream_matches("8:1234", 8, 1234), "the same dev:ino");
	CHECK(!log_journal_stream_matches("8:1235", 8, 1234), "another inode");
	CHECK(!log_journal_stream_matches("9:1234", 8, 1234), "another device");
	CHECK(!log_journal_stream_matches(NULL, 8, 1234), "unset");
	CHECK(!log_journal_stream_matches("", 8, 1234), "empty");
	CHECK(!log_journal_stream_matches("8", 8, 1234), "no inode");
	CHECK(!log_journal_stream_matches("8:", 8, 1234), "empty inode");
	CHECK(!log_journal_stream_matches(":1234", 8, 1234), "empty device");
	CHECK(!log_journal_stream_matches("8:1234x", 8, 1234), "trailing junk");
	CHECK(!log_journal_stream_matches("8:1234:5", 8, 1234), "a third field");
}

static void test_plain_lines_name_program_and_level(void)
{
	char buf[256];

	log_format(buf, sizeof(buf), false, "edgecap-agent", LOG_LEVEL_ERROR, "no interface\n");
	CHECK(!strcmp(buf, "edgecap-agent: error: no interface\n"), "got \"%s\"", buf);
	log_format(buf, sizeof(buf), false, "edgecap-agent", LOG_LEVEL_WARN, "w");
	CHECK(!strcmp(buf, "edgecap-agent: warning: w\n"), "got \"%s\"", buf);
	log_format(buf, sizeof(buf), false, "edgecap-agent", LOG_LEVEL_INFO, "i");
	CHECK(!strcmp(buf, "edgecap-agent: info: i\n"), "got \"%s\"", buf);
	log_format(buf, sizeof(buf), false, NULL, LOG_LEVEL_DEBUG, "d");
	CHECK(!strcmp(buf, "debug: d\n"), "got \"%s\"", buf);
}

static void test_journal_lines_carry_priority_prefixes(void)
{
	char buf[256];

	log_format(buf, sizeof(buf), true, "edgecap-agent", LOG_LEVEL_ERROR, "e");
	CHECK(!strcmp(buf, "<3>e\n"), "error: got \"%s\"", buf);
	log_format(buf, sizeof(buf), true, "edgecap-agent", LOG_LEVEL_WARN, "w");
	CHECK(!strcmp(buf, "<4>w\n"), "warning: got \"%s\"", buf);
	log_format(buf, sizeof(buf), true, "edgecap-agent", LOG_LEVEL_INFO, "i");
	CHECK(!strcmp(buf, "<6>i\n"), "info: got \"%s\"", buf);
	log_format(buf, sizeof(buf), true, "edgecap-agent", LOG_LEVEL_DEBUG, "d\n\n");
	CHECK(!strcmp(buf, "<7>d\n"), "debug: got \"%s\"", buf);
	/* Every line of a multi-line message (libbpf's verifier log) gets its own prefix. */
	log_format(buf, sizeof(buf), true, NULL, LOG_LEVEL_WARN, "one\ntwo\n");
	CHECK(!strcmp(buf, "<4>one\n<4>two\n"), "multi-line: got \"%s\"", buf);
}

static void test_format_truncates_safely(void)
{
	char buf[8];
	size_t n;

	n = log_format(buf, sizeof(buf), false, "prog", LOG_LEVEL_INFO, "a long message");
	CHECK(n == strlen(buf) && n == sizeof(buf) - 1, "length %zu for \"%s\"", n, buf);
}

/* Runs fn with stderr in a file, sets JOURNAL_STREAM to that file's dev:ino or to another one. */
static char *capture_stderr(bool journal, void (*fn)(void))
{
	char path[] = "/tmp/test_log.XXXXXX", env[64];
	static char out[8192];
	struct stat st;
	int fd, saved;
	ssize_t n;

	fd = mkstemp(path);
	if (fd < 0 || fstat(fd, &st))
		return NULL;
	unlink(path);
	snprintf(env, sizeof(env), "%" PRIu64 ":%" PRIu64, (uint64_t)st.st_dev,
		 (uint64_t)st.st_ino + (journal ? 0 : 1));
	setenv("JOURNAL_STREAM", env, 1);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	log_detect_journal();
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	out[n < 0 ? 0 : n] = '\0';
	return out;
}

static void log_two_lines(void)
{
	pr_err("cannot bind capture=abc");
	pr_info("listening");
}

static void test_stderr_is_journal_only_when_it_is_the_named_file(void)
{
	char *out;

	log_set_ident("prog");
	out = capture_stderr(true, log_two_lines);
	CHECK(out && !strcmp(out, "<3>cannot bind capture=abc\n<6>listening\n"), "journal: \"%s\"",
	      out ? out : "(none)");
	/* JOURNAL_STREAM set but stderr redirected elsewhere: plain lines. */
	out = capture_stderr(false, log_two_lines);
	CHECK(out && !strcmp(out, "prog: error: cannot bind capture=abc\nprog: info: listening\n"),
	      "plain: \"%s\"", out ? out : "(none)");
	log_set_ident(NULL);
}

static void test_ratelimit_burst_then_count_then_report(void)
{
	struct log_ratelimit rl = { 0 };
	unsigned long long missed = 99;
	int i;

	for (i = 0; i < LOG_RATELIMIT_BURST; i++) {
		CHECK(log_ratelimit_allow(&rl, 5000 + (uint64_t)i, &missed), "line %d of the burst",
		      i);
		CHECK(missed == 0, "nothing missed yet (%llu)", missed);
	}
	for (i = 0; i < 7; i++)
		CHECK(!log_ratelimit_allow(&rl, 5100, &missed), "line %d past the burst", i);
	/* Still inside the window. */
	CHECK(!log_ratelimit_allow(&rl, 5000 + LOG_RATELIMIT_INTERVAL_MS - 1, &missed),
	      "end of the window");
	/* A new window: allowed, and told how many were dropped; then the count starts again. */
	CHECK(log_ratelimit_allow(&rl, 5000 + LOG_RATELIMIT_INTERVAL_MS, &missed), "new window");
	CHECK_EQ_U64(missed, 8, "dropped in the first window");
	CHECK(log_ratelimit_allow(&rl, 5000 + LOG_RATELIMIT_INTERVAL_MS + 1, &missed), "next");
	CHECK_EQ_U64(missed, 0, "reported once");
}

static void log_a_flood(void)
{
	for (int i = 0; i < 1000; i++)
		pr_warn_ratelimited("dropped a data message capture=c%d", i);
	/* Another call site has its own budget. */
	pr_warn_ratelimited("another site");
}

static void test_ratelimited_macro_caps_a_flood_per_call_site(void)
{
	char *out, *p;
	int lines = 0;

	out = capture_stderr(false, log_a_flood);
	CHECK(out, "no output");
	for (p = out; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK(lines == LOG_RATELIMIT_BURST + 1, "%d lines for 1001 calls: \"%s\"", lines, out);
	CHECK_STR_CONTAINS(out, "dropped a data message capture=c9\n");
	CHECK(!strstr(out, "capture=c10\n"), "the 11th line got out");
	CHECK_STR_CONTAINS(out, "another site\n");
}

static void log_a_debug_flood(void)
{
	for (int i = 0; i < 100; i++)
		pr_debug_ratelimited("batch %d", i);
}

static void test_ratelimited_debug_is_quiet_at_info_level(void)
{
	char *out;

	log_set_level(LOG_LEVEL_INFO);
	out = capture_stderr(false, log_a_debug_flood);
	CHECK(out && !*out, "debug at info level: \"%s\"", out ? out : "(none)");
	log_set_level(LOG_LEVEL_DEBUG);
	out = capture_stderr(false, log_a_debug_flood);
	CHECK(out && strstr(out, "debug: batch 9\n") && !strstr(out, "batch 10\n"),
	      "debug at debug level: \"%s\"", out ? out : "(none)");
	log_set_level(LOG_LEVEL_INFO);
}

int main(void)
{
	RUN(test_journal_stream_must_name_the_file);
	RUN(test_plain_lines_name_program_and_level);
	RUN(test_journal_lines_carry_priority_prefixes);
	RUN(test_format_truncates_safely);
	RUN(test_stderr_is_journal_only_when_it_is_the_named_file);
	RUN(test_ratelimit_burst_then_count_then_report);
	RUN(test_ratelimited_macro_caps_a_flood_per_call_site);
	RUN(test_ratelimited_debug_is_quiet_at_info_level);
	return TEST_SUMMARY();
}
