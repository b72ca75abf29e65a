/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fanout.h: the aggregator's side of the control plane (docs/protocol.md): an NNG SURVEYOR
 * bound at the control URL, which agents dial. Surveys go out one at a time from a queue: start
 * (a capture's full request), stop, and a periodic status survey that keeps the agent registry
 * (host id, colo, version, last seen, running captures) current and notices agents that come
 * and go. Every survey collects replies until its deadline; nothing here blocks the main loop.
 *
 * A start survey's outcome is handed to the events below: the agents that accepted it, and why
 * the others declined (a full capture's other colos decline with "colo X is not in Y").
 *
 * Identity (identity.h, docs/protocol.md 3.7): every survey carries a fresh nonce. With a CA
 * (--tls-ca), a reply counts only if it proves its host id: a certificate from that CA naming
 * the host id, and a signature over the nonce and the agent's session key. A reply that does
 * not is refused, logged and counted (fanout_refused), and its agent is not registered; its
 * connection is not heard again until the next survey (one certificate check per connection
 * and survey, whatever host ids a peer claims).
 */
#ifndef EDGECAP_FANOUT_H
#define EDGECAP_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "identity.h"
#include "store.h"
#include "tls.h"

/* Agents the registry holds by default (--max-agents): a fleet of 10,000 and room to grow. */
#define FANOUT_MAX_AGENTS_DEFAULT 16384
/* A lost agent is forgotten after this long by default (--agent-forget-after): a week. */
#define FANOUT_PRUNE_AFTER_S_DEFAULT (7 * 24 * 3600)
/* Replies NNG queues for the (raw) surveyor before it holds the agents' pipes back. */
#define FANOUT_RECVBUF 8192
/* Stopped captures the fan-out remembers, so that no late join to them goes out. */
#define FANOUT_STOPPED_KEEP 256
/*
 * Late join surveys (fanout_join) queued at most, by default (fanout_set_max_joins: the
 * aggregator's --max-pending-joins): each asks up to CTL_MAX_HOSTS agents, and joins to one
 * capture are merged, so 1024 cover a fleet of 10,000 agents restarting into 6 running captures
 * (each join survey takes a survey's time, so the last of that many goes out minutes late). A
 * join that would need a new survey past it is refused (-ENOSPC), logged and counted
 * (fanout_joins_refused): its agents are not asked; the joins queued keep their order.
 */
#define FANOUT_MAX_JOINS 1024
/*
 * With a CA, a host that proved its session key on a connection is not checked again on that
 * connection with that key for this long; another connection or key is checked at once.
 */
#define FANOUT_PROOF_TTL_MS (300 * 1000)
/* Surveys NNG queues to send (one goes at a time: room to spare). */
#define FANOUT_SENDBUF 16

struct fanout;

struct fanout_answer {
	char host_id[CTL_NAME_MAX + 1];
	char colo[CTL_NAME_MAX + 1];
	bool accepted;
	char reason[CTL_REASON_MAX + 1];
};

struct fanout_events {
	/* A start survey ended: n answers (accepted or not), in arrival order. */
	void (*started)(void *ctx, const char *capture_id, const struct fanout_answer *answers,
			size_t n);
	/* A status reply: the agent runs capture_id (used to resume after a restart). */
	void (*running)(void *ctx, const char *capture_id, const char *host_id, const char *colo);
	/*
	 * An agent answered no survey for the lost grace (fanout_set_lost_grace; by default
	 * FANOUT_LOST_SURVEYS status intervals), noticed when a status survey ends.
	 */
	void (*lost)(void *ctx, const char *host_id);
	/* A proven agent accepted capture_id (as its reply arrives, before the survey ends). */
	void (*accepted)(void *ctx, const char *capture_id, const char *host_id);
	/*
	 * Agents first seen, or back after they were lost, since the last survey ended (called at
	 * a survey's end, after its started event): running captures may take them in
	 * (fanout_join).
	 */
	void (*joined)(void *ctx, const char (*hosts)[CTL_NAME_MAX + 1], size_t n);
	/* A fanout_join survey ended: its answers, as for started (the unaddressed decline). */
	void (*joined_started)(void *ctx, const char *capture_id,
			       const struct fanout_answer *answers, size_t n);
	/*
	 * A reply proved host_id's session key (after its accepted and running events): 0, or a
	 * negative errno when the key could not be bound (out of memory). The fan-out then forgets
	 * the key, so that the host's next proven reply (a status survey's) binds it again.
	 */
	int (*bound)(void *ctx, const char *host_id, const uint8_t key[ID_KEY_LEN]);
	/*
	 * The registry forgot host_id (lost for the prune time), or the chain that proved its
	 * session key expired (noticed when a status survey ends): its session key can go.
	 */
	void (*forgotten)(void *ctx, const char *host_id);
	void *ctx;
};

/* Status surveys an agent may miss before it is reported lost. */
#define FANOUT_LOST_SURVEYS 3

int fanout_open(const char *url, const struct tls_opts *tls, uint32_t survey_ms,
		uint32_t status_every_ms, const struct fanout_events *ev, struct fanout **out,
		char *err, size_t errlen);
void fanout_close(struct fanout *f);
/*
 * The registry's bounds: at most max_agents (0: FANOUT_MAX_AGENTS_DEFAULT; a new agent past it
 * is not registered, and its replies are not taken), and a lost agent unseen for
 * prune_after_s is forgotten (0: never). Lookups by host id are hashed.
 */
void fanout_set_limits(struct fanout *f, size_t max_agents, uint32_t prune_after_s);
/* Agents forgotten so far. */
uint64_t fanout_pruned(const struct fanout *f);
/*
 * Probes the control listener (relisten_tick, now_ms on sp_now_ms()'s clock): call it from the
 * main loop, at least every second or so. 1 when it restarted it.
 */
int fanout_listen_tick(struct fanout *f, uint64_t now_ms);
/* Control listeners restarted because they stopped answering (relisten.h). */
uint64_t fanout_listener_restarts(const struct fanout *f);
/*
 * Readable when a reply waits: poll it always. A survey's deadline does not wake it:
 * fanout_timeout_ms does. Between surveys, replies that came too late are read and dropped
 * (fanout_late), so that they never wait in front of the next survey's.
 */
int fanout_fd(const struct fanout *f);
bool fanout_busy(const struct fanout *f);
/*
 * Queues a start or a stop survey for capture c, ahead of the late joins queued (after the starts
 * and stops queued before). A stop drops the late joins queued for its capture.
 */
int fanout_start(struct fanout *f, const struct capture_rec *c);
int fanout_stop(struct fanout *f, const char *capture_id);
/*
 * Queues a late join: a start survey for capture_id addressed to hosts (1 to CTL_MAX_HOSTS) only,
 * with req (the time left, the budget left); its end calls ev.joined_started, never ev.started.
 * The hosts go into the joins already queued (not yet sent) for capture_id first, up to
 * CTL_MAX_HOSTS a survey (the merged survey takes req, the newest; a host it asks already is not
 * added twice); only the rest make a new join survey, refused (-ENOSPC) when the most
 * (fanout_set_max_joins) are queued. Late joins go after the starts and stops queued (fanout_start,
 * fanout_stop go ahead of them), and after a status survey that is due (but never two status
 * surveys in a row while joins wait). A join to a capture that is over (fanout_stop,
 * fanout_forget_capture: the last FANOUT_STOPPED_KEEP of them) is dropped.
 */
int fanout_join(struct fanout *f, const char *capture_id, const struct capture_request *req,
		const char *const *hosts, size_t n);
/*
 * capture_id ended by itself, no stop survey needed (every agent in it is done): its queued
 * late joins are dropped, and later ones too, as after fanout_stop.
 */
void fanout_forget_capture(struct fanout *f, const char *capture_id);
/* Late joins refused because the most were queued. */
uint64_t fanout_joins_refused(const struct fanout *f);
/* Late join surveys queued at most (FANOUT_MAX_JOINS by default; 0 counts as 1). */
void fanout_set_max_joins(struct fanout *f, uint32_t n);
/* How long an agent may answer no survey before it is lost (ev.lost). */
void fanout_set_lost_grace(struct fanout *f, uint32_t grace_ms);
/* Reads replies, ends surveys at their deadline, sends the next one. */
void fanout_handle(struct fanout *f, uint64_t now_ms);
/* Milliseconds until fanout_handle is due again. */
int fanout_timeout_ms(const struct fanout *f, uint64_t now_ms);
/*
 * The registry as JSON (new reference): [{host_id, colo, version, last_seen, connected}], in the
 * order agents joined; last_seen is RFC 3339 (store.h), connected is false for an agent that
 * missed FANOUT_LOST_SURVEYS status surveys.
 */
json_t *fanout_agents_json(const struct fanout *f);
size_t fanout_n_agents(const struct fanout *f);
/* Replies refused because they did not prove the host id they claim. */
uint64_t fanout_refused(const struct fanout *f);
/* Replies read after their survey had ended (dropped undecoded). */
uint64_t fanout_late(const struct fanout *f);
/* Replies taken without a new certificate and signature check (FANOUT_PROOF_TTL_MS). */
uint64_t fanout_proofs_reused(const struct fanout *f);

#endif /* EDGECAP_FANOUT_H */
