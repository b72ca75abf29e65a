// SPDX-License-Identifier: BSD-2-Clause
/*
 * main.c: edgecap-aggregator. Two threads: libmicrohttpd's, serving the API (api.c), and this
 * one, which runs the loop below: the store's lifecycle timer (store_tick), SIGINT/SIGTERM
 * through a signalfd, and the capture lifecycle's nanomsg sockets (lifecycle.c: fan-out and
 * ingest). The store (store.c) is the only thing the two threads share, and it has its own
 * mutex.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "sigfd.h"
#include "store.h"

/* Longest the loop sleeps without a deadline: a bound on any clock surprise. */
#define LOOP_MAX_SLEEP_MS 1000
#define MAX_POLL_FDS	  16

static int poll_timeout_ms(uint64_t next_us, uint64_t now_us)
{
	uint64_t ms;

	if (next_us <= now_us)
		return 0;
	ms = (next_us - now_us + 999) / 1000;
	return ms > LOOP_MAX_SLEEP_MS ? LOOP_MAX_SLEEP_MS : (int)ms;
}

static int run(struct store *store, struct lifecycle *lc, int sfd)
{
	const struct capture_ops *ops = lifecycle_ops(lc);
	void *ops_ctx = lifecycle_ops_ctx(lc);
	struct pollfd fds[MAX_POLL_FDS];
	struct signalfd_siginfo si;
	uint64_t now, next = 0;
	int n, extra, ret, timeout;

	for (;;) {
		now = store_now_us();
		if (store_tick(store, now, ops, ops_ctx, &next))
			next = now + 100 * 1000; /* out of memory: try again soon */

		fds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = store_wake_fd(store), .events = POLLIN };
		extra = lifecycle_poll_fds(lc, fds + 2, MAX_POLL_FDS - 2);
		timeout = poll_timeout_ms(next, store_now_us());
		if (lifecycle_timeout_ms(lc, store_now_us()) < timeout)
			timeout = lifecycle_timeout_ms(lc, store_now_us());
		n = poll(fds, (nfds_t)(2 + extra), timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			pr_err("poll failed: %s", strerror(errno));
			return ret;
		}
		if (fds[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				pr_info("%s: shutting down", strsignal((int)si.ssi_signo));
			return 0;
		}
		/* The wake-up eventfd is drained by store_tick at the top of the loop. */
		ret = lifecycle_handle(lc, store_now_us());
		if (ret)
			return ret;
	}
}

int main(int argc, char **argv)
{
	struct store_opts sopts = { 0 };
	struct api_opts aopts = { 0 };
	struct lifecycle lc = { 0 };
	struct store *store = NULL;
	struct agg_config cfg;
	struct api *api = NULL;
	char err[4352], where[128];
	int ret, sfd = -1, status = 1;

	log_set_ident("edgecap-aggregator");
	ret = agg_config_parse(argc, argv, &cfg);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (cfg.verbose)
		log_set_level(LOG_LEVEL_DEBUG);

	/*
	 * SIGINT and SIGTERM as a descriptor, before any thread exists (libmicrohttpd's): every
	 * thread started later has them blocked too and only the signalfd sees them.
	 */
	sfd = sigfd_open((const int[]){ SIGINT, SIGTERM }, 2);
	if (sfd < 0) {
		pr_err("failed to set up signal handling: %s", strerror(-sfd));
		goto out;
	}
	/* A client that goes away mid-download must not end the process. */
	signal(SIGPIPE, SIG_IGN);

	sopts.state_dir = cfg.state_dir;
	sopts.simple_interval_s = cfg.simple_interval_s;
	sopts.max_full = cfg.max_full;
	sopts.grace_s = cfg.grace_s;
	ret = store_open(&sopts, &store, err, sizeof(err));
	if (ret) {
		pr_err("failed to open the state directory %s: %s", cfg.state_dir, err);
		goto out;
	}
	ret = lifecycle_init(&lc, &cfg, store, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		goto out;
	}

	aopts.addr = (const struct sockaddr *)&cfg.http_addr;
	aopts.addrlen = cfg.http_addrlen;
	aopts.max_body = cfg.max_body;
	ret = api_start(store, &aopts, &api, err, sizeof(err));
	if (ret) {
		pr_err("failed to serve the API on %s: %s", cfg.http, err);
		goto out;
	}
	/* The line tests and operators read the port from (port 0 picks one). */
	agg_format_listen(&cfg.http_addr, api_port(api), where, sizeof(where));
	pr_info("listening on http://%s, state in %s%s", where, cfg.state_dir,
		cfg.no_agents ? ", no agents (--no-agents: captures end with empty pcaps)" : "");

	ret = run(store, &lc, sfd);
	status = ret ? 1 : 0;
out:
	api_stop(api);
	lifecycle_close(&lc);
	store_close(store);
	if (sfd >= 0)
		close(sfd);
	return status;
}
