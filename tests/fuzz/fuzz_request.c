// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_request.c: request_from_json (common/request.h) with the API's rules on arbitrary bytes,
 * as the aggregator's HTTP API and every agent (inside a start message) receive request bodies.
 * Properties:
 *   - a refusal is -EINVAL (or -ENOMEM) with a message;
 *   - an accepted request passes request_validate, and its JSON form (request_to_json) parses
 *     back to a request with the same JSON form.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capture_request req, req2;
	char err[256] = "", *text = NULL, *text2 = NULL;
	json_t *j = NULL, *j2 = NULL;
	int ret;

	ret = request_from_json((const char *)data, size, REQ_SCOPE_API, &req, err, sizeof(err));
	if (ret) {
		FUZZ_ASSERT(ret == -EINVAL || ret == -ENOMEM);
		FUZZ_ASSERT(err[0]);
		return 0;
	}
	FUZZ_ASSERT(request_validate(&req, REQ_SCOPE_API, err, sizeof(err)) == 0);
	j = request_to_json(&req);
	FUZZ_ASSERT(j);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	FUZZ_ASSERT(text);
	ret = request_from_json(text, strlen(text), REQ_SCOPE_API, &req2, err, sizeof(err));
	if (ret)
		fprintf(stderr, "request_to_json output refused: %s\n%s\n", err, text);
	FUZZ_ASSERT(ret == 0);
	j2 = request_to_json(&req2);
	FUZZ_ASSERT(j2);
	text2 = json_dumps(j2, JSON_COMPACT | JSON_SORT_KEYS);
	FUZZ_ASSERT(text2 && !strcmp(text, text2));
	free(text);
	free(text2);
	json_decref(j);
	json_decref(j2);
	return 0;
}
