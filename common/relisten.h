/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * relisten.h: an aggregator's listener, kept answering (docs/protocol.md, section 1,
 * "Listening").
 *
 * NNG 1.5.2's ipc:// listener can stop accepting for good (nng issue #1518, fixed upstream after
 * 1.5.2): when a peer connects and closes before NNG has written its SP header, the write fails,
 * and the transport hands that failure, NNG_ECLOSED, to the socket's pending accept, which takes
 * it for the listener's own close and never accepts again. The transport itself goes on: it
 * accepts connections and even answers their SP header, but hands none of them to the socket,
 * so every agent that dials afterwards waits for ever. tls+tcp:// and tcp:// listeners are not
 * affected.
 *
 * A relisten owns one listener of a socket (tls_listen's rules). At an ipc:// URL, relisten_tick
 * probes it every RELISTEN_PROBE_EVERY_MS: it connects as the socket's peer protocol would,
 * sends its own SP header first, reads the listener's, and waits for the socket to take a
 * connection (sp_pipes_track's count of them: the socket must have no pipe callbacks of its
 * own), all within RELISTEN_PROBE_TIMEOUT_MS. The header alone would not do: a deaf listener sends
 * it. The probe's header goes first, and its connection closes only once the listener's header was
 * read, so that the probe is never itself the peer that kills the listener: it is an ordinary
 * connection that comes and goes (the aggregator keeps no table of connections, so nothing
 * takes it for an agent). A listener that fails the probe is closed, which drops the
 * connections it accepted (their agents redial), and a fresh one is started on the same URL
 * once its directory passes tls_check_url's rule again. NNG's close removes the socket file and
 * the fresh bind makes it anew.
 *
 * relisten_tick runs on the owner's loop, never on NNG's callback threads (closing a listener
 * from its own callback can deadlock), and never blocks: each call advances the probe with
 * non-blocking calls, so the loop must come back at least every second or so (the aggregator's
 * loop sleeps at most LOOP_MAX_SLEEP_MS = 1 s). A deaf listener answers again within
 * RELISTEN_PROBE_EVERY_MS + RELISTEN_PROBE_TIMEOUT_MS plus a pass of the loop, about 8 s.
 */
#ifndef EDGECAP_RELISTEN_H
#define EDGECAP_RELISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <nng/nng.h>

#include "tls.h"

/* How often an ipc:// listener is probed (from the end of one probe to the start of the next). */
#define RELISTEN_PROBE_EVERY_MS 5000
/* How long a probe waits for the listener's SP header; NNG sends it in well under 1 ms. */
#define RELISTEN_PROBE_TIMEOUT_MS 2000

struct relisten;

/*
 * Listens on url with s (tls_listen; o may be NULL for ipc:// and tcp://). name says which
 * listener it is in log lines and metrics ("control", "data"). 0, or a negative errno with err
 * saying why.
 */
int relisten_open(nng_socket s, const char *name, const char *url, const struct tls_opts *o,
		  struct relisten **out, char *err, size_t errlen);
/* Frees r and ends a probe in flight; the listener goes with its socket. NULL is accepted. */
void relisten_free(struct relisten *r);
/*
 * Call from the owner's loop, now_ms on sp_now_ms()'s clock. Starts, advances or ends the probe
 * of an ipc:// listener, and restarts the listener when the probe got no valid SP header by its
 * deadline. 1 when it restarted it, 0 when there was no need (or nothing to probe), a negative
 * errno when it could not (tried again at the next probe's time).
 */
int relisten_tick(struct relisten *r, uint64_t now_ms);
/* Listeners restarted so far. */
uint64_t relisten_restarts(const struct relisten *r);
/* Probes that found the listener answering (for tests). */
uint64_t relisten_probes_ok(const struct relisten *r);
/* The current listener (for tests). */
nng_listener relisten_listener(const struct relisten *r);

#endif /* EDGECAP_RELISTEN_H */
