/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tool_flags.h: the flag checks ec_traffic and ec_livegen share: strict numbers (common/strnum.h:
 * no sign, no junk, no overflow) and the ECT1 --tag.
 *
 * Each returns 0, or -EINVAL with a one-line message in err that names the flag and the value,
 * e.g. "--size: 9 is out of range 60..4096". The tool prints it in its own style: ec_livegen
 * through log.h, ec_traffic with its "ec_traffic: " prefix.
 */
#ifndef EDGECAP_TOOL_FLAGS_H
#define EDGECAP_TOOL_FLAGS_H

#include <stdint.h>

/* Room for any message a sane flag value makes; longer ones are cut. */
#define TOOL_FLAG_ERR_LEN 4096

int tool_flag_u64(const char *flag, const char *val, uint64_t min, uint64_t max, uint64_t *out,
		  char err[TOOL_FLAG_ERR_LEN]);
int tool_flag_u32(const char *flag, const char *val, uint32_t min, uint32_t max, uint32_t *out,
		  char err[TOOL_FLAG_ERR_LEN]);
/* A size with an optional K, M or G suffix (powers of 1024), e.g. "32M". */
int tool_flag_size(const char *flag, const char *val, uint64_t min, uint64_t max, uint64_t *out,
		   char err[TOOL_FLAG_ERR_LEN]);
/* A tag is printed in JSON and compared byte for byte: printable ASCII, no quote or backslash. */
int tool_flag_tag(const char *tag, char err[TOOL_FLAG_ERR_LEN]);

#endif /* EDGECAP_TOOL_FLAGS_H */
