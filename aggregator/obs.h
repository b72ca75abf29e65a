/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * obs.h: what the API's thread may see of the main loop, and what the metrics (main loop) see
 * of the API's thread. The two threads share nothing else but the store and the credentials:
 *  - the main loop beats (obs_heartbeat) on every pass; GET /healthz is healthy while the last
 *    beat is recent, so a stuck loop shows up as 503 even though the HTTP thread still answers;
 *  - the main loop publishes the agent registry it owns (fanout.h) as a JSON snapshot; the API's
 *    agent listing answers from the newest snapshot;
 *  - the API's thread counts its answers by HTTP status for the metrics.
 * Every function may be called from either thread.
 */
#ifndef EDGECAP_OBS_H
#define EDGECAP_OBS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

/* How long the main loop may go without a beat before /healthz says it is stalled. */
#define OBS_STALL_US (10 * 1000000ULL)

struct obs;

int obs_new(struct obs **out);
void obs_free(struct obs *o);

/* Main loop: "I ran at now_us". */
void obs_heartbeat(struct obs *o, uint64_t now_us);
/* Whether the last beat is within OBS_STALL_US of now_us; *age_us (may be NULL) is its age. */
bool obs_healthy(const struct obs *o, uint64_t now_us, uint64_t *age_us);

/* Main loop: the registry now (fanout_agents_json), replacing the last one; steals agents. */
void obs_publish_agents(struct obs *o, json_t *agents);
/* The newest snapshot, as a new reference to a copy: [] before the first publish. */
json_t *obs_agents(struct obs *o);

/* API thread: one answer with HTTP status. */
void obs_count_request(struct obs *o, unsigned int status);
/* Answers with status so far (100..599; others 0). */
uint64_t obs_requests(const struct obs *o, unsigned int status);

#endif /* EDGECAP_OBS_H */
