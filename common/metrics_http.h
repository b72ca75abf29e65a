/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics_http.h: a daemon's --metrics listener: GET /metrics answers a Prometheus text page
 * (prom.h) that the daemon renders at that moment, on the daemon's own loop.
 *
 * libmicrohttpd runs without a thread of its own, in its epoll mode: the daemon polls one
 * descriptor (metrics_http_fd) with the others of its loop, bounds its wait by
 * metrics_http_timeout_ms, and calls metrics_http_handle after every poll. Nothing here blocks:
 * sockets are non-blocking and a slow scraper only holds its own connection, which times out.
 * So the render callback runs on the loop's thread and may read the loop's state without locks.
 *
 * Anything but GET or HEAD of /metrics gets 404 or 405; a render that fails gets 500.
 */
#ifndef EDGECAP_METRICS_HTTP_H
#define EDGECAP_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "prom.h"

/* Writes the whole page into p; returns 0 or a negative errno. */
typedef int (*metrics_render_fn)(void *ctx, struct prom *p);

struct metrics_http;

/*
 * Listens on addr ("127.0.0.1:9101", "[::1]:0"; listen_addr.h; port 0 picks one). err names the
 * address and says why it failed (a bad form, the port in use).
 */
int metrics_http_open(const char *addr, metrics_render_fn render, void *ctx,
		      struct metrics_http **out, char *err, size_t errlen);
/* Stops listening, closes every connection, frees m (NULL is accepted). */
void metrics_http_close(struct metrics_http *m);
/* A descriptor that polls readable when metrics_http_handle has work. */
int metrics_http_fd(const struct metrics_http *m);
/* The lesser of timeout (-1: none) and the ms until metrics_http_handle is due. */
int metrics_http_timeout_ms(const struct metrics_http *m, int timeout);
/* Accepts, reads and answers what is ready, without blocking. */
void metrics_http_handle(struct metrics_http *m);
/* The port bound, and the address as "ADDR:PORT" for the log. */
uint16_t metrics_http_port(const struct metrics_http *m);
const char *metrics_http_where(const struct metrics_http *m);

#endif /* EDGECAP_METRICS_HTTP_H */
