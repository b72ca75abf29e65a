// SPDX-License-Identifier: BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <nanomsg/nn.h>
#include <nanomsg/survey.h>

#include "agent_clock.h"
#include "control.h"
#include "fleet.h"
#include "log.h"
#include "nnsock.h"

struct fleet {
	const struct agent_config *cfg;
	struct captures *caps;
	struct ship *ship;
	int sock;	    /* nanomsg RESPONDENT, dialled to the aggregator */
	uint64_t msgs, bad; /* control messages taken and refused */
	uint64_t last_ms;   /* monotonic ms of the last control message */
};

int fleet_open(const struct agent_config *cfg, struct captures *caps, struct ship *ship,
	       struct fleet **out, char *err, size_t errlen)
{
	int ret, maxsize = CTL_MSG_MAX, linger = 0;
	struct fleet *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->cfg = cfg;
	f->caps = caps;
	f->ship = ship;
	f->sock = nn_socket(AF_SP, NN_RESPONDENT);
	if (f->sock < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot create the control socket: %s", nn_strerror(-ret));
		free(f);
		return ret;
	}
	/* Nothing larger than a control message is read into memory. */
	nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof(maxsize));
	nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
	if (nn_connect(f->sock, cfg->control_url) < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot connect the control socket to %s: %s",
			 cfg->control_url, nn_strerror(-ret));
		fleet_close(f);
		return ret;
	}
	*out = f;
	return 0;
}

void fleet_close(struct fleet *f)
{
	if (!f)
		return;
	if (f->sock >= 0)
		nn_close(f->sock);
	free(f);
}

int fleet_recv_fd(const struct fleet *f)
{
	return nnsock_fd(f->sock, NN_RCVFD);
}

json_t *fleet_status_json(const struct fleet *f)
{
	json_t *agg = json_object();
	struct ship_stats ss;

	ship_get_stats(f->ship, &ss);
	json_object_set_new(agg, "control", json_string(f->cfg->control_url));
	json_object_set_new(agg, "data", json_string(f->cfg->data_url));
	json_object_set_new(agg, "connected", json_boolean(ss.connections > 0));
	json_object_set_new(agg, "data_connections", json_integer(ss.connections));
	json_object_set_new(
		agg, "control_connections",
		json_integer((json_int_t)nn_get_statistic(f->sock, NN_STAT_CURRENT_CONNECTIONS)));
	json_object_set_new(agg, "queued_bytes", json_integer((json_int_t)ss.queued_bytes));
	json_object_set_new(agg, "queued_messages", json_integer((json_int_t)ss.queued_msgs));
	json_object_set_new(agg, "sent_messages", json_integer((json_int_t)ss.sent_msgs));
	json_object_set_new(agg, "dropped_messages", json_integer((json_int_t)ss.dropped_msgs));
	json_object_set_new(agg, "dropped_bytes", json_integer((json_int_t)ss.dropped_bytes));
	json_object_set_new(agg, "control_messages", json_integer((json_int_t)f->msgs));
	json_object_set_new(agg, "control_refused", json_integer((json_int_t)f->bad));
	return agg;
}

/* Whether a full capture for colo_name runs on this agent (a colo, or a metro prefix). */
static bool colo_matches(const char *agent_colo, const char *colo_name)
{
	size_t n = strlen(colo_name), i;

	if (!*agent_colo || !n)
		return false;
	if (!strcasecmp(agent_colo, colo_name))
		return true;
	/* A metro ("ORD") is the letters a colo's name starts with ("ord02"). */
	for (i = 0; i < n; i++) {
		if (!isalpha((unsigned char)colo_name[i]))
			return false;
	}
	return !strncasecmp(agent_colo, colo_name, n) && !isalpha((unsigned char)agent_colo[n]);
}

static void reply_header(const struct fleet *f, struct ctl_msg *r, enum ctl_type type, uint64_t id)
{
	ctl_msg_init(r, type, id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", f->cfg->host_id);
	snprintf(r->colo, sizeof(r->colo), "%s", f->cfg->colo);
	snprintf(r->agent_version, sizeof(r->agent_version), "%s", AGENT_VERSION);
}

static void handle_start(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	const struct capture_request *req = &m->request;
	char err[512];
	int ret;

	reply_header(f, r, CTL_START_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	/* A full capture runs only in its colo; the others decline, which is no error. */
	if (req->type == CAPTURE_FULL && !colo_matches(f->cfg->colo, req->colo_name)) {
		snprintf(r->reason, sizeof(r->reason), "colo %s is not in %s",
			 f->cfg->colo[0] ? f->cfg->colo : "(none)", req->colo_name);
		return;
	}
	/* A start surveyed again (the aggregator restarted or retried) is already running. */
	if (captures_running(f->caps, m->capture_id)) {
		r->accepted = true;
		return;
	}
	ret = captures_start(f->caps, m->capture_id, req, ORIGIN_FLEET, NULL, err, sizeof(err));
	if (ret) {
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
		pr_warn("declined capture %s: %s", m->capture_id, err);
		return;
	}
	r->accepted = true;
}

static void handle_stop(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	reply_header(f, r, CTL_STOP_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	if (captures_stop(f->caps, m->capture_id)) {
		snprintf(r->reason, sizeof(r->reason), "no capture %s runs here", m->capture_id);
		return;
	}
	r->accepted = true;
}

static void handle_status(struct fleet *f, const struct ctl_msg *m, struct ctl_msg *r)
{
	struct ship_stats ss;

	reply_header(f, r, CTL_STATUS_REPLY, m->id);
	ship_get_stats(f->ship, &ss);
	r->queue.queued_msgs = ss.queued_msgs;
	r->queue.queued_bytes = ss.queued_bytes;
	r->queue.dropped_msgs = ss.dropped_msgs;
	r->queue.dropped_bytes = ss.dropped_bytes;
	r->n_captures = captures_fleet_status(f->caps, r->captures, CTL_MAX_CAPTURES);
}

void fleet_handle(struct fleet *f)
{
	struct ctl_msg *m = NULL, *r = NULL;
	char err[512], *out = NULL;
	void *buf = NULL;
	size_t len;
	int n, ret;

	n = nn_recv(f->sock, &buf, NN_MSG, NN_DONTWAIT);
	if (n < 0)
		return;
	m = calloc(1, sizeof(*m));
	r = calloc(1, sizeof(*r));
	if (!m || !r)
		goto cleanup;
	f->last_ms = agent_now_ms();
	ret = ctl_decode(buf, (size_t)n, m, err, sizeof(err));
	if (ret) {
		/* Refused, counted, and answered so the aggregator learns why. */
		f->bad++;
		pr_warn("refused a control message: %s", err);
		reply_header(f, r, CTL_ERROR, m->id);
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
	} else {
		f->msgs++;
		switch (m->type) {
		case CTL_START:
			handle_start(f, m, r);
			break;
		case CTL_STOP:
			handle_stop(f, m, r);
			break;
		case CTL_STATUS:
			handle_status(f, m, r);
			break;
		default:
			f->bad++;
			reply_header(f, r, CTL_ERROR, m->id);
			snprintf(r->reason, sizeof(r->reason), "%s is not a survey",
				 ctl_type_name(m->type));
			break;
		}
	}
	if (ctl_encode(r, &out, &len, err, sizeof(err))) {
		pr_warn("cannot encode a control reply: %s", err);
		goto cleanup;
	}
	if (nn_send(f->sock, out, len, NN_DONTWAIT) < 0)
		pr_debug("control reply not sent: %s", nn_strerror(nn_errno()));
cleanup:
	free(out);
	free(m);
	free(r);
	nn_freemsg(buf);
}
