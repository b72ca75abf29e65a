// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_s3.c: what aggregator/s3.c takes from an object store's error reply (s3_reply_error):
 * the text of <Code> and <Message>, which go into the request's error, the logs and a failed
 * capture's error_message.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "s3.h"
#include "testing.h"

static bool printable_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

static void test_code_and_message(void)
{
	char code[64], msg[200];

	s3_reply_error(
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
		"<Message>Access Denied</Message><RequestId>1</RequestId></Error>",
		code, sizeof(code), msg, sizeof(msg));
	CHECK(!strcmp(code, "AccessDenied"), "code \"%s\"", code);
	CHECK(!strcmp(msg, "Access Denied"), "message \"%s\"", msg);
	s3_reply_error("<Error><Code>NoSuchKey", code, sizeof(code), msg, sizeof(msg));
	CHECK(!code[0] && !msg[0], "unclosed: \"%s\", \"%s\"", code, msg);
	s3_reply_error("", code, sizeof(code), msg, sizeof(msg));
	CHECK(!code[0] && !msg[0], "empty: \"%s\", \"%s\"", code, msg);
}

/*
 * A hostile or odd store's bytes: control characters (a new line in the log, a terminal's
 * escapes), invalid UTF-8, and valid UTF-8 cut inside a character by the buffer. Each becomes
 * '?', so that the error is one line of printable ASCII, which the manifest (json_pack refuses
 * invalid UTF-8: the manifest of the failed capture was not written) and the API can carry.
 */
static void test_hostile_bytes_become_question_marks(void)
{
	char code[64], msg[200], reply[1024], *p;
	json_t *s;
	size_t i;

	s3_reply_error("<Error><Code>Bad\tCode</Code><Message>line1\nline2 \x1b[31mred\xff\xfe"
		       "</Message></Error>",
		       code, sizeof(code), msg, sizeof(msg));
	CHECK(!strcmp(code, "Bad?Code"), "code \"%s\"", code);
	CHECK(!strcmp(msg, "line1?line2 ?[31mred??"), "message \"%s\"", msg);
	/* 150 two-byte characters, cut by the 200-byte buffer inside the 100th. */
	p = reply + sprintf(reply, "<Error><Message>x");
	for (i = 0; i < 150; i++)
		p += sprintf(p, "\xc3\xa9");
	sprintf(p, "</Message></Error>");
	s3_reply_error(reply, code, sizeof(code), msg, sizeof(msg));
	CHECK(strlen(msg) == sizeof(msg) - 1 && msg[0] == 'x', "message of %zu bytes", strlen(msg));
	CHECK(printable_ascii(msg), "message \"%s\"", msg);
	s = json_string(msg);
	CHECK(s != NULL, "json_string refuses the message");
	json_decref(s);
}

int main(void)
{
	RUN(test_code_and_message);
	RUN(test_hostile_bytes_become_question_marks);
	return TEST_SUMMARY();
}
