// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_tls.h"
#include "counters.h"
#include "fanout.h"
#include "ingest.h"
#include "metrics.h"

#define P "edgecap_aggregator_"

/* The statuses an API answer may have, in the order they are listed. */
#define STATUS_FIRST 100
#define STATUS_LAST  599

static uint64_t ju(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* Agents in the registry by colo, connected or lost (missed its last status surveys). */
static void agents(const struct agg_metrics_src *s, struct prom *p)
{
	json_t *arr = s->lc->fanout ? fanout_agents_json(s->lc->fanout) : NULL;
	json_t *by = json_object(), *a, *counts;
	const char *colo;
	size_t i;

	prom_family(p, P "agents", PROM_GAUGE,
		    "agents in the registry by colo; state connected, or lost (missed its last "
		    "status surveys)");
	json_array_foreach (arr, i, a) {
		const char *c = json_string_value(json_object_get(a, "colo"));
		const char *st =
			json_is_true(json_object_get(a, "connected")) ? "connected" : "lost";

		if (!c)
			c = "";
		counts = json_object_get(by, c);
		if (!counts) {
			counts = json_pack("{s:I, s:I}", "connected", (json_int_t)0, "lost",
					   (json_int_t)0);
			json_object_set_new(by, c, counts);
		}
		json_object_set_new(counts, st, json_integer((json_int_t)ju(counts, st) + 1));
	}
	json_object_foreach (by, colo, counts) {
		prom_sample(p, P "agents", ju(counts, "connected"), "colo", colo, "state",
			    "connected", NULL);
		prom_sample(p, P "agents", ju(counts, "lost"), "colo", colo, "state", "lost", NULL);
	}
	prom_single(p, P "control_replies_refused_total", PROM_COUNTER,
		    "control replies refused: they did not prove the host id they claim",
		    s->lc->fanout ? fanout_refused(s->lc->fanout) : 0);
	prom_single(p, P "control_replies_late_total", PROM_COUNTER,
		    "control replies read after their survey ended, dropped",
		    s->lc->fanout ? fanout_late(s->lc->fanout) : 0);
	prom_single(p, P "control_joins_refused_total", PROM_COUNTER,
		    "late joins refused: the join queue was full, the agents were not asked",
		    s->lc->fanout ? fanout_joins_refused(s->lc->fanout) : 0);
	prom_family(p, P "listener_restarts_total", PROM_COUNTER,
		    "ipc:// listeners closed and started afresh because they stopped answering "
		    "(NNG 1.5.2, nng #1518)");
	prom_sample(p, P "listener_restarts_total",
		    s->lc->fanout ? fanout_listener_restarts(s->lc->fanout) : 0, "plane", "control",
		    NULL);
	prom_sample(p, P "listener_restarts_total",
		    s->lc->ingest ? ingest_listener_restarts(s->lc->ingest) : 0, "plane", "data",
		    NULL);
	json_decref(by);
	json_decref(arr);
}

static void captures(const struct agg_metrics_src *s, struct prom *p)
{
	uint64_t counts[STORE_CENSUS_STATUSES][STORE_CENSUS_TYPES];
	unsigned int st, t;

	store_census(s->store, counts);
	prom_family(p, P "captures", PROM_GAUGE, "captures in the store by status and type");
	for (st = 0; st < STORE_CENSUS_STATUSES; st++) {
		const char *name = capture_status_name((enum capture_status)st);

		if (!strcmp(name, "unknown"))
			continue;
		for (t = 0; t < STORE_CENSUS_TYPES; t++)
			prom_sample(p, P "captures", counts[st][t], "status", name, "type",
				    capture_type_name((enum capture_type)t), NULL);
	}
	prom_single(p, P "retention_removed_total", PROM_COUNTER,
		    "finished captures removed by retention (--retention-days, "
		    "--retention-captures) since start",
		    s->retention_removed);
}

static void ingest(const struct agg_metrics_src *s, struct prom *p)
{
	static const struct {
		const char *key, *name, *help;
	} totals[] = {
		{ "messages", P "ingest_messages_total", "data messages received from agents" },
		{ "bytes", P "ingest_bytes_total", "bytes of the data messages received" },
		{ "batches", P "ingest_batches_total", "record batches taken" },
		{ "records", P "ingest_records_total", "packet records in the batches taken" },
		{ "finals", P "ingest_finals_total", "agents' final messages taken" },
	};
	json_t *st = s->lc->ingest ? ingest_stats_json(s->lc->ingest) : json_object();
	json_t *fin = json_object_get(st, "finals_sum"), *v;
	const char *cause;
	char name[96], help[256];
	size_t i;

	for (i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		prom_single(p, totals[i].name, PROM_COUNTER, totals[i].help, ju(st, totals[i].key));
	prom_family(p, P "ingest_dropped_messages_total", PROM_COUNTER,
		    "data messages dropped, by cause (truncated, bad_mac, unknown_capture, late, "
		    "duplicate, ...)");
	json_object_foreach (json_object_get(st, "dropped"), cause, v)
		prom_sample(p, P "ingest_dropped_messages_total",
			    (uint64_t)(json_integer_value(v) > 0 ? json_integer_value(v) : 0),
			    "cause", cause, NULL);
	/* Where packets were lost before they reached the aggregator, as the agents reported. */
	prom_family(p, P "records_lost_total", PROM_COUNTER,
		    "packets the agents reported lost in their final messages, by cause: ring_full "
		    "(kernel ring buffer), send_queue (the agent's bounded send queue)");
	prom_sample(p, P "records_lost_total", ju(fin, "ring_full"), "cause", "ring_full", NULL);
	prom_sample(p, P "records_lost_total", ju(fin, "records_dropped"), "cause", "send_queue",
		    NULL);
	/*
	 * Every counter of the agents' final messages, summed: one family per table line but
	 * last_seq, a sequence number.
	 */
#define FAMILY(cname, chelp)                                                                      \
	if (strcmp(#cname, "last_seq")) {                                                         \
		snprintf(name, sizeof(name), P "agent_final_%s_total", #cname);                   \
		snprintf(help, sizeof(help),                                                      \
			 "%s, summed over the agents' final messages (counter table: %s)", chelp, \
			 #cname);                                                                 \
		prom_single(p, name, PROM_COUNTER, help, ju(fin, #cname));                        \
	}
	EC_CAPTURE_COUNTERS(FAMILY)
#undef FAMILY
	json_decref(st);
}

static void api(const struct agg_metrics_src *s, struct prom *p)
{
	char code[8];
	unsigned int st;
	uint64_t n;

	prom_family(p, P "api_requests_total", PROM_COUNTER,
		    "HTTP API answers (GET /healthz included), by status code");
	for (st = STATUS_FIRST; st <= STATUS_LAST; st++) {
		n = obs_requests(s->obs, st);
		if (!n)
			continue;
		snprintf(code, sizeof(code), "%u", st);
		prom_sample(p, P "api_requests_total", n, "code", code, NULL);
	}
	/* Read in the main loop, as SIGHUP's renewal is: no lock. */
	if (s->tls)
		prom_single(p, P "api_tls_not_after_seconds", PROM_GAUGE,
			    "when the API's HTTPS certificate expires, as a Unix time (renewed by "
			    "SIGHUP)",
			    (uint64_t)api_tls_not_after_unix(s->tls));
}

int agg_metrics_render(void *ctx, struct prom *p)
{
	const struct agg_metrics_src *s = ctx;

	agents(s, p);
	captures(s, p);
	ingest(s, p);
	api(s, p);
	return p->err;
}
