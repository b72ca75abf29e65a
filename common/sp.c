// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <time.h>

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
