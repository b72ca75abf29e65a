// SPDX-License-Identifier: BSD-2-Clause
/*
 * loop.c: edgecap-agent's event loop, over the ring buffers, the aggregator's control and data
 * sockets, the local control socket, timers and signals; no busy polling. Captures run in the
 * engine and live in the capture table (captures.c); their records become batches for the
 * aggregator (or a pcap for local captures), and each fleet capture ends with one final message
 * carrying its stop reason and counters.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"
#include "agent_clock.h"
#include "captures.h"
#include "engine.h"
#include "fleet.h"
#include "local_ctl.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "ship.h"
#include "sigfd.h"

struct agent {
	struct agent_config cfg;
	int sigfd;
	struct engine *engine;
	struct ship *ship;
	struct captures *caps;
	struct fleet *fleet;
	struct local_ctl *local;
	/* --metrics: served from this loop, rendered from the parts above */
	struct agent_metrics_src metrics_src;
	struct metrics_http *metrics;
};

/*
 * Everything due on a pass of the loop: drain, ship aged batches, complete finished captures,
 * and dial the aggregator afresh where NNG stopped (redial.h: the loop passes at least every
 * poll interval, so a stalled link is mended within REDIAL_STALL_MS and that).
 */
static void agent_tick(struct agent *a)
{
	uint64_t now;

	engine_poll(a->engine);
	now = agent_now_ms();
	captures_tick(a->caps, now);
	ship_pump(a->ship);
	ship_tick(a->ship, now);
	fleet_tick(a->fleet, now);
}

static int loop_timeout(const struct agent *a)
{
	int timeout = captures_timeout_ms(a->caps, agent_now_ms(), engine_timeout_ms(a->engine));

	return a->metrics ? metrics_http_timeout_ms(a->metrics, timeout) : timeout;
}

int agent_run(struct agent *a)
{
	struct pollfd pfd[6];
	struct notify sd;
	int control_fd = fleet_recv_fd(a->fleet);
	int local_fd = local_ctl_recv_fd(a->local);
	bool stopping = false;

	notify_init(&sd);
	notify_ready(&sd, "capturing");

	for (;;) {
		int n = 0, timeout = loop_timeout(a);

		pfd[n++] = (struct pollfd){ .fd = a->sigfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = engine_epoll_fd(a->engine), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = control_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = local_fd, .events = POLLIN };
		if (a->metrics)
			pfd[n++] = (struct pollfd){ .fd = metrics_http_fd(a->metrics),
						    .events = POLLIN };
		/* The send side only while something waits: a writable socket is always ready. */
		if (ship_pending(a->ship))
			pfd[n++] = (struct pollfd){ .fd = ship_send_fd(a->ship), .events = POLLIN };
		timeout = notify_timeout_ms(&sd, timeout);
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return -errno;

		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(a->sigfd, &si, sizeof(si)) != sizeof(si))
				si.ssi_signo = 0;
			if (si.ssi_signo == SIGHUP) {
				agent_config_reload(&a->cfg);
			} else if (si.ssi_signo && !stopping) {
				pr_info("%s: stopping every capture", strsignal((int)si.ssi_signo));
				notify_stopping("stopping every capture");
				stopping = true;
				captures_stop_all(a->caps);
			}
		}
		if (pfd[2].revents & POLLIN)
			fleet_handle(a->fleet);
		if (pfd[3].revents & POLLIN)
			local_ctl_handle(a->local);
		/* Every pass, not only when ready: its connections time out too. */
		if (a->metrics)
			metrics_http_handle(a->metrics);
		agent_tick(a);

		notify_tick(&sd);
		if (stopping && !captures_count(a->caps))
			break;
	}
	/* Final messages get a moment to leave; anything still queued is lost with the process. */
	for (int i = 0; i < 20 && ship_pending(a->ship); i++) {
		usleep(10000);
		ship_pump(a->ship);
	}
	return 0;
}

/* The engine, attached to every configured interface. */
static int engine_open(struct agent *a)
{
	struct engine_opts eo;
	char err[512];
	unsigned int i;
	int ret;

	engine_opts_default(&eo);
	eo.ring_bytes = a->cfg.ring_bytes;
	ret = engine_new(&eo, &a->engine);
	if (ret) {
		pr_err("cannot create the capture engine: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < a->cfg.n_ifaces; i++) {
		ret = engine_add_iface(a->engine, a->cfg.ifaces[i], a->cfg.hook, a->cfg.xdp_mode,
				       err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			return ret;
		}
		pr_info("attached to %s at %s (%s) iface=%s", a->cfg.ifaces[i],
			hook_name(a->cfg.hook), engine_iface(a->engine, i)->attach_mode,
			a->cfg.ifaces[i]);
	}
	return 0;
}

/* The send queue, the capture table, the aggregator link and the local socket, in that order. */
static int links_open(struct agent *a)
{
	struct local_ctl_deps deps;
	char err[512];
	int ret;

	ret = ship_open(a->cfg.data_url, &a->cfg.tls, a->cfg.queue_bytes, &a->ship, err,
			sizeof(err));
	if (!ret) {
		ret = captures_new(&a->cfg, a->engine, a->ship, &a->caps);
		if (ret)
			snprintf(err, sizeof(err), "cannot create the capture table: %s",
				 strerror(-ret));
	}
	if (!ret)
		ret = fleet_open(&a->cfg, a->caps, a->ship, &a->fleet, err, sizeof(err));
	if (!ret) {
		deps = (struct local_ctl_deps){
			.cfg = &a->cfg, .engine = a->engine, .caps = a->caps, .fleet = a->fleet
		};
		ret = local_ctl_open(&deps, &a->local, err, sizeof(err));
	}
	if (!ret && a->cfg.metrics[0]) {
		a->metrics_src = (struct agent_metrics_src){ .cfg = &a->cfg,
							     .engine = a->engine,
							     .caps = a->caps,
							     .ship = a->ship,
							     .fleet = a->fleet };
		ret = metrics_http_open(a->cfg.metrics, agent_metrics_render, &a->metrics_src,
					&a->metrics, err, sizeof(err));
		if (!ret)
			pr_info("metrics on http://%s/metrics", metrics_http_where(a->metrics));
	}
	if (ret)
		pr_err("%s", err);
	return ret;
}

int agent_open(const struct agent_config *cfg, struct agent **out)
{
	/* SIGHUP re-reads the settings that can change (agent_config_reload); it never stops. */
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
	struct agent *a = calloc(1, sizeof(*a));
	int ret;

	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	/* A peer that goes away must not end the process: its write fails instead. */
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = sigfd_open(signals, sizeof(signals) / sizeof(signals[0]));
	if (a->sigfd < 0) {
		ret = a->sigfd;
		pr_err("cannot set up signal handling: %s", strerror(-ret));
		goto fail;
	}
	ret = engine_open(a);
	if (!ret)
		ret = links_open(a);
	if (ret)
		goto fail;
	pr_info("host %s in colo %s, aggregator %s / %s host=%s", a->cfg.host_id,
		a->cfg.colo[0] ? a->cfg.colo : "(none)", a->cfg.control_url, a->cfg.data_url,
		a->cfg.host_id);
	*out = a;
	return 0;
fail:
	agent_close(a);
	return ret;
}

void agent_close(struct agent *a)
{
	if (!a)
		return;
	/* Captures still running complete first: their final messages and pcaps. */
	captures_free(a->caps);
	/* Their threads and requests read the engine: they stop before it goes. */
	metrics_http_close(a->metrics);
	local_ctl_close(a->local);
	/* Off the interfaces before the links close, so that an exit on a hung close (sp_close)
	 * has nothing left to detach. */
	engine_free(a->engine);
	fleet_close(a->fleet);
	ship_close(a->ship);
	if (a->sigfd >= 0)
		close(a->sigfd);
	free(a);
}
