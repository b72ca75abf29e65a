// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "listen_addr.h"
#include "log.h"
#include "metrics_http.h"

/*
 * Connections at once: scrapers are few. libmicrohttpd's epoll loop (the only one an outside
 * loop can drive through one descriptor) is edge-triggered and reads a connection once: a
 * peer whose request and close were both queued by its first read is never read again, and
 * holds its connection until the timeout. At libmicrohttpd's own limit the listening socket
 * leaves the loop and every connection waits in the kernel's backlog to be such a one: a flood
 * that had gone held the limit, timeout after timeout (test_abuse's
 * test_metrics_listener_after_a_flood). So the limit is kept here (accept_policy), below
 * libmicrohttpd's, which is never reached: one over it is accepted and closed at once. What is
 * left: a client that writes a partial request and closes holds a connection for
 * METRICS_TIMEOUT_S, so one address holds at most METRICS_PER_IP of them.
 */
#define METRICS_MAX_CONNS 16
#define METRICS_PER_IP	  4
#define METRICS_TIMEOUT_S 3
#define METRICS_MHD_LIMIT (METRICS_MAX_CONNS + 8)

struct metrics_http {
	struct MHD_Daemon *daemon;
	metrics_render_fn render;
	void *ctx;
	unsigned int open; /* connections libmicrohttpd holds (notify_connection) */
	int epoll_fd;
	uint16_t port;
	char where[80];
	char start_err[256]; /* libmicrohttpd's last message while starting */
	bool starting;
};

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
				  const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct metrics_http *m = cls;
	struct MHD_Response *resp;
	struct prom p;
	enum MHD_Result ret;
	size_t len;
	char *page;

	(void)version;
	(void)upload_data;
	/* A body, if any, is read and ignored; the answer goes once it is in. */
	if (!*con_cls) {
		*con_cls = m;
		if (!*upload_data_size &&
		    (!strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD)))
			goto answer;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
answer:
	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "not found: the metrics are at /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	prom_init(&p);
	if (m->render(m->ctx, &p) || prom_finish(&p, &page, &len)) {
		prom_free(&p);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "failed to render the metrics\n");
	}
	resp = MHD_create_response_from_buffer(len, page, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(page);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, PROM_CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct metrics_http *m = cls;

	(void)addr;
	(void)addrlen;
	return m->open < METRICS_MAX_CONNS ? MHD_YES : MHD_NO;
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct metrics_http *m = cls;

	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		m->open++;
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && m->open)
		m->open--;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics_http *m = cls;
	char line[256];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	if (m->starting) {
		snprintf(m->start_err, sizeof(m->start_err), "%s", line);
		return;
	}
	pr_debug("metrics: %s", line);
}

int metrics_http_open(const char *addr, metrics_render_fn render, void *ctx,
		      struct metrics_http **out, char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	struct metrics_http *m;
	char why[256];
	socklen_t sslen;

	if (listen_addr_parse(addr, &ss, &sslen, why, sizeof(why))) {
		snprintf(err, errlen, "--metrics \"%s\": %s", addr, why);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "--metrics %s: out of memory", addr);
		return -ENOMEM;
	}
	m->render = render;
	m->ctx = ctx;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->starting = true;
	/*
	 * No thread: the daemon's loop drives it (the header says why). Scrapers are few: a small
	 * connection limit (METRICS_MAX_CONNS, METRICS_PER_IP from one address), and a timeout
	 * that frees a stalled one.
	 */
	m->daemon = MHD_start_daemon(flags, 0, accept_policy, m, handle, m, MHD_OPTION_SOCK_ADDR,
				     (const struct sockaddr *)&ss, MHD_OPTION_EXTERNAL_LOGGER,
				     mhd_log, m, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, m,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MHD_LIMIT,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned int)METRICS_PER_IP, MHD_OPTION_END);
	m->starting = false;
	if (!m->daemon) {
		snprintf(err, errlen, "--metrics %s: cannot listen: %s", addr,
			 m->start_err[0] ? m->start_err : "libmicrohttpd failed");
		free(m);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	m->epoll_fd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	if (m->epoll_fd < 0) {
		snprintf(err, errlen, "--metrics %s: libmicrohttpd gave no descriptor to poll",
			 addr);
		metrics_http_close(m);
		return -EIO;
	}
	listen_addr_format(&ss, m->port, m->where, sizeof(m->where));
	*out = m;
	return 0;
}

void metrics_http_close(struct metrics_http *m)
{
	if (!m)
		return;
	if (m->daemon)
		MHD_stop_daemon(m->daemon);
	free(m);
}

int metrics_http_fd(const struct metrics_http *m)
{
	return m->epoll_fd;
}

int metrics_http_timeout_ms(const struct metrics_http *m, int timeout)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(m->daemon, &ms) != MHD_YES)
		return timeout;
	if (ms > 1000)
		ms = 1000;
	return timeout < 0 || (int)ms < timeout ? (int)ms : timeout;
}

void metrics_http_handle(struct metrics_http *m)
{
	MHD_run(m->daemon);
}

uint16_t metrics_http_port(const struct metrics_http *m)
{
	return m->port;
}

const char *metrics_http_where(const struct metrics_http *m)
{
	return m->where;
}
