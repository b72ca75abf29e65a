// SPDX-License-Identifier: BSD-2-Clause
/*
 * main.c: edgecap-aggregator. Two threads: libmicrohttpd's, serving the API (api.c), and this
 * one, which runs the loop below: the store's lifecycle timer (store_tick), SIGINT/SIGTERM
 * (stop) and SIGHUP (re-read the credentials file) through a signalfd, and the capture
 * lifecycle's NNG sockets (lifecycle.c: fan-out and ingest). The two threads share the store
 * (store.c) and the API's credentials (credentials.c), each with its own mutex.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "credentials.h"
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

/*
 * SIGHUP: the credentials file again. Everything else was read at start and stays: the design's
 * "SIGHUP re-reads what can change safely and says what it ignored".
 */
static void reload(struct credentials *creds)
{
	char err[PATH_MAX + 512];
	size_t n = 0;

	if (credentials_reload(creds, &n, err, sizeof(err))) {
		pr_err("SIGHUP: keeping the credentials loaded before: cannot reload --credentials "
		       "%s",
		       err);
		return;
	}
	if (!n)
		pr_warn("SIGHUP: reloaded --credentials %s: it has no credential, every API "
			"request is now refused (401)",
			credentials_path(creds));
	else
		pr_info("SIGHUP: reloaded --credentials %s: %zu credential%s",
			credentials_path(creds), n, n == 1 ? "" : "s");
	pr_info("SIGHUP: other settings are read at start only (restart to change them)");
}

static int run(struct store *store, struct lifecycle *lc, struct credentials *creds, int sfd)
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
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				reload(creds);
				continue;
			}
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
	const char *dest_roots[AGG_MAX_DEST_ROOTS];
	struct api_opts aopts = { 0 };
	struct lifecycle lc = { 0 };
	struct credentials *creds = NULL;
	struct store *store = NULL;
	struct agg_config cfg;
	struct api *api = NULL;
	char err[PATH_MAX + 4352], where[128];
	int ret, sfd = -1, status = 1;

	log_set_ident("edgecap-aggregator");
	ret = agg_config_parse(argc, argv, &cfg);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (cfg.verbose)
		log_set_level(LOG_LEVEL_DEBUG);

	/* Nobody uses the API without a credential: no file, no service. */
	if (!cfg.credentials[0]) {
		pr_err("no --credentials FILE: the API accepts only requests with a credential. "
		       "Make one with `edgecapctl credential ACCOUNT_ID`, append the second line "
		       "it prints to a file of mode 0600, and start with --credentials FILE");
		return 2;
	}
	ret = credentials_open(cfg.credentials, &creds, err, sizeof(err));
	if (ret) {
		pr_err("--credentials %s", err);
		return 2;
	}
	if (!credentials_count(creds))
		pr_warn("--credentials %s: no credential in it: every API request will be refused "
			"(401) until one is added and SIGHUP sent",
			cfg.credentials);

	/*
	 * SIGINT, SIGTERM and SIGHUP as a descriptor, before any thread exists (libmicrohttpd's):
	 * every thread started later has them blocked too and only the signalfd sees them.
	 */
	sfd = sigfd_open((const int[]){ SIGINT, SIGTERM, SIGHUP }, 3);
	if (sfd < 0) {
		pr_err("failed to set up signal handling: %s", strerror(-sfd));
		goto out;
	}
	/* A client that goes away mid-download must not end the process. */
	signal(SIGPIPE, SIG_IGN);

	sopts.state_dir = cfg.state_dir;
	sopts.n_dest_roots = agg_dest_roots(&cfg, dest_roots);
	sopts.dest_roots = dest_roots;
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
	aopts.credentials = creds;
	ret = api_start(store, &aopts, &api, err, sizeof(err));
	if (ret) {
		pr_err("failed to serve the API on %s: %s", cfg.http, err);
		goto out;
	}
	/* The line tests and operators read the port from (port 0 picks one). */
	agg_format_listen(&cfg.http_addr, api_port(api), where, sizeof(where));
	pr_info("listening on http://%s, state in %s%s", where, cfg.state_dir,
		cfg.no_agents ? ", no agents (--no-agents: captures end with empty pcaps)" : "");

	ret = run(store, &lc, creds, sfd);
	status = ret ? 1 : 0;
out:
	api_stop(api);
	lifecycle_close(&lc);
	store_close(store);
	credentials_close(creds);
	if (sfd >= 0)
		close(sfd);
	return status;
}
