/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * agent.h: the state of a running edgecap-agent, shared by its modules: agentd.c (the event loop
 * and the captures), fleet.c (the aggregator's control messages) and local_ctl.c (edgecapctl's
 * socket on this host).
 *
 * A capture comes from the aggregator (its packets are shipped in batches, then a final message)
 * or from edgecapctl on this host (its packets go to a pcap file on this host). Either way it
 * runs in one engine slot on every interface.
 */
#ifndef EDGECAP_AGENT_H
#define EDGECAP_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "agent_clock.h"
#include "agent_config.h"
#include "engine.h"
#include "request.h"
#include "ship.h"
#include "wire.h"

#define AGENT_VERSION "0.1.0"

enum agent_capture_origin {
	ORIGIN_FLEET = 0, /* from the aggregator: shipped */
	ORIGIN_LOCAL = 1, /* from edgecapctl start: written to a pcap on this host */
};

struct pcap_writer;

struct agent_capture {
	char id[WIRE_CAPTURE_ID_HEX_LEN];
	uint8_t id_bin[WIRE_CAPTURE_ID_LEN];
	enum agent_capture_origin origin;
	struct capture_request req;
	struct capture *cap;
	uint64_t start_ns; /* UTC */
	/* ORIGIN_FLEET: what was shipped (the open batch itself is the batcher's) */
	struct wire_counters sent;
	/* ORIGIN_LOCAL */
	struct pcap_writer *writer;
	char output[256];
	int write_error;
};

struct agent {
	struct agent_config cfg;
	struct engine *engine;
	struct ship *ship;
	int control_sock; /* nanomsg RESPONDENT, dialled to the aggregator */
	int local_sock;	  /* nanomsg REP on the local ipc socket */
	struct agent_capture *captures[EC_MAX_SLOTS];
	uint64_t control_msgs, control_bad; /* control messages taken and refused */
	uint64_t last_control_ms;	    /* monotonic ms of the last control message */
};

/* Starts a capture; err names what is wrong. -EEXIST when id already runs here. */
int agent_capture_start(struct agent *a, const char *id, const struct capture_request *req,
			enum agent_capture_origin origin, const char *output, char *err,
			size_t errlen);
struct agent_capture *agent_capture_find(struct agent *a, const char *id);
/* The capture's live figures as JSON: id, origin, type, status, counters (new reference). */
json_t *agent_capture_json(const struct agent_capture *ac);
/* The agent's status as JSON: host, interfaces, aggregator connection, captures. */
json_t *agent_status_json(const struct agent *a);
/* Whether a full capture for colo_name runs on this agent (a colo, or a metro prefix). */
bool agent_colo_matches(const char *agent_colo, const char *colo_name);

#endif /* EDGECAP_AGENT_H */
