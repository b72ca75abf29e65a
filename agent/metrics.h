/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.h: edgecap-agent's Prometheus page (--metrics ADDR:PORT, GET /metrics), rendered on
 * the event loop from the parts it reads: the capture table, the engine's interfaces and rings,
 * the send queue and the aggregator link. Names start edgecap_agent_; counters end in _total.
 * The per-capture and per-interface kernel counters are generated from the counter table
 * (counters.h), so a counter added there shows up here under its own name.
 */
#ifndef EDGECAP_AGENT_METRICS_H
#define EDGECAP_AGENT_METRICS_H

#include "agent_config.h"
#include "captures.h"
#include "engine.h"
#include "fleet.h"
#include "prom.h"
#include "ship.h"

/* What the page is made from; every pointer must outlive the listener. */
struct agent_metrics_src {
	const struct agent_config *cfg;
	const struct engine *engine;
	const struct captures *caps;
	const struct ship *ship;
	const struct fleet *fleet;
};

/* A metrics_render_fn (metrics_http.h): ctx is a struct agent_metrics_src. */
int agent_metrics_render(void *ctx, struct prom *p);

#endif /* EDGECAP_AGENT_METRICS_H */
