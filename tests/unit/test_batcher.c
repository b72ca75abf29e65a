// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_batcher.c: agent/batcher.h turns a capture's records into wire batches: records gather
 * in one batch until it is flushed (by hand, by age, or when the next record would pass the
 * batch's bound), every flush is counted in the capture's counters as sent or, when the send
 * queue refuses it, as dropped, and what reaches the aggregator decodes to the same records.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "agent_clock.h"
#include "batcher.h"
#include "sp_peer.h"
#include "ship.h"
#include "testing.h"
#include "wire.h"

static const uint8_t capture_id[WIRE_CAPTURE_ID_LEN] = { 0xec, 1, 2,  3,  4,  5,  6,  7,
							 8,    9, 10, 11, 12, 13, 14, 15 };
static uint8_t payload[1514];

/* Adds a record of cap_len bytes of payload (frame of orig_len), stamped ts. */
static int add(struct batcher *bt, uint64_t ts, uint32_t cap_len, uint32_t orig_len)
{
	struct ec_record rec = {
		.tstamp_ns = ts,
		.ifindex = 7,
		.rx_queue = 3,
		.orig_len = orig_len,
		.cap_len = orig_len,
		.hook = EC_HOOK_XDP,
	};

	return batcher_add(bt, &rec, payload, cap_len);
}

static void test_flush_counts_one_batch_sent(void)
{
	struct wire_counters sent = { 0 };
	struct batcher bt;
	int i;

	CHECK(batcher_init(&bt, capture_id, "edge-test-01", NULL, &sent) == 0, "init");
	for (i = 0; i < 5; i++)
		CHECK(add(&bt, 1000 + (uint64_t)i, 100, 1500) == 0, "add %d", i);
	CHECK_EQ_U64(sent.batches_sent, 0, "batches sent before the flush");
	batcher_flush(&bt);
	CHECK_EQ_U64(sent.batches_sent, 1, "batches sent");
	CHECK_EQ_U64(sent.packets_sent, 5, "packets sent");
	CHECK_EQ_U64(sent.bytes_sent, 500, "bytes sent (cap_len)");
	CHECK_EQ_U64(sent.last_seq, 1, "last sequence number");
	CHECK_EQ_U64(sent.records_dropped, 0, "records dropped");
	/* An empty batch is not a batch: flushing again sends nothing. */
	batcher_flush(&bt);
	CHECK_EQ_U64(sent.batches_sent, 1, "batches sent after an empty flush");
	batcher_release(&bt);
}

static void test_full_batch_goes_and_record_opens_the_next(void)
{
	struct wire_counters sent = { 0 };
	struct batcher bt;
	uint32_t n = 0;

	CHECK(batcher_init(&bt, capture_id, "edge-test-01", NULL, &sent) == 0, "init");
	/* Whole frames until the first batch reached its bound and went by itself. */
	while (!sent.batches_sent && n < 10000) {
		CHECK(add(&bt, n, sizeof(payload), sizeof(payload)) == 0, "add %u", n);
		n++;
	}
	CHECK_EQ_U64(sent.batches_sent, 1, "batches sent at the bound");
	CHECK(n > 100 && n < 10000, "the bound came after %u records", n);
	/* The record that did not fit opened the next batch: nothing was lost. */
	CHECK_EQ_U64(wire_batch_count(bt.batch), 1, "records in the open batch");
	CHECK_EQ_U64(sent.packets_sent + 1, n, "records sent plus the open one");
	batcher_release(&bt);
}

static void test_tick_flushes_only_aged_batches(void)
{
	struct wire_counters sent = { 0 };
	struct batcher bt;
	uint64_t opened;

	CHECK(batcher_init(&bt, capture_id, "edge-test-01", NULL, &sent) == 0, "init");
	CHECK(batcher_timeout_ms(&bt, agent_now_ms(), 100, 5000) == 5000,
	      "an empty batch leaves the timeout alone");
	CHECK(add(&bt, 1, 60, 60) == 0, "add");
	opened = bt.opened_ms;
	CHECK(opened != 0, "the first record dates the batch");
	CHECK(batcher_timeout_ms(&bt, opened + 30, 100, 5000) == 70, "due in 70 ms");
	CHECK(batcher_timeout_ms(&bt, opened + 30, 100, 20) == 20, "a sooner timeout stays");
	CHECK(batcher_timeout_ms(&bt, opened + 500, 100, 5000) == 0, "overdue: now");
	batcher_tick(&bt, opened + 99, 100);
	CHECK_EQ_U64(sent.batches_sent, 0, "batches sent at 99 ms of 100");
	batcher_tick(&bt, opened + 100, 100);
	CHECK_EQ_U64(sent.batches_sent, 1, "batches sent at 100 ms");
	CHECK(bt.opened_ms == 0, "the next batch is empty and undated");
	batcher_release(&bt);
}

static void test_refused_batch_is_counted_as_dropped(void)
{
	struct wire_counters sent = { 0 };
	struct batcher bt;
	struct ship *ship = NULL;
	char dir[64], url[128], err[256];
	int i;

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	snprintf(url, sizeof(url), "ipc://%s/nobody.sock", dir);
	/* A send queue of 64 bytes with nobody on the other end: the batch cannot be queued. */
	CHECK(ship_open(url, NULL, 64, &ship, err, sizeof(err)) == 0, "ship_open: %s", err);
	CHECK(batcher_init(&bt, capture_id, "edge-test-01", ship, &sent) == 0, "init");
	for (i = 0; i < 3; i++)
		CHECK(add(&bt, (uint64_t)i, 200, 200) == 0, "add %d", i);
	batcher_flush(&bt);
	CHECK_EQ_U64(sent.records_dropped, 3, "records dropped");
	CHECK_EQ_U64(sent.batches_dropped, 1, "batches dropped");
	CHECK_EQ_U64(sent.batches_sent, 0, "batches sent");
	CHECK_EQ_U64(sent.packets_sent, 0, "packets sent");
	/* The sequence number was used: the aggregator sees the gap. */
	CHECK_EQ_U64(sent.last_seq, 1, "last sequence number");
	batcher_release(&bt);
	ship_close(ship);
	peer_tmpdir_remove(dir);
}

/* Receives one message from pull and decodes it into m (which points into *msg). */
static int recv_batch(struct peer *pull, struct wire_msg *m, nng_msg **msg)
{
	char reason[256];
	int ret = nng_recvmsg(pull->sock, msg, 0);

	if (ret)
		return sp_errno(ret);
	return wire_decode(nng_msg_body(*msg), nng_msg_len(*msg), m, reason, sizeof(reason));
}

static void test_shipped_batch_decodes_to_the_records(void)
{
	struct wire_counters sent = { 0 };
	struct wire_record rec;
	struct wire_msg m;
	struct wire_iter it;
	struct batcher bt;
	struct ship *ship = NULL;
	char dir[64], url[128], err[256];
	nng_msg *buf = NULL;
	struct peer pull;
	int i, ret;

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	CHECK(peer_bind(&pull, nng_pull0_open, dir, "data.sock", url, sizeof(url)) == 0,
	      "cannot bind %s", url);
	CHECK(ship_open(url, NULL, 1 << 20, &ship, err, sizeof(err)) == 0, "ship_open: %s", err);
	CHECK(batcher_init(&bt, capture_id, "edge-test-01", ship, &sent) == 0, "init");
	for (i = 0; i < 4; i++) {
		memset(payload, 0x40 + i, sizeof(payload));
		CHECK(add(&bt, 1700000000000000000ULL + (uint64_t)i, 64, 1000) == 0, "add %d", i);
	}
	batcher_flush(&bt);
	CHECK_EQ_U64(sent.batches_sent, 1, "batches queued");
	CHECK(peer_wait_connected(&pull), "the send queue never connected");
	for (i = 0; i < 200 && ship_pending(ship); i++) {
		ship_pump(ship);
		usleep(10000);
	}
	ret = recv_batch(&pull, &m, &buf);
	CHECK(ret == 0, "no decodable batch: %d", ret);
	CHECK(m.kind == WIRE_KIND_BATCH, "kind %d", m.kind);
	CHECK(!memcmp(m.capture_id, capture_id, sizeof(capture_id)), "capture id");
	CHECK(!strcmp(m.agent_id, "edge-test-01"), "agent id %s", m.agent_id);
	CHECK_EQ_U64(m.seq, 1, "sequence number");
	CHECK_EQ_U64(m.count, 4, "records");
	wire_iter_init(&it, &m);
	for (i = 0; i < 4; i++) {
		CHECK(wire_iter_next(&it, &rec, err, sizeof(err)) == 0, "record %d: %s", i, err);
		CHECK_EQ_U64(rec.tstamp_ns, 1700000000000000000ULL + (uint64_t)i, "timestamp");
		CHECK_EQ_U64(rec.cap_len, 64, "cap_len");
		CHECK_EQ_U64(rec.orig_len, 1000, "orig_len");
		CHECK_EQ_U64(rec.ifindex, 7, "ifindex");
		CHECK(rec.data[0] == 0x40 + i && rec.data[63] == 0x40 + i, "record %d's bytes", i);
	}
	wire_msg_release(&m);
	nng_msg_free(buf);
	batcher_release(&bt);
	ship_close(ship);
	peer_close(&pull);
	peer_tmpdir_remove(dir);
}

/* The ship's codec (what fleet.c negotiated) is the codec of every batch flushed after it. */
static void test_batches_use_the_ships_codec(void)
{
	struct wire_counters sent = { 0 };
	struct wire_msg m;
	struct batcher bt;
	struct ship *ship = NULL;
	char dir[64], url[128], err[256];
	nng_msg *buf = NULL;
	struct peer pull;
	unsigned int c;
	int i, ret;

	peer_tmpdir(dir, sizeof(dir));
	CHECK(dir[0], "no temporary directory");
	CHECK(peer_bind(&pull, nng_pull0_open, dir, "data.sock", url, sizeof(url)) == 0,
	      "cannot bind %s", url);
	CHECK(ship_open(url, NULL, 8 << 20, &ship, err, sizeof(err)) == 0, "ship_open: %s", err);
	CHECK(ship_codec(ship) == WIRE_CODEC_DEFLATE, "a new ship's codec is deflate");
	CHECK(batcher_init(&bt, capture_id, "edge-test-01", ship, &sent) == 0, "init");
	CHECK(peer_wait_connected(&pull), "the send queue never connected");
	memset(payload, 0x5a, sizeof(payload));
	for (c = 0; c < WIRE_N_CODECS; c++) {
		ship_set_codec(ship, c);
		for (i = 0; i < 50; i++)
			CHECK(add(&bt, 1000 + (uint64_t)i, 1000, 1500) == 0, "add %d", i);
		batcher_flush(&bt);
		for (i = 0; i < 200 && ship_pending(ship); i++) {
			ship_pump(ship);
			usleep(10000);
		}
		ret = recv_batch(&pull, &m, &buf);
		CHECK(ret == 0, "%s: no decodable batch: %d", wire_codec_name(c), ret);
		CHECK((m.flags & WIRE_F_CODECS) == wire_codec_flag(c), "%s: flags 0x%02x",
		      wire_codec_name(c), m.flags);
		CHECK_EQ_U64(m.count, 50, "records");
		CHECK(m.payload_len < m.raw_len / 10, "%s: %u bytes for %u", wire_codec_name(c),
		      m.payload_len, m.raw_len);
		wire_msg_release(&m);
		nng_msg_free(buf);
	}
	CHECK_EQ_U64(sent.batches_sent, WIRE_N_CODECS, "batches sent");
	batcher_release(&bt);
	ship_close(ship);
	peer_close(&pull);
	peer_tmpdir_remove(dir);
}

int main(void)
{
	RUN(test_flush_counts_one_batch_sent);
	RUN(test_full_batch_goes_and_record_opens_the_next);
	RUN(test_tick_flushes_only_aged_batches);
	RUN(test_refused_batch_is_counted_as_dropped);
	RUN(test_shipped_batch_decodes_to_the_records);
	RUN(test_batches_use_the_ships_codec);
	return TEST_SUMMARY();
}
