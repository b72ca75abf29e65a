// SPDX-License-Identifier: BSD-2-Clause
/*
 * main.c: edgecap-agent's main(). Everything else is the edgecap_agent library: the lifecycle is
 * agent.h's, the settings agent_config.h's.
 */
#include "agent.h"
#include "agent_config.h"
#include "caps.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct agent *a;
	int ret;

	log_set_ident("edgecap-agent");
	log_route_libbpf();
	/* Parse the flags and the config file: exit 0 after --help, 2 on a bad setting. */
	ret = agent_config_parse(argc, argv, &cfg);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (cfg.verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	/* Capabilities: a missing one is named here, not later as a verifier or attach error. */
	if (caps_check_capture("run as root or grant it (AmbientCapabilities= in the unit)"))
		return 1;
	/* Open: signals, the engine on every interface, the sockets (it logs what failed). */
	if (agent_open(&cfg, &a))
		return 1;
	/* Run the event loop until SIGINT/SIGTERM has stopped and completed every capture. */
	ret = agent_run(a);
	/* Close: complete what still runs, detach from the interfaces, close the sockets. */
	agent_close(a);
	return ret ? 1 : 0;
}
