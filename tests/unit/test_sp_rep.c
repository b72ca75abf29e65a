// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_sp_rep.c: agent/sp_rep.h, the SP REP server behind the agent's local socket. It answers
 * NNG's REQ (what edgecapctl dials), replies of several MiB included; the decoder gives the same
 * messages however the bytes are split; and no abuse stops it answering: junk, an oversized
 * length, a peer of another protocol, a request with no request id, idle (half-open)
 * connections, more connections than its cap, slow senders and a peer that never reads. Each
 * abusive connection is closed by the server, within the timeout when it goes quiet.
 * The server runs in a thread of its own, polled as the agent's loop polls it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "sp_peer.h"
#include "sp_rep.h"
#include "testing.h"

#define TIMEOUT_MS 500
#define MAX_CONNS  8
#define MAX_MSG	   4096

static char dir[64], path[96], url[110];
static struct sp_rep *srv;
static pthread_t thr;
static volatile int stop;
static volatile unsigned int conns_seen, conns_max;

/* The reply: "re:" and the request, or 3 MiB of 'x' for the request "big". */
static uint8_t *answer(void *arg, const uint8_t *req, size_t len, size_t *reply_len)
{
	uint8_t *out;

	(void)arg;
	if (len == 3 && !memcmp(req, "big", 3)) {
		*reply_len = 3 << 20;
		out = malloc(*reply_len);
		if (out)
			memset(out, 'x', *reply_len);
		return out;
	}
	out = malloc(len + 3);
	if (!out)
		return NULL;
	memcpy(out, "re:", 3);
	memcpy(out + 3, req, len);
	*reply_len = len + 3;
	return out;
}

static void *serve(void *arg)
{
	(void)arg;
	while (!stop) {
		struct pollfd pfd = { .fd = sp_rep_fd(srv), .events = POLLIN };

		poll(&pfd, 1, 20);
		sp_rep_handle(srv);
		conns_seen = sp_rep_conns(srv);
		if (conns_seen > conns_max)
			conns_max = conns_seen;
	}
	return NULL;
}

static int server_start(void)
{
	const struct sp_rep_opts o = { .max_msg = MAX_MSG,
				       .max_conns = MAX_CONNS,
				       .timeout_ms = TIMEOUT_MS };
	char err[256];

	peer_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/rep.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	if (sp_rep_open(path, &o, answer, NULL, &srv, err, sizeof(err))) {
		fprintf(stderr, "sp_rep_open: %s\n", err);
		return -1;
	}
	return pthread_create(&thr, NULL, serve, NULL);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A raw connection to the server (blocking, 2 s receive timeout), or -1. */
static int raw_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads until the server closes fd: 1 when it did (EOF or reset) within 2 s, 0 otherwise. */
static int closed_by_server(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return 0;
	}
}

static int send_all(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static const uint8_t req_hello[8] = { 0, 'S', 'P', 0, 0, SP_PROTO_REQ, 0, 0 };

/* A framed request: head, the request id 0x80000001 and body. Returns its length. */
static size_t frame(uint8_t *out, const char *body)
{
	size_t len = strlen(body) + 4;

	out[0] = 1;
	for (int i = 0; i < 8; i++)
		out[1 + i] = (uint8_t)((uint64_t)len >> (8 * (7 - i)));
	memcpy(out + 9, "\x80\x00\x00\x01", 4);
	memcpy(out + 13, body, strlen(body));
	return 9 + len;
}

/* edgecapctl's way: a fresh NNG REQ socket, one request, its reply. 0 when it equals want. */
static int nng_ask(const char *text, const char *want, size_t want_len)
{
	nng_socket s;
	nng_msg *msg = NULL;
	int ret;

	if (nng_req0_open(&s))
		return -1;
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 2000);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 2000);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	ret = nng_dial(s, url, NULL, 0);
	if (!ret)
		ret = nng_send(s, (void *)text, strlen(text), 0);
	if (!ret)
		ret = nng_recvmsg(s, &msg, 0);
	if (!ret) {
		if (want &&
		    (nng_msg_len(msg) != want_len || memcmp(nng_msg_body(msg), want, want_len)))
			ret = -1;
		if (!want && nng_msg_len(msg) != want_len)
			ret = -1;
		nng_msg_free(msg);
	}
	nng_close(s);
	return ret;
}

#define CHECK_ANSWERS(when) CHECK(nng_ask("ping", "re:ping", 7) == 0, "no answer %s", when)

static void test_decoder_splits_alike(void)
{
	uint8_t wire[256], *p = wire;
	size_t len, chunk;

	memcpy(p, req_hello, 8);
	p += 8;
	p += frame(p, "one");
	p += frame(p, "");
	p += frame(p, "three");
	len = (size_t)(p - wire);
	for (chunk = 1; chunk <= len; chunk++) {
		struct sp_rx rx = { .max = 64 };
		size_t off = 0, used;
		int msgs = 0, ok = 1;

		while (off < len) {
			size_t n = len - off < chunk ? len - off : chunk;
			int ret = sp_rx_feed(&rx, wire + off, n, &used);

			if (ret < 0 || used > n) {
				ok = 0;
				break;
			}
			off += used;
			if (ret == SP_RX_MSG) {
				static const char *want[] = { "one", "", "three" };

				ok &= rx.len == 4 + strlen(want[msgs]) &&
				      sp_req_backtrace_len(rx.msg, rx.len) == 4 &&
				      !memcmp(rx.msg + 4, want[msgs], rx.len - 4);
				msgs++;
			}
		}
		sp_rx_free(&rx);
		CHECK(ok && msgs == 3, "chunks of %zu: %d messages, ok %d", chunk, msgs, ok);
	}
}

static void test_decoder_refuses(void)
{
	static const uint8_t push_hello[8] = { 0, 'S', 'P', 0, 0, 0x50, 0, 0 };
	uint8_t big[9 + 8] = { 0 };
	struct sp_rx rx = { .max = 16 };
	size_t used;

	CHECK(sp_rx_feed(&rx, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &used) == -EPROTO &&
		      used == 1,
	      "junk is refused at its first byte (used %zu)", used);
	sp_rx_free(&rx);
	CHECK(sp_rx_feed(&rx, push_hello, 8, &used) == -EPROTO, "a PUSH peer is refused");
	sp_rx_free(&rx);
	memcpy(big, req_hello, 8);
	big[8] = 1;
	memcpy(big + 9, "\0\0\0\0\0\0\0\x11", 8); /* 17 > max 16 */
	CHECK(sp_rx_feed(&rx, big, sizeof(big), &used) == -EMSGSIZE, "17 bytes over a max of 16");
	sp_rx_free(&rx);
	big[8] = 2;
	CHECK(sp_rx_feed(&rx, big, 9, &used) == -EPROTO, "message type 2");
	sp_rx_free(&rx);
	CHECK(sp_req_backtrace_len((const uint8_t *)"\0\0\0\1\x80\0\0\2", 8) == 8, "two hops");
	CHECK(sp_req_backtrace_len((const uint8_t *)"\0\0\0\1", 4) == -EPROTO, "no request id");
	CHECK(sp_req_backtrace_len((const uint8_t *)"\x80\0", 2) == -EPROTO, "a short id");
}

static void test_answers_nng_req(void)
{
	CHECK_ANSWERS("to a first REQ");
	CHECK_ANSWERS("to a second REQ");
	/* A reply of 3 MiB leaves in pieces, as the peer reads it. */
	CHECK(nng_ask("big", NULL, 3 << 20) == 0, "no 3 MiB reply");
}

static void test_junk_closes_that_connection_only(void)
{
	uint8_t junk[2000];
	int fd;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	/* Junk, then closing at once: what wedged NNG 1.5.2's listener. */
	for (int k = 0; k < 5; k++) {
		fd = raw_connect();
		CHECK(fd >= 0, "connect");
		send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
		close(fd);
	}
	CHECK_ANSWERS("after junk and a close");
	fd = raw_connect();
	CHECK(fd >= 0 && send_all(fd, junk, sizeof(junk)) == 0, "send junk");
	CHECK(closed_by_server(fd), "the server kept a connection that sent junk");
	close(fd);
	CHECK_ANSWERS("after junk");
}

static void test_oversized_and_foreign_are_closed(void)
{
	uint8_t head[17];
	uint8_t req[64];
	size_t n;
	int fd;

	/* A length of 2^63: refused from the head, nothing allocated. */
	memcpy(head, req_hello, 8);
	head[8] = 1;
	memcpy(head + 9, "\x80\0\0\0\0\0\0\0", 8);
	fd = raw_connect();
	CHECK(fd >= 0 && send_all(fd, head, sizeof(head)) == 0, "send");
	CHECK(closed_by_server(fd), "an oversized length was not refused");
	close(fd);
	/* A request with no request id (no word with the top bit). */
	fd = raw_connect();
	n = frame(req, "x");
	req[9] = 0;
	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0 && send_all(fd, req, n) == 0, "send");
	CHECK(closed_by_server(fd), "a request with no id was answered");
	close(fd);
	CHECK_ANSWERS("after oversized and foreign requests");
}

static void test_half_open_and_too_many_connections(void)
{
	int fds[3 * MAX_CONNS], i;

	/* Three times the cap, all idle: the newest get in, the oldest are closed. */
	for (i = 0; i < 3 * MAX_CONNS; i++)
		fds[i] = raw_connect();
	sleep_ms(50);
	CHECK_ANSWERS("with three times the cap of idle connections");
	CHECK(conns_max <= MAX_CONNS, "%u connections open at once, cap %d", conns_max, MAX_CONNS);
	CHECK(sp_rep_dropped(srv) >= 2 * MAX_CONNS, "only %llu connections evicted",
	      (unsigned long long)sp_rep_dropped(srv));
	/* Idle ones go at the timeout. */
	for (i = 0; i < 3 * MAX_CONNS; i++) {
		CHECK(fds[i] >= 0 && closed_by_server(fds[i]), "connection %d never closed", i);
		close(fds[i]);
	}
	sleep_ms(TIMEOUT_MS / 2);
	CHECK(conns_seen == 0, "%u connections left after the timeout", conns_seen);
}

static void test_slow_senders(void)
{
	uint8_t req[64];
	char buf[64];
	size_t n = frame(req, "slow");
	int fd = raw_connect();

	/* Within the timeout, a byte at a time: answered. */
	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0, "send");
	for (size_t i = 0; i < n; i++) {
		CHECK(send_all(fd, req + i, 1) == 0, "send byte %zu", i);
		sleep_ms(5);
	}
	CHECK(recv(fd, buf, 8, MSG_WAITALL) == 8 && !memcmp(buf, "\0SP\0\0\x31\0\0", 8),
	      "no REP handshake");
	CHECK(recv(fd, buf, 9 + 4 + 7, MSG_WAITALL) == 20 && !memcmp(buf + 13, "re:slow", 7),
	      "no reply to a slow request");
	/* Slower than the timeout allows: closed, and the others still answered meanwhile. */
	for (size_t i = 0; i < 4; i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
			break;
		CHECK_ANSWERS("during a slow sender");
		sleep_ms(TIMEOUT_MS / 3);
	}
	CHECK(closed_by_server(fd), "a sender slower than the timeout was kept");
	close(fd);
}

static void test_peer_that_never_reads(void)
{
	uint8_t req[64];
	size_t n = frame(req, "big");
	int fd = raw_connect(), buf = 1;

	/* A 3 MiB reply that nobody reads: the server gives up at the timeout, not before. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0 && send_all(fd, req, n) == 0, "send");
	sleep_ms(50);
	CHECK_ANSWERS("while a reply waits for its reader");
	sleep_ms(2 * TIMEOUT_MS);
	CHECK(conns_seen == 0, "the server still holds %u connections", conns_seen);
	close(fd);
}

int main(void)
{
	int ok = server_start() == 0;

	RUN(test_decoder_splits_alike);
	RUN(test_decoder_refuses);
	if (ok) {
		RUN(test_answers_nng_req);
		RUN(test_junk_closes_that_connection_only);
		RUN(test_oversized_and_foreign_are_closed);
		RUN(test_half_open_and_too_many_connections);
		RUN(test_slow_senders);
		RUN(test_peer_that_never_reads);
		stop = 1;
		pthread_join(thr, NULL);
	} else {
		tests_failed++;
	}
	sp_rep_close(srv);
	unlink(path);
	rmdir(dir);
	return TEST_SUMMARY();
}
