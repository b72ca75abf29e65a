// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_wire.c: the data-plane decoder (common/wire.h) on arbitrary bytes, as the aggregator's
 * PULL socket may receive them, in two steps as the aggregator decodes (wire_decode_header, then
 * wire_decode_payload; wire_decode where the header is refused, and on every rebuilt message).
 * Properties:
 *   - a refusal is a known negative errno with a reason, wire_decode's the same as the steps';
 *   - a header that decodes decompressed nothing, and locates its payload and MAC trailer inside
 *     the input; a payload it then refuses leaves it so;
 *   - a decoded batch iterates to exactly its count of valid records, then -ENOENT;
 *   - those records, built again with the batch builder with each codec (deflate, zstd, LZ4),
 *     decode to the same records;
 *   - a decoded final message, encoded again, decodes to the same content.
 *
 * Under libFuzzer a custom mutator also mutates what is inside compressed payloads (decompress,
 * mutate, compress again with the same codec or now and then another, fix the flags and the
 * lengths), which byte mutations of a zlib stream, zstd frame or LZ4 block almost never reach.
 */
#include <errno.h>
#include <string.h>

#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include "fuzz.h"
#include "wire.h"

static bool same_record(const struct wire_record *a, const struct wire_record *b)
{
	return a->tstamp_ns == b->tstamp_ns && a->ifindex == b->ifindex &&
	       a->rx_queue == b->rx_queue && a->orig_len == b->orig_len &&
	       a->cap_len == b->cap_len && a->hook == b->hook &&
	       !memcmp(a->data, b->data, a->cap_len);
}

/* The records of m, rebuilt into a batch with codec c, must decode to the same records. */
static void check_rebuilt(const struct wire_msg *m, enum wire_codec c)
{
	struct wire_record rec, rec2;
	struct wire_iter it, it2;
	struct wire_batch *b = NULL;
	struct wire_msg m2;
	void *msg = NULL;
	size_t len;

	FUZZ_ASSERT(wire_batch_new(m->capture_id, m->agent_id, WIRE_RAW_MAX, &b) == 0);
	FUZZ_ASSERT(wire_batch_set_codec(b, c) == 0);
	wire_iter_init(&it, m);
	while (wire_iter_next(&it, &rec, NULL, 0) == 0)
		FUZZ_ASSERT(wire_batch_add(b, &rec) == 0);
	FUZZ_ASSERT(wire_batch_finish(b, &msg, &len) == 0);
	FUZZ_ASSERT(wire_decode(msg, len, &m2, NULL, 0) == 0);
	FUZZ_ASSERT(!(m2.flags & WIRE_F_CODECS) ||
		    (m2.flags & WIRE_F_CODECS) == wire_codec_flag(c));
	FUZZ_ASSERT(m2.count == m->count && m2.raw_len == m->raw_len);
	wire_iter_init(&it, m);
	wire_iter_init(&it2, &m2);
	while (wire_iter_next(&it, &rec, NULL, 0) == 0) {
		FUZZ_ASSERT(wire_iter_next(&it2, &rec2, NULL, 0) == 0);
		FUZZ_ASSERT(same_record(&rec, &rec2));
	}
	FUZZ_ASSERT(wire_iter_next(&it2, &rec2, NULL, 0) == -ENOENT);
	wire_msg_release(&m2);
	free(msg);
	wire_batch_free(b);
}

/* Every record of m, checked, and rebuilt into a second batch that must say the same. */
static void check_batch(const struct wire_msg *m)
{
	unsigned int c;

	struct wire_record rec, rec2;
	struct wire_iter it, it2;
	struct wire_batch *b = NULL;
	struct wire_msg m2;
	void *msg = NULL;
	size_t len;
	uint32_t n = 0;
	int ret;

	FUZZ_ASSERT(wire_batch_new(m->capture_id, m->agent_id, WIRE_RAW_MAX, &b) == 0);
	wire_iter_init(&it, m);
	while ((ret = wire_iter_next(&it, &rec, NULL, 0)) == 0) {
		FUZZ_ASSERT(rec.cap_len <= WIRE_CAPLEN_MAX && rec.cap_len <= rec.orig_len);
		FUZZ_ASSERT(rec.data >= m->raw && rec.data + rec.cap_len <= m->raw + m->raw_len);
		FUZZ_ASSERT(wire_batch_add(b, &rec) == 0);
		n++;
	}
	FUZZ_ASSERT(ret == -ENOENT);
	FUZZ_ASSERT(n == m->count);
	FUZZ_ASSERT(wire_batch_raw_len(b) == m->raw_len);

	FUZZ_ASSERT(wire_batch_finish(b, &msg, &len) == 0);
	FUZZ_ASSERT(wire_decode(msg, len, &m2, NULL, 0) == 0);
	FUZZ_ASSERT(m2.count == m->count && m2.raw_len == m->raw_len);
	FUZZ_ASSERT(!strcmp(m2.agent_id, m->agent_id));
	wire_iter_init(&it, m);
	wire_iter_init(&it2, &m2);
	while (wire_iter_next(&it, &rec, NULL, 0) == 0) {
		FUZZ_ASSERT(wire_iter_next(&it2, &rec2, NULL, 0) == 0);
		FUZZ_ASSERT(same_record(&rec, &rec2));
	}
	FUZZ_ASSERT(wire_iter_next(&it2, &rec2, NULL, 0) == -ENOENT);
	wire_msg_release(&m2);
	free(msg);
	wire_batch_free(b);
	for (c = WIRE_CODEC_ZSTD; c < WIRE_N_CODECS; c++)
		check_rebuilt(m, c);
}

static void check_final(const struct wire_msg *m)
{
	const struct wire_final *f = &m->final;
	struct wire_msg m2;
	void *msg = NULL;
	size_t len;

	FUZZ_ASSERT(m->seq == f->c.last_seq + 1);
	FUZZ_ASSERT((f->reason == WIRE_STOP_ERROR) == (f->error[0] != '\0'));
	FUZZ_ASSERT(wire_final_encode(m->capture_id, m->agent_id, f, &msg, &len) == 0);
	FUZZ_ASSERT(wire_decode(msg, len, &m2, NULL, 0) == 0);
	FUZZ_ASSERT(m2.kind == WIRE_KIND_FINAL && m2.seq == m->seq);
	FUZZ_ASSERT(m2.final.reason == f->reason && !strcmp(m2.final.error, f->error));
	FUZZ_ASSERT(!memcmp(&m2.final.c, &f->c, sizeof(f->c)));
	FUZZ_ASSERT(m2.final.start_ns == f->start_ns && m2.final.stop_ns == f->stop_ns);
	wire_msg_release(&m2);
	free(msg);
}

static void check_refusal(int ret, const char *reason)
{
	FUZZ_ASSERT(ret < 0 && reason[0]);
	FUZZ_ASSERT(strcmp(wire_error_name(ret), "other"));
}

/* What wire_decode_header promises: the payload and the MAC trailer inside the input, no raw. */
static void check_header(const struct wire_msg *m, const uint8_t *data, size_t size)
{
	size_t mac_len = m->flags & WIRE_F_MAC ? WIRE_MAC_LEN : 0;

	FUZZ_ASSERT(m->major == WIRE_VERSION_MAJOR);
	FUZZ_ASSERT(m->raw_len <= WIRE_RAW_MAX);
	FUZZ_ASSERT(!m->raw && !m->owned);
	FUZZ_ASSERT(wire_agent_id_valid(m->agent_id, strlen(m->agent_id)));
	FUZZ_ASSERT(m->payload == data + WIRE_HDR_LEN + strlen(m->agent_id));
	FUZZ_ASSERT(m->payload + m->payload_len + mac_len == data + size);
	FUZZ_ASSERT(!mac_len ||
		    (m->mac == data + size - WIRE_MAC_LEN && m->mac_covers == size - WIRE_MAC_LEN));
	/* At most one codec, and a compressed payload is smaller than what it decompresses to. */
	FUZZ_ASSERT(!((m->flags & WIRE_F_CODECS) & ((m->flags & WIRE_F_CODECS) - 1)));
	FUZZ_ASSERT(!(m->flags & WIRE_F_CODECS) || m->payload_len < m->raw_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg m, whole;
	const uint8_t *raw;
	char reason[256], reason2[256];
	int ret;

	ret = wire_decode_header(data, size, &m, reason, sizeof(reason));
	if (ret) {
		check_refusal(ret, reason);
		FUZZ_ASSERT(!m.payload && !m.raw && !m.owned);
		/* wire_decode refuses it the same way (cheap: the header alone). */
		FUZZ_ASSERT(wire_decode(data, size, &whole, reason2, sizeof(reason2)) == ret);
		FUZZ_ASSERT(!strcmp(reason, reason2));
		return 0;
	}
	check_header(&m, data, size);
	ret = wire_decode_payload(&m, reason, sizeof(reason));
	if (ret) {
		check_refusal(ret, reason);
		/* Left as the header made it: nothing to use, nothing to free. */
		check_header(&m, data, size);
		wire_msg_release(&m);
		return 0;
	}
	FUZZ_ASSERT(m.raw);
	FUZZ_ASSERT(m.raw == ((m.flags & WIRE_F_CODECS) ? m.owned : m.payload));
	/* A second call finds it decoded and changes nothing. */
	raw = m.raw;
	FUZZ_ASSERT(wire_decode_payload(&m, reason, sizeof(reason)) == 0 && m.raw == raw);
	if (m.kind == WIRE_KIND_BATCH)
		check_batch(&m);
	else
		check_final(&m);
	wire_msg_release(&m);
	return 0;
}

#ifdef EDGECAP_FUZZ_MUTATOR
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* The payload of a compressed message, decompressed into raw (cap bytes): its length, or -1. */
static long decompress_any(uint8_t flags, const uint8_t *in, size_t n, uint8_t *raw, size_t cap)
{
	uLongf out_len = cap;
	size_t r;
	int lz;

	if (flags & WIRE_F_DEFLATE)
		return uncompress(raw, &out_len, in, n) == Z_OK ? (long)out_len : -1;
	if (flags & WIRE_F_ZSTD) {
		r = ZSTD_decompress(raw, cap, in, n);
		return ZSTD_isError(r) ? -1 : (long)r;
	}
	lz = LZ4_decompress_safe((const char *)in, (char *)raw, (int)n, (int)cap);
	return lz < 0 ? -1 : lz;
}

/* raw compressed with the codec of flag into z (cap bytes): its length, or 0. */
static size_t compress_any(uint8_t flag, const uint8_t *raw, size_t n, uint8_t *z, size_t cap,
			   int level)
{
	uLongf z_len = cap;
	size_t r;
	int lz;

	if (flag == WIRE_F_DEFLATE)
		return compress2(z, &z_len, raw, n, level % 10) == Z_OK ? z_len : 0;
	if (flag == WIRE_F_ZSTD) {
		r = ZSTD_compress(z, cap, raw, n, level % 4 - 1);
		return ZSTD_isError(r) ? 0 : r;
	}
	lz = LZ4_compress_default((const char *)raw, (char *)z, (int)n, (int)cap);
	return lz > 0 ? (size_t)lz : 0;
}

/*
 * Half the time a plain byte mutation. Otherwise, for a message whose header is sound and whose
 * compressed payload decompresses: mutate the decompressed bytes, compress them again (with
 * another codec now and then), and write the flags, the new payload length and (now and then
 * off by a little) raw length into the header.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static const uint8_t flags[] = { WIRE_F_DEFLATE, WIRE_F_ZSTD, WIRE_F_LZ4 };
	static uint8_t raw[1 << 16], z[1 << 17];
	size_t hdr, raw_len, z_len;
	uint8_t flag;
	long out_len;

	if (seed % 2 || size < WIRE_HDR_LEN || !(data[7] & WIRE_F_CODECS))
		return LLVMFuzzerMutate(data, size, max_size);
	hdr = WIRE_HDR_LEN + data[44];
	if (hdr > size)
		return LLVMFuzzerMutate(data, size, max_size);
	out_len = decompress_any(data[7], data + hdr, size - hdr, raw, sizeof(raw));
	if (out_len < 0)
		return LLVMFuzzerMutate(data, size, max_size);
	raw_len = LLVMFuzzerMutate(raw, (size_t)out_len, sizeof(raw));
	flag = seed % 16 == 5 ? flags[(seed >> 4) % 3] : (uint8_t)(data[7] & WIRE_F_CODECS);
	z_len = compress_any(flag, raw, raw_len, z, sizeof(z), (int)(seed >> 1));
	if (!z_len || hdr + z_len > max_size)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data + hdr, z, z_len);
	data[7] = (uint8_t)((data[7] & ~WIRE_F_CODECS) | flag);
	put32(data + 36, (uint32_t)z_len);
	put32(data + 40, (uint32_t)raw_len + (seed % 16 == 0 ? (seed >> 4) % 3 - 1 : 0));
	/* A mutated count now and then, or the record checks see only the original one. */
	if (seed % 8 == 2)
		put32(data + 32, get32(data + 32) + (seed >> 3) % 3 - 1);
	return hdr + z_len;
}
#endif
