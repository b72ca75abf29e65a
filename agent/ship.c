// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "identity.h"
#include "redial.h"
#include "ship.h"
#include "sp.h"
#include "wire.h"

struct ship_msg {
	struct ship_msg *next;
	size_t len;
	/*
	 * The message as NNG sends it, made once when it is queued: a send the socket refuses
	 * (NNG_EAGAIN) leaves it with us, so that trying again costs no new copy.
	 */
	nng_msg *nmsg;
};

struct ship {
	nng_socket sock;
	bool open;
	int send_fd;
	struct redial *link; /* the dialer, kept dialling */
	bool mac;	     /* MAC every message under key */
	uint8_t key[ID_KEY_LEN];
	size_t queue_bytes;    /* bound on queued non-final bytes */
	enum wire_codec codec; /* of the batches: ship_set_codec */
	struct ship_msg *head, **tail;
	struct ship_stats stats;
};

/*
 * Every batch is a message of up to the batch bound (stored batches of incompressible traffic are
 * that big), allocated by the drain, copied into NNG's message, freed by NNG's thread once sent.
 * With glibc's defaults (blocks over 128 KiB mmapped, the heap's top trimmed past 128 KiB free,
 * thresholds that move with what is freed) such blocks go back to the kernel and come again as
 * fresh pages, faulted in a page at a time: that was most of the ring-to-wire cost of stored
 * batches (B4b). So the agent keeps them: every wire message comes from the heap, and the heap
 * keeps up to SHIP_HEAP_KEEP free bytes at its top (a few messages in flight) before it trims.
 */
#define SHIP_HEAP_KEEP (8 << 20)
_Static_assert(WIRE_MSG_MAX < SHIP_HEAP_KEEP, "a wire message comes from the heap");

static void ship_keep_memory(void)
{
	mallopt(M_MMAP_THRESHOLD, SHIP_HEAP_KEEP);
	mallopt(M_TRIM_THRESHOLD, SHIP_HEAP_KEEP);
}

int ship_open(const char *url, const struct tls_opts *tls, size_t queue_bytes, struct ship **out,
	      char *err, size_t errlen)
{
	struct ship *s;
	int ret;

	ship_keep_memory();
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tail = &s->head;
	s->queue_bytes = queue_bytes;
	ret = nng_push0_open(&s->sock);
	if (ret) {
		snprintf(err, errlen, "cannot create the data socket: %s", nng_strerror(ret));
		free(s);
		return sp_errno(ret);
	}
	s->open = true;
	/* Whatever is unsent at exit is reported in counters, not waited for (NNG has no linger).
	 */
	ret = redial_open(s->sock, url, tls, &s->link, err, errlen);
	if (ret)
		goto fail;
	s->send_fd = sp_fd(s->sock, NNG_OPT_SENDFD);
	if (s->send_fd < 0) {
		snprintf(err, errlen, "the data socket has no descriptor to poll");
		ret = -EIO;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	ship_close(s);
	return ret;
}

void ship_close(struct ship *s)
{
	struct ship_msg *m;

	if (!s)
		return;
	while ((m = s->head)) {
		s->head = m->next;
		nng_msg_free(m->nmsg);
		free(m);
	}
	if (s->open)
		sp_close(s->sock, "the data link to the aggregator");
	/* After the socket: NNG calls back into the link until then. */
	redial_free(s->link);
	explicit_bzero(s->key, sizeof(s->key));
	free(s);
}

int ship_enqueue(struct ship *s, void *msg, size_t len, bool final)
{
	struct ship_msg *m;

	/* The trailer is part of what the bound counts: it is what goes on the wire. */
	if (s->mac) {
		if (wire_mac_frame(&msg, &len) ||
		    id_mac(s->key, msg, len - WIRE_MAC_LEN, (uint8_t *)msg + len - WIRE_MAC_LEN)) {
			free(msg);
			s->stats.dropped_msgs++;
			s->stats.dropped_bytes += len;
			return -ENOBUFS;
		}
	}
	/* Finals are not bounded: one small message per capture, and they carry its losses. */
	if (!final && s->stats.queued_bytes + len > s->queue_bytes) {
		s->stats.dropped_msgs++;
		s->stats.dropped_bytes += len;
		free(msg);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m));
	if (!m || nng_msg_alloc(&m->nmsg, len)) {
		free(m);
		free(msg);
		s->stats.dropped_msgs++;
		s->stats.dropped_bytes += len;
		return -ENOBUFS;
	}
	memcpy(nng_msg_body(m->nmsg), msg, len);
	free(msg);
	m->next = NULL;
	m->len = len;
	*s->tail = m;
	s->tail = &m->next;
	s->stats.queued_msgs++;
	s->stats.queued_bytes += len;
	return 0;
}

int ship_pump(struct ship *s)
{
	struct ship_msg *m;
	int sent = 0;

	while ((m = s->head)) {
		/*
		 * NNG_EAGAIN: no peer, or its buffers are full; try again later. On success NNG
		 * owns the message, on failure we still do.
		 */
		if (nng_sendmsg(s->sock, m->nmsg, NNG_FLAG_NONBLOCK))
			break;
		s->head = m->next;
		if (!s->head)
			s->tail = &s->head;
		s->stats.queued_msgs--;
		s->stats.queued_bytes -= m->len;
		s->stats.sent_msgs++;
		s->stats.sent_bytes += m->len;
		free(m);
		sent++;
	}
	return sent;
}

int ship_tick(struct ship *s, uint64_t now_ms)
{
	return redial_tick(s->link, now_ms);
}

int ship_send_fd(const struct ship *s)
{
	return s->send_fd;
}

void ship_set_key(struct ship *s, const uint8_t key[ID_KEY_LEN])
{
	memcpy(s->key, key, ID_KEY_LEN);
	s->mac = true;
}

void ship_set_codec(struct ship *s, enum wire_codec c)
{
	s->codec = c;
}

enum wire_codec ship_codec(const struct ship *s)
{
	return s->codec;
}

bool ship_pending(const struct ship *s)
{
	return s->head != NULL;
}

void ship_get_stats(const struct ship *s, struct ship_stats *out)
{
	*out = s->stats;
	out->connections = redial_connections(s->link);
}
