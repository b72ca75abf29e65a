// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_ingest: benchmark B4a, the aggregator's ingest rate on one core.
 *
 * Builds, in memory and before any timing, the batches that N agents (1, 3, 8) would send for
 * one capture: 512-byte UDP/IPv4 frames cut to 160 bytes (the simple capture's snaplen), 28-byte
 * record headers, batches bounded as the agent bounds them (wire_batch_new's default raw size,
 * so about 1,400 records a batch at full rate), made by wire_batch_add and wire_batch_finish
 * (deflated or stored as the agent decides), then one final message per agent
 * (wire_final_encode). The agents' clocks
 * interleave: agent i's k-th record has timestamp t0 + (k * N + i) / rate seconds (--rate, the
 * merged stream's packets a second: 1 Mpps by default, one record a microsecond), so the merged
 * pcap alternates between agents record by record, and batches are fed round robin, one per
 * agent in turn, as a PULL socket fair-queues them. Frame payloads are pseudo-random, like
 * encrypted traffic, so deflate earns only what the headers give (the footer shows the ratio);
 * --payload zeros gives ec_livegen's instead (an ECT1 header, then zeros), which deflates to
 * almost nothing.
 *
 * Rows for each N, every one over the same records:
 *   pcap_writer alone  the records in merged order through pcap_writer_open/_write/_close: the
 *                      ceiling, what writing the pcap costs with nothing else to do;
 *   decode only        wire_decode, wire_iter_next over every record, wire_msg_release;
 *   ingest, simple     ingest_feed of every message into a running simple capture, and
 *                      ingest_tick after every INGEST_MAX_MSGS_DEFAULT messages, as
 *                      ingest_handle does on the aggregator's loop (checkpoints included), then
 *                      each agent's final message, until the capture finished (window written
 *                      out, pcap fsynced and renamed, manifest written): when the pcap holds
 *                      packet_limit packets, which the last records make it reach;
 *   ingest, full       the same into a full capture: one file per agent, no reorder window; it
 *                      finishes on the last final message.
 * The decode and simple-ingest rows come twice: with the batches as wire_batch_finish made them
 * (deflated) and in the stored form, the same message with DEFLATE clear and the raw payload
 * (docs/protocol.md 4.3), which a sender uses when deflate does not pay.
 *
 * What the agent links' security costs (protocol 1.1: every message MAC'd, links over mutual
 * TLS), over the same batches as they were made:
 *   ingest, MAC        ingest_feed with require_auth, each message with its HMAC-SHA256 trailer
 *                      under its agent's session key (ingest_bind_key): the MAC check alone;
 *   over tcp://        the aggregator's receive path: ingest_open binds a PULL socket on
 *                      127.0.0.1 (plaintext, as --insecure-plaintext), a child process (the
 *                      agents, on another CPU) PUSHes the messages, and the benchmark runs the
 *                      aggregator's loop (poll on ingest_fd and ingest_timer_fd, ingest_handle)
 *                      until the capture finished; CPU is the whole process's, NNG's threads
 *                      included;
 *   over tls+tcp://    the same over mutual TLS with MACs checked, as a real fleet runs;
 * the last two only with --tls-dir DIR (ca.pem, aggregator.pem/.key with DNS:127.0.0.1,
 * agent.pem/.key: run-fleet.sh makes them with the openssl CLI). Their footer also gives the
 * sending child's CPU per packet (NNG's send path, TLS encryption and, over TLS, the MACs):
 * the agent's side of the wire.
 *
 * The capture is made the honest way, through the store: store_create, ingest_capture_start,
 * store_mark_running, ingest_expect_agent for each agent, ingest_expect_done, as the fan-out
 * does. One thing is not the API's: packet_limit. A simple capture through the API takes at most
 * 10,000 packets (REQ_PACKET_LIMIT_MAX), a few milliseconds of work; to time millions of records
 * the request is built by hand with packet_limit = the number of records. store_create does not
 * check the API's ranges (its caller validates in REQ_SCOPE_API), and the ingest uses the limit
 * only as a count to compare against, so the code that runs is the code a 10,000-packet capture
 * runs, for longer. Each run is a new capture in one store (no rate rules); capture ids are
 * written into the prepared messages' headers (offset 8) before each run, outside the timing.
 *
 * Output goes under --dir (default $TMPDIR or /tmp); the table names its file system. On tmpfs
 * fsync costs nothing and the figures are the CPU's; on a disk they include waiting for it, which
 * "wall" shows and "CPU" (the process's CPU time) does not. Pin it to one CPU (run-fleet.sh uses
 * taskset): the ingest runs on one thread, as on the aggregator's main loop.
 *
 * Not a test: it prints numbers and never judges them. It checks only that every run did what
 * its row says (every record decoded, every record in the pcap, the capture finished).
 */
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <netinet/in.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "bench_util.h"
#include "identity.h"
#include "ingest.h"
#include "log.h"
#include "pcap_writer.h"
#include "store.h"
#include "tls.h"
#include "wire.h"

#define RUNS_MAX   31
#define SNAPLEN	   REQ_SIMPLE_SNAPLEN
#define MAX_AGENTS 16384 /* bench_scale.sh compares 8 with 10,000 */
#define PCAP_HDR   24
#define PCAP_REC   16
#define ACCOUNT	   "bench"
/* docs/protocol.md 4.2: where a message's header keeps these fields. */
#define OFF_FLAGS	7
#define OFF_CAPTURE_ID	8
#define OFF_PAYLOAD_LEN 36
#define OFF_AGENT_LEN	44
_Static_assert(RUNS_MAX <= BENCH_RUNS_MAX, "bench_median takes at most BENCH_RUNS_MAX runs");

enum row {
	ROW_WRITER,
	ROW_DECODE_DEFLATED,
	ROW_DECODE_STORED,
	ROW_INGEST_DEFLATED,
	ROW_INGEST_STORED,
	ROW_INGEST_FULL,
	ROW_INGEST_MAC,
	ROW_LINK_TCP,
	ROW_LINK_TLS,
	ROW_COUNT,
};

struct bench_opts {
	uint64_t records; /* per case, all agents together */
	uint32_t runs;
	uint32_t frame_len; /* orig_len of every record; SNAPLEN bytes of it are kept */
	const char *dir;
	uint32_t agents; /* 0: 1, 3 and 8 */
	uint32_t
		batch_ms; /* a batch spans at most this much of its agent's timeline; 0: no bound */
	uint32_t rate;	  /* packets a second of the merged stream (the agents' timeline) */
	uint64_t held_max;   /* the reorder window's bound (the aggregator's --reorder-max-bytes) */
	unsigned int only;   /* one row (for profiling), or ROW_COUNT: all */
	bool zeros;	     /* payloads: ec_livegen's (ECT1 header, zeros), not random */
	const char *tls_dir; /* the certificates of the link rows; NULL: no link rows */
	/* The sender of a link row (run_link execs the benchmark with these). */
	const char *send_url;
	uint32_t send_fd, report_fd;
};

static const struct bench_opts bench_defaults = {
	.records = 2000000,
	.runs = 5,
	.frame_len = 512,
	.only = ROW_COUNT,
	.batch_ms = 100,
	.rate = 1000000,
	.held_max = INGEST_HELD_MAX_DEFAULT,
};

struct msgbuf {
	uint8_t *data;
	size_t len;
};

/* A record of the merged stream, for the pcap_writer baseline; data points into a message. */
struct flat_record {
	uint64_t ts;
	const uint8_t *data;
	uint32_t caplen, origlen;
};

/* What N agents send for one capture, in the order the aggregator takes it. */
struct corpus {
	unsigned int agents;
	uint64_t records;
	struct msgbuf *deflated, *stored; /* batches, round robin over the agents */
	struct msgbuf *maced;		  /* the deflated ones with a MAC trailer */
	size_t nmsgs;
	struct msgbuf finals[MAX_AGENTS], finals_maced[MAX_AGENTS];
	uint64_t deflated_bytes, stored_bytes; /* on the wire, all batches */
	struct flat_record *flat;	       /* merged (timestamp) order */
};

static const char *const row_names[] = {
	[ROW_WRITER] = "pcap_writer alone (baseline)",
	[ROW_DECODE_DEFLATED] = "decode only",
	[ROW_DECODE_STORED] = "decode only",
	[ROW_INGEST_DEFLATED] = "ingest_feed, simple capture",
	[ROW_INGEST_STORED] = "ingest_feed, simple capture",
	[ROW_INGEST_FULL] = "ingest_feed, full capture",
	[ROW_INGEST_MAC] = "ingest_feed, simple capture, MACs checked",
	[ROW_LINK_TCP] = "over tcp:// (plaintext), simple capture",
	[ROW_LINK_TLS] = "over tls+tcp://, MACs checked, simple capture",
};

/* --row names, for profiling one row alone. */
static const char *const row_keys[] = {
	[ROW_WRITER] = "writer",
	[ROW_DECODE_DEFLATED] = "decode-deflated",
	[ROW_DECODE_STORED] = "decode-stored",
	[ROW_INGEST_DEFLATED] = "simple-deflated",
	[ROW_INGEST_STORED] = "simple-stored",
	[ROW_INGEST_FULL] = "full",
	[ROW_INGEST_MAC] = "simple-mac",
	[ROW_LINK_TCP] = "tcp",
	[ROW_LINK_TLS] = "tls",
};

static const char *const row_forms[] = {
	[ROW_WRITER] = "-",
	[ROW_DECODE_DEFLATED] = "deflated",
	[ROW_DECODE_STORED] = "stored",
	[ROW_INGEST_DEFLATED] = "deflated",
	[ROW_INGEST_STORED] = "stored",
	[ROW_INGEST_FULL] = "deflated",
	[ROW_INGEST_MAC] = "deflated",
	[ROW_LINK_TCP] = "deflated",
	[ROW_LINK_TLS] = "deflated",
};

struct result {
	double wall[RUNS_MAX]; /* ns per record */
	double cpu[RUNS_MAX];
	double sender_cpu[RUNS_MAX]; /* link rows: the sending child's CPU ns per record */
	double kernel[RUNS_MAX];     /* of the process's CPU, ns per record in the kernel */
	uint64_t out_of_order;	     /* records written out of timestamp order, most of a run */
	uint64_t pcap_bytes;	     /* of the last run */
};

struct bench {
	struct bench_opts opts;
	uint64_t out_of_order; /* the last simple capture's records_out_of_order, all agents */
	char state_dir[PATH_MAX];
	char dest_dir[PATH_MAX + 32];
	struct store *store;
	struct ingest *ingest;
	struct ingest *auth;	  /* require_auth, no socket */
	struct ingest *tcp, *tls; /* with a socket: tcp:// and tls+tcp:// (require_auth) */
	char tcp_url[64], tls_url[64];
	struct tls_opts agg_tls, agent_tls;
	bool finished; /* the hooks' word that the running capture finished */
	uint64_t rng;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_ingest [--records N] [--runs N] [--frame BYTES] [--dir DIR]\n"
		"                    [--agents N] [--row NAME] [--payload random|zeros]\n"
		"                    [--batch-ms MS] [--rate PPS] [--reorder-max-bytes BYTES]\n"
		"                    [--tls-dir DIR]\n"
		"\n"
		"Benchmark B4a: the aggregator's ingest rate on one core. Feeds prepared batches "
		"of\n"
		"1, 3 and 8 agents (160-byte records) through ingest_feed into a simple and a "
		"full\n"
		"capture, beside pcap_writer alone and wire_decode alone over the same records, "
		"and\n"
		"prints a Markdown table of medians. No privileges; pin it to one CPU.\n"
		"\n"
		"options:\n"
		"  --records N    records per case, all agents together (default 2000000)\n"
		"  --runs N       runs per case, median reported, 1..%d (default 5)\n"
		"  --payload random|zeros  packet payloads: random, like encrypted traffic\n"
		"                 (default), or ec_livegen's ECT1 header and zeros\n"
		"  --frame BYTES  original frame length, %d..1514 (default 512)\n"
		"  --tls-dir DIR  also the link rows, over tcp:// and tls+tcp:// on 127.0.0.1,\n"
		"                 with DIR's ca.pem, aggregator.pem/.key and agent.pem/.key\n"
		"  --dir DIR      where the temporary state directory goes (default $TMPDIR or "
		"/tmp)\n"
		"  --agents N     only N agents, 1..%d (default: 1, 3 and 8)\n"
		"  --batch-ms MS  a batch holds at most MS of its agent's records, as the\n"
		"                 agent's --batch-ms (default 100; 0: the size bound only)\n"
		"  --rate PPS     packets a second of the merged stream, all agents together:\n"
		"                 the records' timestamps, and so how many records an agent's\n"
		"                 batch holds under --batch-ms (default 1000000)\n"
		"  --reorder-max-bytes BYTES  the reorder window's bound, as the aggregator's\n"
		"                 (default 67108864: 64 MiB)\n"
		"  --row NAME     only one row, for profiling: writer, decode-deflated,\n"
		"                 decode-stored, simple-deflated, simple-stored, full,\n"
		"                 simple-mac (MACs checked, as a fleet runs); with --tls-dir\n"
		"                 also tcp and tls\n"
		"\n"
		"examples:\n"
		"  taskset -c 1 build/tests/bench/bench_ingest\n"
		"  taskset -c 1 build/tests/bench/bench_ingest --records 500000 --dir /dev/shm\n"
		"  perf record -g build/tests/bench/bench_ingest --agents 3 --row "
		"simple-deflated\n",
		RUNS_MAX, SNAPLEN, MAX_AGENTS);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

/*
 * The first SNAPLEN bytes of agent's k-th frame: Ethernet, IPv4 192.0.2.(agent+1) ->
 * 198.51.100.1, UDP from a port that changes per packet to 5001, then random payload (or
 * zeros after an ECT1 header).
 */
static void frame_build(uint8_t *f, uint32_t frame_len, unsigned int agent, uint64_t k, bool zeros,
			uint64_t *rng)
{
	static const uint8_t head[] = { 0x02, 0xec, 0x00, 0x00, 0x00, 0x02, 0x02, 0xec, 0x00,
					0x00, 0x01, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x00,
					0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192,
					0,    2,    1,	  198,	51,   100,  1,	  0x00, 0x00,
					0x13, 0x89, 0x00, 0x00, 0x00, 0x00 };
	uint32_t i;

	memcpy(f, head, sizeof(head));
	f[11] = (uint8_t)agent;
	put_be16(f + 16, (uint16_t)(frame_len - 14));
	put_be16(f + 18, (uint16_t)k);
	f[29] = (uint8_t)(agent + 1);
	put_be16(f + 34, (uint16_t)(1024 + k % 50000));
	put_be16(f + 38, (uint16_t)(frame_len - 34));
	if (zeros) {
		/* As ec_livegen's frames: "ECT1", a sequence number, zeros. */
		memset(f + sizeof(head), 0, SNAPLEN - sizeof(head));
		memcpy(f + sizeof(head), "ECT1", 4);
		put_be32(f + sizeof(head) + 4, (uint32_t)k);
		return;
	}
	for (i = sizeof(head); i + 8 <= SNAPLEN; i += 8) {
		uint64_t r = bench_rng_next(rng);

		memcpy(f + i, &r, 8);
	}
	for (; i < SNAPLEN; i++)
		f[i] = (uint8_t)bench_rng_next(rng);
}

static void corpus_free(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->nmsgs; i++) {
		if (c->stored && c->stored[i].data != c->deflated[i].data)
			free(c->stored[i].data);
		if (c->deflated)
			free(c->deflated[i].data);
	}
	for (i = 0; i < c->nmsgs && c->maced; i++)
		free(c->maced[i].data);
	for (i = 0; i < MAX_AGENTS; i++) {
		free(c->finals[i].data);
		free(c->finals_maced[i].data);
	}
	free(c->maced);
	free(c->deflated);
	free(c->stored);
	free(c->flat);
	memset(c, 0, sizeof(*c));
}

static void agent_name(unsigned int i, char *buf, size_t len)
{
	snprintf(buf, len, "bench-agent-%u", i);
}

/* Agent i's session key (fixed: the benchmark is both sides). */
static void agent_key(unsigned int i, uint8_t key[ID_KEY_LEN])
{
	memset(key, 0x40 + (int)i, ID_KEY_LEN);
}

/* A copy of in with room for the MAC trailer and WIRE_F_MAC set (corpus_mac fills it). */
static int msg_maced(const struct msgbuf *in, struct msgbuf *out)
{
	void *p = malloc(in->len);

	if (!p)
		return -ENOMEM;
	memcpy(p, in->data, in->len);
	out->len = in->len;
	if (wire_mac_frame(&p, &out->len)) {
		free(p);
		return -ENOMEM;
	}
	out->data = p;
	return 0;
}

/* The MAC of a framed message under its agent's key ("bench-agent-N": N from the id). */
static void msg_mac(struct msgbuf *m)
{
	uint8_t key[ID_KEY_LEN];

	agent_key((unsigned int)atoi((const char *)m->data + WIRE_HDR_LEN + 12), key);
	id_mac(key, m->data, m->len - WIRE_MAC_LEN, m->data + m->len - WIRE_MAC_LEN);
}

/*
 * The stored form of a batch: the same header with DEFLATE clear and payload_len = raw_len,
 * then the raw payload. A batch that was stored already is shared.
 */
static int msg_stored(const struct msgbuf *in, struct msgbuf *out)
{
	size_t hdr = WIRE_HDR_LEN + in->data[OFF_AGENT_LEN];
	char reason[128];
	struct wire_msg m;
	int err;

	err = wire_decode(in->data, in->len, &m, reason, sizeof(reason));
	if (err) {
		fprintf(stderr, "bench_ingest: a batch of our own does not decode: %s\n", reason);
		return err;
	}
	if (!(m.flags & WIRE_F_DEFLATE)) {
		*out = *in;
		wire_msg_release(&m);
		return 0;
	}
	out->len = hdr + m.raw_len;
	out->data = malloc(out->len);
	if (!out->data) {
		wire_msg_release(&m);
		return -ENOMEM;
	}
	memcpy(out->data, in->data, hdr);
	out->data[OFF_FLAGS] = 0;
	put_be32(out->data + OFF_PAYLOAD_LEN, m.raw_len);
	memcpy(out->data + hdr, m.raw, m.raw_len);
	wire_msg_release(&m);
	return 0;
}

static int flat_cmp(const void *a, const void *b)
{
	const struct flat_record *x = a, *y = b;

	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Every record of the stored batches, in timestamp order: the merged pcap's content. */
static int corpus_flatten(struct corpus *c)
{
	struct wire_record rec;
	struct wire_iter it;
	struct wire_msg m;
	char reason[128];
	uint64_t n = 0;
	size_t i;
	int err;

	c->flat = calloc(c->records, sizeof(*c->flat));
	if (!c->flat)
		return -ENOMEM;
	for (i = 0; i < c->nmsgs; i++) {
		/* Stored: the records point into the message itself, which the corpus keeps. */
		err = wire_decode(c->stored[i].data, c->stored[i].len, &m, reason, sizeof(reason));
		if (err)
			return err;
		wire_iter_init(&it, &m);
		while (!wire_iter_next(&it, &rec, reason, sizeof(reason)) && n < c->records)
			c->flat[n++] = (struct flat_record){ .ts = rec.tstamp_ns,
							     .data = rec.data,
							     .caplen = rec.cap_len,
							     .origlen = rec.orig_len };
		wire_msg_release(&m);
	}
	if (n != c->records)
		return -EPROTO;
	qsort(c->flat, n, sizeof(*c->flat), flat_cmp);
	return 0;
}

/* The messages of agents agents, records records in all; see the comment at the top. */
static int corpus_build(struct bench *b, unsigned int agents, struct corpus *c)
{
	uint64_t per_agent = b->opts.records / agents, k, t0, gap_ns = 1000000000ull / b->opts.rate;
	struct msgbuf *lists[MAX_AGENTS] = { 0 };
	size_t counts[MAX_AGENTS] = { 0 }, caps[MAX_AGENTS] = { 0 }, i, j, n;
	uint8_t id[WIRE_CAPTURE_ID_LEN] = { 0 }, frame[SNAPLEN];
	struct wire_batch *wb = NULL;
	struct timespec ts;
	char host[32];
	int err = 0;

	memset(c, 0, sizeof(*c));
	c->agents = agents;
	c->records = per_agent * agents;
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;

	for (i = 0; i < agents && !err; i++) {
		struct wire_final fin = { .reason = WIRE_STOP_STOPPED };
		struct wire_record wr = { .ifindex = 2,
					  .orig_len = b->opts.frame_len,
					  .cap_len = SNAPLEN,
					  .hook = EC_HOOK_XDP,
					  .data = frame };
		void *msg;
		size_t len;

		uint64_t first_ts = 0, n_in = 0, age_ns = (uint64_t)b->opts.batch_ms * 1000000;

		agent_name((unsigned int)i, host, sizeof(host));
		err = wire_batch_new(id, host, 0, &wb);
		for (k = 0; k <= per_agent && !err; k++) {
			bool last = k == per_agent;

			if (!last) {
				wr.tstamp_ns = t0 + (k * agents + i) * gap_ns;
				frame_build(frame, b->opts.frame_len, (unsigned int)i, k,
					    b->opts.zeros, &b->rng);
				/*
				 * Older than --batch-ms: shipped, as batcher_tick does. With 10,000
				 * agents at --rate 1 Mpps that is 10 records a batch (at 4 Mpps,
				 * 40: an agent's batch holds rate / agents * batch_ms); without it,
				 * one batch spanned an agent's whole capture, and the reorder
				 * window held every record until the last agent's came.
				 */
				if (!age_ns || !n_in || wr.tstamp_ns - first_ts < age_ns) {
					err = wire_batch_add(wb, &wr);
					if (!err && !n_in++)
						first_ts = wr.tstamp_ns;
					if (err != -ENOSPC)
						continue;
				}
			}
			/* The bound reached (or the end): finish the batch, as batcher_flush does.
			 */
			err = wire_batch_finish(wb, &msg, &len);
			if (err)
				break;
			if (counts[i] == caps[i]) {
				struct msgbuf *grown;

				caps[i] = caps[i] ? 2 * caps[i] : 64;
				grown = realloc(lists[i], caps[i] * sizeof(*grown));
				if (!grown) {
					free(msg);
					err = -ENOMEM;
					break;
				}
				lists[i] = grown;
			}
			lists[i][counts[i]++] = (struct msgbuf){ .data = msg, .len = len };
			n_in = 0;
			if (!last)
				err = wire_batch_add(wb, &wr);
			if (!last && !err) {
				n_in = 1;
				first_ts = wr.tstamp_ns;
			}
		}
		if (err)
			break;
		fin.c.submitted = fin.c.matched = fin.c.seen = fin.c.packets_sent = per_agent;
		fin.c.bytes = fin.c.bytes_sent = per_agent * SNAPLEN;
		fin.c.batches_sent = fin.c.last_seq = wire_batch_last_seq(wb);
		fin.start_ns = t0;
		fin.stop_ns = t0 + per_agent * agents * gap_ns;
		err = wire_final_encode(id, host, &fin, &msg, &len);
		if (!err)
			c->finals[i] = (struct msgbuf){ .data = msg, .len = len };
		wire_batch_free(wb);
		wb = NULL;
	}
	wire_batch_free(wb);
	if (err) {
		fprintf(stderr, "bench_ingest: failed to build the batches: %s\n", strerror(-err));
		goto cleanup;
	}

	/* Round robin over the agents, one batch each in turn. */
	for (i = 0, n = 0; i < agents; i++)
		n += counts[i];
	c->deflated = calloc(n, sizeof(*c->deflated));
	c->stored = calloc(n, sizeof(*c->stored));
	if (!c->deflated || !c->stored) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (j = 0; c->nmsgs < n; j++) {
		for (i = 0; i < agents; i++) {
			if (j < counts[i])
				c->deflated[c->nmsgs++] = lists[i][j];
		}
	}
	for (i = 0; i < agents; i++)
		counts[i] = 0; /* the messages are the corpus's now */
	c->maced = calloc(n, sizeof(*c->maced));
	if (!c->maced) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n && !err; i++) {
		err = msg_stored(&c->deflated[i], &c->stored[i]);
		if (!err)
			err = msg_maced(&c->deflated[i], &c->maced[i]);
		c->deflated_bytes += c->deflated[i].len;
		c->stored_bytes += c->stored[i].len;
	}
	for (i = 0; i < agents && !err; i++)
		err = msg_maced(&c->finals[i], &c->finals_maced[i]);
	if (!err)
		err = corpus_flatten(c);
	if (err)
		fprintf(stderr, "bench_ingest: failed to prepare the batches: %s\n",
			strerror(-err));
cleanup:
	for (i = 0; i < agents; i++) {
		for (j = 0; j < counts[i]; j++)
			free(lists[i][j].data);
		free(lists[i]);
	}
	if (err)
		corpus_free(c);
	return err;
}

static void corpus_set_id(struct corpus *c, const uint8_t id[WIRE_CAPTURE_ID_LEN])
{
	size_t i;

	for (i = 0; i < c->nmsgs; i++) {
		memcpy(c->deflated[i].data + OFF_CAPTURE_ID, id, WIRE_CAPTURE_ID_LEN);
		memcpy(c->stored[i].data + OFF_CAPTURE_ID, id, WIRE_CAPTURE_ID_LEN);
		memcpy(c->maced[i].data + OFF_CAPTURE_ID, id, WIRE_CAPTURE_ID_LEN);
	}
	for (i = 0; i < c->agents; i++) {
		memcpy(c->finals[i].data + OFF_CAPTURE_ID, id, WIRE_CAPTURE_ID_LEN);
		memcpy(c->finals_maced[i].data + OFF_CAPTURE_ID, id, WIRE_CAPTURE_ID_LEN);
	}
}

/* The MACs of the MAC'd messages, after corpus_set_id (outside the timing, as the agent's). */
static void corpus_mac(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->nmsgs; i++)
		msg_mac(&c->maced[i]);
	for (i = 0; i < c->agents; i++)
		msg_mac(&c->finals_maced[i]);
}

static int file_size(const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* The baseline: the merged records through pcap_writer, nothing else. */
static int run_writer(struct bench *b, const struct corpus *c, double *wall, double *cpu,
		      uint64_t *bytes)
{
	struct pcap_writer *w = NULL;
	char path[PATH_MAX + 16], err[256];
	struct bench_span sp;
	uint64_t i;
	int ret;

	snprintf(path, sizeof(path), "%s/baseline.pcap", b->state_dir);
	bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
	ret = pcap_writer_open(path, SNAPLEN, &w, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_ingest: %s\n", err);
		return ret;
	}
	for (i = 0; i < c->records && !ret; i++)
		ret = pcap_writer_write(w, c->flat[i].ts, c->flat[i].data, c->flat[i].caplen,
					c->flat[i].origlen);
	if (ret) {
		pcap_writer_close(w, false);
		return ret;
	}
	ret = pcap_writer_close(w, true);
	bench_span_add(&sp, wall, cpu);
	if (!ret)
		ret = file_size(path, bytes);
	unlink(path);
	return ret;
}

static int run_decode(const struct corpus *c, const struct msgbuf *msgs, double *wall, double *cpu)
{
	uint64_t records = 0, sum = 0;
	struct wire_record rec;
	struct wire_iter it;
	struct wire_msg m;
	struct bench_span sp;
	char reason[128];
	size_t i;
	int ret;

	bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < c->nmsgs; i++) {
		ret = wire_decode(msgs[i].data, msgs[i].len, &m, reason, sizeof(reason));
		if (ret) {
			fprintf(stderr, "bench_ingest: decode: %s\n", reason);
			return ret;
		}
		wire_iter_init(&it, &m);
		while (!wire_iter_next(&it, &rec, reason, sizeof(reason))) {
			records++;
			/* Touch the packet, as a writer would. */
			sum += rec.cap_len + rec.data[rec.cap_len - 1];
		}
		wire_msg_release(&m);
	}
	bench_span_add(&sp, wall, cpu);
	if (records != c->records || !sum) {
		fprintf(stderr, "bench_ingest: decoded %" PRIu64 " records of %" PRIu64 "\n",
			records, c->records);
		return -EPROTO;
	}
	return 0;
}

/* A new capture in the store, set up as the fan-out sets one up once its agents accepted. */
static int capture_make(struct bench *b, struct ingest *in, const struct corpus *c, bool full,
			struct capture_rec *rec)
{
	struct capture_request req = { 0 };
	char err[256], host[32];
	unsigned int i;
	int ret;

	req.has = REQ_HAS_TIME_LIMIT | REQ_HAS_PACKET_LIMIT | REQ_HAS_TYPE | REQ_HAS_SYSTEM |
		  REQ_HAS_SNAPLEN;
	req.time_limit = REQ_TIME_LIMIT_MAX;
	/* Past the API's 10,000 (see the comment at the top): the same code, for longer. */
	req.packet_limit = c->records;
	req.snaplen = SNAPLEN;
	req.type = full ? CAPTURE_FULL : CAPTURE_SIMPLE;
	snprintf(req.system, sizeof(req.system), "%s", REQ_SYSTEM);
	if (full) {
		req.has |= REQ_HAS_COLO | REQ_HAS_DESTINATION;
		snprintf(req.colo_name, sizeof(req.colo_name), "bench");
		if (strlen(b->dest_dir) >= sizeof(req.destination_conf)) {
			fprintf(stderr, "bench_ingest: %s: too long for destination_conf\n",
				b->dest_dir);
			return -ENAMETOOLONG;
		}
		memcpy(req.destination_conf, b->dest_dir, strlen(b->dest_dir) + 1);
	}
	ret = store_create(b->store, ACCOUNT, &req, false, store_now_us(), rec, NULL, err,
			   sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_ingest: store_create: %s\n", err);
		return ret;
	}
	ret = ingest_capture_start(in, rec);
	if (!ret)
		ret = store_mark_running(b->store, rec->id, store_now_us());
	for (i = 0; i < c->agents && !ret; i++) {
		agent_name(i, host, sizeof(host));
		ret = ingest_expect_agent(in, rec->id, host, NULL);
	}
	if (!ret)
		ret = ingest_expect_done(in, rec->id);
	if (ret)
		fprintf(stderr, "bench_ingest: failed to set up capture %s: %s\n", rec->id,
			strerror(-ret));
	return ret;
}

/* The pcap bytes a finished capture left, and its files removed (tmpfs is memory). */
static int capture_output(struct bench *b, const struct corpus *c, const struct capture_rec *rec,
			  bool full, uint64_t *bytes)
{
	char path[PATH_MAX + 128], host[32];
	uint64_t size = 0;
	unsigned int i;
	int ret = 0;

	*bytes = 0;
	if (!full) {
		ret = store_pcap_path(b->store, rec->id, path, sizeof(path));
		if (!ret)
			ret = file_size(path, bytes);
		unlink(path);
		return ret;
	}
	for (i = 0; i < c->agents && !ret; i++) {
		agent_name(i, host, sizeof(host));
		snprintf(path, sizeof(path), "%s/%s-%s.pcap", b->dest_dir, rec->id, host);
		ret = file_size(path, &size);
		*bytes += size;
		unlink(path);
	}
	return ret;
}

/*
 * The agents of a link row, bench_ingest --send-url URL --send-fd FD --report-fd FD, exec'd
 * (NNG may not be used across a fork) on any CPU but the aggregator's: PUSHes every message of
 * the memfd FD (each a 4-byte length, then the message), with the agent's certificate of
 * --tls-dir over tls+tcp:// (computing each message's MAC first, as the agent does), writes
 * its CPU ns for the sends to the report fd once all went,
 * and waits to be killed (closing early could drop what is in flight).
 */
static int link_sender(const struct bench_opts *o)
{
	struct tls_opts t = { 0 };
	struct bench_span sp;
	double wall = 0, cpu = 0;
	char err[512] = "";
	uint8_t *p, *end;
	struct stat st;
	nng_socket s;
	cpu_set_t all;
	uint32_t len;
	long i, ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&all);
	for (i = 0; i < ncpu && i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all);
	if (o->tls_dir) {
		snprintf(t.ca, sizeof(t.ca), "%s/ca.pem", o->tls_dir);
		snprintf(t.cert, sizeof(t.cert), "%s/agent.pem", o->tls_dir);
		snprintf(t.key, sizeof(t.key), "%s/agent.key", o->tls_dir);
	}
	t.insecure_plaintext = true;
	if (fstat((int)o->send_fd, &st) ||
	    (p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		      (int)o->send_fd, 0)) == MAP_FAILED) {
		fprintf(stderr, "bench_ingest: --send-fd %u: %s\n", o->send_fd, strerror(errno));
		return 1;
	}
	end = p + st.st_size;
	if (nng_push0_open(&s) || tls_dial(s, o->send_url, &t, err, sizeof(err))) {
		fprintf(stderr, "bench_ingest: cannot dial %s: %s\n", o->send_url, err);
		return 1;
	}
	bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
	while (p + 4 <= end) {
		memcpy(&len, p, 4);
		/* Over TLS each message gets its MAC here, as the agent's ship.c does. */
		if (o->tls_dir)
			msg_mac(&(struct msgbuf){ .data = p + 4, .len = len });
		if (nng_send(s, p + 4, len, 0))
			return 1;
		p += 4 + len;
	}
	bench_span_add(&sp, &wall, &cpu);
	if (write((int)o->report_fd, &cpu, sizeof(cpu)) != sizeof(cpu))
		return 1;
	for (;;)
		pause();
}

/* The messages a link row sends, in a memfd for the sender: msgs, then the finals. */
static int link_corpus(const struct corpus *c, const struct msgbuf *msgs,
		       const struct msgbuf *finals)
{
	int fd = memfd_create("bench-ingest-link", 0);
	FILE *f;
	size_t i;
	uint32_t len;

	if (fd < 0)
		return -errno;
	f = fdopen(dup(fd), "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	for (i = 0; i < c->nmsgs + c->agents; i++) {
		const struct msgbuf *m = i < c->nmsgs ? &msgs[i] : &finals[i - c->nmsgs];

		len = (uint32_t)m->len;
		fwrite(&len, 4, 1, f);
		fwrite(m->data, 1, m->len, f);
	}
	if (fclose(f)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static void on_finished(void *ctx, const char *capture_id, bool agents_running)
{
	(void)capture_id;
	(void)agents_running;
	((struct bench *)ctx)->finished = true;
}

/*
 * A link row: the aggregator's loop over ingest in (bound to url) while a child sends the
 * corpus, until the capture finished. *sender_cpu: the child's CPU ns for sending it all.
 */
static int run_link(struct bench *b, struct ingest *in, const char *url, bool tls, int msgfd,
		    double *sender_cpu)
{
	char fdarg[16], repfd[16], self[PATH_MAX];
	int pfd[2], status, ret = 0;
	ssize_t n;
	pid_t pid;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || pipe(pfd))
		return -errno;
	self[n] = '\0';
	snprintf(fdarg, sizeof(fdarg), "%d", msgfd);
	snprintf(repfd, sizeof(repfd), "%d", pfd[1]);
	b->finished = false;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return ret;
	}
	if (!pid) {
		/* Straight to exec: nothing of NNG runs in a forked copy. */
		char *argv[] = { self,
				 "--send-url",
				 (char *)url,
				 "--send-fd",
				 fdarg,
				 "--report-fd",
				 repfd,
				 tls ? "--tls-dir" : NULL,
				 (char *)b->opts.tls_dir,
				 NULL };

		close(pfd[0]);
		execv(self, argv);
		_exit(127);
	}
	close(pfd[1]);
	while (!b->finished) {
		struct pollfd p[2] = { { .fd = ingest_fd(in), .events = POLLIN },
				       { .fd = ingest_timer_fd(in), .events = POLLIN } };

		if (poll(p, 2, 1000) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		ret = ingest_handle(in, store_now_us());
		if (ret < 0)
			break;
		ret = 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "bench_ingest: the sender over %s died\n", url);
			ret = -EPIPE;
			pid = -1;
			break;
		}
	}
	if (!ret && read(pfd[0], sender_cpu, sizeof(*sender_cpu)) != sizeof(*sender_cpu))
		ret = -EPIPE;
	close(pfd[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return ret;
}

/*
 * The records a simple capture wrote out of timestamp order (its agents' records_out_of_order
 * in the manifest): the window let records go before all older ones came, because it held
 * more than held_max bytes or a record had waited window_ms (ingest.h). Not an error: the
 * ingest's bounds on its memory and on a record's wait.
 */
static uint64_t manifest_out_of_order(struct store *s, const char *id)
{
	json_t *m = store_manifest(s, id), *a;
	uint64_t n = 0;
	const char *host;

	json_object_foreach (json_object_get(m, "agents"), host, a)
		n += (uint64_t)json_integer_value(json_object_get(a, "records_out_of_order"));
	json_decref(m);
	return n;
}

static int run_ingest(struct bench *b, struct ingest *in, struct corpus *c,
		      const struct msgbuf *msgs, const struct msgbuf *finals, bool full,
		      enum row row, double *wall, double *cpu, uint64_t *bytes, double *sender_cpu)
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];
	uint64_t want, now;
	struct capture_rec rec;
	struct bench_span sp;
	size_t i;
	int ret;

	ret = capture_make(b, in, c, full, &rec);
	if (!ret)
		ret = wire_capture_id_parse(rec.id, id);
	if (ret)
		return ret;
	corpus_set_id(c, id);
	if (msgs == c->maced)
		corpus_mac(c);

	if (row == ROW_LINK_TCP || row == ROW_LINK_TLS) {
		int fd = link_corpus(c, msgs, finals);

		if (fd < 0)
			return fd;
		bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
		ret = run_link(b, in, row == ROW_LINK_TLS ? b->tls_url : b->tcp_url,
			       row == ROW_LINK_TLS, fd, sender_cpu);
		close(fd);
		if (ret)
			return ret;
		goto done;
	}
	bench_span_start(&sp, CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < c->nmsgs; i++) {
		now = store_now_us();
		ret = ingest_feed(in, msgs[i].data, msgs[i].len, now);
		if (ret) {
			fprintf(stderr, "bench_ingest: ingest_feed refused batch %zu: %s\n", i,
				strerror(-ret));
			return ret;
		}
		/* As ingest_handle: the timers after every max_msgs messages. */
		if ((i + 1) % INGEST_MAX_MSGS_DEFAULT == 0)
			ingest_tick(in, now, NULL);
	}
	for (i = 0; i < c->agents; i++) {
		ret = ingest_feed(in, finals[i].data, finals[i].len, store_now_us());
		/* Late is normal: the capture ends as soon as the pcap holds packet_limit. */
		if (ret && ret != -ESTALE) {
			fprintf(stderr, "bench_ingest: ingest_feed refused a final message: %s\n",
				strerror(-ret));
			return ret;
		}
	}
done:
	bench_span_add(&sp, wall, cpu);

	ret = store_get(b->store, rec.id, &rec);
	if (ret)
		return ret;
	/* A full capture's files are complete at conversion_pending: the uploader takes it on. */
	if ((rec.status != CAPTURE_SUCCESS &&
	     !(full && rec.status == CAPTURE_CONVERSION_PENDING)) ||
	    rec.packets != c->records) {
		fprintf(stderr,
			"bench_ingest: capture %s is %s with %" PRIu64 " packets of %" PRIu64
			" (%s)\n",
			rec.id, capture_status_name(rec.status), rec.packets, c->records,
			rec.error_message);
		return -EPROTO;
	}
	if (!full)
		b->out_of_order = manifest_out_of_order(b->store, rec.id);
	ret = capture_output(b, c, &rec, full, bytes);
	want = (full ? c->agents : 1) * (uint64_t)PCAP_HDR + c->records * (PCAP_REC + SNAPLEN);
	if (!ret && *bytes != want) {
		fprintf(stderr, "bench_ingest: %" PRIu64 " bytes of pcap, not %" PRIu64 "\n",
			*bytes, want);
		ret = -EPROTO;
	}
	return ret;
}

static int run_row(struct bench *b, struct corpus *c, enum row row, struct result *r,
		   unsigned int run)
{
	double wall = 0, cpu = 0, sender = 0;
	struct rusage ru0, ru1;
	uint64_t bytes = 0;
	int ret;

	getrusage(RUSAGE_SELF, &ru0);
	b->out_of_order = 0;
	switch (row) {
	case ROW_WRITER:
		ret = run_writer(b, c, &wall, &cpu, &bytes);
		break;
	case ROW_DECODE_DEFLATED:
		ret = run_decode(c, c->deflated, &wall, &cpu);
		break;
	case ROW_DECODE_STORED:
		ret = run_decode(c, c->stored, &wall, &cpu);
		break;
	case ROW_INGEST_DEFLATED:
		ret = run_ingest(b, b->ingest, c, c->deflated, c->finals, false, row, &wall, &cpu,
				 &bytes, &sender);
		break;
	case ROW_INGEST_STORED:
		ret = run_ingest(b, b->ingest, c, c->stored, c->finals, false, row, &wall, &cpu,
				 &bytes, &sender);
		break;
	case ROW_INGEST_FULL:
		ret = run_ingest(b, b->ingest, c, c->deflated, c->finals, true, row, &wall, &cpu,
				 &bytes, &sender);
		break;
	case ROW_INGEST_MAC:
		ret = run_ingest(b, b->auth, c, c->maced, c->finals_maced, false, row, &wall, &cpu,
				 &bytes, &sender);
		break;
	case ROW_LINK_TCP:
		ret = run_ingest(b, b->tcp, c, c->deflated, c->finals, false, row, &wall, &cpu,
				 &bytes, &sender);
		break;
	case ROW_LINK_TLS:
		ret = run_ingest(b, b->tls, c, c->maced, c->finals_maced, false, row, &wall, &cpu,
				 &bytes, &sender);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret)
		return ret;
	getrusage(RUSAGE_SELF, &ru1);
	r->kernel[run] = ((double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e9 +
			  (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e3) /
			 (double)c->records;
	if (b->out_of_order > r->out_of_order)
		r->out_of_order = b->out_of_order;
	r->wall[run] = wall / (double)c->records;
	r->cpu[run] = cpu / (double)c->records;
	r->sender_cpu[run] = sender / (double)c->records;
	r->pcap_bytes = bytes;
	return 0;
}

static const char *fs_name(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return "unknown";
	switch ((unsigned long)st.f_type) {
	case TMPFS_MAGIC:
		return "tmpfs";
	case EXT4_SUPER_MAGIC:
		return "ext4";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	default:
		return "other";
	}
}

static void print_header(const struct bench *b)
{
	static const char *const cols[] = {
		"agents",
		"path",
		"batches",
		"CPU ns/pkt",
		"Mpkt/s per core",
		"MB/s into pcap per core",
		"× pcap_writer",
		"wall Mpkt/s",
		"of CPU, in the kernel ns/pkt",
	};

	printf("## B4a: aggregator ingest, one core\n\n");
	printf("%" PRIu64 " records per case (all agents together), %d-byte records (UDP/IPv4 "
	       "frames of %u bytes, %s payload), batches of up to %u KiB raw as the agent "
	       "makes them and at most %u ms of an agent's records (the agents together at %.2f "
	       "Mpps), fed round robin; median of %u runs (interleaved); kernel %s, CPU %d, "
	       "output on %s.\n\n",
	       b->opts.records, SNAPLEN, b->opts.frame_len,
	       b->opts.zeros ? "ec_livegen's ECT1-and-zeros" : "random",
	       WIRE_BATCH_RAW_DEFAULT >> 10, b->opts.batch_ms,
	       1e3 / (double)(1000000000ull / b->opts.rate), b->opts.runs, bench_kernel(),
	       sched_getcpu(), fs_name(b->state_dir));
	bench_table_head(cols, 9, "rllrrrrrr");
}

/* Rows whose wall clock exceeds their CPU time by more than 5%. */
static unsigned int rows_shared;

/* Whether a row runs: --row's, or all (the link rows only with --tls-dir). */
static bool row_selected(const struct bench *b, unsigned int row)
{
	if (b->opts.only < ROW_COUNT)
		return row == b->opts.only;
	return b->opts.tls_dir || (row != ROW_LINK_TCP && row != ROW_LINK_TLS);
}

/* The security rows' medians per corpus, for the footer's table. */
struct sec_figures {
	unsigned int agents;
	double plain, mac, tcp, tls, send_tcp, send_tls;
};
static struct sec_figures sec[3];

/* Rows whose capture wrote records out of timestamp order, for the footer. */
struct ooo_note {
	unsigned int agents;
	enum row row;
	uint64_t records;
};
static struct ooo_note ooo[ROW_COUNT * 3];
static unsigned int nooo;
static unsigned int nsec;

static void print_rows(const struct bench *b, const struct corpus *c, const struct result *res)
{
	double base = bench_median(res[ROW_WRITER].cpu, b->opts.runs);
	unsigned int row;

	for (row = 0; row < ROW_COUNT; row++) {
		const struct result *r = &res[row];
		double w = bench_median(r->wall, b->opts.runs),
		       cpu = bench_median(r->cpu, b->opts.runs);

		if (!row_selected(b, row))
			continue;
		if (bench_shared(w, cpu))
			rows_shared++;
		printf("| %u | %s | %s | %.1f | %.2f | ", c->agents, row_names[row], row_forms[row],
		       cpu, 1e3 / cpu);
		if (r->pcap_bytes)
			printf("%.0f", (double)r->pcap_bytes / ((double)c->records * cpu) * 1e3);
		else
			printf("-");
		/* x pcap_writer: how many times the baseline's CPU time per record. */
		printf(" | ");
		if (base > 0)
			printf("%.2f", cpu / base);
		else
			printf("-");
		printf(" | %.2f | %.1f |\n", 1e3 / w, bench_median(r->kernel, b->opts.runs));
		if (r->out_of_order && nooo < ROW_COUNT * 3)
			ooo[nooo++] = (struct ooo_note){ c->agents, row, r->out_of_order };
	}
	if (nsec < 3) {
		sec[nsec++] = (struct sec_figures){
			.agents = c->agents,
			.plain = bench_median(res[ROW_INGEST_DEFLATED].cpu, b->opts.runs),
			.mac = bench_median(res[ROW_INGEST_MAC].cpu, b->opts.runs),
			.tcp = bench_median(res[ROW_LINK_TCP].cpu, b->opts.runs),
			.tls = bench_median(res[ROW_LINK_TLS].cpu, b->opts.runs),
			.send_tcp = bench_median(res[ROW_LINK_TCP].sender_cpu, b->opts.runs),
			.send_tls = bench_median(res[ROW_LINK_TLS].sender_cpu, b->opts.runs),
		};
	}
	fflush(stdout);
}

/* What the agent links' security costs, per corpus: the ratios of the rows above. */
static void print_security(const struct bench *b)
{
	unsigned int i;

	if (!nsec || (!sec[0].mac && !sec[0].tls))
		return;
	printf("\nWhat security costs, CPU ns per packet (ratios against plaintext of the same "
	       "run):\n\n| agents | ingest_feed | + MACs checked | × | aggregator over tcp:// | "
	       "over tls+tcp:// + MACs | × | agents sending over tcp:// | over tls+tcp:// + "
	       "MACs | × |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < nsec; i++) {
		const struct sec_figures *f = &sec[i];

		printf("| %u | %.1f | %.1f | %.3f | ", f->agents, f->plain, f->mac,
		       f->plain > 0 ? f->mac / f->plain : 0);
		if (b->opts.tls_dir)
			printf("%.1f | %.1f | %.3f | %.1f | %.1f | %.3f |\n", f->tcp, f->tls,
			       f->tcp > 0 ? f->tls / f->tcp : 0, f->send_tcp, f->send_tls,
			       f->send_tcp > 0 ? f->send_tls / f->send_tcp : 0);
		else
			printf("- | - | - | - | - | - |\n");
	}
	printf("\nover tcp:// and tls+tcp://: the aggregator's whole process (its loop over "
	       "ingest_handle and NNG's threads: receive, TLS decryption, MAC check, ingest) per "
	       "packet, the agents in another process on another CPU; agents sending: that "
	       "process's CPU per packet to push the prepared batches (NNG's send path; over TLS "
	       "the "
	       "MACs and the encryption too).\n");
}

/* What the footer says about one corpus: its size on the wire. */
struct corpus_stats {
	unsigned int agents;
	uint64_t records, nmsgs, deflated_bytes, stored_bytes;
};

static void print_footer(const struct bench *b, const struct corpus_stats *cs, unsigned int n)
{
	bool tmpfs = !strcmp(fs_name(b->state_dir), "tmpfs");
	unsigned int i;

	printf("\nCPU ns/pkt: the process's CPU time over the whole row (open to close, final "
	       "messages included) per packet; Mpkt/s and MB/s per core: what that makes on one "
	       "core (MB/s: pcap file bytes, 16-byte record headers included).\n× pcap_writer: "
	       "CPU time per packet as a multiple of the baseline's for the same records (1.00 = "
	       "the ceiling of writing the pcap). wall Mpkt/s: by the wall clock. Of CPU, in the "
	       "kernel: the part of CPU ns/pkt spent in the kernel (getrusage's system time: "
	       "mostly copying the pcap into the page cache, and page faults), which varies from "
	       "run to run far more than the rest on a VM that hands freed memory back to its "
	       "host; the kernel splits CPU time into user and system by its scheduler's tick, so "
	       "the split is rough for a row shorter than a second.\nOn the wire, "
	       "bytes per record, deflated / stored: ");
	for (i = 0; i < n; i++)
		printf("%s%u agent%s %.1f / %.1f (%.0f%%, %.0f records a batch)", i ? "; " : "",
		       cs[i].agents, cs[i].agents > 1 ? "s" : "",
		       (double)cs[i].deflated_bytes / (double)cs[i].records,
		       (double)cs[i].stored_bytes / (double)cs[i].records,
		       100.0 * (double)cs[i].deflated_bytes / (double)cs[i].stored_bytes,
		       (double)cs[i].records / (double)cs[i].nmsgs);
	printf(".\n");
	for (i = 0; i < nooo; i++)
		printf("\nNote: the row \"%s\" (%s) with %u agents wrote up to %" PRIu64
		       " records out of timestamp order in a run: its reorder window let records "
		       "go before older ones came, because it held more than --reorder-max-bytes "
		       "(%" PRIu64 " MiB) or a record had waited window_ms (%u ms) by the "
		       "wall clock (the agents' batches span %u ms each).\n",
		       row_names[ooo[i].row], row_forms[ooo[i].row], ooo[i].agents, ooo[i].records,
		       b->opts.held_max >> 20, INGEST_WINDOW_MS_DEFAULT, b->opts.batch_ms);
	if (rows_shared && tmpfs)
		printf("\nNote: the wall clock exceeds CPU time by more than 5%% in %u rows: on "
		       "tmpfs nothing waits for a disk, so other work shared the CPU.\n",
		       rows_shared);
	else if (rows_shared)
		printf("\nNote: the wall clock exceeds CPU time by more than 5%% in %u rows: waits "
		       "for the disk (fsync at checkpoints and at the end), or other work on the "
		       "CPU.\n",
		       rows_shared);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) ? -errno : 0;
}

/* Every agent's session key, as if each had proven it. */
static int keys_bind(struct bench *b, struct ingest *in)
{
	uint8_t key[ID_KEY_LEN];
	char host[32];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < (b->opts.agents ? b->opts.agents : 8) && !ret; i++) {
		agent_name(i, host, sizeof(host));
		agent_key(i, key);
		ret = ingest_bind_key(in, host, key, store_now_us());
	}
	return ret;
}

/* A free TCP port of 127.0.0.1 (bound and let go: the ingest binds it next). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The link rows' ingests: a PULL on tcp:// and one on tls+tcp:// (require_auth). */
static int links_open(struct bench *b, char *err, size_t errlen)
{
	const struct ingest_hooks hooks = { .finished = on_finished };
	struct ingest_opts io = { 0 };
	const char *d = b->opts.tls_dir;
	int ret, p1 = free_port(), p2 = free_port();

	if (p1 < 0 || p2 < 0 || p1 == p2) {
		snprintf(err, errlen, "no free ports on 127.0.0.1");
		return -EADDRINUSE;
	}
	snprintf(b->tcp_url, sizeof(b->tcp_url), "tcp://127.0.0.1:%d", p1);
	snprintf(b->tls_url, sizeof(b->tls_url), "tls+tcp://127.0.0.1:%d", p2);
	snprintf(b->agg_tls.ca, sizeof(b->agg_tls.ca), "%s/ca.pem", d);
	snprintf(b->agg_tls.cert, sizeof(b->agg_tls.cert), "%s/aggregator.pem", d);
	snprintf(b->agg_tls.key, sizeof(b->agg_tls.key), "%s/aggregator.key", d);
	b->agent_tls = b->agg_tls;
	snprintf(b->agent_tls.cert, sizeof(b->agent_tls.cert), "%s/agent.pem", d);
	snprintf(b->agent_tls.key, sizeof(b->agent_tls.key), "%s/agent.key", d);
	b->agg_tls.insecure_plaintext = true;
	io.url = b->tcp_url;
	io.tls = &b->agg_tls;
	ret = ingest_open(b->store, &io, &b->tcp, err, errlen);
	if (ret)
		return ret;
	io.url = b->tls_url;
	io.require_auth = true;
	ret = ingest_open(b->store, &io, &b->tls, err, errlen);
	if (ret)
		return ret;
	ingest_set_hooks(b->tcp, &hooks, b);
	ingest_set_hooks(b->tls, &hooks, b);
	return 0;
}

static int bench_open(struct bench *b)
{
	struct store_opts so = { 0 };
	struct ingest_opts io = { 0 };
	const char *dir = b->opts.dir;
	char err[512] = "", abs[PATH_MAX];
	int ret;

	if (!dir)
		dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	/* Absolute: a full capture's relative destination would go under the state directory. */
	if (!realpath(dir, abs)) {
		ret = -errno;
		fprintf(stderr, "bench_ingest: --dir %s: %s\n", dir, strerror(-ret));
		return ret;
	}
	if ((size_t)snprintf(b->state_dir, sizeof(b->state_dir), "%s/edgecap-bench-ingest.XXXXXX",
			     abs) >= sizeof(b->state_dir) - 64)
		return -ENAMETOOLONG;
	if (!mkdtemp(b->state_dir)) {
		ret = -errno;
		fprintf(stderr, "bench_ingest: cannot make a directory under %s: %s\n", dir,
			strerror(-ret));
		b->state_dir[0] = 0;
		return ret;
	}
	/* Beneath the store's default destination root, STATE_DIR/destinations. */
	snprintf(b->dest_dir, sizeof(b->dest_dir), "%s/destinations/full", b->state_dir);
	so.state_dir = b->state_dir;
	so.grace_s = 1;
	io.held_max = b->opts.held_max;
	ret = store_open(&so, &b->store, err, sizeof(err));
	if (!ret)
		ret = ingest_open(b->store, &io, &b->ingest, err, sizeof(err));
	io.require_auth = true;
	if (!ret)
		ret = ingest_open(b->store, &io, &b->auth, err, sizeof(err));
	if (!ret && b->opts.tls_dir)
		ret = links_open(b, err, sizeof(err));
	if (!ret)
		ret = keys_bind(b, b->auth);
	if (!ret && b->tls)
		ret = keys_bind(b, b->tls);
	if (ret)
		fprintf(stderr, "bench_ingest: %s\n", err[0] ? err : strerror(-ret));
	return ret;
}

static void bench_close(struct bench *b)
{
	ingest_close(b->tls);
	ingest_close(b->tcp);
	ingest_close(b->auth);
	ingest_close(b->ingest);
	store_close(b->store);
	if (b->state_dir[0])
		nftw(b->state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int bench_run(struct bench *b)
{
	static const unsigned int agent_counts[] = { 1, 3, 8 };
	unsigned int i, run, row, n = b->opts.agents ? 1 : 3;
	struct corpus_stats stats[3];
	struct result res[ROW_COUNT];
	struct corpus c;
	int ret = 0;

	print_header(b);
	for (i = 0; i < n; i++) {
		ret = corpus_build(b, b->opts.agents ? b->opts.agents : agent_counts[i], &c);
		if (ret)
			return ret;
		stats[i] = (struct corpus_stats){ .agents = c.agents,
						  .records = c.records,
						  .nmsgs = c.nmsgs,
						  .deflated_bytes = c.deflated_bytes,
						  .stored_bytes = c.stored_bytes };
		memset(res, 0, sizeof(res));
		for (run = 0; run < b->opts.runs && !ret; run++) {
			for (row = 0; row < ROW_COUNT && !ret; row++) {
				if (row_selected(b, row))
					ret = run_row(b, &c, row, &res[row], run);
			}
		}
		if (!ret)
			print_rows(b, &c, res);
		/* Only the figures are kept: the messages go before the next corpus is made. */
		corpus_free(&c);
		if (ret)
			return ret;
	}
	print_footer(b, stats, n);
	print_security(b);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { .opts = bench_defaults, .rng = 0x9e3779b97f4a7c15ULL };
	const struct bench_opt opts[] = {
		{ "records", BENCH_OPT_U64, &b.opts.records, 1000, 1ULL << 30 },
		{ "runs", BENCH_OPT_U32, &b.opts.runs, 1, RUNS_MAX },
		{ "frame", BENCH_OPT_U32, &b.opts.frame_len, SNAPLEN, 1514 },
		{ "dir", BENCH_OPT_STRING, &b.opts.dir },
		{ "agents", BENCH_OPT_U32, &b.opts.agents, 1, MAX_AGENTS },
		{ "batch-ms", BENCH_OPT_U32, &b.opts.batch_ms, 0, 60000 },
		{ "rate", BENCH_OPT_U32, &b.opts.rate, 1000, 1000000000 },
		{ "reorder-max-bytes", BENCH_OPT_U64, &b.opts.held_max, 65536, 4ULL << 30 },
		{ "row", BENCH_OPT_CHOICE, &b.opts.only, 0, ROW_COUNT, NULL, row_keys },
		{ "payload", BENCH_OPT_PAYLOAD, &b.opts.zeros },
		{ "tls-dir", BENCH_OPT_STRING, &b.opts.tls_dir },
		{ "send-url", BENCH_OPT_STRING, &b.opts.send_url },
		{ "send-fd", BENCH_OPT_U32, &b.opts.send_fd, 0, 1u << 20 },
		{ "report-fd", BENCH_OPT_U32, &b.opts.report_fd, 0, 1u << 20 },
	};
	int err;

	if (!bench_args_parse("bench_ingest", opts, 13, usage, argc, argv, &err))
		return err;
	if (b.opts.send_url)
		return link_sender(&b.opts);
	if ((b.opts.only == ROW_LINK_TCP || b.opts.only == ROW_LINK_TLS) && !b.opts.tls_dir) {
		fprintf(stderr,
			"bench_ingest: --row %s needs --tls-dir DIR (the link rows' "
			"certificates)\n",
			row_keys[b.opts.only]);
		return 2;
	}
	/* The ingest's own notes ("capture ... finished") would drown the table. */
	log_set_ident("bench_ingest");

	log_set_level(LOG_LEVEL_ERROR);
	err = bench_open(&b);
	if (!err)
		err = bench_run(&b);
	bench_close(&b);
	return err ? 1 : 0;
}
