// SPDX-License-Identifier: BSD-2-Clause
/*
 * wire.c: the data-plane codec (wire.h, docs/protocol.md). Every multi-byte field is big endian
 * (network order) and is read and written a byte at a time, so nothing depends on the host's
 * byte order or on the alignment of a received buffer.
 *
 * Payloads are zlib streams (RFC 1950) made and read with libdeflate, or since 1.2 one zstd
 * frame (libzstd) or one LZ4 block (liblz4). All three work on whole buffers here: a batch is
 * built whole before it is compressed, and a payload is decompressed into a buffer of exactly
 * its raw length, which none of them writes past. That buffer is the decompression cap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <lz4.h>
#include <zstd.h>

#include "decode.h"
#include "wire.h"

/*
 * Protocol 1.0's final message carries exactly these 13 counters before start_ns and stop_ns. A
 * counter added to the table must go after stop_ns in a new minor version (docs/protocol.md),
 * with the decoder still taking 1.0's 15 values.
 */
_Static_assert(EC_N_CAPTURE_COUNTERS + 2 == WIRE_FINAL_VALUES, "final message layout");

/* Header offsets (docs/protocol.md, "Header"). */
#define OFF_MAGIC	0
#define OFF_MAJOR	4
#define OFF_MINOR	5
#define OFF_KIND	6
#define OFF_FLAGS	7
#define OFF_CAPTURE_ID	8
#define OFF_SEQ		24
#define OFF_COUNT	32
#define OFF_PAYLOAD_LEN 36
#define OFF_RAW_LEN	40
#define OFF_AGENT_LEN	44
/* 45..47 reserved: sent as zero, ignored on receipt. */

/* Final payload: a fixed part, the u64 values, then the error text. */
#define FINAL_FIXED_LEN 8

struct wire_batch {
	uint8_t capture_id[WIRE_CAPTURE_ID_LEN];
	char agent_id[WIRE_AGENT_ID_MAX + 1];
	size_t agent_len;
	size_t max_raw;
	uint8_t *buf; /* the raw payload being built */
	size_t len, cap;
	/*
	 * Where a batch is compressed, kept from batch to batch (out_cap bytes, half the largest
	 * batch so far: a result is kept only if it is at most half the raw length). The message
	 * is then allocated at its final size, so that a batch costs no allocation of its raw size
	 * (which glibc would mmap, and a shrinking realloc mremap, and free munmap, every batch).
	 */
	uint8_t *out;
	size_t out_cap;
	uint32_t count;
	uint64_t seq; /* of the last batch finished */
	/* One compressor per codec used, for the builder's life, not one per batch. */
	enum wire_codec codec;
	struct libdeflate_compressor *zc;
	ZSTD_CCtx *zstd;
	void *lz4; /* LZ4_sizeofState() bytes, reused by LZ4_compress_fast_extState */
	/*
	 * The compression rule's memory (batch_deflate): whether the last batch tried deflated
	 * well, so that the next one is deflated without a probe; after one that did not, how many
	 * batches go stored without any attempt, and that number for the next failure.
	 */
	bool deflates_well;
	unsigned int skip, backoff;
};

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* A decode failure's reason, passing its errno through: decode.h's one writer. */
#define fail(...) decode_fail(__VA_ARGS__)

int wire_capture_id_parse(const char *hex, uint8_t id[WIRE_CAPTURE_ID_LEN])
{
	uint8_t tmp[WIRE_CAPTURE_ID_LEN];
	int i;

	if (!hex || strnlen(hex, 2 * WIRE_CAPTURE_ID_LEN + 1) != 2 * WIRE_CAPTURE_ID_LEN)
		return -EINVAL;
	for (i = 0; i < 2 * WIRE_CAPTURE_ID_LEN; i++) {
		char c = hex[i];
		int v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -EINVAL;
		if (i % 2)
			tmp[i / 2] |= v;
		else
			tmp[i / 2] = v << 4;
	}
	memcpy(id, tmp, sizeof(tmp));
	return 0;
}

void wire_capture_id_format(const uint8_t id[WIRE_CAPTURE_ID_LEN],
			    char hex[WIRE_CAPTURE_ID_HEX_LEN])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < WIRE_CAPTURE_ID_LEN; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 0xf];
	}
	hex[2 * WIRE_CAPTURE_ID_LEN] = '\0';
}

bool wire_agent_id_valid(const char *s, size_t len)
{
	size_t i;

	if (!s || len < 1 || len > WIRE_AGENT_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	}
	return true;
}

void wire_counters_from_kernel(struct wire_counters *c, const struct ec_slot_counters *k)
{
#define FROM_KERNEL(name, help) c->name = k->name;
	EC_KERNEL_COUNTERS(FROM_KERNEL)
#undef FROM_KERNEL
}

static const char *const stop_reason_names[] = {
	[WIRE_STOP_TIME_LIMIT] = "time_limit", [WIRE_STOP_PACKET_LIMIT] = "packet_limit",
	[WIRE_STOP_BYTE_LIMIT] = "byte_limit", [WIRE_STOP_STOPPED] = "stopped",
	[WIRE_STOP_ERROR] = "error",
};

static bool stop_reason_known(unsigned int r)
{
	return r >= WIRE_STOP_TIME_LIMIT && r <= WIRE_STOP_ERROR;
}

const char *wire_stop_reason_name(enum wire_stop_reason r)
{
	return stop_reason_known(r) ? stop_reason_names[r] : "unknown";
}

int wire_stop_reason_parse(const char *name, enum wire_stop_reason *out)
{
	unsigned int r;

	for (r = WIRE_STOP_TIME_LIMIT; name && r <= WIRE_STOP_ERROR; r++) {
		if (!strcmp(name, stop_reason_names[r])) {
			*out = r;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const codec_names[WIRE_N_CODECS] = {
	[WIRE_CODEC_DEFLATE] = "deflate",
	[WIRE_CODEC_ZSTD] = "zstd",
	[WIRE_CODEC_LZ4] = "lz4",
};

static const uint8_t codec_flags[WIRE_N_CODECS] = {
	[WIRE_CODEC_DEFLATE] = WIRE_F_DEFLATE,
	[WIRE_CODEC_ZSTD] = WIRE_F_ZSTD,
	[WIRE_CODEC_LZ4] = WIRE_F_LZ4,
};

/*
 * B4b, docs/performance.md: zstd level 1 compresses about 5 times faster than libdeflate level 1
 * and to half its bytes; LZ4 compresses a little faster still but to 3 times zstd's bytes, which
 * the send path (NNG, the network, the aggregator) then pays for: ring to wire, zstd and LZ4
 * cost the same. So zstd, then LZ4, then deflate.
 */
const enum wire_codec wire_codec_preference[WIRE_N_CODECS] = {
	WIRE_CODEC_ZSTD,
	WIRE_CODEC_LZ4,
	WIRE_CODEC_DEFLATE,
};

const char *wire_codec_name(enum wire_codec c)
{
	return (unsigned int)c < WIRE_N_CODECS ? codec_names[c] : "unknown";
}

int wire_codec_parse(const char *name, enum wire_codec *out)
{
	unsigned int c;

	for (c = 0; name && c < WIRE_N_CODECS; c++) {
		if (!strcmp(name, codec_names[c])) {
			*out = c;
			return 0;
		}
	}
	return -EINVAL;
}

uint8_t wire_codec_flag(enum wire_codec c)
{
	return (unsigned int)c < WIRE_N_CODECS ? codec_flags[c] : 0;
}

enum wire_codec wire_codec_choose(int want, unsigned int peer)
{
	unsigned int i;

	if (want >= 0)
		return want < WIRE_N_CODECS && (peer & WIRE_CODEC_BIT(want)) ? want
									     : WIRE_CODEC_DEFLATE;
	for (i = 0; i < WIRE_N_CODECS; i++) {
		if (peer & WIRE_CODEC_BIT(wire_codec_preference[i]))
			return wire_codec_preference[i];
	}
	return WIRE_CODEC_DEFLATE;
}

/* Writes the fixed header and the agent id; returns where the payload starts. */
static uint8_t *put_header(uint8_t *p, enum wire_kind kind, uint8_t flags,
			   const uint8_t capture_id[WIRE_CAPTURE_ID_LEN], const char *agent_id,
			   size_t agent_len, uint64_t seq, uint32_t count, uint32_t payload_len,
			   uint32_t raw_len)
{
	memset(p, 0, WIRE_HDR_LEN);
	memcpy(p + OFF_MAGIC, WIRE_MAGIC, 4);
	p[OFF_MAJOR] = WIRE_VERSION_MAJOR;
	p[OFF_MINOR] = WIRE_VERSION_MINOR;
	p[OFF_KIND] = kind;
	p[OFF_FLAGS] = flags;
	memcpy(p + OFF_CAPTURE_ID, capture_id, WIRE_CAPTURE_ID_LEN);
	put_be64(p + OFF_SEQ, seq);
	put_be32(p + OFF_COUNT, count);
	put_be32(p + OFF_PAYLOAD_LEN, payload_len);
	put_be32(p + OFF_RAW_LEN, raw_len);
	p[OFF_AGENT_LEN] = (uint8_t)agent_len;
	memcpy(p + WIRE_HDR_LEN, agent_id, agent_len);
	return p + WIRE_HDR_LEN + agent_len;
}

int wire_batch_new(const uint8_t capture_id[WIRE_CAPTURE_ID_LEN], const char *agent_id,
		   size_t max_raw, struct wire_batch **out)
{
	struct wire_batch *b;
	size_t agent_len = agent_id ? strnlen(agent_id, WIRE_AGENT_ID_MAX + 1) : 0;

	if (!capture_id || !wire_agent_id_valid(agent_id, agent_len))
		return -EINVAL;
	if (!max_raw)
		max_raw = WIRE_BATCH_RAW_DEFAULT;
	if (max_raw < WIRE_RECORD_HDR_LEN || max_raw > WIRE_RAW_MAX)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	memcpy(b->capture_id, capture_id, WIRE_CAPTURE_ID_LEN);
	memcpy(b->agent_id, agent_id, agent_len);
	b->agent_len = agent_len;
	b->max_raw = max_raw;
	b->zc = libdeflate_alloc_compressor(WIRE_DEFLATE_LEVEL);
	if (!b->zc) {
		free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void wire_batch_free(struct wire_batch *b)
{
	if (!b)
		return;
	libdeflate_free_compressor(b->zc);
	ZSTD_freeCCtx(b->zstd);
	free(b->lz4);
	free(b->out);
	free(b->buf);
	free(b);
}

int wire_batch_add(struct wire_batch *b, const struct wire_record *rec)
{
	size_t need;
	uint8_t *p;

	if (rec->cap_len > WIRE_CAPLEN_MAX || rec->orig_len < rec->cap_len ||
	    (rec->cap_len && !rec->data))
		return -EINVAL;
	need = WIRE_RECORD_HDR_LEN + rec->cap_len;
	/* An empty batch takes any record: one record is far below WIRE_RAW_MAX. */
	if (b->count && b->len + need > b->max_raw)
		return -ENOSPC;
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + need)
			cap *= 2;
		p = realloc(b->buf, cap);
		if (!p)
			return -ENOMEM;
		b->buf = p;
		b->cap = cap;
	}
	p = b->buf + b->len;
	put_be64(p, rec->tstamp_ns);
	put_be32(p + 8, rec->ifindex);
	put_be32(p + 12, rec->rx_queue);
	put_be32(p + 16, rec->orig_len);
	put_be32(p + 20, rec->cap_len);
	p[24] = rec->hook;
	p[25] = p[26] = p[27] = 0;
	if (rec->cap_len)
		memcpy(p + WIRE_RECORD_HDR_LEN, rec->data, rec->cap_len);
	b->len += need;
	b->count++;
	return 0;
}

/* The getters read a builder that may not exist yet (NULL) as an empty one. */
uint32_t wire_batch_count(const struct wire_batch *b)
{
	return b ? b->count : 0;
}

size_t wire_batch_raw_len(const struct wire_batch *b)
{
	return b ? b->len : 0;
}

uint64_t wire_batch_last_seq(const struct wire_batch *b)
{
	return b ? b->seq : 0;
}

int wire_batch_set_codec(struct wire_batch *b, enum wire_codec c)
{
	if ((unsigned int)c >= WIRE_N_CODECS)
		return -EINVAL;
	if (c == WIRE_CODEC_ZSTD && !b->zstd) {
		b->zstd = ZSTD_createCCtx();
		if (!b->zstd || ZSTD_isError(ZSTD_CCtx_setParameter(
					b->zstd, ZSTD_c_compressionLevel, WIRE_ZSTD_LEVEL))) {
			ZSTD_freeCCtx(b->zstd);
			b->zstd = NULL;
			return -ENOMEM;
		}
		/* The frame carries its content size: the receiver checks it before allocating. */
		ZSTD_CCtx_setParameter(b->zstd, ZSTD_c_contentSizeFlag, 1);
		ZSTD_CCtx_setParameter(b->zstd, ZSTD_c_checksumFlag, 0);
	}
	if (c == WIRE_CODEC_LZ4 && !b->lz4) {
		b->lz4 = malloc((size_t)LZ4_sizeofState());
		if (!b->lz4)
			return -ENOMEM;
	}
	if (c != b->codec) {
		/* What the last codec learnt about the traffic says nothing about this one. */
		b->deflates_well = false;
		b->skip = b->backoff = 0;
	}
	b->codec = c;
	return 0;
}

/*
 * Compresses n bytes of src into dst with the builder's codec; the length, or 0 when the result
 * does not fit in cap bytes (or the codec failed): send it stored.
 */
static size_t compress_with(struct wire_batch *b, const uint8_t *src, size_t n, uint8_t *dst,
			    size_t cap)
{
	size_t r;
	int lz;

	switch (b->codec) {
	case WIRE_CODEC_ZSTD:
		r = ZSTD_compress2(b->zstd, dst, cap, src, n);
		return ZSTD_isError(r) ? 0 : r;
	case WIRE_CODEC_LZ4:
		/* n is at most WIRE_RAW_MAX, far below LZ4_MAX_INPUT_SIZE. */
		lz = LZ4_compress_fast_extState(b->lz4, (const char *)src, (char *)dst, (int)n,
						(int)cap, WIRE_LZ4_ACCELERATION);
		return lz > 0 ? (size_t)lz : 0;
	case WIRE_CODEC_DEFLATE:
	default:
		return libdeflate_zlib_compress(b->zc, src, n, dst, cap);
	}
}

/* A batch that does not deflate well: store it and the next few without trying. */
static size_t deflates_poorly(struct wire_batch *b)
{
	b->deflates_well = false;
	b->backoff = b->backoff ? b->backoff * 2 : 1;
	if (b->backoff > WIRE_DEFLATE_BACKOFF_MAX)
		b->backoff = WIRE_DEFLATE_BACKOFF_MAX;
	b->skip = b->backoff;
	return 0;
}

/*
 * The compression rule (wire.h, docs/protocol.md 4.3): deflates the batch into dst (room for
 * b->len / 2 bytes) and returns the stream's length if it is at most half the raw length, else 0:
 * send it stored. Deflating incompressible records costs far more CPU (about 1 us a record at
 * 188 bytes) than the bytes it saves are worth, here and in the aggregator's inflate, so a batch
 * is deflated in full only when the previous one deflated well or when its first
 * WIRE_DEFLATE_PROBE bytes do; a batch that fails either test makes the next ones go stored
 * without a try, more of them each time it happens again in a row.
 */
static size_t batch_deflate(struct wire_batch *b, uint8_t *dst)
{
	size_t n;

	if (b->skip) {
		b->skip--;
		return 0;
	}
	/*
	 * libdeflate compresses its whole input even when the output does not fit, so a probe of
	 * the first bytes is what keeps a poor batch cheap. Output room of half the input makes
	 * "does not fit" mean "does not deflate well".
	 */
	if (!b->deflates_well && b->len > WIRE_DEFLATE_PROBE &&
	    !compress_with(b, b->buf, WIRE_DEFLATE_PROBE, dst, WIRE_DEFLATE_PROBE / 2))
		return deflates_poorly(b);
	n = compress_with(b, b->buf, b->len, dst, b->len / 2);
	if (!n)
		return deflates_poorly(b);
	b->deflates_well = true;
	b->backoff = 0;
	return n;
}

int wire_batch_finish(struct wire_batch *b, void **msg, size_t *len)
{
	size_t hdr = WIRE_HDR_LEN + b->agent_len, payload_len;
	const uint8_t *payload;
	uint8_t *m, flags = 0;

	if (!b->count)
		return -ENODATA;
	if (b->out_cap < b->len / 2) {
		/* Room for the largest result kept; one growth per larger batch, then reused. */
		size_t cap = b->len / 2;

		m = realloc(b->out, cap);
		if (!m)
			return -ENOMEM;
		b->out = m;
		b->out_cap = cap;
	}
	payload_len = batch_deflate(b, b->out);
	if (payload_len) {
		flags = codec_flags[b->codec];
		payload = b->out;
	} else {
		payload_len = b->len;
		payload = b->buf;
	}
	/*
	 * The MAC trailer's room comes with the message, unused until wire_mac_frame grows the
	 * message into it: a realloc within its own block, no copy.
	 */
	m = malloc(hdr + payload_len + WIRE_MAC_LEN);
	if (!m)
		return -ENOMEM;
	b->seq++;
	put_header(m, WIRE_KIND_BATCH, flags, b->capture_id, b->agent_id, b->agent_len, b->seq,
		   b->count, (uint32_t)payload_len, (uint32_t)b->len);
	memcpy(m + hdr, payload, payload_len);
	*msg = m;
	*len = hdr + payload_len;
	b->len = 0;
	b->count = 0;
	return 0;
}

int wire_final_encode(const uint8_t capture_id[WIRE_CAPTURE_ID_LEN], const char *agent_id,
		      const struct wire_final *f, void **msg, size_t *len)
{
	size_t agent_len = agent_id ? strnlen(agent_id, WIRE_AGENT_ID_MAX + 1) : 0;
	const char *error = f->error;
#define FINAL_VALUE(name, help) f->c.name,
	uint64_t values[WIRE_FINAL_VALUES] = { EC_CAPTURE_COUNTERS(FINAL_VALUE) f->start_ns,
					       f->stop_ns };
#undef FINAL_VALUE
	size_t error_len, raw_len, i;
	uint8_t *m, *p;

	if (!capture_id || !wire_agent_id_valid(agent_id, agent_len) ||
	    !stop_reason_known(f->reason))
		return -EINVAL;
	/* The header's sequence number is last_seq + 1, so last_seq must leave room for it. */
	if (f->c.last_seq == UINT64_MAX)
		return -EINVAL;
	error_len = strnlen(error, sizeof(f->error));
	if (f->reason != WIRE_STOP_ERROR && error_len)
		return -EINVAL;
	if (f->reason == WIRE_STOP_ERROR && !error_len)
		error = "unspecified error";
	error_len = strnlen(error, WIRE_ERROR_MAX);
	raw_len = FINAL_FIXED_LEN + 8 * WIRE_FINAL_VALUES + error_len;
	m = malloc(WIRE_HDR_LEN + agent_len + raw_len);
	if (!m)
		return -ENOMEM;
	/* Small and mostly distinct counters: never worth deflating. */
	p = put_header(m, WIRE_KIND_FINAL, 0, capture_id, agent_id, agent_len, f->c.last_seq + 1, 0,
		       (uint32_t)raw_len, (uint32_t)raw_len);
	p[0] = (uint8_t)f->reason;
	p[1] = 0;
	put_be16(p + 2, (uint16_t)error_len);
	put_be16(p + 4, WIRE_FINAL_VALUES);
	put_be16(p + 6, 0);
	p += FINAL_FIXED_LEN;
	for (i = 0; i < WIRE_FINAL_VALUES; i++, p += 8)
		put_be64(p, values[i]);
	for (i = 0; i < error_len; i++)
		p[i] = error[i] >= 0x20 && error[i] < 0x7f ? error[i] : '?';
	*msg = m;
	*len = WIRE_HDR_LEN + agent_len + raw_len;
	return 0;
}

/*
 * One decompressor per thread, made by the thread's first deflated message and kept for the next
 * ones (libdeflate's is not safe to share between threads); freed when the thread exits.
 */
static pthread_once_t inflater_once = PTHREAD_ONCE_INIT;
static pthread_key_t inflater_key;
static bool inflater_key_made;
static __thread struct libdeflate_decompressor *inflater;

static void inflater_free(void *d)
{
	libdeflate_free_decompressor(d);
	inflater = NULL;
}

static void inflater_key_make(void)
{
	inflater_key_made = !pthread_key_create(&inflater_key, inflater_free);
}

static struct libdeflate_decompressor *thread_inflater(void)
{
	if (inflater)
		return inflater;
	pthread_once(&inflater_once, inflater_key_make);
	if (!inflater_key_made)
		return NULL;
	inflater = libdeflate_alloc_decompressor();
	if (inflater && pthread_setspecific(inflater_key, inflater)) {
		libdeflate_free_decompressor(inflater);
		inflater = NULL;
	}
	return inflater;
}

/*
 * Inflates exactly raw_len bytes into a buffer of that size, which libdeflate never writes past
 * (the zlib-bomb cap); the stream must end there, check out (Adler-32) and use all its input.
 */
static int inflate_payload(const uint8_t *in, uint32_t in_len, uint32_t raw_len, uint8_t **out,
			   char *reason, size_t reasonlen)
{
	struct libdeflate_decompressor *d = thread_inflater();
	size_t in_used = 0, out_len = 0;
	enum libdeflate_result res;
	uint8_t *buf;
	int ret;

	if (!d)
		return fail(-ENOMEM, reason, reasonlen, "no memory for a decompressor");
	buf = malloc(raw_len);
	if (!buf)
		return fail(-ENOMEM, reason, reasonlen, "no memory for %u inflated bytes", raw_len);
	res = libdeflate_zlib_decompress_ex(d, in, in_len, buf, raw_len, &in_used, &out_len);
	if (res == LIBDEFLATE_SUCCESS && out_len != raw_len)
		ret = fail(-EPROTO, reason, reasonlen,
			   "payload inflates to %zu bytes, raw length says %u", out_len, raw_len);
	else if (res == LIBDEFLATE_SUCCESS && in_used != in_len)
		ret = fail(-EPROTO, reason, reasonlen, "%zu bytes after the end of the zlib stream",
			   in_len - in_used);
	else if (res == LIBDEFLATE_SUCCESS)
		ret = 0;
	else if (res == LIBDEFLATE_INSUFFICIENT_SPACE)
		/* The output is full and the stream wants more: a lie or a bomb; stop here. */
		ret = fail(-EPROTO, reason, reasonlen,
			   "payload inflates past its raw length of %u bytes", raw_len);
	else
		ret = fail(-EPROTO, reason, reasonlen,
			   "corrupt or truncated zlib stream (libdeflate result %d)", (int)res);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

/* The zstd decompressor of this thread, kept as the inflater is (thread_inflater). */
static pthread_once_t unzstd_once = PTHREAD_ONCE_INIT;
static pthread_key_t unzstd_key;
static bool unzstd_key_made;
static __thread ZSTD_DCtx *unzstd;

static void unzstd_free(void *d)
{
	ZSTD_freeDCtx(d);
	unzstd = NULL;
}

static void unzstd_key_make(void)
{
	unzstd_key_made = !pthread_key_create(&unzstd_key, unzstd_free);
}

static ZSTD_DCtx *thread_unzstd(void)
{
	if (unzstd)
		return unzstd;
	pthread_once(&unzstd_once, unzstd_key_make);
	if (!unzstd_key_made)
		return NULL;
	unzstd = ZSTD_createDCtx();
	if (unzstd && pthread_setspecific(unzstd_key, unzstd)) {
		ZSTD_freeDCtx(unzstd);
		unzstd = NULL;
	}
	return unzstd;
}

/* The legacy (pre-1.0) zstd magic numbers: v0.1's to v0.7's, the range taken as one. */
#define ZSTD_LEGACY_MAGIC_FIRST 0xFD2FB51Eu
#define ZSTD_LEGACY_MAGIC_LAST	0xFD2FB527u

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What a frame with this magic number is ("zstd frame" for a standard one), or NULL. */
static const char *zstd_frame_kind(uint32_t magic)
{
	if (magic == ZSTD_MAGICNUMBER)
		return "zstd frame";
	if ((magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START)
		return "skippable zstd frame";
	if (magic >= ZSTD_LEGACY_MAGIC_FIRST && magic <= ZSTD_LEGACY_MAGIC_LAST)
		return "legacy (pre-1.0) zstd frame";
	return NULL;
}

/*
 * Exactly one standard zstd frame (magic ZSTD_MAGICNUMBER: no legacy format, which libzstd
 * would hand to its old decoders, no skippable frame, nothing after the frame): its header must
 * declare exactly raw_len bytes of content, checked before anything is allocated, and the frame
 * must end at the end of the payload. It is then decompressed into a buffer of raw_len bytes,
 * which zstd never writes past (the bomb cap), and must fill it exactly.
 */
static int unzstd_payload(const uint8_t *in, uint32_t in_len, uint32_t raw_len, uint8_t **out,
			  char *reason, size_t reasonlen)
{
	unsigned long long content;
	size_t frame, n, rest;
	const char *kind;
	uint32_t magic;
	ZSTD_DCtx *d;
	uint8_t *buf;

	if (in_len < 4)
		return fail(-EBADE, reason, reasonlen,
			    "payload of %u bytes is too short for a zstd frame", in_len);
	magic = get_le32(in);
	if (magic != ZSTD_MAGICNUMBER) {
		kind = zstd_frame_kind(magic);
		if (!kind)
			return fail(-EBADE, reason, reasonlen,
				    "payload is not a zstd frame (magic 0x%08x)", magic);
		return fail(-EBADE, reason, reasonlen,
			    "payload is a %s (magic 0x%08x), not one standard zstd frame", kind,
			    magic);
	}
	content = ZSTD_getFrameContentSize(in, in_len);
	if (content == ZSTD_CONTENTSIZE_ERROR)
		return fail(-EBADE, reason, reasonlen, "corrupt or truncated zstd frame header");
	if (content == ZSTD_CONTENTSIZE_UNKNOWN)
		return fail(-EBADE, reason, reasonlen,
			    "zstd frame does not declare its content size");
	if (content != raw_len)
		return fail(-EBADE, reason, reasonlen,
			    "zstd frame declares %llu bytes, raw length says %u", content, raw_len);
	frame = ZSTD_findFrameCompressedSize(in, in_len);
	if (ZSTD_isError(frame))
		return fail(-EBADE, reason, reasonlen, "corrupt or truncated zstd frame: %s",
			    ZSTD_getErrorName(frame));
	if (frame != in_len) {
		/* Only one frame: a second one of any kind is as wrong as any other bytes. */
		rest = (size_t)in_len - frame;
		kind = rest >= 4 ? zstd_frame_kind(get_le32(in + frame)) : NULL;
		if (kind)
			return fail(-EBADE, reason, reasonlen,
				    "%zu bytes after the end of the zstd frame: a %s", rest, kind);
		return fail(-EBADE, reason, reasonlen, "%zu bytes after the end of the zstd frame",
			    rest);
	}
	d = thread_unzstd();
	if (!d)
		return fail(-ENOMEM, reason, reasonlen, "no memory for a zstd decompressor");
	buf = malloc(raw_len);
	if (!buf)
		return fail(-ENOMEM, reason, reasonlen, "no memory for %u decompressed bytes",
			    raw_len);
	n = ZSTD_decompressDCtx(d, buf, raw_len, in, in_len);
	if (ZSTD_isError(n) || n != raw_len) {
		free(buf);
		if (ZSTD_isError(n))
			return fail(-EBADE, reason, reasonlen, "corrupt zstd frame: %s",
				    ZSTD_getErrorName(n));
		return fail(-EBADE, reason, reasonlen,
			    "zstd frame decompresses to %zu bytes, raw length says %u", n, raw_len);
	}
	*out = buf;
	return 0;
}

/*
 * One LZ4 block, decompressed with LZ4_decompress_safe into a buffer of raw_len bytes (which it
 * never writes past, nor reads past the payload); it must use all the payload and fill the
 * buffer exactly.
 */
static int unlz4_payload(const uint8_t *in, uint32_t in_len, uint32_t raw_len, uint8_t **out,
			 char *reason, size_t reasonlen)
{
	uint8_t *buf = malloc(raw_len);
	int n;

	if (!buf)
		return fail(-ENOMEM, reason, reasonlen, "no memory for %u decompressed bytes",
			    raw_len);
	/* Both lengths are at most WIRE_MSG_MAX, far below INT_MAX. */
	n = LZ4_decompress_safe((const char *)in, (char *)buf, (int)in_len, (int)raw_len);
	if (n != (int)raw_len) {
		free(buf);
		if (n < 0)
			return fail(-EBADE, reason, reasonlen,
				    "corrupt or truncated LZ4 block (or one longer than its raw "
				    "length of %u bytes)",
				    raw_len);
		return fail(-EBADE, reason, reasonlen,
			    "LZ4 block decompresses to %d bytes, raw length says %u", n, raw_len);
	}
	*out = buf;
	return 0;
}

void wire_iter_init(struct wire_iter *it, const struct wire_msg *m)
{
	it->p = m->raw;
	/* A message whose payload is not decoded (m->raw NULL) has no records to give. */
	it->left = m->kind == WIRE_KIND_BATCH && m->raw ? m->raw_len : 0;
	it->index = 0;
}

int wire_iter_next(struct wire_iter *it, struct wire_record *rec, char *reason, size_t reasonlen)
{
	const uint8_t *p = it->p;
	uint32_t cap_len, orig_len;

	if (!it->left)
		return -ENOENT;
	if (it->left < WIRE_RECORD_HDR_LEN)
		return fail(-EOVERFLOW, reason, reasonlen,
			    "record %u: header needs %d bytes, %zu left in the payload", it->index,
			    WIRE_RECORD_HDR_LEN, it->left);
	orig_len = get_be32(p + 16);
	cap_len = get_be32(p + 20);
	if (cap_len > WIRE_CAPLEN_MAX)
		return fail(-ERANGE, reason, reasonlen, "record %u: cap_len %u is over %d",
			    it->index, cap_len, WIRE_CAPLEN_MAX);
	if (orig_len < cap_len)
		return fail(-ERANGE, reason, reasonlen,
			    "record %u: cap_len %u is more than orig_len %u", it->index, cap_len,
			    orig_len);
	if (cap_len > it->left - WIRE_RECORD_HDR_LEN)
		return fail(-EOVERFLOW, reason, reasonlen,
			    "record %u: %u packet bytes, %zu left in the payload", it->index,
			    cap_len, it->left - WIRE_RECORD_HDR_LEN);
	rec->tstamp_ns = get_be64(p);
	rec->ifindex = get_be32(p + 8);
	rec->rx_queue = get_be32(p + 12);
	rec->orig_len = orig_len;
	rec->cap_len = cap_len;
	rec->hook = p[24];
	rec->data = p + WIRE_RECORD_HDR_LEN;
	it->p += WIRE_RECORD_HDR_LEN + cap_len;
	it->left -= WIRE_RECORD_HDR_LEN + cap_len;
	it->index++;
	return 0;
}

/* Every record of a batch, before anyone uses one: exactly count of them, filling the payload. */
static int check_batch(const struct wire_msg *m, char *reason, size_t reasonlen)
{
	struct wire_record rec;
	struct wire_iter it;
	uint32_t i;
	int ret;

	wire_iter_init(&it, m);
	for (i = 0; i < m->count; i++) {
		ret = wire_iter_next(&it, &rec, reason, reasonlen);
		if (ret == -ENOENT)
			return fail(-EMSGSIZE, reason, reasonlen,
				    "payload ends after %u of %u records", i, m->count);
		if (ret)
			return ret;
	}
	if (it.left)
		return fail(-EMSGSIZE, reason, reasonlen, "%zu bytes after the last of %u records",
			    it.left, m->count);
	return 0;
}

static int parse_final(struct wire_msg *m, char *reason, size_t reasonlen)
{
	const uint8_t *p = m->raw;
	uint64_t v[WIRE_FINAL_VALUES];
	struct wire_final *f = &m->final;
	unsigned int stop, error_len, n, i;

	if (m->raw_len < FINAL_FIXED_LEN + 8 * WIRE_FINAL_VALUES)
		return fail(-EMSGSIZE, reason, reasonlen, "final payload of %u bytes is too short",
			    m->raw_len);
	stop = p[0];
	error_len = get_be16(p + 2);
	n = get_be16(p + 4);
	if (n < WIRE_FINAL_VALUES)
		return fail(-ERANGE, reason, reasonlen, "final message has %u values, needs %d", n,
			    WIRE_FINAL_VALUES);
	if (m->raw_len != FINAL_FIXED_LEN + 8 * n + error_len)
		return fail(-EMSGSIZE, reason, reasonlen,
			    "final payload is %u bytes, its %u values and %u-byte error say %u",
			    m->raw_len, n, error_len, FINAL_FIXED_LEN + 8 * n + error_len);
	if (!stop_reason_known(stop))
		return fail(-ERANGE, reason, reasonlen, "unknown stop reason %u", stop);
	if (error_len > WIRE_ERROR_MAX)
		return fail(-ERANGE, reason, reasonlen, "error text of %u bytes is over %d",
			    error_len, WIRE_ERROR_MAX);
	if ((stop == WIRE_STOP_ERROR) != (error_len > 0))
		return fail(-ERANGE, reason, reasonlen, "stop reason %s with %s error text",
			    stop_reason_names[stop], error_len ? "an" : "no");
	/* Values past the ones this version knows come from a later minor version: skipped. */
	for (i = 0; i < WIRE_FINAL_VALUES; i++)
		v[i] = get_be64(p + FINAL_FIXED_LEN + 8 * i);
	p += FINAL_FIXED_LEN + 8 * n;
	for (i = 0; i < error_len; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return fail(-EILSEQ, reason, reasonlen,
				    "error text byte %u is not printable ASCII", i);
	}
	f->reason = stop;
	memcpy(f->error, p, error_len);
	f->error[error_len] = '\0';
	i = 0;
#define FINAL_VALUE(name, help) f->c.name = v[i++];
	EC_CAPTURE_COUNTERS(FINAL_VALUE)
#undef FINAL_VALUE
	f->start_ns = v[i++];
	f->stop_ns = v[i];
	if (f->c.last_seq == UINT64_MAX || m->seq != f->c.last_seq + 1)
		return fail(-ERANGE, reason, reasonlen,
			    "final sequence number %llu does not follow last_seq %llu",
			    (unsigned long long)m->seq, (unsigned long long)f->c.last_seq);
	return 0;
}

/* The header and lengths; on success *payload is where the payload (payload_len bytes) starts. */
static int decode_header(const uint8_t *b, size_t len, struct wire_msg *m, const uint8_t **payload,
			 char *reason, size_t reasonlen)
{
	size_t agent_len, body;
	uint64_t min_raw;
	uint8_t codec;

	/* Magic and major version first: a later major may change everything after byte 4. */
	if (len < 4)
		return fail(-ENODATA, reason, reasonlen, "truncated: %zu bytes, no magic", len);
	if (memcmp(b + OFF_MAGIC, WIRE_MAGIC, 4))
		return fail(-EBADMSG, reason, reasonlen, "bad magic %02x%02x%02x%02x", b[0], b[1],
			    b[2], b[3]);
	if (len > OFF_MAJOR && b[OFF_MAJOR] != WIRE_VERSION_MAJOR)
		return fail(-EPROTONOSUPPORT, reason, reasonlen,
			    "unsupported protocol version %u (this side speaks %d.x)", b[OFF_MAJOR],
			    WIRE_VERSION_MAJOR);
	if (len < WIRE_HDR_LEN)
		return fail(-ENODATA, reason, reasonlen, "truncated: %zu bytes, header needs %d",
			    len, WIRE_HDR_LEN);
	m->major = b[OFF_MAJOR];
	m->minor = b[OFF_MINOR];
	m->kind = b[OFF_KIND];
	m->flags = b[OFF_FLAGS];
	if (m->kind != WIRE_KIND_BATCH && m->kind != WIRE_KIND_FINAL)
		return fail(-EOPNOTSUPP, reason, reasonlen, "unknown message kind %u", b[OFF_KIND]);
	if (m->flags & ~(WIRE_F_CODECS | WIRE_F_MAC))
		return fail(-EOPNOTSUPP, reason, reasonlen, "unknown flags 0x%02x", m->flags);
	codec = m->flags & WIRE_F_CODECS;
	if (codec & (codec - 1))
		return fail(-EOPNOTSUPP, reason, reasonlen, "flags 0x%02x name more than one codec",
			    m->flags);
	memcpy(m->capture_id, b + OFF_CAPTURE_ID, WIRE_CAPTURE_ID_LEN);
	m->seq = get_be64(b + OFF_SEQ);
	m->count = get_be32(b + OFF_COUNT);
	m->payload_len = get_be32(b + OFF_PAYLOAD_LEN);
	m->raw_len = get_be32(b + OFF_RAW_LEN);

	agent_len = b[OFF_AGENT_LEN];
	if (agent_len < 1 || agent_len > WIRE_AGENT_ID_MAX)
		return fail(-EILSEQ, reason, reasonlen, "agent id length %zu is not 1..%d",
			    agent_len, WIRE_AGENT_ID_MAX);
	if (len - WIRE_HDR_LEN < agent_len)
		return fail(-ENODATA, reason, reasonlen, "truncated: %zu bytes, agent id needs %zu",
			    len, WIRE_HDR_LEN + agent_len);
	if (!wire_agent_id_valid((const char *)b + WIRE_HDR_LEN, agent_len))
		return fail(-EILSEQ, reason, reasonlen, "agent id is not printable ASCII");
	memcpy(m->agent_id, b + WIRE_HDR_LEN, agent_len);
	m->agent_id[agent_len] = '\0';

	if (m->raw_len > WIRE_RAW_MAX)
		return fail(-EFBIG, reason, reasonlen, "raw length %u is over the limit of %u",
			    m->raw_len, WIRE_RAW_MAX);
	body = len - WIRE_HDR_LEN - agent_len;
	/* The MAC trailer is not payload; whether it is right is the receiver's to check. */
	if (m->flags & WIRE_F_MAC) {
		if (body < WIRE_MAC_LEN)
			return fail(-ENODATA, reason, reasonlen,
				    "truncated: %zu bytes after the agent id, the MAC needs %d",
				    body, WIRE_MAC_LEN);
		body -= WIRE_MAC_LEN;
		m->mac = b + len - WIRE_MAC_LEN;
		m->mac_covers = len - WIRE_MAC_LEN;
	}
	if (body < m->payload_len)
		return fail(-ENODATA, reason, reasonlen,
			    "truncated: payload length says %u bytes, %zu follow the header",
			    m->payload_len, body);
	if (body > m->payload_len)
		return fail(-EMSGSIZE, reason, reasonlen,
			    "%zu bytes follow the header, payload length says %u", body,
			    m->payload_len);
	if (!codec && m->payload_len != m->raw_len)
		return fail(-EMSGSIZE, reason, reasonlen,
			    "stored payload of %u bytes, raw length says %u", m->payload_len,
			    m->raw_len);
	/* Compression is used only when it pays, so a compressed payload is always smaller. */
	if (codec && m->payload_len >= m->raw_len)
		return fail(-EMSGSIZE, reason, reasonlen,
			    "compressed payload of %u bytes is not smaller than its raw length %u",
			    m->payload_len, m->raw_len);

	/* What the kind says about the rest, checked before any inflating is done. */
	if (m->kind == WIRE_KIND_BATCH) {
		if (!m->count || !m->seq)
			return fail(-ERANGE, reason, reasonlen,
				    "batch with %u records and sequence number %llu", m->count,
				    (unsigned long long)m->seq);
		min_raw = (uint64_t)m->count * WIRE_RECORD_HDR_LEN;
	} else {
		if (m->count)
			return fail(-ERANGE, reason, reasonlen, "final message with %u records",
				    m->count);
		min_raw = FINAL_FIXED_LEN + 8 * WIRE_FINAL_VALUES;
	}
	if (m->raw_len < min_raw)
		return fail(-EMSGSIZE, reason, reasonlen,
			    "raw length %u is too short for its content (%llu at least)",
			    m->raw_len, (unsigned long long)min_raw);
	*payload = b + WIRE_HDR_LEN + agent_len;
	return 0;
}

int wire_decode_header(const void *buf, size_t len, struct wire_msg *out, char *reason,
		       size_t reasonlen)
{
	const uint8_t *payload = NULL;
	struct wire_msg m = { 0 };
	int ret;

	if (reason && reasonlen)
		reason[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!buf)
		return fail(-ENODATA, reason, reasonlen, "no message");
	ret = decode_header(buf, len, &m, &payload, reason, reasonlen);
	if (ret)
		return ret;
	m.payload = payload;
	*out = m;
	return 0;
}

int wire_decode_payload(struct wire_msg *m, char *reason, size_t reasonlen)
{
	int ret;

	if (reason && reasonlen)
		reason[0] = '\0';
	if (m->raw)
		return 0; /* decoded whole already */
	if (!m->payload)
		return fail(-ENODATA, reason, reasonlen, "no decoded header");
	if (m->flags & WIRE_F_CODECS) {
		if (m->flags & WIRE_F_DEFLATE)
			ret = inflate_payload(m->payload, m->payload_len, m->raw_len, &m->owned,
					      reason, reasonlen);
		else if (m->flags & WIRE_F_ZSTD)
			ret = unzstd_payload(m->payload, m->payload_len, m->raw_len, &m->owned,
					     reason, reasonlen);
		else
			ret = unlz4_payload(m->payload, m->payload_len, m->raw_len, &m->owned,
					    reason, reasonlen);
		if (ret)
			return ret;
		m->raw = m->owned;
	} else {
		m->raw = m->payload;
	}
	ret = m->kind == WIRE_KIND_BATCH ? check_batch(m, reason, reasonlen)
					 : parse_final(m, reason, reasonlen);
	if (ret) {
		/* Back to what wire_decode_header made: nothing of the payload is to be used. */
		free(m->owned);
		m->owned = NULL;
		m->raw = NULL;
		memset(&m->final, 0, sizeof(m->final));
	}
	return ret;
}

int wire_decode(const void *buf, size_t len, struct wire_msg *out, char *reason, size_t reasonlen)
{
	int ret = wire_decode_header(buf, len, out, reason, reasonlen);

	if (!ret)
		ret = wire_decode_payload(out, reason, reasonlen);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

int wire_mac_frame(void **msg, size_t *len)
{
	uint8_t *p;

	if (*len < WIRE_HDR_LEN)
		return -EINVAL;
	p = realloc(*msg, *len + WIRE_MAC_LEN);
	if (!p)
		return -ENOMEM;
	p[OFF_FLAGS] |= WIRE_F_MAC;
	memset(p + *len, 0, WIRE_MAC_LEN);
	*msg = p;
	*len += WIRE_MAC_LEN;
	return 0;
}

void wire_msg_release(struct wire_msg *m)
{
	if (!m)
		return;
	free(m->owned);
	m->owned = NULL;
	m->raw = NULL;
	m->raw_len = 0;
}

const char *wire_error_name(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -ENODATA:
		return "truncated";
	case -EBADMSG:
		return "bad_magic";
	case -EPROTONOSUPPORT:
		return "bad_version";
	case -EOPNOTSUPP:
		return "unsupported";
	case -EILSEQ:
		return "bad_text";
	case -EMSGSIZE:
		return "bad_length";
	case -EFBIG:
		return "too_big";
	case -EPROTO:
		return "bad_zlib";
	case -EBADE:
		return "bad_compressed";
	case -EOVERFLOW:
		return "record_overrun";
	case -ERANGE:
		return "out_of_range";
	case -ENOMEM:
		return "no_memory";
	}
	return "other";
}
