// SPDX-License-Identifier: BSD-2-Clause
/*
 * store_index.c: the store's indexes over s->caps (store_internal.h), so that no call walks
 * every capture kept:
 * - the records by id (open addressing, for every lookup of the API and the ingest);
 * - by account (the list's pages, the rate rules);
 * - the busy list: what the lifecycle tick looks at (the captures not final, those whose
 *   manifest lags, and the final ones whose agents are still in memory), and what the lists of
 *   captures not final read (a join's running captures, the uploader's);
 * - the census: the records by status and type, for the metrics' scrape.
 * A store keeps its finished captures for retention-days; with many accounts that is millions
 * of records.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* --- by id -------------------------------------------------------------------------------- */

/*
 * FNV-1a over the id's 32 characters. Ids are made by the store from the system's random
 * source (or are directory names that were), not chosen by a caller.
 */
static size_t id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 32));
}

/* Room for n records at a load of at most one half: -ENOMEM, with the map unchanged. */
static int ids_reserve(struct store *s, size_t n)
{
	struct store_capture **map, **old = s->ids;
	size_t cap = s->ids_cap ? s->ids_cap : 64, i, k;

	while (cap < 2 * n)
		cap *= 2;
	if (cap == s->ids_cap)
		return 0;
	map = calloc(cap, sizeof(*map));
	if (!map)
		return -ENOMEM;
	for (i = 0; i < s->ids_cap; i++) {
		if (!old[i])
			continue;
		for (k = id_hash(old[i]->rec.id) & (cap - 1); map[k]; k = (k + 1) & (cap - 1))
			;
		map[k] = old[i];
	}
	free(old);
	s->ids = map;
	s->ids_cap = cap;
	return 0;
}

/* After ids_reserve: cannot fail. */
static void ids_insert(struct store *s, struct store_capture *c)
{
	size_t k;

	for (k = id_hash(c->rec.id) & (s->ids_cap - 1); s->ids[k]; k = (k + 1) & (s->ids_cap - 1))
		;
	s->ids[k] = c;
}

struct store_capture *store_find(const struct store *s, const char *id)
{
	size_t k;

	if (!s->ids_cap)
		return NULL;
	for (k = id_hash(id) & (s->ids_cap - 1); s->ids[k]; k = (k + 1) & (s->ids_cap - 1)) {
		if (!strcmp(s->ids[k]->rec.id, id))
			return s->ids[k];
	}
	return NULL;
}

/* --- by account --------------------------------------------------------------------------- */

struct store_account_index *store_account_find(const struct store *s, const char *account)
{
	size_t i;

	for (i = 0; i < s->n_accts; i++) {
		if (!strcmp(s->accts[i].account, account))
			return &s->accts[i];
	}
	return NULL;
}

/*
 * Adds pos to its account's positions: -ENOMEM with no position added (a new account may stay,
 * with none, as an account does whose captures retention removed).
 */
static int account_add(struct store *s, size_t pos)
{
	const char *account = s->caps[pos]->rec.account;
	struct store_account_index *x = store_account_find(s, account);
	size_t cap, *p;

	if (!x) {
		if (s->n_accts == s->cap_accts) {
			cap = s->cap_accts ? 2 * s->cap_accts : 8;
			x = realloc(s->accts, cap * sizeof(*x));
			if (!x)
				return -ENOMEM;
			s->accts = x;
			s->cap_accts = cap;
		}
		x = &s->accts[s->n_accts++];
		memset(x, 0, sizeof(*x));
		snprintf(x->account, sizeof(x->account), "%s", account);
	}
	if (x->n == x->cap) {
		cap = x->cap ? 2 * x->cap : 64;
		p = realloc(x->pos, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		x->pos = p;
		x->cap = cap;
	}
	x->pos[x->n++] = pos;
	return 0;
}

/* --- the busy list ------------------------------------------------------------------------ */

/*
 * Whether the tick has anything to look at in c (its lifecycle, its manifest, its agents), or
 * the lists of captures not final (an upload to come).
 */
static bool busy(const struct store_capture *c)
{
	return !capture_status_final(c->rec.status) || c->manifest_dirty || c->agents;
}

/* Room for every record in the busy list: each is there at most once. */
static int busy_reserve(struct store *s, size_t n)
{
	struct store_capture **b;
	size_t cap = s->busy_cap ? s->busy_cap : 64;

	while (cap < n)
		cap *= 2;
	if (cap == s->busy_cap)
		return 0;
	b = realloc(s->busy, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->busy = b;
	s->busy_cap = cap;
	return 0;
}

void store_busy_add(struct store *s, struct store_capture *c)
{
	if (c->in_busy)
		return;
	c->in_busy = true;
	s->busy[s->n_busy++] = c;
}

void store_busy_prune(struct store *s)
{
	size_t i, kept = 0;

	for (i = 0; i < s->n_busy; i++) {
		struct store_capture *c = s->busy[i];

		if (busy(c))
			s->busy[kept++] = c;
		else
			c->in_busy = false;
	}
	s->n_busy = kept;
}

/* --- the census --------------------------------------------------------------------------- */

/* c's count in the census; NULL for a status or type the census has no row for. */
static uint64_t *census_slot(struct store *s, const struct store_capture *c)
{
	if ((unsigned int)c->rec.status >= STORE_CENSUS_STATUSES ||
	    (unsigned int)c->rec.req.type >= STORE_CENSUS_TYPES)
		return NULL;
	return &s->census[c->rec.status][c->rec.req.type];
}

static void census_count(struct store *s, struct store_capture *c, int delta)
{
	uint64_t *slot = census_slot(s, c);

	if (slot)
		*slot += delta;
}

void store_set_status(struct store *s, struct store_capture *c, enum capture_status st)
{
	if (c->in_census)
		census_count(s, c, -1);
	c->rec.status = st;
	if (c->in_census)
		census_count(s, c, 1);
}

void store_census(struct store *s, uint64_t counts[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES])
{
	pthread_mutex_lock(&s->lock);
	memcpy(counts, s->census, sizeof(s->census));
	pthread_mutex_unlock(&s->lock);
}

/* --- all of them -------------------------------------------------------------------------- */

int store_index_add(struct store *s, size_t pos)
{
	struct store_capture *c = s->caps[pos];

	if (ids_reserve(s, s->n) || busy_reserve(s, s->n) || account_add(s, pos))
		return -ENOMEM;
	ids_insert(s, c);
	if (busy(c))
		store_busy_add(s, c);
	c->in_census = true;
	census_count(s, c, 1);
	return 0;
}

void store_index_free(struct store *s)
{
	size_t i;

	for (i = 0; i < s->n_accts; i++)
		free(s->accts[i].pos);
	free(s->accts);
	s->accts = NULL;
	s->n_accts = s->cap_accts = 0;
	free(s->ids);
	s->ids = NULL;
	s->ids_cap = 0;
	free(s->busy);
	s->busy = NULL;
	s->n_busy = s->busy_cap = 0;
}

int store_index_rebuild(struct store *s)
{
	size_t i;
	int ret = 0;

	/* Emptied, not freed: as many records as before or fewer need no memory. */
	if (s->ids)
		memset(s->ids, 0, s->ids_cap * sizeof(*s->ids));
	for (i = 0; i < s->n_busy; i++)
		s->busy[i]->in_busy = false;
	s->n_busy = 0;
	for (i = 0; i < s->n_accts; i++)
		s->accts[i].n = 0;
	memset(s->census, 0, sizeof(s->census));
	for (i = 0; i < s->n; i++)
		s->caps[i]->in_census = false;
	for (i = 0; i < s->n; i++) {
		if (store_index_add(s, i) && !ret)
			ret = -ENOMEM;
	}
	return ret;
}
