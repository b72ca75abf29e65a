// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostidx.h"

/* FNV-1a, folded. */
static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

static uint32_t *slot(uint32_t *slots, size_t size, const char *host, hostidx_name_fn name,
		      const void *array)
{
	size_t mask = size - 1, i = hash(host) & mask;

	while (slots[i] && strcmp(name(array, slots[i] - 1), host))
		i = (i + 1) & mask;
	return &slots[i];
}

long hostidx_find(const struct hostidx *x, const char *host, hostidx_name_fn name,
		  const void *array)
{
	uint32_t *s;

	if (!x->size)
		return -1;
	s = slot(x->slots, x->size, host, name, array);
	return *s ? (long)*s - 1 : -1;
}

int hostidx_add(struct hostidx *x, size_t pos, hostidx_name_fn name, const void *array)
{
	size_t i;

	if ((x->n + 1) * 2 > x->size) {
		size_t size = x->size ? x->size * 2 : 32;
		uint32_t *slots = calloc(size, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (i = 0; i < x->size; i++) {
			if (x->slots[i])
				*slot(slots, size, name(array, x->slots[i] - 1), name, array) =
					x->slots[i];
		}
		free(x->slots);
		x->slots = slots;
		x->size = size;
	}
	*slot(x->slots, x->size, name(array, pos), name, array) = (uint32_t)(pos + 1);
	x->n++;
	return 0;
}

void hostidx_free(struct hostidx *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}
