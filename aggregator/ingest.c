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

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "checkpoint.h"
#include "ingest_internal.h"
#include "counters_json.h"
#include "log.h"
#include "output.h"
#include "relisten.h"
#include "sp.h"

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
		pr_debug_ratelimited("dropped a data message (%s): %s", reason, why);
}

/* --- capture lifecycle -------------------------------------------------------------------- */

/*
 * HOSTS_NEWEST_FIRST: a full capture's host files are closed from the newest agent to the
 * oldest. Each is a stdio stream, and glibc unlinks a stream at fclose by walking its list of
 * open streams from the newest: closing 10,000 oldest first walked 50 million entries (14% of a
 * 10,000-host capture's ingest); newest first finds each at the head.
 */

static void cap_free(struct icap *ic)
{
	size_t i;

	if (!ic)
		return;
	merge_free(ic->win);
	pcap_writer_close(ic->out.w, false);
	/*
	 * The hosts' writers first: they borrow the directory's descriptor (out_open). Newest
	 * first, as everywhere host files close (HOSTS_NEWEST_FIRST).
	 */
	for (i = ic->nagents; i-- > 0;)
		agent_free(ic->agents[i]);
	if (ic->out_dirfd >= 0)
		close(ic->out_dirfd);
	free(ic->agents);
	hostidx_free(&ic->agent_idx);
	hostidx_free(&ic->file_idx);
	free(ic->dir);
	free(ic->out_dir);
	free(ic);
}

/*
 * A finished capture writes no file any more: its destination's descriptor goes now, not after
 * INGEST_LINGER_S (a lingering capture keeps only its accounts, for late finals). Every host's
 * writer, which borrows it, was closed before.
 */
static void cap_close_dir(struct icap *ic)
{
	size_t i;

	for (i = ic->nagents; i-- > 0;) { /* HOSTS_NEWEST_FIRST */
		if (ic->agents[i]->out.w) {
			pr_err("capture %s: host %s's file still open as its directory closes "
			       "capture=%s",
			       ic->rec.id, ic->agents[i]->host, ic->rec.id);
			pcap_writer_detach(ic->agents[i]->out.w);
			ic->agents[i]->out.w = NULL;
		}
	}
	if (ic->out_dirfd >= 0)
		close(ic->out_dirfd);
	ic->out_dirfd = -1;
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
	ic->out_dirfd = -1;
	ret = wire_capture_id_parse(rec->id, ic->bin);
	if (!ret)
		ret = store_capture_dir(in->store, rec->id, path, sizeof(path));
	if (!ret && !(ic->dir = strdup(path)))
		ret = -ENOMEM;
	if (ret)
		goto fail;
	ic->full = rec->req.type == CAPTURE_FULL;
	ic->snaplen = request_snaplen(&rec->req);
	if (rec->req.has & REQ_HAS_PACKET_LIMIT)
		ic->packet_limit = rec->req.packet_limit;
	if (rec->req.has & REQ_HAS_BYTE_LIMIT)
		ic->byte_limit = rec->req.byte_limit;
	ic->max_hosts = in->max_hosts;
	if (ic->full) {
		char err[PATH_MAX + 256];

		/* A full capture always has a bound. */
		if (!ic->byte_limit)
			ic->byte_limit = in->full_byte_limit;

		/* Beneath its root, made without following a symlink (store.h). */
		ret = store_destination_open(in->store, rec, &ic->out_dirfd, path, sizeof(path),
					     err, sizeof(err));
		if (ret) {
			pr_err("capture %s: cannot use its destination: %s capture=%s", rec->id,
			       err, rec->id);
			goto fail;
		}
	} else {
		/* Before the resume: the checkpoint's agents join the watermark. */
		ret = merge_new(&ic->win);
		if (ret)
			goto fail;
	}
	ic->out_dir = strdup(ic->full ? path : "");
	if (!ic->out_dir) {
		ret = -ENOMEM;
		goto fail;
	}

	if (rec->resumed) {
		checkpoint_resume(ic);
	} else if (!ic->full) {
		/* A new capture without a place for its pcap fails at its start. */
		ret = out_path_join(path, sizeof(path), ic->dir, "capture.pcap");
		if (!ret)
			ret = out_open(ic, &ic->out, AT_FDCWD, path, 0, &r);
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
	bool all_final = true, all_lost = true, limit_p = ic->out.packet_limit_hit,
	     limit_b = ic->out.byte_limit_hit;
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
			/* A lost agent sends nothing more: the others' reasons tell. */
			all_final &= a->lost;
			all_lost &= a->lost;
			*all_failed = false;
			continue;
		}
		all_lost = false;
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
	if (n && all_lost)
		return "agent_lost";
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
	bool all_failed, running = false, truncated = false;
	uint64_t packets, bytes;
	int ret, bad_err = 0;
	size_t i;

	if (ic->finished)
		return;
	if (!ic->full) {
		window_release(in, ic, now_us, true);
		/* An output that never opened gets one more try: an empty pcap is a result. */
		if (!ic->out.w && !ic->out.err &&
		    !out_path_join(path, sizeof(path), ic->dir, "capture.pcap"))
			out_open(ic, &ic->out, AT_FDCWD, path, 0, &r);
		/* A write error keeps the valid prefix, marked truncated; the capture fails. */
		out_close(ic, &ic->out);
		truncated = ic->out.truncated;
		if (ic->out.err)
			bad_err = ic->out.err;
	}
	if (ic->full) {
		ret = hosts_close(ic, &truncated);
		if (ret)
			bad_err = ret;
	}
	/* The system's words ("No space left on device"); the log says where. */
	if (bad_err)
		snprintf(msg, sizeof(msg), "%s", strerror(-bad_err));
	if (truncated)
		store_set_truncated(in->store, ic->rec.id);

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
	/* Written with the status that follows: one manifest write, not two. */
	reports_stage(in, ic);
	if (msg[0])
		ret = store_mark_failed(in->store, ic->rec.id, msg, now_us);
	else if (ic->full)
		/* The files are complete and in place: the uploader takes it from here. */
		ret = store_mark_conversion(in->store, ic->rec.id, CAPTURE_CONVERSION_PENDING,
					    reason, now_us);
	else
		ret = store_mark_success(in->store, ic->rec.id, reason, now_us);
	if (ret && ret != -EALREADY)
		pr_err("capture %s: failed to record its end: %s capture=%s", ic->rec.id,
		       strerror(-ret), ic->rec.id);
	/* No status written (the store ended it first): the reports still go to the file. */
	if (ret)
		store_update_agents_new(in->store, ic->rec.id, json_object());
	pr_info("capture %s finished: %s%s, %" PRIu64 " packets written capture=%s", ic->rec.id,
		msg[0] ? "failed: " : "", msg[0] ? msg : reason, packets, ic->rec.id);
	checkpoint_remove(ic);
	window_free(ic);
	cap_close_dir(ic);
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
	bool keep = status != CAPTURE_FAILED, running = false;
	size_t i;

	pr_info("capture %s was ended by the store (%s): closing its output capture=%s", ic->rec.id,
		capture_status_name(status), ic->rec.id);
	if (!ic->full && keep)
		window_release(in, ic, now_us, true);
	pcap_writer_close(ic->out.w, keep && !ic->out.err);
	ic->out.w = NULL;
	for (i = ic->nagents; i-- > 0;) { /* HOSTS_NEWEST_FIRST */
		struct iagent *a = ic->agents[i];

		pcap_writer_close(a->out.w, keep && !a->out.err);
		a->out.w = NULL;
		running |= agent_in(a) && !a->final_received;
		if (a->heard)
			report_agent(in, ic, a);
	}
	reports_flush(in, ic);
	checkpoint_remove(ic);
	window_free(ic);
	cap_close_dir(ic);
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
	if (!store_get(in->store, ic->rec.id, &rec) && capture_status_captured(rec.status))
		cap_abandon(in, ic, rec.status, now_us);
}

/* Early end: the fan-out named every accepting agent, and every agent sent its final. */
static void maybe_finish(struct ingest *in, struct icap *ic, uint64_t now_us)
{
	size_t i, n = 0;

	if (ic->finished)
		return;
	/* An output failed (a full disk): the capture fails now, its agents told to stop. */
	if ((!ic->full && ic->out.packet_limit_hit) || ic->write_err) {
		cap_finish(in, ic, now_us);
		return;
	}
	/* Some agent may still send: the common case, decided without a walk over the agents. */
	if (!ic->expect_done || ic->nlive)
		return;
	/*
	 * Lost agents do not hold the end, but do not end it either: when every agent is lost
	 * (the aggregator's own network, more likely than all of them dying), it waits for them.
	 */
	for (i = 0; i < ic->nagents; i++) {
		if (!agent_in(ic->agents[i]))
			continue;
		if (!ic->agents[i]->final_received && !ic->agents[i]->lost)
			return;
		n += ic->agents[i]->final_received;
	}
	if (n)
		cap_finish(in, ic, now_us);
}

/* --- messages ----------------------------------------------------------------------------- */

/* A lost agent that sends again, or still runs the capture by its status: it takes part again. */
static void agent_back(struct ingest *in, struct icap *ic, struct iagent *a)
{
	a->lost = false;
	if (a->info)
		json_object_set_new(a->info, "lost", json_false());
	agent_sync_live(ic, a);
	ic->dirty = true;
	report_agent(in, ic, a);
	pr_info("capture %s: agent %s is back capture=%s host=%s", ic->rec.id, a->host, ic->rec.id,
		a->host);
}

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
	if (capture_status_captured(rec.status))
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
#define SUM(name, help) in->finals_sum.name += m->final.c.name;
	EC_CAPTURE_COUNTERS(SUM)
#undef SUM
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
			"order by a slower path (further ones are only counted) capture=%s host=%s",
			ic->rec.id, seq, a->host, n, ic->rec.id, a->host);
	else
		pr_debug_ratelimited("capture %s: batch %" PRIu64 " of agent %s: %" PRIu64
				     " records out of its order capture=%s host=%s",
				     ic->rec.id, seq, a->host, n, ic->rec.id, a->host);
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
		host_out_open(ic, a);
	/* wire_decode_payload checked every record already: the iterator cannot fail here. */
	wire_iter_init(&it, m);
	strays = ic->win ? merge_strays(ic->win) : 0;
	if (ic->win)
		window_expect(ic, a, m);
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
	/* Only a host that accepted the capture adds to it (or one the checkpoint says did). */
	if (in->require_auth) {
		a = agent_find(ic, m->agent_id);
		if (!a || !(a->allowed || a->expected)) {
			snprintf(why, sizeof(why), "agent %s did not accept capture %s",
				 m->agent_id, id);
			count_drop(in, "not_accepted", why);
			return -EPERM;
		}
	}
	a = agent_get(ic, m->agent_id);
	if (!a) {
		snprintf(why, sizeof(why),
			 "capture %s has %u agents already (--max-capture-hosts; %s is one more)",
			 id, ic->max_hosts, m->agent_id);
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
	if (a->lost)
		agent_back(in, ic, a);
	if (first)
		agent_sync_live(ic, a);
	ret = m->kind == WIRE_KIND_FINAL ? on_final(in, ic, a, m, now_us)
					 : on_batch(in, ic, a, m, now_us);
	/* Operators see an agent as soon as it sends; its final and the end update it. */
	if (first && !a->final_received && !ic->finished)
		report_agent(in, ic, a);
	return ret;
}

static int cap_for_call(struct ingest *in, const char *capture_id, struct icap **out);

static const char *key_name(const void *array, size_t i)
{
	return ((const struct ikey *)array)[i].host;
}

static const uint8_t *key_find(const struct ingest *in, const char *host)
{
	long i = hostidx_find(&in->key_idx, host, key_name, in->keys);

	return i < 0 ? NULL : in->keys[i].key;
}

#define PARK_TABLE_MIN 64

static size_t pconn_hash(uint32_t id)
{
	return (size_t)(id * 0x9e3779b97f4a7c15ull >> 17);
}

/*
 * The tables double once they have as many entries as buckets (they are bounded by the
 * room's messages, park_msgs). A table that cannot grow still works, only slower; one that cannot
 * be made at all refuses the message (-ENOMEM).
 */
static int phosts_grow(struct ingest *in)
{
	size_t size = in->phosts_size ? 2 * in->phosts_size : PARK_TABLE_MIN, i, j;
	struct phost **t, *h, *next;

	if (in->nphosts < in->phosts_size)
		return 0;
	t = calloc(size, sizeof(*t));
	if (!t)
		return in->phosts_size ? 0 : -ENOMEM;
	for (i = 0; i < in->phosts_size; i++) {
		for (h = in->phosts[i]; h; h = next) {
			next = h->next;
			j = hostidx_hash(h->host) & (size - 1);
			h->next = t[j];
			t[j] = h;
		}
	}
	free(in->phosts);
	in->phosts = t;
	in->phosts_size = size;
	return 0;
}

static int pconns_grow(struct ingest *in)
{
	size_t size = in->pconns_size ? 2 * in->pconns_size : PARK_TABLE_MIN, i, j;
	struct pconn **t, *c, *next;

	if (in->npconns < in->pconns_size)
		return 0;
	t = calloc(size, sizeof(*t));
	if (!t)
		return in->pconns_size ? 0 : -ENOMEM;
	for (i = 0; i < in->pconns_size; i++) {
		for (c = in->pconns[i]; c; c = next) {
			next = c->next;
			j = pconn_hash(c->id) & (size - 1);
			c->next = t[j];
			t[j] = c;
		}
	}
	free(in->pconns);
	in->pconns = t;
	in->pconns_size = size;
	return 0;
}

/* The bucket slot that points at host's entry, or at the NULL ending its chain. */
static struct phost **phost_slot(struct ingest *in, const char *host)
{
	struct phost **pp;

	if (!in->phosts_size)
		return NULL;
	for (pp = &in->phosts[hostidx_hash(host) & (in->phosts_size - 1)]; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->host, host))
			break;
	}
	return pp;
}

static struct pconn **pconn_slot(struct ingest *in, uint32_t id)
{
	struct pconn **pp;

	if (!in->pconns_size)
		return NULL;
	for (pp = &in->pconns[pconn_hash(id) & (in->pconns_size - 1)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id)
			break;
	}
	return pp;
}

static void phost_drop(struct ingest *in, struct phost *h)
{
	struct phost **pp = phost_slot(in, h->host);

	*pp = h->next;
	in->nphosts--;
	in->parked_bytes -= PARK_HOST_COST;
	free(h);
}

/* Off the list of all and its connection's account; its host's list is the caller's. */
static void unpark(struct ingest *in, struct parked *p)
{
	struct pconn **cp;

	if (p->prev)
		p->prev->next = p->next;
	else
		in->parked = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		in->parked_last = p->prev;
	in->parked_bytes -= p->cost;
	in->nparked--;
	p->h->bytes -= p->cost;
	p->h->n--;
	if (p->c) {
		p->c->bytes -= p->cost;
		if (!--p->c->n) {
			cp = pconn_slot(in, p->c->id);
			*cp = p->c->next;
			in->npconns--;
			free(p->c);
		}
	}
}

/*
 * Holds a message until its host's key is proven; 0, -ENOBUFS when the room is full, -EDQUOT
 * when its host or its connection (conn, 0: none) has its share.
 */
static int park(struct ingest *in, uint32_t conn, const char *host, const void *buf, size_t len,
		uint64_t now_us)
{
	size_t cost = PARK_COST(len);
	struct phost **hp, *h = NULL;
	struct pconn **cp, *c = NULL;
	struct parked *p;

	if (in->nparked >= in->park_msgs || in->parked_bytes + cost > in->park_max)
		return -ENOBUFS;
	hp = phost_slot(in, host);
	if (hp && *hp) {
		h = *hp;
		if (h->n >= in->park_host_msgs || h->bytes + cost > in->park_host_max)
			return -EDQUOT;
	} else if (in->parked_bytes + cost + PARK_HOST_COST > in->park_max) {
		return -ENOBUFS;
	}
	if (conn) {
		cp = pconn_slot(in, conn);
		if (cp && *cp) {
			c = *cp;
			if (c->n >= in->park_conn_msgs || c->bytes + cost > in->park_conn_max)
				return -EDQUOT;
		} else {
			if (pconns_grow(in))
				return -ENOBUFS;
			c = calloc(1, sizeof(*c));
			if (!c)
				return -ENOBUFS;
			c->id = conn;
			cp = pconn_slot(in, conn);
			c->next = *cp;
			*cp = c;
			in->npconns++;
		}
	}
	if (!h) {
		if (phosts_grow(in))
			goto fail;
		h = calloc(1, sizeof(*h));
		if (!h)
			goto fail;
		snprintf(h->host, sizeof(h->host), "%s", host);
		h->tail = &h->head;
		hp = phost_slot(in, host);
		h->next = *hp;
		*hp = h;
		in->nphosts++;
		in->parked_bytes += PARK_HOST_COST;
	}
	p = malloc(sizeof(*p) + len);
	if (!p) {
		if (!h->n)
			phost_drop(in, h);
		goto fail;
	}
	*p = (struct parked){
		.prev = in->parked_last, .h = h, .c = c, .at_us = now_us, .len = len, .cost = cost
	};
	memcpy(p->data, buf, len);
	if (in->parked_last)
		in->parked_last->next = p;
	else
		in->parked = p;
	in->parked_last = p;
	*h->tail = p;
	h->tail = &p->hnext;
	h->bytes += cost;
	h->n++;
	if (c) {
		c->bytes += cost;
		c->n++;
	}
	in->parked_bytes += cost;
	in->nparked++;
	return 0;
fail:
	if (c && !c->n) {
		cp = pconn_slot(in, conn);
		*cp = c->next;
		in->npconns--;
		free(c);
	}
	return -ENOBUFS;
}

void ingest_park_stats(const struct ingest *in, struct ingest_park_stats *st)
{
	*st = (struct ingest_park_stats){ .bytes = in->parked_bytes,
					  .steps = in->park_steps,
					  .messages = in->nparked,
					  .hosts = in->nphosts,
					  .conns = in->npconns };
}

/*
 * With require_auth, whether m (its header decoded from buf, its payload not yet) may be used:
 * its MAC verifies under its host's proven key. -EAGAIN: held until the key comes (park); other
 * errors: dropped, counted.
 */
static int authenticate(struct ingest *in, const struct wire_msg *m, const void *buf, size_t len,
			uint32_t conn, bool may_park, uint64_t now_us)
{
	const uint8_t *key;
	char why[192];
	int ret = 0;

	if (!(m->flags & WIRE_F_MAC)) {
		snprintf(why, sizeof(why), "message from agent %s carries no MAC", m->agent_id);
		count_drop(in, "unauthenticated", why);
		return -EACCES;
	}
	key = key_find(in, m->agent_id);
	if (!key) {
		if (may_park) {
			ret = park(in, conn, m->agent_id, buf, len, now_us);
			if (!ret)
				return -EAGAIN;
		}
		snprintf(why, sizeof(why), "agent %s has not proven its key%s", m->agent_id,
			 ret == -ENOBUFS  ? " (and the waiting room is full)"
			 : ret == -EDQUOT ? " (and its host or connection has its share of "
					    "the waiting room)"
					  : "");
		count_drop(in, "unauthenticated", why);
		return -EACCES;
	}
	if (!id_mac_ok(key, buf, m->mac_covers, m->mac)) {
		snprintf(why, sizeof(why), "message's MAC does not verify for agent %s",
			 m->agent_id);
		count_drop(in, "bad_mac", why);
		return -EBADMSG;
	}
	return 0;
}

static int feed(struct ingest *in, const void *buf, size_t len, uint32_t conn, bool may_park,
		uint64_t now_us)
{
	struct wire_msg m;
	char reason[192];
	int ret;

	/* The header alone first: who sent it and its MAC, with nothing decompressed. */
	ret = wire_decode_header(buf, len, &m, reason, sizeof(reason));
	if (ret) {
		count_drop(in, wire_error_name(ret), reason);
		return ret;
	}
	/*
	 * Authenticated before its payload costs anything: a peer without the key must not make
	 * the aggregator decompress up to WIRE_RAW_MAX per message. The MAC covers the payload as
	 * it came, compressed. A parked message is fed again whole, header first.
	 */
	if (in->require_auth) {
		ret = authenticate(in, &m, buf, len, conn, may_park, now_us);
		if (ret) {
			wire_msg_release(&m);
			return ret;
		}
	}
	ret = wire_decode_payload(&m, reason, sizeof(reason));
	if (ret) {
		count_drop(in, wire_error_name(ret), reason);
		wire_msg_release(&m);
		return ret;
	}
	ret = route(in, &m, now_us);
	wire_msg_release(&m);
	return ret;
}

int ingest_feed_from(struct ingest *in, uint32_t conn, const void *buf, size_t len, uint64_t now_us)
{
	in->messages++;
	in->bytes += len;
	return feed(in, buf, len, conn, true, now_us);
}

int ingest_feed(struct ingest *in, const void *buf, size_t len, uint64_t now_us)
{
	return ingest_feed_from(in, 0, buf, len, now_us);
}

int ingest_bind_key(struct ingest *in, const char *host_id, const uint8_t key[ID_KEY_LEN],
		    uint64_t now_us)
{
	struct phost **hp, *h;
	struct parked *p, *next;
	long i = hostidx_find(&in->key_idx, host_id, key_name, in->keys);
	struct ikey *k = i < 0 ? NULL : &in->keys[i];

	if (!k) {
		if (in->nkeys == in->keys_cap) {
			size_t cap = in->keys_cap ? 2 * in->keys_cap : 16;
			struct ikey *n = realloc(in->keys, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			in->keys = n;
			in->keys_cap = cap;
		}
		k = &in->keys[in->nkeys];
		snprintf(k->host, sizeof(k->host), "%s", host_id);
		if (hostidx_add(&in->key_idx, in->nkeys, key_name, in->keys))
			return -ENOMEM;
		in->nkeys++;
	}
	memcpy(k->key, key, ID_KEY_LEN);
	/* What waited for this key, in arrival order: its host's messages alone. */
	hp = phost_slot(in, host_id);
	h = hp ? *hp : NULL;
	if (!h)
		return 0;
	*hp = h->next; /* out of the table first: re-fed messages are not parked again anyway */
	in->nphosts--;
	in->parked_bytes -= PARK_HOST_COST;
	for (p = h->head; p; p = next) {
		next = p->hnext;
		in->park_steps++;
		unpark(in, p);
		feed(in, p->data, p->len, 0, false, now_us);
		free(p);
	}
	free(h);
	return 0;
}

/*
 * The keys without the forgotten ones, in a new array with a new index; on failure (out of
 * memory) the old ones stay as they were, tombstones and all, which is still right.
 */
static void keys_compact(struct ingest *in)
{
	size_t live = in->nkeys - in->keys_dead, cap = live > 16 ? live : 16, i, n = 0;
	struct ikey *keys = calloc(cap, sizeof(*keys));
	struct hostidx idx = { 0 };

	if (!keys)
		return;
	for (i = 0; i < in->nkeys; i++) {
		if (!in->keys[i].host[0])
			continue;
		keys[n] = in->keys[i];
		if (hostidx_add(&idx, n, key_name, keys)) {
			explicit_bzero(keys, cap * sizeof(*keys));
			free(keys);
			hostidx_free(&idx);
			return;
		}
		n++;
	}
	explicit_bzero(in->keys, in->keys_cap * sizeof(*in->keys));
	free(in->keys);
	hostidx_free(&in->key_idx);
	in->keys = keys;
	in->keys_cap = cap;
	in->nkeys = n;
	in->keys_dead = 0;
	in->key_idx = idx;
}

int ingest_forget_key(struct ingest *in, const char *host_id)
{
	long i = host_id[0] ? hostidx_find(&in->key_idx, host_id, key_name, in->keys) : -1;

	if (i < 0)
		return -ENOENT;
	/*
	 * A tombstone: its slot in the index stays, with a name no host has (ids are never
	 * empty), so that lookups probe past it. Compacted once half the keys are dead: a
	 * fleet's worth forgotten at once costs a pass now and then, not one a host.
	 */
	explicit_bzero(&in->keys[i], sizeof(in->keys[i]));
	in->keys_dead++;
	if (in->keys_dead * 2 > in->nkeys)
		keys_compact(in);
	return 0;
}

size_t ingest_keys(const struct ingest *in)
{
	return in->nkeys - in->keys_dead;
}

/* Drops what waited park_us for a key that never came; when the next one is due. */
static uint64_t parked_expire(struct ingest *in, uint64_t now_us)
{
	struct parked *p;
	struct phost *h;
	char why[160];

	while ((p = in->parked) && now_us >= p->at_us + in->park_us) {
		in->park_steps++;
		h = p->h;
		/* The oldest of all is the oldest of its host's. */
		h->head = p->hnext;
		if (!h->head)
			h->tail = &h->head;
		unpark(in, p);
		snprintf(why, sizeof(why), "agent %s did not prove its key within %" PRIu64 " ms",
			 h->host, (uint64_t)(in->park_us / US_PER_MS));
		if (!h->n)
			phost_drop(in, h);
		count_drop(in, "unauthenticated", why);
		free(p);
	}
	return in->parked ? in->parked->at_us + in->park_us : UINT64_MAX;
}

int ingest_allow_agent(struct ingest *in, const char *capture_id, const char *host_id)
{
	struct iagent *a;
	struct icap *ic;
	int ret;

	if (!host_id || !wire_agent_id_valid(host_id, strlen(host_id)))
		return -EINVAL;
	ret = cap_for_call(in, capture_id, &ic);
	if (ret)
		return ret;
	a = agent_get(ic, host_id);
	if (!a)
		return -ENOMEM;
	a->allowed = true;
	/* A status that lists the capture: a lost agent that still runs it is back. */
	if (a->lost && !ic->finished)
		agent_back(in, ic, a);
	return 0;
}

int ingest_agent_lost(struct ingest *in, const char *host_id, uint64_t now_us)
{
	char at[RFC3339_US_LEN];
	struct icap *ic;
	struct iagent *a;
	int n = 0;

	rfc3339_us_format(now_us, at, sizeof(at));
	for (ic = in->caps; ic; ic = ic->next) {
		a = ic->finished ? NULL : agent_find(ic, host_id);
		if (!a || !agent_in(a) || a->final_received || a->lost)
			continue;
		if (!a->info)
			a->info = json_object();
		if (!a->info)
			continue;
		json_object_set_new(a->info, "lost", json_true());
		json_object_set_new(a->info, "lost_at", json_string(at));
		a->lost = true;
		agent_sync_live(ic, a);
		pr_warn("capture %s: agent %s lost after %" PRIu64 " records; the capture goes on "
			"without it capture=%s host=%s",
			ic->rec.id, a->host, a->records, ic->rec.id, a->host);
		report_agent(in, ic, a);
		ic->dirty = true;
		n++;
		/* It no longer holds the window back, nor the end. */
		if (!ic->full)
			window_release(in, ic, now_us, false);
		set_progress(in, ic);
		maybe_finish(in, ic, now_us);
	}
	return n;
}

bool ingest_has_agent(struct ingest *in, const char *capture_id, const char *host_id)
{
	struct icap *ic = cap_find(in, capture_id);
	struct iagent *a = ic ? agent_find(ic, host_id) : NULL;

	return a && (agent_in(a) || a->allowed);
}

int ingest_agent_joined(struct ingest *in, const char *capture_id, const char *host_id,
			const json_t *info, uint64_t now_us)
{
	char at[RFC3339_US_LEN];
	json_t *o;
	int ret;

	struct icap *ic = cap_find(in, capture_id);
	struct iagent *a = ic ? agent_find(ic, host_id) : NULL;

	/*
	 * Accepted before, or lost (a restarted agent would repeat its batch numbers). One that
	 * only sent data took the late start, and its first batch came before the survey ended.
	 */
	if (a && (a->expected || a->lost))
		return -EEXIST;
	o = info ? json_deep_copy(info) : json_object();
	if (!o)
		return -ENOMEM;
	rfc3339_us_format(now_us, at, sizeof(at));
	json_object_set_new(o, "joined_late", json_true());
	json_object_set_new(o, "joined_at", json_string(at));
	ret = ingest_expect_agent(in, capture_id, host_id, o);
	json_decref(o);
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
	/* The survey's agents, with one manifest write. */
	reports_flush(in, ic);
	ic->reports_us = store_now_us();
	maybe_finish(in, ic, store_now_us());
	return 0;
}

/* --- the loop ----------------------------------------------------------------------------- */

int ingest_tick(struct ingest *in, uint64_t now_us, uint64_t *next_us)
{
	struct icap **pp = &in->caps, *ic;
	uint64_t next = parked_expire(in, now_us), t;

	while ((ic = *pp)) {
		if (ic->finished) {
			t = ic->finished_us + INGEST_LINGER_S * US_PER_S;
			/* Late finals' reports, batched as while it ran; all before it goes. */
			if (ic->reports_due &&
			    (now_us >= t || now_us >= ic->reports_us + INGEST_REPORT_US)) {
				reports_flush(in, ic);
				ic->reports_us = now_us;
			}
			if (now_us >= t) {
				*pp = ic->next;
				cap_free(ic);
				continue;
			}
			if (ic->reports_due && ic->reports_us + INGEST_REPORT_US < t)
				t = ic->reports_us + INGEST_REPORT_US;
		} else {
			cap_check_status(in, ic, now_us);
			if (!ic->finished && !ic->full && merge_count(ic->win)) {
				window_release(in, ic, now_us, false);
				set_progress(in, ic);
				maybe_finish(in, ic, now_us);
			}
			if (!ic->finished && ic->dirty && now_us >= ic->last_ckpt_us + in->ckpt_us)
				checkpoint_write(ic, now_us);
			if (!ic->finished && ic->reports_due &&
			    now_us >= ic->reports_us + INGEST_REPORT_US) {
				reports_flush(in, ic);
				ic->reports_us = now_us;
			}
			t = UINT64_MAX;
			if (!ic->finished && ic->reports_due)
				t = ic->reports_us + INGEST_REPORT_US;
			if (!ic->finished && !ic->full && merge_count(ic->win) &&
			    merge_peek(ic->win)->arrival_us + in->window_us < t)
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

void ingest_flush_reports(struct ingest *in)
{
	struct icap *ic;

	for (ic = in->caps; ic; ic = ic->next)
		reports_flush(in, ic);
}

static void timer_arm(struct ingest *in, uint64_t at_us)
{
	struct itimerspec its = { 0 };
	uint64_t now = store_now_us();

	if (in->tfd < 0)
		return;
	if (at_us != UINT64_MAX) {
		/* Relative, on the rule clock; 0 would disarm: a deadline already past fires at
		 * once. */
		at_us = at_us > now ? at_us - now : 0;
		its.it_value.tv_sec = (time_t)(at_us / US_PER_S);
		its.it_value.tv_nsec = at_us ? (long)(at_us % US_PER_S) * 1000 : 1;
	}
	if (timerfd_settime(in->tfd, 0, &its, NULL))
		pr_warn("failed to arm the ingest timer: %s", strerror(errno));
}

int ingest_handle(struct ingest *in, uint64_t now_us)
{
	uint64_t expirations, next;
	int n = 0, rv, ret = 0, pipe;
	nng_msg *msg;

	while (in->sock_open && (uint32_t)n < in->max_msgs) {
		rv = nng_recvmsg(in->sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv) {
			if (rv == NNG_EINTR)
				continue;
			if (rv != NNG_EAGAIN) {
				ret = sp_errno(rv);
				pr_err_ratelimited("failed to receive on the data socket: %s",
						   nng_strerror(rv));
			}
			break;
		}
		/* The connection it came on: its share of the waiting room (ingest.h). */
		pipe = nng_pipe_id(nng_msg_get_pipe(msg));
		ingest_feed_from(in, pipe > 0 ? (uint32_t)pipe : 0, nng_msg_body(msg),
				 nng_msg_len(msg), now_us);
		nng_msg_free(msg);
		n++;
	}
	if (in->tfd >= 0 && read(in->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("failed to read the ingest timer: %s", strerror(errno));
	ingest_tick(in, now_us, &next);
	timer_arm(in, next);
	return ret ? ret : n;
}

int ingest_listen_tick(struct ingest *in, uint64_t now_ms)
{
	return in->listener ? relisten_tick(in->listener, now_ms) : 0;
}

uint64_t ingest_listener_restarts(const struct ingest *in)
{
	return in->listener ? relisten_restarts(in->listener) : 0;
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

static int socket_open(struct ingest *in, const char *url, const struct tls_opts *tls, char *err,
		       size_t errlen)
{
	int ret;

	ret = nng_pull0_open(&in->sock);
	if (ret) {
		snprintf(err, errlen, "cannot create the data socket: %s", nng_strerror(ret));
		return sp_errno(ret);
	}
	in->sock_open = true;
	/* The largest valid data message, and nothing longer is read into memory. */
	ret = nng_socket_set_size(in->sock, NNG_OPT_RECVMAXSZ, WIRE_MSG_MAX);
	if (ret) {
		snprintf(err, errlen, "cannot set up the data socket: %s", nng_strerror(ret));
		return sp_errno(ret);
	}
	ret = relisten_open(in->sock, "data", url, tls, &in->listener, err, errlen);
	if (ret)
		return ret;
	in->rcvfd = sp_fd(in->sock, NNG_OPT_RECVFD);
	if (in->rcvfd < 0) {
		snprintf(err, errlen, "the data socket has no descriptor to poll");
		return -EIO;
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
	in->rcvfd = -1;
	in->window_us = (opts->window_ms ? opts->window_ms : INGEST_WINDOW_MS_DEFAULT) * US_PER_MS;
	in->ckpt_us = (opts->checkpoint_ms ? opts->checkpoint_ms : INGEST_CHECKPOINT_MS_DEFAULT) *
		      US_PER_MS;
	in->max_msgs = opts->max_msgs ? opts->max_msgs : INGEST_MAX_MSGS_DEFAULT;
	in->held_max = opts->held_max ? opts->held_max : INGEST_HELD_MAX_DEFAULT;
	in->park_us = (uint64_t)(opts->park_ms ? opts->park_ms : INGEST_PARK_MS) * US_PER_MS;
	in->park_max = opts->park_max ? opts->park_max : INGEST_PARK_MAX;
	in->park_msgs = opts->park_msgs ? opts->park_msgs : INGEST_PARK_MSGS;
	in->park_host_max = opts->park_host_max ? opts->park_host_max : INGEST_PARK_HOST_MAX;
	in->park_host_msgs = opts->park_host_msgs ? opts->park_host_msgs : INGEST_PARK_HOST_MSGS;
	in->park_conn_max = opts->park_conn_max ? opts->park_conn_max : INGEST_PARK_CONN_MAX;
	in->park_conn_msgs = opts->park_conn_msgs ? opts->park_conn_msgs : INGEST_PARK_CONN_MSGS;
	in->max_hosts = opts->max_hosts ? opts->max_hosts : INGEST_MAX_HOSTS_DEFAULT;
	in->full_byte_limit =
		opts->full_byte_limit ? opts->full_byte_limit : INGEST_FULL_BYTE_LIMIT_DEFAULT;
	in->require_auth = opts->require_auth;
	in->tfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (in->tfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the ingest timer: %s", strerror(errno));
		goto fail;
	}
	if (opts->url) {
		ret = socket_open(in, opts->url, opts->tls, err, errlen);
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
			pr_err("capture %s: cannot resume its output (it ends at its deadline) "
			       "capture=%s",
			       resumed[i].id, resumed[i].id);
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
	struct parked *p;
	struct phost *h;
	struct pconn *c;
	size_t i;

	if (!in)
		return;
	while ((p = in->parked)) {
		in->parked = p->next;
		free(p);
	}
	for (i = 0; i < in->phosts_size; i++) {
		while ((h = in->phosts[i])) {
			in->phosts[i] = h->next;
			free(h);
		}
	}
	free(in->phosts);
	for (i = 0; i < in->pconns_size; i++) {
		while ((c = in->pconns[i])) {
			in->pconns[i] = c->next;
			free(c);
		}
	}
	free(in->pconns);
	if (in->keys)
		explicit_bzero(in->keys, in->keys_cap * sizeof(*in->keys));
	free(in->keys);
	hostidx_free(&in->key_idx);
	in->hooks = (struct ingest_hooks){ 0 };
	for (ic = in->caps; ic; ic = next) {
		next = ic->next;
		reports_flush(in, ic);
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
				for (i = ic->nagents; i-- > 0;) { /* HOSTS_NEWEST_FIRST */
					pcap_writer_detach(ic->agents[i]->out.w);
					ic->agents[i]->out.w = NULL;
				}
			}
		}
		cap_free(ic);
	}
	/* What the captures' ends wrote is on disk before a close that may not return. */
	store_flush(in->store);
	if (in->sock_open)
		sp_close(in->sock, "the data endpoint");
	/* After the socket: NNG is done with its listener. */
	relisten_free(in->listener);
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
	json_t *o = json_object(), *d = json_object(), *fin;
	size_t i;

	json_object_set_new(o, "messages", ju64(in->messages));
	json_object_set_new(o, "batches", ju64(in->batches));
	json_object_set_new(o, "finals", ju64(in->finals));
	json_object_set_new(o, "records", ju64(in->records));
	json_object_set_new(o, "records_out_of_agent_order", ju64(in->strays));
	json_object_set_new(o, "bytes", ju64(in->bytes));
	fin = json_object();
	if (fin && !counters_capture_json(fin, &in->finals_sum))
		json_object_set_new(o, "finals_sum", fin);
	else
		json_decref(fin);
	for (i = 0; i < in->ndrops; i++)
		json_object_set_new(d, in->drops[i].reason, ju64(in->drops[i].n));
	json_object_set_new(o, "dropped", d);
	return o;
}

json_t *ingest_agent_json(const struct ingest *in, const char *capture_id, const char *host_id)
{
	struct icap *ic = cap_find((struct ingest *)in, capture_id);
	struct iagent *a = ic ? agent_find(ic, host_id) : NULL;

	if (!a)
		return NULL;
	/* Its accounts as of now: the window's releases since its last report (output.h). */
	agent_settle(ic, a);
	return agent_report(ic, a);
}
