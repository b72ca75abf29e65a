// SPDX-License-Identifier: BSD-2-Clause
/* edgecapctl: edgecap's debug CLI. Dispatches to one subcommand per verb. */
#include <stdio.h>
#include <string.h>

#include "edgecapctl.h"
#include "log.h"

static const char usage[] =
	"usage: edgecapctl COMMAND [options]\n"
	"\n"
	"Commands on this host:\n"
	"  capture    capture on this host's interfaces, in the kernel, into a pcap (no daemon)\n"
	"  status     the local agent: interfaces, captures with live counters, aggregator link\n"
	"  list       the local agent's running captures\n"
	"  start      a capture by the local agent into a pcap on this host\n"
	"  stop       stop a capture on the local agent\n"
	"\n"
	"Commands against the aggregator (--aggregator URL or EDGECAP_AGGREGATOR):\n"
	"  collect    ask the fleet for a capture, wait until it is done, print its record\n"
	"  download   a finished capture's pcap\n"
	"  status ID  one capture's record\n"
	"  list       the account's captures, newest first\n"
	"  stop ID    stop a capture\n"
	"status, list and stop ask the aggregator when --aggregator is given, or when\n"
	"EDGECAP_AGGREGATOR is set and --socket is not; otherwise the local agent.\n"
	"The aggregator wants a credential: EDGECAP_API_TOKEN (sent as Authorization: Bearer),\n"
	"or EDGECAP_AUTH_EMAIL and EDGECAP_AUTH_KEY (X-Auth-Email, X-Auth-Key).\n"
	"\n"
	"Commands for the aggregator's operator:\n"
	"  credential ACCOUNT_ID [--email EMAIL]\n"
	"             a new API credential: prints its secret once, and the line to append to\n"
	"             the aggregator's --credentials file (then send the aggregator SIGHUP)\n"
	"\n"
	"Run `edgecapctl COMMAND --help` for a command's options and examples.\n"
	"Exit: 0 success, 1 runtime failure, 2 bad usage or invalid request.\n"
	"\n"
	"Examples:\n"
	"  edgecapctl capture -i eth0 --dst-port 443 --packet-limit 1000 -w https.pcap\n"
	"  edgecapctl credential acme --email ops@acme.example\n"
	"  export EDGECAP_AGGREGATOR=http://127.0.0.1:7100 EDGECAP_API_TOKEN=SECRET\n"
	"  edgecapctl collect --dst-port 53 --time-limit 60 --packet-limit 1000 --download "
	"dns.pcap\n"
	"  edgecapctl list\n";

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
	if (!strcmp(argv[1], "collect") || !strcmp(argv[1], "download"))
		return aggregator_cmd_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status") || !strcmp(argv[1], "list") || !strcmp(argv[1], "stop"))
		return ctl_wants_aggregator(argc - 1, argv + 1)
			       ? aggregator_cmd_main(argc - 1, argv + 1)
			       : agent_cmd_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "credential"))
		return credential_cmd_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "start"))
		return agent_cmd_main(argc - 1, argv + 1);
	pr_err("unknown command \"%s\" (try `edgecapctl --help`)", argv[1]);
	return EXIT_USAGE;
}
