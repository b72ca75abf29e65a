/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * counters_json.h: the counter table (counters.h) as JSON members, one per counter, named as in
 * the table. edgecapctl's summary, the agent's status and the aggregator's manifest use these,
 * so a counter is spelled the same in all of them.
 */
#ifndef EDGECAP_COUNTERS_JSON_H
#define EDGECAP_COUNTERS_JSON_H

#include <jansson.h>

#include "capture_abi.h"
#include "wire.h"

/* Sets one member per EC_KERNEL_COUNTERS line on obj; returns 0 or -ENOMEM. */
int counters_kernel_json(json_t *obj, const struct ec_slot_counters *k);
/* Sets one member per EC_CAPTURE_COUNTERS line on obj; returns 0 or -ENOMEM. */
int counters_capture_json(json_t *obj, const struct wire_counters *c);

#endif /* EDGECAP_COUNTERS_JSON_H */
