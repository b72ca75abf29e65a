// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nanomsg/nn.h>
#include <nanomsg/survey.h>

#include "agent.h"
#include "control.h"
#include "fleet.h"
#include "log.h"

int fleet_open(struct agent *a, char *err, size_t errlen)
{
	int ret, maxsize = CTL_MSG_MAX, linger = 0;

	a->control_sock = nn_socket(AF_SP, NN_RESPONDENT);
	if (a->control_sock < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot create the control socket: %s", nn_strerror(-ret));
		return ret;
	}
	/* Nothing larger than a control message is read into memory. */
	nn_setsockopt(a->control_sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof(maxsize));
	nn_setsockopt(a->control_sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
	if (nn_connect(a->control_sock, a->cfg.control_url) < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot connect the control socket to %s: %s",
			 a->cfg.control_url, nn_strerror(-ret));
		return ret;
	}
	return 0;
}

void fleet_close(struct agent *a)
{
	if (a->control_sock >= 0)
		nn_close(a->control_sock);
	a->control_sock = -1;
}

static void reply_header(const struct agent *a, struct ctl_msg *r, enum ctl_type type, uint64_t id)
{
	ctl_msg_init(r, type, id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", a->cfg.host_id);
	snprintf(r->colo, sizeof(r->colo), "%s", a->cfg.colo);
	snprintf(r->agent_version, sizeof(r->agent_version), "%s", AGENT_VERSION);
}

static void handle_start(struct agent *a, const struct ctl_msg *m, struct ctl_msg *r)
{
	const struct capture_request *req = &m->request;
	char err[512];
	int ret;

	reply_header(a, r, CTL_START_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	/* A full capture runs only in its colo; the others decline, which is no error. */
	if (req->type == CAPTURE_FULL && !agent_colo_matches(a->cfg.colo, req->colo_name)) {
		snprintf(r->reason, sizeof(r->reason), "colo %s is not in %s",
			 a->cfg.colo[0] ? a->cfg.colo : "(none)", req->colo_name);
		return;
	}
	/* A start surveyed again (the aggregator restarted or retried) is already running. */
	if (agent_capture_find(a, m->capture_id)) {
		r->accepted = true;
		return;
	}
	ret = agent_capture_start(a, m->capture_id, req, ORIGIN_FLEET, NULL, err, sizeof(err));
	if (ret) {
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
		pr_warn("declined capture %s: %s", m->capture_id, err);
		return;
	}
	r->accepted = true;
}

static void handle_stop(struct agent *a, const struct ctl_msg *m, struct ctl_msg *r)
{
	struct agent_capture *ac = agent_capture_find(a, m->capture_id);

	reply_header(a, r, CTL_STOP_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	if (!ac) {
		snprintf(r->reason, sizeof(r->reason), "no capture %s runs here", m->capture_id);
		return;
	}
	capture_stop(ac->cap, STOP_STOPPED, NULL);
	r->accepted = true;
}

static void handle_status(struct agent *a, const struct ctl_msg *m, struct ctl_msg *r)
{
	struct ship_stats ss;
	unsigned int i;

	reply_header(a, r, CTL_STATUS_REPLY, m->id);
	ship_get_stats(a->ship, &ss);
	r->queue.queued_msgs = ss.queued_msgs;
	r->queue.queued_bytes = ss.queued_bytes;
	r->queue.dropped_msgs = ss.dropped_msgs;
	r->queue.dropped_bytes = ss.dropped_bytes;
	for (i = 0; i < EC_MAX_SLOTS && r->n_captures < CTL_MAX_CAPTURES; i++) {
		const struct agent_capture *ac = a->captures[i];
		struct ctl_capture_status *cs;
		struct capture_stats st;

		if (!ac || ac->origin != ORIGIN_FLEET)
			continue;
		cs = &r->captures[r->n_captures++];
		capture_get_stats(ac->cap, &st);
		snprintf(cs->capture_id, sizeof(cs->capture_id), "%s", ac->id);
		cs->start_ns = ac->start_ns;
		cs->c = ac->sent;
		cs->c.seen = st.kernel.seen;
		cs->c.matched = st.kernel.matched;
		cs->c.sampled_out = st.kernel.sampled_out;
		cs->c.budget_exhausted = st.kernel.budget_exhausted;
		cs->c.ring_full = st.kernel.ring_full;
		cs->c.submitted = st.kernel.submitted;
		cs->c.bytes = st.kernel.bytes;
	}
}

void fleet_handle(struct agent *a)
{
	struct ctl_msg *m = NULL, *r = NULL;
	char err[512], *out = NULL;
	void *buf = NULL;
	size_t len;
	int n, ret;

	n = nn_recv(a->control_sock, &buf, NN_MSG, NN_DONTWAIT);
	if (n < 0)
		return;
	m = calloc(1, sizeof(*m));
	r = calloc(1, sizeof(*r));
	if (!m || !r)
		goto cleanup;
	a->last_control_ms = agent_now_ms();
	ret = ctl_decode(buf, (size_t)n, m, err, sizeof(err));
	if (ret) {
		/* Refused, counted, and answered so the aggregator learns why. */
		a->control_bad++;
		pr_warn("refused a control message: %s", err);
		reply_header(a, r, CTL_ERROR, m->id);
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
	} else {
		a->control_msgs++;
		switch (m->type) {
		case CTL_START:
			handle_start(a, m, r);
			break;
		case CTL_STOP:
			handle_stop(a, m, r);
			break;
		case CTL_STATUS:
			handle_status(a, m, r);
			break;
		default:
			a->control_bad++;
			reply_header(a, r, CTL_ERROR, m->id);
			snprintf(r->reason, sizeof(r->reason), "%s is not a survey",
				 ctl_type_name(m->type));
			break;
		}
	}
	if (ctl_encode(r, &out, &len, err, sizeof(err))) {
		pr_warn("cannot encode a control reply: %s", err);
		goto cleanup;
	}
	if (nn_send(a->control_sock, out, len, NN_DONTWAIT) < 0)
		pr_debug("control reply not sent: %s", nn_strerror(nn_errno()));
cleanup:
	free(out);
	free(m);
	free(r);
	nn_freemsg(buf);
}
