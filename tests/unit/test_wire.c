// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_wire.c: the data-plane codec (common/wire.h) against docs/protocol.md: batch and final
 * round trips, the compression rule (deflated only to half the size or less, the probe, the
 * back-off), sequence numbers, and every check the decoder makes on untrusted input, each
 * failing with its own errno. Malformed messages are built by hand from the byte offsets of the
 * spec, so these tests also pin the layout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include "wire.h"
#include "testing.h"

static const uint8_t cid[WIRE_CAPTURE_ID_LEN] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
						  0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };
static const char agent[] = "edge-ord-01";

static char reason[256];

/* ---- helpers that build messages from the spec's byte layout ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A hand-built message: header fields as given, agent id, then payload_len bytes of payload. */
struct raw_msg {
	uint8_t kind, flags;
	uint64_t seq;
	uint32_t count, payload_len, raw_len;
	const char *agent_id;
	const uint8_t *payload;
};

static uint8_t *build(const struct raw_msg *r, size_t *len)
{
	size_t alen = strlen(r->agent_id);
	uint8_t *m = calloc(1, WIRE_HDR_LEN + alen + r->payload_len + 1);

	memcpy(m, "ECAP", 4);
	m[4] = 1;
	m[5] = 0;
	m[6] = r->kind;
	m[7] = r->flags;
	memcpy(m + 8, cid, 16);
	put64(m + 24, r->seq);
	put32(m + 32, r->count);
	put32(m + 36, r->payload_len);
	put32(m + 40, r->raw_len);
	m[44] = (uint8_t)alen;
	memcpy(m + WIRE_HDR_LEN, r->agent_id, alen);
	if (r->payload_len)
		memcpy(m + WIRE_HDR_LEN + alen, r->payload, r->payload_len);
	*len = WIRE_HDR_LEN + alen + r->payload_len;
	return m;
}

/* Appends one record header (and cap_len bytes of 0xab) to a raw batch payload at p. */
static size_t put_record(uint8_t *p, uint64_t ts, uint32_t orig_len, uint32_t cap_len,
			 uint32_t data_len)
{
	put64(p, ts);
	put32(p + 8, 2);
	put32(p + 12, 0);
	put32(p + 16, orig_len);
	put32(p + 20, cap_len);
	p[24] = 0;
	p[25] = p[26] = p[27] = 0;
	memset(p + WIRE_RECORD_HDR_LEN, 0xab, data_len);
	return WIRE_RECORD_HDR_LEN + data_len;
}

/* A stored batch around a hand-built payload. */
static int decode_stored_batch(const uint8_t *payload, size_t payload_len, uint32_t count)
{
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .seq = 1,
			     .count = count,
			     .payload_len = (uint32_t)payload_len,
			     .raw_len = (uint32_t)payload_len,
			     .agent_id = agent,
			     .payload = payload };
	struct wire_msg m;
	size_t len;
	uint8_t *buf = build(&r, &len);
	int ret = wire_decode(buf, len, &m, reason, sizeof(reason));

	wire_msg_release(&m);
	free(buf);
	return ret;
}

/* A deflated batch: payload is raw_len bytes compressed; the header may lie about raw_len. */
static int decode_deflated(const uint8_t *raw, size_t raw_len, uint32_t declared_raw,
			   uint32_t count)
{
	uLongf zlen = compressBound(raw_len);
	uint8_t *z = malloc(zlen), *buf;
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = count,
			     .agent_id = agent };
	struct wire_msg m;
	size_t len;
	int ret;

	compress2(z, &zlen, raw, raw_len, 9);
	r.payload = z;
	r.payload_len = (uint32_t)zlen;
	r.raw_len = declared_raw;
	buf = build(&r, &len);
	ret = wire_decode(buf, len, &m, reason, sizeof(reason));
	wire_msg_release(&m);
	free(buf);
	free(z);
	return ret;
}

static int decode(const void *buf, size_t len)
{
	struct wire_msg m;
	int ret = wire_decode(buf, len, &m, reason, sizeof(reason));

	wire_msg_release(&m);
	return ret;
}

/* Fills n bytes with a deterministic, incompressible sequence (xorshift). */
static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* One finished batch of n records, each cap_len bytes from fill (random or zero). */
static int make_batch(int n, uint32_t cap_len, bool random, void **msg, size_t *len)
{
	static uint8_t data[WIRE_CAPLEN_MAX];
	struct wire_batch *b = NULL;
	int i, ret;

	ret = wire_batch_new(cid, agent, 0, &b);
	for (i = 0; !ret && i < n; i++) {
		struct wire_record rec = { .tstamp_ns = 1700000000000000000ull + i,
					   .ifindex = 3,
					   .rx_queue = (uint32_t)i % 4,
					   .orig_len = cap_len + 100,
					   .cap_len = cap_len,
					   .hook = 0,
					   .data = data };

		if (random)
			fill_random(data, cap_len, i + 1);
		else
			memset(data, 0, cap_len);
		ret = wire_batch_add(b, &rec);
	}
	if (!ret)
		ret = wire_batch_finish(b, msg, len);
	wire_batch_free(b);
	return ret;
}

static struct wire_final sample_final(void)
{
	struct wire_final f = {
		.reason = WIRE_STOP_PACKET_LIMIT,
		.c = { .seen = 1000,
		       .matched = 500,
		       .sampled_out = 100,
		       .budget_exhausted = 50,
		       .ring_full = 10,
		       .submitted = 340,
		       .bytes = 54400,
		       .packets_sent = 330,
		       .bytes_sent = 52800,
		       .batches_sent = 4,
		       .records_dropped = 10,
		       .batches_dropped = 1,
		       .last_seq = 5 },
		.start_ns = 1700000000000000000ull,
		.stop_ns = 1700000060000000000ull,
	};
	return f;
}

/* One finished batch of n records of cap_len bytes (zeros or random), made with codec c. */
static int make_batch_with(enum wire_codec c, int n, uint32_t cap_len, bool random, void **msg,
			   size_t *len)
{
	static uint8_t data[WIRE_CAPLEN_MAX];
	struct wire_batch *b = NULL;
	int i, ret;

	ret = wire_batch_new(cid, agent, 0, &b);
	if (!ret)
		ret = wire_batch_set_codec(b, c);
	for (i = 0; !ret && i < n; i++) {
		struct wire_record rec = { .tstamp_ns = 1700000000000000000ull + i,
					   .ifindex = 3,
					   .orig_len = cap_len + 100,
					   .cap_len = cap_len,
					   .data = data };

		if (random)
			fill_random(data, cap_len, i + 1);
		else
			memset(data, i & 1 ? 0x11 : 0, cap_len);
		ret = wire_batch_add(b, &rec);
	}
	if (!ret)
		ret = wire_batch_finish(b, msg, len);
	wire_batch_free(b);
	return ret;
}

/*
 * A batch of 10 records of 500 bytes compressed with zstd or LZ4 by the library itself, raw_len
 * declared as given (the truth when 0), for the decoder tests to damage. *z_off: where the
 * payload starts.
 */
static uint8_t *codec_batch(enum wire_codec c, uint32_t declared, size_t *len, size_t *z_off)
{
	static uint8_t raw[10 * (WIRE_RECORD_HDR_LEN + 500)];
	size_t cap = ZSTD_compressBound(sizeof(raw)) + 16, zlen, n = 0;
	uint8_t *z = malloc(cap), *buf;
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = wire_codec_flag(c),
			     .seq = 1,
			     .count = 10,
			     .raw_len = declared ? declared : sizeof(raw),
			     .agent_id = agent };
	int i;

	for (i = 0; i < 10; i++)
		n += put_record(raw + n, i, 500, 500, 500);
	if (c == WIRE_CODEC_ZSTD)
		zlen = ZSTD_compress(z, cap, raw, sizeof(raw), 1);
	else
		zlen = (size_t)LZ4_compress_default((const char *)raw, (char *)z, sizeof(raw),
						    (int)cap);
	r.payload = z;
	r.payload_len = (uint32_t)zlen;
	buf = build(&r, len);
	free(z);
	*z_off = WIRE_HDR_LEN + strlen(agent);
	return buf;
}

/* ---- ids ---- */

static void test_capture_id_hex_round_trip(void)
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];
	char hex[WIRE_CAPTURE_ID_HEX_LEN];

	wire_capture_id_format(cid, hex);
	CHECK(!strcmp(hex, "0123456789abcdeffedcba9876543210"), "formatted %s", hex);
	CHECK(wire_capture_id_parse(hex, id) == 0, "parse of %s failed", hex);
	CHECK(!memcmp(id, cid, sizeof(id)), "parse gave other bytes");
}

static void test_capture_id_rejects_malformed(void)
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];

	CHECK(wire_capture_id_parse("0123456789ABCDEFfedcba9876543210", id) == -EINVAL,
	      "upper case accepted");
	CHECK(wire_capture_id_parse("0123456789abcdeffedcba987654321", id) == -EINVAL,
	      "31 digits accepted");
	CHECK(wire_capture_id_parse("0123456789abcdeffedcba98765432100", id) == -EINVAL,
	      "33 digits accepted");
	CHECK(wire_capture_id_parse("0123456789abcdeffedcba987654321g", id) == -EINVAL,
	      "non-hex accepted");
	CHECK(wire_capture_id_parse("", id) == -EINVAL, "empty accepted");
}

static void test_agent_id_rules(void)
{
	char longest[WIRE_AGENT_ID_MAX + 2];

	memset(longest, 'a', sizeof(longest));
	CHECK(wire_agent_id_valid("a", 1), "one character refused");
	CHECK(wire_agent_id_valid(longest, WIRE_AGENT_ID_MAX), "63 characters refused");
	CHECK(!wire_agent_id_valid(longest, WIRE_AGENT_ID_MAX + 1), "64 characters accepted");
	CHECK(!wire_agent_id_valid("", 0), "empty accepted");
	CHECK(!wire_agent_id_valid("a b", 3), "space accepted");
	CHECK(!wire_agent_id_valid("a\nb", 3), "newline accepted");
	CHECK(!wire_agent_id_valid("a\x80", 2), "non-ASCII accepted");
}

/* ---- batches ---- */

static void test_batch_round_trip(void)
{
	static const uint32_t lens[] = { 0, 1, 60, 1514, WIRE_CAPLEN_MAX };
	uint8_t data[5][WIRE_CAPLEN_MAX];
	struct wire_batch *b = NULL;
	struct wire_record rec;
	struct wire_iter it;
	struct wire_msg m;
	void *msg = NULL;
	size_t len, i;
	int ret;

	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	for (i = 0; i < 5; i++) {
		struct wire_record r = { .tstamp_ns = 1700000000123456789ull + i,
					 .ifindex = 7 + (uint32_t)i,
					 .rx_queue = (uint32_t)i,
					 .orig_len = lens[i] + (uint32_t)i * 1000,
					 .cap_len = lens[i],
					 .hook = (uint8_t)(i % 3),
					 .data = data[i] };

		fill_random(data[i], lens[i], (uint32_t)i + 10);
		CHECK(wire_batch_add(b, &r) == 0, "add of record %zu failed", i);
	}
	CHECK_EQ_U64(wire_batch_count(b), 5, "records in the batch");
	ret = wire_batch_finish(b, &msg, &len);
	wire_batch_free(b);
	CHECK(ret == 0, "finish failed: %d", ret);
	ret = wire_decode(msg, len, &m, reason, sizeof(reason));
	CHECK(ret == 0, "decode failed: %d %s", ret, reason);
	CHECK(m.kind == WIRE_KIND_BATCH, "kind %d", m.kind);
	CHECK(m.major == 1 && m.minor == 2, "version %u.%u", m.major, m.minor);
	CHECK(!memcmp(m.capture_id, cid, sizeof(cid)), "capture id differs");
	CHECK(!strcmp(m.agent_id, agent), "agent id %s", m.agent_id);
	CHECK_EQ_U64(m.seq, 1, "first sequence number");
	CHECK_EQ_U64(m.count, 5, "count");
	wire_iter_init(&it, &m);
	for (i = 0; i < 5; i++) {
		ret = wire_iter_next(&it, &rec, reason, sizeof(reason));
		CHECK(ret == 0, "record %zu: %d %s", i, ret, reason);
		CHECK_EQ_U64(rec.tstamp_ns, 1700000000123456789ull + i, "tstamp_ns");
		CHECK_EQ_U64(rec.ifindex, 7 + i, "ifindex");
		CHECK_EQ_U64(rec.rx_queue, i, "rx_queue");
		CHECK_EQ_U64(rec.orig_len, lens[i] + i * 1000, "orig_len");
		CHECK_EQ_U64(rec.cap_len, lens[i], "cap_len");
		CHECK_EQ_U64(rec.hook, i % 3, "hook");
		CHECK(!memcmp(rec.data, data[i], lens[i]), "record %zu bytes differ", i);
	}
	CHECK(wire_iter_next(&it, &rec, reason, sizeof(reason)) == -ENOENT, "more than 5 records");
	wire_msg_release(&m);
	wire_msg_release(&m); /* twice is harmless */
	free(msg);
}

static void test_compressible_batch_is_deflated(void)
{
	struct wire_msg m;
	void *msg = NULL;
	size_t len;
	const uint8_t *p;

	CHECK(make_batch(100, 1500, false, &msg, &len) == 0, "make_batch failed");
	p = msg;
	CHECK(p[7] & WIRE_F_DEFLATE, "zero-filled batch not deflated (flags 0x%02x)", p[7]);
	CHECK(get32(p + 36) < get32(p + 40) / 10, "payload %u bytes for %u raw", get32(p + 36),
	      get32(p + 40));
	CHECK(len == WIRE_HDR_LEN + strlen(agent) + get32(p + 36), "message length %zu", len);
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode failed: %s", reason);
	CHECK(m.owned != NULL && m.raw == m.owned, "inflated payload not owned by the message");
	CHECK_EQ_U64(m.raw_len, 100 * (WIRE_RECORD_HDR_LEN + 1500), "raw length");
	wire_msg_release(&m);
	free(msg);
}

static void test_random_batch_is_stored(void)
{
	struct wire_msg m;
	void *msg = NULL;
	size_t len;
	const uint8_t *p;

	CHECK(make_batch(1, 1500, true, &msg, &len) == 0, "make_batch failed");
	p = msg;
	CHECK(!(p[7] & WIRE_F_DEFLATE), "random batch deflated");
	CHECK(get32(p + 36) == get32(p + 40), "stored: payload %u, raw %u", get32(p + 36),
	      get32(p + 40));
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode failed: %s", reason);
	CHECK(m.owned == NULL && m.raw == p + WIRE_HDR_LEN + strlen(agent),
	      "stored payload should be read in place");
	wire_msg_release(&m);
	free(msg);
}

static void test_batch_stops_at_its_bound(void)
{
	uint8_t data[1000] = { 0 };
	struct wire_record rec = { .orig_len = 1000, .cap_len = 1000, .data = data };
	struct wire_batch *b = NULL;
	void *msg = NULL;
	size_t len;
	int i, ret = 0;

	CHECK(wire_batch_new(cid, agent, 10000, &b) == 0, "wire_batch_new failed");
	for (i = 0; i < 100 && !(ret = wire_batch_add(b, &rec)); i++)
		;
	CHECK(ret == -ENOSPC, "add past the bound gave %d", ret);
	CHECK_EQ_U64(wire_batch_count(b), 9, "records under a 10000-byte bound");
	CHECK(wire_batch_raw_len(b) <= 10000, "raw length %zu over the bound",
	      wire_batch_raw_len(b));
	CHECK(wire_batch_finish(b, &msg, &len) == 0, "finish failed");
	free(msg);
	CHECK(wire_batch_add(b, &rec) == 0, "the refused record does not fit an empty batch");
	wire_batch_free(b);
}

/*
 * The default bound (max_raw 0) is 1 MiB of raw payload: a batch of snaplen-160 records goes
 * when the next one would pass it, and not before, and its stored form is a message that fits
 * WIRE_MSG_MAX with its MAC.
 */
static void test_default_bound_is_one_mib(void)
{
	static uint8_t data[160];
	struct wire_record rec = { .orig_len = 512, .cap_len = 160, .data = data };
	struct wire_batch *b = NULL;
	void *msg = NULL;
	size_t len, n = 0;
	int ret;

	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	fill_random(data, sizeof(data), 7);
	while (!(ret = wire_batch_add(b, &rec)))
		n++;
	CHECK(ret == -ENOSPC, "add past the bound gave %d", ret);
	CHECK_EQ_U64(n, (1u << 20) / (WIRE_RECORD_HDR_LEN + 160),
		     "records under the default bound");
	CHECK(wire_batch_finish(b, &msg, &len) == 0, "finish failed");
	CHECK(len + WIRE_MAC_LEN <= WIRE_MSG_MAX, "a %zu-byte message is over WIRE_MSG_MAX", len);
	free(msg);
	wire_batch_free(b);
}

static void test_empty_batch_takes_one_oversized_record(void)
{
	static uint8_t data[WIRE_CAPLEN_MAX];
	struct wire_record rec = { .orig_len = 9000, .cap_len = 9000, .data = data };
	struct wire_batch *b = NULL;

	CHECK(wire_batch_new(cid, agent, 1000, &b) == 0, "wire_batch_new failed");
	CHECK(wire_batch_add(b, &rec) == 0, "empty batch refused a record over its bound");
	CHECK(wire_batch_add(b, &rec) == -ENOSPC, "second record accepted");
	wire_batch_free(b);
}

static void test_batch_rejects_bad_records_and_settings(void)
{
	static uint8_t data[WIRE_CAPLEN_MAX + 1];
	struct wire_record too_long = { .orig_len = 70000, .cap_len = 65536, .data = data };
	struct wire_record short_orig = { .orig_len = 10, .cap_len = 11, .data = data };
	struct wire_batch *b = NULL;
	void *msg = NULL;
	size_t len;

	CHECK(wire_batch_new(cid, "bad agent", 0, &b) == -EINVAL, "agent id with space accepted");
	CHECK(wire_batch_new(cid, "", 0, &b) == -EINVAL, "empty agent id accepted");
	CHECK(wire_batch_new(cid, agent, WIRE_RAW_MAX + 1, &b) == -EINVAL, "bound over the cap");
	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	CHECK(wire_batch_add(b, &too_long) == -EINVAL, "cap_len 65536 accepted");
	CHECK(wire_batch_add(b, &short_orig) == -EINVAL, "orig_len < cap_len accepted");
	CHECK(wire_batch_finish(b, &msg, &len) == -ENODATA, "empty batch finished");
	CHECK_EQ_U64(wire_batch_last_seq(b), 0, "sequence used by a failed finish");
	wire_batch_free(b);
	wire_batch_free(NULL);
}

static void test_sequence_numbers_count_up_from_one(void)
{
	uint8_t data[64] = { 0 };
	struct wire_record rec = { .orig_len = 64, .cap_len = 64, .data = data };
	struct wire_batch *b = NULL;
	struct wire_msg m;
	void *msg;
	size_t len;
	uint64_t i;

	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	for (i = 1; i <= 3; i++) {
		CHECK(wire_batch_add(b, &rec) == 0, "add failed");
		CHECK(wire_batch_finish(b, &msg, &len) == 0, "finish failed");
		CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode: %s", reason);
		CHECK_EQ_U64(m.seq, i, "sequence number");
		CHECK_EQ_U64(m.count, 1, "records per batch after a finish");
		wire_msg_release(&m);
		free(msg);
	}
	CHECK_EQ_U64(wire_batch_last_seq(b), 3, "last sequence number");
	wire_batch_free(b);
}

/* ---- the compression rule (wire.h, docs/protocol.md 4.3) ---- */

/* What a record of the compression-rule tests holds. */
enum fill {
	FILL_ZEROS,   /* deflates to a few percent */
	FILL_RANDOM,  /* does not deflate at all */
	FILL_HEADERS, /* 42 header-like bytes, then random: like encrypted traffic, about 70% */
};

/* Adds 160-byte records of one kind to b until its raw payload reaches at least until bytes. */
static int add_records(struct wire_batch *b, size_t until, enum fill fill, uint32_t *seed)
{
	uint8_t data[160];
	struct wire_record rec = { .ifindex = 2, .orig_len = 512, .cap_len = sizeof(data) };
	int ret = 0;

	rec.data = data;
	while (!ret && wire_batch_raw_len(b) < until) {
		rec.tstamp_ns = 1700000000000000000ull + 1000ull * *seed;
		memset(data, 0, sizeof(data));
		if (fill == FILL_RANDOM)
			fill_random(data, sizeof(data), *seed);
		else if (fill == FILL_HEADERS)
			fill_random(data + 42, sizeof(data) - 42, *seed);
		(*seed)++;
		ret = wire_batch_add(b, &rec);
	}
	return ret;
}

/*
 * Finishes b and decodes the message: 1 if it came deflated, 0 if stored, negative on an error.
 * The raw payload goes to *raw (malloc'd, the caller's) when raw is not NULL.
 */
static int finish_deflated(struct wire_batch *b, uint8_t **raw, size_t *raw_len)
{
	struct wire_msg m;
	void *msg = NULL;
	size_t len;
	int ret;

	ret = wire_batch_finish(b, &msg, &len);
	if (!ret)
		ret = wire_decode(msg, len, &m, reason, sizeof(reason));
	if (ret) {
		free(msg);
		return ret;
	}
	ret = (m.flags & WIRE_F_DEFLATE) ? 1 : 0;
	/* Every deflated batch of the reference sender is at most half its raw length. */
	if (ret && 2 * (size_t)m.payload_len > m.raw_len)
		ret = -EMSGSIZE;
	if (raw) {
		*raw = malloc(m.raw_len);
		memcpy(*raw, m.raw, m.raw_len);
		*raw_len = m.raw_len;
	}
	wire_msg_release(&m);
	free(msg);
	return ret;
}

/* What zlib at level 1 makes of a raw payload, in bytes. */
static size_t zlib_size(const uint8_t *raw, size_t raw_len)
{
	uLongf zlen = compressBound(raw_len);
	uint8_t *z = malloc(zlen);

	compress2(z, &zlen, raw, raw_len, 1);
	free(z);
	return zlen;
}

static void test_batch_deflating_to_more_than_half_is_stored(void)
{
	/* Tried whole (no longer than the probe), and judged by its probe. */
	static const size_t sizes[] = { WIRE_DEFLATE_PROBE - 200, 64 << 10 };
	struct wire_batch *b = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0, z, i;
	uint32_t seed = 1;
	int ret;

	for (i = 0; i < 2; i++) {
		CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
		CHECK(add_records(b, sizes[i], FILL_HEADERS, &seed) == 0, "add failed");
		ret = finish_deflated(b, &raw, &raw_len);
		wire_batch_free(b);
		CHECK(ret == 0, "encrypted-like batch of %zu bytes: %d (1 = deflated) %s", raw_len,
		      ret, reason);
		/* It would have got smaller, just not by half: the rule, not "smaller", decided. */
		z = zlib_size(raw, raw_len);
		free(raw);
		CHECK(z < raw_len && 2 * z > raw_len,
		      "zlib makes %zu of %zu bytes: not the case meant", z, raw_len);
	}
}

static void test_probe_decides_for_the_whole_batch(void)
{
	struct wire_batch *b = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0, z;
	uint32_t seed = 1;
	int ret;

	/* Random for the probe, zeros after it: the whole would deflate to a fraction. */
	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	CHECK(add_records(b, WIRE_DEFLATE_PROBE, FILL_RANDOM, &seed) == 0, "add failed");
	CHECK(add_records(b, WIRE_BATCH_RAW_DEFAULT - 200, FILL_ZEROS, &seed) == 0, "add failed");
	ret = finish_deflated(b, &raw, &raw_len);
	wire_batch_free(b);
	CHECK(ret == 0, "batch whose probe does not deflate: %d (1 = deflated) %s", ret, reason);
	z = zlib_size(raw, raw_len);
	free(raw);
	CHECK(4 * z < raw_len, "zlib makes %zu of %zu bytes: not the case meant", z, raw_len);
}

static void test_passing_probe_is_not_enough(void)
{
	struct wire_batch *b = NULL;
	uint32_t seed = 1;
	int ret;

	/* Zeros for the probe, random after it: the whole does not deflate to half. */
	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	CHECK(add_records(b, WIRE_DEFLATE_PROBE, FILL_ZEROS, &seed) == 0, "add failed");
	CHECK(add_records(b, 128 << 10, FILL_RANDOM, &seed) == 0, "add failed");
	ret = finish_deflated(b, NULL, NULL);
	wire_batch_free(b);
	CHECK(ret == 0, "batch that deflates to more than half: %d (1 = deflated) %s", ret, reason);
}

static void test_small_batch_is_tried_whole(void)
{
	struct wire_batch *b = NULL;
	uint32_t seed = 1;
	int ret;

	/* Shorter than the probe: deflated whole, sent deflated if that makes half. */
	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	CHECK(add_records(b, WIRE_DEFLATE_PROBE / 4, FILL_RANDOM, &seed) == 0, "add failed");
	CHECK(add_records(b, WIRE_DEFLATE_PROBE / 2, FILL_ZEROS, &seed) == 0, "add failed");
	ret = finish_deflated(b, NULL, NULL);
	wire_batch_free(b);
	CHECK(ret == 1, "small batch, half zeros: %d (0 = stored) %s", ret, reason);
}

static void test_batch_after_a_deflated_one_is_not_probed(void)
{
	struct wire_batch *b = NULL;
	uint32_t seed = 1;
	int ret;

	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	CHECK(add_records(b, 64 << 10, FILL_ZEROS, &seed) == 0, "add failed");
	ret = finish_deflated(b, NULL, NULL);
	CHECK(ret == 1, "zeros: %d (0 = stored) %s", ret, reason);
	/* The batch of test_probe_decides_for_the_whole_batch, tried whole this time. */
	CHECK(add_records(b, WIRE_DEFLATE_PROBE, FILL_RANDOM, &seed) == 0, "add failed");
	CHECK(add_records(b, WIRE_BATCH_RAW_DEFAULT - 200, FILL_ZEROS, &seed) == 0, "add failed");
	ret = finish_deflated(b, NULL, NULL);
	wire_batch_free(b);
	CHECK(ret == 1, "after a deflated batch, probe random, rest zeros: %d (0 = stored) %s", ret,
	      reason);
}

static void test_stored_batches_back_off(void)
{
	/*
	 * 'r' random, 'z' zeros; upper case: expected deflated. Each random batch makes the
	 * builder store the next 1, 2, 4, 8, 8 batches without a try; zeros deflate when tried.
	 */
	static const char plan[] = "rzZ"	 /* a first failure: one skipped */
				   "rr"		 /* failure again after a good batch: one */
				   "rzz"	 /* probed and failed in a row: two */
				   "rzzzz"	 /* four */
				   "rzzzzzzzz"	 /* eight */
				   "rzzzzzzzzZ"; /* eight at most, then tried again */
	struct wire_batch *b = NULL;
	uint32_t seed = 1;
	size_t i;
	int ret;

	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	for (i = 0; plan[i]; i++) {
		bool zeros = plan[i] == 'z' || plan[i] == 'Z';

		CHECK(add_records(b, 2 * WIRE_DEFLATE_PROBE, zeros ? FILL_ZEROS : FILL_RANDOM,
				  &seed) == 0,
		      "add failed");
		ret = finish_deflated(b, NULL, NULL);
		CHECK(ret == (plan[i] == 'Z'), "batch %zu ('%c' of \"%s\"): %d (1 = deflated) %s",
		      i + 1, plan[i], plan, ret, reason);
	}
	wire_batch_free(b);
}

static void test_deflated_batch_is_a_zlib_stream(void)
{
	struct wire_msg m;
	void *msg = NULL;
	size_t len, hdr = WIRE_HDR_LEN + strlen(agent);
	uLongf out_len;
	uint8_t *out;

	/* Any zlib implementation reads what libdeflate writes (zlib's own uncompress here). */
	CHECK(make_batch(100, 1500, false, &msg, &len) == 0, "make_batch failed");
	CHECK(((uint8_t *)msg)[7] & WIRE_F_DEFLATE, "zero-filled batch not deflated");
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode failed: %s", reason);
	out_len = m.raw_len;
	out = malloc(out_len);
	CHECK(uncompress(out, &out_len, (uint8_t *)msg + hdr, len - hdr) == Z_OK,
	      "zlib cannot inflate the payload");
	CHECK(out_len == m.raw_len && !memcmp(out, m.raw, out_len), "zlib inflates it otherwise");
	free(out);
	wire_msg_release(&m);
	free(msg);
}

/* ---- final messages ---- */

static void test_final_round_trip(void)
{
	struct wire_final f = sample_final(), *g;
	struct wire_msg m;
	void *msg = NULL;
	size_t len;

	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == 0, "encode failed");
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode: %s", reason);
	g = &m.final;
	CHECK(m.kind == WIRE_KIND_FINAL, "kind %d", m.kind);
	CHECK_EQ_U64(m.seq, f.c.last_seq + 1, "final sequence number");
	CHECK_EQ_U64(m.count, 0, "final record count");
	CHECK(g->reason == WIRE_STOP_PACKET_LIMIT, "reason %d", g->reason);
	CHECK(g->error[0] == '\0', "error text %s", g->error);
	CHECK(!memcmp(&g->c, &f.c, sizeof(f.c)), "counters differ");
	CHECK_EQ_U64(g->start_ns, f.start_ns, "start_ns");
	CHECK_EQ_U64(g->stop_ns, f.stop_ns, "stop_ns");
	wire_msg_release(&m);
	free(msg);
}

/* A MAC trailer is framed, found and not taken for payload; one cut short is truncated. */
static void test_mac_trailer(void)
{
	struct wire_final f = sample_final();
	struct wire_msg m;
	void *msg = NULL;
	size_t len, plain;

	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == 0, "encode failed");
	plain = len;
	CHECK(wire_mac_frame(&msg, &len) == 0, "frame failed");
	CHECK_EQ_U64(len, plain + WIRE_MAC_LEN, "framed length");
	memset((uint8_t *)msg + plain, 0xab, WIRE_MAC_LEN);
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode: %s", reason);
	CHECK(m.flags & WIRE_F_MAC, "flags 0x%x", m.flags);
	CHECK(m.mac == (uint8_t *)msg + plain && m.mac_covers == plain, "MAC at %td covering %zu",
	      m.mac - (uint8_t *)msg, m.mac_covers);
	CHECK(m.final.reason == WIRE_STOP_PACKET_LIMIT, "final read through the trailer");
	wire_msg_release(&m);
	/* Without its trailer, a message flagged MAC is short. */
	CHECK(wire_decode(msg, plain, &m, reason, sizeof(reason)) == -ENODATA, "short: %s", reason);
	/* Unflagged, the trailer is 32 bytes too many. */
	((uint8_t *)msg)[7] &= (uint8_t)~WIRE_F_MAC;
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == -EMSGSIZE, "long: %s", reason);
	free(msg);
}

static void test_final_error_text(void)
{
	struct wire_final f = sample_final();
	struct wire_msg m;
	void *msg = NULL;
	size_t len;

	f.reason = WIRE_STOP_ERROR;
	snprintf(f.error, sizeof(f.error), "ring buffer \x01gone");
	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == 0, "encode failed");
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode: %s", reason);
	CHECK(!strcmp(m.final.error, "ring buffer ?gone"), "error text %s", m.final.error);
	CHECK(!strcmp(wire_stop_reason_name(m.final.reason), "error"), "reason name");
	wire_msg_release(&m);
	free(msg);

	f.error[0] = '\0';
	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == 0, "encode failed");
	CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0, "decode: %s", reason);
	CHECK(m.final.error[0], "error reason without text");
	wire_msg_release(&m);
	free(msg);

	f = sample_final();
	strcpy(f.error, "not an error");
	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == -EINVAL,
	      "error text with reason packet_limit accepted");
	f = sample_final();
	f.reason = 0;
	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == -EINVAL, "reason 0 accepted");
}

static void test_stop_reason_names(void)
{
	enum wire_stop_reason r;
	const char *names[] = { "time_limit", "packet_limit", "byte_limit", "stopped", "error" };
	unsigned int i;

	for (i = 0; i < 5; i++) {
		CHECK(wire_stop_reason_parse(names[i], &r) == 0, "%s not parsed", names[i]);
		CHECK(!strcmp(wire_stop_reason_name(r), names[i]), "%s does not round trip",
		      names[i]);
	}
	CHECK(wire_stop_reason_parse("finished", &r) == -EINVAL, "unknown name parsed");
	CHECK(!strcmp(wire_stop_reason_name(99), "unknown"), "name of 99");
}

/* A final message with a hand-built payload: reason, error text, n values. */
static int decode_final(uint8_t stop, const char *error, unsigned int n, uint64_t seq,
			uint64_t last_seq)
{
	uint8_t payload[8 + 8 * 32 + 300] = { 0 };
	size_t elen = strlen(error), plen = 8 + 8 * n + elen, len;
	struct raw_msg r = { .kind = WIRE_KIND_FINAL, .seq = seq, .agent_id = agent };
	uint8_t *buf;
	int ret;

	payload[0] = stop;
	put16(payload + 2, (uint16_t)elen);
	put16(payload + 4, (uint16_t)n);
	if (n > 12)
		put64(payload + 8 + 8 * 12, last_seq);
	memcpy(payload + 8 + 8 * n, error, elen);
	r.payload = payload;
	r.payload_len = r.raw_len = (uint32_t)plen;
	buf = build(&r, &len);
	ret = decode(buf, len);
	free(buf);
	return ret;
}

static void test_final_checks(void)
{
	char long_error[WIRE_ERROR_MAX + 2];

	memset(long_error, 'e', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	CHECK(decode_final(WIRE_STOP_STOPPED, "", 15, 1, 0) == 0, "valid final refused: %s",
	      reason);
	CHECK(decode_final(WIRE_STOP_STOPPED, "", 20, 8, 7) == 0,
	      "final with values of a later minor version refused: %s", reason);
	CHECK(decode_final(WIRE_STOP_STOPPED, "", 14, 1, 0) == -EMSGSIZE, "14 values: %s", reason);
	CHECK(decode_final(0, "", 15, 1, 0) == -ERANGE, "stop reason 0: %s", reason);
	CHECK(decode_final(6, "", 15, 1, 0) == -ERANGE, "stop reason 6: %s", reason);
	CHECK(decode_final(WIRE_STOP_STOPPED, "oops", 15, 1, 0) == -ERANGE,
	      "error text without reason error: %s", reason);
	CHECK(decode_final(WIRE_STOP_ERROR, "", 15, 1, 0) == -ERANGE,
	      "reason error without text: %s", reason);
	CHECK(decode_final(WIRE_STOP_ERROR, long_error, 15, 1, 0) == -ERANGE,
	      "256-byte error text: %s", reason);
	CHECK(decode_final(WIRE_STOP_ERROR, long_error + 1, 15, 1, 0) == 0,
	      "255-byte error text: %s", reason);
	CHECK(decode_final(WIRE_STOP_ERROR, "bad\x7f", 15, 1, 0) == -EILSEQ,
	      "non-printable error text: %s", reason);
	CHECK(decode_final(WIRE_STOP_STOPPED, "", 15, 5, 0) == -ERANGE,
	      "sequence number not last_seq + 1: %s", reason);
	CHECK_STR_CONTAINS(reason, "last_seq");
	CHECK(decode_final(WIRE_STOP_STOPPED, "", 15, 0, UINT64_MAX) == -ERANGE,
	      "last_seq UINT64_MAX: %s", reason);
}

static void test_final_with_records_is_refused(void)
{
	struct wire_final f = sample_final();
	void *msg = NULL;
	size_t len;

	CHECK(wire_final_encode(cid, agent, &f, &msg, &len) == 0, "encode failed");
	put32((uint8_t *)msg + 32, 1);
	CHECK(decode(msg, len) == -ERANGE, "final with count 1: %s", reason);
	free(msg);
}

/* ---- malformed input ---- */

static void test_every_truncation_is_refused(void)
{
	void *msg = NULL;
	size_t len, cut;
	int ret;

	CHECK(make_batch(3, 200, true, &msg, &len) == 0, "make_batch failed");
	for (cut = 0; cut < len; cut++) {
		ret = decode(msg, cut);
		CHECK(ret == -ENODATA, "message cut to %zu of %zu bytes gave %d (%s)", cut, len,
		      ret, reason);
	}
	CHECK_STR_CONTAINS(reason, "truncated");
	CHECK(decode(NULL, 0) == -ENODATA, "NULL accepted");
	free(msg);
}

static void test_truncated_header(void)
{
	void *msg = NULL;
	size_t len;

	CHECK(make_batch(1, 10, false, &msg, &len) == 0, "make_batch failed");
	CHECK(decode(msg, WIRE_HDR_LEN - 1) == -ENODATA, "47-byte header: %s", reason);
	CHECK_STR_CONTAINS(reason, "header needs 48");
	free(msg);
}

static void test_bad_magic(void)
{
	void *msg = NULL;
	size_t len;

	CHECK(make_batch(1, 10, false, &msg, &len) == 0, "make_batch failed");
	((uint8_t *)msg)[0] = 'X';
	CHECK(decode(msg, len) == -EBADMSG, "bad magic: %s", reason);
	CHECK(decode(msg, 4) == -EBADMSG, "bad magic in a 4-byte message: %s", reason);
	CHECK_STR_CONTAINS(reason, "magic");
	free(msg);
}

static void test_bad_version(void)
{
	void *msg = NULL;
	size_t len;
	uint8_t *p;

	CHECK(make_batch(1, 10, false, &msg, &len) == 0, "make_batch failed");
	p = msg;
	p[4] = 2;
	CHECK(decode(msg, len) == -EPROTONOSUPPORT, "major 2: %s", reason);
	CHECK_STR_CONTAINS(reason, "unsupported protocol version 2");
	/* A later major may have a shorter header: the version is judged before the length. */
	CHECK(decode(msg, 5) == -EPROTONOSUPPORT, "major 2 in 5 bytes: %s", reason);
	p[4] = 0;
	CHECK(decode(msg, len) == -EPROTONOSUPPORT, "major 0: %s", reason);
	p[4] = 1;
	p[5] = 9;
	CHECK(decode(msg, len) == 0, "a later minor version refused: %s", reason);
	free(msg);
}

static void test_unknown_kind_and_flags(void)
{
	void *msg = NULL;
	size_t len;
	uint8_t *p;

	CHECK(make_batch(1, 10, false, &msg, &len) == 0, "make_batch failed");
	p = msg;
	p[6] = 3;
	CHECK(decode(msg, len) == -EOPNOTSUPP, "kind 3: %s", reason);
	p[6] = 0;
	CHECK(decode(msg, len) == -EOPNOTSUPP, "kind 0: %s", reason);
	p[6] = WIRE_KIND_BATCH;
	p[7] |= 0x80;
	CHECK(decode(msg, len) == -EOPNOTSUPP, "flag 0x80: %s", reason);
	CHECK_STR_CONTAINS(reason, "flags");
	free(msg);
}

static void test_bad_agent_id(void)
{
	void *msg = NULL;
	size_t len;
	uint8_t *p;

	CHECK(make_batch(1, 10, false, &msg, &len) == 0, "make_batch failed");
	p = msg;
	p[44] = 0;
	CHECK(decode(msg, len) == -EILSEQ, "agent id length 0: %s", reason);
	p[44] = 64;
	CHECK(decode(msg, len) == -EILSEQ, "agent id length 64: %s", reason);
	p[44] = (uint8_t)strlen(agent);
	p[WIRE_HDR_LEN + 2] = ' ';
	CHECK(decode(msg, len) == -EILSEQ, "agent id with a space: %s", reason);
	p[WIRE_HDR_LEN + 2] = 0;
	CHECK(decode(msg, len) == -EILSEQ, "agent id with a NUL: %s", reason);
	p[WIRE_HDR_LEN + 2] = 0xc3;
	CHECK(decode(msg, len) == -EILSEQ, "agent id with a non-ASCII byte: %s", reason);
	free(msg);
}

static void test_oversized_raw_length(void)
{
	uint8_t payload[64] = { 0 };
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = 1,
			     .payload_len = sizeof(payload),
			     .raw_len = WIRE_RAW_MAX + 1,
			     .agent_id = agent,
			     .payload = payload };
	size_t len;
	uint8_t *buf = build(&r, &len);

	CHECK(decode(buf, len) == -EFBIG, "raw length over the cap: %s", reason);
	put32(buf + 40, UINT32_MAX);
	CHECK(decode(buf, len) == -EFBIG, "raw length 2^32-1: %s", reason);
	free(buf);
}

static void test_lying_lengths(void)
{
	void *msg = NULL;
	size_t len;
	uint8_t *p, *longer;
	uint32_t plen;

	CHECK(make_batch(2, 1000, true, &msg, &len) == 0, "make_batch failed");
	p = msg;
	CHECK(!(p[7] & WIRE_F_DEFLATE), "random records were deflated");
	plen = get32(p + 36);
	/* payload_len past the end of the message */
	put32(p + 36, plen + 1);
	CHECK(decode(msg, len) == -ENODATA, "payload length past the end: %s", reason);
	put32(p + 36, UINT32_MAX);
	CHECK(decode(msg, len) == -ENODATA, "payload length 2^32-1: %s", reason);
	/* payload_len short of the end: trailing bytes */
	put32(p + 36, plen - 1);
	CHECK(decode(msg, len) == -EMSGSIZE, "trailing byte: %s", reason);
	put32(p + 36, plen);
	longer = calloc(1, len + 1);
	memcpy(longer, msg, len);
	CHECK(decode(longer, len + 1) == -EMSGSIZE, "message one byte longer: %s", reason);
	free(longer);
	/* a stored payload whose raw length differs */
	put32(p + 40, plen + 1);
	CHECK(decode(msg, len) == -EMSGSIZE, "stored with raw != payload: %s", reason);
	put32(p + 40, plen);
	/* more records claimed than the payload holds, and fewer */
	put32(p + 32, 3);
	CHECK(decode(msg, len) == -EMSGSIZE, "count 3 for 2 records: %s", reason);
	put32(p + 32, 1);
	CHECK(decode(msg, len) == -EMSGSIZE, "count 1 for 2 records: %s", reason);
	put32(p + 32, 2);
	/* more records than the raw length could possibly hold */
	put32(p + 32, UINT32_MAX);
	CHECK(decode(msg, len) == -EMSGSIZE, "count 2^32-1: %s", reason);
	put32(p + 32, 0);
	CHECK(decode(msg, len) == -ERANGE, "batch with count 0: %s", reason);
	put32(p + 32, 2);
	put64(p + 24, 0);
	CHECK(decode(msg, len) == -ERANGE, "batch with sequence number 0: %s", reason);
	put64(p + 24, 1);
	CHECK(decode(msg, len) == 0, "restored message refused: %s", reason);
	free(msg);
}

static void test_deflated_lengths_must_agree(void)
{
	static uint8_t raw[10 * (WIRE_RECORD_HDR_LEN + 500)];
	size_t n = 0;
	int i;

	for (i = 0; i < 10; i++)
		n += put_record(raw + n, i, 500, 500, 500);
	CHECK(decode_deflated(raw, n, (uint32_t)n, 10) == 0, "valid deflated batch: %s", reason);
	CHECK(decode_deflated(raw, n, (uint32_t)n + 1, 10) == -EPROTO,
	      "raw length one more than the stream: %s", reason);
	CHECK_STR_CONTAINS(reason, "inflates to");
	CHECK(decode_deflated(raw, n, (uint32_t)n - 1, 10) == -EPROTO,
	      "raw length one less than the stream: %s", reason);
	CHECK_STR_CONTAINS(reason, "past its raw length");
}

/* Compression is used only when it pays: a deflated payload as long as raw is a lie. */
static void test_deflated_payload_must_be_smaller(void)
{
	uint8_t raw[WIRE_RECORD_HDR_LEN + 16];
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = 1,
			     .payload_len = sizeof(raw),
			     .raw_len = sizeof(raw),
			     .agent_id = agent,
			     .payload = raw };
	size_t len;
	uint8_t *buf;

	put_record(raw, 1, 16, 16, 16);
	buf = build(&r, &len);
	CHECK(decode(buf, len) == -EMSGSIZE, "deflated payload as long as raw: %s", reason);
	CHECK_STR_CONTAINS(reason, "not smaller");
	free(buf);
}

static void test_corrupt_zlib_stream(void)
{
	uint8_t junk[40];
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = 1,
			     .payload_len = sizeof(junk),
			     .raw_len = 1000,
			     .agent_id = agent,
			     .payload = junk };
	size_t len;
	uint8_t *buf;

	fill_random(junk, sizeof(junk), 99);
	buf = build(&r, &len);
	CHECK(decode(buf, len) == -EPROTO, "random bytes as zlib: %s", reason);
	free(buf);
}

static void test_truncated_zlib_stream(void)
{
	static uint8_t raw[20000];
	uLongf zlen = compressBound(sizeof(raw));
	uint8_t *z = malloc(zlen), *buf;
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = 1,
			     .raw_len = sizeof(raw),
			     .agent_id = agent };
	size_t len;

	put_record(raw, 1, 19000, sizeof(raw) - WIRE_RECORD_HDR_LEN, 0);
	fill_random(raw + WIRE_RECORD_HDR_LEN, 100, 3);
	compress2(z, &zlen, raw, sizeof(raw), 1);
	r.payload = z;
	r.payload_len = (uint32_t)zlen / 2;
	buf = build(&r, &len);
	CHECK(decode(buf, len) == -EPROTO, "half a zlib stream: %s", reason);
	free(buf);
	free(z);
}

static void test_zlib_bomb_is_capped(void)
{
	/* 64 MiB of zeros deflate to about 64 KiB; the decoder must stop at the declared length. */
	size_t big = 64u << 20;
	uint8_t *zeros = calloc(1, big);
	uLongf zlen = compressBound(big);
	uint8_t *z = malloc(zlen), *buf;
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = 1,
			     .raw_len = WIRE_RAW_MAX,
			     .agent_id = agent };
	size_t len;
	int ret;

	CHECK(zeros && z, "no memory for the test");
	compress2(z, &zlen, zeros, big, 9);
	free(zeros);
	r.payload = z;
	r.payload_len = (uint32_t)zlen;
	buf = build(&r, &len);
	ret = decode(buf, len);
	CHECK(ret == -EPROTO, "64 MiB bomb declared as 4 MiB: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "past its raw length");
	/* Declared honestly, it is over the cap and never inflated at all. */
	put32(buf + 40, (uint32_t)big);
	CHECK(decode(buf, len) == -EFBIG, "64 MiB declared: %s", reason);
	free(buf);
	free(z);
}

/* A valid deflated batch of 10 records, made by zlib, for the decoder tests to damage. */
static uint8_t *deflated_batch(size_t *len, size_t *z_off, size_t *z_len)
{
	static uint8_t raw[10 * (WIRE_RECORD_HDR_LEN + 500)];
	uLongf zlen = compressBound(sizeof(raw));
	uint8_t *z = malloc(zlen + 16), *buf;
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_DEFLATE,
			     .seq = 1,
			     .count = 10,
			     .raw_len = sizeof(raw),
			     .agent_id = agent };
	size_t n = 0;
	int i;

	for (i = 0; i < 10; i++)
		n += put_record(raw + n, i, 500, 500, 500);
	compress2(z, &zlen, raw, sizeof(raw), 1);
	/* Room for trailing bytes after the stream, all within the message. */
	memset(z + zlen, 0x5a, 16);
	r.payload = z;
	r.payload_len = (uint32_t)zlen + 16;
	buf = build(&r, len);
	free(z);
	*z_off = WIRE_HDR_LEN + strlen(agent);
	*z_len = zlen;
	/* The message without the 16 trailing bytes: valid. */
	put32(buf + 36, (uint32_t)zlen);
	*len -= 16;
	return buf;
}

static void test_bytes_after_zlib_stream(void)
{
	size_t len, z_off, z_len;
	uint8_t *buf = deflated_batch(&len, &z_off, &z_len);

	CHECK(decode(buf, len) == 0, "valid deflated batch refused: %s", reason);
	put32(buf + 36, (uint32_t)z_len + 3);
	CHECK(decode(buf, len + 3) == -EPROTO, "3 bytes after the stream: %s", reason);
	CHECK_STR_CONTAINS(reason, "after the end");
	free(buf);
}

static void test_zlib_checksum_and_header_are_checked(void)
{
	size_t len, z_off, z_len;
	uint8_t *buf = deflated_batch(&len, &z_off, &z_len);

	/* Adler-32 of the raw payload, in the stream's last 4 bytes. */
	buf[z_off + z_len - 1] ^= 1;
	CHECK(decode(buf, len) == -EPROTO, "bad Adler-32 accepted: %s", reason);
	buf[z_off + z_len - 1] ^= 1;
	/* CMF: compression method 8 (deflate) only. */
	buf[z_off] = (buf[z_off] & 0xf0) | 7;
	CHECK(decode(buf, len) == -EPROTO, "compression method 7 accepted: %s", reason);
	buf[z_off] = (buf[z_off] & 0xf0) | 8;
	CHECK(decode(buf, len) == 0, "restored stream refused: %s", reason);
	/* A preset dictionary (FDICT), which nothing here could know. */
	buf[z_off + 1] |= 0x20;
	CHECK(decode(buf, len) == -EPROTO, "FDICT accepted: %s", reason);
	free(buf);
}

/* Decoders run in the aggregator's threads: each has its own decompressor, kept between calls. */
static void *decode_many(void *arg)
{
	size_t len, z_off, z_len;
	uint8_t *buf = deflated_batch(&len, &z_off, &z_len);
	struct wire_msg m;
	char why[256];
	long bad = 0;
	int i;

	(void)arg;
	for (i = 0; i < 200; i++) {
		if (wire_decode(buf, len, &m, why, sizeof(why)))
			bad++;
		wire_msg_release(&m);
		/* A failure in between leaves the decompressor fit for the next message. */
		buf[z_off + z_len - 1] ^= 1;
		if (wire_decode(buf, len, &m, why, sizeof(why)) != -EPROTO)
			bad++;
		buf[z_off + z_len - 1] ^= 1;
	}
	free(buf);
	return (void *)bad;
}

static void test_decoding_in_several_threads(void)
{
	pthread_t t[3];
	void *bad;
	int i, n = 0;

	for (i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, decode_many, NULL) == 0, "pthread_create failed");
	bad = decode_many(NULL);
	CHECK(bad == NULL, "%ld wrong results in the main thread", (long)bad);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], &bad);
		n += bad != NULL;
	}
	CHECK(n == 0, "%d threads got wrong results", n);
}

static void test_record_overrunning_payload(void)
{
	uint8_t payload[2 * WIRE_RECORD_HDR_LEN + 100];
	size_t n;

	n = put_record(payload, 1, 60, 60, 60);
	/* The second record says 100 bytes follow; 40 do. */
	n += put_record(payload + n, 2, 100, 100, 40);
	CHECK(decode_stored_batch(payload, n, 2) == -EOVERFLOW, "record past the end: %s", reason);
	CHECK_STR_CONTAINS(reason, "record 1");
	/* A record header cut short. */
	n = put_record(payload, 1, 60, 60, 60);
	CHECK(decode_stored_batch(payload, n + 10, 2) == -EOVERFLOW, "half a header: %s", reason);
}

static void test_record_fields_out_of_range(void)
{
	static uint8_t payload[WIRE_RECORD_HDR_LEN + WIRE_CAPLEN_MAX + 1];
	size_t n;

	n = put_record(payload, 1, 70000, WIRE_CAPLEN_MAX + 1, WIRE_CAPLEN_MAX + 1);
	CHECK(decode_stored_batch(payload, n, 1) == -ERANGE, "cap_len 65536: %s", reason);
	n = put_record(payload, 1, 59, 60, 60);
	CHECK(decode_stored_batch(payload, n, 1) == -ERANGE, "orig_len < cap_len: %s", reason);
	n = put_record(payload, 1, 70000, WIRE_CAPLEN_MAX, WIRE_CAPLEN_MAX);
	CHECK(decode_stored_batch(payload, n, 1) == 0, "cap_len 65535 refused: %s", reason);
	n = put_record(payload, 1, 0, 0, 0);
	CHECK(decode_stored_batch(payload, n, 1) == 0, "empty record refused: %s", reason);
}

/* ---- batch codecs (1.2) ---- */

static void test_codec_names_and_choice(void)
{
	enum wire_codec c;
	unsigned int i;

	for (i = 0; i < WIRE_N_CODECS; i++) {
		CHECK(wire_codec_parse(wire_codec_name(i), &c) == 0 && c == i, "codec %u", i);
		CHECK(wire_codec_flag(i) && !(wire_codec_flag(i) & ~WIRE_F_CODECS), "flag of %u",
		      i);
	}
	CHECK(!strcmp(wire_codec_name(WIRE_CODEC_ZSTD), "zstd"), "zstd's name");
	CHECK(wire_codec_parse("brotli", &c) == -EINVAL, "unknown codec parsed");
	CHECK(wire_codec_parse("", &c) == -EINVAL, "empty codec parsed");
	CHECK(!strcmp(wire_codec_name(WIRE_N_CODECS), "unknown"), "name of an unknown codec");
	/* auto: the first preference the peer takes; a 1.1 peer (deflate alone) gets deflate. */
	CHECK(wire_codec_choose(-1, WIRE_CODECS_ALL) == wire_codec_preference[0], "auto, all");
	CHECK(wire_codec_preference[0] == WIRE_CODEC_ZSTD, "auto prefers zstd (B4b)");
	CHECK(wire_codec_choose(-1, WIRE_CODEC_BIT(WIRE_CODEC_DEFLATE)) == WIRE_CODEC_DEFLATE,
	      "auto, old peer");
	CHECK(wire_codec_choose(-1, 0) == WIRE_CODEC_DEFLATE, "auto, nothing named");
	CHECK(wire_codec_choose(-1, WIRE_CODEC_BIT(WIRE_CODEC_DEFLATE) |
					    WIRE_CODEC_BIT(WIRE_CODEC_LZ4)) == WIRE_CODEC_LZ4,
	      "auto, peer without zstd");
	/* Forced: that codec if the peer takes it, else deflate. */
	CHECK(wire_codec_choose(WIRE_CODEC_LZ4, WIRE_CODECS_ALL) == WIRE_CODEC_LZ4, "forced lz4");
	CHECK(wire_codec_choose(WIRE_CODEC_ZSTD, WIRE_CODEC_BIT(WIRE_CODEC_DEFLATE)) ==
		      WIRE_CODEC_DEFLATE,
	      "forced zstd, old peer");
	CHECK(wire_codec_choose(WIRE_CODEC_DEFLATE, WIRE_CODECS_ALL) == WIRE_CODEC_DEFLATE,
	      "forced deflate");
}

static void test_each_codec_round_trips(void)
{
	unsigned int c;

	for (c = 0; c < WIRE_N_CODECS; c++) {
		struct wire_record rec;
		struct wire_iter it;
		struct wire_msg m;
		void *msg = NULL;
		size_t len;
		const uint8_t *p;
		uint32_t i = 0;
		int ret;

		CHECK(make_batch_with(c, 100, 1500, false, &msg, &len) == 0, "%s: make",
		      wire_codec_name(c));
		p = msg;
		CHECK(p[5] == 2, "%s: minor %u, not 2", wire_codec_name(c), p[5]);
		CHECK((p[7] & WIRE_F_CODECS) == wire_codec_flag(c), "%s: flags 0x%02x",
		      wire_codec_name(c), p[7]);
		CHECK(get32(p + 36) < get32(p + 40) / 10, "%s: payload %u bytes for %u raw",
		      wire_codec_name(c), get32(p + 36), get32(p + 40));
		ret = wire_decode(msg, len, &m, reason, sizeof(reason));
		CHECK(ret == 0, "%s: decode: %s", wire_codec_name(c), reason);
		CHECK(m.owned && m.raw == m.owned, "%s: not decompressed", wire_codec_name(c));
		wire_iter_init(&it, &m);
		while (!wire_iter_next(&it, &rec, reason, sizeof(reason))) {
			CHECK(rec.cap_len == 1500 && rec.data[0] == (i & 1 ? 0x11 : 0) &&
				      rec.data[1499] == rec.data[0] &&
				      rec.tstamp_ns == 1700000000000000000ull + i,
			      "%s: record %u differs", wire_codec_name(c), i);
			i++;
		}
		CHECK(i == 100, "%s: %u records", wire_codec_name(c), i);
		wire_msg_release(&m);
		free(msg);
		/* Random records: stored, whatever the codec. */
		CHECK(make_batch_with(c, 20, 1500, true, &msg, &len) == 0, "make");
		p = msg;
		CHECK(!(p[7] & WIRE_F_CODECS), "%s: random batch compressed", wire_codec_name(c));
		CHECK(decode(msg, len) == 0, "%s: stored: %s", wire_codec_name(c), reason);
		free(msg);
	}
}

/*
 * One builder, batches of growing then shrinking size, compressible and random, each codec: every
 * message decodes to its records, and the MAC trailer goes into room the message already has
 * (wire_mac_frame does not move it), so that a batch is never copied again to be MACed.
 */
static void test_reused_builder_messages_take_the_mac_in_place(void)
{
	static const int counts[] = { 1, 40, 400, 1200, 400, 3 };
	static uint8_t data[1500];
	unsigned int c, k;

	for (c = 0; c < WIRE_N_CODECS; c++) {
		struct wire_batch *b = NULL;
		uint64_t seq = 0;

		CHECK(wire_batch_new(cid, agent, 1u << 20, &b) == 0, "new");
		CHECK(wire_batch_set_codec(b, c) == 0, "%s: set codec", wire_codec_name(c));
		for (k = 0; k < 2 * sizeof(counts) / sizeof(counts[0]); k++) {
			bool random = k >= sizeof(counts) / sizeof(counts[0]);
			int n = counts[k % (sizeof(counts) / sizeof(counts[0]))], i;
			struct wire_record rec;
			struct wire_iter it;
			struct wire_msg m;
			void *msg = NULL, *before;
			size_t len;

			for (i = 0; i < n; i++) {
				struct wire_record r = { .tstamp_ns = 1700000000000000000ull + i,
							 .ifindex = 2,
							 .orig_len = 1500,
							 .cap_len = 100 + (uint32_t)i % 1400,
							 .data = data };

				if (random)
					fill_random(data, r.cap_len, (uint32_t)(k * 10000 + i + 1));
				else
					memset(data, i & 0xff, r.cap_len);
				CHECK(wire_batch_add(b, &r) == 0, "add");
			}
			CHECK(wire_batch_finish(b, &msg, &len) == 0, "finish");
			seq++;
			before = msg;
			CHECK(wire_mac_frame(&msg, &len) == 0, "MAC frame");
			CHECK(msg == before, "%s, batch %u: the MAC trailer moved the message",
			      wire_codec_name(c), k);
			memset((uint8_t *)msg + len - WIRE_MAC_LEN, 0xab, WIRE_MAC_LEN);
			CHECK(wire_decode(msg, len, &m, reason, sizeof(reason)) == 0,
			      "%s, batch %u: decode: %s", wire_codec_name(c), k, reason);
			CHECK(m.seq == seq && m.count == (uint32_t)n,
			      "%s, batch %u: seq %llu count %u", wire_codec_name(c), k,
			      (unsigned long long)m.seq, m.count);
			wire_iter_init(&it, &m);
			for (i = 0; !wire_iter_next(&it, &rec, reason, sizeof(reason)); i++)
				CHECK(rec.cap_len == 100 + (uint32_t)i % 1400 &&
					      rec.tstamp_ns == 1700000000000000000ull + i,
				      "%s, batch %u: record %d differs", wire_codec_name(c), k, i);
			CHECK(i == n, "%s, batch %u: %d records", wire_codec_name(c), k, i);
			wire_msg_release(&m);
			free(msg);
		}
		wire_batch_free(b);
	}
}

static void test_set_codec_rejects_unknown(void)
{
	struct wire_batch *b = NULL;

	CHECK(wire_batch_new(cid, agent, 0, &b) == 0, "wire_batch_new failed");
	CHECK(wire_batch_set_codec(b, WIRE_N_CODECS) == -EINVAL, "unknown codec taken");
	CHECK(wire_batch_set_codec(b, (enum wire_codec) - 1) == -EINVAL, "codec -1 taken");
	wire_batch_free(b);
}

static void test_two_codec_flags_are_unsupported(void)
{
	size_t len, off;
	uint8_t *buf = codec_batch(WIRE_CODEC_ZSTD, 0, &len, &off);

	CHECK(decode(buf, len) == 0, "valid zstd batch: %s", reason);
	buf[7] |= WIRE_F_DEFLATE;
	CHECK(decode(buf, len) == -EOPNOTSUPP, "zstd and deflate: %s", reason);
	CHECK_STR_CONTAINS(reason, "more than one codec");
	buf[7] = WIRE_F_ZSTD | WIRE_F_LZ4;
	CHECK(decode(buf, len) == -EOPNOTSUPP, "zstd and lz4: %s", reason);
	buf[7] = 0x10;
	CHECK(decode(buf, len) == -EOPNOTSUPP, "flag 0x10: %s", reason);
	free(buf);
}

/* A codec's payload read as another codec's: refused, counted as bad_compressed. */
static void test_codec_flag_must_match_payload(void)
{
	size_t len, off;
	uint8_t *buf = codec_batch(WIRE_CODEC_ZSTD, 0, &len, &off);

	buf[7] = WIRE_F_LZ4;
	CHECK(decode(buf, len) == -EBADE, "zstd frame read as lz4: %s", reason);
	CHECK(!strcmp(wire_error_name(-EBADE), "bad_compressed"), "name");
	free(buf);
	buf = codec_batch(WIRE_CODEC_LZ4, 0, &len, &off);
	CHECK(decode(buf, len) == 0, "valid lz4 batch: %s", reason);
	buf[7] = WIRE_F_ZSTD;
	CHECK(decode(buf, len) == -EBADE, "lz4 block read as zstd: %s", reason);
	free(buf);
}

static void test_corrupt_zstd_and_lz4(void)
{
	unsigned int c;

	for (c = WIRE_CODEC_ZSTD; c <= WIRE_CODEC_LZ4; c++) {
		size_t len, off, i, refused = 0, zlen;
		uint8_t *buf = codec_batch(c, 0, &len, &off);
		int ret;

		zlen = len - off;
		/* Every truncation of the payload (lengths kept in step) is refused. */
		for (i = 0; i < zlen; i++) {
			put32(buf + 36, (uint32_t)i);
			ret = decode(buf, off + i);
			CHECK(ret == -EBADE, "%s cut to %zu bytes: %d %s", wire_codec_name(c), i,
			      ret, reason);
		}
		put32(buf + 36, (uint32_t)zlen);
		/* Each byte flipped: refused, or (a literal's byte) records that still check. */
		for (i = 0; i < zlen; i++) {
			buf[off + i] ^= 0xa5;
			ret = decode(buf, len);
			CHECK(ret == 0 || ret == -EBADE || ret == -ERANGE || ret == -EOVERFLOW ||
				      ret == -EMSGSIZE,
			      "%s byte %zu flipped: %d %s", wire_codec_name(c), i, ret, reason);
			refused += ret != 0;
			buf[off + i] ^= 0xa5;
		}
		CHECK(refused > 0, "%s: no flipped byte refused", wire_codec_name(c));
		CHECK(decode(buf, len) == 0, "%s: restored: %s", wire_codec_name(c), reason);
		free(buf);
		/* raw_len that lies: shorter or longer than what the payload holds. */
		buf = codec_batch(c, 10 * (WIRE_RECORD_HDR_LEN + 500) - 1, &len, &off);
		CHECK(decode(buf, len) == -EBADE, "%s: raw_len one short: %s", wire_codec_name(c),
		      reason);
		free(buf);
		buf = codec_batch(c, 10 * (WIRE_RECORD_HDR_LEN + 500) + 1, &len, &off);
		CHECK(decode(buf, len) == -EBADE, "%s: raw_len one long: %s", wire_codec_name(c),
		      reason);
		free(buf);
	}
}

static void test_bytes_after_zstd_frame(void)
{
	size_t len, off;
	uint8_t *buf = codec_batch(WIRE_CODEC_ZSTD, 0, &len, &off), *longer;

	longer = calloc(1, len + 4);
	memcpy(longer, buf, len);
	put32(longer + 36, get32(buf + 36) + 4);
	CHECK(decode(longer, len + 4) == -EBADE, "bytes after the frame: %s", reason);
	CHECK_STR_CONTAINS(reason, "after the end of the zstd frame");
	free(longer);
	free(buf);
}

/*
 * A batch of 4 records of zeros (each a valid record: no packet bytes), raw_len 112, whose zstd
 * payload is given byte by byte (n bytes), for the frame-format tests.
 */
static int decode_zstd_payload(const uint8_t *z, size_t n)
{
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_ZSTD,
			     .seq = 1,
			     .count = 4,
			     .payload_len = (uint32_t)n,
			     .raw_len = 4 * WIRE_RECORD_HDR_LEN,
			     .agent_id = agent,
			     .payload = z };
	size_t len;
	uint8_t *buf = build(&r, &len);
	int ret = decode(buf, len);

	free(buf);
	return ret;
}

/*
 * Only one standard zstd frame (magic 0xFD2FB528) is a zstd payload: not a legacy (pre-1.0)
 * frame, which libzstd would decode with its old decoders, not a skippable frame, not a second
 * frame after the first; each refused with its own reason. The frames are built by hand: 112
 * bytes of zeros as one RLE block.
 */
static void test_legacy_and_skippable_zstd_frames(void)
{
	/* v1: magic, single segment with a 1-byte content size, one last RLE block of 112 zeros. */
	static const uint8_t frame[] = {
		0x28, 0xb5, 0x2f, 0xfd, 0x20, 112, 0x83, 0x03, 0x00, 0x00
	};
	/* v0.7: the same content as an RLE block and an end block (which libzstd decodes). */
	static const uint8_t legacy[] = { 0x27, 0xb5, 0x2f, 0xfd, 0x20, 112, 0x80,
					  0x00, 112,  0x00, 0xc0, 0x00, 0x00 };
	/* A skippable frame (magic 0x184D2A53) with 4 bytes of user data. */
	static const uint8_t skippable[] = { 0x53, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4 };
	uint8_t z[64];
	uint32_t magic;
	int ret;

	ret = decode_zstd_payload(frame, sizeof(frame));
	CHECK(ret == 0, "one standard frame: %d %s", ret, reason);
	/* Legacy frames, from v0.7's magic down to v0.1's. */
	ret = decode_zstd_payload(legacy, sizeof(legacy));
	CHECK(ret == -EBADE, "v0.7 frame: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "legacy (pre-1.0) zstd frame (magic 0xfd2fb527)");
	for (magic = 0xfd2fb51e; magic <= 0xfd2fb526; magic++) {
		memcpy(z, legacy, sizeof(legacy));
		z[0] = (uint8_t)magic;
		ret = decode_zstd_payload(z, sizeof(legacy));
		CHECK(ret == -EBADE, "magic 0x%08x: %d %s", magic, ret, reason);
		CHECK_STR_CONTAINS(reason, "legacy (pre-1.0) zstd frame");
	}
	/* A skippable frame alone, and before a standard frame. */
	ret = decode_zstd_payload(skippable, sizeof(skippable));
	CHECK(ret == -EBADE, "skippable frame: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "skippable zstd frame (magic 0x184d2a53)");
	memcpy(z, skippable, sizeof(skippable));
	memcpy(z + sizeof(skippable), frame, sizeof(frame));
	ret = decode_zstd_payload(z, sizeof(skippable) + sizeof(frame));
	CHECK(ret == -EBADE, "skippable frame, then a frame: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "skippable zstd frame");
	/* After the frame: a skippable frame, a second frame, other bytes. */
	memcpy(z, frame, sizeof(frame));
	memcpy(z + sizeof(frame), skippable, sizeof(skippable));
	ret = decode_zstd_payload(z, sizeof(frame) + sizeof(skippable));
	CHECK(ret == -EBADE, "a frame, then a skippable frame: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason,
			   "12 bytes after the end of the zstd frame: a skippable zstd frame");
	memcpy(z + sizeof(frame), frame, sizeof(frame));
	ret = decode_zstd_payload(z, 2 * sizeof(frame));
	CHECK(ret == -EBADE, "two frames: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "10 bytes after the end of the zstd frame: a zstd frame");
	memcpy(z + sizeof(frame), legacy, sizeof(legacy));
	ret = decode_zstd_payload(z, sizeof(frame) + sizeof(legacy));
	CHECK(ret == -EBADE, "a frame, then a legacy frame: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "a legacy (pre-1.0) zstd frame");
	memset(z + sizeof(frame), 0, 3);
	ret = decode_zstd_payload(z, sizeof(frame) + 3);
	CHECK(ret == -EBADE, "3 bytes after the frame: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "3 bytes after the end of the zstd frame");
	/* Neither zstd magic, nor room for one. */
	memcpy(z, frame, sizeof(frame));
	z[3] = 0xfe;
	ret = decode_zstd_payload(z, sizeof(frame));
	CHECK(ret == -EBADE, "other magic: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "not a zstd frame (magic 0xfe2fb528)");
	ret = decode_zstd_payload(frame, 3);
	CHECK(ret == -EBADE, "3 bytes: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "too short for a zstd frame");
}

/*
 * The two steps: wire_decode_header decompresses nothing (a payload whose compressed bytes are
 * all wrong passes it, with the MAC fields and where the payload is), wire_decode_payload then
 * refuses it and leaves the message as the header made it. A sound message decodes in the two
 * steps as with wire_decode.
 */
static void test_header_then_payload(void)
{
	static const uint8_t flags[] = { WIRE_F_DEFLATE, WIRE_F_ZSTD, WIRE_F_LZ4 };
	struct wire_record rec;
	struct wire_iter it;
	struct wire_msg m;
	size_t len, off, zlen, plain;
	uint8_t *buf;
	void *msg;
	unsigned int i, n;
	int ret;

	for (i = 0; i < 3; i++) {
		if (flags[i] == WIRE_F_DEFLATE)
			buf = deflated_batch(&len, &off, &zlen);
		else
			buf = codec_batch(flags[i] == WIRE_F_ZSTD ? WIRE_CODEC_ZSTD
								  : WIRE_CODEC_LZ4,
					  0, &len, &off);
		msg = buf;
		plain = len;
		CHECK(wire_mac_frame(&msg, &len) == 0, "MAC frame");
		buf = msg;
		zlen = plain - off;
		ret = wire_decode_header(buf, len, &m, reason, sizeof(reason));
		CHECK(ret == 0, "flags 0x%x, header: %d %s", flags[i], ret, reason);
		CHECK(m.payload == buf + off && m.payload_len == zlen, "payload at %td, %u bytes",
		      m.payload - buf, m.payload_len);
		CHECK(m.mac == buf + plain && m.mac_covers == plain, "MAC fields");
		CHECK(!m.raw && !m.owned, "nothing decompressed by the header");
		CHECK(!strcmp(m.agent_id, agent) && m.count == 10, "header fields");
		wire_iter_init(&it, &m);
		CHECK(wire_iter_next(&it, &rec, reason, sizeof(reason)) == -ENOENT,
		      "no records before the payload is decoded");
		ret = wire_decode_payload(&m, reason, sizeof(reason));
		CHECK(ret == 0, "flags 0x%x, payload: %d %s", flags[i], ret, reason);
		CHECK(m.raw && m.raw_len == 10 * (WIRE_RECORD_HDR_LEN + 500), "raw payload");
		CHECK(wire_decode_payload(&m, reason, sizeof(reason)) == 0, "decoded already");
		wire_iter_init(&it, &m);
		for (n = 0; wire_iter_next(&it, &rec, reason, sizeof(reason)) == 0; n++)
			;
		CHECK_EQ_U64(n, 10, "records");
		wire_msg_release(&m);
		/* Every compressed byte wrong: the header is still sound, the payload is not. */
		memset(buf + off, 0xff, zlen);
		ret = wire_decode_header(buf, len, &m, reason, sizeof(reason));
		CHECK(ret == 0, "flags 0x%x, corrupt payload, header: %d %s", flags[i], ret,
		      reason);
		ret = wire_decode_payload(&m, reason, sizeof(reason));
		CHECK(ret == (flags[i] == WIRE_F_DEFLATE ? -EPROTO : -EBADE),
		      "flags 0x%x, corrupt payload: %d %s", flags[i], ret, reason);
		CHECK(!m.raw && !m.owned && m.payload == buf + off, "left as the header made it");
		wire_msg_release(&m);
		CHECK(wire_decode(buf, len, &m, reason, sizeof(reason)) == ret,
		      "wire_decode agrees");
		CHECK(!m.raw && !m.payload, "nothing left by wire_decode");
		free(buf);
	}
	/* Header errors are wire_decode's; a payload needs a header. */
	CHECK(wire_decode_header("ECAP", 4, &m, reason, sizeof(reason)) == -ENODATA, "short");
	CHECK(!m.payload, "nothing from a refused header");
	memset(&m, 0, sizeof(m));
	CHECK(wire_decode_payload(&m, reason, sizeof(reason)) == -ENODATA, "no header: %s", reason);
}

/* 64 MiB of zeros, declared as 4 MiB, or without a content size: never decompressed past. */
static void test_zstd_and_lz4_bombs_are_capped(void)
{
	size_t big = 64u << 20, zcap = ZSTD_compressBound(big), len, zlen;
	uint8_t *zeros = calloc(1, big), *z = malloc(zcap), *buf;
	struct raw_msg r = { .kind = WIRE_KIND_BATCH,
			     .flags = WIRE_F_ZSTD,
			     .seq = 1,
			     .count = 1,
			     .raw_len = WIRE_RAW_MAX,
			     .agent_id = agent };
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_outBuffer out = { z, zcap, 0 };
	ZSTD_inBuffer in = { zeros, big, 0 };
	int ret;

	CHECK(zeros && z && cc, "no memory for the test");
	zlen = ZSTD_compress(z, zcap, zeros, big, 1);
	CHECK(!ZSTD_isError(zlen), "ZSTD_compress");
	r.payload = z;
	r.payload_len = (uint32_t)zlen;
	buf = build(&r, &len);
	ret = decode(buf, len);
	CHECK(ret == -EBADE, "zstd 64 MiB declared as 4 MiB: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "declares 67108864 bytes");
	put32(buf + 40, (uint32_t)big);
	CHECK(decode(buf, len) == -EFBIG, "64 MiB declared: %s", reason);
	free(buf);
	/* A frame without its content size: refused before any allocation. */
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end);
	r.payload_len = (uint32_t)out.pos;
	buf = build(&r, &len);
	ret = decode(buf, len);
	CHECK(ret == -EBADE, "zstd frame without a content size: %d %s", ret, reason);
	CHECK_STR_CONTAINS(reason, "content size");
	free(buf);
	/* LZ4 has no content size: LZ4_decompress_safe stops at the 4 MiB buffer. */
	zlen = (size_t)LZ4_compress_default((const char *)zeros, (char *)z, (int)big, (int)zcap);
	CHECK(zlen > 0, "LZ4_compress_default");
	r.flags = WIRE_F_LZ4;
	r.payload_len = (uint32_t)zlen;
	buf = build(&r, &len);
	ret = decode(buf, len);
	CHECK(ret == -EBADE, "lz4 64 MiB declared as 4 MiB: %d %s", ret, reason);
	free(buf);
	ZSTD_freeCCtx(cc);
	free(zeros);
	free(z);
}

static void test_error_names_are_distinct(void)
{
	static const int errs[] = { -ENODATA,	-EBADMSG,  -EPROTONOSUPPORT, -EOPNOTSUPP,
				    -EILSEQ,	-EMSGSIZE, -EFBIG,	     -EPROTO,
				    -EOVERFLOW, -ERANGE,   -ENOMEM,	     -EBADE };
	size_t i, j, n = sizeof(errs) / sizeof(errs[0]);

	for (i = 0; i < n; i++) {
		CHECK(strcmp(wire_error_name(errs[i]), "other"), "errno %d has no name", errs[i]);
		for (j = 0; j < i; j++)
			CHECK(strcmp(wire_error_name(errs[i]), wire_error_name(errs[j])),
			      "%d and %d share a name", errs[i], errs[j]);
	}
}

int main(void)
{
	RUN(test_capture_id_hex_round_trip);
	RUN(test_capture_id_rejects_malformed);
	RUN(test_agent_id_rules);
	RUN(test_batch_round_trip);
	RUN(test_compressible_batch_is_deflated);
	RUN(test_random_batch_is_stored);
	RUN(test_batch_stops_at_its_bound);
	RUN(test_default_bound_is_one_mib);
	RUN(test_empty_batch_takes_one_oversized_record);
	RUN(test_batch_rejects_bad_records_and_settings);
	RUN(test_sequence_numbers_count_up_from_one);
	RUN(test_batch_deflating_to_more_than_half_is_stored);
	RUN(test_probe_decides_for_the_whole_batch);
	RUN(test_passing_probe_is_not_enough);
	RUN(test_small_batch_is_tried_whole);
	RUN(test_batch_after_a_deflated_one_is_not_probed);
	RUN(test_stored_batches_back_off);
	RUN(test_deflated_batch_is_a_zlib_stream);
	RUN(test_final_round_trip);
	RUN(test_mac_trailer);
	RUN(test_final_error_text);
	RUN(test_stop_reason_names);
	RUN(test_final_checks);
	RUN(test_final_with_records_is_refused);
	RUN(test_every_truncation_is_refused);
	RUN(test_truncated_header);
	RUN(test_bad_magic);
	RUN(test_bad_version);
	RUN(test_unknown_kind_and_flags);
	RUN(test_bad_agent_id);
	RUN(test_oversized_raw_length);
	RUN(test_lying_lengths);
	RUN(test_deflated_lengths_must_agree);
	RUN(test_deflated_payload_must_be_smaller);
	RUN(test_corrupt_zlib_stream);
	RUN(test_truncated_zlib_stream);
	RUN(test_zlib_bomb_is_capped);
	RUN(test_bytes_after_zlib_stream);
	RUN(test_zlib_checksum_and_header_are_checked);
	RUN(test_decoding_in_several_threads);
	RUN(test_record_overrunning_payload);
	RUN(test_record_fields_out_of_range);
	RUN(test_codec_names_and_choice);
	RUN(test_each_codec_round_trips);
	RUN(test_reused_builder_messages_take_the_mac_in_place);
	RUN(test_set_codec_rejects_unknown);
	RUN(test_two_codec_flags_are_unsupported);
	RUN(test_codec_flag_must_match_payload);
	RUN(test_corrupt_zstd_and_lz4);
	RUN(test_bytes_after_zstd_frame);
	RUN(test_legacy_and_skippable_zstd_frames);
	RUN(test_header_then_payload);
	RUN(test_zstd_and_lz4_bombs_are_capped);
	RUN(test_error_names_are_distinct);
	return TEST_SUMMARY();
}
