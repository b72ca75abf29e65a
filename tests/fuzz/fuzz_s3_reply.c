// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_s3_reply.c: an object store's error reply, as aggregator/s3.c reads it (s3_reply_error:
 * the text of <Code> and <Message>, which go into the request's error, then the logs and a
 * failed capture's error_message). The input is the body as s3_request's on_reply keeps it: at
 * most its first 4096 bytes, NUL-terminated (a NUL byte inside ends it early), in a buffer of
 * exactly that size, so that a read past the NUL is a sanitizer's error. Properties, for the
 * buffers s3_request passes (64 and 200 bytes) and for one-byte ones:
 *   - each output is NUL-terminated within its buffer (a write past it is ASan's);
 *   - each output is empty or a substring of the reply with every byte that is not printable
 *     ASCII as '?' (no control character, no invalid UTF-8: the error reaches the logs and a
 *     manifest's JSON).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "s3.h"

#define REPLY_MAX 4096 /* s3.c's S3_REPLY_MAX */

static bool nul_within(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/* reply (shown: its bytes outside printable ASCII as '?'). */
static void check(const char *reply, const char *shown, size_t codelen, size_t msglen)
{
	char *code = malloc(codelen), *msg = malloc(msglen);

	FUZZ_ASSERT(code && msg);
	memset(code, 'x', codelen);
	memset(msg, 'x', msglen);
	s3_reply_error(reply, code, codelen, msg, msglen);
	FUZZ_ASSERT(nul_within(code, codelen));
	FUZZ_ASSERT(nul_within(msg, msglen));
	FUZZ_ASSERT(printable_ascii(code) && printable_ascii(msg));
	FUZZ_ASSERT(!code[0] || strstr(shown, code));
	FUZZ_ASSERT(!msg[0] || strstr(shown, msg));
	free(code);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size < REPLY_MAX ? size : REPLY_MAX;
	char *reply = malloc(n + 1), *shown = malloc(n + 1), *p;

	FUZZ_ASSERT(reply && shown);
	memcpy(reply, data, n);
	reply[n] = '\0';
	memcpy(shown, reply, n + 1);
	for (p = shown; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	}
	check(reply, shown, 64, 200);
	check(reply, shown, 1, 1);
	free(shown);
	free(reply);
	return 0;
}
