/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hostidx.h: an index by host id into an array the caller keeps (the ingest's keys, a capture's
 * agents): open addressing over positions, so that a fleet of 10,000 hosts costs a hash and a
 * probe or two per message instead of a scan. Entries are only ever added (the arrays only
 * grow); the caller says where each entry's host id is.
 */
#ifndef EDGECAP_HOSTIDX_H
#define EDGECAP_HOSTIDX_H

#include <stddef.h>
#include <stdint.h>

/* The host id of entry i of the caller's array. */
typedef const char *(*hostidx_name_fn)(const void *array, size_t i);

struct hostidx {
	uint64_t *slots; /* position + 1, and the hash's high half above it; 0 is empty */
	size_t size;	 /* a power of two, at least twice the entries */
	size_t n;
};

/*
 * The hash of a host id every table keyed by host ids uses: SipHash-1-3 under a key drawn from
 * getrandom once per process, so that peers, who choose the ids they send, cannot choose ids
 * that collide.
 */
size_t hostidx_hash(const char *host);
/* Entry host's position, or -1. */
long hostidx_find(const struct hostidx *x, const char *host, hostidx_name_fn name,
		  const void *array);
/* Adds entry pos (its host id not in the index yet); 0 or -ENOMEM. array as it is now. */
int hostidx_add(struct hostidx *x, size_t pos, hostidx_name_fn name, const void *array);
void hostidx_free(struct hostidx *x);

#endif /* EDGECAP_HOSTIDX_H */
