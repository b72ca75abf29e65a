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
#include "jsonout.h"
#include "log.h"
#include "output.h"

#define STATE_NAME    "ingest-state.json"
#define STATE_VERSION 1
#define FILES_NAME    "ingest-files"

/* A macro's value as a string literal (the journal's scanf widths). */
#define STR_(x) #x
#define STR(x)	STR_(x)

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

/*
 * A host file's name as host_file_name makes them: "<capture id>-<host>[-n].pcap" of letters,
 * digits, '.', '_' and '-', not too long. Another name is not followed: not into another
 * directory, not onto a file that is not this capture's (another capture's, or anyone's) in a
 * destination several share, which the resume would cut to the checkpoint's length and the
 * capture's end rename over, and not with other bytes, which agent_text escapes one by one: the
 * next checkpoint would name another file.
 */
static bool file_name_ours(const struct icap *ic, const char *file)
{
	static const char ext[] = ".pcap";
	size_t id = strlen(ic->rec.id), n = strlen(file), elen = sizeof(ext) - 1, i;

	for (i = 0; i < n; i++) {
		if (!host_file_char(file[i]))
			return false;
	}
	return n < NAME_MAX + 1 && n > id + 1 + elen && !strncmp(file, ic->rec.id, id) &&
	       file[id] == '-' && !strcmp(file + n - elen, ext);
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
	/*
	 * A checkpoint names each host once (agent_text): a second entry is not merged into the
	 * first (its info would replace, and leak, the first's; its gaps would be added twice).
	 */
	if (agent_find(ic, host))
		return -EEXIST;
	a = agent_get(ic, host);
	if (!a)
		return -ENOMEM;
	if (json_is_object(info))
		a->info = json_deep_copy(info);
	a->expected = json_is_true(json_object_get(j, "expected"));
	a->heard = json_is_true(json_object_get(j, "heard"));
	a->lost = json_is_true(json_object_get(info, "lost"));
	fields_load(j, a, agent_fields, N_FIELDS(agent_fields));
	/*
	 * Gaps as seq_note keeps them: sorted, apart, below highest_seq. Another one (a corrupt
	 * file) is skipped: seq_note takes the first gap a batch falls in, so a batch that filled
	 * one of two overlapping gaps was taken again, as new, by the other.
	 */
	json_array_foreach (json_object_get(j, "gaps"), i, g) {
		json_int_t lo = json_integer_value(json_array_get(g, 0));
		json_int_t hi = json_integer_value(json_array_get(g, 1));

		if (lo > 0 && hi >= lo && (uint64_t)hi <= a->highest_seq &&
		    (!a->ngaps || (uint64_t)lo > a->gaps[a->ngaps - 1].hi))
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
		/*
		 * Printable ASCII, as the final message's decoder keeps it (wire.h): agent_text
		 * escapes any other byte alone, so a character of several bytes came back as
		 * several characters, more of them after each restart.
		 */
		log_printable(a->fin.error);
		a->fin.start_ns = (uint64_t)json_integer_value(json_object_get(fin, "start_ns"));
		a->fin.stop_ns = (uint64_t)json_integer_value(json_object_get(fin, "stop_ns"));
		fields_load(fin, &a->fin.c, counter_fields, N_FIELDS(counter_fields));
		a->final_late = json_is_true(json_object_get(fin, "late"));
	}
	agent_sync_live(ic, a);
	/* A name that is not this capture's is not followed (file_name_ours). */
	if (file && file_name_ours(ic, file) && !agent_set_file(ic, a, file))
		output_load(json_object_get(j, "out"), &a->out);
	return 0;
}

static bool output_changed(const struct output *o)
{
	return o->w && !o->err && o->packets != o->synced;
}

static void output_failed(struct icap *ic, struct output *o, int ret)
{
	o->err = ret;
	if (!ic->write_err)
		ic->write_err = ret;
}

static void output_sync(struct icap *ic, struct output *o)
{
	int ret;

	if (!o->w || o->err || o->packets == o->synced)
		return;
	ret = pcap_writer_sync(o->w, &o->length);
	if (ret)
		output_failed(ic, o, ret);
	else
		o->synced = o->packets;
}

/*
 * Every changed output durable, its length noted. A full capture with many changed host files
 * writes them all to the page cache, then syncs their file system once; if that fails, each
 * file's own fsync (output_sync) finds the one that failed (syncfs reports a write-back error
 * of any file there since Linux 5.8, and the file's fsync reports it again).
 */
static int outputs_sync(struct icap *ic)
{
	uint64_t *len = NULL;
	size_t i, n = 0;
	int ret;

	output_sync(ic, &ic->out);
	if (ic->full && ic->out_dirfd >= 0) {
		for (i = 0; i < ic->nagents; i++)
			n += output_changed(&ic->agents[i]->out);
		if (hosts_syncfs_pays(ic, n))
			len = calloc(ic->nagents, sizeof(*len));
	}

	if (len) {
		for (i = 0; i < ic->nagents; i++) {
			struct output *o = &ic->agents[i]->out;

			if (!output_changed(o))
				continue;
			ret = pcap_writer_written(o->w, &len[i]);
			if (ret)
				output_failed(ic, o, ret);
		}
		if (!syncfs(ic->out_dirfd)) {
			for (i = 0; i < ic->nagents; i++) {
				struct output *o = &ic->agents[i]->out;

				if (output_changed(o)) {
					o->length = len[i];
					o->synced = o->packets;
				}
			}
			/* The new files' entries too: the syncfs covered their directory. */
			ic->files_unsynced = false;
		}
		free(len);
	}
	/* What is left: a few files, or a syncfs that failed (or no memory to note lengths). */
	for (i = 0; i < ic->nagents; i++)
		output_sync(ic, &ic->agents[i]->out);
	/* New host files' entries, which their writers did not sync (pcap_writer.h). */
	if (ic->files_unsynced && ic->out_dirfd >= 0) {
		if (fsync(ic->out_dirfd)) {
			ret = -errno;
			if (!ic->ckpt_failing)
				pr_warn("capture %s: failed to sync its host files' directory %s: "
					"%s; no checkpoint until it is capture=%s",
					ic->rec.id, ic->out_dir, strerror(-ret), ic->rec.id);
			return ret;
		}
		ic->files_unsynced = false;
	}
	return 0;
}

/*
 * Makes the outputs durable, then records the accounts that describe exactly them: what a
 * restart resumes from (ingest.h, "Restart").
 */
/*
 * The agents' part of the checkpoint, written as text straight from the structs: with a fleet
 * (thousands of agents, a checkpoint every checkpoint_ms) building and dumping a JSON object per
 * agent cost more than the records did. Each agent is the object agent_load reads back: host,
 * info, expected, heard, the counters, gaps, final and, for a full capture, file and out (the
 * resume tests of test_ingest read it back).
 */
/* A JSON string: quotes, and every byte outside printable ASCII or special escaped. */
static void sb_jstr(struct jsonout *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	char esc[6];

	jsonout_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\')
			continue;
		jsonout_put(b, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jsonout_put(b, esc, 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			jsonout_put(b, esc, 6);
		}
	}
	jsonout_put(b, run, (size_t)(s - run));
	jsonout_put(b, "\"", 1);
}

static void sb_bool(struct jsonout *b, const char *name, bool v)
{
	jsonout_put(b, ",\"", 2);
	jsonout_str(b, name);
	jsonout_str(b, v ? "\":true" : "\":false");
}

static void sb_u64(struct jsonout *b, const char *name, uint64_t v)
{
	jsonout_put(b, ",\"", 2);
	jsonout_str(b, name);
	jsonout_put(b, "\":", 2);
	jsonout_u64(b, v > INT64_MAX ? INT64_MAX : v);
}

static void sb_fields(struct jsonout *b, const void *base, const struct u64_field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sb_u64(b, f[i].name, *(const uint64_t *)((const char *)base + f[i].off));
}

static void agent_text(struct jsonout *b, const struct iagent *a)
{
	size_t i;

	jsonout_str(b, "{\"host\":");
	sb_jstr(b, a->host);
	if (a->info) {
		jsonout_str(b, ",\"info\":");
		jsonout_json(b, a->info, JSON_COMPACT); /* a failure: b->failed */
	}
	sb_bool(b, "expected", a->expected);
	sb_bool(b, "heard", a->heard);
	sb_fields(b, a, agent_fields, N_FIELDS(agent_fields));
	jsonout_str(b, ",\"gaps\":[");
	for (i = 0; i < a->ngaps; i++) {
		jsonout_str(b, i ? ",[" : "[");
		jsonout_u64(b, a->gaps[i].lo > INT64_MAX ? INT64_MAX : a->gaps[i].lo);
		jsonout_put(b, ",", 1);
		jsonout_u64(b, a->gaps[i].hi > INT64_MAX ? INT64_MAX : a->gaps[i].hi);
		jsonout_put(b, "]", 1);
	}
	jsonout_put(b, "]", 1);
	if (a->final_received) {
		jsonout_str(b, ",\"final\":{\"reason\":");
		jsonout_i64(b, (int64_t)a->fin.reason);
		jsonout_str(b, ",\"error\":");
		sb_jstr(b, a->fin.error);
		sb_u64(b, "start_ns", a->fin.start_ns);
		sb_u64(b, "stop_ns", a->fin.stop_ns);
		sb_fields(b, &a->fin.c, counter_fields, N_FIELDS(counter_fields));
		sb_bool(b, "late", a->final_late);
		jsonout_put(b, "}", 1);
	}
	if (a->file[0]) {
		jsonout_str(b, ",\"file\":");
		sb_jstr(b, a->file);
		jsonout_str(b, ",\"out\":{\"packet_limit_hit\":");
		jsonout_str(b, a->out.packet_limit_hit ? "true" : "false");
		sb_bool(b, "byte_limit_hit", a->out.byte_limit_hit);
		sb_fields(b, &a->out, output_fields, N_FIELDS(output_fields));
		jsonout_put(b, "}", 1);
	}
	jsonout_put(b, "}", 1);
}

/* Removes the journal; 0 or a negative errno (logged), 0 when there was none. */
static int journal_remove(const struct icap *ic)
{
	char path[PATH_MAX];
	int ret;

	ret = out_path_join(path, sizeof(path), ic->dir, FILES_NAME);
	if (ret)
		return ret;
	if (!unlink(path) || errno == ENOENT)
		return 0;
	ret = -errno;
	pr_warn("capture %s: failed to remove %s: %s capture=%s", ic->rec.id, path, strerror(-ret),
		ic->rec.id);
	return ret;
}

int checkpoint_write(struct icap *ic, uint64_t now_us)
{
	struct jsonout sb = { 0 };
	json_t *j, *agents;
	size_t i;
	int ret;

	if (ic->finished)
		return 0;
	/* A checkpoint names only files whose entries are durable: none until they are. */
	ret = outputs_sync(ic);
	if (ret)
		goto failed;
	j = json_object();
	agents = json_array();
	json_object_set_new(j, "version", json_integer(STATE_VERSION));
	json_object_set_new(j, "restarts", json_integer(ic->restarts));
	json_object_set_new(j, "expect_done", json_boolean(ic->expect_done));
	if (!ic->full)
		json_object_set_new(j, "out", output_dump(&ic->out));
	json_object_set_new(j, "agents", agents);
	/* The head as jansson writes it, ending in "agents":[]}; the agents go between. */
	if (!j || !agents || jsonout_json(&sb, j, JSON_COMPACT) || sb.len < 2 ||
	    strcmp(sb.p + sb.len - 2, "]}")) {
		sb.failed = true;
	} else {
		sb.len -= 2;
		for (i = 0; i < ic->nagents; i++) {
			if (i)
				jsonout_put(&sb, ",", 1);
			agent_settle(ic, ic->agents[i]);
			agent_text(&sb, ic->agents[i]);
		}
		jsonout_put(&sb, "]}", 2);
	}
	json_decref(j);
	if (sb.failed)
		ret = sb.oom ? -ENOMEM : -EINVAL;
	else
		ret = file_write_durably(ic->dir, STATE_NAME, sb.p, sb.len, 0640, NULL);
	jsonout_free(&sb);
	if (ret) {
		if (!ic->ckpt_failing)
			pr_warn("capture %s: failed to write its ingest checkpoint in %s: %s "
				"capture=%s",
				ic->rec.id, ic->dir, strerror(-ret), ic->rec.id);
		goto failed;
	}
	if (ic->ckpt_failing)
		pr_info("capture %s: its ingest checkpoint is written again capture=%s", ic->rec.id,
			ic->rec.id);
	ic->ckpt_failing = false;
	ic->dirty = false;
	ic->last_ckpt_us = now_us;
	/* Every file is named in the checkpoint now. */
	if (ic->files_journal && !journal_remove(ic))
		ic->files_journal = false;
	return 0;
failed:
	/*
	 * Tried again at the next interval, not at once: ingest_tick's deadline would stay in the
	 * past, its timer fire again at once, and every changed file's fsync be tried again
	 * without end. Logged once until a checkpoint is written again.
	 */
	ic->ckpt_failing = true;
	ic->last_ckpt_us = now_us;
	return ret;
}

int checkpoint_note_file(struct icap *ic, const struct iagent *a)
{
	char path[PATH_MAX], line[WIRE_AGENT_ID_MAX + NAME_MAX + 3];
	int fd, n, ret;

	ret = out_path_join(path, sizeof(path), ic->dir, FILES_NAME);
	if (ret)
		return ret;
	n = snprintf(line, sizeof(line), "%s %s\n", a->host, a->file);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -ENAMETOOLONG;
	/*
	 * Not synced: a crash of the process leaves it in the page cache, and the next checkpoint
	 * names the file itself (then the journal goes). Only a crash of the system may lose the
	 * line, with the file's records, which no checkpoint had counted yet; its partial file is
	 * then removed at the capture's end (hosts_close). One sync a new host was 20,000 syncs
	 * on the aggregator's loop as a full capture of 10,000 hosts started.
	 */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
	} else {
		errno = 0;
		if (write(fd, line, (size_t)n) != n)
			ret = errno ? -errno : -EIO;
		close(fd);
	}
	if (!ret)
		ic->files_journal = true;
	else
		pr_warn_ratelimited("capture %s: failed to name host %s's file %s in %s: %s "
				    "capture=%s host=%s",
				    ic->rec.id, a->host, a->file, path, strerror(-ret), ic->rec.id,
				    a->host);
	return ret;
}

/*
 * The journal's files into ic, after the checkpoint's: hosts first heard after it get an entry,
 * as having sent. A line that does not parse, or names a file the checkpoint gave another name,
 * is skipped.
 */
static void journal_load(struct icap *ic)
{
	char path[PATH_MAX], host[WIRE_AGENT_ID_MAX + 2], file[NAME_MAX + 2];
	struct iagent *a;
	size_t n = 0;
	FILE *f;
	int c;

	if (out_path_join(path, sizeof(path), ic->dir, FILES_NAME))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	ic->files_journal = true;
	while (fscanf(f, "%" STR(WIRE_AGENT_ID_MAX) "s %" STR(NAME_MAX) "s", host, file) == 2) {
		/*
		 * A line counts once its newline is there: the journal is not synced, and a crash
		 * of the system can leave a last line cut short (a file name cut short with it).
		 */
		c = fgetc(f);
		if (c != '\n') {
			while (c != EOF && c != '\n')
				c = fgetc(f);
			continue;
		}
		if (!wire_agent_id_valid(host, strlen(host)) || !file_name_ours(ic, file))
			continue;
		a = agent_get(ic, host);
		if (!a || a->file[0])
			continue;
		if (!agent_set_file(ic, a, file)) {
			a->heard = true;
			agent_sync_live(ic, a);
			n++;
		}
	}
	fclose(f);
	if (n)
		pr_info("capture %s: %zu host files opened after its last checkpoint, from %s "
			"capture=%s",
			ic->rec.id, n, path, ic->rec.id);
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

	journal_remove(ic);

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
	if (ic->full)
		journal_load(ic);
	files_recount(ic);
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
