// SPDX-License-Identifier: BSD-2-Clause
/*
 * ingest.c: the aggregator's data plane (ingest.h has the contract): the socket and its loop,
 * message routing to captures and agents, and each capture's lifecycle in the ingest (set up,
 * adopted, finished, abandoned). The outputs and accounts are output.c's, the checkpoint and
 * restart checkpoint.c's; the state they share is in ingest_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "checkpoint.h"
#include "ingest_internal.h"
#include "log.h"
#include "output.h"

/* How often the ingest asks the store whether someone else ended a running capture. */
#define STATUS_CHECK_US US_PER_S

static void count_drop(struct ingest *in, const char *reason, const char *why)
{
	size_t i;

	for (i = 0; i < in->ndrops; i++) {
		if (!strcmp(in->drops[i].reason, reason))
			break;
	}
	if (i == in->ndrops) {
		if (in->ndrops == MAX_DROP_REASONS)
			i = MAX_DROP_REASONS - 1; /* cannot happen: the reasons are a fixed set */
		else
			in->drops[in->ndrops++] = (struct drop_count){ .reason = reason };
	}
	/* The first of each kind is worth a warning; the counters tell the rest. */
	if (!in->drops[i].n++)
		pr_warn("dropped a data message (%s): %s (further ones are only counted)", reason,
			why);
	else
		pr_debug("dropped a data message (%s): %s", reason, why);
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p, c;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

/* --- capture lifecycle -------------------------------------------------------------------- */

static void cap_free(struct icap *ic)
{
	size_t i;

	if (!ic)
		return;
	merge_free(ic->win);
	pcap_writer_close(ic->out.w, false);
	for (i = 0; i < ic->nagents; i++)
		agent_free(ic->agents[i]);
	free(ic->agents);
	free(ic);
}

static struct icap *cap_find(struct ingest *in, const char *id)
{
	struct icap *ic;

	for (ic = in->caps; ic; ic = ic->next) {
		if (!strcmp(ic->rec.id, id))
			return ic;
	}
	return NULL;
}

/* Sets up a capture's output: afresh, or resumed after a restart (rec->resumed). */
static int cap_create(struct ingest *in, const struct capture_rec *rec, uint64_t now_us,
		      struct icap **out)
{
	struct pcap_writer_resume r;
	char path[PATH_MAX];
	struct icap *ic;
	int ret;

	ic = calloc(1, sizeof(*ic));
	if (!ic)
		return -ENOMEM;
	ic->rec = *rec;
	ret = wire_capture_id_parse(rec->id, ic->bin);
	if (!ret)
		ret = store_capture_dir(in->store, rec->id, ic->dir, sizeof(ic->dir));
	if (ret)
		goto fail;
	ic->full = rec->req.type == CAPTURE_FULL;
	ic->snaplen = request_snaplen(&rec->req);
	if (rec->req.has & REQ_HAS_PACKET_LIMIT)
		ic->packet_limit = rec->req.packet_limit;
	if (rec->req.has & REQ_HAS_BYTE_LIMIT)
		ic->byte_limit = rec->req.byte_limit;
	if (ic->full) {
		ret = store_destination_dir(in->store, rec, ic->out_dir, sizeof(ic->out_dir));
		if (!ret)
			ret = mkdir_p(ic->out_dir);
		if (ret) {
			pr_err("capture %s: cannot use its destination %s: %s", rec->id,
			       ic->out_dir, strerror(-ret));
			goto fail;
		}
	} else {
		/* Before the resume: the checkpoint's agents join the watermark. */
		ret = merge_new(&ic->win);
		if (ret)
			goto fail;
	}

	if (rec->resumed) {
		checkpoint_resume(ic);
	} else if (!ic->full) {
		/* A new capture without a place for its pcap fails at its start. */
		ret = out_path_join(path, sizeof(path), ic->dir, "capture.pcap");
		if (!ret)
			ret = out_open(ic, &ic->out, path, 0, &r);
		if (ret)
			goto fail;
	}
	/* A resumed output that failed to open fails the capture at its end: it may yet run. */
	checkpoint_write(ic, now_us);
	ic->status_us = now_us;
	set_progress(in, ic);
	ic->next = in->caps;
	in->caps = ic;
	*out = ic;
	return 0;
fail:
	cap_free(ic);
	return ret;
}

static int reason_rank(const char *r)
{
	static const char *const order[] = { "packet_limit", "byte_limit", "stopped", "time_limit",
					     "error" };
	size_t i;

	for (i = 0; i < N_FIELDS(order); i++) {
		if (!strcmp(r, order[i]))
			return (int)i;
	}
	return (int)N_FIELDS(order);
}

/* Why the capture ended (ingest.h, "Ending"); *all_failed when every agent reported an error. */
static const char *finish_reason(struct ingest *in, const struct icap *ic, bool *all_failed,
				 const struct iagent **failed_one)
{
	const char *best = NULL, *r;
	struct capture_rec now;
	bool all_final = true, limit_p = ic->out.packet_limit_hit, limit_b = ic->out.byte_limit_hit;
	size_t i, n = 0;

	*all_failed = true;
	*failed_one = NULL;
	for (i = 0; i < ic->nagents; i++) {
		const struct iagent *a = ic->agents[i];

		if (!agent_in(a))
			continue;
		n++;
		limit_p |= a->out.packet_limit_hit;
		limit_b |= a->out.byte_limit_hit;
		if (!a->final_received) {
			all_final = false;
			*all_failed = false;
			continue;
		}
		r = wire_stop_reason_name(a->fin.reason);
		if (a->fin.reason == WIRE_STOP_ERROR) {
			if (!*failed_one)
				*failed_one = a;
		} else {
			*all_failed = false;
		}
		if (!best || reason_rank(r) < reason_rank(best))
			best = r;
	}
	if (!n)
		*all_failed = false;
	if (limit_p)
		return "packet_limit";
	if (limit_b)
		return "byte_limit";
	if (all_final && best)
		return best;
	if (!store_get(in->store, ic->rec.id, &now) && now.stop_requested_us)
		return "stopped";
	return "time_limit";
}

/* Ends a capture: window out, files closed and in place, accounts reported, status set. */
static void cap_finish(struct ingest *in, struct icap *ic, uint64_t now_us)
{
	const struct iagent *failed_one;
	char msg[256] = "", path[PATH_MAX];
	struct pcap_writer_resume r;
	const char *reason;
	bool all_failed, running = false;
	size_t i, files_ok = 0, files_bad = 0;
	uint64_t packets, bytes;
	int ret, bad_err = 0;

	if (ic->finished)
		return;
	if (!ic->full) {
		window_release(in, ic, now_us, true);
		/* An output that never opened gets one more try: an empty pcap is a result. */
		if (!ic->out.w && !ic->out.err &&
		    !out_path_join(path, sizeof(path), ic->dir, "capture.pcap"))
			out_open(ic, &ic->out, path, 0, &r);
		if (ic->out.w) {
			ret = pcap_writer_close(ic->out.w, !ic->out.err);
			ic->out.w = NULL;
			if (ret && !ic->out.err)
				ic->out.err = ret;
		}
		if (ic->out.err)
			snprintf(msg, sizeof(msg), "failed to write the capture's pcap: %s",
				 strerror(-ic->out.err));
	}
	for (i = 0; ic->full && i < ic->nagents; i++) {
		struct output *o = &ic->agents[i]->out;

		if (!o->w && !o->err)
			continue;
		ret = o->w ? pcap_writer_close(o->w, !o->err) : 0;
		o->w = NULL;
		if (ret && !o->err)
			o->err = ret;
		if (o->err) {
			files_bad++;
			bad_err = o->err;
		} else {
			files_ok++;
		}
	}
	if (files_bad && !files_ok)
		snprintf(msg, sizeof(msg), "failed to write the capture's files under %.120s: %s",
			 ic->out_dir, strerror(-bad_err));

	reason = finish_reason(in, ic, &all_failed, &failed_one);
	set_progress(in, ic);
	cap_totals(ic, &packets, &bytes);
	if (!msg[0] && all_failed && failed_one && !packets)
		snprintf(msg, sizeof(msg), "every agent failed (%s: %.150s)", failed_one->host,
			 failed_one->fin.error);
	for (i = 0; i < ic->nagents; i++) {
		report_agent(in, ic, ic->agents[i]);
		running |= agent_in(ic->agents[i]) && !ic->agents[i]->final_received;
	}
	if (msg[0])
		ret = store_mark_failed(in->store, ic->rec.id, msg, now_us);
	else
		ret = store_mark_success(in->store, ic->rec.id, reason, now_us);
	if (ret && ret != -EALREADY)
		pr_err("capture %s: failed to record its end: %s", ic->rec.id, strerror(-ret));
	pr_info("capture %s finished: %s%s, %" PRIu64 " packets written", ic->rec.id,
		msg[0] ? "failed: " : "", msg[0] ? msg : reason, packets);
	checkpoint_remove(ic);
	window_clear(ic);
	ic->finished = true;
	ic->finished_us = now_us;
	if (in->hooks.finished)
		in->hooks.finished(in->hooks_ctx, ic->rec.id, running);
}

/*
 * The store ended a capture without the ingest: the fan-out failed it (no agent accepted), or
 * a safety net did. A failed capture has no output to keep; a successful one keeps what it has.
 */
static void cap_abandon(struct ingest *in, struct icap *ic, enum capture_status status,
			uint64_t now_us)
{
	bool keep = status == CAPTURE_SUCCESS, running = false;
	size_t i;

	pr_info("capture %s was ended by the store (%s): closing its output", ic->rec.id,
		capture_status_name(status));
	if (!ic->full && keep)
		window_release(in, ic, now_us, true);
	pcap_writer_close(ic->out.w, keep && !ic->out.err);
	ic->out.w = NULL;
	for (i = 0; i < ic->nagents; i++) {
		struct iagent *a = ic->agents[i];

		pcap_writer_close(a->out.w, keep && !a->out.err);
		a->out.w = NULL;
		running |= agent_in(a) && !a->final_received;
		if (a->heard)
			report_agent(in, ic, a);
	}
	checkpoint_remove(ic);
	window_clear(ic);
	ic->finished = true;
	ic->finished_us = now_us;
	if (in->hooks.finished)
		in->hooks.finished(in->hooks_ctx, ic->rec.id, running);
}

/* Looks at the store's status of a running capture now and then (STATUS_CHECK_US). */
static void cap_check_status(struct ingest *in, struct icap *ic, uint64_t now_us)
{
	struct capture_rec rec;

	if (now_us < ic->status_us + STATUS_CHECK_US)
		return;
	ic->status_us = now_us;
	if (!store_get(in->store, ic->rec.id, &rec) &&
	    (rec.status == CAPTURE_SUCCESS || rec.status == CAPTURE_FAILED))
		cap_abandon(in, ic, rec.status, now_us);
}

/* Early end: the fan-out named every accepting agent, and every agent sent its final. */
static void maybe_finish(struct ingest *in, struct icap *ic, uint64_t now_us)
{
	size_t i, n = 0;

	if (ic->finished)
		return;
	if (!ic->full && ic->out.packet_limit_hit) {
		cap_finish(in, ic, now_us);
		return;
	}
	/* Some agent may still send: the common case, decided without a walk over the agents. */
	if (!ic->expect_done || ic->nlive)
		return;
	for (i = 0; i < ic->nagents; i++) {
		if (!agent_in(ic->agents[i]))
			continue;
		if (!ic->agents[i]->final_received)
			return;
		n++;
	}
	if (n)
		cap_finish(in, ic, now_us);
}

/* --- messages ----------------------------------------------------------------------------- */

/* A capture the ingest has not set up yet: the store says whether it exists and still runs. */
static int cap_adopt(struct ingest *in, const uint8_t bin[WIRE_CAPTURE_ID_LEN], uint64_t now_us,
		     struct icap **out)
{
	char id[WIRE_CAPTURE_ID_HEX_LEN];
	struct capture_rec rec;
	int ret;

	wire_capture_id_format(bin, id);
	ret = store_get(in->store, id, &rec);
	if (ret)
		return ret;
	if (rec.status == CAPTURE_SUCCESS || rec.status == CAPTURE_FAILED)
		return -ESTALE;
	return cap_create(in, &rec, now_us, out);
}

static struct icap *cap_find_bin(struct ingest *in, const uint8_t bin[WIRE_CAPTURE_ID_LEN])
{
	struct icap *ic;

	for (ic = in->caps; ic; ic = ic->next) {
		if (!memcmp(ic->bin, bin, WIRE_CAPTURE_ID_LEN))
			return ic;
	}
	return NULL;
}

static int on_final(struct ingest *in, struct icap *ic, struct iagent *a, const struct wire_msg *m,
		    uint64_t now_us)
{
	if (a->final_received) {
		a->duplicates++;
		count_drop(in, "duplicate", "a second final message from one agent");
		return -EEXIST;
	}
	in->finals++;
	a->fin = m->final;
	a->final_received = true;
	a->final_late = ic->finished;
	agent_sync_live(ic, a);
	report_agent(in, ic, a);
	if (ic->finished)
		return 0;
	ic->dirty = true;
	/* This agent sends nothing more: it no longer holds the window back. */
	if (!ic->full)
		window_release(in, ic, now_us, false);
	set_progress(in, ic);
	maybe_finish(in, ic, now_us);
	return 0;
}

/*
 * Records of a batch that came older than records their agent sent before: merged exactly all
 * the same (merge.h, "Order"), but each by the slow path. Worth a word the first time.
 */
static void note_strays(struct ingest *in, struct icap *ic, const struct iagent *a, uint64_t n,
			uint64_t seq)
{
	if (!ic->strays)
		pr_info("capture %s: batch %" PRIu64 " of agent %s has records older than ones it "
			"sent before (%" PRIu64
			"; a late batch, or its clock went back): merged in "
			"order by a slower path (further ones are only counted)",
			ic->rec.id, seq, a->host, n);
	else
		pr_debug("capture %s: batch %" PRIu64 " of agent %s: %" PRIu64
			 " records out of its order",
			 ic->rec.id, seq, a->host, n);
	ic->strays += n;
	in->strays += n;
}

static int on_batch(struct ingest *in, struct icap *ic, struct iagent *a, const struct wire_msg *m,
		    uint64_t now_us)
{
	struct wire_record rec;
	struct wire_iter it;
	uint64_t strays;
	char why[128];
	int ret;

	if (seq_note(a, m->seq)) {
		a->duplicates++;
		snprintf(why, sizeof(why), "batch %" PRIu64 " of agent %s came before", m->seq,
			 a->host);
		count_drop(in, "duplicate", why);
		return -EEXIST;
	}
	a->batches++;
	a->records += m->count;
	in->batches++;
	in->records += m->count;
	ic->dirty = true;
	if (ic->full && !a->out.w && !a->out.err)
		host_out_open(ic, a, now_us);
	/* wire_decode checked every record already: the iterator cannot fail here. */
	wire_iter_init(&it, m);
	strays = ic->win ? merge_strays(ic->win) : 0;
	while (!(ret = wire_iter_next(&it, &rec, why, sizeof(why)))) {
		if (rec.tstamp_ns > a->newest_ts)
			a->newest_ts = rec.tstamp_ns;
		if (ic->full)
			out_write(ic, &a->out, a, rec.tstamp_ns, rec.data, rec.cap_len,
				  rec.orig_len);
		else if (window_hold(ic, a, &rec, now_us))
			/* Out of memory: write it now rather than lose it. */
			out_write(ic, &ic->out, a, rec.tstamp_ns, rec.data, rec.cap_len,
				  rec.orig_len);
	}
	if (!ic->full) {
		merge_source_advance(ic->win, a->index, a->newest_ts);
		if (merge_strays(ic->win) != strays)
			note_strays(in, ic, a, merge_strays(ic->win) - strays, m->seq);
		window_release(in, ic, now_us, false);
	}
	set_progress(in, ic);
	maybe_finish(in, ic, now_us);
	return (ic->full ? a->out.err : ic->out.err) ? -EIO : 0;
}

static int route(struct ingest *in, const struct wire_msg *m, uint64_t now_us)
{
	struct icap *ic = cap_find_bin(in, m->capture_id);
	char id[WIRE_CAPTURE_ID_HEX_LEN], why[192];
	struct iagent *a;
	bool first;
	int ret;

	wire_capture_id_format(m->capture_id, id);
	if (!ic) {
		ret = cap_adopt(in, m->capture_id, now_us, &ic);
		if (ret == -ENOENT) {
			snprintf(why, sizeof(why), "capture %s from agent %s is unknown", id,
				 m->agent_id);
			count_drop(in, "unknown_capture", why);
			return ret;
		}
		if (ret == -ESTALE) {
			snprintf(why, sizeof(why), "capture %s from agent %s already finished", id,
				 m->agent_id);
			count_drop(in, "late", why);
			return ret;
		}
		if (ret) {
			snprintf(why, sizeof(why), "capture %s could not be set up: %s", id,
				 strerror(-ret));
			count_drop(in, "setup_failed", why);
			return ret;
		}
	}
	a = agent_get(ic, m->agent_id);
	if (!a) {
		snprintf(why, sizeof(why), "capture %s has %d agents already (%s is one more)", id,
			 INGEST_MAX_AGENTS, m->agent_id);
		count_drop(in, "too_many_agents", why);
		return -EMLINK;
	}
	if (ic->finished) {
		snprintf(why, sizeof(why), "capture %s from agent %s already finished", id,
			 m->agent_id);
		count_drop(in, "late", why);
		if (m->kind == WIRE_KIND_FINAL)
			on_final(in, ic, a, m, now_us);
		else
			a->late_batches++;
		return -ESTALE;
	}
	first = !a->heard;
	a->heard = true;
	if (first)
		agent_sync_live(ic, a);
	ret = m->kind == WIRE_KIND_FINAL ? on_final(in, ic, a, m, now_us)
					 : on_batch(in, ic, a, m, now_us);
	/* Operators see an agent as soon as it sends; its final and the end update it. */
	if (first && !a->final_received && !ic->finished)
		report_agent(in, ic, a);
	return ret;
}

int ingest_feed(struct ingest *in, const void *buf, size_t len, uint64_t now_us)
{
	struct wire_msg m;
	char reason[192];
	int ret;

	in->messages++;
	ret = wire_decode(buf, len, &m, reason, sizeof(reason));
	if (ret) {
		count_drop(in, wire_error_name(ret), reason);
		return ret;
	}
	ret = route(in, &m, now_us);
	wire_msg_release(&m);
	return ret;
}

/* --- the fan-out's calls ------------------------------------------------------------------ */

int ingest_capture_start(struct ingest *in, const struct capture_rec *c)
{
	struct icap *ic;

	if (cap_find(in, c->id))
		return 0;
	return cap_create(in, c, store_now_us(), &ic);
}

int ingest_capture_expire(struct ingest *in, const struct capture_rec *c)
{
	uint64_t now = store_now_us();
	struct icap *ic = cap_find(in, c->id);
	int ret;

	if (!ic) {
		ret = cap_create(in, c, now, &ic);
		if (ret)
			return ret;
	}
	cap_finish(in, ic, now);
	return 0;
}

/* The capture for a fan-out call, set up when it is not yet. */
static int cap_for_call(struct ingest *in, const char *capture_id, struct icap **out)
{
	uint8_t bin[WIRE_CAPTURE_ID_LEN];
	int ret;

	*out = cap_find(in, capture_id);
	if (*out)
		return 0;
	ret = wire_capture_id_parse(capture_id, bin);
	if (ret)
		return ret;
	ret = cap_adopt(in, bin, store_now_us(), out);
	return ret == -ESTALE ? -EALREADY : ret;
}

int ingest_expect_agent(struct ingest *in, const char *capture_id, const char *host_id,
			const json_t *info)
{
	struct iagent *a;
	struct icap *ic;
	int ret;

	if (!host_id || !wire_agent_id_valid(host_id, strlen(host_id)) ||
	    (info && !json_is_object(info)))
		return -EINVAL;
	ret = cap_for_call(in, capture_id, &ic);
	if (ret)
		return ret;
	if (ic->finished)
		return -EALREADY;
	a = agent_get(ic, host_id);
	if (!a)
		return -ENOMEM;
	if (info) {
		json_decref(a->info);
		a->info = json_deep_copy(info);
	}
	a->expected = true;
	agent_sync_live(ic, a);
	report_agent(in, ic, a);
	/* The next tick's checkpoint keeps it: fsyncs per agent would stall a large survey. */
	ic->dirty = true;
	return 0;
}

int ingest_expect_done(struct ingest *in, const char *capture_id)
{
	struct icap *ic;
	int ret;

	ret = cap_for_call(in, capture_id, &ic);
	if (ret)
		return ret;
	if (ic->finished)
		return 0;
	ic->expect_done = true;
	ic->dirty = true;
	maybe_finish(in, ic, store_now_us());
	return 0;
}

/* --- the loop ----------------------------------------------------------------------------- */

int ingest_tick(struct ingest *in, uint64_t now_us, uint64_t *next_us)
{
	struct icap **pp = &in->caps, *ic;
	uint64_t next = UINT64_MAX, t;

	while ((ic = *pp)) {
		if (ic->finished) {
			t = ic->finished_us + INGEST_LINGER_S * US_PER_S;
			if (now_us >= t) {
				*pp = ic->next;
				cap_free(ic);
				continue;
			}
		} else {
			cap_check_status(in, ic, now_us);
			if (!ic->finished && !ic->full && merge_count(ic->win)) {
				window_release(in, ic, now_us, false);
				set_progress(in, ic);
				maybe_finish(in, ic, now_us);
			}
			if (!ic->finished && ic->dirty && now_us >= ic->last_ckpt_us + in->ckpt_us)
				checkpoint_write(ic, now_us);
			t = UINT64_MAX;
			if (!ic->finished && !ic->full && merge_count(ic->win))
				t = merge_peek(ic->win)->arrival_us + in->window_us;
			if (!ic->finished && ic->dirty && ic->last_ckpt_us + in->ckpt_us < t)
				t = ic->last_ckpt_us + in->ckpt_us;
			if (!ic->finished && ic->status_us + STATUS_CHECK_US < t)
				t = ic->status_us + STATUS_CHECK_US;
			if (ic->finished)
				t = ic->finished_us + INGEST_LINGER_S * US_PER_S;
		}
		if (t < next)
			next = t;
		pp = &ic->next;
	}
	if (next_us)
		*next_us = next;
	return 0;
}

static void timer_arm(struct ingest *in, uint64_t at_us)
{
	struct itimerspec its = { 0 };

	if (in->tfd < 0)
		return;
	if (at_us != UINT64_MAX) {
		/* 0 would disarm: a deadline already past fires at once. */
		if (!at_us)
			at_us = 1;
		its.it_value.tv_sec = (time_t)(at_us / US_PER_S);
		its.it_value.tv_nsec = (long)(at_us % US_PER_S) * 1000;
	}
	if (timerfd_settime(in->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		pr_warn("failed to arm the ingest timer: %s", strerror(errno));
}

int ingest_handle(struct ingest *in, uint64_t now_us)
{
	uint64_t expirations, next;
	int n = 0, len, ret = 0;
	void *buf;

	while (in->sock >= 0 && (uint32_t)n < in->max_msgs) {
		len = nn_recv(in->sock, &buf, NN_MSG, NN_DONTWAIT);
		if (len < 0) {
			if (nn_errno() == EINTR)
				continue;
			if (nn_errno() != EAGAIN) {
				ret = -nn_errno();
				pr_err("failed to receive on the data socket: %s",
				       nn_strerror(-ret));
			}
			break;
		}
		ingest_feed(in, buf, (size_t)len, now_us);
		nn_freemsg(buf);
		n++;
	}
	if (in->tfd >= 0 && read(in->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("failed to read the ingest timer: %s", strerror(errno));
	ingest_tick(in, now_us, &next);
	timer_arm(in, next);
	return ret ? ret : n;
}

int ingest_fd(const struct ingest *in)
{
	return in->rcvfd;
}

int ingest_timer_fd(const struct ingest *in)
{
	return in->tfd;
}

void ingest_set_hooks(struct ingest *in, const struct ingest_hooks *hooks, void *ctx)
{
	in->hooks = hooks ? *hooks : (struct ingest_hooks){ 0 };
	in->hooks_ctx = ctx;
}

static int socket_open(struct ingest *in, const char *url, char *err, size_t errlen)
{
	int maxsize = (int)WIRE_MSG_MAX, linger = 0, ret;
	size_t sz = sizeof(in->rcvfd);

	in->sock = nn_socket(AF_SP, NN_PULL);
	if (in->sock < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot create the data socket: %s", nn_strerror(-ret));
		return ret;
	}
	if (nn_setsockopt(in->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof(maxsize)) ||
	    nn_setsockopt(in->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger)) ||
	    nn_getsockopt(in->sock, NN_SOL_SOCKET, NN_RCVFD, &in->rcvfd, &sz)) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot set up the data socket: %s", nn_strerror(-ret));
		return ret;
	}
	if (nn_bind(in->sock, url) < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot bind the data endpoint %s: %s", url,
			 nn_strerror(-ret));
		return ret;
	}
	return 0;
}

int ingest_open(struct store *store, const struct ingest_opts *opts, struct ingest **out, char *err,
		size_t errlen)
{
	struct capture_rec *resumed = NULL;
	struct ingest *in;
	struct icap *ic;
	size_t n = 0, i;
	int ret;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->store = store;
	in->sock = in->rcvfd = -1;
	in->window_us = (opts->window_ms ? opts->window_ms : INGEST_WINDOW_MS_DEFAULT) * US_PER_MS;
	in->ckpt_us = (opts->checkpoint_ms ? opts->checkpoint_ms : INGEST_CHECKPOINT_MS_DEFAULT) *
		      US_PER_MS;
	in->max_msgs = opts->max_msgs ? opts->max_msgs : INGEST_MAX_MSGS_DEFAULT;
	in->held_max = opts->held_max ? opts->held_max : INGEST_HELD_MAX_DEFAULT;
	in->tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (in->tfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the ingest timer: %s", strerror(errno));
		goto fail;
	}
	if (opts->url) {
		ret = socket_open(in, opts->url, err, errlen);
		if (ret)
			goto fail;
	}
	ret = store_list_resumed(store, &resumed, &n);
	if (ret) {
		snprintf(err, errlen, "cannot list the captures to resume: %s", strerror(-ret));
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (cap_create(in, &resumed[i], store_now_us(), &ic))
			pr_err("capture %s: cannot resume its output (it ends at its deadline)",
			       resumed[i].id);
	}
	free(resumed);
	*out = in;
	return 0;
fail:
	ingest_close(in);
	return ret;
}

void ingest_close(struct ingest *in)
{
	struct icap *ic, *next;
	size_t i;

	if (!in)
		return;
	in->hooks = (struct ingest_hooks){ 0 };
	for (ic = in->caps; ic; ic = next) {
		next = ic->next;
		if (!ic->finished) {
			/*
			 * Out of order, perhaps, for records that come after the restart, but
			 * written: better than lost. A full merged pcap may as well end now.
			 */
			window_release(in, ic, store_now_us(), true);
			if (!ic->full && ic->out.packet_limit_hit) {
				cap_finish(in, ic, store_now_us());
			} else {
				checkpoint_write(ic, store_now_us());
				pcap_writer_detach(ic->out.w);
				ic->out.w = NULL;
				for (i = 0; i < ic->nagents; i++) {
					pcap_writer_detach(ic->agents[i]->out.w);
					ic->agents[i]->out.w = NULL;
				}
			}
		}
		cap_free(ic);
	}
	if (in->sock >= 0)
		nn_close(in->sock);
	if (in->tfd >= 0)
		close(in->tfd);
	free(in);
}

/* --- counters ----------------------------------------------------------------------------- */

uint64_t ingest_dropped(const struct ingest *in, const char *reason)
{
	size_t i;

	for (i = 0; i < in->ndrops; i++) {
		if (!strcmp(in->drops[i].reason, reason))
			return in->drops[i].n;
	}
	return 0;
}

json_t *ingest_stats_json(const struct ingest *in)
{
	json_t *o = json_object(), *d = json_object();
	size_t i;

	json_object_set_new(o, "messages", ju64(in->messages));
	json_object_set_new(o, "batches", ju64(in->batches));
	json_object_set_new(o, "finals", ju64(in->finals));
	json_object_set_new(o, "records", ju64(in->records));
	json_object_set_new(o, "records_out_of_agent_order", ju64(in->strays));
	for (i = 0; i < in->ndrops; i++)
		json_object_set_new(d, in->drops[i].reason, ju64(in->drops[i].n));
	json_object_set_new(o, "dropped", d);
	return o;
}

json_t *ingest_agent_json(const struct ingest *in, const char *capture_id, const char *host_id)
{
	struct icap *ic = cap_find((struct ingest *)in, capture_id);
	struct iagent *a = ic ? agent_find(ic, host_id) : NULL;

	return a ? agent_report(ic, a) : NULL;
}
