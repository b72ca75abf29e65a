// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_api_deadline.c: the time an API connection has to send a whole request
 * (aggregator/api_deadline.h), on socket pairs: one end registered as the connection, the other
 * the client, which sees the shutdown as the end of its stream. With a timeout of 300 ms: a
 * connection is cut after it even while its client trickles bytes (what libmicrohttpd's idle
 * timeout let through), not while its request is handled or lies unread, not while an
 * authenticated answer goes out, and again after it; answers without a credential give no new
 * deadline; a removed connection is never cut.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api_deadline.h"
#include "log.h"
#include "testing.h"

#define TIMEOUT_MS 300

static struct api_deadline *d;
static int sv[2]; /* [0] the server's end, registered; [1] the client's */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether the client's end has seen the server's shut down (end of stream), within ms. */
static bool client_sees_end(int ms)
{
	struct pollfd p = { .fd = sv[1], .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) <= 0)
		return false;
	return recv(sv[1], &c, 1, MSG_DONTWAIT) == 0;
}

/* The server's end reads what the client sent, as libmicrohttpd's thread does when free. */
static void server_reads(void)
{
	char buf[256];

	while (recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void pair(void)
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
}

static void unpair(void)
{
	close(sv[0]);
	close(sv[1]);
}

/* A client that sends a byte every 50 ms, as a slow-loris sends header lines, is cut. */
static void test_trickling_client_is_cut_at_the_deadline(void)
{
	struct api_deadline_conn *c;
	uint64_t t0, cut0 = api_deadline_cut(d);
	bool ended = false;

	pair();
	t0 = mono_ms();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40000");
	CHECK(c, "added");
	while (!ended && mono_ms() - t0 < 3000) {
		send(sv[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		server_reads();
		ended = client_sees_end(50);
	}
	CHECK(ended, "not cut after %llu ms", (unsigned long long)(mono_ms() - t0));
	CHECK(mono_ms() - t0 >= TIMEOUT_MS, "cut after %llu ms, before its %u ms",
	      (unsigned long long)(mono_ms() - t0), TIMEOUT_MS);
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 1, "connections cut");
	api_deadline_remove(d, c);
	unpair();
}

/* An authenticated answer takes the time it takes; the next request has the whole timeout. */
static void test_answered_connection_waits_then_its_next_request_is_due(void)
{
	struct api_deadline_conn *c;
	uint64_t t0, cut0 = api_deadline_cut(d);

	pair();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40001");
	CHECK(c, "added");
	api_deadline_answering(d, c);
	api_deadline_answered(d, c, true);
	CHECK(!client_sees_end(3 * TIMEOUT_MS), "cut while answering");
	t0 = mono_ms();
	api_deadline_next(d, c);
	CHECK(client_sees_end(10 * TIMEOUT_MS), "the next request was never due");
	CHECK(mono_ms() - t0 >= TIMEOUT_MS - 10, "the next request had %llu ms, not %u",
	      (unsigned long long)(mono_ms() - t0), TIMEOUT_MS);
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 1, "connections cut");
	api_deadline_remove(d, c);
	unpair();
}

/*
 * A request sent whole in time but not read, because the thread that serves its connection is
 * busy with another (a slow handler): the wait is the server's, so it is not cut while what
 * the client sent lies unread, and once read and answered, not at all. Cutting it lost a
 * request its client had sent at once (an aggregator with --http-threads 1, a create against
 * a slow bucket on one connection: a keep-alive connection's whole request was cut at 3 s).
 */
static void test_unread_request_is_not_cut(void)
{
	struct api_deadline_conn *c;
	uint64_t cut0 = api_deadline_cut(d);

	pair();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40003");
	CHECK(c, "added");
	CHECK(send(sv[1], "GET / HTTP/1.1\r\n\r\n", 18, MSG_NOSIGNAL) == 18, "sent");
	CHECK(!client_sees_end(3 * TIMEOUT_MS), "cut while its request lay unread");
	server_reads();
	api_deadline_answering(d, c);
	api_deadline_answered(d, c, true);
	CHECK(!client_sees_end(3 * TIMEOUT_MS), "cut while answering");
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 0, "connections cut");
	/* The next request's start, unread past its deadline; once read, not whole: cut. */
	api_deadline_next(d, c);
	CHECK(send(sv[1], "GET", 3, MSG_NOSIGNAL) == 3, "sent");
	CHECK(!client_sees_end(2 * TIMEOUT_MS), "cut while its request lay unread");
	server_reads();
	CHECK(client_sees_end(10 * TIMEOUT_MS), "a request read and not whole was never cut");
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 1, "connections cut");
	api_deadline_remove(d, c);
	unpair();
}

/*
 * Answers to requests without a credential (/healthz, 401s) give no new deadline: pipelined
 * requests whose answers the client read a little at a time kept a connection for as long as
 * it liked. The connection has the timeout from its accept, however many it asks.
 */
static void test_untrusted_answers_do_not_renew(void)
{
	struct api_deadline_conn *c;
	uint64_t t0, cut0 = api_deadline_cut(d);
	bool ended = false;

	pair();
	t0 = mono_ms();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40004");
	CHECK(c, "added");
	while (!ended && mono_ms() - t0 < 10 * TIMEOUT_MS) {
		api_deadline_answering(d, c);
		api_deadline_answered(d, c, false);
		api_deadline_next(d, c);
		ended = client_sees_end(50);
	}
	CHECK(ended, "not cut after %llu ms of answers", (unsigned long long)(mono_ms() - t0));
	CHECK(mono_ms() - t0 >= TIMEOUT_MS, "cut after %llu ms, before its %u ms",
	      (unsigned long long)(mono_ms() - t0), TIMEOUT_MS);
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 1, "connections cut");
	api_deadline_remove(d, c);
	unpair();
}

/*
 * Requests pipelined behind an answer the client does not read (or reads a little at a time):
 * its bytes lie unread because the connection's thread waits on the client, not on another
 * connection, so they are no reason to wait. Without a credential such a connection lived for
 * as long as its client liked (--http-timeout 3, 20 s and on, on a live aggregator).
 */
static void test_unread_behind_an_unread_answer_is_cut(void)
{
	struct api_deadline_conn *c;
	uint64_t t0, cut0 = api_deadline_cut(d);

	pair();
	t0 = mono_ms();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40006");
	CHECK(c, "added");
	CHECK(send(sv[1], "GET / HTTP/1.1\r\n\r\n", 18, MSG_NOSIGNAL) == 18, "sent");
	api_deadline_answering(d, c);
	api_deadline_answered(d, c, false);
	CHECK(send(sv[0], "HTTP/1.1 200 OK\r\n\r\n", 19, MSG_NOSIGNAL) == 19, "answered");
	CHECK(recv(sv[1], (char[1]){ 0 }, 1, 0) == 1, "a byte of the answer read");
	/* The rest of the answer lies in the client's socket: the cut shows in the count. */
	while (api_deadline_cut(d) == cut0 && mono_ms() - t0 < 10 * TIMEOUT_MS)
		usleep(10000);
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 1, "connections cut");
	CHECK(mono_ms() - t0 >= TIMEOUT_MS, "cut after %llu ms, before its %u ms",
	      (unsigned long long)(mono_ms() - t0), TIMEOUT_MS);
	api_deadline_remove(d, c);
	unpair();
}

/*
 * A request being handled (an ownership create waits up to 30 s on the bucket) is not cut, even
 * past its deadline; once handled without a credential, it is, at the next sweep.
 */
static void test_handled_request_is_not_cut(void)
{
	struct api_deadline_conn *c;
	uint64_t cut0 = api_deadline_cut(d);

	pair();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40005");
	CHECK(c, "added");
	api_deadline_answering(d, c);
	CHECK(!client_sees_end(3 * TIMEOUT_MS), "cut while handled");
	api_deadline_answered(d, c, false);
	CHECK(client_sees_end(10 * TIMEOUT_MS), "not cut once handled, its deadline past");
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 1, "connections cut");
	api_deadline_remove(d, c);
	unpair();
}

/* Once removed (closed by libmicrohttpd), its descriptor is nobody's business here. */
static void test_removed_connection_is_left_alone(void)
{
	struct api_deadline_conn *c;
	uint64_t cut0 = api_deadline_cut(d);

	pair();
	c = api_deadline_add(d, sv[0], "192.0.2.1:40002");
	CHECK(c, "added");
	api_deadline_remove(d, c);
	CHECK(!client_sees_end(3 * TIMEOUT_MS), "a removed connection was cut");
	CHECK_EQ_U64(api_deadline_cut(d) - cut0, 0, "connections cut");
	unpair();
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERROR);
	if (api_deadline_start(TIMEOUT_MS, &d)) {
		fprintf(stderr, "api_deadline_start failed\n");
		return 1;
	}
	RUN(test_trickling_client_is_cut_at_the_deadline);
	RUN(test_answered_connection_waits_then_its_next_request_is_due);
	RUN(test_untrusted_answers_do_not_renew);
	RUN(test_handled_request_is_not_cut);
	RUN(test_removed_connection_is_left_alone);
	RUN(test_unread_request_is_not_cut);
	RUN(test_unread_behind_an_unread_answer_is_cut);
	api_deadline_stop(d);
	return TEST_SUMMARY();
}
