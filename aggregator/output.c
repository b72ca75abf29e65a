// SPDX-License-Identifier: BSD-2-Clause
/*
 * output.c: the ingest's outputs and the agents' accounts behind them (output.h): agents and
 * their sequence numbers, reports to the store, pcap files within the capture's limits, and the
 * reorder window in front of a simple capture's merged pcap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "counters_json.h"
#include "fileutil.h"
#include "log.h"
#include "output.h"
#include "safefile.h"

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* --- accounts ----------------------------------------------------------------------------- */

static const char *agent_name(const void *array, size_t i)
{
	return ((struct iagent *const *)array)[i]->host;
}

struct iagent *agent_find(struct icap *ic, const char *host)
{
	long i;

	if (ic->last && !strcmp(ic->last->host, host))
		return ic->last;
	i = hostidx_find(&ic->agent_idx, host, agent_name, ic->agents);
	return i < 0 ? NULL : (ic->last = ic->agents[i]);
}

/* The agent, added when new; NULL when the capture has max_hosts or memory ran out. */
struct iagent *agent_get(struct icap *ic, const char *host)
{
	struct iagent *a = agent_find(ic, host), **grown;
	size_t cap;

	if (a)
		return a;
	if (ic->nagents >= ic->max_hosts)
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
	ic->agents[ic->nagents] = a;
	if (hostidx_add(&ic->agent_idx, ic->nagents, agent_name, ic->agents)) {
		free(a);
		return NULL;
	}
	ic->nagents++;
	return ic->last = a;
}

void agent_free(struct iagent *a)
{
	if (!a)
		return;
	pcap_writer_close(a->out.w, false);
	json_decref(a->info);
	free(a->gaps);
	free(a);
}

int gap_insert(struct iagent *a, size_t at, uint64_t lo, uint64_t hi)
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
int seq_note(struct iagent *a, uint64_t seq)
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
bool agent_in(const struct iagent *a)
{
	return a->expected || a->heard;
}

/*
 * After expected, heard or final_received changed: whether the agent may still send records,
 * the capture's count of such agents, and the window's watermark (merge.h), which they hold.
 */
void agent_sync_live(struct icap *ic, struct iagent *a)
{
	bool live = agent_in(a) && !a->final_received && !a->lost;

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
			"whole window capture=%s host=%s",
			ic->rec.id, a->host, ic->rec.id, a->host);
		ic->no_watermark = true;
	}
}

/* The agent's report for the manifest (store.h's members, and ingest.h's). */
json_t *agent_report(const struct icap *ic, const struct iagent *a)
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
		/* Every counter of the table, named as everywhere else (counters.h). */
		counters_capture_json(o, c);
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
	if (ic->full && a->out.truncated)
		json_object_set_new(o, "truncated", json_true());
	return o;
}

void report_agent(struct ingest *in, struct icap *ic, struct iagent *a)
{
	(void)in;
	a->report_due = true;
	ic->reports_due = true;
	/*
	 * Late ones too (a final that came after the end): ingest_tick writes them, at most every
	 * INGEST_REPORT_US, as while the capture runs. One write each would rewrite the whole
	 * manifest once per late final: with a fleet's finals all coming after a packet_limit
	 * end, quadratic in its agents (10,000 finals, each a 10,000-agent manifest).
	 */
}

static void reports_out(struct ingest *in, struct icap *ic, bool write)
{
	json_t *all = json_object(), *o;
	size_t i, n;
	int ret;

	if (!ic->reports_due || !all) {
		json_decref(all);
		return;
	}
	for (i = 0; i < ic->nagents; i++) {
		struct iagent *a = ic->agents[i];

		if (!a->report_due)
			continue;
		a->report_due = false;
		agent_settle(ic, a);
		o = agent_report(ic, a);
		if (!o || json_object_set_new(all, a->host, o))
			pr_warn("capture %s: failed to record agent %s in the manifest: out of "
				"memory "
				"capture=%s host=%s",
				ic->rec.id, a->host, ic->rec.id, a->host);
	}
	ic->reports_due = false;
	n = json_object_size(all);
	/* The reports are new and ours alone: the store takes them as they are. */
	ret = write ? store_update_agents_new(in->store, ic->rec.id, all)
		    : store_stage_agents_new(in->store, ic->rec.id, all);
	if (ret)
		pr_warn("capture %s: failed to record %zu agents in the manifest: %s capture=%s",
			ic->rec.id, n, strerror(-ret), ic->rec.id);
}

void reports_flush(struct ingest *in, struct icap *ic)
{
	reports_out(in, ic, true);
}

void reports_stage(struct ingest *in, struct icap *ic)
{
	reports_out(in, ic, false);
}

/*
 * What the capture's output holds: the merged pcap, or every host's file. O(1): progress is
 * set after every message, and a walk over thousands of hosts' outputs cost more than the
 * message.
 */
void cap_totals(const struct icap *ic, uint64_t *packets, uint64_t *bytes)
{
	*packets = ic->out.packets + ic->files_packets;
	*bytes = ic->out.bytes + ic->files_bytes;
}

void files_recount(struct icap *ic)
{
	size_t i;

	ic->files_packets = ic->files_bytes = 0;
	for (i = 0; ic->full && i < ic->nagents; i++) {
		ic->files_packets += ic->agents[i]->out.packets;
		ic->files_bytes += ic->agents[i]->out.bytes;
	}
}

/* o's packets and bytes become packets and bytes; a host file's move the capture's sums. */
static void out_counts_set(struct icap *ic, struct output *o, uint64_t packets, uint64_t bytes)
{
	if (o != &ic->out) {
		ic->files_packets += packets - o->packets;
		ic->files_bytes += bytes - o->bytes;
	}
	o->packets = packets;
	o->bytes = bytes;
}

void set_progress(struct ingest *in, const struct icap *ic)
{
	uint64_t packets, bytes;

	cap_totals(ic, &packets, &bytes);
	store_set_progress(in->store, ic->rec.id, packets, bytes);
}

/* --- output ------------------------------------------------------------------------------- */

/*
 * Writes one record to o, within the capture's limits: from agent a (its account counts it), or
 * from the window when a is NULL, which touches the agent (ic->agents[src]) only when the record
 * is not written (its account is settled from the window's takes: agent_settle).
 */
static int out_put(struct icap *ic, struct output *o, struct iagent *a, uint32_t src, uint64_t ts,
		   const uint8_t *data, uint32_t caplen, uint32_t origlen)
{
	int ret;

	if (o->err || !o->w) {
		if (!a)
			ic->agents[src]->window_unwritten++;
		return o->err ? o->err : -EIO;
	}
	if (ic->packet_limit && o->packets >= ic->packet_limit) {
		o->packet_limit_hit = true;
		goto over;
	}
	if (caplen > ic->snaplen)
		caplen = ic->snaplen;
	/*
	 * As in the kernel: a record that does not fit is refused; a smaller one may still fit.
	 * What lands in the file counts: the record's header too (ingest.h).
	 */
	if (ic->byte_limit &&
	    o->bytes + o->packets * INGEST_PCAP_REC_HDR + INGEST_PCAP_REC_HDR + caplen >
		    ic->byte_limit) {
		o->byte_limit_hit = true;
		goto over;
	}
	if (ts < o->last_ts)
		(a ? a : ic->agents[src])->out_of_order++;
	else
		o->last_ts = ts;
	ret = pcap_writer_write(o->w, ts, data, caplen, origlen);
	if (ret) {
		if (!a)
			ic->agents[src]->window_unwritten++;
		o->err = ret;
		if (!ic->write_err)
			ic->write_err = ret;
		pr_err_ratelimited("capture %s: failed to write a packet: %s capture=%s",
				   ic->rec.id, strerror(-ret), ic->rec.id);
		return ret;
	}
	out_counts_set(ic, o, o->packets + 1, o->bytes + caplen);
	if (a)
		a->records_written++;
	if (ic->packet_limit && o->packets == ic->packet_limit)
		o->packet_limit_hit = true;
	return 0;
over:
	if (!a) {
		a = ic->agents[src];
		a->window_unwritten++;
	}
	o->over_limit++;
	a->over_limit++;
	return 0;
}

int out_write(struct icap *ic, struct output *o, struct iagent *a, uint64_t ts, const uint8_t *data,
	      uint32_t caplen, uint32_t origlen)
{
	return out_put(ic, o, a, a->index, ts, data, caplen, origlen);
}

void agent_settle(struct icap *ic, struct iagent *a)
{
	uint64_t taken, n;

	if (!ic->win)
		return;
	taken = merge_source_taken(ic->win, a->index);
	n = taken - a->taken_seen;
	a->taken_seen = taken;
	a->held -= n;
	a->records_written += n - a->window_unwritten;
	a->window_unwritten = 0;
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
void window_release(struct ingest *in, struct icap *ic, uint64_t now_us, bool all)
{
	const struct merge_rec *r;
	uint64_t wm;

	if (!ic->win)
		return; /* a full capture, or a finished one */
	wm = all ? UINT64_MAX : watermark(ic);
	while ((r = merge_peek(ic->win))) {
		if (!all && r->ts > wm && r->arrival_us + in->window_us > now_us &&
		    merge_bytes(ic->win) <= in->held_max)
			break;
		/* Taken first: the window prefetches the next record while this one is copied. */
		r = merge_take(ic->win);
		out_put(ic, &ic->out, NULL, r->src, r->ts, r->data, r->caplen, r->origlen);
		/*
		 * The output and the accounts moved: the next checkpoint (ingest_tick's timer)
		 * records it, whether or not another message comes (at most checkpoint_ms lost).
		 */
		ic->dirty = true;
	}
}

void window_free(struct icap *ic)
{
	size_t i;

	/*
	 * Every agent's account first, whatever the reports did: a report that failed for want
	 * of memory settles nobody, and after this nothing could.
	 */
	for (i = 0; i < ic->nagents; i++)
		agent_settle(ic, ic->agents[i]);
	merge_free(ic->win);
	ic->win = NULL;
}

/* What of a record of cap_len bytes the capture keeps: its snaplen at most. */
static uint32_t window_caplen(const struct icap *ic, uint32_t cap_len)
{
	return cap_len < ic->snaplen ? cap_len : ic->snaplen;
}

void window_expect(struct icap *ic, struct iagent *a, const struct wire_msg *m)
{
	struct wire_record rec;
	struct wire_iter it;
	uint64_t last = 0, bytes = 0;
	bool held = merge_source_last(ic->win, a->index, &last);

	/*
	 * Exactly what window_hold puts in the source's chunks, from the records themselves: the
	 * wire's lengths are the agent's word, and a record cut to the snaplen, or older than its
	 * source's newest (a stray, held on its own), takes less or nothing there. An estimate
	 * from raw_len let a hostile agent have a 64 KiB chunk made for each record of 200 bytes.
	 * wire_decode_payload checked every record already: the iterator cannot fail here.
	 */
	wire_iter_init(&it, m);
	while (!wire_iter_next(&it, &rec, NULL, 0)) {
		if (held && rec.tstamp_ns < last)
			continue;
		held = true;
		last = rec.tstamp_ns;
		bytes += MERGE_REC_BYTES(window_caplen(ic, rec.cap_len));
	}
	merge_source_expect(ic->win, a->index, bytes);
}

int window_hold(struct icap *ic, struct iagent *a, const struct wire_record *r, uint64_t now_us)
{
	uint32_t caplen = window_caplen(ic, r->cap_len);
	int ret;

	ret = merge_push(ic->win, a->index, r->tstamp_ns, now_us, r->data, caplen, r->orig_len);
	if (ret)
		return ret;
	a->held++;
	return 0;
}

int out_path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Records gathered by the merged pcap's writer before each write(2). */
#define INGEST_MERGED_GATHER (64 * 1024)

/* Opens (or resumes) an output; logs what a resume cut away. */
int out_open(struct icap *ic, struct output *o, int dirfd, const char *path, uint64_t keep_len,
	     struct pcap_writer_resume *r)
{
	char err[PATH_MAX + 128];
	int ret;

	r->keep_len = keep_len;
	/*
	 * A host's file in a full capture borrows the capture's directory descriptor, which
	 * outlives every writer (cap_free, cap_close_dir): thousands of hosts take a descriptor
	 * each, not two.
	 */
	if (dirfd == AT_FDCWD)
		ret = pcap_writer_open_resumable_at(dirfd, path, SAFE_FILE_MODE, ic->snaplen, r,
						    &o->w, err, sizeof(err));
	else
		ret = pcap_writer_open_resumable_borrowed(dirfd, path, SAFE_FILE_MODE, ic->snaplen,
							  r, &o->w, err, sizeof(err));
	if (ret) {
		if (dirfd == AT_FDCWD)
			pr_err("capture %s: %s capture=%s", ic->rec.id, err, ic->rec.id);
		else
			pr_err("capture %s: in %s: %s capture=%s", ic->rec.id, ic->out_dir, err,
			       ic->rec.id);
		o->err = ret;
		return ret;
	}
	/*
	 * A borrowed directory's new file: its entry is synced by the next checkpoint, before it
	 * names the file (pcap_writer.h), whoever opened it (a new host, or a resume afresh).
	 */
	if (dirfd != AT_FDCWD && !r->resumed)
		ic->files_unsynced = true;
	/* The merged pcap, one a capture: larger writes (pcap_writer_set_gather). */
	if (o == &ic->out)
		pcap_writer_set_gather(o->w, INGEST_MERGED_GATHER);
	if (r->cut_bytes)
		pr_warn("capture %s: cut %" PRIu64 " bytes off the end of %s's partial file "
			"(written after the last checkpoint, or torn) capture=%s",
			ic->rec.id, r->cut_bytes, path, ic->rec.id);
	out_counts_set(ic, o, r->packets, r->bytes);
	o->synced = r->packets;
	o->length = r->length;
	return 0;
}

int out_close(struct icap *ic, struct output *o)
{
	struct pcap_writer_resume r;
	int ret;

	if (!o->w)
		return o->err;
	/* Flushed first: a failure here (the disk filled up) still keeps what went before. */
	if (!o->err) {
		ret = pcap_writer_flush(o->w);
		if (ret)
			o->err = ret;
	}
	if (!o->err) {
		ret = pcap_writer_close(o->w, true);
		o->w = NULL;
		if (ret)
			o->err = ret;
		return o->err;
	}
	ret = pcap_writer_salvage(o->w, &r);
	o->w = NULL;
	if (ret) {
		pr_err("capture %s: failed to keep what was written before its write error (%s): "
		       "%s capture=%s",
		       ic->rec.id, strerror(-o->err), strerror(-ret), ic->rec.id);
		return o->err;
	}
	o->truncated = true;
	out_counts_set(ic, o, r.packets, r.bytes);
	pr_warn("capture %s: kept the %" PRIu64 " whole records written before its write error "
		"(%s), marked truncated capture=%s",
		ic->rec.id, r.packets, strerror(-o->err), ic->rec.id);
	return o->err;
}

static const char *agent_file(const void *array, size_t i);

/*
 * Removes the partial files of this capture's hosts that no host of it names: a file created
 * after the last checkpoint whose journal line a crash of the system lost (checkpoint_note_file
 * does not sync it). Its records were never counted by a checkpoint. At the capture's end,
 * once every host's file is closed.
 */
static void hosts_sweep(struct icap *ic)
{
	char prefix[sizeof(ic->rec.id) + 2], name[NAME_MAX + 1];
	static const char suffix[] = ".pcap.partial";
	size_t plen, slen = sizeof(suffix) - 1, len, n = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(ic->out_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	snprintf(prefix, sizeof(prefix), ".%s-", ic->rec.id);
	plen = strlen(prefix);
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len <= plen + slen || strncmp(de->d_name, prefix, plen) ||
		    strcmp(de->d_name + len - slen, suffix))
			continue;
		/* The host file's own name: without the dot and ".partial". */
		snprintf(name, sizeof(name), "%.*s", (int)(len - 1 - strlen(".partial")),
			 de->d_name + 1);
		if (hostidx_find(&ic->file_idx, name, agent_file, ic->agents) >= 0)
			continue;
		if (!unlinkat(ic->out_dirfd, de->d_name, 0))
			n++;
	}
	closedir(d);
	if (n) {
		fsync(ic->out_dirfd);
		pr_warn("capture %s: removed %zu partial host files that neither its checkpoint "
			"nor its journal named (written after its last checkpoint, before a crash "
			"of the system) capture=%s",
			ic->rec.id, n, ic->rec.id);
	}
}

bool hosts_syncfs_pays(const struct icap *ic, size_t n)
{
	return n >= OUTPUTS_SYNCFS_MIN && ic->out_dirfd >= 0 && file_syncfs_trusted(ic->out_dirfd);
}

int hosts_close(struct icap *ic, bool *truncated)
{
	bool batch = false;
	size_t i, n = 0;
	int ret, bad_err = 0;

	for (i = 0; i < ic->nagents; i++)
		n += ic->agents[i]->out.w && !ic->agents[i]->out.err;
	if (hosts_syncfs_pays(ic, n)) {
		for (i = 0; i < ic->nagents; i++) {
			struct output *o = &ic->agents[i]->out;

			if (o->w && !o->err) {
				ret = pcap_writer_flush(o->w);
				if (ret)
					o->err = ret;
			}
		}
		batch = !syncfs(ic->out_dirfd);
	}
	for (i = ic->nagents; i-- > 0;) { /* HOSTS_NEWEST_FIRST */
		struct output *o = &ic->agents[i]->out;

		if (batch && o->w && !o->err) {
			/* Durable since the syncfs: renamed now, the directory synced below. */
			ret = pcap_writer_close_unsynced(o->w);
			o->w = NULL;
			if (ret)
				o->err = ret;
		} else {
			out_close(ic, o);
		}
		if (o->err)
			bad_err = o->err;
		*truncated |= o->truncated;
	}
	if (batch && fsync(ic->out_dirfd)) {
		ret = -errno;
		pr_err("capture %s: failed to sync the directory of its host files %s: %s "
		       "capture=%s",
		       ic->rec.id, ic->out_dir, strerror(-ret), ic->rec.id);
		bad_err = ret;
	}
	/*
	 * Not after a restart without a usable checkpoint: then a host's file may be named by
	 * nothing, and every complete record is kept (ingest.h).
	 */
	if (ic->out_dirfd >= 0 && !ic->no_state)
		hosts_sweep(ic);
	return bad_err;
}

static const char *agent_file(const void *array, size_t i)
{
	return (*((struct iagent *const *)array + i))->file;
}

bool host_file_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/*
 * The file name of a host in a full capture: safe characters, unique in the capture (the
 * capture's index of file names: a walk over the hosts for each new one made n hosts cost n^2).
 */
static void host_file_name(const struct icap *ic, const struct iagent *a, char *out, size_t len)
{
	char safe[WIRE_AGENT_ID_MAX + 1], name[NAME_MAX + 1];
	unsigned int n;
	size_t i;

	for (i = 0; a->host[i] && i < WIRE_AGENT_ID_MAX; i++)
		safe[i] = host_file_char(a->host[i]) ? a->host[i] : '_';
	safe[i] = '\0';
	/* At most nagents names are taken, so one of the first nagents + 1 is free. */
	for (n = 1; n <= ic->nagents + 1; n++) {
		if (n == 1)
			snprintf(name, sizeof(name), "%s-%s.pcap", ic->rec.id, safe);
		else
			snprintf(name, sizeof(name), "%s-%s-%u.pcap", ic->rec.id, safe, n);
		if (hostidx_find(&ic->file_idx, name, agent_file, ic->agents) < 0)
			break;
	}
	snprintf(out, len, "%s", name);
}

int agent_set_file(struct icap *ic, struct iagent *a, const char *file)
{
	if (a->file[0] || !file[0] || strlen(file) >= sizeof(a->file) ||
	    hostidx_find(&ic->file_idx, file, agent_file, ic->agents) >= 0)
		return -EEXIST;
	snprintf(a->file, sizeof(a->file), "%s", file);
	if (hostidx_add(&ic->file_idx, a->index, agent_file, ic->agents)) {
		a->file[0] = '\0';
		return -ENOMEM;
	}
	return 0;
}

/* A full capture's file for a host that sends its first records. */
int host_out_open(struct icap *ic, struct iagent *a)
{
	char name[NAME_MAX + 1];
	struct pcap_writer_resume r;
	int ret;

	/* Named once: a file named before a restart keeps its name. */
	if (!a->file[0]) {
		host_file_name(ic, a, name, sizeof(name));
		ret = agent_set_file(ic, a, name);
		if (ret) {
			a->out.err = ret;
			return ret;
		}
	}
	/*
	 * Normally afresh. Only when the capture was resumed without its checkpoint may a file
	 * from before the restart be there: then its complete records are kept.
	 */
	ret = out_open(ic, &a->out, ic->out_dirfd, a->file, ic->no_state ? UINT64_MAX : 0, &r);
	if (ret)
		return ret;
	/* The journal names the file before any record goes in: a restart finds it. */
	checkpoint_note_file(ic, a);
	return 0;
}
