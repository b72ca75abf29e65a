/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * agent.h: edgecap-agent's lifecycle, as main() drives it: open, run the event loop, close.
 *
 * The loop (loop.c) owns every part and is the only caller of fleet.c (the aggregator's surveys)
 * and local_ctl.c (edgecapctl's socket); they reach the captures through the capture table
 * (captures.c), never back into the loop. One loop polls the signals, the ring buffers, the
 * control, local and data sockets and the timers; nothing busy-polls.
 */
#ifndef EDGECAP_AGENT_H
#define EDGECAP_AGENT_H

#include "agent_config.h"

struct agent;

/*
 * Sets up an agent for cfg (copied): SIGINT/SIGTERM as a descriptor, the engine attached to
 * every interface, the send queue, the aggregator link and the local socket. Returns 0 or a
 * negative errno after logging what failed, having freed what it had set up.
 */
int agent_open(const struct agent_config *cfg, struct agent **out);
/*
 * Runs the loop until SIGINT or SIGTERM has stopped every capture and each has completed, then
 * gives the final messages a moment to leave. Returns 0 or a negative errno (poll failed).
 */
int agent_run(struct agent *a);
/* Completes the captures still in the table, closes the sockets, detaches, frees a (NULL ok). */
void agent_close(struct agent *a);

#endif /* EDGECAP_AGENT_H */
