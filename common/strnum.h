/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * strnum.h: strict number parsing for flags and config files. The whole string must be a decimal
 * number in [min, max]: no sign, no leading or trailing blanks or junk, no empty string, no
 * overflow. Returns 0, or -EINVAL (not a number) or -ERANGE (outside [min, max]).
 */
#ifndef EDGECAP_STRNUM_H
#define EDGECAP_STRNUM_H

#include <stdint.h>

int strnum_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int strnum_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* A size with an optional K, M or G suffix (powers of 1024), e.g. "8M". */
int strnum_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif /* EDGECAP_STRNUM_H */
