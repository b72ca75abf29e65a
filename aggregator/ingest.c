// SPDX-License-Identifier: BSD-2-Clause
/*
 * ingest.c: the aggregator's data plane (ingest.h has the contract). One struct icap per capture
 * the ingest knows, each with its agents (struct iagent) and its output: the merged pcap and
 * its reorder window for a simple capture, one pcap per host for a full one.
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

#include "fileutil.h"
#include "ingest.h"
#include "log.h"
#include "merge.h"
#include "pcap_writer.h"
#include "wire.h"

#define US_PER_MS     1000ULL
#define US_PER_S      1000000ULL
#define STATE_NAME    "ingest-state.json"
#define STATE_VERSION 1
/* How often the ingest asks the store whether someone else ended a running capture. */
#define STATUS_CHECK_US US_PER_S
/* Distinct drop reasons: wire_error_name's and the ingest's own. */
#define MAX_DROP_REASONS 24

/* Sequence numbers lo..hi (inclusive) that have not arrived. */
struct gap {
	uint64_t lo, hi;
};

/* One pcap file and what went into it. */
struct output {
	struct pcap_writer *w;
	uint64_t packets, bytes, over_limit;
	uint64_t length;  /* at the last checkpoint */
	uint64_t synced;  /* packets at the last checkpoint: unchanged outputs need no fsync */
	uint64_t last_ts; /* newest timestamp written */
	bool packet_limit_hit, byte_limit_hit;
	int err;
};

struct iagent {
	char host[WIRE_AGENT_ID_MAX + 1];
	uint32_t index; /* in icap.agents */
	json_t *info;	/* what the fan-out knows (colo, ...); merged into reports */
	bool expected, heard, final_received, final_late;
	bool live; /* takes part and has not sent its final: may still send records */
	uint64_t batches, records, highest_seq, duplicates;
	uint64_t newest_ts; /* newest record timestamp received */
	uint64_t records_written, over_limit, out_of_order, late_batches, lost_at_restart;
	uint64_t held; /* records in the window now */
	struct gap *gaps;
	size_t ngaps, gaps_cap;
	struct wire_final fin;
	/* Full captures: this host's file. */
	char file[NAME_MAX + 1];
	struct output out;
};

struct icap {
	struct icap *next;
	struct capture_rec rec;
	uint8_t bin[WIRE_CAPTURE_ID_LEN];
	uint32_t snaplen;
	uint64_t packet_limit, byte_limit;
	bool full, finished, expect_done, dirty, no_state, no_watermark;
	uint32_t restarts;
	uint64_t finished_us, last_ckpt_us;
	uint64_t status_us;	/* when the store's status was last looked at */
	char dir[PATH_MAX];	/* the capture's directory in the store */
	char out_dir[PATH_MAX]; /* full: where the host files go */
	struct output out;	/* simple: the merged pcap */
	struct merge *win;	/* simple: the reorder window, its sources the agents */
	uint64_t strays;	/* records win took out of their agent's order (merge.h) */
	size_t nlive;		/* agents live */
	struct iagent **agents;
	size_t nagents, agents_cap;
	struct iagent *last; /* the agent of the previous message: most messages repeat it */
};

struct drop_count {
	const char *reason; /* a static string */
	uint64_t n;
};

struct ingest {
	struct store *store;
	uint64_t window_us, ckpt_us, held_max;
	uint32_t max_msgs;
	int sock, rcvfd, tfd;
	struct icap *caps;
	struct ingest_hooks hooks;
	void *hooks_ctx;
	uint64_t messages, batches, finals, records, strays;
	struct drop_count drops[MAX_DROP_REASONS];
	size_t ndrops;
};

static json_t *ju64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

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

/* --- accounts ----------------------------------------------------------------------------- */

static struct iagent *agent_find(struct icap *ic, const char *host)
{
	size_t i;

	if (ic->last && !strcmp(ic->last->host, host))
		return ic->last;
	for (i = 0; i < ic->nagents; i++) {
		if (!strcmp(ic->agents[i]->host, host))
			return ic->last = ic->agents[i];
	}
	return NULL;
}

/* The agent, added when new; NULL when the capture has INGEST_MAX_AGENTS or memory ran out. */
static struct iagent *agent_get(struct icap *ic, const char *host)
{
	struct iagent *a = agent_find(ic, host), **grown;
	size_t cap;

	if (a)
		return a;
	if (ic->nagents == INGEST_MAX_AGENTS)
		return NULL;
	if (ic->nagents == ic->agents_cap) {
		cap = ic->agents_cap ? 2 * ic->agents_cap : 8;
		grown = realloc(ic->agents, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		ic->agents = grown;
		ic->agents_cap = cap;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->index = (uint32_t)ic->nagents;
	ic->agents[ic->nagents++] = a;
	return ic->last = a;
}

static void agent_free(struct iagent *a)
{
	if (!a)
		return;
	pcap_writer_close(a->out.w, false);
	json_decref(a->info);
	free(a->gaps);
	free(a);
}

static int gap_insert(struct iagent *a, size_t at, uint64_t lo, uint64_t hi)
{
	struct gap *grown;
	size_t cap;

	if (a->ngaps == INGEST_MAX_GAPS) {
		/* Forget the oldest gap: it stays counted as missing, and fills as a duplicate. */
		memmove(a->gaps, a->gaps + 1, (a->ngaps - 1) * sizeof(*a->gaps));
		a->ngaps--;
		if (at)
			at--;
	}
	if (a->ngaps == a->gaps_cap) {
		cap = a->gaps_cap ? 2 * a->gaps_cap : 4;
		grown = realloc(a->gaps, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		a->gaps = grown;
		a->gaps_cap = cap;
	}
	memmove(a->gaps + at + 1, a->gaps + at, (a->ngaps - at) * sizeof(*a->gaps));
	a->gaps[at] = (struct gap){ lo, hi };
	a->ngaps++;
	return 0;
}

/*
 * Notes batch seq of an agent: 0 when it is new (the next one, one past a gap, or one that
 * fills a gap), -EEXIST when it came before. Gaps stay sorted: new ones are always the highest.
 */
static int seq_note(struct iagent *a, uint64_t seq)
{
	size_t i;

	if (seq > a->highest_seq) {
		if (seq > a->highest_seq + 1)
			gap_insert(a, a->ngaps, a->highest_seq + 1, seq - 1);
		a->highest_seq = seq;
		return 0;
	}
	for (i = 0; i < a->ngaps; i++) {
		struct gap *g = &a->gaps[i];

		if (seq < g->lo || seq > g->hi)
			continue;
		if (g->lo == g->hi) {
			memmove(g, g + 1, (a->ngaps - i - 1) * sizeof(*g));
			a->ngaps--;
		} else if (seq == g->lo) {
			g->lo++;
		} else if (seq == g->hi) {
			g->hi--;
		} else {
			uint64_t hi = g->hi;

			g->hi = seq - 1;
			gap_insert(a, i + 1, seq + 1, hi);
		}
		return 0;
	}
	return -EEXIST;
}

/* The last sequence number the agent used, as far as the ingest knows. */
static uint64_t agent_top_seq(const struct iagent *a)
{
	if (a->final_received && a->fin.c.last_seq > a->highest_seq)
		return a->fin.c.last_seq;
	return a->highest_seq;
}

static uint64_t agent_missing(const struct iagent *a)
{
	return sat_sub(agent_top_seq(a), a->batches);
}

/* Takes part: accepted it, or sent something. */
static bool agent_in(const struct iagent *a)
{
	return a->expected || a->heard;
}

/*
 * After expected, heard or final_received changed: whether the agent may still send records,
 * the capture's count of such agents, and the window's watermark (merge.h), which they hold.
 */
static void agent_sync_live(struct icap *ic, struct iagent *a)
{
	bool live = agent_in(a) && !a->final_received;

	if (live != a->live) {
		a->live = live;
		if (live)
			ic->nlive++;
		else
			ic->nlive--;
	}
	if (ic->win && !ic->no_watermark &&
	    merge_source_live(ic->win, a->index, live, a->newest_ts)) {
		/* Out of memory: only the wall clock and the held bytes release from now on. */
		pr_warn("capture %s: out of memory tracking agent %s: the merge now waits the "
			"whole window",
			ic->rec.id, a->host);
		ic->no_watermark = true;
	}
}

/* The agent's report for the manifest (store.h's members, and ingest.h's). */
static json_t *agent_report(const struct icap *ic, const struct iagent *a)
{
	const struct wire_counters *c = &a->fin.c;
	json_t *o = a->info ? json_deep_copy(a->info) : json_object();

	if (!o)
		return NULL;
	if (a->expected)
		json_object_set_new(o, "accepted", json_true());
	json_object_set_new(o, "final_received", json_boolean(a->final_received));
	json_object_set_new(o, "batches_received", ju64(a->batches));
	json_object_set_new(o, "records_received", ju64(a->records));
	json_object_set_new(o, "highest_seq", ju64(a->highest_seq));
	json_object_set_new(o, "batches_missing", ju64(agent_missing(a)));
	json_object_set_new(o, "duplicates", ju64(a->duplicates));
	if (a->final_received) {
		json_object_set_new(o, "stop_reason",
				    json_string(wire_stop_reason_name(a->fin.reason)));
		if (a->fin.reason == WIRE_STOP_ERROR)
			json_object_set_new(o, "error", json_string(a->fin.error));
		json_object_set_new(o, "packets", ju64(c->submitted));
		json_object_set_new(o, "bytes", ju64(c->bytes));
		json_object_set_new(o, "seen", ju64(c->seen));
		json_object_set_new(o, "matched", ju64(c->matched));
		json_object_set_new(o, "sampled_out", ju64(c->sampled_out));
		json_object_set_new(o, "budget_exhausted", ju64(c->budget_exhausted));
		json_object_set_new(o, "ring_full", ju64(c->ring_full));
		json_object_set_new(o, "packets_sent", ju64(c->packets_sent));
		json_object_set_new(o, "batches_sent", ju64(c->batches_sent));
		json_object_set_new(o, "dropped", ju64(c->records_dropped));
		json_object_set_new(o, "batches_dropped", ju64(c->batches_dropped));
		json_object_set_new(o, "last_seq", ju64(c->last_seq));
		json_object_set_new(o, "batches_lost_in_transit",
				    ju64(sat_sub(agent_missing(a), c->batches_dropped)));
		json_object_set_new(o, "records_lost_in_transit",
				    ju64(sat_sub(c->packets_sent, a->records)));
		if (a->final_late)
			json_object_set_new(o, "final_late", json_true());
	}
	json_object_set_new(o, "records_written", ju64(a->records_written));
	json_object_set_new(o, "over_limit", ju64(a->over_limit));
	json_object_set_new(o, "records_out_of_order", ju64(a->out_of_order));
	json_object_set_new(o, "late_batches", ju64(a->late_batches));
	json_object_set_new(o, "records_lost_at_restart", ju64(a->lost_at_restart));
	if (ic->full && a->file[0])
		json_object_set_new(o, "file", json_string(a->file));
	if (ic->full && a->out.err)
		json_object_set_new(o, "write_error", json_string(strerror(-a->out.err)));
	return o;
}

static void report_agent(struct ingest *in, const struct icap *ic, const struct iagent *a)
{
	json_t *o = agent_report(ic, a);
	int ret = o ? store_update_agent(in->store, ic->rec.id, a->host, o) : -ENOMEM;

	if (ret)
		pr_warn("capture %s: failed to record agent %s in the manifest: %s", ic->rec.id,
			a->host, strerror(-ret));
	json_decref(o);
}

/* What the capture's output holds: the merged pcap, or every host's file. */
static void cap_totals(const struct icap *ic, uint64_t *packets, uint64_t *bytes)
{
	size_t i;

	*packets = ic->out.packets;
	*bytes = ic->out.bytes;
	for (i = 0; ic->full && i < ic->nagents; i++) {
		*packets += ic->agents[i]->out.packets;
		*bytes += ic->agents[i]->out.bytes;
	}
}

static void set_progress(struct ingest *in, const struct icap *ic)
{
	uint64_t packets, bytes;

	cap_totals(ic, &packets, &bytes);
	store_set_progress(in->store, ic->rec.id, packets, bytes);
}

/* --- output ------------------------------------------------------------------------------- */

/* Writes one record to o, within the capture's limits. */
static int out_write(struct icap *ic, struct output *o, struct iagent *a, uint64_t ts,
		     const uint8_t *data, uint32_t caplen, uint32_t origlen)
{
	int ret;

	if (o->err || !o->w)
		return o->err ? o->err : -EIO;
	if (ic->packet_limit && o->packets >= ic->packet_limit) {
		o->packet_limit_hit = true;
		goto over;
	}
	/* As in the kernel: a record that does not fit is refused; a smaller one may still fit. */
	if (ic->byte_limit && o->bytes + caplen > ic->byte_limit) {
		o->byte_limit_hit = true;
		goto over;
	}
	if (caplen > ic->snaplen)
		caplen = ic->snaplen;
	if (ts < o->last_ts)
		a->out_of_order++;
	else
		o->last_ts = ts;
	ret = pcap_writer_write(o->w, ts, data, caplen, origlen);
	if (ret) {
		o->err = ret;
		pr_err("capture %s: failed to write a packet: %s", ic->rec.id, strerror(-ret));
		return ret;
	}
	o->packets++;
	o->bytes += caplen;
	a->records_written++;
	if (ic->packet_limit && o->packets == ic->packet_limit)
		o->packet_limit_hit = true;
	return 0;
over:
	o->over_limit++;
	a->over_limit++;
	return 0;
}

/*
 * The newest timestamp every agent still sending has reached: nothing older can come from
 * them, since each agent's records come in timestamp order. Only once the fan-out named every
 * agent (expect_done): before that, one not heard of yet may still send older records. An agent
 * that accepted but has sent nothing yet holds it at 0 (only the wall-clock rule applies then).
 * The window keeps the minimum over the live agents (agent_sync_live), so this costs O(1)
 * however many agents there are.
 */
static uint64_t watermark(const struct icap *ic)
{
	if (!ic->expect_done || ic->no_watermark)
		return 0;
	return merge_watermark(ic->win);
}

/*
 * Writes out what the window lets go (all: everything), smallest (timestamp, arrival) first:
 * the next record while it is no newer than the watermark, has waited window_us, or the window
 * holds more than held_max bytes.
 */
static void window_release(struct ingest *in, struct icap *ic, uint64_t now_us, bool all)
{
	uint64_t wm = all ? UINT64_MAX : watermark(ic);
	const struct merge_rec *r;
	struct iagent *a;

	if (!ic->win)
		return; /* a full capture */
	while ((r = merge_peek(ic->win))) {
		if (!all && r->ts > wm && r->arrival_us + in->window_us > now_us &&
		    merge_bytes(ic->win) <= in->held_max)
			break;
		a = ic->agents[r->src];
		a->held--;
		out_write(ic, &ic->out, a, r->ts, r->data, r->caplen, r->origlen);
		merge_pop(ic->win);
	}
}

static void window_clear(struct icap *ic)
{
	merge_clear(ic->win);
}

static int hold(struct icap *ic, struct iagent *a, const struct wire_record *r, uint64_t now_us)
{
	uint32_t caplen = r->cap_len < ic->snaplen ? r->cap_len : ic->snaplen;
	int ret;

	ret = merge_push(ic->win, a->index, r->tstamp_ns, now_us, r->data, caplen, r->orig_len);
	if (ret)
		return ret;
	a->held++;
	return 0;
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

static int join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Opens (or resumes) an output; logs what a resume cut away. */
static int out_open(struct icap *ic, struct output *o, const char *path, uint64_t keep_len,
		    struct pcap_writer_resume *r)
{
	char err[PATH_MAX + 128];
	int ret;

	r->keep_len = keep_len;
	ret = pcap_writer_open_resumable(path, ic->snaplen, r, &o->w, err, sizeof(err));
	if (ret) {
		pr_err("capture %s: %s", ic->rec.id, err);
		o->err = ret;
		return ret;
	}
	if (r->cut_bytes)
		pr_warn("capture %s: cut %" PRIu64 " bytes off the end of %s's partial file "
			"(written after the last checkpoint, or torn)",
			ic->rec.id, r->cut_bytes, path);
	o->packets = o->synced = r->packets;
	o->bytes = r->bytes;
	o->length = r->length;
	return 0;
}

/* The file name of a host in a full capture: safe characters, unique in the capture. */
static void host_file_name(const struct icap *ic, const struct iagent *a, char *out, size_t len)
{
	char safe[WIRE_AGENT_ID_MAX + 1], name[NAME_MAX + 1];
	unsigned int n;
	size_t i;
	bool taken;

	for (i = 0; a->host[i] && i < WIRE_AGENT_ID_MAX; i++) {
		char c = a->host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		safe[i] = ok ? c : '_';
	}
	safe[i] = '\0';
	/* At most nagents names are taken, so one of the first nagents + 1 is free. */
	for (n = 1; n <= ic->nagents + 1; n++) {
		if (n == 1)
			snprintf(name, sizeof(name), "%s-%s.pcap", ic->rec.id, safe);
		else
			snprintf(name, sizeof(name), "%s-%s-%u.pcap", ic->rec.id, safe, n);
		taken = false;
		for (i = 0; i < ic->nagents && !taken; i++) {
			const struct iagent *other = ic->agents[i];

			taken = other != a && other->file[0] && !strcmp(other->file, name);
		}
		if (!taken)
			break;
	}
	snprintf(out, len, "%s", name);
}

static int checkpoint(struct icap *ic, uint64_t now_us);

/* A full capture's file for a host that sends its first records. */
static int host_out_open(struct icap *ic, struct iagent *a, uint64_t now_us)
{
	struct pcap_writer_resume r;
	char path[PATH_MAX];
	int ret;

	host_file_name(ic, a, a->file, sizeof(a->file));
	ret = join(path, sizeof(path), ic->out_dir, a->file);
	if (ret) {
		a->out.err = ret;
		return ret;
	}
	/*
	 * Normally afresh. Only when the capture was resumed without its checkpoint may a file
	 * from before the restart be there: then its complete records are kept.
	 */
	ret = out_open(ic, &a->out, path, ic->no_state ? UINT64_MAX : 0, &r);
	if (ret)
		return ret;
	/* The checkpoint names the file before any record goes in: a restart finds it. */
	checkpoint(ic, now_us);
	return 0;
}

/* --- checkpoints -------------------------------------------------------------------------- */

struct u64_field {
	const char *name;
	size_t off;
};

/* A u64 member by name, for the checkpoint (the name goes second: clang-format). */
#define U64_FIELD(type, f)                           \
	{                                            \
		.off = offsetof(type, f), .name = #f \
	}
static const struct u64_field agent_fields[] = {
	U64_FIELD(struct iagent, batches),	U64_FIELD(struct iagent, records),
	U64_FIELD(struct iagent, highest_seq),	U64_FIELD(struct iagent, duplicates),
	U64_FIELD(struct iagent, newest_ts),	U64_FIELD(struct iagent, records_written),
	U64_FIELD(struct iagent, over_limit),	U64_FIELD(struct iagent, out_of_order),
	U64_FIELD(struct iagent, late_batches), U64_FIELD(struct iagent, lost_at_restart),
	U64_FIELD(struct iagent, held),
};

static const struct u64_field counter_fields[] = {
	U64_FIELD(struct wire_counters, seen),
	U64_FIELD(struct wire_counters, matched),
	U64_FIELD(struct wire_counters, sampled_out),
	U64_FIELD(struct wire_counters, budget_exhausted),
	U64_FIELD(struct wire_counters, ring_full),
	U64_FIELD(struct wire_counters, submitted),
	U64_FIELD(struct wire_counters, bytes),
	U64_FIELD(struct wire_counters, packets_sent),
	U64_FIELD(struct wire_counters, bytes_sent),
	U64_FIELD(struct wire_counters, batches_sent),
	U64_FIELD(struct wire_counters, records_dropped),
	U64_FIELD(struct wire_counters, batches_dropped),
	U64_FIELD(struct wire_counters, last_seq),
};

static const struct u64_field output_fields[] = {
	U64_FIELD(struct output, packets),    U64_FIELD(struct output, bytes),
	U64_FIELD(struct output, over_limit), U64_FIELD(struct output, length),
	U64_FIELD(struct output, last_ts),
};

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

static void fields_dump(json_t *o, const void *base, const struct u64_field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		json_object_set_new(o, f[i].name,
				    ju64(*(const uint64_t *)((const char *)base + f[i].off)));
}

static void fields_load(const json_t *o, void *base, const struct u64_field *f, size_t n)
{
	json_int_t v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = json_integer_value(json_object_get(o, f[i].name));
		*(uint64_t *)((char *)base + f[i].off) = v > 0 ? (uint64_t)v : 0;
	}
}

static json_t *output_dump(const struct output *o)
{
	json_t *j = json_object();

	fields_dump(j, o, output_fields, N_FIELDS(output_fields));
	json_object_set_new(j, "packet_limit_hit", json_boolean(o->packet_limit_hit));
	json_object_set_new(j, "byte_limit_hit", json_boolean(o->byte_limit_hit));
	return j;
}

static void output_load(const json_t *j, struct output *o)
{
	fields_load(j, o, output_fields, N_FIELDS(output_fields));
	o->packet_limit_hit = json_is_true(json_object_get(j, "packet_limit_hit"));
	o->byte_limit_hit = json_is_true(json_object_get(j, "byte_limit_hit"));
}

static json_t *agent_dump(const struct iagent *a)
{
	json_t *j = json_object(), *gaps = json_array(), *fin;
	size_t i;

	json_object_set_new(j, "host", json_string(a->host));
	if (a->info)
		json_object_set(j, "info", a->info);
	json_object_set_new(j, "expected", json_boolean(a->expected));
	json_object_set_new(j, "heard", json_boolean(a->heard));
	fields_dump(j, a, agent_fields, N_FIELDS(agent_fields));
	for (i = 0; i < a->ngaps; i++)
		json_array_append_new(gaps,
				      json_pack("[oo]", ju64(a->gaps[i].lo), ju64(a->gaps[i].hi)));
	json_object_set_new(j, "gaps", gaps);
	if (a->final_received) {
		fin = json_object();
		json_object_set_new(fin, "reason", json_integer(a->fin.reason));
		json_object_set_new(fin, "error", json_string(a->fin.error));
		json_object_set_new(fin, "start_ns", ju64(a->fin.start_ns));
		json_object_set_new(fin, "stop_ns", ju64(a->fin.stop_ns));
		fields_dump(fin, &a->fin.c, counter_fields, N_FIELDS(counter_fields));
		json_object_set_new(fin, "late", json_boolean(a->final_late));
		json_object_set_new(j, "final", fin);
	}
	if (a->file[0]) {
		json_object_set_new(j, "file", json_string(a->file));
		json_object_set_new(j, "out", output_dump(&a->out));
	}
	return j;
}

static int agent_load(struct icap *ic, const json_t *j)
{
	const json_t *fin = json_object_get(j, "final"), *g;
	const char *host = json_string_value(json_object_get(j, "host"));
	const char *file = json_string_value(json_object_get(j, "file"));
	json_t *info = json_object_get(j, "info");
	struct iagent *a;
	size_t i;

	if (!host || !wire_agent_id_valid(host, strlen(host)))
		return -EINVAL;
	a = agent_get(ic, host);
	if (!a)
		return -ENOMEM;
	if (json_is_object(info))
		a->info = json_deep_copy(info);
	a->expected = json_is_true(json_object_get(j, "expected"));
	a->heard = json_is_true(json_object_get(j, "heard"));
	fields_load(j, a, agent_fields, N_FIELDS(agent_fields));
	json_array_foreach (json_object_get(j, "gaps"), i, g) {
		json_int_t lo = json_integer_value(json_array_get(g, 0));
		json_int_t hi = json_integer_value(json_array_get(g, 1));

		if (lo > 0 && hi >= lo)
			gap_insert(a, a->ngaps, (uint64_t)lo, (uint64_t)hi);
	}
	if (json_is_object(fin)) {
		json_int_t reason = json_integer_value(json_object_get(fin, "reason"));
		const char *err = json_string_value(json_object_get(fin, "error"));

		a->final_received = true;
		a->fin.reason = reason >= WIRE_STOP_TIME_LIMIT && reason <= WIRE_STOP_ERROR
					? (enum wire_stop_reason)reason
					: WIRE_STOP_ERROR;
		snprintf(a->fin.error, sizeof(a->fin.error), "%s", err ? err : "");
		a->fin.start_ns = (uint64_t)json_integer_value(json_object_get(fin, "start_ns"));
		a->fin.stop_ns = (uint64_t)json_integer_value(json_object_get(fin, "stop_ns"));
		fields_load(fin, &a->fin.c, counter_fields, N_FIELDS(counter_fields));
		a->final_late = json_is_true(json_object_get(fin, "late"));
	}
	agent_sync_live(ic, a);
	/* A name that does not look like ours is not followed into another directory. */
	if (file && strlen(file) < sizeof(a->file) && !strchr(file, '/') && file[0] != '.') {
		snprintf(a->file, sizeof(a->file), "%s", file);
		output_load(json_object_get(j, "out"), &a->out);
	}
	return 0;
}

static void output_sync(struct output *o)
{
	if (!o->w || o->err || o->packets == o->synced)
		return;
	if (pcap_writer_sync(o->w, &o->length))
		o->err = -EIO;
	else
		o->synced = o->packets;
}

/*
 * Makes the outputs durable, then records the accounts that describe exactly them: what a
 * restart resumes from (ingest.h, "Restart").
 */
static int checkpoint(struct icap *ic, uint64_t now_us)
{
	json_t *j, *agents;
	char *text;
	size_t i;
	int ret;

	if (ic->finished)
		return 0;
	output_sync(&ic->out);
	for (i = 0; i < ic->nagents; i++)
		output_sync(&ic->agents[i]->out);
	j = json_object();
	agents = json_array();
	json_object_set_new(j, "version", json_integer(STATE_VERSION));
	json_object_set_new(j, "restarts", json_integer(ic->restarts));
	json_object_set_new(j, "expect_done", json_boolean(ic->expect_done));
	if (!ic->full)
		json_object_set_new(j, "out", output_dump(&ic->out));
	for (i = 0; i < ic->nagents; i++)
		json_array_append_new(agents, agent_dump(ic->agents[i]));
	json_object_set_new(j, "agents", agents);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	ret = text ? file_write_durably(ic->dir, STATE_NAME, text, strlen(text), 0644, NULL)
		   : -ENOMEM;
	free(text);
	if (ret) {
		pr_warn("capture %s: failed to write its ingest checkpoint in %s: %s", ic->rec.id,
			ic->dir, strerror(-ret));
		return ret;
	}
	ic->dirty = false;
	ic->last_ckpt_us = now_us;
	return 0;
}

/* Reads the checkpoint into ic; -ENOENT when there is none, -EINVAL when it is unusable. */
static int state_load(struct icap *ic)
{
	char path[PATH_MAX];
	json_error_t jerr;
	const json_t *a;
	json_t *j;
	size_t i;
	int ret;

	ret = join(path, sizeof(path), ic->dir, STATE_NAME);
	if (ret)
		return ret;
	j = json_load_file(path, 0, &jerr);
	if (!j) {
		if (access(path, F_OK))
			return -ENOENT;
		pr_warn("capture %s: unusable checkpoint %s: %s", ic->rec.id, path, jerr.text);
		return -EINVAL;
	}
	if (json_integer_value(json_object_get(j, "version")) != STATE_VERSION ||
	    !json_is_array(json_object_get(j, "agents"))) {
		pr_warn("capture %s: unusable checkpoint %s: not version %d", ic->rec.id, path,
			STATE_VERSION);
		json_decref(j);
		return -EINVAL;
	}
	ic->restarts = (uint32_t)json_integer_value(json_object_get(j, "restarts"));
	ic->expect_done = json_is_true(json_object_get(j, "expect_done"));
	if (!ic->full)
		output_load(json_object_get(j, "out"), &ic->out);
	json_array_foreach (json_object_get(j, "agents"), i, a) {
		ret = agent_load(ic, a);
		if (ret) {
			pr_warn("capture %s: skipped an agent of checkpoint %s: %s", ic->rec.id,
				path, strerror(-ret));
			ret = 0;
		}
	}
	json_decref(j);
	return 0;
}

static void state_remove(const struct icap *ic)
{
	char path[PATH_MAX];

	if (!join(path, sizeof(path), ic->dir, STATE_NAME) && unlink(path) && errno != ENOENT)
		pr_warn("capture %s: failed to remove %s: %s", ic->rec.id, path, strerror(errno));
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

/*
 * The merged pcap holds fewer packets than its checkpoint says (it vanished, or was cut by
 * someone else): they are lost, taken from the agents' written counts in turn, since the file
 * does not say whose they were. The sum stays exact; the split between agents is a guess.
 */
static void shortfall(struct icap *ic, uint64_t n, uint64_t *lost)
{
	uint64_t take;
	size_t i;

	pr_warn("capture %s: its pcap holds %" PRIu64 " packets fewer than its checkpoint says",
		ic->rec.id, n);
	*lost += n;
	for (i = 0; i < ic->nagents && n; i++) {
		struct iagent *a = ic->agents[i];

		take = a->records_written < n ? a->records_written : n;
		a->records_written -= take;
		a->lost_at_restart += take;
		n -= take;
	}
}

/*
 * After a restart: the checkpoint's accounts, and the outputs cut back to what they describe.
 * Records the window held at the checkpoint are gone: counted as lost.
 */
static void cap_resume(struct icap *ic)
{
	struct pcap_writer_resume r;
	uint64_t want, kept = 0, cut = 0, lost = 0;
	char path[PATH_MAX];
	size_t i;
	int ret;

	ret = state_load(ic);
	ic->no_state = ret != 0;
	for (i = 0; i < ic->nagents; i++) {
		struct iagent *a = ic->agents[i];

		a->lost_at_restart += a->held;
		lost += a->held;
		a->held = 0;
	}
	ic->restarts++;
	if (!ic->full) {
		want = ic->out.packets;
		ret = join(path, sizeof(path), ic->dir, "capture.pcap");
		if (!ret)
			ret = out_open(ic, &ic->out, path,
				       ic->no_state ? UINT64_MAX : ic->out.length, &r);
		if (!ret) {
			kept = r.packets;
			cut = r.cut_bytes;
			if (!ic->no_state && r.packets < want)
				shortfall(ic, want - r.packets, &lost);
		}
	}
	for (i = 0; ic->full && i < ic->nagents; i++) {
		struct iagent *a = ic->agents[i];

		if (!a->file[0])
			continue;
		want = a->out.packets;
		ret = join(path, sizeof(path), ic->out_dir, a->file);
		if (!ret)
			ret = out_open(ic, &a->out, path, ic->no_state ? UINT64_MAX : a->out.length,
				       &r);
		if (ret)
			continue;
		kept += r.packets;
		cut += r.cut_bytes;
		if (r.packets < want) {
			a->lost_at_restart += want - r.packets;
			a->records_written = r.packets;
			lost += want - r.packets;
		}
	}
	pr_info("capture %s resumed after a restart (%s): %" PRIu64 " packets kept, %" PRIu64
		" bytes cut, %" PRIu64 " records lost",
		ic->rec.id, ic->no_state ? "no usable checkpoint" : "from its checkpoint", kept,
		cut, lost);
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
		cap_resume(ic);
	} else if (!ic->full) {
		/* A new capture without a place for its pcap fails at its start. */
		ret = join(path, sizeof(path), ic->dir, "capture.pcap");
		if (!ret)
			ret = out_open(ic, &ic->out, path, 0, &r);
		if (ret)
			goto fail;
	}
	/* A resumed output that failed to open fails the capture at its end: it may yet run. */
	checkpoint(ic, now_us);
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
		    !join(path, sizeof(path), ic->dir, "capture.pcap"))
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
	state_remove(ic);
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
	state_remove(ic);
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
		else if (hold(ic, a, &rec, now_us))
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
				checkpoint(ic, now_us);
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
				checkpoint(ic, store_now_us());
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
