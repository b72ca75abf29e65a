// SPDX-License-Identifier: BSD-2-Clause
/*
 * sp_rep.c: see sp_rep.h. One epoll set holds the listening socket, every connection and a
 * timerfd armed for the earliest deadline, so the agent's loop polls one descriptor and never
 * blocks here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sp_rep.h"

/* Bytes read at once from one connection, and read per connection on one pass (fairness). */
#define SP_IN_CHUNK    4096
#define SP_IN_PER_PASS (64 * 1024)
/* How long accepting pauses when the process is out of descriptors or memory. */
#define SP_ACCEPT_PAUSE_MS 100
/* A message's first block; it doubles as its bytes come. */
#define SP_RX_FIRST_ALLOC 4096
#define EV_LISTEN	  UINT64_MAX
#define EV_TIMER	  (UINT64_MAX - 1)

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/*
 * Room at rx->msg for n more bytes of the body (rx->have + n <= rx->len): the block doubles
 * from SP_RX_FIRST_ALLOC, never past rx->len, so it stays within twice the bytes received.
 */
static int rx_reserve(struct sp_rx *rx, size_t n)
{
	size_t need = rx->have + n, cap = rx->cap ? rx->cap : SP_RX_FIRST_ALLOC;
	uint8_t *p;

	if (need <= rx->cap)
		return 0;
	while (cap < need)
		cap = cap > rx->len / 2 ? rx->len : cap * 2;
	if (cap > rx->len)
		cap = rx->len;
	p = realloc(rx->msg, cap);
	if (!p)
		return -ENOMEM;
	rx->msg = p;
	rx->cap = cap;
	return 0;
}

int sp_rx_feed(struct sp_rx *rx, const uint8_t *buf, size_t len, size_t *used)
{
	size_t off = 0, n;

	*used = 0;
	while (off < len) {
		if (rx->in_body) {
			n = rx->len - rx->have;
			if (n > len - off)
				n = len - off;
			if (rx_reserve(rx, n)) {
				*used = off;
				return -ENOMEM;
			}
			memcpy(rx->msg + rx->have, buf + off, n);
			rx->have += n;
			off += n;
			if (rx->have == rx->len) {
				rx->in_body = false;
				*used = off;
				return SP_RX_MSG;
			}
			continue;
		}
		/* A head byte: checked as it arrives, so junk is refused at its first bad byte. */
		rx->head[rx->got++] = buf[off++];
		if (!rx->shaken) {
			static const uint8_t want[SP_HEADER_LEN] = SP_HEADER_INIT(SP_PROTO_REQ);

			if (rx->head[rx->got - 1] != want[rx->got - 1]) {
				*used = off;
				return -EPROTO;
			}
			if (rx->got == SP_HEADER_LEN) {
				rx->shaken = true;
				rx->got = 0;
			}
			continue;
		}
		if (rx->got == 1 && rx->head[0] != 1) {
			*used = off;
			return -EPROTO;
		}
		if (rx->got < SP_MSG_HEAD_LEN)
			continue;
		rx->got = 0;
		uint64_t l = get_be64(rx->head + 1);

		if (l > rx->max) {
			*used = off;
			return -EMSGSIZE;
		}
		/* Nothing allocated yet: the body's bytes make room as they come. */
		free(rx->msg);
		rx->msg = NULL;
		rx->cap = 0;
		rx->len = (size_t)l;
		rx->have = 0;
		rx->in_body = true;
		if (!l) {
			rx->in_body = false;
			*used = off;
			return SP_RX_MSG;
		}
	}
	*used = off;
	return SP_RX_MORE;
}

void sp_rx_free(struct sp_rx *rx)
{
	size_t max = rx->max;

	free(rx->msg);
	*rx = (struct sp_rx){ .max = max };
}

int sp_req_backtrace_len(const uint8_t *msg, size_t len)
{
	for (size_t i = 0; i < SP_MAX_HOPS && (i + 1) * 4 <= len; i++)
		if (msg[i * 4] & 0x80)
			return (int)((i + 1) * 4);
	return -EPROTO;
}

struct sp_conn {
	int fd;
	uint32_t events;   /* what epoll watches for it */
	uint64_t deadline; /* ms, CLOCK_MONOTONIC */
	uint64_t seq;	   /* the order of its accept: of two equal deadlines, the older goes */
	struct sp_rx rx;
	uint8_t in[SP_IN_CHUNK];
	size_t in_off, in_len;
	uint8_t *out; /* the handshake, then a reply */
	size_t out_off, out_len;
};

struct sp_rep {
	struct sp_rep_opts o;
	sp_rep_answer_fn answer;
	void *arg;
	int lfd, epfd, tfd;
	struct sp_conn **conns; /* o.max_conns slots */
	unsigned int n;
	uint64_t dropped;
	uint64_t armed;	    /* the timerfd's deadline, 0 when disarmed */
	uint64_t accepted;  /* connections accepted so far (each one's seq) */
	uint64_t accept_at; /* out of descriptors: not accepting until then (ms), or 0 */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void conn_close(struct sp_rep *s, unsigned int i)
{
	struct sp_conn *c = s->conns[i];

	if (!c)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	sp_rx_free(&c->rx);
	free(c->out);
	free(c);
	s->conns[i] = NULL;
	s->n--;
}

/*
 * Has epoll watch connection i for events. 0, or a negative errno: the connection must then be
 * closed, as epoll would either never wake it again (a reply waiting while it watches for
 * reading) or wake it on every pass for nothing (watching for writing with nothing to write).
 */
static int conn_watch(struct sp_rep *s, unsigned int i, uint32_t events)
{
	struct sp_conn *c = s->conns[i];
	struct epoll_event ev = { .events = events, .data.u64 = i };

	if (c->events == events)
		return 0;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		int ret = -errno;

		pr_warn_ratelimited("local socket: cannot watch a connection: %s", strerror(errno));
		return ret;
	}
	c->events = events;
	return 0;
}

/* Queues the reply to the request in c->rx. 0, or a negative errno to close. */
static int conn_answer(struct sp_rep *s, struct sp_conn *c)
{
	int bt = sp_req_backtrace_len(c->rx.msg, c->rx.len);
	size_t rlen = 0;
	uint8_t *reply;

	if (bt < 0)
		return bt;
	reply = s->answer(s->arg, c->rx.msg + bt, c->rx.len - (size_t)bt, &rlen);
	if (!reply)
		return -ECONNABORTED;
	if (rlen > SIZE_MAX - SP_MSG_HEAD_LEN - (size_t)bt) {
		free(reply);
		return -EMSGSIZE;
	}
	c->out = malloc(SP_MSG_HEAD_LEN + (size_t)bt + rlen);
	if (!c->out) {
		free(reply);
		return -ENOMEM;
	}
	c->out[0] = 1;
	put_be64(c->out + 1, (uint64_t)bt + rlen);
	memcpy(c->out + SP_MSG_HEAD_LEN, c->rx.msg, (size_t)bt);
	memcpy(c->out + SP_MSG_HEAD_LEN + bt, reply, rlen);
	c->out_off = 0;
	c->out_len = SP_MSG_HEAD_LEN + (size_t)bt + rlen;
	free(reply);
	return 0;
}

/* Moves connection i on as far as it goes without blocking. 0, or a negative errno to close. */
static int conn_service(struct sp_rep *s, unsigned int i)
{
	struct sp_conn *c = s->conns[i];
	size_t read_bytes = 0, used;
	ssize_t n;
	int ret;

	for (;;) {
		if (c->out) {
			n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return conn_watch(s, i, EPOLLOUT);
			if (n < 0)
				return -errno;
			c->out_off += (size_t)n;
			if (c->out_off < c->out_len)
				continue;
			/* A reply (not the handshake) gone: the peer's time starts again. */
			if (c->rx.shaken)
				c->deadline = now_ms() + s->o.timeout_ms;
			free(c->out);
			c->out = NULL;
			ret = conn_watch(s, i, EPOLLIN);
			if (ret)
				return ret;
		}
		if (c->in_off < c->in_len) {
			ret = sp_rx_feed(&c->rx, c->in + c->in_off, c->in_len - c->in_off, &used);
			c->in_off += used;
			if (ret < 0)
				return ret;
			if (ret == SP_RX_MSG) {
				ret = conn_answer(s, c);
				if (ret)
					return ret;
			}
			continue;
		}
		if (read_bytes >= SP_IN_PER_PASS)
			return 0; /* still readable: the next pass goes on */
		n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		c->in_off = 0;
		c->in_len = (size_t)n;
		read_bytes += (size_t)n;
	}
}

/* The slot for a new connection: a free one, or the one whose deadline comes first. */
static unsigned int free_slot(struct sp_rep *s)
{
	unsigned int i, victim = 0;

	for (i = 0; i < s->o.max_conns; i++)
		if (!s->conns[i])
			return i;
	/* Deadlines are in ms, so a burst of accepts shares one: the order of accepts breaks the
	 * tie, or the connection just let in would be the next one evicted. */
	for (i = 1; i < s->o.max_conns; i++) {
		const struct sp_conn *c = s->conns[i], *v = s->conns[victim];

		if (c->deadline < v->deadline || (c->deadline == v->deadline && c->seq < v->seq))
			victim = i;
	}
	conn_close(s, victim);
	s->dropped++;
	pr_warn_ratelimited(
		"local socket: %u connections open, closed the one whose time runs out first",
		s->o.max_conns);
	return victim;
}

/*
 * accept() failed for want of descriptors or memory: the connection stays queued, so the
 * listening socket stays readable and the agent's loop would spin on it. It is left unwatched
 * until expire() watches it again, SP_ACCEPT_PAUSE_MS later.
 */
static void accept_pause(struct sp_rep *s)
{
	struct epoll_event ev = { .events = 0, .data.u64 = EV_LISTEN };

	if (s->accept_at || epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev))
		return;
	s->accept_at = now_ms() + SP_ACCEPT_PAUSE_MS;
}

static void accept_resume(struct sp_rep *s, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_LISTEN };

	if (!s->accept_at || s->accept_at > now)
		return;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev))
		s->accept_at = now + SP_ACCEPT_PAUSE_MS;
	else
		s->accept_at = 0;
}

static void accept_all(struct sp_rep *s)
{
	static const uint8_t hello[SP_HEADER_LEN] = SP_HEADER_INIT(SP_PROTO_REP);

	for (int k = 0; k < 64; k++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct sp_conn *c;
		unsigned int i;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				pr_warn_ratelimited(
					"local socket: cannot accept: %s; trying again in "
					"%d ms",
					strerror(errno), SP_ACCEPT_PAUSE_MS);
				accept_pause(s);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != ECONNABORTED && errno != EINTR) {
				pr_warn_ratelimited("local socket: cannot accept: %s",
						    strerror(errno));
			}
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->out = malloc(SP_HEADER_LEN);
		if (!c || !c->out) {
			if (c)
				free(c);
			close(fd);
			s->dropped++;
			continue;
		}
		i = free_slot(s);
		c->fd = fd;
		c->rx.max = s->o.max_msg;
		memcpy(c->out, hello, SP_HEADER_LEN);
		c->out_len = SP_HEADER_LEN;
		c->deadline = now_ms() + s->o.timeout_ms;
		c->seq = s->accepted++;
		c->events = EPOLLIN;
		ev.data.u64 = i;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			sp_rx_free(&c->rx);
			free(c->out);
			free(c);
			close(fd);
			s->dropped++;
			continue;
		}
		s->conns[i] = c;
		s->n++;
		if (conn_service(s, i))
			conn_close(s, i);
	}
}

/* Closes connections past their deadline, accepts again after a pause, and arms the timer for
 * the next of those. */
static void expire(struct sp_rep *s)
{
	uint64_t now = now_ms(), next = 0;
	struct itimerspec its = { 0 };
	unsigned int i;

	accept_resume(s, now);
	next = s->accept_at;
	for (i = 0; i < s->o.max_conns; i++) {
		struct sp_conn *c = s->conns[i];

		if (!c)
			continue;
		if (c->deadline <= now) {
			pr_debug("local socket: a connection timed out");
			conn_close(s, i);
			s->dropped++;
			continue;
		}
		if (!next || c->deadline < next)
			next = c->deadline;
	}
	if (next == s->armed)
		return;
	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000;
	}
	if (!timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		s->armed = next;
}

void sp_rep_handle(struct sp_rep *s)
{
	struct epoll_event evs[32];
	int n = epoll_wait(s->epfd, evs, 32, 0);

	for (int k = 0; k < n; k++) {
		uint64_t id = evs[k].data.u64, ticks;

		if (id == EV_LISTEN) {
			accept_all(s);
		} else if (id == EV_TIMER) {
			if (read(s->tfd, &ticks, sizeof(ticks)) < 0)
				ticks = 0;
			s->armed = 0; /* fired: a disarmed timer */
		} else if (id < s->o.max_conns && s->conns[id]) {
			int ret = conn_service(s, (unsigned int)id);

			if (ret) {
				pr_debug("local socket: closed a connection: %s", strerror(-ret));
				conn_close(s, (unsigned int)id);
			}
		}
	}
	expire(s);
}

int sp_rep_open(const char *path, const struct sp_rep_opts *opts, sp_rep_answer_fn answer,
		void *arg, struct sp_rep **out, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	bool bound = false;
	struct sp_rep *s;
	int ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "the local socket path %s is longer than %zu bytes", path,
			 sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (!opts->max_conns || !opts->timeout_ms) {
		snprintf(err, errlen, "the local socket needs a connection cap and a timeout");
		return -EINVAL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	s->answer = answer;
	s->arg = arg;
	s->lfd = s->epfd = s->tfd = -1;
	s->conns = calloc(opts->max_conns, sizeof(*s->conns));
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!s->conns || s->lfd < 0 || s->epfd < 0 || s->tfd < 0) {
		ret = s->conns ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot set up the local socket %s: %s", path,
			 strerror(-ret));
		goto fail;
	}
	bound = !bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun));
	if (!bound || listen(s->lfd, 64)) {
		ret = -errno;
		snprintf(err, errlen, "cannot bind the local control socket %s: %s", path,
			 strerror(errno));
		goto fail;
	}
	ev.data.u64 = EV_LISTEN;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev))
		goto fail_errno;
	ev.data.u64 = EV_TIMER;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev))
		goto fail_errno;
	*out = s;
	return 0;
fail_errno:
	ret = -errno;
	snprintf(err, errlen, "cannot set up the local socket %s: %s", path, strerror(errno));
fail:
	sp_rep_close(s);
	/* The file bind() made is ours (one that was there already made bind() fail). */
	if (bound)
		unlink(path);
	return ret;
}

void sp_rep_close(struct sp_rep *s)
{
	if (!s)
		return;
	for (unsigned int i = 0; s->conns && i < s->o.max_conns; i++)
		conn_close(s, i);
	free(s->conns);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	free(s);
}

int sp_rep_fd(const struct sp_rep *s)
{
	return s->epfd;
}

unsigned int sp_rep_conns(const struct sp_rep *s)
{
	return s->n;
}

uint64_t sp_rep_dropped(const struct sp_rep *s)
{
	return s->dropped;
}
