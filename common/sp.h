/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sp.h: NNG sockets as edgecap uses them (SP, the nanomsg wire protocol; docs/protocol.md).
 * NNG returns its own positive error codes; sp_errno turns them into a negative errno at this
 * boundary, so the rest of the tree keeps "0 or -errno". Polling: NNG hands out a descriptor
 * per socket and direction (NNG_OPT_RECVFD readable while a message waits, NNG_OPT_SENDFD
 * readable while a send would not block); sp_fd reads it. Connections are counted with NNG's
 * pipe callbacks (NNG has no nanomsg-style statistic for them): sp_pipes_track once per socket,
 * sp_pipes_count from any thread.
 *
 * Replies: NNG 1.5's RESPONDENT (and REP) fail every NNG_FLAG_NONBLOCK send with NNG_EAGAIN,
 * even on an idle pipe, so replies go out as blocking sends bounded by NNG_OPT_SENDTIMEO =
 * SP_REPLY_TIMEOUT_MS: an idle pipe takes a reply at once, a stuck peer costs that long at most.
 */
#ifndef EDGECAP_SP_H
#define EDGECAP_SP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <nng/nng.h>

#define SP_REPLY_TIMEOUT_MS 100

/*
 * Closing. NNG 1.5.2's nng_close can wait for ever (nng issues #1543 and #1813, fixed after
 * 1.5.2): its reaper thread waits on a task that never runs, and every later close in the
 * process waits with it. test_fanout showed it under load (a socket and its peer in one
 * process), always with a message still queued on the socket being closed. sp_close reads and
 * drops what is queued, then closes, bounded by SP_CLOSE_TIMEOUT_MS: past it the process logs
 * what it was closing and exits (status 1) at once. The daemons close their sockets last, after
 * their captures, checkpoints, manifests and kernel programs, so that such an exit loses nothing;
 * systemd would otherwise wait for its stop timeout and kill them.
 */
#define SP_CLOSE_TIMEOUT_MS 10000
void sp_close(nng_socket s, const char *what);
/* Reads and drops what is queued on s, without waiting (sp_close's first step). */
void sp_drain(nng_socket s);
/* sp_close with another bound, and another exit status past it (tests). */
void sp_close_within(nng_socket s, const char *what, unsigned int timeout_ms, int status);

/* An NNG error code (positive, NNG_E*) as a negative errno. */
int sp_errno(int nng_err);
/* The descriptor behind opt (NNG_OPT_RECVFD or NNG_OPT_SENDFD); -1 when there is none. */
int sp_fd(nng_socket s, const char *opt);

/* Live connections of one socket; must outlive the socket (NNG calls back until it is closed). */
struct sp_pipes {
	atomic_int n;
	atomic_uint_least64_t lost_ms; /* sp_now_ms() when the last one went away; 0: never */
	atomic_uint_least64_t added;   /* connections the socket took, ever */
};

int sp_pipes_track(nng_socket s, struct sp_pipes *p);
int sp_pipes_count(const struct sp_pipes *p);
uint64_t sp_pipes_lost_ms(const struct sp_pipes *p);
uint64_t sp_pipes_added(const struct sp_pipes *p);
/* The clock of lost_ms: CLOCK_MONOTONIC in milliseconds (the agent's clock, agent_clock.h). */
uint64_t sp_now_ms(void);

#endif /* EDGECAP_SP_H */
