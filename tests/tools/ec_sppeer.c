// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_sppeer: a stand-in peer of the agent links, for the security tests. It dials an
 * aggregator's endpoint the way a rogue would: with TLS and only the CA (no certificate of its
 * own), with a certificate and key of its choosing (--tls-cert: one PEM file holding both),
 * or plain. As a RESPONDENT it answers every
 * survey with --reply, as it is; as a PUSH it
 * sends --send-file once connected (the flag repeated: each file, one message each, in order,
 * on the same connection).
 *
 * As a "decliner" it is an authenticated agent that takes no capture: it answers every survey
 * as --host-id, with the proof of identity of protocol 1.1 (--id-cert and --id-key sign it; a
 * session key of its own), declines every start, and then sends, over a PUSH to --data-url, a
 * final message for the capture it declined, MAC'd under its proven session key. The
 * aggregator must drop that message (not_accepted): a host adds only to captures it accepted.
 *
 * As an "agent" it is a plain agent of a fleet without a CA (ipc:// links, for the durability
 * tests), dialling as edgecap-agent does (redial.h): it answers every survey as --host-id,
 * accepts every start and at once pushes --records records of --record-size bytes for that
 * capture to --data-url, in batches of --batch, timestamped now (its colo: --colo); it answers a
 * stop and then sends the capture's final message (stopped, every record counted as sent). It
 * never sends anything else, so what the aggregator holds of a capture is exactly that burst.
 *
 * With --fault-after-loss 1, an agent's links each fail the first SP header they write after their
 * first connection, so on the first one after a loss (tests/sp_fault.h): NNG's dialer gives up
 * then, and only redial.h brings the agent back.
 *
 * It prints what it saw, one line each:
 *   connected               a pipe came up (the TLS handshake, if any, succeeded)
 *   survey TEXT             a survey arrived (RESPONDENT, decliner)
 *   declined ID             a start for capture ID was declined (decliner)
 *   sent N                  N bytes went out (PUSH, decliner)
 *   burst ID N              N records for capture ID went out (agent)
 *   final ID                capture ID's final message went out (agent)
 *   header failed           an SP header write failed as --fault-after-loss asked (agent)
 * and exits 0 after --seconds, whatever happened: the test reads the lines.
 *
 *   ec_sppeer respondent --url tls+tcp://127.0.0.1:7101 --tls-ca ca.pem --seconds 3
 *   ec_sppeer push --url tls+tcp://127.0.0.1:7102 --tls-ca ca.pem --send-file forged.bin
 *   ec_sppeer decliner --url tls+tcp://127.0.0.1:7101 --data-url tls+tcp://127.0.0.1:7102 \
 *       --tls-ca ca.pem --tls-cert host-b.both --id-cert host-b.pem --id-key host-b.key \
 *       --host-id host-b --server-name 127.0.0.1 --seconds 10
 *   ec_sppeer agent --url ipc:///tmp/ctl --data-url ipc:///tmp/data --host-id edge-a \
 *       --records 3000 --record-size 200 --seconds 30
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/survey0/respond.h>
#include <nng/supplemental/tls/tls.h>

#include "control.h"
#include "identity.h"
#include "redial.h"
#include "sp.h"
#include "sp_fault.h"
#include "wire.h"

static atomic_int connected;

/* The first connection, said once. */
static void say_connected(void)
{
	if (!atomic_exchange(&connected, 1))
		printf("connected\n");
	fflush(stdout);
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	say_connected();
}

static void usage(void)
{
	fprintf(stderr, "usage: ec_sppeer respondent|push|decliner|agent --url URL [--tls-ca FILE] "
			"[--tls-cert CERT_AND_KEY_FILE] [--server-name NAME] [--reply TEXT] "
			"[--send-file FILE] [--seconds N] [--data-url URL --host-id ID "
			"--id-cert PEM --id-key KEY] [--records N --record-size BYTES --batch N "
			"--colo COLO] [--fault-after-loss 1]\n");
	exit(2);
}

/* A decliner: who it claims to be, what proves it, and where its data goes. */
struct decliner {
	const char *host_id;
	struct id_signer *signer;
	uint8_t key[ID_KEY_LEN];
	nng_socket push;
};

/* A final message (stopped, no batches) for capture hex, MAC'd under d's session key. */
static void decliner_send_final(struct decliner *d, const char *hex)
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];
	struct wire_final f = { .reason = WIRE_STOP_STOPPED };
	void *msg = NULL;
	size_t len;

	if (wire_capture_id_parse(hex, id) || wire_final_encode(id, d->host_id, &f, &msg, &len) ||
	    wire_mac_frame(&msg, &len) ||
	    id_mac(d->key, msg, len - WIRE_MAC_LEN, (uint8_t *)msg + len - WIRE_MAC_LEN)) {
		fprintf(stderr, "ec_sppeer: cannot make a final message for %s\n", hex);
		exit(1);
	}
	if (!nng_send(d->push, msg, len, 0))
		printf("sent %zu\n", len);
	free(msg);
}

/* Answers survey buf as d's host, with its proof; a start is declined, then its data sent. */
static void decliner_answer(struct decliner *d, nng_socket s, const void *buf, size_t len)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
	uint8_t data[ID_SIGNED_MAX];
	char err[256], *out = NULL;
	size_t n;

	if (!m || !r || ctl_decode(buf, len, m, err, sizeof(err)) || !m->has_nonce)
		goto out;
	ctl_msg_init(r,
		     m->type == CTL_START  ? CTL_START_REPLY
		     : m->type == CTL_STOP ? CTL_STOP_REPLY
					   : CTL_STATUS_REPLY,
		     m->id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", d->host_id);
	snprintf(r->agent_version, sizeof(r->agent_version), "ec_sppeer");
	if (m->type != CTL_STATUS) {
		memcpy(r->capture_id, m->capture_id, sizeof(r->capture_id));
		snprintf(r->reason, sizeof(r->reason), "declined by ec_sppeer");
	}
	n = id_signed_bytes(CTL_VERSION_MAJOR, CTL_VERSION_MINOR, m->nonce, r->host_id, d->key,
			    data);
	if (id_sign(d->signer, data, n, r->signature, &r->signature_len, err, sizeof(err))) {
		fprintf(stderr, "ec_sppeer: %s\n", err);
		exit(1);
	}
	snprintf(r->cert, sizeof(r->cert), "%s", id_signer_cert_pem(d->signer));
	memcpy(r->session_key, d->key, ID_KEY_LEN);
	r->has_proof = true;
	if (ctl_encode(r, &out, &n, err, sizeof(err))) {
		fprintf(stderr, "ec_sppeer: %s\n", err);
		exit(1);
	}
	nng_send(s, out, n, 0);
	if (m->type == CTL_START) {
		printf("declined %s\n", m->capture_id);
		decliner_send_final(d, m->capture_id);
	}
out:
	fflush(stdout);
	free(out);
	free(m);
	free(r);
}

/* An agent: its captures, each with its own batch builder (and so its sequence numbers). */
#define AGENT_MAX_CAPS 16
struct agent {
	const char *host_id, *colo;
	unsigned long records, record_size, batch;
	nng_socket push;
	struct redial *ctl_link, *data_link; /* the dialers of the control and data sockets */
	/* --fault-after-loss: each link's fault is armed; headers failed so far */
	bool ctl_armed, data_armed;
	int hits;
	size_t ncaps;
	struct {
		char id[WIRE_CAPTURE_ID_HEX_LEN];
		struct wire_batch *b;
		bool stopped;
	} caps[AGENT_MAX_CAPS];
};

/*
 * --fault-after-loss: once a link has connected, the next SP header it writes (on its next
 * connection, so after a loss: the aggregator went away) fails with EPIPE (sp_fault.h), so that
 * NNG's dialer gives up at the aggregator's return, as NNG 1.5.2's does now and then. Armed as
 * soon as the first connection is seen, not when the loss is: the loop may not look before NNG
 * has dialled again. Said as "header failed" lines.
 */
static void agent_fault(struct agent *ag)
{
	int hits = atomic_load(&sp_fault_hits);

	if (!ag->ctl_armed && redial_connections(ag->ctl_link) > 0) {
		ag->ctl_armed = true;
		sp_fault_header(SP_FAULT_RESPONDENT);
	}
	if (!ag->data_armed && redial_connections(ag->data_link) > 0) {
		ag->data_armed = true;
		sp_fault_header(SP_FAULT_PUSH0);
	}
	for (; ag->hits < hits; ag->hits++)
		printf("header failed\n");
	fflush(stdout);
}

static void agent_send(struct agent *ag, void *msg, size_t len)
{
	/*
	 * A PUSH holds what it cannot send yet; retried until the aggregator takes it, with a
	 * fresh dialer if NNG's gave up (redial.h).
	 */
	while (nng_send(ag->push, msg, len, 0)) {
		redial_tick(ag->data_link, sp_now_ms());
		usleep(10000);
	}
	free(msg);
}

static int agent_cap(struct agent *ag, const char *hex)
{
	size_t i;

	for (i = 0; i < ag->ncaps; i++) {
		if (!strcmp(ag->caps[i].id, hex))
			return (int)i;
	}
	return -1;
}

/* The burst for a capture it just accepted. */
static void agent_burst(struct agent *ag, const char *hex)
{
	uint8_t id[WIRE_CAPTURE_ID_LEN], *frame = calloc(1, ag->record_size + 1);
	struct wire_record r = { .orig_len = (uint32_t)ag->record_size,
				 .cap_len = (uint32_t)ag->record_size };
	struct timespec ts;
	unsigned long i;
	size_t k = ag->ncaps, len;
	void *msg;
	int ret;

	if (k == AGENT_MAX_CAPS || !frame || wire_capture_id_parse(hex, id) ||
	    wire_batch_new(id, ag->host_id, 0, &ag->caps[k].b)) {
		fprintf(stderr, "ec_sppeer: cannot take capture %s\n", hex);
		exit(1);
	}
	snprintf(ag->caps[k].id, sizeof(ag->caps[k].id), "%s", hex);
	ag->ncaps++;
	clock_gettime(CLOCK_REALTIME, &ts);
	r.data = frame;
	for (i = 0; i < ag->records; i++) {
		memcpy(frame, &i, sizeof(i) < ag->record_size ? sizeof(i) : ag->record_size);
		r.tstamp_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec + i;
		if (wire_batch_count(ag->caps[k].b) >= ag->batch &&
		    !wire_batch_finish(ag->caps[k].b, &msg, &len))
			agent_send(ag, msg, len);
		ret = wire_batch_add(ag->caps[k].b, &r);
		if (ret == -ENOSPC && !wire_batch_finish(ag->caps[k].b, &msg, &len)) {
			agent_send(ag, msg, len);
			ret = wire_batch_add(ag->caps[k].b, &r);
		}
		if (ret) {
			fprintf(stderr, "ec_sppeer: cannot add a record: %s\n", strerror(-ret));
			exit(1);
		}
	}
	if (wire_batch_count(ag->caps[k].b) && !wire_batch_finish(ag->caps[k].b, &msg, &len))
		agent_send(ag, msg, len);
	free(frame);
	printf("burst %s %lu\n", hex, ag->records);
}

static void agent_final(struct agent *ag, int k)
{
	struct wire_final f = { .reason = WIRE_STOP_STOPPED };
	uint8_t id[WIRE_CAPTURE_ID_LEN];
	void *msg = NULL;
	size_t len;

	if (ag->caps[k].stopped)
		return;
	ag->caps[k].stopped = true;
	f.c.packets_sent = ag->records;
	f.c.last_seq = wire_batch_last_seq(ag->caps[k].b);
	if (wire_capture_id_parse(ag->caps[k].id, id) ||
	    wire_final_encode(id, ag->host_id, &f, &msg, &len)) {
		fprintf(stderr, "ec_sppeer: cannot make a final message for %s\n", ag->caps[k].id);
		exit(1);
	}
	agent_send(ag, msg, len);
	printf("final %s\n", ag->caps[k].id);
}

/* Answers survey buf as ag's host: accepts starts (then its burst) and stops (then its final). */
static void agent_answer(struct agent *ag, nng_socket s, const void *buf, size_t len)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
	char err[256], *out = NULL;
	size_t i, n;
	int k;

	if (!m || !r || ctl_decode(buf, len, m, err, sizeof(err)))
		goto out;
	ctl_msg_init(r,
		     m->type == CTL_START  ? CTL_START_REPLY
		     : m->type == CTL_STOP ? CTL_STOP_REPLY
					   : CTL_STATUS_REPLY,
		     m->id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", ag->host_id);
	snprintf(r->colo, sizeof(r->colo), "%s", ag->colo ? ag->colo : "");
	snprintf(r->agent_version, sizeof(r->agent_version), "ec_sppeer");
	k = m->type == CTL_STATUS ? -1 : agent_cap(ag, m->capture_id);
	if (m->type != CTL_STATUS) {
		memcpy(r->capture_id, m->capture_id, sizeof(r->capture_id));
		r->accepted = true;
	}
	for (i = 0; m->type == CTL_STATUS && i < ag->ncaps && i < CTL_MAX_CAPTURES; i++) {
		if (ag->caps[i].stopped)
			continue;
		snprintf(r->captures[r->n_captures].capture_id, sizeof(r->captures[0].capture_id),
			 "%s", ag->caps[i].id);
		r->n_captures++;
	}
	if (ctl_encode(r, &out, &n, err, sizeof(err))) {
		fprintf(stderr, "ec_sppeer: %s\n", err);
		exit(1);
	}
	nng_send(s, out, n, 0);
	if (m->type == CTL_START && k < 0)
		agent_burst(ag, m->capture_id);
	else if (m->type == CTL_STOP && k >= 0)
		agent_final(ag, k);
out:
	fflush(stdout);
	free(out);
	free(m);
	free(r);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "ec_sppeer: cannot read %s: %s\n", path, strerror(errno));
		exit(1);
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Seconds the sockets' nng_close may take before the process ends all the same. */
#define CLOSE_GRACE_S 5

static void exit_on_alarm(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *url = NULL, *ca = NULL, *cert = NULL, *reply = NULL, *name = NULL;
	const char *files[16];
	size_t nfiles = 0, nsent = 0;
	const char *data_url = NULL, *id_cert = NULL, *id_key = NULL;
	struct decliner dec = { 0 };
	struct agent ag = { .records = 1000, .record_size = 100, .batch = 100 };
	int i, rv, seconds = 3, respondent, decliner, agent, fault_after_loss = 0;
	nng_tls_config *tls = NULL;
	nng_socket s;
	nng_dialer d;
	uint64_t end;

	if (argc < 2)
		usage();
	decliner = !strcmp(argv[1], "decliner");
	agent = !strcmp(argv[1], "agent");
	respondent = decliner || agent || !strcmp(argv[1], "respondent");
	if (!respondent && strcmp(argv[1], "push"))
		usage();
	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--url"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--tls-ca"))
			ca = argv[i + 1];
		else if (!strcmp(argv[i], "--tls-cert"))
			cert = argv[i + 1];
		else if (!strcmp(argv[i], "--server-name"))
			name = argv[i + 1];
		else if (!strcmp(argv[i], "--reply"))
			reply = argv[i + 1];
		else if (!strcmp(argv[i], "--send-file") &&
			 nfiles < sizeof(files) / sizeof(files[0]))
			files[nfiles++] = argv[i + 1];
		else if (!strcmp(argv[i], "--fault-after-loss"))
			fault_after_loss = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--data-url"))
			data_url = argv[i + 1];
		else if (!strcmp(argv[i], "--host-id"))
			dec.host_id = ag.host_id = argv[i + 1];
		else if (!strcmp(argv[i], "--records"))
			ag.records = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--record-size"))
			ag.record_size = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--colo"))
			ag.colo = argv[i + 1];
		else if (!strcmp(argv[i], "--batch"))
			ag.batch = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--id-cert"))
			id_cert = argv[i + 1];
		else if (!strcmp(argv[i], "--id-key"))
			id_key = argv[i + 1];
		else
			usage();
	}
	if (!url || i != argc)
		usage();
	if (decliner) {
		char err[256];

		if (!data_url || !dec.host_id || !id_cert || !id_key)
			usage();
		if (id_signer_open(id_cert, id_key, &dec.signer, err, sizeof(err)) ||
		    id_random(dec.key, sizeof(dec.key))) {
			fprintf(stderr, "ec_sppeer: %s\n", err);
			return 1;
		}
	}
	rv = respondent ? nng_respondent0_open(&s) : nng_push0_open(&s);
	/* An agent dials as edgecap-agent does, through redial.h (no TLS: below). */
	if (!rv && !agent)
		rv = nng_dialer_create(&d, s, url);
	if (rv) {
		fprintf(stderr, "ec_sppeer: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	if (!agent)
		nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, on_pipe, NULL);
	if (ca && !agent) {
		/* The server is checked (a rogue wants the real aggregator); what it shows is ours.
		 */
		rv = nng_tls_config_alloc(&tls, NNG_TLS_MODE_CLIENT);
		if (!rv)
			rv = nng_tls_config_ca_file(tls, ca);
		if (!rv && cert)
			rv = nng_tls_config_cert_key_file(tls, cert, NULL);
		if (!rv && name)
			rv = nng_tls_config_server_name(tls, name);
		if (!rv)
			rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls);
		if (rv) {
			fprintf(stderr, "ec_sppeer: TLS: %s\n", nng_strerror(rv));
			return 1;
		}
	}
	if (agent) {
		char err[512];

		if (!data_url || !ag.host_id || !ag.record_size ||
		    ag.record_size > WIRE_CAPLEN_MAX || !ag.batch || ca)
			usage();
		rv = nng_push0_open(&ag.push);
		if (rv) {
			fprintf(stderr, "ec_sppeer: %s: %s\n", data_url, nng_strerror(rv));
			return 1;
		}
		nng_socket_set_ms(ag.push, NNG_OPT_SENDTIMEO, 1000);
		if (redial_open(ag.push, data_url, NULL, &ag.data_link, err, sizeof(err)) ||
		    redial_open(s, url, NULL, &ag.ctl_link, err, sizeof(err))) {
			fprintf(stderr, "ec_sppeer: %s\n", err);
			return 1;
		}
	}
	if (decliner) {
		nng_dialer pd;

		rv = nng_push0_open(&dec.push);
		if (!rv)
			rv = nng_dialer_create(&pd, dec.push, data_url);
		if (!rv && tls)
			rv = nng_dialer_set_ptr(pd, NNG_OPT_TLS_CONFIG, tls);
		if (!rv)
			rv = nng_dialer_start(pd, NNG_FLAG_NONBLOCK);
		if (rv) {
			fprintf(stderr, "ec_sppeer: %s: %s\n", data_url, nng_strerror(rv));
			return 1;
		}
		nng_socket_set_ms(dec.push, NNG_OPT_SENDTIMEO, 1000);
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 100);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 100);
	if (!agent)
		nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	/*
	 * On the monotonic clock in ms: time(NULL) + seconds ended a run of --seconds 1 anywhere
	 * from 0 to 1 s after it began, too soon for a TLS handshake at times (test_tls failed so).
	 */
	end = sp_now_ms() + (uint64_t)seconds * 1000;
	while (sp_now_ms() < end) {
		nng_msg *m;

		if (agent) {
			/* At most RECVTIMEO apart: fresh dialers where NNG stopped (redial.h). */
			redial_tick(ag.ctl_link, sp_now_ms());
			redial_tick(ag.data_link, sp_now_ms());
			if (redial_connections(ag.ctl_link) > 0)
				say_connected();
			if (fault_after_loss)
				agent_fault(&ag);
		}
		if (respondent) {
			if (nng_recvmsg(s, &m, 0))
				continue;
			if (!agent)
				printf("survey %.*s\n", (int)nng_msg_len(m),
				       (char *)nng_msg_body(m));
			fflush(stdout);
			if (decliner)
				decliner_answer(&dec, s, nng_msg_body(m), nng_msg_len(m));
			if (agent)
				agent_answer(&ag, s, nng_msg_body(m), nng_msg_len(m));
			nng_msg_free(m);
			if (reply)
				nng_send(s, (void *)reply, strlen(reply), 0);
		} else if (nsent < nfiles && atomic_load(&connected)) {
			size_t len;
			char *buf = slurp(files[nsent], &len);

			if (!nng_send(s, buf, len, 0)) {
				printf("sent %zu\n", len);
				fflush(stdout);
				nsent++;
			}
			free(buf);
		} else {
			usleep(50000);
		}
	}
	/*
	 * NNG 1.5.2's nng_close can wait for ever on a pipe the peer dropped in the middle of a
	 * large send (an 8 MB message over RECVMAXSZ, test_abuse): the promise is an exit after
	 * --seconds, so SIGALRM ends the process (status 0) if closing takes more than 5 s.
	 */
	signal(SIGALRM, exit_on_alarm);
	alarm(CLOSE_GRACE_S);
	nng_close(s);
	if (agent) {
		nng_close(ag.push);
		redial_free(ag.ctl_link);
		redial_free(ag.data_link);
	}
	if (decliner) {
		nng_close(dec.push);
		id_signer_free(dec.signer);
	}
	if (tls)
		nng_tls_config_free(tls);
	return 0;
}
