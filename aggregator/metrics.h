/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.h: edgecap-aggregator's Prometheus page (--metrics ADDR:PORT, GET /metrics). It is
 * rendered on the main loop, which owns the fan-out's agent registry and the ingest; the store
 * is read under its lock, the API's answer counts through obs.h. Names start
 * edgecap_aggregator_; counters end in _total. The sums of the agents' final counters are
 * generated from the counter table (counters.h).
 */
#ifndef EDGECAP_AGG_METRICS_H
#define EDGECAP_AGG_METRICS_H

#include <stdint.h>

#include "lifecycle.h"
#include "obs.h"
#include "prom.h"
#include "store.h"

/* What the page is made from; the pointers must outlive the listener. */
struct api_tls;

struct agg_metrics_src {
	struct store *store;
	struct lifecycle *lc; /* fanout and ingest are NULL with --no-agents */
	struct obs *obs;
	uint64_t retention_removed; /* captures retention removed since start (main loop's) */
	const struct api_tls *tls;  /* the API's HTTPS pair (api_tls.h); NULL: plain HTTP */
};

/* A metrics_render_fn (metrics_http.h): ctx is a struct agg_metrics_src. */
int agg_metrics_render(void *ctx, struct prom *p);

#endif /* EDGECAP_AGG_METRICS_H */
