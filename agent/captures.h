/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * captures.h: the agent's capture table, the one owner of its captures: start, stop, completion,
 * their counters and their JSON views. The event loop, fleet.c (the aggregator's surveys) and
 * local_ctl.c (edgecapctl's socket) reach the captures only through here.
 *
 * A capture comes from the aggregator (ORIGIN_FLEET: its records go to the send queue in batches,
 * then one final message with its stop reason and counters) or from edgecapctl on this host
 * (ORIGIN_LOCAL: its records go to a pcap on this host, through the engine's pcap sink). Either
 * way it runs in one engine slot on every interface; the slot is its place in the table.
 */
#ifndef EDGECAP_CAPTURES_H
#define EDGECAP_CAPTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "agent_config.h"
#include "engine.h"
#include "request.h"
#include "ship.h"

enum agent_capture_origin {
	ORIGIN_FLEET = 0, /* from the aggregator: shipped */
	ORIGIN_LOCAL = 1, /* from edgecapctl start: written to a pcap on this host */
};

struct captures;
struct ctl_capture_status;
struct wire_counters;

/*
 * An empty table for captures on engine, shipped through ship, with cfg's host id, simple-capture
 * defaults and batch age. Keeps the three pointers: they must outlive the table.
 */
int captures_new(const struct agent_config *cfg, struct engine *engine, struct ship *ship,
		 struct captures **out);
/* Completes every capture still in the table (captures_complete_all), then frees t (NULL ok). */
void captures_free(struct captures *t);

/*
 * Starts a capture with id (32 hex digits) on every interface; output is the pcap file of a
 * local capture (NULL for a fleet one): a file name, or a path beneath cfg->output_dir (a
 * relative one is taken there), created mode 0640 without following a symlink (safefile.h);
 * anything else is refused (-EPERM, -EINVAL or -ELOOP; err names the path and the directory).
 * Returns 0, -EEXIST when id already runs here, or another negative errno; err says what is
 * wrong. A failed start leaves no file behind.
 */
int captures_start(struct captures *t, const char *id, const struct capture_request *req,
		   enum agent_capture_origin origin, const char *output, char *err, size_t errlen);
/*
 * What the kernel is given for req: the request's own values, else this host's defaults for a
 * simple capture (cfg's --sample-rate and --snaplen). A fleet capture's default snaplen stops at
 * the request's default (REQ_SIMPLE_SNAPLEN, 160): the aggregator cuts its records there, so a
 * larger --snaplen would only send bytes it drops. A local capture takes it whole.
 */
void captures_params(const struct agent_config *cfg, const struct capture_request *req,
		     enum agent_capture_origin origin, struct capture_params *out);
bool captures_running(const struct captures *t, const char *id);
/*
 * The origin of capture id (an enum agent_capture_origin), or -ENOENT. The fleet link touches
 * only ORIGIN_FLEET captures: a local capture is the host operator's, whatever id it has.
 */
int captures_origin(const struct captures *t, const char *id);
/* Stops capture id in the kernel (STOP_STOPPED); captures_tick completes it. -ENOENT: none. */
int captures_stop(struct captures *t, const char *id);
void captures_stop_all(struct captures *t);
/* How many captures are in the table (running, or stopped and not yet completed). */
unsigned int captures_count(const struct captures *t);

/* After engine_poll: ships batches older than the batch age and completes finished captures. */
void captures_tick(struct captures *t, uint64_t now_ms);
/* The lesser of timeout and the ms until a capture's open batch is due. */
int captures_timeout_ms(const struct captures *t, uint64_t now_ms, int timeout);
/* Completes every capture in the table now: last records, last batch, final message or pcap. */
void captures_complete_all(struct captures *t);

/*
 * Every capture's live figures, as a JSON array (new reference) of objects: id, origin, type,
 * status, duration_s, packets_captured, bytes_captured, kernel counters, then batches_sent and
 * records_dropped (fleet) or output (local), and the request.
 */
json_t *captures_json(const struct captures *t);
/* Fills out with the fleet captures' counters for a status reply, up to max; returns how many. */
unsigned int captures_fleet_status(const struct captures *t, struct ctl_capture_status *out,
				   unsigned int max);

/* One capture as the metrics see it; valid during the callback only. */
struct captures_view {
	const char *id;
	enum agent_capture_origin origin;
	enum capture_type type;
	const struct capture_stats *stats; /* live: per interface, reason STOP_NONE while running */
	const struct wire_counters *sent;  /* fleet captures: what was shipped (agent counters) */
};
typedef void (*captures_view_fn)(void *ctx, const struct captures_view *v);
/* Calls fn for every capture in the table, in slot order. */
void captures_foreach(const struct captures *t, captures_view_fn fn, void *ctx);
/*
 * The kernel's counters on engine interface iface, summed over every capture the table has
 * completed. With those of the captures it holds now (captures_foreach) they only grow, as
 * Prometheus counters must.
 */
void captures_iface_done(const struct captures *t, unsigned int iface,
			 struct ec_slot_counters *out);
/* Captures of origin completed since the table was made. */
uint64_t captures_completed(const struct captures *t, enum agent_capture_origin origin);

#endif /* EDGECAP_CAPTURES_H */
