// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batcher.h"
#include "captures.h"
#include "control.h"
#include "counters_json.h"
#include "log.h"
#include "pcap_sink.h"
#include "safefile.h"
#include "wire.h"

struct agent_capture {
	char id[WIRE_CAPTURE_ID_HEX_LEN];
	uint8_t id_bin[WIRE_CAPTURE_ID_LEN];
	enum agent_capture_origin origin;
	struct capture_request req;
	struct capture *cap;
	uint64_t start_ns; /* UTC */
	/* ORIGIN_FLEET: the batcher that ships its records, and what was shipped */
	struct batcher out;
	struct wire_counters sent;
	/* ORIGIN_LOCAL */
	struct pcap_sink sink;
	char output[PATH_MAX];
};

struct captures {
	const struct agent_config *cfg;
	struct engine *engine;
	struct ship *ship;
	struct agent_capture *slots[EC_MAX_SLOTS]; /* by engine slot */
	/* What completed captures counted, per interface (by engine index), for the metrics. */
	struct ec_slot_counters done[ENGINE_MAX_IFACES];
	uint64_t completed[2]; /* by origin */
};

static uint64_t utc_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int captures_new(const struct agent_config *cfg, struct engine *engine, struct ship *ship,
		 struct captures **out)
{
	struct captures *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->engine = engine;
	t->ship = ship;
	*out = t;
	return 0;
}

void captures_free(struct captures *t)
{
	if (!t)
		return;
	captures_complete_all(t);
	free(t);
}

static struct agent_capture *find(const struct captures *t, const char *id)
{
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (t->slots[i] && !strcmp(t->slots[i]->id, id))
			return t->slots[i];
	}
	return NULL;
}

bool captures_running(const struct captures *t, const char *id)
{
	return find(t, id) != NULL;
}

int captures_origin(const struct captures *t, const char *id)
{
	const struct agent_capture *ac = find(t, id);

	return ac ? (int)ac->origin : -ENOENT;
}

unsigned int captures_count(const struct captures *t)
{
	unsigned int i, n = 0;

	for (i = 0; i < EC_MAX_SLOTS; i++)
		n += t->slots[i] != NULL;
	return n;
}

static void capture_free(struct agent_capture *ac)
{
	if (!ac)
		return;
	batcher_release(&ac->out);
	pcap_sink_close(&ac->sink, false);
	free(ac);
}

/*
 * A local capture's pcap: only beneath the agent's output directory (a relative output is taken
 * there), opened without following a symlink, mode 0640 (safefile.h). err names the path and
 * the directory when it is refused: -EPERM outside it, -EINVAL for "..", -ELOOP for a symlink.
 */
static int open_local_output(struct agent_capture *ac, const struct agent_config *cfg,
			     const char *output, uint32_t snaplen, char *err, size_t errlen)
{
	const char *roots[1] = { cfg->output_dir };
	char rel[PATH_MAX], dir[PATH_MAX], base[NAME_MAX + 1], why[PATH_MAX + 64];
	int rootfd = -1, dirfd = -1, ret;
	size_t root;

	ret = safe_confine(roots, 1, output ? output : "", &root, rel, sizeof(rel), why,
			   sizeof(why));
	if (ret == -EPERM) {
		snprintf(err, errlen,
			 "output %s: not beneath the agent's output directory %s (--output-dir): "
			 "give a file name, or a path beneath it",
			 output, cfg->output_dir);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "output %s (in the agent's output directory %s)", why,
			 cfg->output_dir);
		return ret;
	}
	ret = safe_split(rel, dir, sizeof(dir), base, sizeof(base));
	if (ret) {
		snprintf(err, errlen, "output %s: names no file beneath the output directory %s",
			 output, cfg->output_dir);
		return ret;
	}
	/* "-" is the pcap writer's name for standard output: never the agent's. */
	if (!strcmp(base, "-")) {
		snprintf(err, errlen,
			 "output %s: the agent writes a file beneath its output directory %s, not "
			 "to the agent's standard output: give a file name",
			 output, cfg->output_dir);
		return -EINVAL;
	}
	/*
	 * The directory itself is made when missing, 0750 whatever the umask (the operators who
	 * read local captures are its group); anything beneath it must exist already.
	 */
	if (!mkdir(cfg->output_dir, SAFE_DIR_MODE))
		(void)chmod(cfg->output_dir, SAFE_DIR_MODE);
	else if (errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the output directory %s: %s", cfg->output_dir,
			 strerror(errno));
		return ret;
	}
	ret = safe_open_root(cfg->output_dir, &rootfd);
	if (!ret)
		ret = safe_open_dir(rootfd, dir, false, &dirfd);
	if (ret == -ELOOP) {
		snprintf(err, errlen,
			 "output %s: a symbolic link is on the way beneath the output directory %s "
			 "(not followed)",
			 output, cfg->output_dir);
		goto out;
	}
	if (ret) {
		snprintf(err, errlen, "output %s: cannot open its directory beneath %s: %s", output,
			 cfg->output_dir, strerror(-ret));
		goto out;
	}
	if ((size_t)snprintf(ac->output, sizeof(ac->output), "%s/%.*s", cfg->output_dir,
			     (int)(sizeof(ac->output) - sizeof(cfg->output_dir) - 2),
			     rel) >= sizeof(ac->output)) {
		ret = -ENAMETOOLONG;
		snprintf(err, errlen, "output %s: path too long", output);
		goto out;
	}
	ret = pcap_sink_open_at(&ac->sink, dirfd, base, SAFE_FILE_MODE, snaplen, err, errlen);
out:
	if (dirfd >= 0)
		close(dirfd);
	if (rootfd >= 0)
		close(rootfd);
	return ret;
}

void captures_params(const struct agent_config *cfg, const struct capture_request *req,
		     enum agent_capture_origin origin, struct capture_params *out)
{
	capture_params_from_request(req, cfg->simple_sample_rate, out);
	if (req->type != CAPTURE_SIMPLE || (req->has & REQ_HAS_SNAPLEN))
		return;
	out->snaplen = cfg->simple_snaplen;
	/* The aggregator keeps no more of a fleet capture's packet (request_snaplen). */
	if (origin == ORIGIN_FLEET && out->snaplen > REQ_SIMPLE_SNAPLEN)
		out->snaplen = REQ_SIMPLE_SNAPLEN;
}

int captures_start(struct captures *t, const char *id, const struct capture_request *req,
		   enum agent_capture_origin origin, const char *output, char *err, size_t errlen)
{
	const struct agent_config *cfg = t->cfg;
	struct capture_params params;
	struct agent_capture *ac;
	unsigned int slot;
	int ret;

	if (find(t, id)) {
		snprintf(err, errlen, "capture %s already runs here", id);
		return -EEXIST;
	}
	ac = calloc(1, sizeof(*ac));
	if (!ac)
		return -ENOMEM;
	snprintf(ac->id, sizeof(ac->id), "%s", id);
	ac->origin = origin;
	ac->req = *req;
	ac->start_ns = utc_ns();
	ret = wire_capture_id_parse(id, ac->id_bin);
	if (ret) {
		snprintf(err, errlen, "capture id must be 32 hex digits (got \"%s\")", id);
		goto fail;
	}

	captures_params(cfg, req, origin, &params);

	if (origin == ORIGIN_FLEET) {
		ret = batcher_init(&ac->out, ac->id_bin, cfg->host_id, t->ship, &ac->sent);
		if (ret) {
			snprintf(err, errlen, "cannot set up batches for host id \"%s\": %s",
				 cfg->host_id, strerror(-ret));
			goto fail;
		}
	} else {
		ret = open_local_output(ac, cfg, output, params.snaplen, err, errlen);
		if (ret)
			goto fail;
	}
	if (origin == ORIGIN_FLEET)
		ret = capture_start(t->engine, &params, batcher_add, &ac->out, &ac->cap, err,
				    errlen);
	else
		ret = capture_start(t->engine, &params, pcap_sink_record, &ac->sink, &ac->cap, err,
				    errlen);
	if (ret)
		goto fail;
	slot = capture_slot(ac->cap);
	t->slots[slot] = ac;
	pr_info("capture %s started (%s, %s, slot %u) capture=%s", id, capture_type_name(req->type),
		origin == ORIGIN_FLEET ? "for the aggregator" : "local", slot, id);
	return 0;
fail:
	capture_free(ac);
	return ret;
}

int captures_stop(struct captures *t, const char *id)
{
	struct agent_capture *ac = find(t, id);

	if (!ac)
		return -ENOENT;
	capture_stop(ac->cap, STOP_STOPPED, NULL);
	return 0;
}

void captures_stop_all(struct captures *t)
{
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (t->slots[i])
			capture_stop(t->slots[i]->cap, STOP_STOPPED, NULL);
	}
}

static enum wire_stop_reason wire_reason(enum stop_reason r)
{
	switch (r) {
	case STOP_TIME_LIMIT:
		return WIRE_STOP_TIME_LIMIT;
	case STOP_PACKET_LIMIT:
		return WIRE_STOP_PACKET_LIMIT;
	case STOP_BYTE_LIMIT:
		return WIRE_STOP_BYTE_LIMIT;
	case STOP_ERROR:
		return WIRE_STOP_ERROR;
	default:
		return WIRE_STOP_STOPPED;
	}
}

/* A fleet capture's counters on the wire: what it shipped, and the kernel's counters. */
static void wire_counters_fill(struct wire_counters *c, const struct wire_counters *sent,
			       const struct ec_slot_counters *k)
{
	*c = *sent;
	wire_counters_from_kernel(c, k);
}

/* A local capture's end: the pcap made final, unless a write failed (then it is removed). */
static void complete_local(struct agent_capture *ac, const struct capture_stats *st)
{
	int ret = pcap_sink_close(&ac->sink, !ac->sink.error);

	log_msg(ret ? LOG_LEVEL_ERROR : LOG_LEVEL_INFO,
		"local capture %s done: %llu packets to %s (%s)%s%s capture=%s", ac->id,
		(unsigned long long)st->packets_captured, ac->output, stop_reason_name(st->reason),
		ret ? ": " : "", ret ? strerror(-ret) : "", ac->id);
}

/* A fleet capture's end: the last batch, then the final message with its counters. */
static void complete_fleet(struct captures *t, struct agent_capture *ac,
			   const struct capture_stats *st, const char *error)
{
	struct wire_final fin = {};
	size_t len;
	void *msg;

	batcher_flush(&ac->out);
	fin.reason = wire_reason(st->reason);
	if (fin.reason == WIRE_STOP_ERROR)
		snprintf(fin.error, sizeof(fin.error), "%s", error[0] ? error : "capture failed");
	wire_counters_fill(&fin.c, &ac->sent, &st->kernel);
	fin.c.last_seq = wire_batch_last_seq(ac->out.batch);
	fin.start_ns = ac->start_ns;
	fin.stop_ns = utc_ns();
	if (!wire_final_encode(ac->id_bin, t->cfg->host_id, &fin, &msg, &len))
		ship_enqueue(t->ship, msg, len, true);
	pr_info("capture %s done: %s, %llu packets shipped in %llu batches, %llu dropped by the "
		"send queue, %llu lost to a full ring capture=%s",
		ac->id, wire_stop_reason_name(fin.reason), (unsigned long long)fin.c.packets_sent,
		(unsigned long long)fin.c.batches_sent, (unsigned long long)fin.c.records_dropped,
		(unsigned long long)fin.c.ring_full, ac->id);
}

/* Adds a capture's per-interface counters to the table's totals. */
static void counters_add_ifaces(struct captures *t, const struct capture_stats *st)
{
	unsigned int i;

	for (i = 0; i < st->n_ifaces && i < ENGINE_MAX_IFACES; i++) {
#define ADD(name, help) t->done[i].name += st->iface[i].kernel.name;
		EC_KERNEL_COUNTERS(ADD)
#undef ADD
	}
}

/* Completes a capture that reached its end: its last records, then its output, and frees it. */
static void capture_complete(struct captures *t, struct agent_capture *ac)
{
	unsigned int slot = capture_slot(ac->cap);
	struct capture_stats st;
	char error[256];

	snprintf(error, sizeof(error), "%s", capture_error(ac->cap));
	capture_finish(ac->cap, &st);
	ac->cap = NULL;
	t->slots[slot] = NULL;
	counters_add_ifaces(t, &st);
	t->completed[ac->origin == ORIGIN_LOCAL]++;
	if (ac->origin == ORIGIN_LOCAL)
		complete_local(ac, &st);
	else
		complete_fleet(t, ac, &st, error);
	capture_free(ac);
}

void captures_tick(struct captures *t, uint64_t now_ms)
{
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		struct agent_capture *ac = t->slots[i];

		if (!ac)
			continue;
		if (ac->origin == ORIGIN_FLEET)
			batcher_tick(&ac->out, now_ms, t->cfg->batch_ms);
		if (capture_done(ac->cap))
			capture_complete(t, ac);
	}
}

int captures_timeout_ms(const struct captures *t, uint64_t now_ms, int timeout)
{
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (t->slots[i])
			timeout = batcher_timeout_ms(&t->slots[i]->out, now_ms, t->cfg->batch_ms,
						     timeout);
	}
	return timeout;
}

void captures_complete_all(struct captures *t)
{
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (t->slots[i])
			capture_complete(t, t->slots[i]);
	}
}

/* The kernel's counters of a capture, as JSON (new reference). */
static json_t *kernel_json(const struct ec_slot_counters *k)
{
	json_t *o = json_object();

	if (o && counters_kernel_json(o, k)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* The capture's live figures as JSON (new reference). */
static json_t *capture_json(const struct agent_capture *ac)
{
	struct capture_stats st;
	json_t *o = json_object();

	capture_get_stats(ac->cap, &st);
	json_object_set_new(o, "id", json_string(ac->id));
	json_object_set_new(o, "origin",
			    json_string(ac->origin == ORIGIN_FLEET ? "aggregator" : "local"));
	json_object_set_new(o, "type", json_string(capture_type_name(ac->req.type)));
	json_object_set_new(o, "status",
			    json_string(st.reason ? stop_reason_name(st.reason) : "running"));
	json_object_set_new(o, "duration_s", json_real(st.duration_s));
	json_object_set_new(o, "packets_captured", json_integer((json_int_t)st.packets_captured));
	json_object_set_new(o, "bytes_captured", json_integer((json_int_t)st.bytes_captured));
	json_object_set_new(o, "kernel", kernel_json(&st.kernel));
	if (ac->origin == ORIGIN_FLEET) {
		json_object_set_new(o, "batches_sent",
				    json_integer((json_int_t)ac->sent.batches_sent));
		json_object_set_new(o, "records_dropped",
				    json_integer((json_int_t)ac->sent.records_dropped));
	} else {
		json_object_set_new(o, "output", json_string(ac->output));
	}
	json_object_set_new(o, "request", request_to_json(&ac->req));
	return o;
}

json_t *captures_json(const struct captures *t)
{
	json_t *caps = json_array();
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (t->slots[i])
			json_array_append_new(caps, capture_json(t->slots[i]));
	}
	return caps;
}

unsigned int captures_fleet_status(const struct captures *t, struct ctl_capture_status *out,
				   unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < EC_MAX_SLOTS && n < max; i++) {
		const struct agent_capture *ac = t->slots[i];
		struct ctl_capture_status *cs;
		struct capture_stats st;

		if (!ac || ac->origin != ORIGIN_FLEET)
			continue;
		cs = &out[n++];
		capture_get_stats(ac->cap, &st);
		snprintf(cs->capture_id, sizeof(cs->capture_id), "%s", ac->id);
		cs->start_ns = ac->start_ns;
		wire_counters_fill(&cs->c, &ac->sent, &st.kernel);
	}
	return n;
}

void captures_foreach(const struct captures *t, captures_view_fn fn, void *ctx)
{
	struct captures_view v;
	unsigned int i;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		const struct agent_capture *ac = t->slots[i];
		struct capture_stats st;

		if (!ac)
			continue;
		capture_get_stats(ac->cap, &st);
		v = (struct captures_view){
			.id = ac->id,
			.origin = ac->origin,
			.type = ac->req.type,
			.stats = &st,
			.sent = &ac->sent,
		};
		fn(ctx, &v);
	}
}

void captures_iface_done(const struct captures *t, unsigned int iface, struct ec_slot_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (iface < ENGINE_MAX_IFACES)
		*out = t->done[iface];
}

uint64_t captures_completed(const struct captures *t, enum agent_capture_origin origin)
{
	return t->completed[origin == ORIGIN_LOCAL];
}
