/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * wire.h: the data plane between agent and aggregator (docs/protocol.md, "Data messages").
 *
 * An agent sends, per capture, numbered batches of packet records and then one final message
 * with the stop reason and every counter, over SP PUSH to the aggregator's PULL. Every
 * message is a 48-byte header in network byte order, the agent id, then the payload; a batch
 * payload is compressed with the builder's codec (deflate as a zlib stream made with libdeflate;
 * since 1.2 also one zstd frame or one LZ4 block, as the aggregator's surveys allow) when that
 * makes it at most half its size, and stored otherwise (the rule at WIRE_DEFLATE_LEVEL).
 *
 * Contract of the decoder: the input is untrusted. Decoding is two steps, so that a receiver can
 * authenticate a message before it spends anything on its payload: wire_decode_header checks the
 * header and every length, the agent id and where the MAC trailer is, and locates the payload
 * without decompressing it (cheap: no allocation, no decompressor); wire_decode_payload then
 * decompresses it, never past WIRE_RAW_MAX or the declared raw length, and validates every
 * record of a batch (or the final message's content). wire_decode is both steps in one. A
 * message either decodes whole or is refused whole: after the header alone, only the header's
 * fields, agent_id, payload and the MAC fields may be used (to authenticate the message, which
 * covers the payload as it came); raw, the records and final only after wire_decode_payload. A
 * refusal is a distinct negative errno (wire_error_name gives its counter name) and a one-line
 * reason; the caller counts the drop and never uses any part of the message. Each thread that
 * decodes keeps one decompressor per codec it met (libdeflate's about 12 KiB, zstd's about 100 KiB)
 * from its first compressed message until it exits. A compressed payload is decompressed into a
 * buffer of exactly its declared raw length (at most WIRE_RAW_MAX), which no codec writes past:
 * that buffer is the bomb cap.
 *
 * Functions return 0 or a negative errno. Free functions accept NULL.
 */
#ifndef EDGECAP_WIRE_H
#define EDGECAP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture_abi.h"
#include "counters.h"

#define WIRE_MAGIC	   "ECAP"
#define WIRE_VERSION_MAJOR 1
#define WIRE_VERSION_MINOR 2

/* Fixed header, then agent id, then payload (docs/protocol.md has the byte offsets). */
#define WIRE_HDR_LEN	  48
#define WIRE_AGENT_ID_MAX 63
/* One record's header in a batch payload; cap_len packet bytes follow it. */
#define WIRE_RECORD_HDR_LEN 28
#define WIRE_CAPLEN_MAX	    65535
/* Largest raw (decompressed) payload a receiver accepts: the decompression cap, every codec. */
#define WIRE_RAW_MAX (4u << 20)
/* Largest whole message: what the aggregator sets NNG_OPT_RECVMAXSZ to. */
/* The HMAC-SHA256 trailer of a message with WIRE_F_MAC (since 1.1). */
#define WIRE_MAC_LEN 32
#define WIRE_MSG_MAX (WIRE_HDR_LEN + WIRE_AGENT_ID_MAX + WIRE_RAW_MAX + WIRE_MAC_LEN)
/*
 * The builder's default bound on a batch's raw payload. A compressed message costs the send path
 * (NNG's threads) about the same whatever its size, so the bound sets that cost per record: in
 * B4b, compressible records, about 55 ns at 256 KiB and 26-42 at 1 MiB (docs/performance.md). A
 * stored batch of 1 MiB can still wait in an aggregator's room as its id's first message
 * (docs/protocol.md 7.3).
 */
#define WIRE_BATCH_RAW_DEFAULT (1024u << 10)
/*
 * The batch builder's compression rule (docs/protocol.md 4.3), the same for every codec. A batch
 * goes compressed (deflate at this libdeflate level) only when the result is at most half its
 * raw length; otherwise stored. A whole batch is compressed only when the builder's previous
 * batch compressed that well or when its first WIRE_DEFLATE_PROBE bytes do (batches no longer
 * than that are tried whole). After a batch that does not, the next 1, 2, 4, ... (at most
 * WIRE_DEFLATE_BACKOFF_MAX) batches go stored without a try, the number doubling with each such
 * batch in a row.
 */
#define WIRE_DEFLATE_LEVEL 1
/* The other codecs' levels (1.2): zstd's fastest positive level; LZ4's acceleration. */
#define WIRE_ZSTD_LEVEL		 1
#define WIRE_LZ4_ACCELERATION	 1
#define WIRE_DEFLATE_PROBE	 (8u << 10)
#define WIRE_DEFLATE_BACKOFF_MAX 8
/* Longest error text of a final message. */
#define WIRE_ERROR_MAX 255
/*
 * u64 values of a final message in this version: the counters of EC_CAPTURE_COUNTERS, then
 * start_ns and stop_ns. Later minors may append more after stop_ns.
 */
#define WIRE_FINAL_VALUES 15

#define WIRE_CAPTURE_ID_LEN 16
/* Text form: 32 lowercase hex digits and a NUL. */
#define WIRE_CAPTURE_ID_HEX_LEN 33

enum wire_kind {
	WIRE_KIND_BATCH = 1,
	WIRE_KIND_FINAL = 2,
};

/* Header flags. Bits not defined here make a message unsupported. */
enum wire_flag {
	WIRE_F_DEFLATE = 1 << 0, /* the payload is a zlib stream (RFC 1950) of raw_len bytes */
	/* Since 1.1: WIRE_MAC_LEN bytes of HMAC-SHA256 follow the payload (identity.h). */
	WIRE_F_MAC = 1 << 1,
	/* Since 1.2: the payload is one zstd frame (RFC 8878) with its content size, raw_len. */
	WIRE_F_ZSTD = 1 << 2,
	/* Since 1.2: the payload is one LZ4 block (no frame) that decodes to raw_len bytes. */
	WIRE_F_LZ4 = 1 << 3,
};
/* The codec flags: at most one of them is set. */
#define WIRE_F_CODECS (WIRE_F_DEFLATE | WIRE_F_ZSTD | WIRE_F_LZ4)

/*
 * A batch builder's codec (since 1.2; docs/protocol.md 4.3). Deflate is the one every 1.x
 * aggregator takes; the others only an aggregator whose surveys name them ("codecs").
 */
enum wire_codec {
	WIRE_CODEC_DEFLATE = 0,
	WIRE_CODEC_ZSTD = 1,
	WIRE_CODEC_LZ4 = 2,
	WIRE_N_CODECS,
};
/* A set of codecs: bit (1 << codec). */
#define WIRE_CODEC_BIT(c) (1u << (c))
#define WIRE_CODECS_ALL	  ((1u << WIRE_N_CODECS) - 1)
/*
 * The codecs in the order an agent on "auto" prefers them: fastest ring-to-wire first, as
 * measured by B4b (docs/performance.md). Deflate last, the one every aggregator takes.
 */
extern const enum wire_codec wire_codec_preference[WIRE_N_CODECS];
/* "deflate", "zstd", "lz4"; "unknown" otherwise. */
const char *wire_codec_name(enum wire_codec c);
/* The codec a name gives, or -EINVAL. */
int wire_codec_parse(const char *name, enum wire_codec *out);
/* The header flag of a codec. */
uint8_t wire_codec_flag(enum wire_codec c);
/*
 * The codec an agent uses toward an aggregator that takes the set peer: want, if it is in
 * peer, or with auto (want < 0) the first of wire_codec_preference in peer; else deflate.
 */
enum wire_codec wire_codec_choose(int want, unsigned int peer);

enum wire_stop_reason {
	WIRE_STOP_TIME_LIMIT = 1,
	WIRE_STOP_PACKET_LIMIT = 2,
	WIRE_STOP_BYTE_LIMIT = 3,
	WIRE_STOP_STOPPED = 4, /* stopped by the aggregator or the operator */
	WIRE_STOP_ERROR = 5,   /* the capture failed; the final message says why */
};

/* One packet record. tstamp_ns is UTC (ns since the Unix epoch): the agent converts from TAI. */
struct wire_record {
	uint64_t tstamp_ns;
	uint32_t ifindex;
	uint32_t rx_queue;
	uint32_t orig_len; /* whole frame on the wire */
	uint32_t cap_len;  /* bytes at data, at most orig_len and WIRE_CAPLEN_MAX */
	uint8_t hook;	   /* enum ec_hook; receivers keep unknown values as they are */
	const uint8_t *data;
};

/*
 * What an agent counts for one capture, summed over its interfaces: one member per line of
 * EC_CAPTURE_COUNTERS (counters.h), in its order. The kernel's counters (capture_abi.h), then the
 * agent's own: records, packet bytes and batches handed to the send queue; records and batches
 * the bounded send queue refused; the last sequence number used.
 */
struct wire_counters {
#define WIRE_COUNTER(name, help) uint64_t name;
	EC_CAPTURE_COUNTERS(WIRE_COUNTER)
#undef WIRE_COUNTER
};

/* The kernel's counters into the first members of c; the agent's own are left as they are. */
void wire_counters_from_kernel(struct wire_counters *c, const struct ec_slot_counters *k);

/* The final message's content. */
struct wire_final {
	enum wire_stop_reason reason;
	char error[WIRE_ERROR_MAX + 1]; /* WIRE_STOP_ERROR only: why, printable ASCII */
	struct wire_counters c;
	uint64_t start_ns, stop_ns; /* UTC ns when the capture started and stopped on this agent */
};

/* A decoded message. Release it with wire_msg_release. */
struct wire_msg {
	uint8_t major, minor;
	enum wire_kind kind;
	uint8_t flags;
	uint8_t capture_id[WIRE_CAPTURE_ID_LEN];
	char agent_id[WIRE_AGENT_ID_MAX + 1];
	uint64_t seq;
	uint32_t count;	      /* records in a batch; 0 for a final message */
	uint32_t payload_len; /* bytes on the wire */
	/*
	 * The payload as it came (payload_len bytes, compressed or stored), inside the caller's
	 * buffer: set by wire_decode_header, valid as long as that buffer.
	 */
	const uint8_t *payload;
	/*
	 * The raw payload, raw_len bytes (the declared length until wire_decode_payload): inside
	 * the caller's buffer when stored, in memory owned by the message when it was decompressed.
	 * NULL until wire_decode_payload succeeded. Valid until wire_msg_release and, when stored,
	 * only as long as the buffer given to the decoder.
	 */
	const uint8_t *raw;
	uint32_t raw_len;
	struct wire_final final; /* WIRE_KIND_FINAL only */
	uint8_t *owned;
	/* WIRE_F_MAC: the trailer, and how many bytes before it (from the magic on) it covers. */
	const uint8_t *mac;
	size_t mac_covers;
};

/* Walks a decoded batch's records. */
struct wire_iter {
	const uint8_t *p;
	size_t left;
	uint32_t index;
};

struct wire_batch;

/* Capture ids: 16 bytes on the wire, 32 lowercase hex digits in JSON. -EINVAL if malformed. */
int wire_capture_id_parse(const char *hex, uint8_t id[WIRE_CAPTURE_ID_LEN]);
void wire_capture_id_format(const uint8_t id[WIRE_CAPTURE_ID_LEN],
			    char hex[WIRE_CAPTURE_ID_HEX_LEN]);
/* An agent (host) id: 1..WIRE_AGENT_ID_MAX bytes, each printable ASCII other than space. */
bool wire_agent_id_valid(const char *s, size_t len);

/* "time_limit", "packet_limit", "byte_limit", "stopped", "error"; "unknown" otherwise. */
const char *wire_stop_reason_name(enum wire_stop_reason r);
/* The stop reason a name gives, or -EINVAL. */
int wire_stop_reason_parse(const char *name, enum wire_stop_reason *out);

/*
 * A batch builder for one capture and one agent. Batches are numbered 1, 2, 3, ... in the order
 * wire_batch_finish makes them. max_raw bounds the raw payload (0: WIRE_BATCH_RAW_DEFAULT; at
 * most WIRE_RAW_MAX). -EINVAL for a bad agent id or bound.
 */
int wire_batch_new(const uint8_t capture_id[WIRE_CAPTURE_ID_LEN], const char *agent_id,
		   size_t max_raw, struct wire_batch **out);
void wire_batch_free(struct wire_batch *b);
/*
 * Appends a record (rec->data holds rec->cap_len bytes). -ENOSPC when it would take the batch
 * past its bound: finish the batch and add the record again (an empty batch takes any valid
 * record). -EINVAL when cap_len > WIRE_CAPLEN_MAX or orig_len < cap_len.
 */
int wire_batch_add(struct wire_batch *b, const struct wire_record *rec);
uint32_t wire_batch_count(const struct wire_batch *b);
size_t wire_batch_raw_len(const struct wire_batch *b);
/*
 * Makes the message for the records added so far under the next sequence number, compressed
 * with the builder's codec (wire_batch_set_codec) or stored by the rule at WIRE_DEFLATE_LEVEL,
 * and empties the builder. *msg is malloc'd and the
 * caller's (free()). -ENODATA when the batch is empty.
 */
int wire_batch_finish(struct wire_batch *b, void **msg, size_t *len);
/* The sequence number of the last batch finished; 0 before the first. */
uint64_t wire_batch_last_seq(const struct wire_batch *b);
/*
 * The codec of the batches wire_batch_finish makes from now on (WIRE_CODEC_DEFLATE at first).
 * -EINVAL for an unknown codec, -ENOMEM when its compressor cannot be made (the codec is then
 * unchanged).
 */
int wire_batch_set_codec(struct wire_batch *b, enum wire_codec c);

/*
 * Makes the final message: its header carries sequence number f->c.last_seq + 1, after every
 * batch. *msg is malloc'd and the caller's. -EINVAL for a bad agent id, reason, or an error text
 * with a reason other than WIRE_STOP_ERROR; non-printable bytes of the error text become '?'
 * and a longer one is cut to WIRE_ERROR_MAX.
 */
int wire_final_encode(const uint8_t capture_id[WIRE_CAPTURE_ID_LEN], const char *agent_id,
		      const struct wire_final *f, void **msg, size_t *len);

/*
 * Makes room for the MAC trailer of an encoded message: grows *msg by WIRE_MAC_LEN bytes and
 * sets WIRE_F_MAC. The caller writes the HMAC of the first *len - WIRE_MAC_LEN bytes into the
 * last WIRE_MAC_LEN. On failure (-ENOMEM) *msg is unchanged.
 */
int wire_mac_frame(void **msg, size_t *len);

/*
 * Decodes and checks a message's header (see the contract above): magic, version, kind, flags,
 * capture id, sequence number, count, agent id, every length (payload, raw length at most
 * WIRE_RAW_MAX, MAC trailer) and what the kind says about them. Nothing is decompressed or
 * allocated. On success *out has the header's fields, agent_id, payload and, with WIRE_F_MAC,
 * mac and mac_covers; raw is NULL. It is released with wire_msg_release (there is nothing to
 * free yet). On failure *out holds nothing to release and reason says what was wrong.
 * Errors: -ENODATA truncated, -EBADMSG bad magic, -EPROTONOSUPPORT other major version,
 * -EOPNOTSUPP unknown kind or flag, -EILSEQ bad agent id, -EMSGSIZE lengths that do not agree,
 * -EFBIG raw length over WIRE_RAW_MAX, -ERANGE count or sequence number out of range.
 */
int wire_decode_header(const void *buf, size_t len, struct wire_msg *out, char *reason,
		       size_t reasonlen);
/*
 * The second step, on a message from wire_decode_header whose buffer is still there:
 * decompresses its payload (deflate, zstd, LZ4) into at most its declared raw length, and checks
 * every record of a batch or the content of a final message. On success m->raw is set (0 also
 * when it was already). On failure m is as wire_decode_header left it (still to be released,
 * nothing to free) and reason says what was wrong. Errors: -EPROTO zlib payload that does not
 * inflate to its raw length, -EBADE zstd or LZ4 payload that does not decompress to exactly its
 * raw length (for zstd: anything but one standard frame, magic 0xFD2FB528, covering the whole
 * payload: legacy and skippable frames are refused), -EOVERFLOW record past the end of the
 * payload, -EMSGSIZE records that do not fill the payload, -ERANGE record or final field out of
 * range, -EILSEQ bad error text, -ENODATA no header decoded, -ENOMEM.
 */
int wire_decode_payload(struct wire_msg *m, char *reason, size_t reasonlen);
/*
 * Decodes and checks a whole message: wire_decode_header then wire_decode_payload, with their
 * errors. On success *out is filled and must be released; on failure *out holds nothing to
 * release and reason says what was wrong.
 */
int wire_decode(const void *buf, size_t len, struct wire_msg *out, char *reason, size_t reasonlen);
void wire_msg_release(struct wire_msg *m);
/*
 * A short stable name for a decode error, for drop counters: "truncated", "bad_magic", ...,
 * "bad_zlib" (deflate), "bad_compressed" (zstd, LZ4).
 */
const char *wire_error_name(int err);

/*
 * Iterates a batch whose payload is decoded: 0 and the next record, -ENOENT after the last (at
 * once when m->raw is NULL), or a decode error.
 */
void wire_iter_init(struct wire_iter *it, const struct wire_msg *m);
int wire_iter_next(struct wire_iter *it, struct wire_record *rec, char *reason, size_t reasonlen);

#endif /* EDGECAP_WIRE_H */
