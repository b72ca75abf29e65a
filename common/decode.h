/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * decode.h: what the decoders of untrusted input (wire.c, control.c, request.c) share, so that
 * each rule is written once: a failure's reason written into the caller's buffer, and a member
 * name checked against the names a message may have. No state, no allocation.
 */
#ifndef EDGECAP_DECODE_H
#define EDGECAP_DECODE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Formats a failure's reason into reason (NULL or reasonlen 0: none is wanted) and returns err,
 * so that a decoder can `return decode_fail(-EINVAL, ...)`.
 */
int decode_fail(int err, char *reason, size_t reasonlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Whether name is one of the n strings in names. */
bool decode_name_in(const char *name, const char *const *names, size_t n);

#endif /* EDGECAP_DECODE_H */
