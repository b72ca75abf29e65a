// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "obs.h"

#define STATUS_MIN 100
#define STATUS_MAX 599

struct obs {
	_Atomic uint64_t beat_us;
	pthread_mutex_t lock; /* guards agents: jansson's reference counts are not atomic */
	json_t *agents;
	_Atomic uint64_t requests[STATUS_MAX - STATUS_MIN + 1];
};

int obs_new(struct obs **out)
{
	struct obs *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->lock, NULL);
	o->agents = json_array();
	if (!o->agents) {
		obs_free(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

void obs_free(struct obs *o)
{
	if (!o)
		return;
	json_decref(o->agents);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

void obs_heartbeat(struct obs *o, uint64_t now_us)
{
	atomic_store(&o->beat_us, now_us);
}

bool obs_healthy(const struct obs *o, uint64_t now_us, uint64_t *age_us)
{
	uint64_t beat = atomic_load(&((struct obs *)o)->beat_us);
	uint64_t age = beat && now_us > beat ? now_us - beat : 0;

	if (age_us)
		*age_us = age;
	return beat && age <= OBS_STALL_US;
}

void obs_publish_agents(struct obs *o, json_t *agents)
{
	json_t *old;

	if (!agents)
		return;
	pthread_mutex_lock(&o->lock);
	old = o->agents;
	o->agents = agents;
	pthread_mutex_unlock(&o->lock);
	json_decref(old);
}

json_t *obs_agents(struct obs *o)
{
	json_t *copy;

	pthread_mutex_lock(&o->lock);
	copy = json_deep_copy(o->agents);
	pthread_mutex_unlock(&o->lock);
	return copy;
}

void obs_count_request(struct obs *o, unsigned int status)
{
	if (status >= STATUS_MIN && status <= STATUS_MAX)
		atomic_fetch_add(&o->requests[status - STATUS_MIN], 1);
}

uint64_t obs_requests(const struct obs *o, unsigned int status)
{
	if (status < STATUS_MIN || status > STATUS_MAX)
		return 0;
	return atomic_load(&((struct obs *)o)->requests[status - STATUS_MIN]);
}
