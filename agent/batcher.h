/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * batcher.h: a fleet capture's records on their way to the aggregator. The engine hands every
 * record to batcher_add (a capture_record_fn); records gather in one open wire batch until it
 * reaches its bound, grows older than the agent's --batch-ms (batcher_tick) or the capture ends
 * (batcher_flush). Then the batch is finished (compressed with the codec the aggregator takes,
 * ship_codec, or stored) and handed to the send queue;
 * a full queue drops it, and the loss is counted in the capture's counters, which its final
 * message carries. Nothing here waits on the network: ship_pump is the caller's.
 */
#ifndef EDGECAP_BATCHER_H
#define EDGECAP_BATCHER_H

#include <stdint.h>

#include "capture_abi.h"
#include "ship.h"
#include "wire.h"

struct batcher {
	struct wire_batch *batch;
	struct ship *ship;	    /* NULL: batches are finished, counted as sent, freed */
	struct wire_counters *sent; /* the capture's: batches and records sent or dropped */
	uint64_t opened_ms;	    /* agent_now_ms at the open batch's first record; 0: empty */
	uint64_t bytes;		    /* packet bytes (sum of cap_len) in the open batch */
	enum wire_codec codec;	    /* without a ship: the batches' codec (with one: ship_codec) */
};

/*
 * Sets bt up for one capture of this host; batches go to ship and are counted in *sent. Returns
 * 0 or a negative errno (host_id too long for the wire, no memory).
 */
int batcher_init(struct batcher *bt, const uint8_t capture_id[WIRE_CAPTURE_ID_LEN],
		 const char *host_id, struct ship *ship, struct wire_counters *sent);
/* Frees the open batch, unsent (batcher_flush first to send it). Accepts a zeroed bt. */
void batcher_release(struct batcher *bt);
/* The engine's sink: ctx is a struct batcher. Returns 0 or a negative errno from the batch. */
int batcher_add(void *ctx, const struct ec_record *rec, const uint8_t *data, uint32_t cap_len);
/* Hands the open batch, if it holds records, to the send queue. */
void batcher_flush(struct batcher *bt);
/* Flushes the open batch when it is batch_ms old or older. */
void batcher_tick(struct batcher *bt, uint64_t now_ms, uint32_t batch_ms);
/* The lesser of timeout and the ms until the open batch is due (0: due now). */
int batcher_timeout_ms(const struct batcher *bt, uint64_t now_ms, uint32_t batch_ms, int timeout);

#endif /* EDGECAP_BATCHER_H */
