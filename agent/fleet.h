/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fleet.h: the agent's side of the control plane (docs/protocol.md): a nanomsg RESPONDENT dialled
 * to the aggregator's SURVEYOR. It answers start, stop and status surveys; nanomsg reconnects by
 * itself when the aggregator comes back.
 */
#ifndef EDGECAP_FLEET_H
#define EDGECAP_FLEET_H

#include <stddef.h>

struct agent;

int fleet_open(struct agent *a, char *err, size_t errlen);
/* Answers one survey if one is waiting. */
void fleet_handle(struct agent *a);
void fleet_close(struct agent *a);

#endif /* EDGECAP_FLEET_H */
