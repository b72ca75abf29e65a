// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_agentsim: N simulated agents in one process, for the scale test and benchmark. Each is a
 * host of its own ("<prefix>-<i>"): a RESPONDENT dialled to the aggregator's control URL and a
 * PUSH dialled to its data URL, speaking the real protocol (docs/protocol.md, common/control.c
 * and common/wire.c): it answers status, start and stop surveys, and for each capture it takes
 * it pushes --records records, --batch to a batch every --interval-ms, then its final message.
 *
 * With --tls-ca, agent i's links use DIR/<host>.pem and DIR/<host>.key (--cert-dir, made by
 * the test; CN = host id; the aggregator's certificate must name the URL's host), every reply
 * proves its host id (identity.h: a signature over the survey's nonce and a session key of its own)
 * and every data message carries its MAC.
 *
 * Surveys are answered from NNG's AIO callbacks (no thread per agent); --threads threads push
 * the data. Records are small UDP frames from 10.x.y.z, x.y.z = the agent's number + 1, stamped
 * with the wall clock as they are made: a merged pcap shows how many hosts it holds.
 *
 * With --data-conns K, the process's agents share K data connections (agent i pushes on
 * connection i mod K) instead of one each: each message names its host, and the aggregator ties
 * no host to a connection, so only the descriptor count changes. For a machine whose descriptor
 * limit cannot hold two connections per agent at the aggregator (bench_scale.sh says so).
 *
 * It prints one line a second and one at the end:
 *   agents N connected C/D surveys S starts A stops P batches B records R finals F errors E
 * (C: control pipes up, D: data pipes up), and runs --seconds or until SIGINT/SIGTERM.
 *
 *   ec_agentsim --control ipc:///tmp/x/c --data ipc:///tmp/x/d --agents 1000 --seconds 60
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/survey0/respond.h>

#include "control.h"
#include "identity.h"
#include "tls.h"
#include "wire.h"

#define SIM_CAPTURES 4
#define FRAME_LEN    60

struct sim_capture {
	bool used, stop, done;
	uint8_t id[WIRE_CAPTURE_ID_LEN];
	char hex[WIRE_CAPTURE_ID_HEX_LEN];
	uint64_t limit;			   /* records to send: min(--records, packet_limit) */
	uint64_t sent;			   /* records sent */
	uint64_t batches;		   /* batches made = last_seq */
	uint64_t dropped, dropped_records; /* batches the push refused, and their records */
	uint64_t start_ns, next_ms, end_ms;
	bool limit_hit;	      /* the request's packet_limit was reached */
	struct wire_batch *b; /* numbers the batches */
};

struct agent {
	unsigned int n;
	char host[CTL_NAME_MAX + 1];
	nng_socket ctl, data;
	nng_aio *recv_aio, *send_aio;
	pthread_mutex_t mu;
	struct sim_capture caps[SIM_CAPTURES];
	struct id_signer *signer;
	uint8_t key[ID_KEY_LEN];
	bool active; /* some capture to push (the pushers' hint, under mu) */
};

static struct {
	const char *control, *data, *prefix, *colo, *ca, *cert_dir;
	unsigned int agents, first, threads, batch, interval_ms, seconds, data_conns;
	uint64_t records;
} opt = { .prefix = "sim",
	  .colo = "sim01",
	  .threads = 2,
	  .batch = 4,
	  .interval_ms = 100,
	  .seconds = 60,
	  .records = 16 };

static struct agent *agents;
static nng_socket *shared_data; /* --data-conns */
static atomic_uint_fast64_t n_surveys, n_starts, n_stops, n_batches, n_records, n_finals, n_errors;
static atomic_int ctl_pipes, data_pipes;
static volatile sig_atomic_t quit;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t utc_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	atomic_int *count = arg;

	(void)p;
	atomic_fetch_add(count, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

static void reply_header(const struct agent *a, struct ctl_msg *r, enum ctl_type type, uint64_t id)
{
	ctl_msg_init(r, type, id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", a->host);
	snprintf(r->colo, sizeof(r->colo), "%s", opt.colo);
	snprintf(r->agent_version, sizeof(r->agent_version), "ec_agentsim");
}

static struct sim_capture *cap_find(struct agent *a, const char *hex)
{
	int i;

	for (i = 0; i < SIM_CAPTURES; i++) {
		if (a->caps[i].used && !strcmp(a->caps[i].hex, hex))
			return &a->caps[i];
	}
	return NULL;
}

/* Under a->mu. */
static void handle_start(struct agent *a, const struct ctl_msg *m, struct ctl_msg *r)
{
	const struct capture_request *req = &m->request;
	struct sim_capture *c = cap_find(a, m->capture_id);
	int i;

	reply_header(a, r, CTL_START_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	if (req->type == CAPTURE_FULL && strcasecmp(opt.colo, req->colo_name)) {
		snprintf(r->reason, sizeof(r->reason), "colo %s is not in %s", opt.colo,
			 req->colo_name);
		return;
	}
	if (c) {
		r->accepted = true;
		return;
	}
	for (i = 0; i < SIM_CAPTURES && a->caps[i].used && !a->caps[i].done; i++)
		;
	if (i == SIM_CAPTURES) {
		snprintf(r->reason, sizeof(r->reason), "ec_agentsim runs %d captures already",
			 SIM_CAPTURES);
		return;
	}
	c = &a->caps[i];
	memset(c, 0, sizeof(*c));
	if (wire_capture_id_parse(m->capture_id, c->id)) {
		snprintf(r->reason, sizeof(r->reason), "bad capture id");
		return;
	}
	if (wire_batch_new(c->id, a->host, 0, &c->b)) {
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		return;
	}
	c->used = true;
	snprintf(c->hex, sizeof(c->hex), "%s", m->capture_id);
	c->limit = opt.records;
	if (req->packet_limit && req->packet_limit <= c->limit) {
		c->limit = req->packet_limit;
		c->limit_hit = true;
	}
	c->start_ns = utc_ns();
	c->next_ms = now_ms();
	c->end_ms = c->next_ms + req->time_limit * 1000;
	a->active = true;
	r->accepted = true;
	atomic_fetch_add(&n_starts, 1);
}

static void handle_stop(struct agent *a, const struct ctl_msg *m, struct ctl_msg *r)
{
	struct sim_capture *c = cap_find(a, m->capture_id);

	reply_header(a, r, CTL_STOP_REPLY, m->id);
	snprintf(r->capture_id, sizeof(r->capture_id), "%s", m->capture_id);
	if (!c || c->done) {
		snprintf(r->reason, sizeof(r->reason), "no capture %s runs here", m->capture_id);
		return;
	}
	c->stop = true;
	a->active = true;
	r->accepted = true;
	atomic_fetch_add(&n_stops, 1);
}

static void handle_status(struct agent *a, const struct ctl_msg *m, struct ctl_msg *r)
{
	int i;

	reply_header(a, r, CTL_STATUS_REPLY, m->id);
	for (i = 0; i < SIM_CAPTURES && r->n_captures < CTL_MAX_CAPTURES; i++) {
		const struct sim_capture *c = &a->caps[i];
		struct ctl_capture_status *s;

		if (!c->used || c->done)
			continue;
		s = &r->captures[r->n_captures++];
		snprintf(s->capture_id, sizeof(s->capture_id), "%s", c->hex);
		s->start_ns = c->start_ns;
		s->c.seen = s->c.matched = s->c.submitted = c->sent + c->dropped_records;
		s->c.packets_sent = c->sent;
		s->c.bytes_sent = c->sent * FRAME_LEN;
		s->c.batches_sent = c->batches - c->dropped;
		s->c.batches_dropped = c->dropped;
		s->c.last_seq = c->batches;
	}
}

/* The reply to survey buf, encoded into *msg; false when there is none to send. */
static bool answer(struct agent *a, const void *buf, size_t len, nng_msg **msg)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
	uint8_t data[ID_SIGNED_MAX];
	char err[512], *out = NULL;
	bool ok = false;
	size_t n;

	if (!m || !r)
		goto out;
	pthread_mutex_lock(&a->mu);
	if (ctl_decode(buf, len, m, err, sizeof(err))) {
		atomic_fetch_add(&n_errors, 1);
		reply_header(a, r, CTL_ERROR, m->id);
		snprintf(r->reason, sizeof(r->reason), "%.*s", CTL_REASON_MAX, err);
	} else if (m->type == CTL_START) {
		handle_start(a, m, r);
	} else if (m->type == CTL_STOP) {
		handle_stop(a, m, r);
	} else {
		handle_status(a, m, r);
	}
	pthread_mutex_unlock(&a->mu);
	atomic_fetch_add(&n_surveys, 1);
	if (a->signer && m->has_nonce) {
		n = id_signed_bytes(CTL_VERSION_MAJOR, CTL_VERSION_MINOR, m->nonce, r->host_id,
				    a->key, data);
		if (id_sign(a->signer, data, n, r->signature, &r->signature_len, err,
			    sizeof(err))) {
			atomic_fetch_add(&n_errors, 1);
			goto out;
		}
		snprintf(r->cert, sizeof(r->cert), "%s", id_signer_cert_pem(a->signer));
		memcpy(r->session_key, a->key, ID_KEY_LEN);
		r->has_proof = true;
	}
	if (ctl_encode(r, &out, &n, err, sizeof(err)) || nng_msg_alloc(msg, 0))
		goto out;
	if (nng_msg_append(*msg, out, n)) {
		nng_msg_free(*msg);
		goto out;
	}
	ok = true;
out:
	free(out);
	free(m);
	free(r);
	return ok;
}

static void on_send(void *arg)
{
	struct agent *a = arg;

	if (nng_aio_result(a->send_aio)) {
		nng_msg_free(nng_aio_get_msg(a->send_aio));
		nng_aio_set_msg(a->send_aio, NULL);
	}
	if (!quit)
		nng_recv_aio(a->ctl, a->recv_aio);
}

static void on_recv(void *arg)
{
	struct agent *a = arg;
	nng_msg *in, *out = NULL;
	int rv = nng_aio_result(a->recv_aio);

	if (rv) {
		/* Closed at exit; anything else: listen again. */
		if (rv != NNG_ECLOSED && !quit)
			nng_recv_aio(a->ctl, a->recv_aio);
		return;
	}
	in = nng_aio_get_msg(a->recv_aio);
	nng_aio_set_msg(a->recv_aio, NULL);
	if (answer(a, nng_msg_body(in), nng_msg_len(in), &out)) {
		nng_msg_free(in);
		nng_aio_set_msg(a->send_aio, out);
		nng_send_aio(a->ctl, a->send_aio);
		return;
	}
	nng_msg_free(in);
	nng_recv_aio(a->ctl, a->recv_aio);
}

/* A 60-byte Ethernet/IPv4/UDP frame from 10.x.y.z (x.y.z = the agent's number + 1). */
static void make_frame(uint8_t *f, unsigned int agent, uint64_t k)
{
	uint32_t src = 0x0a000000u | ((agent + 1) & 0xffffffu), sum = 0;
	int i;

	memset(f, 0, FRAME_LEN);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	f[14] = 0x45;
	f[16] = 0;
	f[17] = FRAME_LEN - 14;
	f[22] = 64;
	f[23] = 17;
	f[26] = (uint8_t)(src >> 24);
	f[27] = (uint8_t)(src >> 16);
	f[28] = (uint8_t)(src >> 8);
	f[29] = (uint8_t)src;
	memcpy(f + 30, "\xc0\x00\x02\x01", 4);
	for (i = 14; i < 34; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = ~((sum & 0xffff) + (sum >> 16)) & 0xffff;
	f[24] = (uint8_t)(sum >> 8);
	f[25] = (uint8_t)sum;
	f[34] = 0x9c;
	f[35] = 0x40; /* 40000 */
	f[37] = 9;
	f[38] = 0;
	f[39] = FRAME_LEN - 34;
	for (i = 0; i < 8; i++)
		f[42 + i] = (uint8_t)(k >> (56 - 8 * i));
}

/* Sends msg (len bytes, malloc'd, freed here), with its MAC under TLS; 0 when it went. */
static int push(struct agent *a, void *msg, size_t len)
{
	int rv;

	if (a->signer &&
	    (wire_mac_frame(&msg, &len) ||
	     id_mac(a->key, msg, len - WIRE_MAC_LEN, (uint8_t *)msg + len - WIRE_MAC_LEN))) {
		free(msg);
		atomic_fetch_add(&n_errors, 1);
		return -1;
	}
	rv = nng_send(a->data, msg, len, NNG_FLAG_NONBLOCK);
	free(msg);
	return rv;
}

/* One step of capture c: a batch when due, or its final. Under a->mu. */
static void cap_step(struct agent *a, struct sim_capture *c, uint64_t now)
{
	uint8_t frame[FRAME_LEN];
	struct wire_batch *b = c->b;
	struct wire_record rec = { .orig_len = FRAME_LEN, .cap_len = FRAME_LEN, .data = frame };
	void *msg = NULL;
	size_t len;
	uint64_t i, ts;

	if (c->sent < c->limit && !c->stop && now < c->end_ms) {
		if (now < c->next_ms)
			return;
		ts = utc_ns();
		for (i = 0; i < opt.batch && c->sent + i < c->limit; i++) {
			make_frame(frame, a->n, c->sent + i);
			rec.tstamp_ns = ts + i;
			rec.ifindex = 1;
			wire_batch_add(b, &rec);
		}
		/*
		 * A batch the send queue refuses still used its number (protocol.md 4.6): counted
		 * as dropped, its records are made again under the next.
		 */
		if (wire_batch_finish(b, &msg, &len) == 0) {
			c->batches++;
			if (!push(a, msg, len)) {
				c->sent += i;
				c->next_ms = now + opt.interval_ms;
				atomic_fetch_add(&n_batches, 1);
				atomic_fetch_add(&n_records, i);
			} else {
				c->dropped++;
				c->dropped_records += i;
			}
		}
		return;
	}
	/* The final: after every batch, seq = last_seq + 1. */
	{
		struct wire_final f = { 0 };

		f.reason = c->stop				 ? WIRE_STOP_STOPPED
			   : c->sent >= c->limit && c->limit_hit ? WIRE_STOP_PACKET_LIMIT
			   : c->sent >= c->limit		 ? WIRE_STOP_STOPPED
								 : WIRE_STOP_TIME_LIMIT;
		/* Records run out before the limit: wait for a stop or the time limit. */
		if (f.reason == WIRE_STOP_STOPPED && !c->stop && now < c->end_ms)
			return;
		f.c.seen = f.c.matched = f.c.submitted = c->sent + c->dropped_records;
		f.c.packets_sent = c->sent;
		f.c.bytes = (c->sent + c->dropped_records) * FRAME_LEN;
		f.c.bytes_sent = c->sent * FRAME_LEN;
		f.c.batches_sent = c->batches - c->dropped;
		f.c.batches_dropped = c->dropped;
		f.c.records_dropped = c->dropped_records;
		f.c.last_seq = c->batches;
		f.start_ns = c->start_ns;
		f.stop_ns = utc_ns();
		if (wire_final_encode(c->id, a->host, &f, &msg, &len))
			return;
		if (!push(a, msg, len)) {
			c->done = true;
			wire_batch_free(c->b);
			c->b = NULL;
			atomic_fetch_add(&n_finals, 1);
		}
	}
}

static void *pusher(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg, i;
	int k;

	while (!quit) {
		uint64_t now = now_ms();

		for (i = t; i < opt.agents && !quit; i += opt.threads) {
			struct agent *a = &agents[i];
			bool active = false;

			pthread_mutex_lock(&a->mu);
			if (a->active) {
				for (k = 0; k < SIM_CAPTURES; k++) {
					struct sim_capture *c = &a->caps[k];

					if (c->used && !c->done) {
						cap_step(a, c, now);
						active |= !c->done;
					}
				}
				a->active = active;
			}
			pthread_mutex_unlock(&a->mu);
		}
		usleep(5000);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ec_agentsim --control URL --data URL --agents N [--first I] [--prefix P]\n"
		"       [--colo C] [--records N] [--batch N] [--interval-ms MS] [--threads N]\n"
		"       [--seconds S] [--tls-ca CA --cert-dir DIR] [--data-conns K]\n");
	exit(2);
}

static unsigned int num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || v > 100000000UL) {
		fprintf(stderr, "ec_agentsim: not a number: %s\n", s);
		exit(2);
	}
	return (unsigned int)v;
}

/* Dials sock to url, as agent a (its own certificate under TLS). */
static int dial(struct agent *a, nng_socket sock, const char *url)
{
	struct tls_opts o = { 0 };
	char err[512];

	/*
	 * Redials back off, 1 s doubling up to 8 s (the socket's defaults for its dialers). NNG's
	 * default redials every second for ever: thousands of agents in one process against an
	 * aggregator out of descriptors made a storm of connects, and the failed sockets, closed
	 * later by NNG's reaper, ran this process out of descriptors too.
	 */
	nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, 1000);
	nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, 8000);
	if (opt.ca) {
		snprintf(o.ca, sizeof(o.ca), "%s", opt.ca);
		snprintf(o.cert, sizeof(o.cert), "%s/%s.pem", opt.cert_dir, a->host);
		snprintf(o.key, sizeof(o.key), "%s/%s.key", opt.cert_dir, a->host);
	} else {
		o.insecure_plaintext = true;
	}
	if (tls_dial(sock, url, &o, err, sizeof(err))) {
		fprintf(stderr, "ec_agentsim: %s: %s\n", a->host, err);
		return -1;
	}
	return 0;
}

static int agent_open(struct agent *a, unsigned int n)
{
	char err[512], cert[PATH_MAX], key[PATH_MAX];

	a->n = n;
	snprintf(a->host, sizeof(a->host), "%s-%u", opt.prefix, n);
	pthread_mutex_init(&a->mu, NULL);
	if (opt.ca) {
		snprintf(cert, sizeof(cert), "%s/%s.pem", opt.cert_dir, a->host);
		snprintf(key, sizeof(key), "%s/%s.key", opt.cert_dir, a->host);
		if (id_signer_open(cert, key, &a->signer, err, sizeof(err)) ||
		    id_random(a->key, sizeof(a->key))) {
			fprintf(stderr, "ec_agentsim: %s: %s\n", a->host, err);
			return -1;
		}
	}
	if (nng_respondent0_open(&a->ctl) || nng_aio_alloc(&a->recv_aio, on_recv, a) ||
	    nng_aio_alloc(&a->send_aio, on_send, a)) {
		fprintf(stderr, "ec_agentsim: %s: cannot open its sockets\n", a->host);
		return -1;
	}
	nng_socket_set_size(a->ctl, NNG_OPT_RECVMAXSZ, CTL_MSG_MAX);
	nng_aio_set_timeout(a->send_aio, 1000);
	nng_pipe_notify(a->ctl, NNG_PIPE_EV_ADD_POST, on_pipe, &ctl_pipes);
	nng_pipe_notify(a->ctl, NNG_PIPE_EV_REM_POST, on_pipe, &ctl_pipes);
	if (shared_data) {
		/* The first agent of each shared connection dials it (its certificate under TLS).
		 */
		a->data = shared_data[(n - opt.first) % opt.data_conns];
		if ((n - opt.first) < opt.data_conns && dial(a, a->data, opt.data))
			return -1;
	} else {
		if (nng_push0_open(&a->data)) {
			fprintf(stderr, "ec_agentsim: %s: cannot open its data socket\n", a->host);
			return -1;
		}
		nng_socket_set_int(a->data, NNG_OPT_SENDBUF, 16);
		nng_pipe_notify(a->data, NNG_PIPE_EV_ADD_POST, on_pipe, &data_pipes);
		nng_pipe_notify(a->data, NNG_PIPE_EV_REM_POST, on_pipe, &data_pipes);
		if (dial(a, a->data, opt.data))
			return -1;
	}
	if (dial(a, a->ctl, opt.control))
		return -1;
	nng_recv_aio(a->ctl, a->recv_aio);
	return 0;
}

static void print_line(void)
{
	printf("agents %u connected %d/%d surveys %llu starts %llu stops %llu batches %llu records "
	       "%llu finals %llu errors %llu\n",
	       opt.agents, atomic_load(&ctl_pipes), atomic_load(&data_pipes),
	       (unsigned long long)atomic_load(&n_surveys),
	       (unsigned long long)atomic_load(&n_starts),
	       (unsigned long long)atomic_load(&n_stops),
	       (unsigned long long)atomic_load(&n_batches),
	       (unsigned long long)atomic_load(&n_records),
	       (unsigned long long)atomic_load(&n_finals),
	       (unsigned long long)atomic_load(&n_errors));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	pthread_t *threads;
	struct rlimit rl;
	uint64_t end;
	unsigned int i;
	int k;

	for (k = 1; k + 1 < argc; k += 2) {
		const char *f = argv[k], *v = argv[k + 1];

		if (!strcmp(f, "--control"))
			opt.control = v;
		else if (!strcmp(f, "--data"))
			opt.data = v;
		else if (!strcmp(f, "--agents"))
			opt.agents = num(v);
		else if (!strcmp(f, "--first"))
			opt.first = num(v);
		else if (!strcmp(f, "--prefix"))
			opt.prefix = v;
		else if (!strcmp(f, "--colo"))
			opt.colo = v;
		else if (!strcmp(f, "--records"))
			opt.records = num(v);
		else if (!strcmp(f, "--batch"))
			opt.batch = num(v);
		else if (!strcmp(f, "--interval-ms"))
			opt.interval_ms = num(v);
		else if (!strcmp(f, "--threads"))
			opt.threads = num(v);
		else if (!strcmp(f, "--seconds"))
			opt.seconds = num(v);
		else if (!strcmp(f, "--tls-ca"))
			opt.ca = v;
		else if (!strcmp(f, "--cert-dir"))
			opt.cert_dir = v;
		else if (!strcmp(f, "--data-conns"))
			opt.data_conns = num(v);
		else
			usage();
	}
	if (k != argc || !opt.control || !opt.data || !opt.agents || !opt.threads || !opt.batch ||
	    (opt.ca && !opt.cert_dir))
		usage();
	/* About two descriptors an agent, and NNG's own: as many as the system allows. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		FILE *f = fopen("/proc/sys/fs/nr_open", "r");
		unsigned long nr = 0;

		if (f && fscanf(f, "%lu", &nr) == 1 && nr > rl.rlim_max && !geteuid())
			rl.rlim_max = nr;
		if (f)
			fclose(f);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)opt.agents * 3 + 64) {
			fprintf(stderr,
				"ec_agentsim: %u agents need about %u descriptors, the limit is "
				"%llu: "
				"run several processes (--first)\n",
				opt.agents, opt.agents * 3 + 64, (unsigned long long)rl.rlim_cur);
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	agents = calloc(opt.agents, sizeof(*agents));
	threads = calloc(opt.threads, sizeof(*threads));
	if (!agents || !threads)
		return 1;
	if (opt.data_conns > opt.agents)
		opt.data_conns = opt.agents;
	if (opt.data_conns) {
		shared_data = calloc(opt.data_conns, sizeof(*shared_data));
		if (!shared_data)
			return 1;
		for (i = 0; i < opt.data_conns; i++) {
			if (nng_push0_open(&shared_data[i])) {
				fprintf(stderr, "ec_agentsim: cannot open a data socket\n");
				return 1;
			}
			/* Its agents' batches together: a queue as deep as theirs would be. */
			nng_socket_set_int(shared_data[i], NNG_OPT_SENDBUF, 8192);
			nng_pipe_notify(shared_data[i], NNG_PIPE_EV_ADD_POST, on_pipe, &data_pipes);
			nng_pipe_notify(shared_data[i], NNG_PIPE_EV_REM_POST, on_pipe, &data_pipes);
		}
	}
	for (i = 0; i < opt.agents; i++) {
		if (agent_open(&agents[i], opt.first + i))
			return 1;
	}
	for (i = 0; i < opt.threads; i++)
		pthread_create(&threads[i], NULL, pusher, (void *)(uintptr_t)i);
	end = now_ms() + (uint64_t)opt.seconds * 1000;
	while (!quit && now_ms() < end) {
		sleep(1);
		print_line();
	}
	quit = 1;
	for (i = 0; i < opt.threads; i++)
		pthread_join(threads[i], NULL);
	print_line();
	for (i = 0; i < opt.agents; i++) {
		nng_close(agents[i].ctl);
		if (!shared_data)
			nng_close(agents[i].data);
	}
	for (i = 0; i < opt.data_conns; i++)
		nng_close(shared_data[i]);
	free(shared_data);
	for (i = 0; i < opt.agents; i++) {
		nng_aio_free(agents[i].recv_aio);
		nng_aio_free(agents[i].send_aio);
		id_signer_free(agents[i].signer);
	}
	free(agents);
	free(threads);
	return 0;
}
