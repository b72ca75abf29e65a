// SPDX-License-Identifier: BSD-2-Clause
/*
 * api_deadline: the time an API connection has to send a whole request (headers and body).
 *
 * libmicrohttpd's timeout (--http-timeout) counts from a connection's last byte, so a client
 * that sends a header line, or a byte of its body, every few seconds keeps its connection for
 * as long as it likes: 32 addresses of such clients held every connection of the API (a
 * slow-loris). Here each connection has until a deadline, the same number of seconds from its
 * accept, to have its request read whole; past it, a thread of this module shuts the socket
 * down (shutdown(2): libmicrohttpd then reads the end and closes the connection itself, on its
 * own thread).
 *
 * Not cut while its request is handled (an ownership create waits on the bucket), nor while
 * bytes the client sent lie unread: then the wait is the server's (the connection's thread is
 * busy with another), and the cut waits until they are read; unless an answer of ours waits
 * in the socket for the client to read it (then its thread is on this connection, and the
 * wait is the client's). Only an answer to an authenticated request lifts the deadline while
 * it goes out (a large download takes the time it takes; the idle timeout still guards it) and
 * gives the connection's next request a deadline of its own. Other answers (401s, /healthz) do
 * neither: without a credential a connection has --http-timeout from its accept in all,
 * however it spreads its requests and reads its answers (pipelined requests whose answers were
 * read a little at a time kept a connection for as long as its client liked).
 *
 * The API registers every connection when libmicrohttpd starts it and removes it when it is
 * closed (MHD_OPTION_NOTIFY_CONNECTION), which libmicrohttpd does before it closes the socket:
 * under this module's lock a registered descriptor is still the connection's, never one
 * reused for another file.
 */
#ifndef EDGECAP_API_DEADLINE_H
#define EDGECAP_API_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

struct api_deadline;
struct api_deadline_conn;

/* The sweeping thread, for requests of at most timeout_ms. Returns 0 or a negative errno. */
int api_deadline_start(uint32_t timeout_ms, struct api_deadline **out);
/* Stops the thread; the connections still registered are forgotten (not shut down). */
void api_deadline_stop(struct api_deadline *d);

/* A new connection on fd, from peer (for the log): its request is due by now + timeout. */
struct api_deadline_conn *api_deadline_add(struct api_deadline *d, int fd, const char *peer);
/* Its request is in and being handled: not cut until api_deadline_answered. */
void api_deadline_answering(struct api_deadline *d, struct api_deadline_conn *c);
/*
 * Handled: an authenticated request's answer (trusted) goes out with no deadline, and
 * api_deadline_next then gives the next request its own; any other's deadline runs on.
 */
void api_deadline_answered(struct api_deadline *d, struct api_deadline_conn *c, bool trusted);
/* Its answer is done: after a trusted one, the next request is due by now + timeout. */
void api_deadline_next(struct api_deadline *d, struct api_deadline_conn *c);
/* The connection is closing: forgotten (c is freed). NULL is ignored. */
void api_deadline_remove(struct api_deadline *d, struct api_deadline_conn *c);

/* Connections shut down so far for a request not whole in time. */
uint64_t api_deadline_cut(struct api_deadline *d);

#endif
