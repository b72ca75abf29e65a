// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_sp_rep.c: agent/sp_rep.h, the SP REP server behind the agent's local socket. It answers
 * NNG's REQ (what edgecapctl dials), replies of several MiB included; the decoder gives the same
 * messages however the bytes are split; and no abuse stops it answering: junk, an oversized
 * length, a peer of another protocol, a request with no request id, idle (half-open)
 * connections, more connections than its cap, slow senders and a peer that never reads. Each
 * abusive connection is closed by the server, within the timeout when it goes quiet.
 * The server runs in a thread of its own, polled as the agent's loop polls it. A second server
 * (1 MiB requests, a long timeout) checks what must happen well before any timeout: memory that
 * follows the bytes a peer sent, not the length it declared, and a connection closed at once
 * when epoll cannot watch it as it must, or no spinning when accept() fails. Faults come from
 * this file's epoll_ctl, accept4, recv and send, which stand in for libc's (the agent's library
 * is linked statically) and pass every call through but for the ones a test asks to fail.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
/* The second server: requests of 1 MiB, and a timeout no test waits for. */
#define BIG_MSG		(1024 * 1024)
#define LONG_TIMEOUT_MS 30000

static char dir[64], path[96], url[110], path2[96];
static struct sp_rep *srv, *srv2;
static pthread_t thr, thr2;
static volatile int stop, paused, paused_ack;
static volatile unsigned int conns_seen, conns_max, conns2_seen;
static volatile unsigned long passes2; /* the second server's passes */

/*
 * Faults. The next EPOLL_CTL_MOD on the epoll set fail_mod_epfd to the events fail_mod_events
 * fails with ENOMEM; the next eintr_recv recv() and eintr_send send() calls on a server's side of
 * a connection fail with EINTR. Everything else goes to the kernel.
 */
static volatile int fail_mod_epfd = -1, eintr_recv, eintr_send;
static volatile uint32_t fail_mod_events;
/* The next EPOLL_CTL_ADD of a listening socket (sp_rep.c's EV_LISTEN) fails. */
static volatile int fail_add_listen;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (op == EPOLL_CTL_ADD && fail_add_listen && ev && ev->data.u64 == UINT64_MAX) {
		fail_add_listen = 0;
		errno = ENOMEM;
		return -1;
	}
	if (op == EPOLL_CTL_MOD && epfd == fail_mod_epfd && ev && ev->events == fail_mod_events) {
		fail_mod_epfd = -1;
		errno = ENOMEM;
		return -1;
	}
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

/* A server's end of a connection: its local name is one of the servers' paths. */
static int server_side(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) || sun.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return 0;
	return (path[0] && !strcmp(sun.sun_path, path)) ||
	       (path2[0] && !strcmp(sun.sun_path, path2));
}

/* While emfile_accept is set, the second server's accept() fails as when out of descriptors
 * (the connection stays queued); emfile_count counts those. */
static volatile int emfile_accept;
static volatile unsigned long emfile_count;

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (emfile_accept && !getsockname(fd, (struct sockaddr *)&sun, &sl) &&
	    sun.sun_family == AF_UNIX && !strcmp(sun.sun_path, path2)) {
		emfile_count++;
		errno = EMFILE;
		return -1;
	}
	return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (eintr_recv > 0 && server_side(fd)) {
		eintr_recv--;
		errno = EINTR;
		return -1;
	}
	return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (eintr_send > 0 && server_side(fd)) {
		eintr_send--;
		errno = EINTR;
		return -1;
	}
	return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

/* Bytes malloc holds now, in every arena and in mappings of their own. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* The reply: "re:" and the request, or 3 MiB of 'x' for the request "big", or for "huge" a
 * reply whose length (near SIZE_MAX) cannot be framed. */
static uint8_t *answer(void *arg, const uint8_t *req, size_t len, size_t *reply_len)
{
	uint8_t *out;

	(void)arg;
	if (len == 4 && !memcmp(req, "huge", 4)) {
		*reply_len = SIZE_MAX - 8;
		return calloc(1, 1);
	}
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

		paused_ack = paused;
		if (paused) {
			poll(NULL, 0, 5);
			continue;
		}
		poll(&pfd, 1, 20);
		sp_rep_handle(srv);
		conns_seen = sp_rep_conns(srv);
		if (conns_seen > conns_max)
			conns_max = conns_seen;
	}
	return NULL;
}

static void *serve2(void *arg)
{
	(void)arg;
	while (!stop) {
		struct pollfd pfd = { .fd = sp_rep_fd(srv2), .events = POLLIN };

		poll(&pfd, 1, 20);
		sp_rep_handle(srv2);
		conns2_seen = sp_rep_conns(srv2);
		passes2++;
	}
	return NULL;
}

static int server_start(void)
{
	const struct sp_rep_opts o = { .max_msg = MAX_MSG,
				       .max_conns = MAX_CONNS,
				       .timeout_ms = TIMEOUT_MS };
	const struct sp_rep_opts o2 = { .max_msg = BIG_MSG,
					.max_conns = MAX_CONNS,
					.timeout_ms = LONG_TIMEOUT_MS };
	char err[256];

	peer_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/rep.sock", dir);
	snprintf(path2, sizeof(path2), "%s/rep2.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	if (sp_rep_open(path, &o, answer, NULL, &srv, err, sizeof(err)) ||
	    sp_rep_open(path2, &o2, answer, NULL, &srv2, err, sizeof(err))) {
		fprintf(stderr, "sp_rep_open: %s\n", err);
		return -1;
	}
	if (pthread_create(&thr, NULL, serve, NULL))
		return -1;
	return pthread_create(&thr2, NULL, serve2, NULL);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A raw connection to the server at where (blocking, 2 s receive timeout), or -1. */
static int raw_connect_to(const char *where)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", where);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int raw_connect(void)
{
	return raw_connect_to(path);
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

/* A message head declaring len bytes. */
static void head_of(uint8_t out[9], uint64_t len)
{
	out[0] = 1;
	for (int i = 0; i < 8; i++)
		out[1 + i] = (uint8_t)(len >> (8 * (7 - i)));
}

/* Reads the REP handshake and one reply; 0 when the reply's body (after the request id
 * 0x80000001) is want. */
static int read_reply(int fd, const char *want)
{
	size_t wlen = strlen(want);
	uint8_t buf[9 + 4 + 256];

	if (wlen > 256 || recv(fd, buf, 8, MSG_WAITALL) != 8 || memcmp(buf, "\0SP\0\0\x31\0\0", 8))
		return -1;
	if (recv(fd, buf, 9 + 4 + wlen, MSG_WAITALL) != (ssize_t)(9 + 4 + wlen))
		return -1;
	return buf[0] == 1 && !memcmp(buf + 9, "\x80\0\0\1", 4) && !memcmp(buf + 13, want, wlen)
		       ? 0
		       : -1;
}

/* 1 when fd stays open, with nothing to read, for ms. */
static int stays_open(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
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

/* A length declared in the head takes no memory until its bytes come: the buffer follows the
 * bytes received (doubling), never more than twice them, and the message is whole at the end. */
static void test_decoder_memory_follows_bytes(void)
{
	const size_t max = 1024 * 1024;
	struct sp_rx rx = { .max = max };
	uint8_t head[9], *body = malloc(max);
	size_t used, off = 0, step = 1;
	int ret = SP_RX_MORE, ok = 1;

	CHECK(body != NULL, "malloc");
	if (!body)
		return;
	for (size_t i = 0; i < max; i++)
		body[i] = (uint8_t)(i * 131 + 7);
	body[0] = 0x80; /* a request id */
	head_of(head, max);
	CHECK(sp_rx_feed(&rx, req_hello, 8, &used) == SP_RX_MORE && used == 8, "handshake");
	CHECK(sp_rx_feed(&rx, head, 9, &used) == SP_RX_MORE && used == 9, "head");
	CHECK(malloc_usable_size(rx.msg) < 64 * 1024,
	      "a head declaring 1 MiB took %zu bytes before any came", malloc_usable_size(rx.msg));
	while (off < max && ret == SP_RX_MORE) {
		size_t n = max - off < step ? max - off : step;

		ret = sp_rx_feed(&rx, body + off, n, &used);
		off += used;
		if (ret < 0 || used != n)
			ok = 0;
		/* Never more than twice what came, but for a first small block. */
		if (malloc_usable_size(rx.msg) > 2 * off + 8192)
			ok = 0;
		step = step * 3 + 1;
	}
	CHECK(ok && ret == SP_RX_MSG && off == max, "fed %zu of %zu bytes (ret %d)", off, max, ret);
	CHECK(rx.len == max && !memcmp(rx.msg, body, max), "the message is not what was sent");
	sp_rx_free(&rx);
	free(body);
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

/* Peers declaring 1 MiB requests and sending none of it pin no memory in the server. */
static void test_declared_lengths_pin_no_memory(void)
{
	uint8_t head[9], *body;
	int fds[MAX_CONNS], i;
	size_t before, after, body_len = 200 * 1024;

	before = heap_in_use();
	head_of(head, BIG_MSG);
	for (i = 0; i < MAX_CONNS; i++) {
		fds[i] = raw_connect_to(path2);
		CHECK(fds[i] >= 0 && send_all(fds[i], req_hello, 8) == 0 &&
			      send_all(fds[i], head, sizeof(head)) == 0,
		      "connection %d", i);
	}
	for (i = 0; i < 100 && conns2_seen < MAX_CONNS; i++)
		sleep_ms(10);
	sleep_ms(100); /* the heads are read */
	after = heap_in_use();
	CHECK(conns2_seen == MAX_CONNS, "%u connections open, want %d", conns2_seen, MAX_CONNS);
	CHECK(after < before + BIG_MSG, "%d heads of 1 MiB took %zu KiB", MAX_CONNS,
	      (after - before) / 1024);
	for (i = 0; i < MAX_CONNS; i++)
		close(fds[i]);
	/* A request of 200 KiB, its bytes sent as they come: answered. */
	body = malloc(body_len + 9);
	CHECK(body != NULL, "malloc");
	if (!body)
		return;
	head_of(body, body_len);
	memcpy(body + 9, "\x80\0\0\1", 4);
	memset(body + 13, 'a', body_len - 4);
	fds[0] = raw_connect_to(path2);
	CHECK(fds[0] >= 0 && send_all(fds[0], req_hello, 8) == 0 &&
		      send_all(fds[0], body, body_len + 9) == 0,
	      "send 200 KiB");
	/* The reply: the head, the id, "re:" and the body; its first 16 bytes checked. */
	CHECK(read_reply(fds[0], "re:aaaaaaaaaaaaa") == 0, "no reply to a 200 KiB request");
	close(fds[0]);
	free(body);
}

/*
 * When epoll cannot be told what to watch, the connection is closed at once, not left to its
 * deadline (30 s here): watched for reading while a reply waits (never served), or for writing
 * after the reply (woken for nothing on every pass).
 */
static void test_watch_failure_closes(void)
{
	uint8_t req[64];
	size_t n = frame(req, "big");
	int fd, small = 1;

	/* Its reply waits for the reader; the watch for writing fails. */
	fd = raw_connect_to(path2);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fail_mod_events = EPOLLOUT;
	fail_mod_epfd = sp_rep_fd(srv2);
	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0 && send_all(fd, req, n) == 0, "send");
	for (int i = 0; i < 200 && fail_mod_epfd != -1; i++)
		sleep_ms(10);
	CHECK(fail_mod_epfd == -1, "the server never asked to watch for writing");
	CHECK(closed_by_server(fd), "a connection epoll does not watch for writing was kept");
	close(fd);
	fail_mod_epfd = -1;
	/* Its whole reply read; the watch for reading again fails. */
	fd = raw_connect_to(path2);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fail_mod_events = EPOLLIN;
	fail_mod_epfd = sp_rep_fd(srv2);
	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0 && send_all(fd, req, n) == 0, "send");
	sleep_ms(100);
	/* closed_by_server reads the handshake and the 3 MiB reply first. */
	CHECK(closed_by_server(fd), "a connection epoll does not watch for reading was kept");
	CHECK(fail_mod_epfd == -1, "the server never asked to watch for reading");
	close(fd);
	fail_mod_epfd = -1;
	sleep_ms(50);
	CHECK(conns2_seen == 0, "the server still holds %u connections", conns2_seen);
}

/* Connections accepted in one pass (one deadline, to the ms): the cap evicts the oldest ones,
 * never the one it just let in. */
static void test_eviction_takes_the_oldest(void)
{
	int fds[MAX_CONNS + 2], i;

	paused = 1;
	while (!paused_ack)
		sleep_ms(1);
	for (i = 0; i < MAX_CONNS + 2; i++)
		fds[i] = raw_connect();
	paused = 0;
	/* The newest first: each stays open (its handshake, then nothing). */
	for (i = MAX_CONNS + 1; i >= 2; i--) {
		char hello[8];

		CHECK(fds[i] >= 0 && recv(fds[i], hello, 8, MSG_WAITALL) == 8 &&
			      stays_open(fds[i], i >= MAX_CONNS ? 50 : 0),
		      "connection %d (of %d) was evicted", i, MAX_CONNS + 2);
	}
	for (i = 0; i < 2; i++)
		CHECK(fds[i] >= 0 && closed_by_server(fds[i]), "the oldest, %d, was not evicted",
		      i);
	for (i = 0; i < MAX_CONNS + 2; i++)
		close(fds[i]);
	sleep_ms(TIMEOUT_MS / 5);
}

/* A recv or send interrupted by a signal is tried again, not taken for a dead peer. */
static void test_eintr_retried(void)
{
	uint8_t req[64];
	size_t n = frame(req, "intr");
	int fd;

	eintr_send = 2;
	eintr_recv = 2;
	fd = raw_connect_to(path2);
	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0 && send_all(fd, req, n) == 0, "send");
	CHECK(read_reply(fd, "re:intr") == 0, "no reply when recv and send were interrupted");
	CHECK(eintr_send == 0 && eintr_recv == 0, "the faults were not reached (%d, %d)",
	      eintr_send, eintr_recv);
	eintr_send = eintr_recv = 0;
	close(fd);
}

/* Out of descriptors, the server stops accepting for a while instead of spinning on a listening
 * socket that stays readable (the connection stays queued), and takes the connection once it
 * can. */
static void test_out_of_descriptors_does_not_spin(void)
{
	unsigned long before, spins, refused;
	char hello[8];
	int fd;

	emfile_accept = 1;
	fd = raw_connect_to(path2);
	CHECK(fd >= 0, "connect");
	sleep_ms(50);
	before = passes2;
	sleep_ms(300);
	spins = passes2 - before;
	refused = emfile_count;
	emfile_accept = 0;
	/* It polls for 20 ms a pass when idle: 15 passes in 300 ms, not thousands; and it tries
	 * accept() again once every SP_ACCEPT_PAUSE_MS (100 ms). */
	CHECK(refused >= 1, "the server never tried to accept");
	CHECK(spins < 100 && refused < 20,
	      "%lu passes and %lu accepts in 300 ms without a descriptor", spins, refused);
	CHECK(recv(fd, hello, 8, MSG_WAITALL) == 8, "the connection was never accepted");
	close(fd);
}

/* A server that fails to open after its bind leaves no socket file behind, and one whose path
 * is taken leaves that file alone. */
static void test_failed_open_leaves_no_file(void)
{
	const struct sp_rep_opts o = { .max_msg = MAX_MSG, .max_conns = 1, .timeout_ms = 100 };
	struct sp_rep *s = NULL;
	char p3[110], err[256];

	snprintf(p3, sizeof(p3), "%s/rep3.sock", dir);
	fail_add_listen = 1;
	CHECK(sp_rep_open(p3, &o, answer, NULL, &s, err, sizeof(err)) < 0, "opened anyway");
	fail_add_listen = 0;
	CHECK(access(p3, F_OK) && errno == ENOENT, "a failed open left %s behind", p3);
	unlink(p3);
	CHECK(sp_rep_open(path, &o, answer, NULL, &s, err, sizeof(err)) == -EADDRINUSE,
	      "opened on a path in use");
	CHECK(access(path, F_OK) == 0, "a failed open removed the socket in use");
	CHECK_ANSWERS("after a second server failed to open on its path");
}

/* A reply too long to frame closes the connection (and nothing overflows). */
static void test_unframable_reply(void)
{
	uint8_t req[64];
	size_t n = frame(req, "huge");
	int fd = raw_connect();

	CHECK(fd >= 0 && send_all(fd, req_hello, 8) == 0 && send_all(fd, req, n) == 0, "send");
	CHECK(closed_by_server(fd), "a reply of SIZE_MAX bytes was not refused");
	close(fd);
	CHECK_ANSWERS("after a reply too long to frame");
}

int main(void)
{
	int ok = server_start() == 0;

	RUN(test_decoder_splits_alike);
	RUN(test_decoder_refuses);
	RUN(test_decoder_memory_follows_bytes);
	if (ok) {
		RUN(test_answers_nng_req);
		RUN(test_junk_closes_that_connection_only);
		RUN(test_oversized_and_foreign_are_closed);
		RUN(test_half_open_and_too_many_connections);
		RUN(test_eviction_takes_the_oldest);
		RUN(test_slow_senders);
		RUN(test_peer_that_never_reads);
		RUN(test_declared_lengths_pin_no_memory);
		RUN(test_watch_failure_closes);
		RUN(test_eintr_retried);
		RUN(test_out_of_descriptors_does_not_spin);
		RUN(test_failed_open_leaves_no_file);
		RUN(test_unframable_reply);
		stop = 1;
		pthread_join(thr, NULL);
		pthread_join(thr2, NULL);
	} else {
		tests_failed++;
	}
	sp_rep_close(srv);
	sp_rep_close(srv2);
	unlink(path);
	unlink(path2);
	rmdir(dir);
	return TEST_SUMMARY();
}
