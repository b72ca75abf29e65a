// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "relisten.h"
#include "sp.h"
#include "sp_header.h"

struct relisten {
	nng_socket sock;
	nng_listener l;
	bool listening; /* l is a started listener (a restart whose bind failed leaves none) */
	char *name, *url;
	bool ipc; /* only ipc:// listeners are probed: the others are not affected */
	struct sockaddr_un addr;
	uint8_t hello[SP_HEADER_LEN];  /* the header a peer of the socket sends */
	uint8_t expect[SP_HEADER_LEN]; /* the header the listener must answer with */
	/* The probe in flight: fd is -1 when there is none. */
	int fd;
	bool connected;
	size_t sent, got;
	uint8_t reply[SP_HEADER_LEN];
	bool answered;		 /* the listener's header came and is right */
	uint64_t added_at_start; /* added when the probe started */
	uint64_t deadline_ms, next_ms;
	/* The socket's connections (NNG's pipe callbacks, on its threads). */
	struct sp_pipes pipes;
	uint64_t restarts, probes_ok;
};

/* Reads what the probe needs from s and url: the path, and the protocols of both ends. */
static int probe_setup(struct relisten *r, char *err, size_t errlen)
{
	const char *path = r->url + strlen("ipc://");
	int self, peer, rv;

	if (strlen(path) >= sizeof(r->addr.sun_path)) {
		snprintf(err, errlen,
			 "cannot listen at %s: the path is longer than a Unix socket's", r->url);
		return -ENAMETOOLONG;
	}
	r->addr.sun_family = AF_UNIX;
	memcpy(r->addr.sun_path, path, strlen(path) + 1);
	rv = nng_socket_get_int(r->sock, NNG_OPT_PROTO, &self);
	if (!rv)
		rv = nng_socket_get_int(r->sock, NNG_OPT_PEER, &peer);
	if (rv) {
		snprintf(err, errlen, "cannot read the protocols of the socket at %s: %s", r->url,
			 nng_strerror(rv));
		return sp_errno(rv);
	}
	sp_header(r->hello, (uint16_t)peer);
	sp_header(r->expect, (uint16_t)self);
	return 0;
}

int relisten_open(nng_socket s, const char *name, const char *url, const struct tls_opts *o,
		  struct relisten **out, char *err, size_t errlen)
{
	struct relisten *r = calloc(1, sizeof(*r));
	int ret;

	if (r)
		r->fd = -1;
	if (!r || !(r->url = strdup(url)) || !(r->name = strdup(name))) {
		relisten_free(r);
		snprintf(err, errlen, "cannot listen at %s: %s", url, strerror(ENOMEM));
		return -ENOMEM;
	}
	r->sock = s;
	r->ipc = !strncmp(url, "ipc://", 6);
	if (r->ipc) {
		ret = probe_setup(r, err, errlen);
		if (ret)
			goto fail;
		ret = sp_pipes_track(s, &r->pipes);
		if (ret) {
			snprintf(err, errlen, "cannot watch the socket of %s: %s", url,
				 strerror(-ret));
			goto fail;
		}
	}
	ret = tls_listen(s, url, o, &r->l, err, errlen);
	if (ret) {
		/* No listener, so no connection called back; none will once this is undone. */
		if (r->ipc) {
			nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, NULL, NULL);
			nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, NULL, NULL);
		}
		goto fail;
	}
	r->listening = true;
	r->next_ms = sp_now_ms() + RELISTEN_PROBE_EVERY_MS;
	*out = r;
	return 0;
fail:
	relisten_free(r);
	return ret;
}

static void probe_end(struct relisten *r, uint64_t now_ms)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->next_ms = now_ms + RELISTEN_PROBE_EVERY_MS;
}

void relisten_free(struct relisten *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->name);
	free(r->url);
	free(r);
}

static int probe_start(struct relisten *r, uint64_t now_ms)
{
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return -errno;
	r->connected = false;
	r->answered = false;
	r->sent = 0;
	r->got = 0;
	r->added_at_start = sp_pipes_added(&r->pipes);
	r->deadline_ms = now_ms + RELISTEN_PROBE_TIMEOUT_MS;
	return 0;
}

/*
 * Advances the probe as far as it goes without waiting: 1 when the listener answered with the
 * right header and the socket took a connection since the probe started, 0 while that may still
 * come, a negative errno when it will not (-EPROTO: not our protocol's header).
 */
static int probe_step(struct relisten *r)
{
	ssize_t n;

	if (!r->connected) {
		/* A full backlog (EAGAIN) leaves the socket unconnected: tried again next time. */
		if (connect(r->fd, (const struct sockaddr *)&r->addr, sizeof(r->addr)) &&
		    errno != EISCONN)
			return errno == EAGAIN ? 0 : -errno;
		r->connected = true;
	}
	/* Ours first, all of it: see relisten.h for why it must be there before we close. */
	while (r->sent < SP_HEADER_LEN) {
		n = send(r->fd, r->hello + r->sent, SP_HEADER_LEN - r->sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		r->sent += (size_t)n;
	}
	while (r->got < SP_HEADER_LEN) {
		n = recv(r->fd, r->reply + r->got, SP_HEADER_LEN - r->got, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		r->got += (size_t)n;
	}
	if (!r->answered && memcmp(r->reply, r->expect, SP_HEADER_LEN))
		return -EPROTO;
	r->answered = true;
	/*
	 * The header alone proves nothing: a deaf listener's transport still accepts and answers,
	 * and only the hand-over to the socket is gone. So the socket must take a connection.
	 */
	return sp_pipes_added(&r->pipes) > r->added_at_start;
}

/* Closes the listener that did not answer (why) and starts a fresh one on the same URL. */
static int restart(struct relisten *r, const char *why)
{
	static const struct tls_opts no_tls;
	char err[PATH_MAX + 512], flag[64];
	int ret;

	/* A fresh socket file is not made in a directory that others may now write to. */
	snprintf(flag, sizeof(flag), "--%s", r->name);
	ret = tls_check_url(flag, r->url, &no_tls, err, sizeof(err));
	if (!ret) {
		if (r->listening)
			nng_listener_close(r->l);
		r->listening = false;
		ret = tls_listen(r->sock, r->url, NULL, &r->l, err, sizeof(err));
	}
	if (ret) {
		pr_err_ratelimited("the %s listener at %s %s, and it cannot be started afresh: %s; "
				   "trying again in %d s",
				   r->name, r->url, why, err, RELISTEN_PROBE_EVERY_MS / 1000);
		return ret;
	}
	r->listening = true;
	r->restarts++;
	pr_warn_ratelimited("the %s listener at %s %s: listening afresh; its connections were "
			    "dropped and their agents redial (%llu restart(s) so far)",
			    r->name, r->url, why, (unsigned long long)r->restarts);
	return 1;
}

int relisten_tick(struct relisten *r, uint64_t now_ms)
{
	char why[192];
	int ret;

	if (!r->ipc)
		return 0;
	if (r->fd < 0) {
		if (now_ms < r->next_ms)
			return 0;
		/* The last restart could not bind: nothing to probe, try it again. */
		if (!r->listening) {
			r->next_ms = now_ms + RELISTEN_PROBE_EVERY_MS;
			return restart(r, "was not listening");
		}
		ret = probe_start(r, now_ms);
		if (ret) {
			/* No descriptor to probe with (EMFILE) says nothing of the listener. */
			pr_warn_ratelimited("cannot probe the %s listener at %s: %s", r->name,
					    r->url, strerror(-ret));
			r->next_ms = now_ms + RELISTEN_PROBE_EVERY_MS;
			return 0;
		}
	}
	/* Read before the deadline is looked at: a loop that came back late still sees it. */
	ret = probe_step(r);
	if (!ret && now_ms < r->deadline_ms)
		return 0;
	probe_end(r, now_ms);
	if (ret == 1) {
		r->probes_ok++;
		return 0;
	}
	if (!ret && r->answered)
		snprintf(why, sizeof(why),
			 "answered but handed no connection to its socket within %d s (NNG "
			 "1.5.2 stops accepting after a peer closes mid-handshake, nng #1518)",
			 RELISTEN_PROBE_TIMEOUT_MS / 1000);
	else if (!ret)
		snprintf(why, sizeof(why), "sent no SP header within %d s",
			 RELISTEN_PROBE_TIMEOUT_MS / 1000);
	else if (ret == -EPROTO)
		snprintf(why, sizeof(why), "answered with a header not of its protocol");
	else
		snprintf(why, sizeof(why), "could not be reached (%s)", strerror(-ret));
	return restart(r, why);
}

uint64_t relisten_restarts(const struct relisten *r)
{
	return r->restarts;
}

uint64_t relisten_probes_ok(const struct relisten *r)
{
	return r->probes_ok;
}

nng_listener relisten_listener(const struct relisten *r)
{
	return r->l;
}
