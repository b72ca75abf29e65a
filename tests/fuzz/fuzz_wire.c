// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_wire.c: the data-plane decoder (common/wire.h) on arbitrary bytes, as the aggregator's
 * PULL socket may receive them. Properties:
 *   - a refusal is a known negative errno with a reason;
 *   - a decoded batch iterates to exactly its count of valid records, then -ENOENT;
 *   - those records, built again with the batch builder, decode to the same records;
 *   - a decoded final message, encoded again, decodes to the same content.
 *
 * Under libFuzzer a custom mutator also mutates what is inside deflated payloads (inflate,
 * mutate, deflate, fix the lengths), which byte mutations of a zlib stream almost never reach.
 */
#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "fuzz.h"
#include "wire.h"

static bool same_record(const struct wire_record *a, const struct wire_record *b)
{
	return a->tstamp_ns == b->tstamp_ns && a->ifindex == b->ifindex &&
	       a->rx_queue == b->rx_queue && a->orig_len == b->orig_len &&
	       a->cap_len == b->cap_len && a->hook == b->hook &&
	       !memcmp(a->data, b->data, a->cap_len);
}

/* Every record of m, checked, and rebuilt into a second batch that must say the same. */
static void check_batch(const struct wire_msg *m)
{
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg m;
	char reason[256];
	int ret;

	ret = wire_decode(data, size, &m, reason, sizeof(reason));
	if (ret) {
		FUZZ_ASSERT(ret < 0 && reason[0]);
		FUZZ_ASSERT(strcmp(wire_error_name(ret), "other"));
		return 0;
	}
	FUZZ_ASSERT(m.major == WIRE_VERSION_MAJOR);
	FUZZ_ASSERT(m.raw_len <= WIRE_RAW_MAX);
	FUZZ_ASSERT(wire_agent_id_valid(m.agent_id, strlen(m.agent_id)));
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

/*
 * Half the time a plain byte mutation. Otherwise, for a message whose header is sound and whose
 * deflated payload inflates: mutate the inflated bytes, deflate them again, and write the new
 * payload length and (now and then off by a little) raw length into the header.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static uint8_t raw[1 << 16], z[1 << 17];
	size_t hdr, raw_len;
	uLongf z_len = sizeof(z);
	uLongf out_len = sizeof(raw);

	if (seed % 2 || size < WIRE_HDR_LEN || !(data[7] & WIRE_F_DEFLATE))
		return LLVMFuzzerMutate(data, size, max_size);
	hdr = WIRE_HDR_LEN + data[44];
	if (hdr > size || uncompress(raw, &out_len, data + hdr, size - hdr) != Z_OK)
		return LLVMFuzzerMutate(data, size, max_size);
	raw_len = LLVMFuzzerMutate(raw, out_len, sizeof(raw));
	if (compress2(z, &z_len, raw, raw_len, (int)(seed >> 1) % 10) != Z_OK ||
	    hdr + z_len > max_size)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data + hdr, z, z_len);
	put32(data + 36, (uint32_t)z_len);
	put32(data + 40, (uint32_t)raw_len + (seed % 16 == 0 ? (seed >> 4) % 3 - 1 : 0));
	/* A mutated count now and then, or the record checks see only the original one. */
	if (seed % 8 == 2)
		put32(data + 32, get32(data + 32) + (seed >> 3) % 3 - 1);
	return hdr + z_len;
}
#endif
