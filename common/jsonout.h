/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jsonout.h: JSON text written fast, into a growing buffer. jsonout_json writes a jansson value
 * byte for byte as json_dumps would with the same flags (JSON_INDENT(n) and JSON_COMPACT; any
 * other flag, and a nesting deeper than JSONOUT_MAX_DEPTH, go to json_dumps itself), about four
 * times faster: a capture's manifest with 10,000 agents is about 7.5 MB at its end, and
 * json_dumps took 60 to 80 ms of the aggregator's loop for it (the agents' reports rewrite it when
 * they first send, at their finals and at the end). Integers are written without printf; strings
 * that need no escape are copied as they are, the others written by jansson.
 *
 * A buffer starts zeroed ({ 0 }); its text stays NUL-terminated. A failed allocation sets oom,
 * and a value jsonout_json could not write sets failed; after either every later call does
 * nothing and jsonout_take gives NULL, so a writer may check once, at the end.
 */
#ifndef EDGECAP_JSONOUT_H
#define EDGECAP_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define JSONOUT_MAX_DEPTH 64

struct jsonout {
	char *p; /* NULL until something is written */
	size_t len, cap;
	bool oom;    /* an allocation failed */
	bool failed; /* a value could not be written (jsonout_json's -EINVAL), or oom */
};

void jsonout_put(struct jsonout *b, const char *s, size_t n);
void jsonout_str(struct jsonout *b, const char *s);
/* Decimal, as printf's %llu and %lld. */
void jsonout_u64(struct jsonout *b, uint64_t v);
void jsonout_i64(struct jsonout *b, int64_t v);
/* j as json_dumps(j, flags) writes it (JSON_ENCODE_ANY is implied); -ENOMEM or -EINVAL. */
int jsonout_json(struct jsonout *b, const json_t *j, size_t flags);
/* The text, which the caller frees, with its length; NULL after oom or failed. */
char *jsonout_take(struct jsonout *b, size_t *len);
void jsonout_free(struct jsonout *b);

#endif /* EDGECAP_JSONOUT_H */
