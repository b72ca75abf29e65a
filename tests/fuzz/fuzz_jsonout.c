// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_jsonout.c: JSON text written fast (common/jsonout.h) against json_dumps, over any value
 * jansson parses from the input (after its first byte, which picks the flags). Property: the
 * two texts are the same, byte for byte, or both writers refuse the value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonout.h"

static const size_t flag_sets[] = {
	JSON_INDENT(2),
	JSON_COMPACT,
	0,
	JSON_INDENT(3) | JSON_COMPACT,
	JSON_INDENT(1),
	JSON_SORT_KEYS | JSON_INDENT(2),
	JSON_ENSURE_ASCII,
	JSON_ESCAPE_SLASH | JSON_COMPACT,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonout b = { 0 };
	char *want, *got;
	size_t flags, len;
	json_t *j;
	int ret;

	if (!size)
		return 0;
	flags = flag_sets[data[0] % (sizeof(flag_sets) / sizeof(flag_sets[0]))];
	j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!j)
		return 0;
	want = json_dumps(j, flags | JSON_ENCODE_ANY);
	ret = jsonout_json(&b, j, flags);
	got = jsonout_take(&b, &len);
	if (!want) {
		FUZZ_ASSERT(ret);
	} else {
		FUZZ_ASSERT(!ret && got);
		if (len != strlen(want) || memcmp(got, want, len))
			fprintf(stderr, "jsonout:    %s\njson_dumps: %s\n", got, want);
		FUZZ_ASSERT(len == strlen(want) && !memcmp(got, want, len));
	}
	free(got);
	free(want);
	json_decref(j);
	return 0;
}
