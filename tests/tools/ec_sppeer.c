// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_sppeer: a stand-in peer of the agent links, for the security tests. It dials an
 * aggregator's endpoint the way a rogue would: with TLS and only the CA (no certificate of its
 * own), with a certificate and key of its choosing (--tls-cert: one PEM file holding both),
 * or plain. As a RESPONDENT it answers every
 * survey with --reply, as it is; as a PUSH it
 * sends --send-file once connected. It prints what it saw, one line each:
 *   connected               a pipe came up (the TLS handshake, if any, succeeded)
 *   survey TEXT             a survey arrived (RESPONDENT)
 *   sent N                  N bytes went out (PUSH)
 * and exits 0 after --seconds, whatever happened: the test reads the lines.
 *
 *   ec_sppeer respondent --url tls+tcp://127.0.0.1:7101 --tls-ca ca.pem --seconds 3
 *   ec_sppeer push --url tls+tcp://127.0.0.1:7102 --tls-ca ca.pem --send-file forged.bin
 */
#include <errno.h>
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

static atomic_int connected;

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	if (!atomic_exchange(&connected, 1))
		printf("connected\n");
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: ec_sppeer respondent|push --url URL [--tls-ca FILE] "
			"[--tls-cert CERT_AND_KEY_FILE] [--server-name NAME] [--reply TEXT] "
			"[--send-file FILE] [--seconds N]\n");
	exit(2);
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

int main(int argc, char **argv)
{
	const char *url = NULL, *ca = NULL, *cert = NULL, *reply = NULL, *file = NULL, *name = NULL;
	int i, rv, seconds = 3, respondent;
	nng_tls_config *tls = NULL;
	nng_socket s;
	nng_dialer d;
	time_t end;

	if (argc < 2)
		usage();
	respondent = !strcmp(argv[1], "respondent");
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
		else if (!strcmp(argv[i], "--send-file"))
			file = argv[i + 1];
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else
			usage();
	}
	if (!url || i != argc)
		usage();
	rv = respondent ? nng_respondent0_open(&s) : nng_push0_open(&s);
	if (!rv)
		rv = nng_dialer_create(&d, s, url);
	if (rv) {
		fprintf(stderr, "ec_sppeer: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, on_pipe, NULL);
	if (ca) {
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
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 100);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 100);
	nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	end = time(NULL) + seconds;
	while (time(NULL) < end) {
		nng_msg *m;

		if (respondent) {
			if (nng_recvmsg(s, &m, 0))
				continue;
			printf("survey %.*s\n", (int)nng_msg_len(m), (char *)nng_msg_body(m));
			fflush(stdout);
			nng_msg_free(m);
			if (reply)
				nng_send(s, (void *)reply, strlen(reply), 0);
		} else if (file && atomic_load(&connected)) {
			size_t len;
			char *buf = slurp(file, &len);

			if (!nng_send(s, buf, len, 0)) {
				printf("sent %zu\n", len);
				fflush(stdout);
				file = NULL;
			}
			free(buf);
		} else {
			usleep(50000);
		}
	}
	nng_close(s);
	if (tls)
		nng_tls_config_free(tls);
	return 0;
}
