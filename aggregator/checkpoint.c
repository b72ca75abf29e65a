// SPDX-License-Identifier: BSD-2-Clause
/*
 * checkpoint.c: the ingest's checkpoint (checkpoint.h): written after the outputs were made
 * durable, read back after a restart to cut the outputs to what it describes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fileutil.h"
#include "log.h"
#include "output.h"

#define STATE_NAME    "ingest-state.json"
#define STATE_VERSION 1

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

/* The final message's counters, named as in the counter table (counters.h). */
#define COUNTER_FIELD(name, help) U64_FIELD(struct wire_counters, name),
static const struct u64_field counter_fields[] = { EC_CAPTURE_COUNTERS(COUNTER_FIELD) };
#undef COUNTER_FIELD

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
	a->lost = json_is_true(json_object_get(info, "lost"));
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

static void output_sync(struct icap *ic, struct output *o)
{
	int ret;

	if (!o->w || o->err || o->packets == o->synced)
		return;
	ret = pcap_writer_sync(o->w, &o->length);
	if (ret) {
		o->err = ret;
		if (!ic->write_err)
			ic->write_err = ret;
	} else {
		o->synced = o->packets;
	}
}

/*
 * Makes the outputs durable, then records the accounts that describe exactly them: what a
 * restart resumes from (ingest.h, "Restart").
 */
int checkpoint_write(struct icap *ic, uint64_t now_us)
{
	json_t *j, *agents;
	char *text;
	size_t i;
	int ret;

	if (ic->finished)
		return 0;
	output_sync(ic, &ic->out);
	for (i = 0; i < ic->nagents; i++)
		output_sync(ic, &ic->agents[i]->out);
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
	ret = text ? file_write_durably(ic->dir, STATE_NAME, text, strlen(text), 0640, NULL)
		   : -ENOMEM;
	free(text);
	if (ret) {
		pr_warn_ratelimited(
			"capture %s: failed to write its ingest checkpoint in %s: %s capture=%s",
			ic->rec.id, ic->dir, strerror(-ret), ic->rec.id);
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

	ret = out_path_join(path, sizeof(path), ic->dir, STATE_NAME);
	if (ret)
		return ret;
	j = json_load_file(path, 0, &jerr);
	if (!j) {
		if (access(path, F_OK))
			return -ENOENT;
		pr_warn("capture %s: unusable checkpoint %s: %s capture=%s", ic->rec.id, path,
			jerr.text, ic->rec.id);
		return -EINVAL;
	}
	if (json_integer_value(json_object_get(j, "version")) != STATE_VERSION ||
	    !json_is_array(json_object_get(j, "agents"))) {
		pr_warn("capture %s: unusable checkpoint %s: not version %d capture=%s", ic->rec.id,
			path, STATE_VERSION, ic->rec.id);
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
			pr_warn("capture %s: skipped an agent of checkpoint %s: %s capture=%s",
				ic->rec.id, path, strerror(-ret), ic->rec.id);
			ret = 0;
		}
	}
	json_decref(j);
	return 0;
}

void checkpoint_remove(const struct icap *ic)
{
	char path[PATH_MAX];

	if (!out_path_join(path, sizeof(path), ic->dir, STATE_NAME) && unlink(path) &&
	    errno != ENOENT)
		pr_warn("capture %s: failed to remove %s: %s capture=%s", ic->rec.id, path,
			strerror(errno), ic->rec.id);
}

/* --- restart ------------------------------------------------------------------------------ */

/*
 * The merged pcap holds fewer packets than its checkpoint says (it vanished, or was cut by
 * someone else): they are lost, taken from the agents' written counts in turn, since the file
 * does not say whose they were. The sum stays exact; the split between agents is a guess.
 */
static void shortfall(struct icap *ic, uint64_t n, uint64_t *lost)
{
	uint64_t take;
	size_t i;

	pr_warn("capture %s: its pcap holds %" PRIu64
		" packets fewer than its checkpoint says capture=%s",
		ic->rec.id, n, ic->rec.id);
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
void checkpoint_resume(struct icap *ic)
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
		ret = out_path_join(path, sizeof(path), ic->dir, "capture.pcap");
		if (!ret)
			ret = out_open(ic, &ic->out, AT_FDCWD, path,
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
		ret = out_open(ic, &a->out, ic->out_dirfd, a->file,
			       ic->no_state ? UINT64_MAX : a->out.length, &r);
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
		" bytes cut, %" PRIu64 " records lost capture=%s",
		ic->rec.id, ic->no_state ? "no usable checkpoint" : "from its checkpoint", kept,
		cut, lost, ic->rec.id);
}
