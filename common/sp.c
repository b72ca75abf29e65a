// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sp.h"

int sp_errno(int e)
{
	/* NNG passes a system error through with NNG_ESYSERR set. */
	if (e & NNG_ESYSERR)
		return -(e & ~NNG_ESYSERR);
	switch (e) {
	case 0:
		return 0;
	case NNG_EINTR:
		return -EINTR;
	case NNG_ENOMEM:
		return -ENOMEM;
	case NNG_EINVAL:
		return -EINVAL;
	case NNG_EBUSY:
		return -EBUSY;
	case NNG_ETIMEDOUT:
		return -ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return -ECONNREFUSED;
	case NNG_ECLOSED:
		return -EBADF;
	case NNG_EAGAIN:
		return -EAGAIN;
	case NNG_ENOTSUP:
		return -EOPNOTSUPP;
	case NNG_EADDRINUSE:
		return -EADDRINUSE;
	case NNG_ESTATE:
		return -EBADFD;
	case NNG_ENOENT:
		return -ENOENT;
	case NNG_EPROTO:
		return -EPROTO;
	case NNG_EUNREACHABLE:
		return -EHOSTUNREACH;
	case NNG_EADDRINVAL:
		return -EADDRNOTAVAIL;
	case NNG_EPERM:
		return -EPERM;
	case NNG_EMSGSIZE:
		return -EMSGSIZE;
	case NNG_ECONNABORTED:
		return -ECONNABORTED;
	case NNG_ECONNRESET:
		return -ECONNRESET;
	case NNG_ECANCELED:
		return -ECANCELED;
	case NNG_ENOFILES:
		return -EMFILE;
	case NNG_ENOSPC:
		return -ENOSPC;
	case NNG_EEXIST:
		return -EEXIST;
	case NNG_EREADONLY:
	case NNG_EWRITEONLY:
		return -EACCES;
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return -EKEYREJECTED;
	case NNG_ENOARG:
	case NNG_EAMBIGUOUS:
	case NNG_EBADTYPE:
		return -EINVAL;
	case NNG_ECONNSHUT:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

int sp_fd(nng_socket s, const char *opt)
{
	int fd = -1;

	if (nng_socket_get_int(s, opt, &fd))
		return -1;
	return fd;
}

uint64_t sp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct sp_pipes *pipes = arg;

	(void)p;
	/* Counted once added: a survey or a push goes only to pipes that are. */
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&pipes->added, 1);
		atomic_fetch_add(&pipes->n, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_store(&pipes->lost_ms, sp_now_ms());
		atomic_fetch_sub(&pipes->n, 1);
	}
}

int sp_pipes_track(nng_socket s, struct sp_pipes *p)
{
	int ret;

	atomic_init(&p->n, 0);
	atomic_init(&p->lost_ms, 0);
	atomic_init(&p->added, 0);
	ret = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, pipe_event, p);
	if (!ret)
		ret = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_event, p);
	return sp_errno(ret);
}

int sp_pipes_count(const struct sp_pipes *p)
{
	int n = atomic_load((atomic_int *)&p->n);

	return n > 0 ? n : 0;
}

uint64_t sp_pipes_lost_ms(const struct sp_pipes *p)
{
	return atomic_load((atomic_uint_least64_t *)&p->lost_ms);
}

uint64_t sp_pipes_added(const struct sp_pipes *p)
{
	return atomic_load((atomic_uint_least64_t *)&p->added);
}

/* --- closing ------------------------------------------------------------------------------ */

/* Messages read and dropped before a close: more than any receive queue of ours holds. */
#define SP_CLOSE_DRAIN_MAX 100000

void sp_drain(nng_socket s)
{
	nng_msg *m;
	size_t i;

	/* A PUSH socket reads nothing: its first receive fails at once. */
	for (i = 0; i < SP_CLOSE_DRAIN_MAX && !nng_recvmsg(s, &m, NNG_FLAG_NONBLOCK); i++)
		nng_msg_free(m);
}

struct close_watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	const char *what;
	unsigned int timeout_ms;
	int status;
};

static void *close_watch_run(void *arg)
{
	struct close_watch *w = arg;
	struct timespec until;
	int ret = 0, fl;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += w->timeout_ms / 1000;
	until.tv_nsec += (long)(w->timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->done && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&w->cv, &w->mu, &until);
	if (!w->done) {
		/* Said without waiting: a stderr nobody reads must not hold the exit. */
		fl = fcntl(STDERR_FILENO, F_GETFL);
		if (fl >= 0)
			fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK);
		pr_err("closing %s: NNG has not closed the socket in %u ms (NNG 1.5.2's hang on "
		       "close, nng #1543); exiting now, with everything else done",
		       w->what, w->timeout_ms);
		_exit(w->status);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

void sp_close_within(nng_socket s, const char *what, unsigned int timeout_ms, int status)
{
	struct close_watch w = { .what = what, .timeout_ms = timeout_ms, .status = status };
	pthread_condattr_t ca;
	pthread_t t;
	bool watched;

	pthread_mutex_init(&w.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Without a watcher (no thread to be had) the close goes on unbounded, as NNG's own. */
	watched = !pthread_create(&t, NULL, close_watch_run, &w);
	/*
	 * What came in and was not read goes first: the hangs seen in test_fanout all came with a
	 * message still queued on the socket being closed, and none came in 36 runs once the test
	 * read its queue before closing.
	 */
	sp_drain(s);
	nng_close(s);
	if (watched) {
		pthread_mutex_lock(&w.mu);
		w.done = true;
		pthread_cond_signal(&w.cv);
		pthread_mutex_unlock(&w.mu);
		pthread_join(t, NULL);
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
}

void sp_close(nng_socket s, const char *what)
{
	sp_close_within(s, what, SP_CLOSE_TIMEOUT_MS, 1);
}
