/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * local_ops.h: capture lifecycles that involve no agent, for an aggregator without the agent
 * fan-out (the fan-out's own capture_ops replace them). ctx is the struct store.
 *
 *  - no_fanout_ops: what the aggregator honestly reports while it cannot reach agents: every
 *    capture fails at once with "no agent accepted the capture".
 *  - no_agents_ops (`--no-agents`, for tests and demos of the API): a capture runs with no
 *    agent taking part, and ends where one with agents would (at its time_limit plus grace, or
 *    a stop plus grace) with what zero agents sent: for a simple capture, a valid pcap file with
 *    no packets; its manifest has an empty agents object and stop_reason "time_limit" or
 *    "stopped".
 */
#ifndef EDGECAP_LOCAL_OPS_H
#define EDGECAP_LOCAL_OPS_H

#include "store.h"

#define NO_AGENT_MESSAGE "no agent accepted the capture"

extern const struct capture_ops no_fanout_ops;
extern const struct capture_ops no_agents_ops;

#endif /* EDGECAP_LOCAL_OPS_H */
