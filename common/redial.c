// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redial.h"
#include "sp.h"

struct redial {
	nng_socket sock;
	nng_dialer dialer;
	char *url;
	nng_tls_config *tls; /* NULL for ipc:// and tcp:// */
	struct sp_pipes pipes;
	uint64_t started_ms; /* when the current dialer started */
	uint64_t replaced;
	bool warned; /* this stretch without a connection was logged */
};

int redial_open(nng_socket s, const char *url, const struct tls_opts *o, struct redial **out,
		char *err, size_t errlen)
{
	struct redial *r = calloc(1, sizeof(*r));
	int ret;

	if (!r || !(r->url = strdup(url))) {
		free(r);
		snprintf(err, errlen, "cannot dial %s: %s", url, strerror(ENOMEM));
		return -ENOMEM;
	}
	r->sock = s;
	ret = sp_pipes_track(s, &r->pipes);
	if (ret) {
		snprintf(err, errlen, "cannot watch the socket of %s: %s", url, strerror(-ret));
		goto fail;
	}
	/* Read once: every fresh dialer gets the same settings, even if the files changed. */
	ret = tls_dial_config(url, o, &r->tls, err, errlen);
	if (!ret)
		ret = tls_dial_start(s, url, r->tls, &r->dialer, err, errlen);
	if (ret)
		goto fail;
	r->started_ms = sp_now_ms();
	*out = r;
	return 0;
fail:
	/* No dialer was left on s, so no connection can call back into r. */
	redial_free(r);
	return ret;
}

void redial_free(struct redial *r)
{
	if (!r)
		return;
	if (r->tls)
		nng_tls_config_free(r->tls);
	free(r->url);
	free(r);
}

int redial_connections(const struct redial *r)
{
	return sp_pipes_count(&r->pipes);
}

int redial_tick(struct redial *r, uint64_t now_ms)
{
	uint64_t since = r->started_ms, lost;
	char err[512];
	int ret;

	if (sp_pipes_count(&r->pipes) > 0) {
		r->warned = false;
		return 0;
	}
	/* Read after the count: a connection lost in between is then counted from its loss. */
	lost = sp_pipes_lost_ms(&r->pipes);
	if (lost > since)
		since = lost;
	if (now_ms < since + REDIAL_STALL_MS)
		return 0;
	/*
	 * NNG may have given up on this dialer, or is still trying: either way a fresh one dials
	 * now. A connection that came up since the check above goes with the old dialer; the
	 * fresh one makes another.
	 */
	nng_dialer_close(r->dialer);
	r->started_ms = now_ms;
	ret = tls_dial_start(r->sock, r->url, r->tls, &r->dialer, err, sizeof(err));
	if (ret) {
		pr_warn_ratelimited("%s", err);
		return ret;
	}
	r->replaced++;
	if (!r->warned)
		pr_warn("no connection to %s for %d s: dialling it afresh, every %d s until one "
			"comes up",
			r->url, REDIAL_STALL_MS / 1000, REDIAL_STALL_MS / 1000);
	r->warned = true;
	return 1;
}

uint64_t redial_replaced(const struct redial *r)
{
	return r->replaced;
}

nng_dialer redial_dialer(const struct redial *r)
{
	return r->dialer;
}
