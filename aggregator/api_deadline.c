// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "api_deadline.h"
#include "log.h"
#include "sp.h" /* sp_now_ms: CLOCK_MONOTONIC in ms */

#define NO_DEADLINE UINT64_MAX
/* How often the thread looks: a quarter of the timeout, from 250 ms to 1 s. */
#define SWEEP_MIN_MS 250

struct api_deadline_conn {
	struct api_deadline_conn *prev, *next;
	int fd;
	uint64_t due_ms; /* NO_DEADLINE: shut down already */
	/*
	 * A request being handled, or a trusted answer going out: not cut, and once the answer
	 * is done (api_deadline_next, never called between answering and answered) the next
	 * request has a deadline of its own.
	 */
	bool handling;
	char peer[64];
};

struct api_deadline {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	struct api_deadline_conn *conns;
	uint32_t timeout_ms, sweep_ms;
	uint64_t cut;
	bool stop;
};

/* Under the lock: shuts down every connection past its deadline. */
static void sweep(struct api_deadline *d, uint64_t now)
{
	struct api_deadline_conn *c;
	const char *last = NULL;
	unsigned int n = 0;
	int unread, unsent;

	for (c = d->conns; c; c = c->next) {
		if (c->due_ms > now || c->handling)
			continue;
		/*
		 * Bytes the client sent that are not read yet: the wait is ours (its thread is busy
		 * answering another connection, or a handler holds it), not the client's. Cut it
		 * at a later sweep if what it sent by then is read and still not a whole request;
		 * libmicrohttpd's idle timeout still closes one it never reads. Unless an answer of
		 * ours waits in the socket for the client to read it (TIOCOUTQ, bytes not sent or
		 * not acknowledged): then the connection's thread is on it, and the wait is the
		 * client's (pipelined requests behind answers read a little at a time kept bytes
		 * unread, and a connection without a credential, for good).
		 */
		if (!ioctl(c->fd, FIONREAD, &unread) && unread > 0 &&
		    (ioctl(c->fd, TIOCOUTQ, &unsent) || unsent <= 0))
			continue;
		/* Registered, so the descriptor is still the connection's (api_deadline.h). */
		shutdown(c->fd, SHUT_RDWR);
		c->due_ms = NO_DEADLINE;
		last = c->peer;
		n++;
	}
	d->cut += n;
	if (n)
		pr_warn_ratelimited("http: closed %u connection(s) whose request was not whole "
				    "within --http-timeout %u s (the last from %s; %llu so far)",
				    n, d->timeout_ms / 1000, last, (unsigned long long)d->cut);
}

static void *run(void *arg)
{
	struct api_deadline *d = arg;
	struct timespec ts;
	uint64_t at;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		at = sp_now_ms() + d->sweep_ms;
		ts.tv_sec = (time_t)(at / 1000);
		ts.tv_nsec = (long)(at % 1000) * 1000000;
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
		if (!d->stop)
			sweep(d, sp_now_ms());
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int api_deadline_start(uint32_t timeout_ms, struct api_deadline **out)
{
	struct api_deadline *d = calloc(1, sizeof(*d));
	pthread_condattr_t attr;
	int ret;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->timeout_ms = timeout_ms;
	d->sweep_ms = timeout_ms / 4 < SWEEP_MIN_MS ? SWEEP_MIN_MS : timeout_ms / 4;
	if (d->sweep_ms > 1000)
		d->sweep_ms = 1000;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &attr);
	pthread_condattr_destroy(&attr);
	ret = pthread_create(&d->thread, NULL, run, d);
	if (ret) {
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -ret;
	}
	*out = d;
	return 0;
}

void api_deadline_stop(struct api_deadline *d)
{
	struct api_deadline_conn *c, *next;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	for (c = d->conns; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct api_deadline_conn *api_deadline_add(struct api_deadline *d, int fd, const char *peer)
{
	struct api_deadline_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	pthread_mutex_lock(&d->lock);
	c->due_ms = sp_now_ms() + d->timeout_ms;
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	pthread_mutex_unlock(&d->lock);
	return c;
}

void api_deadline_answering(struct api_deadline *d, struct api_deadline_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&d->lock);
	c->handling = true;
	pthread_mutex_unlock(&d->lock);
}

void api_deadline_answered(struct api_deadline *d, struct api_deadline_conn *c, bool trusted)
{
	if (!c)
		return;
	pthread_mutex_lock(&d->lock);
	c->handling = trusted;
	pthread_mutex_unlock(&d->lock);
}

void api_deadline_next(struct api_deadline *d, struct api_deadline_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&d->lock);
	if (c->handling && c->due_ms != NO_DEADLINE)
		c->due_ms = sp_now_ms() + d->timeout_ms;
	c->handling = false;
	pthread_mutex_unlock(&d->lock);
}

void api_deadline_remove(struct api_deadline *d, struct api_deadline_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&d->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&d->lock);
	free(c);
}

uint64_t api_deadline_cut(struct api_deadline *d)
{
	uint64_t n;

	pthread_mutex_lock(&d->lock);
	n = d->cut;
	pthread_mutex_unlock(&d->lock);
	return n;
}
