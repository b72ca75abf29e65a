// SPDX-License-Identifier: BSD-2-Clause
/*
 * agent_cmd.c: edgecapctl's commands against the agent on this host (its local socket, see
 * local_ctl.h): status, list, start, stop. With --aggregator URL (or EDGECAP_AGGREGATOR),
 * status, list and stop go to the aggregator instead (aggregator_cmd.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "edgecapctl.h"
#include "local_ctl.h"
#include "log.h"

#define DEFAULT_SOCKET	"/run/edgecap/agent.sock"
#define CALL_TIMEOUT_MS 5000

/*
 * Sends one request to the agent. EXIT_OK with *out set, EXIT_RUNTIME when the agent cannot be
 * reached, EXIT_USAGE when it refused the request; either failure is printed.
 */
static int agent_call(const char *path, json_t *req, json_t **out)
{
	char url[300], *text = NULL;
	nng_msg *msg = NULL;
	json_error_t jerr;
	json_t *reply = NULL;
	int status = EXIT_RUNTIME;
	nng_socket sock;
	int ret;

	json_object_set_new(req, "v", json_integer(LOCAL_CTL_VERSION));
	snprintf(url, sizeof(url), "ipc://%s", path);
	ret = nng_req0_open(&sock);
	if (ret) {
		pr_err("cannot create a socket: %s", nng_strerror(ret));
		return EXIT_RUNTIME;
	}
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, CALL_TIMEOUT_MS);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, CALL_TIMEOUT_MS);
	/* The agent's answers (a status with every capture) may pass NNG's 1 MiB default. */
	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 0);
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		pr_err("cannot encode the request");
		goto cleanup;
	}
	/* A dial that waits: no agent listening is said at once, not after the timeout. */
	ret = nng_dial(sock, url, NULL, 0);
	if (!ret)
		ret = nng_send(sock, text, strlen(text), 0);
	if (ret) {
		pr_err("cannot reach the agent at %s: %s", path, nng_strerror(ret));
		goto cleanup;
	}
	ret = nng_recvmsg(sock, &msg, 0);
	if (ret) {
		pr_err("no answer from the agent at %s: %s (is edgecap-agent running?)", path,
		       nng_strerror(ret));
		goto cleanup;
	}
	reply = json_loadb(nng_msg_body(msg), nng_msg_len(msg), 0, &jerr);
	if (!json_is_object(reply)) {
		pr_err("the agent's answer is not JSON: %s", jerr.text);
	} else if (!json_is_true(json_object_get(reply, "ok"))) {
		pr_err("%s", json_string_value(json_object_get(reply, "error"))
				     ? json_string_value(json_object_get(reply, "error"))
				     : "the agent refused the request");
		status = EXIT_USAGE;
	} else {
		*out = reply;
		reply = NULL;
		status = EXIT_OK;
	}
cleanup:
	json_decref(reply);
	if (msg)
		nng_msg_free(msg);
	free(text);
	nng_close(sock);
	return status;
}

static void print_json(json_t *o)
{
	json_object_del(o, "v");
	json_object_del(o, "ok");
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
}

static void print_capture_line(json_t *c)
{
	json_t *k = json_object_get(c, "kernel");

	printf("  %s  %-6s %-10s %-8s %8lld packets  %8lld matched  %6lld ring full  %.1f s\n",
	       json_string_value(json_object_get(c, "id")),
	       json_string_value(json_object_get(c, "type")),
	       json_string_value(json_object_get(c, "origin")),
	       json_string_value(json_object_get(c, "status")),
	       json_integer_value(json_object_get(c, "packets_captured")),
	       json_integer_value(json_object_get(k, "matched")),
	       json_integer_value(json_object_get(k, "ring_full")),
	       json_real_value(json_object_get(c, "duration_s")));
}

static void print_status(json_t *s)
{
	json_t *agg = json_object_get(s, "aggregator"), *v, *caps = json_object_get(s, "captures");
	size_t i;

	printf("host %s, colo %s, agent %s\n", json_string_value(json_object_get(s, "host_id")),
	       json_string_value(json_object_get(s, "colo")),
	       json_string_value(json_object_get(s, "version")));
	printf("interfaces:\n");
	json_array_foreach (json_object_get(s, "interfaces"), i, v) {
		printf("  %s (ifindex %lld) at %s, %s\n",
		       json_string_value(json_object_get(v, "name")),
		       json_integer_value(json_object_get(v, "ifindex")),
		       json_string_value(json_object_get(v, "hook")),
		       json_string_value(json_object_get(v, "attach_mode")));
	}
	printf("aggregator: %s (control %s, data %s); queue %lld bytes, %lld messages dropped\n",
	       json_is_true(json_object_get(agg, "connected")) ? "connected" : "NOT CONNECTED",
	       json_string_value(json_object_get(agg, "control")),
	       json_string_value(json_object_get(agg, "data")),
	       json_integer_value(json_object_get(agg, "queued_bytes")),
	       json_integer_value(json_object_get(agg, "dropped_messages")));
	printf("captures: %zu running\n", json_array_size(caps));
	json_array_foreach (caps, i, v) {
		print_capture_line(v);
	}
}

static const char agent_cmd_usage[] =
	"usage: edgecapctl status|list [--socket PATH] [--json]\n"
	"       edgecapctl start --request FILE|- -w NAME.pcap [--socket PATH]\n"
	"       edgecapctl stop ID [--socket PATH]\n"
	"\n"
	"Talk to the edgecap-agent on this host through its local socket (default\n" DEFAULT_SOCKET
	").\n"
	"  status   interfaces, attach mode, running captures with live counters, and the\n"
	"           aggregator connection\n"
	"  list     the running captures\n"
	"  start    a capture by the agent, written to a pcap on this host (use this where the\n"
	"           agent already holds the interfaces and `edgecapctl capture` cannot attach);\n"
	"           -w NAME lands in the agent's --output-dir, and an absolute path is accepted\n"
	"           only beneath it\n"
	"  stop     stop a running capture\n"
	"With --aggregator URL (or EDGECAP_AGGREGATOR set and no --socket), status ID, list and\n"
	"stop ID ask the aggregator instead (see `edgecapctl collect --help`).\n"
	"\n"
	"Examples:\n"
	"  edgecapctl status\n"
	"  edgecapctl start --request req.json -w req.pcap\n"
	"  edgecapctl start --request req.json -w /var/lib/edgecap-agent/captures/req.pcap\n"
	"  edgecapctl stop 6d1f0aac13cd40e3900d29f5dd0e8a2b\n"
	"  edgecapctl list --aggregator http://127.0.0.1:7100\n";

int agent_cmd_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "request", required_argument, NULL, 'r' },
		{ "write", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = argv[0], *path = DEFAULT_SOCKET, *request = NULL, *output = NULL;
	json_t *req = NULL, *reply = NULL;
	bool as_json = false;
	int opt, status = EXIT_RUNTIME;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'r':
			request = optarg;
			break;
		case 'w':
			output = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			fputs(agent_cmd_usage, stdout);
			return EXIT_OK;
		default:
			fputs(agent_cmd_usage, stderr);
			return EXIT_USAGE;
		}
	}

	if (!strcmp(cmd, "status") || !strcmp(cmd, "list")) {
		if (optind < argc) {
			pr_err("%s: unexpected argument \"%s\" (a capture id needs --aggregator)",
			       cmd, argv[optind]);
			return EXIT_USAGE;
		}
		req = json_pack("{s:s}", "cmd", cmd);
	} else if (!strcmp(cmd, "start")) {
		json_error_t jerr;
		json_t *body;

		if (!request || !output || !output[0]) {
			pr_err("start: give --request FILE and -w NAME.pcap (the agent "
			       "writes the file)");
			return EXIT_USAGE;
		}
		body = strcmp(request, "-") ? json_load_file(request, JSON_REJECT_DUPLICATES, &jerr)
					    : json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
		if (!body) {
			pr_err("--request %s: not valid JSON: %s (line %d)", request, jerr.text,
			       jerr.line);
			return EXIT_USAGE;
		}
		req = json_pack("{s:s, s:o, s:s}", "cmd", "start", "request", body, "output",
				output);
	} else if (!strcmp(cmd, "stop")) {
		if (optind + 1 != argc) {
			pr_err("stop: give the capture id");
			return EXIT_USAGE;
		}
		req = json_pack("{s:s, s:s}", "cmd", "stop", "id", argv[optind]);
	} else {
		return EXIT_USAGE;
	}

	status = agent_call(path, req, &reply);
	if (status != EXIT_OK)
		goto cleanup;
	if (as_json || !strcmp(cmd, "start") || !strcmp(cmd, "stop")) {
		print_json(reply);
	} else if (!strcmp(cmd, "status")) {
		print_status(reply);
	} else {
		size_t i;
		json_t *c;

		json_array_foreach (json_object_get(reply, "captures"), i, c) {
			print_capture_line(c);
		}
	}
	status = EXIT_OK;
cleanup:
	json_decref(req);
	json_decref(reply);
	return status;
}
