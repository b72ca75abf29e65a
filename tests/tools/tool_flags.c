// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ect.h"
#include "strnum.h"
#include "tool_flags.h"

/* strnum's error as the message the tools have always printed. */
static int bad_number(const char *flag, const char *val, int ret, uint64_t min, uint64_t max,
		      char *err)
{
	if (ret == -ERANGE)
		snprintf(err, TOOL_FLAG_ERR_LEN, "%s: %s is out of range %" PRIu64 "..%" PRIu64,
			 flag, val, min, max);
	else
		snprintf(err, TOOL_FLAG_ERR_LEN, "%s: %s is not a decimal number", flag, val);
	return -EINVAL;
}

int tool_flag_u64(const char *flag, const char *val, uint64_t min, uint64_t max, uint64_t *out,
		  char err[TOOL_FLAG_ERR_LEN])
{
	int ret = strnum_u64(val, min, max, out);

	return ret ? bad_number(flag, val, ret, min, max, err) : 0;
}

int tool_flag_u32(const char *flag, const char *val, uint32_t min, uint32_t max, uint32_t *out,
		  char err[TOOL_FLAG_ERR_LEN])
{
	int ret = strnum_u32(val, min, max, out);

	return ret ? bad_number(flag, val, ret, min, max, err) : 0;
}

int tool_flag_size(const char *flag, const char *val, uint64_t min, uint64_t max, uint64_t *out,
		   char err[TOOL_FLAG_ERR_LEN])
{
	int ret = strnum_size(val, min, max, out);

	return ret ? bad_number(flag, val, ret, min, max, err) : 0;
}

int tool_flag_tag(const char *tag, char err[TOOL_FLAG_ERR_LEN])
{
	const char *p;

	if (strlen(tag) > ECT_TAG_MAX) {
		snprintf(err, TOOL_FLAG_ERR_LEN, "--tag: longer than %d characters", ECT_TAG_MAX);
		return -EINVAL;
	}
	for (p = tag; *p; p++) {
		if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\') {
			snprintf(err, TOOL_FLAG_ERR_LEN,
				 "--tag: only printable characters other than blanks, '\"' and "
				 "'\\' are allowed");
			return -EINVAL;
		}
	}
	return 0;
}
