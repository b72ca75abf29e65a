// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_sp_rep.c: the decoder of the agent's local socket (agent/sp_rep.h: sp_rx_feed and
 * sp_req_backtrace_len), on what any local peer may send. The first input byte picks how the
 * rest is split into reads (1 to 256 bytes); the rest is the byte stream. Properties:
 *   - each feed takes at most what it was given, and takes something unless it is done;
 *   - a message is never longer than the cap (256 bytes here), and its backtrace, when it has
 *     one, is 4 to 4 * SP_MAX_HOPS bytes within it, ending in a word with the top bit set;
 *   - the messages and the verdict are the same however the stream is split (fed whole, too);
 *   - after an error nothing more is fed (as the server closes the connection).
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "sp_rep.h"

#define FUZZ_MAX_MSG 256

/* Feeds data in reads of chunk bytes; returns the verdict (0 all taken, or the error) and a
 * digest of the messages (their count and an FNV-1a hash of lengths and bytes). */
static int run(const uint8_t *data, size_t size, size_t chunk, uint64_t *digest, int *msgs)
{
	struct sp_rx rx = { .max = FUZZ_MAX_MSG };
	uint64_t h = 1469598103934665603ULL;
	size_t off = 0, used;
	int ret = 0;

	*msgs = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		ret = sp_rx_feed(&rx, data + off, n, &used);
		FUZZ_ASSERT(used <= n);
		off += used;
		if (ret < 0) {
			FUZZ_ASSERT(ret == -EPROTO || ret == -EMSGSIZE);
			break;
		}
		if (ret == SP_RX_MSG) {
			int bt = sp_req_backtrace_len(rx.msg, rx.len);

			FUZZ_ASSERT(rx.len <= FUZZ_MAX_MSG);
			if (bt >= 0) {
				FUZZ_ASSERT(bt >= 4 && bt <= 4 * SP_MAX_HOPS &&
					    (size_t)bt <= rx.len);
				FUZZ_ASSERT(bt % 4 == 0 && (rx.msg[bt - 4] & 0x80));
			} else {
				FUZZ_ASSERT(bt == -EPROTO);
			}
			(*msgs)++;
			h = (h ^ rx.len) * 1099511628211ULL;
			for (size_t i = 0; i < rx.len; i++)
				h = (h ^ rx.msg[i]) * 1099511628211ULL;
		} else {
			FUZZ_ASSERT(used == n); /* SP_RX_MORE takes every byte */
		}
		ret = 0;
	}
	sp_rx_free(&rx);
	FUZZ_ASSERT(rx.msg == NULL && rx.max == FUZZ_MAX_MSG);
	*digest = h;
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t d1, d2;
	int m1, m2, r1, r2;

	if (!size)
		return 0;
	r1 = run(data + 1, size - 1, (size_t)data[0] + 1, &d1, &m1);
	r2 = run(data + 1, size - 1, size, &d2, &m2);
	FUZZ_ASSERT(r1 == r2 && m1 == m2 && d1 == d2);
	return 0;
}
