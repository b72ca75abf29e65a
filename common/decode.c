// SPDX-License-Identifier: BSD-2-Clause
/* decode.c: the helpers the decoders share (decode.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"

int decode_fail(int err, char *reason, size_t reasonlen, const char *fmt, ...)
{
	va_list ap;

	if (reason && reasonlen) {
		va_start(ap, fmt);
		vsnprintf(reason, reasonlen, fmt, ap);
		va_end(ap);
	}
	return err;
}

bool decode_name_in(const char *name, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(name, names[i]))
			return true;
	}
	return false;
}
