/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sp_rep.h: a small SP REP server on a UNIX stream socket, wire-compatible with NNG's REQ over
 * ipc:// (what edgecapctl dials), run from the agent's poll loop. It replaces NNG's REP on the
 * local socket because NNG 1.5.2's ipc listener stops handing over connections after one peer
 * drops during the SP handshake (nng issue #1518, fixed after 1.5.2): a connection that writes
 * junk and closes left the agent deaf on its local socket until it restarted.
 *
 * The wire (SP over IPC, the ipc transport of nanomsg/NNG):
 *   - each side first sends 8 bytes: 0x00 'S' 'P' 0x00, its protocol id (16 bits, big-endian;
 *     REQ 0x30, REP 0x31) and two zero bytes;
 *   - then messages: the byte 0x01, the length (64 bits, big-endian) and that many bytes;
 *   - a request starts with its backtrace: 32-bit big-endian words up to and including the
 *     first one with the top bit set (the request id); the reply carries the same words back.
 *
 * Bounds, each a refusal that closes that connection only:
 *   - a request longer than max_msg bytes, a bad handshake, a peer that is not REQ, a message
 *     of another type or a request with no request id;
 *   - a connection that has not sent a whole request, or not taken its whole reply, within
 *     timeout_ms of its accept or of its last reply;
 *   - at most max_conns connections: one more evicts the connection whose time runs out first,
 *     so a new client always gets in.
 * One request is answered at a time per connection; its reply is written without blocking.
 * When accept() fails for want of descriptors or memory, the server stops accepting for 100 ms
 * (the connection waits in the backlog) rather than wake the agent's loop on every pass.
 */
#ifndef EDGECAP_SP_REP_H
#define EDGECAP_SP_REP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_header.h"

#define SP_MSG_HEAD_LEN 9
/* NNG's REP reads at most this many backtrace words (its default TTL). */
#define SP_MAX_HOPS 8

/* The decoder of what one REQ peer sends; zero it, then set max. */
struct sp_rx {
	size_t max;		       /* largest message accepted, backtrace included */
	uint8_t head[SP_MSG_HEAD_LEN]; /* the handshake, then each message's head */
	size_t got;		       /* bytes of head so far */
	bool shaken;		       /* the handshake was good */
	bool in_body;		       /* head done, reading the body */
	uint8_t *msg;		       /* the message being read (malloc'd; NULL when empty) */
	size_t len, have;	       /* its length, and the bytes read */
	size_t cap;		       /* bytes allocated at msg: grown as bytes come */
};

enum sp_rx_result {
	SP_RX_MORE = 0, /* every byte taken; a message needs more */
	SP_RX_MSG = 1,	/* rx->msg holds rx->len bytes: a whole message, kept until the next feed */
};

/*
 * Takes up to len bytes of buf; *used says how many. Returns SP_RX_MORE, SP_RX_MSG (stops
 * right after that message), or -EPROTO (not SP, the peer is not REQ, or a message type other
 * than 1), -EMSGSIZE (a length over rx->max) or -ENOMEM. After an error rx must only be freed.
 * The memory a message takes follows the bytes that came (at most twice them, from a first
 * small block), not the length its head declares: a peer that declares rx->max and sends
 * nothing holds nothing.
 */
int sp_rx_feed(struct sp_rx *rx, const uint8_t *buf, size_t len, size_t *used);
/* Frees what rx holds and zeroes it but for max. */
void sp_rx_free(struct sp_rx *rx);
/* The length of a request's backtrace (4 to 4 * SP_MAX_HOPS bytes), or -EPROTO when msg has
 * no request id within SP_MAX_HOPS words. */
int sp_req_backtrace_len(const uint8_t *msg, size_t len);

/* The reply (malloc'd, *reply_len bytes; NULL to send none and close) to one request body. */
typedef uint8_t *(*sp_rep_answer_fn)(void *arg, const uint8_t *req, size_t len, size_t *reply_len);

struct sp_rep_opts {
	size_t max_msg;		/* largest request, backtrace included */
	unsigned int max_conns; /* connections open at once */
	unsigned int
		timeout_ms; /* for a whole request, or a whole reply, from accept or last reply */
};

struct sp_rep;

/* Listens on the UNIX socket path (which must not exist). 0 or a negative errno; err says why. */
int sp_rep_open(const char *path, const struct sp_rep_opts *opts, sp_rep_answer_fn answer,
		void *arg, struct sp_rep **out, char *err, size_t errlen);
/* Closes every connection and the socket (the file stays); NULL is accepted. */
void sp_rep_close(struct sp_rep *s);
/* A descriptor that polls readable whenever sp_rep_handle has work: a connection to take, bytes
 * to read or write, a deadline passed. */
int sp_rep_fd(const struct sp_rep *s);
/* Does that work without blocking. */
void sp_rep_handle(struct sp_rep *s);
/* Connections open now, and evicted or refused so far (for tests and status). */
unsigned int sp_rep_conns(const struct sp_rep *s);
uint64_t sp_rep_dropped(const struct sp_rep *s);

#endif /* EDGECAP_SP_REP_H */
