// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "metrics.h"
#include "version.h"
#include "wire.h"

#define P "edgecap_agent_"

static const char *origin_name(enum agent_capture_origin o)
{
	return o == ORIGIN_FLEET ? "aggregator" : "local";
}

/*
 * Every capture in the table at one instant. All families read this one copy, so the page is
 * consistent (matched == sampled_out + budget_exhausted + ring_full + submitted holds on it)
 * and the kernel's per-CPU counters are read once per scrape.
 */
struct snapshot {
	unsigned int n;
	struct {
		char id[WIRE_CAPTURE_ID_HEX_LEN];
		enum agent_capture_origin origin;
		struct capture_stats st;
		struct wire_counters sent;
	} cap[EC_MAX_SLOTS];
};

static void snap_one(void *ctx, const struct captures_view *v)
{
	struct snapshot *sn = ctx;

	if (sn->n == EC_MAX_SLOTS)
		return;
	snprintf(sn->cap[sn->n].id, sizeof(sn->cap[0].id), "%s", v->id);
	sn->cap[sn->n].origin = v->origin;
	sn->cap[sn->n].st = *v->stats;
	sn->cap[sn->n].sent = *v->sent;
	sn->n++;
}

/* The kernel's counters of every capture in the table, per interface: one family each. */
static void capture_kernel_counters(const struct snapshot *sn, struct prom *p)
{
	char name[96], help[256];
	unsigned int c, i;

#define FAMILY(cname, chelp)                                                                     \
	snprintf(name, sizeof(name), P "capture_%s_total", #cname);                              \
	snprintf(help, sizeof(help), "%s, per capture and interface (counter table: %s)", chelp, \
		 #cname);                                                                        \
	prom_family(p, name, PROM_COUNTER, help);                                                \
	for (c = 0; c < sn->n; c++)                                                              \
		for (i = 0; i < sn->cap[c].st.n_ifaces; i++)                                     \
			prom_sample(p, name, sn->cap[c].st.iface[i].kernel.cname, "interface",   \
				    sn->cap[c].st.iface[i].ifname, "capture", sn->cap[c].id,     \
				    "origin", origin_name(sn->cap[c].origin), NULL);
	EC_KERNEL_COUNTERS(FAMILY)
#undef FAMILY
}

/* The agent's own counters of each fleet capture (its way to the aggregator). */
static void capture_agent_counters(const struct snapshot *sn, struct prom *p)
{
	char name[96], help[256];
	unsigned int c;

	/* last_seq is a sequence number, not a count: the final message carries it. */
#define FAMILY(cname, chelp)                                                                     \
	if (strcmp(#cname, "last_seq")) {                                                        \
		snprintf(name, sizeof(name), P "capture_%s_total", #cname);                      \
		snprintf(help, sizeof(help), "%s, per fleet capture (counter table: %s)", chelp, \
			 #cname);                                                                \
		prom_family(p, name, PROM_COUNTER, help);                                        \
		for (c = 0; c < sn->n; c++)                                                      \
			if (sn->cap[c].origin == ORIGIN_FLEET)                                   \
				prom_sample(p, name, sn->cap[c].sent.cname, "capture",           \
					    sn->cap[c].id, NULL);                                \
	}
	EC_AGENT_COUNTERS(FAMILY)
#undef FAMILY
}

/* Per interface, over every capture since start: the series that never go away. */
static void iface_counters(const struct agent_metrics_src *s, const struct snapshot *sn,
			   struct prom *p)
{
	unsigned int n = engine_n_ifaces(s->engine), i, c;
	struct ec_slot_counters tot[ENGINE_MAX_IFACES];
	char name[96], help[256];

	for (i = 0; i < n; i++) {
		captures_iface_done(s->caps, i, &tot[i]);
		for (c = 0; c < sn->n; c++) {
			if (i >= sn->cap[c].st.n_ifaces)
				continue;
#define ADD(cname, chelp) tot[i].cname += sn->cap[c].st.iface[i].kernel.cname;
			EC_KERNEL_COUNTERS(ADD)
#undef ADD
		}
	}
#define FAMILY(cname, chelp)                                                 \
	snprintf(name, sizeof(name), P "interface_%s_total", #cname);        \
	snprintf(help, sizeof(help),                                         \
		 "%s, per interface, summed over every capture since start " \
		 "(counter table: %s)",                                      \
		 chelp, #cname);                                             \
	prom_family(p, name, PROM_COUNTER, help);                            \
	for (i = 0; i < n; i++)                                              \
		prom_sample(p, name, tot[i].cname, "interface",              \
			    engine_iface(s->engine, i)->ifname, NULL);
	EC_KERNEL_COUNTERS(FAMILY)
#undef FAMILY
}

static void rings(const struct agent_metrics_src *s, struct prom *p)
{
	unsigned int n = engine_n_ifaces(s->engine), i;
	uint64_t used[ENGINE_MAX_IFACES], size[ENGINE_MAX_IFACES];
	bool ok[ENGINE_MAX_IFACES];

	for (i = 0; i < n; i++)
		ok[i] = !engine_ring_usage(s->engine, i, &used[i], &size[i]);
	prom_family(p, P "ring_used_bytes", PROM_GAUGE,
		    "bytes in the interface's ring buffer written by the kernel, not yet drained");
	for (i = 0; i < n; i++) {
		if (ok[i])
			prom_sample(p, P "ring_used_bytes", used[i], "interface",
				    engine_iface(s->engine, i)->ifname, NULL);
	}
	prom_family(p, P "ring_size_bytes", PROM_GAUGE,
		    "size of the interface's ring buffers, summed over its per-CPU rings");
	for (i = 0; i < n; i++) {
		if (ok[i])
			prom_sample(p, P "ring_size_bytes", size[i], "interface",
				    engine_iface(s->engine, i)->ifname, NULL);
	}
}

static void link_metrics(const struct agent_metrics_src *s, struct prom *p)
{
	int control = fleet_control_connections(s->fleet);
	uint64_t taken, refused;
	struct ship_stats ss;

	ship_get_stats(s->ship, &ss);
	fleet_control_counts(s->fleet, &taken, &refused);
	prom_family(p, P "aggregator_connected", PROM_GAUGE,
		    "1 while the link to the aggregator's endpoint is up (control: surveys, "
		    "data: batches)");
	prom_sample(p, P "aggregator_connected", control > 0, "link", "control", NULL);
	prom_sample(p, P "aggregator_connected", ss.connections > 0, "link", "data", NULL);
	prom_single(p, P "send_queue_bytes", PROM_GAUGE,
		    "bytes waiting in the send queue to the aggregator", ss.queued_bytes);
	prom_single(p, P "send_queue_messages", PROM_GAUGE,
		    "messages waiting in the send queue to the aggregator", ss.queued_msgs);
	prom_single(p, P "send_queue_limit_bytes", PROM_GAUGE,
		    "the send queue's bound (--queue-size)", s->cfg->queue_bytes);
	prom_single(p, P "send_queue_dropped_messages_total", PROM_COUNTER,
		    "messages the full send queue refused", ss.dropped_msgs);
	prom_single(p, P "send_queue_dropped_bytes_total", PROM_COUNTER,
		    "bytes of the messages the full send queue refused", ss.dropped_bytes);
	prom_single(p, P "sent_messages_total", PROM_COUNTER,
		    "messages handed to the aggregator's data socket", ss.sent_msgs);
	prom_single(p, P "sent_bytes_total", PROM_COUNTER,
		    "bytes of the messages handed to the aggregator's data socket", ss.sent_bytes);
	prom_single(p, P "control_messages_total", PROM_COUNTER,
		    "control messages (surveys) taken from the aggregator", taken);
	prom_single(p, P "control_refused_total", PROM_COUNTER,
		    "control messages refused (undecodable or invalid)", refused);
	prom_family(p, P "batch_codec", PROM_GAUGE,
		    "1 for the codec batches are compressed with now (negotiated from the "
		    "aggregator's surveys and --batch-codec), 0 for the others");
	for (unsigned int c = 0; c < WIRE_N_CODECS; c++)
		prom_sample(p, P "batch_codec", ship_codec(s->ship) == (enum wire_codec)c, "codec",
			    wire_codec_name(c), NULL);
}

/* Captures in the table by origin and state: running, or stopped and not yet completed. */
static void capture_states(const struct agent_metrics_src *s, const struct snapshot *sn,
			   struct prom *p)
{
	static const char *const states[] = { "running", "stopping" };
	static const enum agent_capture_origin origins[] = { ORIGIN_FLEET, ORIGIN_LOCAL };
	uint64_t n[2][2] = { { 0 } };
	unsigned int o, st, c;

	for (c = 0; c < sn->n; c++)
		n[sn->cap[c].origin == ORIGIN_LOCAL][sn->cap[c].st.reason != STOP_NONE]++;
	prom_family(p, P "captures", PROM_GAUGE,
		    "captures in the agent's table, by origin (aggregator or local) and state");
	for (o = 0; o < 2; o++) {
		for (st = 0; st < 2; st++)
			prom_sample(p, P "captures", n[o][st], "origin", origin_name(origins[o]),
				    "state", states[st], NULL);
	}
	prom_family(p, P "captures_completed_total", PROM_COUNTER,
		    "captures completed since start, by origin");
	for (o = 0; o < 2; o++)
		prom_sample(p, P "captures_completed_total",
			    captures_completed(s->caps, origins[o]), "origin",
			    origin_name(origins[o]), NULL);
}

int agent_metrics_render(void *ctx, struct prom *p)
{
	const struct agent_metrics_src *s = ctx;
	struct snapshot *sn = calloc(1, sizeof(*sn));

	if (!sn)
		return -ENOMEM;
	captures_foreach(s->caps, snap_one, sn);
	prom_family(p, P "info", PROM_GAUGE, "1, labelled with this agent's identity and version");
	prom_sample(p, P "info", 1, "host", s->cfg->host_id, "colo", s->cfg->colo, "version",
		    EDGECAP_VERSION, NULL);
	capture_states(s, sn, p);
	capture_kernel_counters(sn, p);
	capture_agent_counters(sn, p);
	iface_counters(s, sn, p);
	rings(s, p);
	link_metrics(s, p);
	free(sn);
	return p->err;
}
