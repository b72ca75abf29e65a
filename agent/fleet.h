/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fleet.h: the agent's side of the control plane (docs/protocol.md): an NNG RESPONDENT dialled
 * to the aggregator's SURVEYOR. It answers start, stop and status surveys, through the capture
 * table (captures.h) and the send queue's figures; NNG redials by itself when the
 * aggregator comes back, and fleet_tick replaces a dialer that stopped (redial.h). A full capture
 * is started only on an agent in its colo (or metro).
 */
#ifndef EDGECAP_FLEET_H
#define EDGECAP_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "agent_config.h"
#include "captures.h"
#include "ship.h"

struct fleet;

/*
 * Dials cfg's control URL. cfg, caps and ship are kept and must outlive the fleet link. Returns
 * 0 or a negative errno; err says why.
 */
int fleet_open(const struct agent_config *cfg, struct captures *caps, struct ship *ship,
	       struct fleet **out, char *err, size_t errlen);
/* Frees f and closes its socket (NULL is accepted). */
void fleet_close(struct fleet *f);
/* A descriptor that polls readable when a survey is waiting. */
int fleet_recv_fd(const struct fleet *f);
/* Answers one survey if one is waiting. */
void fleet_handle(struct fleet *f);
/* From the agent's loop (now_ms: agent_now_ms()): redial_tick on the control link. */
int fleet_tick(struct fleet *f, uint64_t now_ms);
/*
 * The aggregator link as JSON (new reference): control and data URLs, connections, the send
 * queue's figures, control messages taken and refused.
 */
json_t *fleet_status_json(const struct fleet *f);
/* Connections to the aggregator's control endpoint now (0 or 1), and surveys taken / refused. */
int fleet_control_connections(const struct fleet *f);
void fleet_control_counts(const struct fleet *f, uint64_t *taken, uint64_t *refused);

#endif /* EDGECAP_FLEET_H */
