// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nng/nng.h>
#include <nng/protocol/survey0/survey.h>

#include "fanout.h"
#include "hostidx.h"
#include "log.h"
#include "relisten.h"
#include "sp.h"

/* A survey waiting to go out, or the one going now. */
struct survey {
	struct survey *next;
	enum ctl_type type;
	char capture_id[WIRE_CAPTURE_ID_HEX_LEN];
	struct capture_request req;
	/* A late join: the only hosts this start is for (ctl_msg.hosts). */
	uint32_t n_hosts;
	char hosts[CTL_MAX_HOSTS][CTL_NAME_MAX + 1];
	/* A late join: when req was made (the fan-out's clock); what waited is taken off. */
	uint64_t made_ms;
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
	uint64_t answered_id; /* the last survey (start, stop) it answered */
	/*
	 * The last survey a reply proved this host in: the host is not heard again in it (an
	 * agent answers a survey once), so its repeats cost no certificate and signature check.
	 */
	uint64_t proven_id;
	/*
	 * With a CA: the session key this host last proved (has_key), handed to ev.bound when it
	 * was new or changed; and the connection (an NNG pipe id) and time of that proof, so that
	 * the same connection with the same key is not checked again for a while (proof_holds).
	 */
	bool has_key;
	uint8_t key[ID_KEY_LEN];
	uint32_t proof_pipe;
	uint64_t proof_ms;
	int64_t proof_until; /* wall clock, s: the chain's earliest notAfter (id_verify) */
};

/* A connection a reply was decoded from in survey (an id; 0: an empty slot). */
struct heard_pipe {
	uint64_t survey;
	uint32_t pipe;
};

struct fanout {
	nng_socket sock;
	bool open;
	struct relisten *listener; /* the socket's, kept answering (relisten.h) */
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
	/*
	 * The registry, in the order agents joined, and an open-addressing index into it by host
	 * id (slots hold position + 1; 0 is empty), sized a power of two at least twice cap.
	 */
	struct agent_entry *agents;
	size_t n_agents, cap, max_agents;
	uint32_t *index;
	size_t index_size;
	uint64_t prune_after_ms; /* a lost agent unseen this long leaves the registry; 0: never */
	uint64_t pruned;
	size_t answers_cap;
	/* With a CA: every reply must prove its host id against current_nonce. */
	struct id_verifier *verifier;
	uint8_t current_nonce[ID_NONCE_LEN];
	uint64_t refused, last_refusal_log_ms;
	uint64_t now_ms;	/* the time fanout_handle was last given */
	uint64_t late;		/* replies read after their survey ended, dropped unread */
	uint64_t proofs_reused; /* replies taken on an earlier proof (proof_holds) */
	/* The control link is tls+tcp:// or ipc://: a connection is one peer's (proof_holds). */
	bool proof_reuse;
	char last_refused[CTL_NAME_MAX + 1];
	/*
	 * With a CA, the connections (NNG pipe ids) a reply was decoded from in the survey in
	 * flight: not heard again until the next one. A connection carries one agent (the agent,
	 * ec_agentsim and ec_sppeer all dial one control connection per host), which answers a
	 * survey once; so whatever a peer sends, and whatever host ids it claims, it costs at
	 * most one decode and one signature check per connection and survey. Without a CA no
	 * reply costs a check, and one connection may carry many hosts (the tests' raw
	 * RESPONDENTs): nothing is capped. Open addressing; a slot counts only when it carries
	 * the survey in flight (heard_survey), so nothing is cleared between surveys.
	 */
	struct heard_pipe *heard_pipes;
	size_t heard_size, heard_n;
	uint64_t heard_survey;
	/* An agent missing this long at a status survey's end is lost. */
	uint32_t lost_grace_ms;
	size_t max_joins; /* late join surveys queued at most (fanout_set_max_joins) */
	/*
	 * The captures stopped last (a ring): a late join to one is dropped, whenever it comes
	 * (capture ids are never reused).
	 */
	char stopped[FANOUT_STOPPED_KEEP][WIRE_CAPTURE_ID_HEX_LEN];
	size_t n_stopped;
	/* Late join surveys queued (at most FANOUT_MAX_JOINS), and those refused for it. */
	size_t n_queued_joins;
	uint64_t joins_refused;
	/* The last survey sent was a status survey: a join goes next, if one waits. */
	bool sent_status;
	/* Agents first seen, or back from lost, since the last survey ended (ev.joined). */
	char (*joins)[CTL_NAME_MAX + 1];
	size_t n_joins, joins_cap;
};

int fanout_open(const char *url, const struct tls_opts *tls, uint32_t survey_ms,
		uint32_t status_every_ms, const struct fanout_events *ev, struct fanout **out,
		char *err, size_t errlen)
{
	struct fanout *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	f->tail = &f->queue;
	f->survey_ms = survey_ms;
	f->status_every_ms = status_every_ms;
	f->ev = *ev;
	f->next_id = 1;
	f->lost_grace_ms = FANOUT_LOST_SURVEYS * status_every_ms;
	f->max_joins = FANOUT_MAX_JOINS;
	f->max_agents = FANOUT_MAX_AGENTS_DEFAULT;
	f->prune_after_ms = (uint64_t)FANOUT_PRUNE_AFTER_S_DEFAULT * 1000;
	/*
	 * Over plain tcp:// (--insecure-plaintext) anyone on the path can write into a connection:
	 * there, every reply is checked in full.
	 */
	f->proof_reuse = !strncmp(url, "tls+tcp://", 10) || !strncmp(url, "ipc://", 6);
	/*
	 * Raw: NNG 1.5's cooked SURVEYOR queues 128 replies and drops the rest, so a fleet's
	 * answers were lost whenever the loop fell behind. The raw socket's queue holds
	 * FANOUT_RECVBUF and then holds the agents' pipes back instead; survey ids and deadlines
	 * are this file's own (the JSON id, checked on every reply; deadline_ms).
	 */
	ret = nng_surveyor0_open_raw(&f->sock);
	if (ret) {
		snprintf(err, errlen, "cannot create the control socket: %s", nng_strerror(ret));
		ret = sp_errno(ret);
		goto fail;
	}
	f->open = true;
	ret = nng_socket_set_int(f->sock, NNG_OPT_RECVBUF, FANOUT_RECVBUF);
	/*
	 * A send queue: without one (NNG's default is none), a non-blocking send succeeds only
	 * once NNG's thread has come back for the previous survey, and a survey sent right after
	 * another was dropped most of the time (EAGAIN), more often under load: a stop that never
	 * went out, a status survey nobody answered.
	 */
	if (!ret)
		ret = nng_socket_set_int(f->sock, NNG_OPT_SENDBUF, FANOUT_SENDBUF);
	/* Nothing larger than a control message is read into memory. */
	if (!ret)
		ret = nng_socket_set_size(f->sock, NNG_OPT_RECVMAXSZ, CTL_MSG_MAX);
	if (ret) {
		snprintf(err, errlen, "cannot set up the control socket: %s", nng_strerror(ret));
		ret = sp_errno(ret);
		goto fail;
	}
	if (tls && tls->ca[0]) {
		ret = id_verifier_open(tls->ca, &f->verifier, err, errlen);
		if (ret)
			goto fail;
	}
	ret = relisten_open(f->sock, "control", url, tls, &f->listener, err, errlen);
	if (ret)
		goto fail;
	f->recv_fd = sp_fd(f->sock, NNG_OPT_RECVFD);
	if (f->recv_fd < 0) {
		snprintf(err, errlen, "the control socket has no descriptor to poll");
		ret = -EIO;
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
	if (f->open)
		sp_close(f->sock, "the control endpoint");
	/* After the socket: NNG is done with its listener. */
	relisten_free(f->listener);
	id_verifier_free(f->verifier);
	free(f->answers);
	free(f->joins);
	free(f->heard_pipes);
	/* The session keys bound. */
	if (f->agents)
		explicit_bzero(f->agents, f->cap * sizeof(*f->agents));
	free(f->agents);
	free(f->index);
	free(f);
}

int fanout_listen_tick(struct fanout *f, uint64_t now_ms)
{
	return f->listener ? relisten_tick(f->listener, now_ms) : 0;
}

uint64_t fanout_listener_restarts(const struct fanout *f)
{
	return f->listener ? relisten_restarts(f->listener) : 0;
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

uint64_t fanout_refused(const struct fanout *f)
{
	return f->refused;
}

uint64_t fanout_late(const struct fanout *f)
{
	return f->late;
}

uint64_t fanout_proofs_reused(const struct fanout *f)
{
	return f->proofs_reused;
}

/* Puts s in the queue after *pp (the queue's head or a survey's next). */
static void queue_insert(struct fanout *f, struct survey **pp, struct survey *s)
{
	s->next = *pp;
	*pp = s;
	if (f->tail == pp)
		f->tail = &s->next;
}

/*
 * capture_id is over (stopped, or ended by itself): it goes in the stopped ring, so that no late
 * join to it is queued again, and the joins queued for it are dropped.
 */
static void forget(struct fanout *f, const char *capture_id)
{
	struct survey **pp, *j;

	snprintf(f->stopped[f->n_stopped++ % FANOUT_STOPPED_KEEP], sizeof(f->stopped[0]), "%s",
		 capture_id);
	for (pp = &f->queue; (j = *pp);) {
		if (!j->n_hosts || strcmp(j->capture_id, capture_id)) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		if (f->tail == &j->next)
			f->tail = pp;
		f->n_queued_joins--;
		pr_debug("a late join to %s dropped: the capture is over capture=%s", j->capture_id,
			 j->capture_id);
		free(j);
	}
}

/*
 * Queues a start or a stop: ahead of the late joins waiting (a capture's start or stop does not
 * wait for joins to others, which a churning fleet can queue without end), after the starts and
 * stops queued before it. A stop drops its capture's waiting joins: no agent is asked to join a
 * capture it was just told to stop.
 */
static int enqueue(struct fanout *f, enum ctl_type type, const char *capture_id,
		   const struct capture_request *req)
{
	struct survey *s = calloc(1, sizeof(*s)), **pp;

	if (!s)
		return -ENOMEM;
	s->type = type;
	if (capture_id)
		snprintf(s->capture_id, sizeof(s->capture_id), "%s", capture_id);
	if (req)
		s->req = *req;
	for (pp = &f->queue; *pp && !(*pp)->n_hosts; pp = &(*pp)->next)
		;
	queue_insert(f, pp, s);
	if (type == CTL_STOP)
		forget(f, s->capture_id);
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

/* Whether capture_id is in the stopped ring. */
static bool is_stopped(const struct fanout *f, const char *capture_id)
{
	size_t i;

	for (i = 0; i < FANOUT_STOPPED_KEEP && i < f->n_stopped; i++) {
		if (!strcmp(f->stopped[i], capture_id))
			return true;
	}
	return false;
}

void fanout_forget_capture(struct fanout *f, const char *capture_id)
{
	if (!is_stopped(f, capture_id))
		forget(f, capture_id);
}

uint64_t fanout_joins_refused(const struct fanout *f)
{
	return f->joins_refused;
}

/* Whether s, a queued join, already asks host. */
static bool join_has(const struct survey *s, const char *host)
{
	uint32_t i;

	for (i = 0; i < s->n_hosts; i++) {
		if (!strcmp(s->hosts[i], host))
			return true;
	}
	return false;
}

int fanout_join(struct fanout *f, const char *capture_id, const struct capture_request *req,
		const char *const *hosts, size_t n)
{
	struct survey *s;
	size_t i;

	if (!n || n > CTL_MAX_HOSTS)
		return -EINVAL;
	if (is_stopped(f, capture_id)) {
		pr_debug("a late join to %s dropped: the capture was stopped capture=%s",
			 capture_id, capture_id);
		return 0;
	}
	/*
	 * Into the joins queued for the capture first (not sent yet: the one in flight is not in
	 * the queue), up to CTL_MAX_HOSTS each: after a restart every agent is new, and joins
	 * that are never merged queue a survey per handful of hosts. The newest request wins: it
	 * has the time and budget left as they are now.
	 */
	for (s = f->queue; s && n; s = s->next) {
		if (!s->n_hosts || strcmp(s->capture_id, capture_id))
			continue;
		s->req = *req;
		s->made_ms = f->now_ms;
		while (n && s->n_hosts < CTL_MAX_HOSTS) {
			if (!join_has(s, hosts[0]))
				snprintf(s->hosts[s->n_hosts++], sizeof(s->hosts[0]), "%s",
					 hosts[0]);
			hosts++;
			n--;
		}
	}
	if (!n)
		return 0;
	if (f->n_queued_joins >= f->max_joins) {
		f->joins_refused++;
		pr_warn_ratelimited("a late join to %s refused: %zu joins are queued already "
				    "(%llu refused so far) capture=%s",
				    capture_id, f->n_queued_joins,
				    (unsigned long long)f->joins_refused, capture_id);
		return -ENOSPC;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->type = CTL_START;
	snprintf(s->capture_id, sizeof(s->capture_id), "%s", capture_id);
	s->req = *req;
	s->made_ms = f->now_ms;
	for (i = 0; i < n; i++)
		snprintf(s->hosts[i], sizeof(s->hosts[i]), "%s", hosts[i]);
	s->n_hosts = (uint32_t)n;
	*f->tail = s;
	f->tail = &s->next;
	f->n_queued_joins++;
	return 0;
}

void fanout_set_lost_grace(struct fanout *f, uint32_t grace_ms)
{
	f->lost_grace_ms = grace_ms;
}

void fanout_set_max_joins(struct fanout *f, uint32_t n)
{
	f->max_joins = n ? n : 1;
}

/* Remembers that host joined (first seen, or back), for the next ev.joined. */
static void note_join(struct fanout *f, const char *host)
{
	if (!f->ev.joined)
		return;
	if (f->n_joins == f->joins_cap) {
		size_t cap = f->joins_cap ? 2 * f->joins_cap : 16;
		char(*n)[CTL_NAME_MAX + 1] = realloc(f->joins, cap * sizeof(*n));

		if (!n) {
			pr_warn("out of memory: agent %s is not asked to join running captures "
				"host=%s",
				host, host);
			return;
		}
		f->joins = n;
		f->joins_cap = cap;
	}
	snprintf(f->joins[f->n_joins++], sizeof(f->joins[0]), "%s", host);
}

void fanout_set_limits(struct fanout *f, size_t max_agents, uint32_t prune_after_s)
{
	f->max_agents = max_agents ? max_agents : FANOUT_MAX_AGENTS_DEFAULT;
	f->prune_after_ms = (uint64_t)prune_after_s * 1000;
}

uint64_t fanout_pruned(const struct fanout *f)
{
	return f->pruned;
}

/* The slot for host: its entry's, or the empty one where it would go. */
static uint32_t *index_slot(const struct fanout *f, const char *host)
{
	size_t mask = f->index_size - 1, i = hostidx_hash(host) & mask;

	while (f->index[i] && strcmp(f->agents[f->index[i] - 1].host_id, host))
		i = (i + 1) & mask;
	return &f->index[i];
}

static struct agent_entry *agent_find(const struct fanout *f, const char *host)
{
	uint32_t *slot;

	if (!f->index_size)
		return NULL;
	slot = index_slot(f, host);
	return *slot ? &f->agents[*slot - 1] : NULL;
}

/*
 * Rebuilds the index for the registry as it is, size slots (a power of two): in place when the
 * size stays (nothing to allocate, so a registry that shrank is never left with an index into
 * positions its entries left); -ENOMEM, the index as it was, when a new size cannot be had.
 */
static int index_rebuild(struct fanout *f, size_t size)
{
	uint32_t *idx;
	size_t i;

	if (size == f->index_size) {
		memset(f->index, 0, size * sizeof(*f->index));
	} else {
		idx = calloc(size, sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		free(f->index);
		f->index = idx;
		f->index_size = size;
	}
	for (i = 0; i < f->n_agents; i++)
		*index_slot(f, f->agents[i].host_id) = (uint32_t)(i + 1);
	return 0;
}

/*
 * Room for one more agent: the registry and the index grow by doubling, up to max_agents. The
 * index grows first: the registry never holds more than half as many agents as the index has
 * slots (a full index would make a lookup of an absent host probe forever).
 */
static int agents_reserve(struct fanout *f)
{
	size_t cap = f->cap ? f->cap * 2 : 64, size = 128;
	struct agent_entry *a;
	int ret;

	if (f->n_agents >= f->max_agents)
		return -ENOSPC;
	if (f->n_agents < f->cap)
		return 0;
	if (cap > f->max_agents)
		cap = f->max_agents;
	while (size < cap * 2)
		size *= 2;
	if (size != f->index_size) {
		ret = index_rebuild(f, size);
		if (ret)
			return ret;
	}
	a = realloc(f->agents, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	f->agents = a;
	f->cap = cap;
	return 0;
}

static struct agent_entry *agent_upsert(struct fanout *f, const struct ctl_msg *r, uint64_t now)
{
	struct agent_entry *a = agent_find(f, r->host_id);

	if (!a) {
		if (agents_reserve(f)) {
			pr_warn_ratelimited(
				"agent %s not registered: the registry holds %zu agents "
				"(--max-agents) host=%s",
				r->host_id, f->n_agents, r->host_id);
			return NULL;
		}
		a = &f->agents[f->n_agents++];
		memset(a, 0, sizeof(*a));
		snprintf(a->host_id, sizeof(a->host_id), "%s", r->host_id);
		*index_slot(f, a->host_id) = (uint32_t)f->n_agents;
		pr_info("agent %s (colo %s, version %s) joined host=%s", r->host_id,
			r->colo[0] ? r->colo : "none", r->agent_version, r->host_id);
		note_join(f, r->host_id);
	} else if (a->lost) {
		pr_info("agent %s is back host=%s", r->host_id, r->host_id);
		note_join(f, r->host_id);
	}
	snprintf(a->colo, sizeof(a->colo), "%s", r->colo);
	snprintf(a->version, sizeof(a->version), "%s", r->agent_version);
	a->last_seen_ms = now;
	a->missed = 0;
	a->lost = false;
	return a;
}

/*
 * Lost agents unseen for prune_after_ms leave the registry (they join again, as new, if they
 * come back). One pass, keeping the join order, then the index is rebuilt.
 */
static void agents_prune(struct fanout *f, uint64_t now)
{
	size_t i, kept = 0, gone = 0;

	if (!f->prune_after_ms)
		return;
	for (i = 0; i < f->n_agents; i++) {
		struct agent_entry *a = &f->agents[i];

		if (a->lost && now - a->last_seen_ms >= f->prune_after_ms) {
			pr_info("agent %s forgotten: lost %.0f s ago host=%s", a->host_id,
				(double)(now - a->last_seen_ms) / 1000.0, a->host_id);
			if (f->ev.forgotten)
				f->ev.forgotten(f->ev.ctx, a->host_id);
			gone++;
			continue;
		}
		if (kept != i)
			f->agents[kept] = *a;
		kept++;
	}
	if (!gone)
		return;
	f->n_agents = kept;
	f->pruned += gone;
	/* In place: it cannot fail. */
	index_rebuild(f, f->index_size);
}

/* Room in the answers for one more (a start or stop survey's replies). */
static bool answers_reserve(struct fanout *f)
{
	size_t cap = f->answers_cap ? f->answers_cap * 2 : 64;
	struct fanout_answer *a;

	if (f->n_answers < f->answers_cap)
		return true;
	if (f->n_answers >= f->max_agents)
		return false;
	if (cap > f->max_agents)
		cap = f->max_agents;
	a = realloc(f->answers, cap * sizeof(*a));
	if (!a)
		return false;
	f->answers = a;
	f->answers_cap = cap;
	return true;
}

/* Takes a proven reply; returns its host's registry entry, or NULL (no room: not taken). */
static struct agent_entry *take_reply(struct fanout *f, const struct ctl_msg *r, uint64_t now)
{
	struct agent_entry *a = agent_upsert(f, r, now);
	uint32_t i;

	if (!a || !f->current)
		return a;
	switch (r->type) {
	case CTL_START_REPLY:
	case CTL_STOP_REPLY:
		if (f->current->type == (r->type == CTL_START_REPLY ? CTL_START : CTL_STOP) &&
		    !strcmp(r->capture_id, f->current->capture_id) && answers_reserve(f)) {
			if (r->type == CTL_START_REPLY && r->accepted && f->ev.accepted)
				f->ev.accepted(f->ev.ctx, r->capture_id, r->host_id);
			struct fanout_answer *ans = &f->answers[f->n_answers++];

			snprintf(ans->host_id, sizeof(ans->host_id), "%s", r->host_id);
			snprintf(ans->colo, sizeof(ans->colo), "%s", r->colo);
			ans->accepted = r->accepted;
			snprintf(ans->reason, sizeof(ans->reason), "%s", r->reason);
			a->answered_id = f->current_id;
		}
		break;
	case CTL_STATUS_REPLY:
		a->answered = true;
		a->n_captures = r->n_captures;
		for (i = 0; i < r->n_captures; i++) {
			if (f->ev.running)
				f->ev.running(f->ev.ctx, r->captures[i].capture_id, r->host_id,
					      r->colo);
		}
		break;
	case CTL_ERROR:
		pr_warn_ratelimited("agent %s refused a %s survey: %s host=%s", r->host_id,
				    ctl_type_name(f->current->type), r->reason, r->host_id);
		break;
	default:
		break;
	}
	return a;
}

/*
 * Whether r's host has answered the survey in flight already. An agent answers a survey once;
 * a peer that repeats itself (a raw RESPONDENT can) is not heard again: its copies would fill
 * the answers and crowd out other hosts, and each would cost a signature check.
 */
static bool answered(const struct fanout *f, const struct ctl_msg *r)
{
	const struct agent_entry *a = agent_find(f, r->host_id);
	size_t i;

	if (a)
		return r->type == CTL_STATUS_REPLY ? a->answered : a->answered_id == f->current_id;
	if (r->type == CTL_STATUS_REPLY)
		return false;
	/* Not registered (the registry is full): the answers say. */
	for (i = 0; i < f->n_answers; i++) {
		if (!strcmp(f->answers[i].host_id, r->host_id))
			return true;
	}
	return false;
}

/*
 * Whether reply r proves its host id (always, without a CA). A refusal is counted and logged:
 * at once for a new claim, then at most every 10 s, for an agent retries every survey.
 */
static bool proven(struct fanout *f, const struct ctl_msg *r, uint64_t now, int64_t *until)
{
	uint8_t data[ID_SIGNED_MAX];
	char why[256];
	size_t n;

	*until = INT64_MAX;
	if (!f->verifier)
		return true;
	if (!r->has_proof) {
		snprintf(why, sizeof(why), "it carries no certificate and signature");
	} else {
		n = id_signed_bytes(r->major, r->minor, f->current_nonce, r->host_id,
				    r->session_key, data);
		if (!id_verify(f->verifier, r->cert, r->host_id, data, n, r->signature,
			       r->signature_len, until, why, sizeof(why)))
			return true;
	}
	f->refused++;
	if (strcmp(f->last_refused, r->host_id) || now - f->last_refusal_log_ms >= 10000) {
		pr_warn("refused a %s claiming host %s: %s (%llu refused so far) host=%s",
			ctl_type_name(r->type), r->host_id, why, (unsigned long long)f->refused,
			r->host_id);
		snprintf(f->last_refused, sizeof(f->last_refused), "%s", r->host_id);
		f->last_refusal_log_ms = now;
	} else {
		pr_debug_ratelimited("refused a %s claiming host %s: %s host=%s",
				     ctl_type_name(r->type), r->host_id, why, r->host_id);
	}
	return false;
}

static size_t pipe_slot(const struct heard_pipe *t, size_t size, uint64_t survey, uint32_t pipe)
{
	size_t mask = size - 1, i = (size_t)(((uint64_t)pipe * 0x9e3779b97f4a7c15ULL) >> 32) & mask;

	while (t[i].survey == survey && t[i].pipe != pipe)
		i = (i + 1) & mask;
	return i;
}

/* Whether a reply from pipe was decoded in the survey in flight. */
static bool pipe_heard(const struct fanout *f, uint32_t pipe)
{
	size_t i;

	if (!f->heard_size || f->heard_survey != f->current_id)
		return false;
	i = pipe_slot(f->heard_pipes, f->heard_size, f->current_id, pipe);
	return f->heard_pipes[i].survey == f->current_id;
}

/* Remembers that a reply from pipe was decoded in the survey in flight. */
static void pipe_hear(struct fanout *f, uint32_t pipe)
{
	struct heard_pipe *t;
	size_t i, j, size;

	if (f->heard_survey != f->current_id) {
		f->heard_survey = f->current_id;
		f->heard_n = 0;
	}
	if ((f->heard_n + 1) * 2 > f->heard_size) {
		size = f->heard_size ? 2 * f->heard_size : 64;
		t = calloc(size, sizeof(*t));
		if (!t)
			return; /* heard again: it costs a decode and a check, nothing worse */
		for (i = 0; i < f->heard_size; i++) {
			if (f->heard_pipes[i].survey != f->current_id)
				continue;
			j = pipe_slot(t, size, f->current_id, f->heard_pipes[i].pipe);
			t[j] = f->heard_pipes[i];
		}
		free(f->heard_pipes);
		f->heard_pipes = t;
		f->heard_size = size;
	}
	i = pipe_slot(f->heard_pipes, f->heard_size, f->current_id, pipe);
	if (f->heard_pipes[i].survey != f->current_id) {
		f->heard_pipes[i].survey = f->current_id;
		f->heard_pipes[i].pipe = pipe;
		f->heard_n++;
	}
}

/*
 * The chain that proved a's session key has expired (proof_until, by the wall clock): the key
 * proves nothing any more, and the data plane lets it go (ev.forgotten: ingest_forget_key), so
 * that the host's data waits for a new proof instead of being taken under it while every reply
 * the host sends is refused. A new proof binds the key again (has_key is cleared).
 */
static void key_expired(struct fanout *f, struct agent_entry *a)
{
	pr_warn("agent %s: the certificate chain that proved its session key expired; its data "
		"is refused until it proves itself again host=%s",
		a->host_id, a->host_id);
	a->has_key = false;
	explicit_bzero(a->key, sizeof(a->key));
	if (f->ev.forgotten)
		f->ev.forgotten(f->ev.ctx, a->host_id);
}

/* The survey in flight is over: act on what came back. */
static void end_survey(struct fanout *f, uint64_t now)
{
	struct survey *s = f->current;
	int64_t wall = (int64_t)time(NULL);
	size_t i;

	if (!s)
		return;
	if (s->type == CTL_START && s->n_hosts && f->ev.joined_started)
		f->ev.joined_started(f->ev.ctx, s->capture_id, f->answers, f->n_answers);
	else if (s->type == CTL_START && !s->n_hosts && f->ev.started)
		f->ev.started(f->ev.ctx, s->capture_id, f->answers, f->n_answers);
	if (s->type == CTL_STATUS) {
		for (i = 0; i < f->n_agents; i++) {
			struct agent_entry *a = &f->agents[i];

			if (a->has_key && wall >= a->proof_until)
				key_expired(f, a);
			if (a->answered || a->lost) {
				a->answered = false;
				continue;
			}
			a->missed++;
			if (now - a->last_seen_ms >= f->lost_grace_ms) {
				a->lost = true;
				pr_warn("agent %s lost: no answer to %u status surveys (last seen "
					"%.1f s ago) host=%s",
					a->host_id, a->missed,
					(double)(now - a->last_seen_ms) / 1000.0, a->host_id);
				if (f->ev.lost)
					f->ev.lost(f->ev.ctx, a->host_id);
			}
		}
		agents_prune(f, now);
	}
	free(s);
	f->current = NULL;
	f->n_answers = 0;
	/* After the start's own event: a host that took the capture there is part of it. */
	if (f->n_joins && f->ev.joined) {
		size_t n = f->n_joins;

		f->n_joins = 0;
		f->ev.joined(f->ev.ctx, (const char(*)[CTL_NAME_MAX + 1]) f->joins, n);
	}
}

/*
 * A late join's time limit, less the whole seconds it waited in the queue (joins wait minutes
 * when a fleet restarts): its agents stop when the capture does, not time_limit after the
 * join was sent. false when no second is left.
 */
static bool join_time_left(struct survey *s, uint64_t now)
{
	/* made_ms 0: queued before the fan-out was first handled a time; nothing waited. */
	uint64_t waited = s->made_ms && now > s->made_ms ? (now - s->made_ms + 999) / 1000 : 0;

	if (waited >= s->req.time_limit)
		return false;
	s->req.time_limit -= waited;
	return true;
}

/*
 * A survey that could not be made is dropped: a start fails its capture at once (no agent
 * heard of it), rather than leaving it pending with nothing in flight until its time runs out.
 */
static void survey_drop(struct fanout *f, struct survey *s)
{
	if (s->type == CTL_START && !s->n_hosts && f->ev.started)
		f->ev.started(f->ev.ctx, s->capture_id, NULL, 0);
	free(s);
}

static void send_next(struct fanout *f, uint64_t now)
{
	struct ctl_msg *m;
	struct survey *s;
	char err[256], *out = NULL;
	nng_msg *msg = NULL;
	bool status_due;
	size_t len;
	int ret;

	if (f->current)
		return;
again:
	s = f->queue;
	status_due = now - f->last_status_ms >= f->status_every_ms;
	/*
	 * Starts and stops first; then a status survey that is due, ahead of the late joins (a
	 * churning fleet can queue joins for minutes, and status surveys find who runs what and
	 * who is lost); then the joins. Never two status surveys in a row while joins wait: with
	 * a status interval no longer than a survey, joins would wait for ever.
	 */
	if (s && !(s->n_hosts && status_due && !f->sent_status)) {
		f->queue = s->next;
		if (!f->queue)
			f->tail = &f->queue;
		if (s->n_hosts)
			f->n_queued_joins--;
		if (s->n_hosts && !join_time_left(s, now)) {
			pr_info_ratelimited("capture %s: a late join of %u agents dropped: the "
					    "capture's time ran out while it waited capture=%s",
					    s->capture_id, s->n_hosts, s->capture_id);
			free(s);
			goto again;
		}
	} else if (status_due) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		s->type = CTL_STATUS;
		f->last_status_ms = now;
		/* Once a status interval: who knocked without a certificate. */
		tls_log_refusals();
	} else {
		return;
	}

	m = calloc(1, sizeof(*m));
	if (!m) {
		pr_err("cannot make a %s survey: no memory capture=%s", ctl_type_name(s->type),
		       s->capture_id);
		survey_drop(f, s);
		return;
	}
	ctl_msg_init(m, s->type, f->next_id++);
	/* A fresh nonce per survey: a proof made for an earlier one does not count now. */
	if (id_random(f->current_nonce, sizeof(f->current_nonce))) {
		pr_err("no random bytes for a %s survey's nonce capture=%s", ctl_type_name(s->type),
		       s->capture_id);
		survey_drop(f, s);
		free(m);
		return;
	}
	memcpy(m->nonce, f->current_nonce, ID_NONCE_LEN);
	m->has_nonce = true;
	/* Protocol 1.2: the batch codecs this aggregator decodes; agents pick from them. */
	m->has_codecs = true;
	m->codecs = WIRE_CODECS_ALL;
	snprintf(m->capture_id, sizeof(m->capture_id), "%s", s->capture_id);
	m->request = s->req;
	m->n_hosts = s->n_hosts;
	memcpy(m->hosts, s->hosts, s->n_hosts * sizeof(s->hosts[0]));
	if (ctl_encode(m, &out, &len, err, sizeof(err))) {
		pr_err("cannot encode a %s survey for %s: %s capture=%s", ctl_type_name(s->type),
		       s->capture_id, err, s->capture_id);
		survey_drop(f, s);
		free(m);
		return;
	}
	f->current_id = m->id;
	f->current = s;
	f->sent_status = s->type == CTL_STATUS;
	f->n_answers = 0;
	f->deadline_ms = now + f->survey_ms;
	/*
	 * With no agent connected the survey still "goes out" and simply gets no answers. Raw, it
	 * carries its SP survey id itself: the high bit set, as the protocol wants.
	 */
	ret = nng_msg_alloc(&msg, 0);
	if (!ret)
		ret = nng_msg_header_append_u32(msg, 0x80000000u | (uint32_t)m->id);
	if (!ret)
		ret = nng_msg_append(msg, out, len);
	if (!ret)
		ret = nng_sendmsg(f->sock, msg, NNG_FLAG_NONBLOCK);
	if (ret) {
		nng_msg_free(msg);
		pr_warn_ratelimited("%s survey not sent: %s capture=%s", ctl_type_name(s->type),
				    nng_strerror(ret), s->capture_id);
	}
	if (s->type != CTL_STATUS)
		pr_debug("%s survey %llu for %s sent capture=%s", ctl_type_name(s->type),
			 (unsigned long long)m->id, s->capture_id, s->capture_id);
	free(out);
	free(m);
}

/*
 * Whether r's host proved itself in the survey in flight already. It is not heard again, whatever
 * it sends: an agent answers a survey once, so a second reply carries nothing an agent has to
 * say; and the host id alone is no proof (another connection may claim it), so what a repeat
 * says could only be taken unproven, or proven again at a certificate and signature check a
 * copy. Error replies, and start or stop replies for another capture, do not mark a host
 * answered: without this, a host with a valid certificate could send any number of them.
 */
static bool proven_already(const struct fanout *f, const struct ctl_msg *r)
{
	const struct agent_entry *a = agent_find(f, r->host_id);

	return a && a->proven_id == f->current_id;
}

/*
 * Whether r, read from connection pipe, is proven by an earlier proof: the host proved this same
 * session key on this same connection less than FANOUT_PROOF_TTL_MS ago. Only the peer that
 * signed then can send on that TLS connection, so a new signature would prove nothing more; a
 * check costs two signature verifications (the certificate's and the reply's, about 100 us with
 * P-256), and every agent answers a status survey a second: 10,000 agents took more than the
 * loop's whole second for checks alone. Another connection, another key, or an older proof is
 * checked in full (the certificate's dates and chain too), and so is any reply once the wall
 * clock reaches the earliest notAfter of the chain that proof verified: a certificate (or CA)
 * that expires while its connection stays open stops being taken at that second.
 */
static bool proof_holds(const struct fanout *f, const struct ctl_msg *r, uint32_t pipe,
			uint64_t now)
{
	const struct agent_entry *a;

	if (!f->verifier || !f->proof_reuse || !pipe || !r->has_proof)
		return false;
	a = agent_find(f, r->host_id);
	return a && a->has_key && a->proof_pipe == pipe && now >= a->proof_ms &&
	       now - a->proof_ms < FANOUT_PROOF_TTL_MS && (int64_t)time(NULL) < a->proof_until &&
	       !memcmp(a->key, r->session_key, ID_KEY_LEN);
}

/* A reply r to the survey in flight, read from connection pipe (its NNG pipe id). */
static void hear(struct fanout *f, const struct ctl_msg *r, uint32_t pipe, uint64_t now)
{
	struct agent_entry *a;
	int64_t until = INT64_MAX;
	bool reused, changed;

	/*
	 * A host the registry has no room for (--max-agents) takes no part: its reply is not
	 * checked, its answer not counted, its key not bound. It was all three once, and its key
	 * was never unbound (no entry to lose, forget or see expire). First: nothing below applies
	 * to it (answered() would scan every answer for it in vain).
	 */
	if (!agent_find(f, r->host_id) && f->n_agents >= f->max_agents) {
		pr_warn_ratelimited("agent %s not registered: the registry holds %zu agents "
				    "(--max-agents) host=%s",
				    r->host_id, f->n_agents, r->host_id);
		return;
	}
	if (proven_already(f, r)) {
		pr_debug("ignored another %s from host %s: it answered this survey host=%s",
			 ctl_type_name(r->type), r->host_id, r->host_id);
		return;
	}
	if (answered(f, r)) {
		pr_debug("ignored another %s from host %s", ctl_type_name(r->type), r->host_id);
		return;
	}
	reused = proof_holds(f, r, pipe, now);
	if (reused)
		f->proofs_reused++;
	else if (!proven(f, r, now, &until))
		return;
	/* Its registry entry: none only without the memory for one, and then no part either. */
	a = take_reply(f, r, now);
	if (!a)
		return;
	a->proven_id = f->current_id;
	if (!f->verifier)
		return;
	/*
	 * Only a key that changed is bound: the ingest keeps a host's key, and each binding scans
	 * its waiting room.
	 */
	changed = !(a->has_key && !memcmp(a->key, r->session_key, ID_KEY_LEN));
	if (!reused) {
		memcpy(a->key, r->session_key, ID_KEY_LEN);
		a->has_key = true;
		a->proof_pipe = pipe;
		a->proof_ms = now;
		a->proof_until = until;
	}
	if (!changed || !f->ev.bound)
		return;
	/*
	 * After take_reply's events: data waiting for the key finds its capture. A key not bound
	 * is not kept either: it would count as bound, and the host's data would wait for it in
	 * vain, then be dropped as unauthenticated, for as long as the host kept that key.
	 */
	if (f->ev.bound(f->ev.ctx, r->host_id, r->session_key))
		a->has_key = false;
}

/*
 * Whether msg answers the survey in flight, by its SP header alone (raw: the survey id the
 * reply carries back, high bit set, ends the header). A reply to an earlier survey is dropped
 * without being decoded: it costs next to nothing however many of them wait.
 */
static bool for_current(const struct fanout *f, nng_msg *msg)
{
	size_t len = nng_msg_header_len(msg);
	const uint8_t *h = nng_msg_header(msg);
	uint32_t id;

	if (!f->current || len < 4)
		return false;
	h += len - 4;
	id = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	return id == (0x80000000u | (uint32_t)f->current_id);
}

/* Replies read at one call: a flood of them cannot starve the loop. */
#define FANOUT_READ_BATCH 1024

void fanout_handle(struct fanout *f, uint64_t now)
{
	struct ctl_msg *r = malloc(sizeof(*r));
	bool due = f->current && now >= f->deadline_ms + 50;
	size_t i, budget = FANOUT_READ_BATCH;
	char err[256];
	nng_msg *msg;
	uint32_t pipe;
	int pipe_id;

	f->now_ms = now;
	if (!r)
		return;
	/*
	 * At the deadline, every reply already queued is read before the survey ends: it came in
	 * time, and only the loop was late (a busy machine, 10,000 agents answering at once).
	 * Ending the survey after one batch counted the rest as missed, and left them queued in
	 * front of the next survey's replies, which then came too late in turn: every agent was
	 * soon lost while all of them answered. Bounded by the registry's bound (as many hosts
	 * as may answer) or the receive queue's depth, whichever is more (a small --max-agents
	 * must not leave replies that came in time queued, uncounted), plus a batch.
	 */
	if (due)
		budget = (f->max_agents > FANOUT_RECVBUF ? f->max_agents : FANOUT_RECVBUF) +
			 FANOUT_READ_BATCH;
	/* Between surveys too: what comes late is dropped, not left for the next survey. */
	for (i = 0; i < budget; i++) {
		if (nng_recvmsg(f->sock, &msg, NNG_FLAG_NONBLOCK))
			break;
		if (!for_current(f, msg)) {
			f->late++;
			nng_msg_free(msg);
			continue;
		}
		/* -1 for a message without a pipe: 0, never a proof's connection. */
		pipe_id = nng_pipe_id(nng_msg_get_pipe(msg));
		pipe = pipe_id > 0 ? (uint32_t)pipe_id : 0;
		/* Before it costs a decode (up to CTL_MSG_MAX of JSON) or a check. */
		if (f->verifier && pipe_heard(f, pipe)) {
			pr_debug_ratelimited("ignored another reply on a connection heard in this "
					     "survey");
			nng_msg_free(msg);
			continue;
		}
		if (f->verifier)
			pipe_hear(f, pipe);
		if (ctl_decode(nng_msg_body(msg), nng_msg_len(msg), r, err, sizeof(err)))
			pr_warn_ratelimited("refused a control reply: %s", err);
		else if (r->id == f->current_id && !ctl_type_is_survey(r->type))
			hear(f, r, pipe, now);
		nng_msg_free(msg);
	}
	if (due)
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

json_t *fanout_agents_json(const struct fanout *f)
{
	json_t *arr = json_array();
	char seen[RFC3339_US_LEN];
	size_t i;

	for (i = 0; arr && i < f->n_agents; i++) {
		const struct agent_entry *a = &f->agents[i];

		rfc3339_us_format(a->last_seen_ms * 1000, seen, sizeof(seen));
		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:s, s:s, s:b}", "host_id", a->host_id,
						"colo", a->colo, "version", a->version, "last_seen",
						seen, "connected", !a->lost));
	}
	return arr;
}
