/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redial.h: an agent link's dialer, kept dialling (docs/protocol.md, section 1, "Reconnecting").
 *
 * NNG 1.5.2's dialer can stop redialling for good. Its back-off is `(int)nni_random() % back_off`,
 * negative or zero about half the time, so it often redials at once into a listener that is going
 * away; and a connection whose SP header cannot be written (EPIPE from a closing listener) fails
 * with NNG_ECLOSED, on which the dialer stops: no error, no callback, no further attempt. An
 * agent would then never come back after its aggregator restarts.
 *
 * A redial owns the dialer of one socket and watches the socket's connections with NNG's pipe
 * callbacks (sp_pipes_track: the socket must have no other pipe callback). When the socket has
 * had no connection for REDIAL_STALL_MS, redial_tick closes the dialer and starts a fresh one on
 * the same URL with the same TLS config. redial_tick runs on the owner's loop, never on NNG's
 * callback thread (closing a dialer from its own callback can deadlock), so a stall is mended
 * within REDIAL_STALL_MS plus one pass of that loop. While the aggregator is really away that is
 * one fresh dialer (one connection attempt) every REDIAL_STALL_MS, beside NNG's own attempts.
 */
#ifndef EDGECAP_REDIAL_H
#define EDGECAP_REDIAL_H

#include <stddef.h>
#include <stdint.h>
#include <nng/nng.h>

#include "tls.h"

/* How long a link may have no connection before its dialer is replaced. */
#define REDIAL_STALL_MS 10000

struct redial;

/*
 * Dials url on s in the background (tls_dial's rules; o may be NULL for ipc:// and tcp://) and
 * watches s's connections. 0, or a negative errno with err saying why.
 */
int redial_open(nng_socket s, const char *url, const struct tls_opts *o, struct redial **out,
		char *err, size_t errlen);
/* Frees r once its socket is closed (NNG calls back into r until then). NULL is accepted. */
void redial_free(struct redial *r);
/* Live connections of the socket (0 or 1 for an agent link); any thread. */
int redial_connections(const struct redial *r);
/*
 * Call from the owner's loop, now_ms on sp_now_ms()'s clock. Replaces the dialer when the socket
 * has had no connection since REDIAL_STALL_MS before now_ms (counting from when the current
 * dialer started, or the last connection went, whichever is later). 1 when it replaced it, 0
 * when there was no need, a negative errno when the fresh dialer could not start (tried again
 * REDIAL_STALL_MS later).
 */
int redial_tick(struct redial *r, uint64_t now_ms);
/* Dialers replaced so far. */
uint64_t redial_replaced(const struct redial *r);
/* The current dialer (for tests: closing it underneath is what NNG's bug amounts to). */
nng_dialer redial_dialer(const struct redial *r);

#endif /* EDGECAP_REDIAL_H */
