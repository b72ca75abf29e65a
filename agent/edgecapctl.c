// SPDX-License-Identifier: BSD-2-Clause
/* edgecapctl: edgecap's debug CLI. Dispatches to one subcommand per verb. */
#include <stdio.h>
#include <string.h>

#include "edgecapctl.h"
#include "log.h"

static const char usage[] =
	"usage: edgecapctl COMMAND [options]\n"
	"\n"
	"Commands:\n"
	"  capture    capture on this host's interfaces, in the kernel, into a pcap (no daemon)\n"
	"  status     the local agent: interfaces, captures with live counters, aggregator link\n"
	"  list       the local agent's running captures\n"
	"  start      a capture by the local agent into a pcap on this host\n"
	"  stop       stop a capture on the local agent\n"
	"\n"
	"Run `edgecapctl COMMAND --help` for a command's options and examples.\n"
	"\n"
	"Example:\n"
	"  edgecapctl capture -i eth0 --dst-port 443 --packet-limit 1000 -w https.pcap\n";

int main(int argc, char **argv)
{
	log_set_ident("edgecapctl");
	log_route_libbpf();
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "capture"))
		return capture_cmd_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status") || !strcmp(argv[1], "list") || !strcmp(argv[1], "start") ||
	    !strcmp(argv[1], "stop"))
		return agent_cmd_main(argc - 1, argv + 1);
	pr_err("unknown command \"%s\" (try `edgecapctl --help`)", argv[1]);
	return EXIT_USAGE;
}
