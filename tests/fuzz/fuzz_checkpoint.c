// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_checkpoint.c: the ingest's checkpoint, captures/<id>/ingest-state.json, and its journal
 * of host files, captures/<id>/ingest-files (aggregator/checkpoint.h), as a restarted
 * aggregator reads them back (checkpoint.c's state_load, agent_load, output_load, fields_load
 * and journal_load), through the real resume: store_open on a state directory with two running
 * captures, one simple and one full, whose directories both hold the input; then ingest_open,
 * which resumes them (cap_create, checkpoint_resume) as after a crash, ingest_close, and the
 * same restart again.
 *
 * The input is split at its first NUL byte: the bytes before it are the checkpoint, the bytes
 * after it the journal (without a NUL byte there is no journal). Every input gets a fresh state
 * directory (in one temp directory a process, tmpfs when there is one): the captures' manifests,
 * the simple capture's partial pcap and host edge-a's partial file (3 records each), among the
 * full capture's files a symbolic link .<id>-evil.pcap.partial to a file outside, and in its
 * destination another capture's files, one done and one partial.
 *
 * Properties:
 *   - no file outside the captures' own directories (the simple capture's, and the full
 *     capture's directory and its own files in its destination, named for its id) is created,
 *     removed or changed, whatever "file" a checkpoint or journal names ("../x", "/etc/passwd",
 *     a symbolic link's name, another capture's file in the same destination);
 *   - each capture has at most its host cap of agents (max_hosts, 4 here), each with a valid,
 *     distinct host id, and every full capture's file name is distinct and a plain name;
 *   - the accounts agree with the outputs, as the restart promises (ingest.h, "Restart"): each
 *     open output's partial file holds whole records only, as many as its account says, with as
 *     many bytes; a full capture's sums are its hosts' files'; nothing is held in the window;
 *     the count of live agents is theirs;
 *   - after a graceful stop (ingest_close writes a checkpoint of what the resume made of the
 *     input), a second restart gives every capture still running the same agents, accounts,
 *     gaps, info and outputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ingest.h"
#include "ingest_internal.h"
#include "log.h"
#include "output.h"
#include "store.h"

#define SID	  "5555555555555555555555555555555a" /* the simple capture */
#define FID	  "fffffffffffffffffffffffffffffff0" /* the full capture */
#define OID	  "0000000000000000000000000000000f" /* another, with files in FID's destination */
#define MAX_HOSTS 4
/* A running capture's manifest after its request: nothing received yet. */
#define MANIFEST_TAIL                                                            \
	"\"status\":\"running\",\"submitted\":\"2026-01-01T00:00:00.000000Z\","  \
	"\"started\":\"2026-01-01T00:00:01.000000Z\",\"packets\":0,\"bytes\":0," \
	"\"agents\":{}}\n"

static char base[PATH_MAX], state[PATH_MAX + 16], dest[PATH_MAX + 16], out_dir[PATH_MAX + 32];
static char outside[PATH_MAX + 16];
static const char sentinel[] = "not yours\n";

static void put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* The process's temp directory (tmpfs when there is one: the ingest fsyncs what it writes). */
static void setup(void)
{
	fuzz_tmpdir(base, sizeof(base), "checkpoint");
	snprintf(state, sizeof(state), "%s/state", base);
	snprintf(dest, sizeof(dest), "%s/dest", base);
	snprintf(out_dir, sizeof(out_dir), "%s/out", dest);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	FUZZ_ASSERT(!mkdir(dest, 0700));
	put_file(outside, sentinel, strlen(sentinel));
	log_set_level(LOG_LEVEL_ERROR);
}

/* A partial pcap as the ingest writes one (nanosecond magic, Ethernet) with 3 records. */
static void put_pcap(const char *path)
{
	uint32_t buf[6 + 3 * (4 + 3)] = { 0xa1b23c4d, 0x00040002, 0, 0, 65535, 1 };
	size_t i, n = 6;

	for (i = 0; i < 3; i++) {
		buf[n++] = 1700000000 + (uint32_t)i;
		buf[n++] = 0;
		buf[n++] = 12; /* caplen */
		buf[n++] = 60; /* origlen */
		buf[n++] = 0x0a0a0a0a;
		buf[n++] = 0x0b0b0b0b;
		buf[n++] = 0x08000c0c;
	}
	put_file(path, buf, sizeof(buf));
}

/* One capture's directory: its manifest, and the input's checkpoint and journal. */
static void put_capture(const char *id, const char *request, const uint8_t *ckpt, size_t ckpt_len,
			const uint8_t *journal, size_t journal_len, bool has_journal)
{
	char path[PATH_MAX + 128], text[PATH_MAX + 1024];
	int n;

	snprintf(path, sizeof(path), "%s/captures/%s", state, id);
	FUZZ_ASSERT(!mkdir(path, 0700));
	n = snprintf(text, sizeof(text),
		     "{\"version\":1,\"id\":\"%s\",\"account_id\":\"acct\",\"request\":%"
		     "s," MANIFEST_TAIL,
		     id, request);
	FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(text));
	snprintf(path, sizeof(path), "%s/captures/%s/manifest.json", state, id);
	put_file(path, text, (size_t)n);
	snprintf(path, sizeof(path), "%s/captures/%s/ingest-state.json", state, id);
	put_file(path, ckpt, ckpt_len);
	if (has_journal) {
		snprintf(path, sizeof(path), "%s/captures/%s/ingest-files", state, id);
		put_file(path, journal, journal_len);
	}
}

static void put_state(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t ckpt_len = nul ? (size_t)(nul - data) : size;
	const uint8_t *journal = nul ? nul + 1 : NULL;
	size_t journal_len = nul ? size - ckpt_len - 1 : 0;
	char path[PATH_MAX + 128], full[PATH_MAX + 256];

	fuzz_rmtree(state);
	fuzz_rmtree(out_dir);
	FUZZ_ASSERT(!mkdir(state, 0700));
	snprintf(path, sizeof(path), "%s/captures", state);
	FUZZ_ASSERT(!mkdir(path, 0700));
	FUZZ_ASSERT(!mkdir(out_dir, 0700));
	put_capture(SID,
		    "{\"filter_v1\":{},\"time_limit\":60,\"packet_limit\":100,"
		    "\"type\":\"simple\",\"system\":\"magic-transit\"}",
		    data, ckpt_len, journal, journal_len, nul != NULL);
	snprintf(full, sizeof(full),
		 "{\"filter_v1\":{},\"time_limit\":60,\"type\":\"full\",\"colo_name\":\"ORD\","
		 "\"system\":\"magic-transit\",\"destination_conf\":\"%s\"}",
		 out_dir);
	put_capture(FID, full, data, ckpt_len, journal, journal_len, nul != NULL);
	snprintf(path, sizeof(path), "%s/captures/%s/.capture.pcap.partial", state, SID);
	put_pcap(path);
	snprintf(path, sizeof(path), "%s/." FID "-edge-a.pcap.partial", out_dir);
	put_pcap(path);
	snprintf(path, sizeof(path), "%s/." FID "-evil.pcap.partial", out_dir);
	FUZZ_ASSERT(!symlink(outside, path));
	/* Another capture's files in the same destination, done and partial: not this one's. */
	snprintf(path, sizeof(path), "%s/" OID "-edge-a.pcap", out_dir);
	put_pcap(path);
	snprintf(path, sizeof(path), "%s/." OID "-edge-b.pcap.partial", out_dir);
	put_pcap(path);
}

/* --- what is outside the captures' directories -------------------------------------------- */

struct snap {
	char *buf;
	size_t len;
};

static struct snap *snap_cur;
static char allowed[3][PATH_MAX + 128];

/* The captures' directories, and in the full capture's destination only its own files. */
static bool is_allowed(const char *path)
{
	size_t i, n;

	for (i = 0; i < 2; i++) {
		n = strlen(allowed[i]);
		if (!strncmp(path, allowed[i], n) && (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	n = strlen(allowed[2]);
	if (strncmp(path, allowed[2], n) || (path[n] != '\0' && path[n] != '/'))
		return false;
	return path[n] == '\0' || !strncmp(path + n + 1, FID "-", strlen(FID "-")) ||
	       !strncmp(path + n + 1, "." FID "-", strlen("." FID "-"));
}

static int snap_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	char line[PATH_MAX + 128];
	int n;
	char *grown;

	(void)flag;
	(void)ftw;
	if (is_allowed(path))
		return 0;
	n = snprintf(line, sizeof(line), "%s %lu %o %lld %lld.%09ld\n", path,
		     (unsigned long)sb->st_ino, (unsigned)sb->st_mode, (long long)sb->st_size,
		     (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
	FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(line));
	grown = realloc(snap_cur->buf, snap_cur->len + (size_t)n + 1);
	FUZZ_ASSERT(grown);
	snap_cur->buf = grown;
	memcpy(snap_cur->buf + snap_cur->len, line, (size_t)n + 1);
	snap_cur->len += (size_t)n;
	return 0;
}

/* Every entry under base but the captures' own directories: name, inode, mode, size, mtime. */
static void snap_take(struct snap *s)
{
	s->buf = NULL;
	s->len = 0;
	snap_cur = s;
	snprintf(allowed[0], sizeof(allowed[0]), "%s/captures/%s", state, SID);
	snprintf(allowed[1], sizeof(allowed[1]), "%s/captures/%s", state, FID);
	snprintf(allowed[2], sizeof(allowed[2]), "%s", out_dir);
	FUZZ_ASSERT(!nftw(base, snap_one, 16, FTW_PHYS));
}

static void check_outside(const struct snap *before)
{
	struct snap after;
	char buf[sizeof(sentinel)];
	ssize_t n;
	int fd;

	snap_take(&after);
	if (after.len != before->len || memcmp(after.buf, before->buf, after.len))
		fprintf(stderr, "outside the captures, before:\n%s\nafter:\n%s\n", before->buf,
			after.buf);
	FUZZ_ASSERT(after.len == before->len && !memcmp(after.buf, before->buf, after.len));
	free(after.buf);
	fd = open(outside, O_RDONLY | O_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	FUZZ_ASSERT(n == (ssize_t)strlen(sentinel) && !memcmp(buf, sentinel, (size_t)n));
}

/* --- the accounts ------------------------------------------------------------------------- */

/* The whole records of a partial pcap; the file holds nothing after them. */
static void check_pcap(int dirfd, const char *name, const struct output *o)
{
	uint32_t rh[4];
	uint64_t pos = 24, packets = 0, bytes = 0;
	struct stat sb;
	int fd;

	if (!o->w || o->err)
		return;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "an open output's partial file %s: %s\n", name, strerror(errno));
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(!fstat(fd, &sb) && S_ISREG(sb.st_mode) && sb.st_size >= 24);
	while (pos + sizeof(rh) <= (uint64_t)sb.st_size) {
		FUZZ_ASSERT(pread(fd, rh, sizeof(rh), (off_t)pos) == sizeof(rh));
		if (pos + sizeof(rh) + rh[2] > (uint64_t)sb.st_size)
			break;
		pos += sizeof(rh) + rh[2];
		packets++;
		bytes += rh[2];
	}
	close(fd);
	if (pos != (uint64_t)sb.st_size || packets != o->packets || bytes != o->bytes)
		fprintf(stderr,
			"%s: %llu bytes, %llu whole records (%llu bytes) in %llu; the account says "
			"%llu records, %llu bytes\n",
			name, (unsigned long long)sb.st_size, (unsigned long long)packets,
			(unsigned long long)bytes, (unsigned long long)pos,
			(unsigned long long)o->packets, (unsigned long long)o->bytes);
	FUZZ_ASSERT(pos == (uint64_t)sb.st_size);
	FUZZ_ASSERT(packets == o->packets && bytes == o->bytes);
}

static void check_capture(struct icap *ic)
{
	uint64_t packets = 0, bytes = 0;
	char name[PATH_MAX + 32];
	size_t i, j, live = 0;

	FUZZ_ASSERT(ic->nagents <= MAX_HOSTS);
	for (i = 0; i < ic->nagents; i++) {
		struct iagent *a = ic->agents[i];

		FUZZ_ASSERT(a->index == i);
		FUZZ_ASSERT(wire_agent_id_valid(a->host, strlen(a->host)));
		FUZZ_ASSERT(agent_find(ic, a->host) == a);
		FUZZ_ASSERT(a->held == 0);
		FUZZ_ASSERT(a->ngaps <= INGEST_MAX_GAPS);
		FUZZ_ASSERT(a->live == (agent_in(a) && !a->final_received && !a->lost));
		live += a->live;
		/* A simple capture opens no host file, whatever a checkpoint names. */
		if (!ic->full) {
			FUZZ_ASSERT(!a->out.w);
			continue;
		}
		if (a->file[0]) {
			FUZZ_ASSERT(!strchr(a->file, '/') && a->file[0] != '.');
			for (j = 0; j < i; j++)
				FUZZ_ASSERT(strcmp(ic->agents[j]->file, a->file));
			snprintf(name, sizeof(name), ".%s.partial", a->file);
			check_pcap(ic->out_dirfd, name, &a->out);
		} else {
			FUZZ_ASSERT(!a->out.w);
		}
		packets += a->out.packets;
		bytes += a->out.bytes;
	}
	FUZZ_ASSERT(ic->nlive == live);
	if (ic->full) {
		FUZZ_ASSERT(ic->files_packets == packets && ic->files_bytes == bytes);
	} else {
		snprintf(name, sizeof(name), "%s/.capture.pcap.partial", ic->dir);
		check_pcap(AT_FDCWD, name, &ic->out);
	}
}

/* --- the names a resume must take --------------------------------------------------------- */

/*
 * Whether file is a name host_file_name (output.c) makes for host in the full capture:
 * FID-<host, each byte but letters, digits, '.', '_' and '-' made '_'>.pcap, or the same with
 * "-<n>" (n >= 2, as %u prints it) before ".pcap".
 */
static bool made_for(const char *host, const char *file)
{
	static const char pre[] = FID "-";
	size_t i, n = strlen(host);
	const char *p;

	if (strlen(file) > NAME_MAX || strncmp(file, pre, sizeof(pre) - 1))
		return false;
	p = file + sizeof(pre) - 1;
	for (i = 0; i < n; i++, p++) {
		char c = host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		if (*p != (ok ? c : '_'))
			return false;
	}
	if (!strcmp(p, ".pcap"))
		return true;
	if (p[0] != '-' || p[1] < '1' || p[1] > '9')
		return false;
	for (p += 2; *p >= '0' && *p <= '9'; p++)
		;
	return !strcmp(p, ".pcap") && strcmp(p - 2, "-1.pcap");
}

/*
 * Each host's first entry in a checkpoint makes its agent, with that entry's gaps alone; its
 * "file", when of host_file_name's form, is taken back unless an agent before took that name:
 * refused, the host's file would be made afresh (its records lost) and its partial file removed at
 * the capture's end (hosts_sweep). The agents agent_load makes: each valid host id's first entry,
 * up to MAX_HOSTS.
 */
static void check_first_entries(const uint8_t *ckpt, size_t len, struct icap *ic)
{
	char taken[MAX_HOSTS][NAME_MAX + 1];
	size_t i, j, n = 0, gaps;
	uint64_t last;
	const json_t *e, *g;
	json_t *root = json_loadb((const char *)ckpt, len, 0, NULL);

	if (!root)
		return;
	if (json_integer_value(json_object_get(root, "version")) != 1 ||
	    !json_is_array(json_object_get(root, "agents"))) {
		json_decref(root);
		return;
	}
	json_array_foreach (json_object_get(root, "agents"), i, e) {
		const char *host = json_string_value(json_object_get(e, "host"));
		const char *file = json_string_value(json_object_get(e, "file"));
		struct iagent *a;
		bool free_name = true;

		if (n == MAX_HOSTS)
			break;
		if (!host || !wire_agent_id_valid(host, strlen(host)))
			continue;
		for (j = 0; j < n && strcmp(ic->agents[j]->host, host); j++)
			;
		if (j < n)
			continue;
		a = ic->agents[n];
		FUZZ_ASSERT(!strcmp(a->host, host));
		/* Its gaps are this entry's alone: a later entry of the same host is skipped. */
		gaps = 0;
		last = 0;
		json_array_foreach (json_object_get(e, "gaps"), j, g) {
			json_int_t lo = json_integer_value(json_array_get(g, 0));
			json_int_t hi = json_integer_value(json_array_get(g, 1));

			/* Those seq_note could have made: sorted, apart, below highest_seq. */
			if (lo > 0 && hi >= lo && (uint64_t)hi <= a->highest_seq &&
			    (uint64_t)lo > last) {
				gaps++;
				last = (uint64_t)hi;
			}
		}
		FUZZ_ASSERT(a->ngaps == (gaps < INGEST_MAX_GAPS ? gaps : INGEST_MAX_GAPS));
		for (j = 0; j < a->ngaps; j++)
			FUZZ_ASSERT(a->gaps[j].lo <= a->gaps[j].hi &&
				    a->gaps[j].hi <= a->highest_seq &&
				    (!j || a->gaps[j].lo > a->gaps[j - 1].hi));
		if (file && made_for(host, file)) {
			for (j = 0; j < n; j++)
				free_name &= strcmp(taken[j], file) != 0;
			if (free_name && strcmp(a->file, file))
				fprintf(stderr, "host %s's file %s not taken back (\"%s\")\n", host,
					file, a->file);
			FUZZ_ASSERT(!free_name || !strcmp(a->file, file));
		}
		snprintf(taken[n], sizeof(taken[n]), "%s", a->file);
		n++;
	}
	json_decref(root);
}

/* --- a second restart --------------------------------------------------------------------- */

/* A capture's accounts after a resume: what the next resume, from its checkpoint, must give. */
struct seen {
	char id[STORE_ID_LEN + 1];
	size_t n;
	struct iagent a[MAX_HOSTS]; /* shallow copies: info and gaps are the copies below */
	json_t *info[MAX_HOSTS];
	struct gap *gaps[MAX_HOSTS];
	struct output out;
};

static void seen_take(struct seen *s, const struct icap *ic)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", ic->rec.id);
	s->n = ic->nagents;
	s->out = ic->out;
	for (i = 0; i < ic->nagents; i++) {
		s->a[i] = *ic->agents[i];
		s->info[i] = json_incref(ic->agents[i]->info);
		s->gaps[i] = malloc((ic->agents[i]->ngaps + 1) * sizeof(struct gap));
		FUZZ_ASSERT(s->gaps[i]);
		if (ic->agents[i]->ngaps)
			memcpy(s->gaps[i], ic->agents[i]->gaps,
			       ic->agents[i]->ngaps * sizeof(struct gap));
	}
}

static void seen_free(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		json_decref(s->info[i]);
		free(s->gaps[i]);
	}
	s->n = 0;
}

/* Counts past INT64_MAX are written as INT64_MAX (the checkpoint's JSON integers are signed). */
static uint64_t sat(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : v;
}

static bool same_output(const struct output *x, const struct output *y)
{
	return sat(x->packets) == sat(y->packets) && sat(x->bytes) == sat(y->bytes) &&
	       sat(x->over_limit) == sat(y->over_limit) && sat(x->last_ts) == sat(y->last_ts) &&
	       x->packet_limit_hit == y->packet_limit_hit && x->byte_limit_hit == y->byte_limit_hit;
}

#define SAME(f) (sat(x->f) == sat(y->f))

static bool same_agent(const struct iagent *x, const struct iagent *y)
{
	return !strcmp(x->host, y->host) && !strcmp(x->file, y->file) && SAME(expected) &&
	       SAME(heard) && SAME(final_received) && SAME(final_late) && SAME(lost) &&
	       SAME(batches) && SAME(records) && SAME(highest_seq) && SAME(duplicates) &&
	       SAME(newest_ts) && SAME(records_written) && SAME(over_limit) && SAME(out_of_order) &&
	       SAME(late_batches) && SAME(lost_at_restart) && SAME(held) && SAME(ngaps) &&
	       SAME(fin.reason) && !strcmp(x->fin.error, y->fin.error) &&
	       !memcmp(&x->fin.c, &y->fin.c, sizeof(x->fin.c)) && SAME(fin.start_ns) &&
	       SAME(fin.stop_ns) && same_output(&x->out, &y->out);
}

#undef SAME

/*
 * The checkpoint a graceful stop wrote after a resume reads back to the same accounts: nothing
 * is lost or counted twice from one restart to the next, and what the first resume made of a
 * damaged checkpoint is what the next one keeps.
 */
static void check_same(const struct seen *s, const struct icap *ic)
{
	size_t i;

	FUZZ_ASSERT(!ic->no_state);
	FUZZ_ASSERT(ic->nagents == s->n);
	FUZZ_ASSERT(same_output(&ic->out, &s->out));
	for (i = 0; i < s->n; i++) {
		const struct iagent *a = ic->agents[i];

		if (!same_agent(a, &s->a[i]))
			fprintf(stderr,
				"capture %s: agent %s not the same after a second restart\n",
				ic->rec.id, a->host);
		FUZZ_ASSERT(same_agent(a, &s->a[i]));
		FUZZ_ASSERT(!a->ngaps ||
			    !memcmp(a->gaps, s->gaps[i], a->ngaps * sizeof(struct gap)));
		FUZZ_ASSERT(!a->info == !s->info[i]);
		FUZZ_ASSERT(!a->info || json_equal(a->info, s->info[i]));
	}
}

static void restart(struct store **st, struct ingest **in)
{
	struct ingest_opts iopts = { .window_ms = 1000,
				     .checkpoint_ms = 1000,
				     .max_hosts = MAX_HOSTS };
	const char *roots[1] = { dest };
	struct store_opts sopts = { .state_dir = state, .dest_roots = roots, .n_dest_roots = 1 };
	char err[PATH_MAX + 256];
	int ret;

	ret = store_open(&sopts, st, err, sizeof(err));
	if (ret)
		fprintf(stderr, "store_open: %s\n", err);
	FUZZ_ASSERT(!ret);
	ret = ingest_open(*st, &iopts, in, err, sizeof(err));
	if (ret)
		fprintf(stderr, "ingest_open: %s\n", err);
	FUZZ_ASSERT(!ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ingest *in = NULL;
	struct store *st = NULL;
	struct seen seen[2];
	struct snap before;
	struct icap *ic;
	const uint8_t *nul = memchr(data, 0, size);
	size_t i, n = 0;

	if (!base[0])
		setup();
	put_state(data, size);
	snap_take(&before);

	/* The restart: the store loads both running captures, the ingest resumes them. */
	restart(&st, &in);
	for (ic = in->caps; ic; ic = ic->next) {
		FUZZ_ASSERT(!strcmp(ic->rec.id, SID) || !strcmp(ic->rec.id, FID));
		FUZZ_ASSERT(ic->full == !strcmp(ic->rec.id, FID));
		FUZZ_ASSERT(n < 2);
		check_capture(ic);
		if (ic->full)
			check_first_entries(data, nul ? (size_t)(nul - data) : size, ic);
		seen_take(&seen[n++], ic);
	}
	FUZZ_ASSERT(n == 2);
	/* A graceful stop: the window written out, a checkpoint, the files left for next time. */
	ingest_close(in);
	store_close(st);

	/* Another restart, from the checkpoint the stop wrote: the same accounts. */
	restart(&st, &in);
	for (ic = in->caps; ic; ic = ic->next) {
		check_capture(ic);
		for (i = 0; i < n; i++) {
			if (!strcmp(ic->rec.id, seen[i].id))
				check_same(&seen[i], ic);
		}
	}
	ingest_close(in);
	store_close(st);
	for (i = 0; i < n; i++)
		seen_free(&seen[i]);

	check_outside(&before);
	free(before.buf);
	return 0;
}
