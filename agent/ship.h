/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ship.h: the agent's data path to the aggregator: an NNG PUSH socket fed from a bounded
 * queue. The drain loop never waits on the network: ship_enqueue only queues (or refuses when
 * the queue is full, and the caller counts the loss), and ship_pump sends what the socket takes
 * without blocking. NNG redials by itself, and ship_tick replaces a dialer that stopped
 * (redial.h); while the aggregator is away the queue absorbs up to its size in bytes. Final
 * messages are small and are always queued, even past the bound, so a capture's closing counters
 * are never the thing that gets dropped.
 */
#ifndef EDGECAP_SHIP_H
#define EDGECAP_SHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls.h"
#include "wire.h"

struct ship;

struct ship_stats {
	uint64_t queued_msgs, queued_bytes; /* waiting now */
	uint64_t sent_msgs, sent_bytes;
	uint64_t dropped_msgs, dropped_bytes; /* refused because the queue was full */
	int connections;		      /* current connections to the aggregator */
};

/*
 * Dials url (tls+tcp:// with tls; tls may be NULL for ipc:// and tcp://) in the background. Sets
 * the process's allocator to keep message-sized blocks (ship.c, ship_keep_memory): the agent's
 * process, whose data path this is.
 */
int ship_open(const char *url, const struct tls_opts *tls, size_t queue_bytes, struct ship **out,
	      char *err, size_t errlen);
void ship_close(struct ship *s);
/*
 * Queues msg (malloc'd; ship takes ownership in every case). Returns 0, or -ENOBUFS when the
 * queue is full and the message was dropped (never for final messages).
 */
int ship_enqueue(struct ship *s, void *msg, size_t len, bool final);
/* Sends queued messages until the socket would block. Returns how many went out. */
int ship_pump(struct ship *s);
/* From the agent's loop (now_ms: agent_now_ms()): redial_tick on the data link. */
int ship_tick(struct ship *s, uint64_t now_ms);
/* A file descriptor that polls readable when the socket can take a message (NNG_OPT_SENDFD). */
int ship_send_fd(const struct ship *s);
bool ship_pending(const struct ship *s);
/*
 * From now on every message gets an HMAC-SHA256 trailer under key (the agent's session key,
 * identity.h), added as it is queued.
 */
void ship_set_key(struct ship *s, const uint8_t key[32]);
void ship_get_stats(const struct ship *s, struct ship_stats *out);
/*
 * The batch codec the aggregator at the other end takes (negotiated from its surveys by
 * fleet.c; WIRE_CODEC_DEFLATE, which every aggregator takes, until then). The batchers of the
 * agent's fleet captures read it at every batch.
 */
void ship_set_codec(struct ship *s, enum wire_codec c);
enum wire_codec ship_codec(const struct ship *s);

#endif /* EDGECAP_SHIP_H */
