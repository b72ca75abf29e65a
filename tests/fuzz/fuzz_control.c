// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_control.c: the control-plane decoder (common/control.h) on arbitrary bytes, as either
 * side's SP socket may receive them. Properties:
 *   - a refusal is one of the documented negative errnos, with a reason;
 *   - whatever decodes encodes again, and that text decodes and encodes to itself.
 */
#include <errno.h>
#include <string.h>

#include "control.h"
#include "fuzz.h"

static struct ctl_msg m, m2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *text = NULL, *text2 = NULL;
	size_t len, len2;
	int ret;

	ret = ctl_decode(data, size, &m, err, sizeof(err));
	if (ret) {
		FUZZ_ASSERT(ret == -EINVAL || ret == -EMSGSIZE || ret == -EPROTONOSUPPORT ||
			    ret == -EOPNOTSUPP || ret == -ENOMEM);
		FUZZ_ASSERT(err[0]);
		return 0;
	}
	FUZZ_ASSERT(m.major == CTL_VERSION_MAJOR);
	FUZZ_ASSERT(m.n_captures <= CTL_MAX_CAPTURES);
	ret = ctl_encode(&m, &text, &len, err, sizeof(err));
	if (ret)
		fprintf(stderr, "decoded message does not encode: %s\n", err);
	FUZZ_ASSERT(ret == 0);
	ret = ctl_decode(text, len, &m2, err, sizeof(err));
	if (ret)
		fprintf(stderr, "encoded message does not decode: %s\n%s\n", err, text);
	FUZZ_ASSERT(ret == 0);
	FUZZ_ASSERT(m2.type == m.type && m2.id == m.id);
	FUZZ_ASSERT(ctl_encode(&m2, &text2, &len2, err, sizeof(err)) == 0);
	FUZZ_ASSERT(len2 == len && !memcmp(text, text2, len));
	free(text);
	free(text2);
	return 0;
}
