// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdlib.h>

#include "agent_clock.h"
#include "batcher.h"

int batcher_init(struct batcher *bt, const uint8_t capture_id[WIRE_CAPTURE_ID_LEN],
		 const char *host_id, struct ship *ship, struct wire_counters *sent)
{
	*bt = (struct batcher){ .ship = ship, .sent = sent };
	return wire_batch_new(capture_id, host_id, 0, &bt->batch);
}

void batcher_release(struct batcher *bt)
{
	wire_batch_free(bt->batch);
	bt->batch = NULL;
}

void batcher_flush(struct batcher *bt)
{
	uint32_t records = wire_batch_count(bt->batch);
	size_t len;
	void *msg;
	int ret = 0;

	if (!records)
		return;
	/* A codec whose compressor cannot be made leaves the last one, deflate at worst. */
	wire_batch_set_codec(bt->batch, bt->ship ? ship_codec(bt->ship) : bt->codec);
	if (wire_batch_finish(bt->batch, &msg, &len))
		return;
	if (bt->ship)
		ret = ship_enqueue(bt->ship, msg, len, false);
	else
		free(msg); /* no send queue (a benchmark's): the batch is made, and that is all */
	if (ret) {
		bt->sent->records_dropped += records;
		bt->sent->batches_dropped++;
	} else {
		bt->sent->packets_sent += records;
		bt->sent->bytes_sent += bt->bytes;
		bt->sent->batches_sent++;
	}
	bt->sent->last_seq = wire_batch_last_seq(bt->batch);
	bt->opened_ms = 0;
	bt->bytes = 0;
}

int batcher_add(void *ctx, const struct ec_record *rec, const uint8_t *data, uint32_t cap_len)
{
	struct batcher *bt = ctx;
	struct wire_record wr = {
		.tstamp_ns = rec->tstamp_ns,
		.ifindex = rec->ifindex,
		.rx_queue = rec->rx_queue,
		.orig_len = rec->orig_len,
		.cap_len = cap_len,
		.hook = rec->hook,
		.data = data,
	};
	int ret;

	ret = wire_batch_add(bt->batch, &wr);
	if (ret == -ENOSPC) {
		/* The batch is at its bound: it goes, and the record opens the next one. */
		batcher_flush(bt);
		ret = wire_batch_add(bt->batch, &wr);
	}
	if (ret)
		return ret;
	bt->bytes += cap_len;
	if (!bt->opened_ms)
		bt->opened_ms = agent_now_ms();
	return 0;
}

void batcher_tick(struct batcher *bt, uint64_t now_ms, uint32_t batch_ms)
{
	if (bt->opened_ms && now_ms - bt->opened_ms >= batch_ms)
		batcher_flush(bt);
}

int batcher_timeout_ms(const struct batcher *bt, uint64_t now_ms, uint32_t batch_ms, int timeout)
{
	int due;

	if (!bt->opened_ms)
		return timeout;
	due = (int)(bt->opened_ms + batch_ms > now_ms ? bt->opened_ms + batch_ms - now_ms : 0);
	return due < timeout ? due : timeout;
}
