// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hostidx.h"
#include "log.h"
#include "osrandom.h"

/*
 * SipHash-1-3 (Aumasson and Bernstein; the parameters Python and Rust use for their tables)
 * under a key drawn once per process: host ids come from peers (a reply, a data message), and
 * with a hash known in advance a peer could pick ids that all land in one run of slots.
 */
static uint64_t seed[2];
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
	int ret = osrandom_fill(seed, sizeof(seed));

	if (ret) {
		struct timespec ts;

		/* Not a secret then, but still not the same in every process. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		seed[1] ^= (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL ^ (uintptr_t)&ts;
		pr_warn("no random bytes for the host index's hash seed: %s", strerror(-ret));
	}
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

/* The whole 64 bits: a slot's tag is their high half even where size_t has 32. */
static uint64_t hash64(const char *s)
{
	size_t len = strlen(s), left = len & 7, i;
	const uint8_t *in = (const uint8_t *)s, *end = in + (len - left);
	uint64_t v0, v1, v2, v3, m, b = (uint64_t)len << 56;

	pthread_once(&seed_once, seed_init);
	v0 = 0x736f6d6570736575ULL ^ seed[0];
	v1 = 0x646f72616e646f6dULL ^ seed[1];
	v2 = 0x6c7967656e657261ULL ^ seed[0];
	v3 = 0x7465646279746573ULL ^ seed[1];
	for (; in != end; in += 8) {
		for (m = 0, i = 0; i < 8; i++)
			m |= (uint64_t)in[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < left; i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

size_t hostidx_hash(const char *s)
{
	return (size_t)hash64(s);
}

/* A slot: the entry's position + 1 in its low half (0: empty), its hash's high half above. */
#define SLOT_POS(v) ((uint32_t)(v))
#define SLOT_TAG(v) ((uint32_t)((v) >> 32))

/*
 * The slot of host, or the empty one where it would go. A slot whose tag differs cannot be
 * host's: only a tag that matches costs a look at the entry's name, so that a lookup reads
 * about one entry (a cache miss each, with 10,000 hosts) however long its run of slots.
 */
static uint64_t *slot(uint64_t *slots, size_t size, const char *host, uint64_t hash,
		      hostidx_name_fn name, const void *array)
{
	size_t mask = size - 1, i = (size_t)hash & mask;
	uint32_t tag = (uint32_t)(hash >> 32);

	while (slots[i] &&
	       (SLOT_TAG(slots[i]) != tag || strcmp(name(array, SLOT_POS(slots[i]) - 1), host)))
		i = (i + 1) & mask;
	return &slots[i];
}

static uint64_t slot_value(size_t pos, uint64_t hash)
{
	return hash >> 32 << 32 | (uint32_t)(pos + 1);
}

long hostidx_find(const struct hostidx *x, const char *host, hostidx_name_fn name,
		  const void *array)
{
	uint64_t *s;

	if (!x->size)
		return -1;
	s = slot(x->slots, x->size, host, hash64(host), name, array);
	return *s ? (long)SLOT_POS(*s) - 1 : -1;
}

int hostidx_add(struct hostidx *x, size_t pos, hostidx_name_fn name, const void *array)
{
	const char *host = name(array, pos);
	uint64_t hash = hash64(host);
	size_t i;
	uint64_t *s;

	if ((x->n + 1) * 2 > x->size) {
		size_t size = x->size ? x->size * 2 : 32;
		uint64_t *slots = calloc(size, sizeof(*slots));
		const char *h;

		if (!slots)
			return -ENOMEM;
		for (i = 0; i < x->size; i++) {
			if (!x->slots[i])
				continue;
			/* The tag is the hash's high half: the name is hashed again for its slot.
			 */
			h = name(array, SLOT_POS(x->slots[i]) - 1);
			*slot(slots, size, h, hash64(h), name, array) = x->slots[i];
		}
		free(x->slots);
		x->slots = slots;
		x->size = size;
	}
	s = slot(x->slots, x->size, host, hash, name, array);
	/* A host already in the index moves to pos; it is not counted twice. */
	x->n += !*s;
	*s = slot_value(pos, hash);
	return 0;
}

void hostidx_free(struct hostidx *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}
