// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_ship.c: agent/ship.h, the agent's send queue: it holds up to its bound in bytes while
 * nobody takes them, refuses (and counts) what would pass the bound, always queues final
 * messages, and sends everything in order once the aggregator's PULL socket is there, even after
 * NNG's dialer gave up (sp_fault.h): ship_tick dials afresh after REDIAL_STALL_MS.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "redial.h"
#include "sp_fault.h"
#include "sp_peer.h"
#include "ship.h"
#include "testing.h"
#include "wire.h"

/* A malloc'd message of len bytes, each tag (ship takes ownership). */
static void *msg_of(size_t len, int tag)
{
	void *m = malloc(len);

	if (m)
		memset(m, tag, len);
	return m;
}

static void test_bound_refuses_and_counts_but_finals_pass(void)
{
	struct ship_stats ss;
	struct ship *s = NULL;
	char dir[64], url[128], err[256];

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	snprintf(url, sizeof(url), "ipc://%s/nobody.sock", dir);
	CHECK(ship_open(url, NULL, 1000, &s, err, sizeof(err)) == 0, "ship_open: %s", err);
	CHECK(!ship_pending(s), "a new queue holds nothing");
	CHECK(ship_enqueue(s, msg_of(600, 1), 600, false) == 0, "600 of 1000 bytes");
	CHECK(ship_enqueue(s, msg_of(400, 2), 400, false) == 0, "exactly at the bound");
	CHECK(ship_enqueue(s, msg_of(1, 3), 1, false) == -ENOBUFS, "one byte past the bound");
	CHECK(ship_enqueue(s, msg_of(300, 4), 300, false) == -ENOBUFS, "300 bytes past it");
	CHECK(ship_enqueue(s, msg_of(50, 5), 50, true) == 0, "a final message past the bound");
	ship_get_stats(s, &ss);
	CHECK_EQ_U64(ss.queued_msgs, 3, "queued messages");
	CHECK_EQ_U64(ss.queued_bytes, 1050, "queued bytes");
	CHECK_EQ_U64(ss.dropped_msgs, 2, "dropped messages");
	CHECK_EQ_U64(ss.dropped_bytes, 301, "dropped bytes");
	CHECK(ship_pending(s), "pending");
	/* Nobody listens: nothing goes, nothing is lost from the queue. */
	CHECK(ship_pump(s) == 0, "sent with no peer");
	ship_get_stats(s, &ss);
	CHECK_EQ_U64(ss.queued_msgs, 3, "queued messages after a pump with no peer");
	CHECK_EQ_U64(ss.connections, 0, "connections");
	ship_close(s);
	peer_tmpdir_remove(dir);
}

static void test_queue_drains_in_order_to_the_peer(void)
{
	struct ship_stats ss;
	struct ship *s = NULL;
	char dir[64], url[128], err[256];
	struct peer pull;
	nng_msg *msg;
	uint8_t *buf;
	int i, n;

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	CHECK(peer_bind(&pull, nng_pull0_open, dir, "data.sock", url, sizeof(url)) == 0,
	      "cannot bind %s", url);
	CHECK(ship_open(url, NULL, 1 << 20, &s, err, sizeof(err)) == 0, "ship_open: %s", err);
	for (i = 0; i < 5; i++)
		CHECK(ship_enqueue(s, msg_of(100 + (size_t)i, i), 100 + (size_t)i, i == 4) == 0,
		      "enqueue %d", i);
	CHECK(peer_wait_connected(&pull), "the send queue never connected");
	for (i = 0; i < 200 && ship_pending(s); i++) {
		ship_pump(s);
		usleep(10000);
	}
	CHECK(!ship_pending(s), "the queue did not drain");
	for (i = 0; i < 5; i++) {
		CHECK(nng_recvmsg(pull.sock, &msg, 0) == 0, "message %d never arrived", i);
		n = (int)nng_msg_len(msg);
		buf = nng_msg_body(msg);
		CHECK(n == 100 + i, "message %d: %d bytes", i, n);
		CHECK(buf[0] == i && buf[n - 1] == i, "message %d's bytes", i);
		nng_msg_free(msg);
	}
	ship_get_stats(s, &ss);
	CHECK_EQ_U64(ss.sent_msgs, 5, "sent messages");
	CHECK_EQ_U64(ss.sent_bytes, 510, "sent bytes");
	CHECK_EQ_U64(ss.queued_msgs, 0, "queued messages");
	CHECK_EQ_U64(ss.queued_bytes, 0, "queued bytes");
	CHECK_EQ_U64(ss.dropped_msgs, 0, "dropped messages");
	CHECK(ss.connections == 1, "connections: %d", ss.connections);
	ship_close(s);
	peer_close(&pull);
	peer_tmpdir_remove(dir);
}

static void test_dialer_that_gave_up_is_replaced_and_the_queue_drains(void)
{
	struct ship_stats ss;
	struct ship *s = NULL;
	char dir[64], url[128], err[256];
	struct peer pull;
	nng_msg *msg;
	int i;

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	CHECK(peer_bind(&pull, nng_pull0_open, dir, "data.sock", url, sizeof(url)) == 0,
	      "cannot bind %s", url);
	sp_fault_header(SP_FAULT_PUSH0);
	CHECK(ship_open(url, NULL, 1 << 20, &s, err, sizeof(err)) == 0, "ship_open: %s", err);
	CHECK(ship_enqueue(s, msg_of(100, 7), 100, false) == 0, "enqueue");
	/* NNG's dialer retries every 100 ms while it tries at all. */
	for (i = 0; i < 150; i++) {
		ship_pump(s);
		CHECK(ship_tick(s, sp_now_ms()) == 0, "dialled afresh before REDIAL_STALL_MS");
		usleep(10000);
	}
	CHECK_EQ_U64(atomic_load(&sp_fault_hits), 1, "SP headers failed with EPIPE");
	ship_get_stats(s, &ss);
	CHECK(ss.connections == 0, "connected after the failed header: %d", ss.connections);
	CHECK(ship_pending(s), "the message left with no connection");
	CHECK(ship_tick(s, sp_now_ms() + REDIAL_STALL_MS) == 1, "no fresh dialer after the stall");
	for (i = 0; i < 200 && ship_pending(s); i++) {
		ship_pump(s);
		usleep(10000);
	}
	CHECK(!ship_pending(s), "the queue did not drain through the fresh dialer");
	CHECK(nng_recvmsg(pull.sock, &msg, 0) == 0, "the message never arrived");
	CHECK(nng_msg_len(msg) == 100, "message of %zu bytes", nng_msg_len(msg));
	nng_msg_free(msg);
	ship_close(s);
	peer_close(&pull);
	peer_tmpdir_remove(dir);
}

/*
 * Once the send queue is open, blocks of a wire message's size come from the heap and go back to
 * it, not to the kernel: each batch would otherwise be faulted in again a page at a time.
 */
static void test_message_sized_blocks_stay_in_the_heap(void)
{
#if defined(__SANITIZE_ADDRESS__)
	/* The sanitizer's allocator is not glibc's: nothing to check. */
#else
	static const size_t sizes[] = { 256 << 10, 1 << 20, WIRE_MSG_MAX };
	struct mallinfo2 before, during, after;
	struct ship *s = NULL;
	char err[256];
	size_t i;
	void *p;

	CHECK(ship_open("ipc:///nonexistent/edgecap-test-ship.sock", NULL, 1000, &s, err,
			sizeof(err)) == 0,
	      "ship_open: %s", err);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		before = mallinfo2();
		p = malloc(sizes[i]);
		CHECK(p != NULL, "malloc of %zu bytes", sizes[i]);
		memset(p, 1, sizes[i]);
		during = mallinfo2();
		CHECK(during.hblks == before.hblks, "a block of %zu bytes was mmapped", sizes[i]);
		free(p);
		after = mallinfo2();
		CHECK(after.arena == during.arena,
		      "freeing %zu bytes trimmed the heap (%zu to %zu)", sizes[i], during.arena,
		      after.arena);
	}
	ship_close(s);
#endif
}

static void test_open_failure_names_the_url(void)
{
	struct ship *s = NULL;
	char err[256] = "";

	CHECK(ship_open("bogus://nowhere", NULL, 1000, &s, err, sizeof(err)) < 0,
	      "a bad URL opened");
	CHECK_STR_CONTAINS(err, "bogus://nowhere");
	CHECK(s == NULL, "out set on failure");
}

int main(void)
{
	RUN(test_bound_refuses_and_counts_but_finals_pass);
	RUN(test_queue_drains_in_order_to_the_peer);
	RUN(test_dialer_that_gave_up_is_replaced_and_the_queue_drains);
	RUN(test_message_sized_blocks_stay_in_the_heap);
	RUN(test_open_failure_names_the_url);
	return TEST_SUMMARY();
}
