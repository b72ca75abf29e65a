// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>

#include "ship.h"

struct ship_msg {
	struct ship_msg *next;
	size_t len;
	void *data; /* the caller's buffer, owned from ship_enqueue on */
};

struct ship {
	int sock;
	int send_fd;
	size_t queue_bytes; /* bound on queued non-final bytes */
	struct ship_msg *head, **tail;
	struct ship_stats stats;
};

int ship_open(const char *url, size_t queue_bytes, struct ship **out, char *err, size_t errlen)
{
	struct ship *s = calloc(1, sizeof(*s));
	size_t sz = sizeof(int);
	int ret, linger = 0;

	if (!s)
		return -ENOMEM;
	s->tail = &s->head;
	s->queue_bytes = queue_bytes;
	s->sock = nn_socket(AF_SP, NN_PUSH);
	if (s->sock < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot create the data socket: %s", nn_strerror(-ret));
		free(s);
		return ret;
	}
	/* Whatever is unsent at exit is reported in counters, not waited for. */
	nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
	if (nn_connect(s->sock, url) < 0 ||
	    nn_getsockopt(s->sock, NN_SOL_SOCKET, NN_SNDFD, &s->send_fd, &sz) < 0) {
		ret = -nn_errno();
		snprintf(err, errlen, "cannot connect the data socket to %s: %s", url,
			 nn_strerror(-ret));
		nn_close(s->sock);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void ship_close(struct ship *s)
{
	struct ship_msg *m;

	if (!s)
		return;
	while ((m = s->head)) {
		s->head = m->next;
		free(m->data);
		free(m);
	}
	nn_close(s->sock);
	free(s);
}

int ship_enqueue(struct ship *s, void *msg, size_t len, bool final)
{
	struct ship_msg *m;

	/* Finals are not bounded: one small message per capture, and they carry its losses. */
	if (!final && s->stats.queued_bytes + len > s->queue_bytes) {
		s->stats.dropped_msgs++;
		s->stats.dropped_bytes += len;
		free(msg);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		free(msg);
		s->stats.dropped_msgs++;
		s->stats.dropped_bytes += len;
		return -ENOBUFS;
	}
	m->next = NULL;
	m->len = len;
	m->data = msg;
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
		if (nn_send(s->sock, m->data, m->len, NN_DONTWAIT) < 0)
			break; /* EAGAIN: no peer or its buffers are full; try again later */
		s->head = m->next;
		if (!s->head)
			s->tail = &s->head;
		s->stats.queued_msgs--;
		s->stats.queued_bytes -= m->len;
		s->stats.sent_msgs++;
		s->stats.sent_bytes += m->len;
		free(m->data);
		free(m);
		sent++;
	}
	return sent;
}

int ship_send_fd(const struct ship *s)
{
	return s->send_fd;
}

bool ship_pending(const struct ship *s)
{
	return s->head != NULL;
}

void ship_get_stats(const struct ship *s, struct ship_stats *out)
{
	*out = s->stats;
	out->connections = (int)nn_get_statistic(s->sock, NN_STAT_CURRENT_CONNECTIONS);
}
