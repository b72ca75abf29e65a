// SPDX-License-Identifier: BSD-2-Clause
/*
 * capture_cmd.c: `edgecapctl capture`, a local capture with no daemon. It builds a request from
 * flags (or takes --filter / --request JSON), validates it before anything is attached, attaches
 * to every -i interface, writes a pcap and prints a summary. It stops at the first limit reached
 * or on SIGINT/SIGTERM and always leaves a complete pcap behind.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "caps.h"
#include "counters_json.h"
#include "edgecapctl.h"
#include "engine.h"
#include "log.h"
#include "pcap_sink.h"
#include "request.h"
#include "request_flags.h"
#include "sigfd.h"
#include "strnum.h"
#include "usage.h"

#define MAX_IFACES ENGINE_MAX_IFACES
/* Usage errors name the command: "edgecapctl capture: ...", "run 'edgecapctl capture --help'". */
#define CAPTURE_PROG "edgecapctl capture"

/* Every option of the command, with its default. */
struct capture_cli {
	const char *ifaces[MAX_IFACES];
	unsigned int n_ifaces;
	const char *output;
	const char *filter_json;
	const char *request_path;
	struct request_flags flags;
	struct capture_request req;
	enum ec_hook hook;
	enum xdp_mode mode;
	uint32_t ring_bytes;
	bool json;
	bool quiet;
};

static const char capture_usage[] =
	"usage: edgecapctl capture -i IFACE [-i IFACE...] [filter] [limits] -w FILE|-\n"
	"\n"
	"Captures on this host without any daemon, in the kernel (XDP or tc), and writes a pcap\n"
	"(nanosecond timestamps, Ethernet). Stops at the first limit reached or on Ctrl-C, and\n"
	"always leaves a complete file.\n"
	"\n"
	"Filter (every field given must match; none: every frame):\n"
	"  --src-addr ADDR[/LEN]   outermost IP source (IPv4 or IPv6, address or prefix)\n"
	"  --dst-addr ADDR[/LEN]   outermost IP destination\n"
	"  --src-port N            TCP, UDP or SCTP source port\n"
	"  --dst-port N            TCP, UDP or SCTP destination port\n"
	"  --protocol N|NAME       IP protocol: a number or tcp, udp, icmp, icmpv6, gre, sctp\n"
	"  --filter JSON           a filter_v1 object instead of the flags above\n"
	"  --request FILE|-        a whole API request body (its ranges apply)\n"
	"\n"
	"Limits and options (a local capture may exceed the API's ranges; no limit: until "
	"Ctrl-C):\n"
	"  --type simple|full      simple: snaplen 160; full (default): whole frames\n"
	"  --time-limit SECONDS    --packet-limit N    --byte-limit BYTES\n"
	"  -c N                    --packet-limit N, as tcpdump spells it\n"
	"  --sample-rate N         keep 1 match in N at random (default 1: every match)\n"
	"  --snaplen N, -s N       bytes kept per packet (1..65535; -s as tcpdump spells it)\n"
	"  --hook xdp|tc-ingress|tc-egress      where to capture (default xdp)\n"
	"  --xdp-mode auto|native|skb           XDP attach mode (default auto)\n"
	"  --ring-size BYTES       ring buffers per interface, a power of two, 256K-1G (default "
	"8M):\n"
	"                          a ring per CPU, each max(BYTES/CPUs, min(BYTES, 8M))\n"
	"  -w, --write FILE|-      the pcap to write; - streams to stdout\n"
	"  --json                  print the summary as JSON (on stderr when the pcap goes to "
	"stdout)\n"
	"  -q, --quiet             no progress line\n"
	"\n"
	"Exit: 0 done, 1 runtime failure, 2 bad usage or invalid request.\n"
	"\n"
	"Examples:\n"
	"  edgecapctl capture -i eth0 --dst-port 53 --protocol udp --packet-limit 100 -w dns.pcap\n"
	"  edgecapctl capture -i eth0 -c 100 -s 96 --dst-port 443 -w https-headers.pcap\n"
	"  edgecapctl capture -i eth0 -i eth1 --src-addr 192.0.2.0/24 --time-limit 30 -w out.pcap\n"
	"  edgecapctl capture -i eth0 --filter '{\"protocol\": 6}' -w - | tcpdump -nr -\n"
	"  edgecapctl capture -i eth0 --request req.json --json -w req.pcap\n"
	"  edgecapctl capture -i eth0 --hook tc-egress --sample-rate 100 --time-limit 60 -w "
	"s.pcap\n";

enum {
	OPT_FILTER = 256,
	OPT_REQUEST,
	OPT_TYPE,
	OPT_HOOK,
	OPT_XDP_MODE,
	OPT_RING_SIZE,
	OPT_JSON,
};

static const struct option capture_options[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "write", required_argument, NULL, 'w' },
	REQUEST_FILTER_OPTIONS,
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "request", required_argument, NULL, OPT_REQUEST },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "time-limit", required_argument, NULL, RF_OPT_TIME_LIMIT },
	{ "packet-limit", required_argument, NULL, RF_OPT_PACKET_LIMIT },
	{ "byte-limit", required_argument, NULL, RF_OPT_BYTE_LIMIT },
	{ "sample-rate", required_argument, NULL, RF_OPT_SAMPLE_RATE },
	{ "snaplen", required_argument, NULL, RF_OPT_SNAPLEN },
	{ "hook", required_argument, NULL, OPT_HOOK },
	{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(int argc, char **argv, struct capture_cli *cli)
{
	struct capture_request *req = &cli->req;
	bool has_filter_flags, has_limit_flags;
	uint64_t v;
	int opt, ret;

	memset(cli, 0, sizeof(*cli));
	request_flags_init(&cli->flags, RF_CHECK_LOCAL);
	cli->hook = EC_HOOK_XDP;
	cli->mode = XDP_MODE_AUTO;
	cli->ring_bytes = 8U << 20;
	req->type = CAPTURE_FULL;

	cli->flags.prog = CAPTURE_PROG;
	optind = 1;
	/* ':' first and opterr 0: usage_getopt_error words a missing value and an unknown flag. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":i:w:c:s:qvh", capture_options, NULL)) != -1) {
		/* tcpdump's -c and -s, which operators type: --packet-limit and --snaplen. */
		cli->flags.alias = NULL;
		if (opt == 'c' || opt == 's') {
			cli->flags.alias = opt == 'c' ? "-c" : "-s";
			opt = opt == 'c' ? RF_OPT_PACKET_LIMIT : RF_OPT_SNAPLEN;
		}
		/* The filter and limit flags, checked to this command's local ranges. */
		ret = request_flags_take(&cli->flags, opt, optarg);
		if (ret != -ENOENT) {
			if (ret)
				return ret;
			continue;
		}
		switch (opt) {
		case 'i':
			if (cli->n_ifaces == MAX_IFACES)
				return usage_error(CAPTURE_PROG, "invalid -i", optarg,
						   "at most %d interfaces", MAX_IFACES);
			cli->ifaces[cli->n_ifaces++] = optarg;
			break;
		case 'w':
			cli->output = optarg;
			break;
		case OPT_FILTER:
			cli->filter_json = optarg;
			break;
		case OPT_REQUEST:
			cli->request_path = optarg;
			break;
		case OPT_TYPE:
			if (!strcmp(optarg, "simple"))
				req->type = CAPTURE_SIMPLE;
			else if (!strcmp(optarg, "full"))
				req->type = CAPTURE_FULL;
			else
				return usage_error(CAPTURE_PROG, "invalid --type", optarg,
						   "must be simple or full");
			req->has |= REQ_HAS_TYPE;
			break;
		case OPT_HOOK:
			if (hook_parse(optarg, &cli->hook))
				return usage_error(CAPTURE_PROG, "invalid --hook", optarg,
						   "must be xdp, tc-ingress or tc-egress");
			break;
		case OPT_XDP_MODE:
			if (xdp_mode_parse(optarg, &cli->mode))
				return usage_error(CAPTURE_PROG, "invalid --xdp-mode", optarg,
						   "must be auto, native or skb");
			break;
		case OPT_RING_SIZE:
			if (strnum_size(optarg, EC_MIN_RING_BYTES, 1ULL << 30, &v) || (v & (v - 1)))
				return usage_error(
					CAPTURE_PROG, "invalid --ring-size", optarg,
					"must be a power of two from 256K to 1G, e.g. 8M");
			cli->ring_bytes = (uint32_t)v;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case 'q':
			cli->quiet = true;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			fputs(capture_usage, stdout);
			exit(0);
		default:
			return usage_getopt_error(CAPTURE_PROG, opt, argv);
		}
	}
	/* Which flags were given: --type is the only limit flag that request_flags does not take.
	 */
	has_filter_flags = cli->flags.filter.fields != 0;
	has_limit_flags = cli->flags.has || (req->has & REQ_HAS_TYPE);
	request_flags_apply(&cli->flags, req);
	if (optind < argc)
		return usage_error(CAPTURE_PROG, "unexpected argument", argv[optind],
				   "filters are flags, e.g. --dst-port 53");
	if (!cli->n_ifaces)
		return usage_error(CAPTURE_PROG, "missing option", "-i",
				   "give at least one interface to capture on");
	if (!cli->output)
		return usage_error(CAPTURE_PROG, "missing option", "-w",
				   "give the pcap file to write, or - for stdout");
	if (cli->filter_json && has_filter_flags)
		return usage_error(CAPTURE_PROG, "conflicting option", "--filter",
				   "give the filter as JSON or as flags, not both");
	if (cli->request_path && (cli->filter_json || has_filter_flags || has_limit_flags))
		return usage_error(CAPTURE_PROG, "conflicting option", "--request",
				   "the request body gives the filter and limits; do not combine "
				   "it with filter or limit flags");
	return 0;
}

/* Builds and validates the request from --request, --filter or flags. Nothing is attached yet. */
static int build_request(struct capture_cli *cli)
{
	char err[512];
	char *body = NULL;
	size_t len = 0;
	int ret;

	if (cli->request_path) {
		ret = request_flags_read_body(cli->request_path, &body, &len);
		if (ret) {
			pr_err("--request: cannot read %s: %s", cli->request_path,
			       request_flags_read_error(ret));
			return ret;
		}
		ret = request_from_json(body, len, REQ_SCOPE_LOCAL_REQUEST, &cli->req, err,
					sizeof(err));
		free(body);
		if (ret) {
			pr_err("invalid request in %s: %s", cli->request_path, err);
			return ret;
		}
		return 0;
	}
	if (cli->filter_json) {
		json_error_t jerr;
		json_t *obj = json_loads(cli->filter_json, JSON_REJECT_DUPLICATES, &jerr);

		if (!obj) {
			pr_err("--filter: not valid JSON: %s (at column %d)", jerr.text,
			       jerr.column);
			return -EINVAL;
		}
		ret = filter_from_json(obj, &cli->req.filter, err, sizeof(err));
		json_decref(obj);
		if (ret) {
			pr_err("--filter: %s", err);
			return ret;
		}
	}
	ret = request_validate(&cli->req, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err));
	if (ret)
		pr_err("invalid capture: %s", err);
	return ret;
}

static json_t *summary_json(const struct capture_stats *s, const char *output, const char *error)
{
	json_t *root = json_object(), *ifaces = json_array();
	unsigned int i;

	json_object_set_new(root, "packets_captured",
			    json_integer((json_int_t)s->packets_captured));
	json_object_set_new(root, "bytes_captured", json_integer((json_int_t)s->bytes_captured));
	counters_kernel_json(root, &s->kernel);
	json_object_set_new(root, "over_limit", json_integer((json_int_t)s->over_limit));
	json_object_set_new(root, "stop_reason", json_string(stop_reason_name(s->reason)));
	if (error && *error)
		json_object_set_new(root, "error", json_string(error));
	json_object_set_new(root, "duration_s", json_real(s->duration_s));
	json_object_set_new(root, "output", json_string(output));
	for (i = 0; i < s->n_ifaces; i++) {
		const struct capture_iface_stats *is = &s->iface[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(is->ifname));
		json_object_set_new(o, "ifindex", json_integer(is->ifindex));
		json_object_set_new(o, "hook", json_string(is->hook));
		json_object_set_new(o, "attach_mode", json_string(is->attach_mode));
		counters_kernel_json(o, &is->kernel);
		json_object_set_new(o, "bytes", json_integer((json_int_t)is->kernel.bytes));
		json_array_append_new(ifaces, o);
	}
	json_object_set_new(root, "interfaces", ifaces);
	return root;
}

static void print_summary(const struct capture_cli *cli, const struct capture_stats *s,
			  const char *error)
{
	FILE *out = !strcmp(cli->output, "-") ? stderr : stdout;

	if (cli->json) {
		json_t *root = summary_json(s, cli->output, error);

		json_dumpf(root, out, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fputc('\n', out);
		json_decref(root);
		return;
	}
	fprintf(stderr,
		"%llu packets (%llu bytes) captured to %s in %.1f s; stop reason: %s\n"
		"kernel: %llu seen, %llu matched, %llu sampled out, %llu over budget, "
		"%llu ring full, %llu recorded\n",
		(unsigned long long)s->packets_captured, (unsigned long long)s->bytes_captured,
		cli->output, s->duration_s, stop_reason_name(s->reason),
		(unsigned long long)s->kernel.seen, (unsigned long long)s->kernel.matched,
		(unsigned long long)s->kernel.sampled_out,
		(unsigned long long)s->kernel.budget_exhausted,
		(unsigned long long)s->kernel.ring_full, (unsigned long long)s->kernel.submitted);
	if (s->kernel.ring_full)
		fprintf(stderr,
			"warning: %llu packets were lost because the ring buffer was full "
			"(try a larger --ring-size or a sample rate)\n",
			(unsigned long long)s->kernel.ring_full);
}

static void show_progress(const struct capture *c, const struct capture_params *p)
{
	struct capture_stats s;
	char left[48] = "";

	capture_get_stats(c, &s);
	if (p->time_limit_ns) {
		double rem = (double)p->time_limit_ns / 1e9 - s.duration_s;

		snprintf(left, sizeof(left), ", %.0f s left", rem > 0 ? rem : 0);
	}
	fprintf(stderr, "\r\033[Kcapturing: %llu packets, %llu bytes, %llu matched%s",
		(unsigned long long)s.packets_captured, (unsigned long long)s.bytes_captured,
		(unsigned long long)s.kernel.matched, left);
}

/* Runs the capture loop until the capture is done; returns the writer's error, if any. */
static void run_loop(struct engine *e, struct capture *c, const struct capture_params *p, int sigfd,
		     bool progress)
{
	struct epoll_event ev = { .events = EPOLLIN }, events[4];
	uint64_t last_progress = 0;
	int ep, n, i;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep >= 0) {
		ev.data.fd = sigfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, sigfd, &ev);
		ev.data.fd = engine_epoll_fd(e);
		epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	while (!capture_done(c)) {
		n = ep >= 0 ? epoll_wait(ep, events, 4, engine_timeout_ms(e)) : 0;
		if (ep < 0)
			usleep((useconds_t)engine_timeout_ms(e) * 1000);
		for (i = 0; i < n; i++) {
			struct signalfd_siginfo si;

			if (events[i].data.fd != sigfd)
				continue;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				pr_debug("signal %u: stopping", si.ssi_signo);
				capture_stop(c, STOP_STOPPED, NULL);
			}
		}
		engine_poll(e);
		if (progress) {
			struct timespec ts;
			uint64_t now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
			if (now - last_progress >= 500) {
				show_progress(c, p);
				last_progress = now;
			}
		}
	}
	if (progress)
		fputs("\r\033[K", stderr);
	if (ep >= 0)
		close(ep);
}

int capture_cmd_main(int argc, char **argv)
{
	struct pcap_sink sink = { 0 };
	struct engine_opts eo;
	struct capture_params params;
	struct capture_stats stats;
	struct capture_cli cli;
	struct engine *e = NULL;
	struct capture *c = NULL;
	char err[512];
	int ret, sigfd = -1, status = EXIT_RUNTIME;
	unsigned int i;
	bool progress;

	if (parse_args(argc, argv, &cli) || build_request(&cli))
		return EXIT_USAGE;
	capture_params_from_request(&cli.req, 1, &params);
	/* Before the output is opened: a capture that cannot load leaves no file behind. */
	if (caps_check_capture("run as root or grant it (e.g. setpriv --ambient-caps)"))
		return EXIT_RUNTIME;

	/* The output first: a capture that cannot be written is not started. */
	signal(SIGPIPE, SIG_IGN);
	ret = pcap_sink_open(&sink, cli.output, params.snaplen, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		return EXIT_RUNTIME;
	}
	/* SIGINT and SIGTERM end the capture cleanly: the loop reads them from a signalfd. */
	sigfd = sigfd_open((const int[]){ SIGINT, SIGTERM }, 2);
	if (sigfd < 0) {
		pr_err("cannot set up signal handling: %s", strerror(-sigfd));
		goto cleanup;
	}

	engine_opts_default(&eo);
	eo.ring_bytes = cli.ring_bytes;
	ret = engine_new(&eo, &e);
	if (ret) {
		pr_err("cannot create the capture engine: %s", strerror(-ret));
		goto cleanup;
	}
	for (i = 0; i < cli.n_ifaces; i++) {
		ret = engine_add_iface(e, cli.ifaces[i], cli.hook, cli.mode, err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			goto cleanup;
		}
	}
	ret = capture_start(e, &params, pcap_sink_record, &sink, &c, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		goto cleanup;
	}
	progress = !cli.quiet && isatty(STDERR_FILENO);
	if (!cli.quiet)
		pr_info("capturing on %s%s at %s (%s); Ctrl-C to stop", cli.ifaces[0],
			cli.n_ifaces > 1 ? " and more" : "", hook_name(cli.hook),
			engine_iface(e, 0)->attach_mode);

	run_loop(e, c, &params, sigfd, progress);
	capture_finish(c, &stats);
	c = NULL;

	if (sink.error == -EPIPE) {
		/* The reader went away (e.g. `| head`): a normal end for a stream. */
		stats.reason = STOP_STOPPED;
		pr_info("output closed by its reader; capture stopped");
	} else if (stats.reason == STOP_ERROR || sink.error) {
		pr_err("capture failed: %s%s%s", sink.error ? strerror(-sink.error) : "",
		       sink.error ? " writing " : "", sink.error ? cli.output : "");
		goto cleanup;
	}
	ret = pcap_sink_close(&sink, true);
	if (ret && ret != -EPIPE) {
		pr_err("failed to complete %s: %s", cli.output, strerror(-ret));
		goto cleanup;
	}
	print_summary(&cli, &stats, NULL);
	status = EXIT_OK;
cleanup:
	if (c)
		capture_finish(c, NULL);
	engine_free(e);
	/* On failure the partial file goes: no truncated capture is left claiming success. */
	pcap_sink_close(&sink, false);
	if (sigfd >= 0)
		close(sigfd);
	return status;
}
