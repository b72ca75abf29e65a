/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * agent_fixture.h: the parts of an agent that run without the kernel, wired as loop.c wires
 * them: an engine with no interface (so captures_start fails at the engine, after every check
 * of its own), the send queue, the capture table, the aggregator link and the local socket, all
 * on ipc:// sockets in a temporary directory. The aggregator's control end, when a test wants
 * one, is bound before the fleet link dials it.
 */
#ifndef EDGECAP_TEST_AGENT_FIXTURE_H
#define EDGECAP_TEST_AGENT_FIXTURE_H

#include <nng/nng.h>
#include <nng/protocol/survey0/survey.h>

#include "agent_config.h"
#include "captures.h"
#include "engine.h"
#include "fleet.h"
#include "local_ctl.h"
#include "sp_peer.h"
#include "ship.h"

struct agent_fixture {
	char dir[64];
	struct agent_config cfg;
	struct engine *engine;
	struct ship *ship;
	struct captures *caps;
	struct fleet *fleet;
	struct local_ctl *local;
	struct peer surveyor; /* the aggregator's end of the control socket, when open */
};

/* Sets fx up for host "edge-test-01" in colo; with_surveyor binds the control end first. */
static inline int fixture_open(struct agent_fixture *fx, const char *colo, int with_surveyor,
			       char *err, size_t errlen)
{
	struct engine_opts eo;
	struct local_ctl_deps deps;
	int ret;

	*fx = (struct agent_fixture){ 0 };
	peer_tmpdir(fx->dir, sizeof(fx->dir));
	if (!fx->dir[0]) {
		snprintf(err, errlen, "no temporary directory");
		return -1;
	}
	agent_config_defaults(&fx->cfg);
	snprintf(fx->cfg.host_id, sizeof(fx->cfg.host_id), "edge-test-01");
	snprintf(fx->cfg.colo, sizeof(fx->cfg.colo), "%s", colo);
	snprintf(fx->cfg.local_socket, sizeof(fx->cfg.local_socket), "%s/agent.sock", fx->dir);
	snprintf(fx->cfg.output_dir, sizeof(fx->cfg.output_dir), "%s", fx->dir);
	snprintf(fx->cfg.control_url, sizeof(fx->cfg.control_url), "ipc://%s/control.sock",
		 fx->dir);
	snprintf(fx->cfg.data_url, sizeof(fx->cfg.data_url), "ipc://%s/data.sock", fx->dir);
	if (with_surveyor) {
		if (peer_bind(&fx->surveyor, nng_surveyor0_open, fx->dir, "control.sock",
			      fx->cfg.control_url, sizeof(fx->cfg.control_url))) {
			snprintf(err, errlen, "cannot bind the surveyor");
			return -1;
		}
		nng_socket_set_ms(fx->surveyor.sock, NNG_OPT_SURVEYOR_SURVEYTIME, 2000);
	}
	engine_opts_default(&eo);
	ret = engine_new(&eo, &fx->engine);
	if (!ret)
		ret = ship_open(fx->cfg.data_url, NULL, 1 << 20, &fx->ship, err, errlen);
	if (!ret)
		ret = captures_new(&fx->cfg, fx->engine, fx->ship, &fx->caps);
	if (!ret)
		ret = fleet_open(&fx->cfg, fx->caps, fx->ship, &fx->fleet, err, errlen);
	if (!ret) {
		deps = (struct local_ctl_deps){
			.cfg = &fx->cfg, .engine = fx->engine, .caps = fx->caps, .fleet = fx->fleet
		};
		ret = local_ctl_open(&deps, &fx->local, err, errlen);
	}
	return ret;
}

/* Opens the local socket again with what fx->cfg says now (its bounds changed by a test). */
static inline int fixture_reopen_local(struct agent_fixture *fx, char *err, size_t errlen)
{
	struct local_ctl_deps deps = {
		.cfg = &fx->cfg, .engine = fx->engine, .caps = fx->caps, .fleet = fx->fleet
	};

	local_ctl_close(fx->local);
	fx->local = NULL;
	return local_ctl_open(&deps, &fx->local, err, errlen);
}

static inline void fixture_close(struct agent_fixture *fx)
{
	captures_free(fx->caps);
	local_ctl_close(fx->local);
	fleet_close(fx->fleet);
	ship_close(fx->ship);
	engine_free(fx->engine);
	peer_close(&fx->surveyor);
	peer_tmpdir_remove(fx->dir);
}

#endif /* EDGECAP_TEST_AGENT_FIXTURE_H */
