/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jsonout.h: JSON text written fast, into a growing buffer. jsonout_json writes a jansson value
 * byte for byte as json_dumps would with the same flags (JSON_INDENT(n) and JSON_COMPACT; any
 * other flag, and a nesting deeper than JSONOUT_MAX_DEPTH, go to json_dumps itself), several
 * times faster: a manifest of 10,000 agents is about 6.6 MB, and json_dumps took 60 to 80 ms of
 * the aggregator's loop for it, once a second. Integers are written without printf; strings that
 * need no escape are copied as they are, the others written by jansson.
 *
 * A buffer starts zeroed ({ 0 }); its text stays NUL-terminated. A failed allocation sets oom
 * and every later call does nothing, so a writer checks once, at the end.
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
	bool oom;
};

void jsonout_put(struct jsonout *b, const char *s, size_t n);
void jsonout_str(struct jsonout *b, const char *s);
/* Decimal, as printf's %llu and %lld. */
void jsonout_u64(struct jsonout *b, uint64_t v);
void jsonout_i64(struct jsonout *b, int64_t v);
/* j as json_dumps(j, flags) writes it (JSON_ENCODE_ANY is implied); -ENOMEM or -EINVAL. */
int jsonout_json(struct jsonout *b, const json_t *j, size_t flags);
/* The text, which the caller frees, with its length; NULL when any write failed. */
char *jsonout_take(struct jsonout *b, size_t *len);
void jsonout_free(struct jsonout *b);

#endif /* EDGECAP_JSONOUT_H */
