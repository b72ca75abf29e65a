// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nanomsg/nn.h>
#include <nanomsg/survey.h>

#include "fanout.h"
#include "log.h"

/* A survey waiting to go out, or the one going now. */
struct survey {
	struct survey *next;
	enum ctl_type type;
	char capture_id[WIRE_CAPTURE_ID_HEX_LEN];
	struct capture_request req;
};

struct agent_entry {
	char host_id[CTL_NAME_MAX + 1];
	char colo[CTL_NAME_MAX + 1];
	char version[CTL_NAME_MAX + 1];
	uint64_t last_seen_ms;
	uint32_t missed; /* status surveys in a row without a reply */
	uint32_t n_captures;
	bool answered; /* answered the current status survey */
	bool lost;
};

struct fanout {
	int sock;
	int recv_fd;
	uint32_t survey_ms, status_every_ms;
	struct fanout_events ev;
	struct survey *queue, **tail;
	/* The survey in flight. */
	struct survey *current;
	uint64_t current_id, deadline_ms, last_status_ms;
	struct fanout_answer *answers;
	size_t n_answers;
	uint64_t next_id;
	struct agent_entry agents[FANOUT_MAX_AGENTS];
	size_t n_agents;
};

int fanout_open(const char *url, uint32_t survey_ms, uint32_t status_every_ms,
		const struct fanout_events *ev, struct fanout **out, char *err, size_t errlen)
{
	struct fanout *f = calloc(1, sizeof(*f));
	int deadline = (int)survey_ms, maxsize = CTL_MSG_MAX, linger = 0, ret;
	size_t sz = sizeof(int);

	if (!f)
		return -ENOMEM;
	f->tail = &f->queue;
	f->survey_ms = survey_ms;
	f->status_every_ms = status_every_ms;
	f->ev = *ev;
	f->next_id = 1;
	f->answers = calloc(FANOUT_MAX_AGENTS, sizeof(*f->answers));
	f->sock = nn_socket(AF_SP, NN_SURVEYOR);
	if (!f->answers || f->sock < 0) {
		ret = f->answers ? -nn_errno() : -ENOMEM;
		snprintf(err, errlen, "cannot create the control socket: %s", strerror(-ret));
		goto fail;
	}
	nn_setsockopt(f->sock, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &deadline, sizeof(deadline));
	/* Nothing larger than a control message is read into memory. */
	nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof(maxsize));
	nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
	if (nn_bind(f->sock, url) < 0 ||
	    nn_getsockopt(f->sock, NN_SOL_SOCKET, NN_RCVFD, &f->recv_fd, &sz) < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot bind the control endpoint %s: %s", url,
			 nn_strerror(-ret));
		goto fail;
	}
	*out = f;
	return 0;
fail:
	fanout_close(f);
	return ret;
}

void fanout_close(struct fanout *f)
{
	struct survey *s;

	if (!f)
		return;
	while ((s = f->queue)) {
		f->queue = s->next;
		free(s);
	}
	free(f->current);
	if (f->sock >= 0)
		nn_close(f->sock);
	free(f->answers);
	free(f);
}

int fanout_fd(const struct fanout *f)
{
	return f->recv_fd;
}

bool fanout_busy(const struct fanout *f)
{
	return f->current != NULL;
}

size_t fanout_n_agents(const struct fanout *f)
{
	return f->n_agents;
}

static int enqueue(struct fanout *f, enum ctl_type type, const char *capture_id,
		   const struct capture_request *req)
{
	struct survey *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->type = type;
	if (capture_id)
		snprintf(s->capture_id, sizeof(s->capture_id), "%s", capture_id);
	if (req)
		s->req = *req;
	*f->tail = s;
	f->tail = &s->next;
	return 0;
}

int fanout_start(struct fanout *f, const struct capture_rec *c)
{
	return enqueue(f, CTL_START, c->id, &c->req);
}

int fanout_stop(struct fanout *f, const char *capture_id)
{
	return enqueue(f, CTL_STOP, capture_id, NULL);
}

static struct agent_entry *agent_upsert(struct fanout *f, const struct ctl_msg *r, uint64_t now)
{
	struct agent_entry *a = NULL;
	size_t i;

	for (i = 0; i < f->n_agents; i++) {
		if (!strcmp(f->agents[i].host_id, r->host_id)) {
			a = &f->agents[i];
			break;
		}
	}
	if (!a) {
		if (f->n_agents == FANOUT_MAX_AGENTS)
			return NULL;
		a = &f->agents[f->n_agents++];
		memset(a, 0, sizeof(*a));
		snprintf(a->host_id, sizeof(a->host_id), "%s", r->host_id);
		pr_info("agent %s (colo %s, version %s) joined", r->host_id,
			r->colo[0] ? r->colo : "none", r->agent_version);
	} else if (a->lost) {
		pr_info("agent %s is back", r->host_id);
	}
	snprintf(a->colo, sizeof(a->colo), "%s", r->colo);
	snprintf(a->version, sizeof(a->version), "%s", r->agent_version);
	a->last_seen_ms = now;
	a->missed = 0;
	a->lost = false;
	return a;
}

static void take_reply(struct fanout *f, const struct ctl_msg *r, uint64_t now)
{
	struct agent_entry *a = agent_upsert(f, r, now);
	uint32_t i;

	if (!f->current)
		return;
	switch (r->type) {
	case CTL_START_REPLY:
	case CTL_STOP_REPLY:
		if (f->current->type == (r->type == CTL_START_REPLY ? CTL_START : CTL_STOP) &&
		    !strcmp(r->capture_id, f->current->capture_id) &&
		    f->n_answers < FANOUT_MAX_AGENTS) {
			struct fanout_answer *ans = &f->answers[f->n_answers++];

			snprintf(ans->host_id, sizeof(ans->host_id), "%s", r->host_id);
			snprintf(ans->colo, sizeof(ans->colo), "%s", r->colo);
			ans->accepted = r->accepted;
			snprintf(ans->reason, sizeof(ans->reason), "%s", r->reason);
		}
		break;
	case CTL_STATUS_REPLY:
		if (a) {
			a->answered = true;
			a->n_captures = r->n_captures;
		}
		for (i = 0; i < r->n_captures; i++) {
			if (f->ev.running)
				f->ev.running(f->ev.ctx, r->captures[i].capture_id, r->host_id,
					      r->colo);
		}
		break;
	case CTL_ERROR:
		pr_warn("agent %s refused a %s survey: %s", r->host_id,
			ctl_type_name(f->current->type), r->reason);
		break;
	default:
		break;
	}
}

/* The survey in flight is over: act on what came back. */
static void end_survey(struct fanout *f, uint64_t now)
{
	struct survey *s = f->current;
	size_t i;

	if (!s)
		return;
	if (s->type == CTL_START && f->ev.started)
		f->ev.started(f->ev.ctx, s->capture_id, f->answers, f->n_answers);
	if (s->type == CTL_STATUS) {
		for (i = 0; i < f->n_agents; i++) {
			struct agent_entry *a = &f->agents[i];

			if (a->answered || a->lost) {
				a->answered = false;
				continue;
			}
			if (++a->missed >= FANOUT_LOST_SURVEYS) {
				a->lost = true;
				pr_warn("agent %s lost: no answer to %u status surveys (last seen "
					"%.1f s ago)",
					a->host_id, a->missed,
					(double)(now - a->last_seen_ms) / 1000.0);
				if (f->ev.lost)
					f->ev.lost(f->ev.ctx, a->host_id);
			}
		}
	}
	free(s);
	f->current = NULL;
	f->n_answers = 0;
}

static void send_next(struct fanout *f, uint64_t now)
{
	struct ctl_msg *m;
	struct survey *s;
	char err[256], *out = NULL;
	size_t len;

	if (f->current)
		return;
	s = f->queue;
	if (s) {
		f->queue = s->next;
		if (!f->queue)
			f->tail = &f->queue;
	} else if (now - f->last_status_ms >= f->status_every_ms) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		s->type = CTL_STATUS;
		f->last_status_ms = now;
	} else {
		return;
	}

	m = calloc(1, sizeof(*m));
	if (!m) {
		free(s);
		return;
	}
	ctl_msg_init(m, s->type, f->next_id++);
	snprintf(m->capture_id, sizeof(m->capture_id), "%s", s->capture_id);
	m->request = s->req;
	if (ctl_encode(m, &out, &len, err, sizeof(err))) {
		pr_err("cannot encode a %s survey for %s: %s", ctl_type_name(s->type),
		       s->capture_id, err);
		if (s->type == CTL_START && f->ev.started)
			f->ev.started(f->ev.ctx, s->capture_id, NULL, 0);
		free(s);
		free(m);
		return;
	}
	f->current_id = m->id;
	f->current = s;
	f->n_answers = 0;
	f->deadline_ms = now + f->survey_ms;
	/* With no agent connected the survey still "goes out" and simply gets no answers. */
	if (nn_send(f->sock, out, len, NN_DONTWAIT) < 0)
		pr_debug("%s survey not sent: %s", ctl_type_name(s->type), nn_strerror(nn_errno()));
	if (s->type != CTL_STATUS)
		pr_debug("%s survey %llu for %s sent", ctl_type_name(s->type),
			 (unsigned long long)m->id, s->capture_id);
	free(out);
	free(m);
}

void fanout_handle(struct fanout *f, uint64_t now)
{
	struct ctl_msg *r = malloc(sizeof(*r));
	char err[256];
	void *buf;
	int n, i;

	if (!r)
		return;
	/* Bounded, so a flood of replies cannot starve the loop. */
	for (i = 0; i < 1024 && f->current; i++) {
		n = nn_recv(f->sock, &buf, NN_MSG, NN_DONTWAIT);
		if (n < 0) {
			/* ETIMEDOUT: the deadline passed; EFSM: no survey is open any more. */
			if (nn_errno() == ETIMEDOUT || nn_errno() == EFSM)
				end_survey(f, now);
			break;
		}
		if (ctl_decode(buf, (size_t)n, r, err, sizeof(err)))
			pr_warn("refused a control reply: %s", err);
		else if (r->id == f->current_id && !ctl_type_is_survey(r->type))
			take_reply(f, r, now);
		nn_freemsg(buf);
	}
	if (f->current && now >= f->deadline_ms + 50)
		end_survey(f, now);
	send_next(f, now);
	free(r);
}

int fanout_timeout_ms(const struct fanout *f, uint64_t now)
{
	uint64_t due;

	if (f->current)
		due = f->deadline_ms + 50;
	else if (f->queue)
		return 0;
	else
		due = f->last_status_ms + f->status_every_ms;
	return due <= now ? 0 : (int)(due - now);
}

json_t *fanout_agents_json(const struct fanout *f, uint64_t now)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < f->n_agents; i++) {
		const struct agent_entry *a = &f->agents[i];

		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:f, s:i, s:b}", "host_id", a->host_id,
				       "colo", a->colo, "version", a->version, "last_seen_s_ago",
				       (double)(now - a->last_seen_ms) / 1000.0, "captures",
				       (int)a->n_captures, "lost", a->lost));
	}
	return arr;
}
