// SPDX-License-Identifier: BSD-2-Clause
/*
 * lifecycle.c: the capture lifecycle (lifecycle.h): the store's ops onto the fan-out and the
 * ingest, and their events back into the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "fanout.h"
#include "ingest.h"
#include "local_ops.h"
#include "log.h"
#include "sp.h"
#include "uploader.h"

/* How long a survey collects replies, and how often agents are asked for their status. */
#define SURVEY_MS	500
#define STATUS_EVERY_MS 1000

static int op_start(void *ctx, const struct capture_rec *c)
{
	struct lifecycle *lc = ctx;
	int ret = ingest_capture_start(lc->ingest, c);

	if (ret)
		return ret;
	return fanout_start(lc->fanout, c);
}

static int op_stop(void *ctx, const struct capture_rec *c)
{
	struct lifecycle *lc = ctx;

	return fanout_stop(lc->fanout, c->id);
}

static int op_expire(void *ctx, const struct capture_rec *c)
{
	struct lifecycle *lc = ctx;

	/* Agents still at it (e.g. one whose clock runs late) are told to stop. */
	fanout_stop(lc->fanout, c->id);
	return ingest_capture_expire(lc->ingest, c);
}

static const struct capture_ops fleet_ops = {
	.start = op_start,
	.stop = op_stop,
	.expire = op_expire,
};

/* A start survey ended: expect the agents that took the capture, record the others. */
static void on_started(void *ctx, const char *id, const struct fanout_answer *answers, size_t n)
{
	struct lifecycle *lc = ctx;
	char why[512] = "", err[640];
	size_t i, accepted = 0, used = 0;
	uint64_t now = store_now_us();
	json_t *declined = json_object(); /* one manifest write for them all */

	for (i = 0; i < n; i++) {
		const struct fanout_answer *a = &answers[i];
		json_t *info = json_pack("{s:s}", "colo", a->colo);

		if (a->accepted) {
			accepted++;
			ingest_expect_agent(lc->ingest, id, a->host_id, info);
		} else {
			json_object_set_new(info, "accepted", json_false());
			json_object_set_new(info, "reason", json_string(a->reason));
			json_object_set(declined, a->host_id, info);
			if (used < sizeof(why))
				used += (size_t)snprintf(why + used, sizeof(why) - used, "%s%s: %s",
							 used ? "; " : "", a->host_id, a->reason);
		}
		json_decref(info);
	}
	if (json_object_size(declined))
		store_update_agents_new(lc->store, id, declined);
	else
		json_decref(declined);
	ingest_expect_done(lc->ingest, id);
	if (accepted) {
		store_mark_running(lc->store, id, now);
		pr_info("capture %s running on %zu of %zu agents capture=%s", id, accepted, n, id);
		return;
	}
	if (!n)
		snprintf(err, sizeof(err), "%s (no agent is connected)", NO_AGENT_MESSAGE);
	else
		snprintf(err, sizeof(err), "%s (%s)", NO_AGENT_MESSAGE, why);
	store_mark_failed(lc->store, id, err, now);
	pr_warn("capture %s failed: %s capture=%s", id, err, id);
}

/* An agent runs a capture: after a restart, this is how the capture finds its agents again. */
static void on_running(void *ctx, const char *id, const char *host_id, const char *colo)
{
	struct lifecycle *lc = ctx;
	struct capture_rec c;
	json_t *info;

	/* A proven agent that runs the capture may send its data. */
	ingest_allow_agent(lc->ingest, id, host_id);
	if (store_get(lc->store, id, &c) || c.status != CAPTURE_RUNNING || !c.resumed)
		return;
	info = json_pack("{s:s}", "colo", colo);
	if (ingest_expect_agent(lc->ingest, id, host_id, info) == 0)
		ingest_expect_done(lc->ingest, id);
	json_decref(info);
}

static void on_accepted(void *ctx, const char *id, const char *host_id)
{
	struct lifecycle *lc = ctx;

	ingest_allow_agent(lc->ingest, id, host_id);
}

static int on_bound(void *ctx, const char *host_id, const uint8_t key[ID_KEY_LEN])
{
	struct lifecycle *lc = ctx;
	int ret = ingest_bind_key(lc->ingest, host_id, key, store_now_us());

	/*
	 * The fan-out binds it again at the host's next proven reply; rate-limited, since that
	 * is every status survey for every agent while the memory lacks.
	 */
	if (ret)
		pr_warn_ratelimited(
			"agent %s: failed to bind its session key: %s; its data waits until the "
			"next status survey binds it (dropped after %u ms) host=%s",
			host_id, strerror(-ret), lc->cfg->key_wait_ms, host_id);
	return ret;
}

static void on_forgotten(void *ctx, const char *host_id)
{
	struct lifecycle *lc = ctx;

	ingest_forget_key(lc->ingest, host_id);
}

static void on_lost(void *ctx, const char *host_id)
{
	struct lifecycle *lc = ctx;
	int n = ingest_agent_lost(lc->ingest, host_id, store_now_us());

	/* Its captures finish without its final report, as soon as the others are done. */
	pr_debug("agent %s lost; %d captures go on without it host=%s", host_id, n, host_id);
}

/*
 * The request for an agent joining c late: the time left, and for a simple capture the budget
 * left (a full capture's limits are per host). false when nothing is left to join.
 */
static bool late_request(const struct capture_rec *c, uint64_t now_us, struct capture_request *r)
{
	/* started_us is wall time (what users see); the rule clock ignores steps. */
	uint64_t end = store_from_wall_us(c->started_us) + c->req.time_limit * 1000000ULL;

	*r = c->req;
	if (c->status != CAPTURE_RUNNING || c->stop_requested_us || !c->started_us ||
	    end < now_us + 1000000ULL)
		return false;
	r->time_limit = (end - now_us) / 1000000ULL;
	if (r->type == CAPTURE_FULL)
		return true;
	if (r->has & REQ_HAS_PACKET_LIMIT) {
		if (c->packets >= r->packet_limit)
			return false;
		r->packet_limit -= c->packets;
	}
	if (r->has & REQ_HAS_BYTE_LIMIT) {
		if (c->bytes >= r->byte_limit)
			return false;
		r->byte_limit -= c->bytes;
	}
	return true;
}

/* Agents joined (first seen, or back): each running capture asks those not in it yet. */
static void on_joined(void *ctx, const char (*hosts)[CTL_NAME_MAX + 1], size_t n)
{
	struct lifecycle *lc = ctx;
	const char *batch[CTL_MAX_HOSTS];
	struct capture_rec *caps = NULL;
	struct capture_request req;
	uint64_t now = store_now_us();
	size_t n_caps = 0, i, j, k;

	if (store_list_status(lc->store, CAPTURE_RUNNING, &caps, &n_caps))
		return;
	for (i = 0; i < n_caps; i++) {
		if (!late_request(&caps[i], now, &req))
			continue;
		for (j = 0, k = 0; j < n; j++) {
			if (!ingest_has_agent(lc->ingest, caps[i].id, hosts[j]))
				batch[k++] = hosts[j];
			if (k && (k == CTL_MAX_HOSTS || j + 1 == n)) {
				pr_info("capture %s: %zu agents that joined are asked to take "
					"part, for its last %llu s capture=%s",
					caps[i].id, k, (unsigned long long)req.time_limit,
					caps[i].id);
				fanout_join(lc->fanout, caps[i].id, &req, batch, k);
				k = 0;
			}
		}
	}
	free(caps);
}

/* A late join's answers: the agents that took the capture are expected, marked joined late. */
static void on_joined_started(void *ctx, const char *id, const struct fanout_answer *answers,
			      size_t n)
{
	struct lifecycle *lc = ctx;
	uint64_t now = store_now_us();
	size_t i;

	for (i = 0; i < n; i++) {
		const struct fanout_answer *a = &answers[i];
		json_t *info;

		if (!a->accepted)
			continue;
		info = json_pack("{s:s}", "colo", a->colo);
		if (!ingest_agent_joined(lc->ingest, id, a->host_id, info, now))
			pr_info("capture %s: agent %s joined it late capture=%s host=%s", id,
				a->host_id, id, a->host_id);
		json_decref(info);
	}
}

/* The ingest finished a capture early: agents still capturing are told to stop. */
static void on_finished(void *ctx, const char *id, bool agents_running)
{
	struct lifecycle *lc = ctx;

	/* Either way no agent is asked to join it late any more. */
	if (agents_running)
		fanout_stop(lc->fanout, id);
	else
		fanout_forget_capture(lc->fanout, id);
	/* A full capture's files are ready: on to the uploader, without waiting for its poll. */
	uploader_kick(lc->uploader);
}

int lifecycle_init(struct lifecycle *lc, const struct agg_config *cfg, struct store *store,
		   char *err, size_t errlen)
{
	struct fanout_events ev = {
		.started = on_started,
		.running = on_running,
		.lost = on_lost,
		.joined = on_joined,
		.joined_started = on_joined_started,
		.accepted = on_accepted,
		.bound = on_bound,
		.forgotten = on_forgotten,
		.ctx = lc,
	};
	struct ingest_hooks hooks = { .finished = on_finished };
	/* With a CA the agents prove who they are, and their data must show it (identity.h). */
	struct ingest_opts io = { .url = cfg->data_url,
				  .tls = &cfg->tls,
				  .require_auth = cfg->tls.ca[0] != '\0',
				  .window_ms = cfg->reorder_window_ms,
				  .checkpoint_ms = cfg->checkpoint_ms,
				  .held_max = cfg->reorder_max_bytes,
				  .park_ms = cfg->key_wait_ms,
				  .park_max = cfg->key_wait_bytes,
				  .park_msgs = cfg->key_wait_msgs,
				  .park_host_max = cfg->key_wait_host_bytes,
				  .park_host_msgs = cfg->key_wait_host_msgs,
				  .park_conn_max = cfg->key_wait_conn_bytes,
				  .park_conn_msgs = cfg->key_wait_conn_msgs,
				  .max_hosts = cfg->max_capture_hosts,
				  .full_byte_limit = cfg->full_byte_limit };
	int ret;

	memset(lc, 0, sizeof(*lc));
	lc->cfg = cfg;
	lc->store = store;
	if (cfg->no_agents)
		return 0;
	ret = ingest_open(store, &io, &lc->ingest, err, errlen);
	if (ret)
		return ret;
	ingest_set_hooks(lc->ingest, &hooks, lc);
	ret = fanout_open(cfg->control_url, &cfg->tls, SURVEY_MS, STATUS_EVERY_MS, &ev, &lc->fanout,
			  err, errlen);
	if (!ret)
		fanout_set_limits(lc->fanout, cfg->max_agents, cfg->agent_forget_s);
	if (ret) {
		ingest_close(lc->ingest);
		lc->ingest = NULL;
		return ret;
	}
	fanout_set_lost_grace(lc->fanout, cfg->lost_grace_s * 1000);
	fanout_set_max_joins(lc->fanout, cfg->max_pending_joins);
	/*
	 * A key is bound by its agent's first proven status reply: up to a status interval and a
	 * survey after the agent's data came (more when start, stop or join surveys go first).
	 * Data that may wait less than that is dropped as unauthenticated whenever an agent
	 * connects, with no forger at all: allowed (tests use it), but said.
	 */
	if (io.require_auth && cfg->key_wait_ms < STATUS_EVERY_MS + SURVEY_MS)
		pr_warn("--key-wait-ms %u is shorter than binding an agent's key can take (%u ms: "
			"a "
			"status interval and a survey): an agent's first batches after it connects "
			"may be dropped as unauthenticated",
			cfg->key_wait_ms, STATUS_EVERY_MS + SURVEY_MS);
	return 0;
}

void lifecycle_close(struct lifecycle *lc)
{
	/*
	 * The ingest first: its captures' records and checkpoints are written before any socket
	 * closes, so that an exit on a hung close (sp_close) loses none of them.
	 */
	ingest_close(lc->ingest);
	fanout_close(lc->fanout);
	lc->fanout = NULL;
	lc->ingest = NULL;
}

const struct capture_ops *lifecycle_ops(struct lifecycle *lc)
{
	return lc->cfg->no_agents ? &no_agents_ops : &fleet_ops;
}

void *lifecycle_ops_ctx(struct lifecycle *lc)
{
	return lc->cfg->no_agents ? (void *)lc->store : (void *)lc;
}

int lifecycle_poll_fds(struct lifecycle *lc, struct pollfd *fds, int max)
{
	int n = 0;

	if (!lc->fanout || max < 3)
		return 0;
	/* Always: between surveys, late replies are drained (fanout_fd). */
	fds[n++] = (struct pollfd){ .fd = fanout_fd(lc->fanout), .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = ingest_fd(lc->ingest), .events = POLLIN };
	fds[n++] = (struct pollfd){ .fd = ingest_timer_fd(lc->ingest), .events = POLLIN };
	return n;
}

int lifecycle_handle(struct lifecycle *lc, uint64_t now_us)
{
	int ret;

	if (!lc->fanout)
		return 0;
	/*
	 * On their own clock, not now_us: a probe's deadline is real time for NNG to answer in,
	 * and these run on every pass (at least once a second: LOOP_MAX_SLEEP_MS).
	 */
	fanout_listen_tick(lc->fanout, sp_now_ms());
	ingest_listen_tick(lc->ingest, sp_now_ms());
	fanout_handle(lc->fanout, now_us / 1000);
	ret = ingest_handle(lc->ingest, now_us);
	return ret < 0 ? ret : 0;
}

int lifecycle_timeout_ms(struct lifecycle *lc, uint64_t now_us)
{
	return lc->fanout ? fanout_timeout_ms(lc->fanout, now_us / 1000) : 1000;
}
