/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prom.h: Prometheus text exposition format (version 0.0.4), written into a growing buffer.
 *
 * A metric family is one prom_family() call (its # HELP and # TYPE lines) followed by all of its
 * samples: the format wants a family's samples together, so callers loop over families outside
 * and over the things they describe inside. Names are the caller's (prefixed edgecap_agent_ or
 * edgecap_aggregator_, counters ending in _total); label values are escaped here.
 *
 * A failed allocation is remembered and makes prom_finish fail: no half-written page is served.
 */
#ifndef EDGECAP_PROM_H
#define EDGECAP_PROM_H

#include <stddef.h>
#include <stdint.h>

/* The Content-Type of a page of this format. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom {
	char *buf;
	size_t len, cap;
	int err; /* -ENOMEM once an append failed */
};

enum prom_type {
	PROM_COUNTER,
	PROM_GAUGE,
};

void prom_init(struct prom *p);
/* Frees the buffer (prom_finish's caller owns it once taken). */
void prom_free(struct prom *p);
/* The # HELP and # TYPE lines of family name. */
void prom_family(struct prom *p, const char *name, enum prom_type type, const char *help);
/*
 * One sample of family name: name{k1="v1",...} value. The labels are (key, value) string pairs
 * ending with NULL; a NULL value leaves its pair out.
 */
void prom_sample(struct prom *p, const char *name, uint64_t value, ...) __attribute__((sentinel));
void prom_sample_double(struct prom *p, const char *name, double value, ...)
	__attribute__((sentinel));
/* A family of one sample without labels: its # HELP and # TYPE lines, then name value. */
void prom_single(struct prom *p, const char *name, enum prom_type type, const char *help,
		 uint64_t value);
/* The page: *out (malloc'd, the caller frees it) and *len; -ENOMEM if an append failed. */
int prom_finish(struct prom *p, char **out, size_t *len);

#endif /* EDGECAP_PROM_H */
