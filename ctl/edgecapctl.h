/* SPDX-License-Identifier: BSD-2-Clause */
/* edgecapctl.h: the debug CLI's subcommands and its exit codes (DESIGN.md). */
#ifndef EDGECAP_EDGECAPCTL_H
#define EDGECAP_EDGECAPCTL_H

#include <stdbool.h>

enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1, /* runtime failure */
	EXIT_USAGE = 2,	  /* bad usage or invalid request */
};

int capture_cmd_main(int argc, char **argv);
/* status, list, start, stop against the agent on this host; argv[0] is the command. */
int agent_cmd_main(int argc, char **argv);
/*
 * Whether status, list and stop go to the aggregator: --aggregator URL among the command's
 * arguments, or else EDGECAP_AGGREGATOR set and no --socket PATH. The one place that decides.
 */
bool ctl_wants_aggregator(int argc, char **argv);
/*
 * collect, download, status, list, stop against the aggregator's HTTP API (aggregator_cmd.c);
 * argv[0] is the command.
 */
int aggregator_cmd_main(int argc, char **argv);
/* credential: a new API credential, its secret and its line for the credentials file. */
int credential_cmd_main(int argc, char **argv);

#endif /* EDGECAP_EDGECAPCTL_H */
