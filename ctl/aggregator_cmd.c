// SPDX-License-Identifier: BSD-2-Clause
/*
 * aggregator_cmd.c: edgecapctl against the aggregator's HTTP API, the seeds' PCAPs API
 * (aggregator/api.h): collect, status ID, list, stop ID, download ID. HTTP and the API's envelope
 * are api_client.c's; every JSON goes through jansson. The credential comes from the environment:
 * EDGECAP_API_TOKEN as a Bearer token, or EDGECAP_AUTH_EMAIL and EDGECAP_AUTH_KEY.
 *
 * An error says what was being done, then the client's reason (what was asked, of which URL,
 * and why: curl's error text, or the API's errors[].message). Exit codes (DESIGN.md): 0 success;
 * 2 bad usage or an invalid request (the API's 400 and 413); 1 everything else: a capture that
 * failed, 404 (no such capture), 409 (download before success), 429 (with when to retry), and an
 * aggregator that cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api_client.h"
#include "edgecapctl.h"
#include "fileutil.h"
#include "log.h"
#include "request.h"
#include "request_flags.h"
#include "strnum.h"
#include "usage.h"

#define ENV_AGGREGATOR	  "EDGECAP_AGGREGATOR"
#define ENV_AGGREGATOR_CA API_ENV_CA
#define ENV_ACCOUNT	  "EDGECAP_ACCOUNT"
#define ENV_AUTH_EMAIL	  API_ENV_AUTH_EMAIL
#define ENV_AUTH_KEY	  API_ENV_AUTH_KEY
#define ENV_API_TOKEN	  API_ENV_TOKEN
#define DEFAULT_ACCOUNT	  "local"
#define PCAP_TYPE	  "application/vnd.tcpdump.pcap"

/* collect: how often it asks, and how long past time_limit it waits for the end. */
#define POLL_INTERVAL_MS 500
#define WAIT_MARGIN_S	 120
/* A default for a record without time_limit: the API's maximum. */
#define WAIT_TIME_LIMIT_MAX_S 300
/* collect keeps asking through transport errors and 5xx for this long, then gives up. */
#define POLL_OUTAGE_S 30
/* The smallest valid pcap: its file header. */
#define PCAP_HEADER_LEN 24

/* Every option of the commands, with its default. */
struct agg_cli {
	const char *cmd;
	const char *base; /* --aggregator or EDGECAP_AGGREGATOR, no trailing '/' */
	const char *ca;	  /* --aggregator-ca or EDGECAP_AGGREGATOR_CA; NULL: the system's CAs */
	const char *account;
	const char *id;
	const char *output;	  /* download -o */
	const char *collect_dl;	  /* collect --download */
	const char *request_path; /* collect --request */
	const char *filter_json;  /* collect --filter */
	/* collect's request from flags: strings as given, numbers checked, sent in API order. */
	struct request_flags flags;
	const char *type, *system, *colo, *destination;
	bool has_collect_flags;
	/* list --page/--per-page (0: the API's defaults) */
	uint32_t page, per_page;
	/* ownership SUBCOMMAND [ARG [ARG]] */
	const char *sub, *arg1, *arg2;
	bool no_wait;
	bool json;
	bool quiet;
};

static const char agg_usage[] =
	"usage: edgecapctl collect [--aggregator URL] [request] [--no-wait] [--download FILE]\n"
	"       edgecapctl status ID [--aggregator URL]\n"
	"       edgecapctl list [--aggregator URL] [--json] [--page N] [--per-page M]\n"
	"       edgecapctl ownership create DEST | validate DEST CHALLENGE | list | delete ID\n"
	"       edgecapctl stop ID [--aggregator URL]\n"
	"       edgecapctl download ID -o FILE|- [--aggregator URL]\n"
	"\n"
	"Talk to edgecap-aggregator's PCAPs API over HTTP(S). collect asks the fleet for a "
	"capture,\n"
	"waits until it is done (a progress line on a terminal) and prints its record as JSON;\n"
	"Ctrl-C while waiting stops the capture and still waits for its record (twice: leave).\n"
	"\n"
	"Connection:\n"
	"  --aggregator URL        the API's base URL, e.g. http://127.0.0.1:7100\n"
	"                          (default: $" ENV_AGGREGATOR ")\n"
	"  --aggregator-ca FILE    an https:// API's certificate is checked against the CAs in\n"
	"                          FILE (PEM) instead of the system's (default:\n"
	"                          $" ENV_AGGREGATOR_CA ")\n"
	"  --account ID            the account in the API's paths\n"
	"                          (default: $" ENV_ACCOUNT ", else \"" DEFAULT_ACCOUNT "\")\n"
	"  $" ENV_API_TOKEN "      the API secret, sent as Authorization: Bearer\n"
	"  $" ENV_AUTH_EMAIL ", $" ENV_AUTH_KEY "\n"
	"                          or: sent as X-Auth-Email and X-Auth-Key\n"
	"                          (make a credential with `edgecapctl credential ACCOUNT_ID`)\n"
	"\n"
	"collect's request: a body, or flags (the aggregator checks the API's rules):\n"
	"  --request FILE|-        a whole API request body, sent as it is\n"
	"  --src-addr ADDR         --dst-addr ADDR         filter_v1 source/destination_address\n"
	"  --src-port N            --dst-port N            filter_v1 source/destination_port\n"
	"  --protocol N|NAME       a number or tcp, udp, icmp, icmpv6, gre, sctp\n"
	"  --filter JSON           a filter_v1 object instead of the filter flags\n"
	"  --type simple|full      (default simple)       --system NAME (default magic-transit)\n"
	"  --time-limit SECONDS    --packet-limit N        --byte-limit BYTES\n"
	"  --colo NAME             --destination DEST (full captures: a directory under a\n"
	"                          destination root, s3://BUCKET[/PREFIX][?region=R] or\n"
	"                          gs://BUCKET[/PREFIX]; also --destination-conf)\n"
	"  --sample-rate N         --snaplen N\n"
	"collect's options:\n"
	"  --no-wait               print the new capture's record and return at once\n"
	"  --download FILE         when the capture succeeded, also download its pcap\n"
	"  -q, --quiet             no progress line\n"
	"\n"
	"Other options:\n"
	"  -o, --output FILE|-     download: where the pcap goes (written beside FILE first and\n"
	"                          renamed once complete; - streams to stdout)\n"
	"  --json                  list: the API's records as JSON instead of a table\n"
	"  --page N, --per-page M  list: page N (from 1) of M captures (default 50, at most\n"
	"                          1000), newest first; the table's footer has the totals\n"
	"\n"
	"ownership: prove to the aggregator that the account controls a bucket, before full\n"
	"captures may go there. create writes a challenge object into the bucket and prints its\n"
	"record (filename: the object's key); validate takes that object's contents.\n"
	"  -v, --verbose           log every request\n"
	"\n"
	"Exit: 0 success; 1 runtime failure (the capture failed, no such capture, not finished,\n"
	"rate limited, no or a wrong credential, aggregator unreachable); 2 bad usage or invalid\n"
	"request.\n"
	"\n"
	"Examples:\n"
	"  export " ENV_AGGREGATOR "=http://127.0.0.1:7100 " ENV_API_TOKEN "=SECRET\n"
	"  edgecapctl collect --dst-port 53 --protocol udp --time-limit 60 --packet-limit 1000 \\\n"
	"      --download dns.pcap\n"
	"  edgecapctl collect --request req.json --no-wait\n"
	"  edgecapctl status 6d1f0aac13cd40e3900d29f5dd0e8a2b\n"
	"  edgecapctl list --aggregator http://aggregator.example:7100 --account acme\n"
	"  edgecapctl list --aggregator https://aggregator.example --aggregator-ca ca.pem\n"
	"  edgecapctl stop 6d1f0aac13cd40e3900d29f5dd0e8a2b\n"
	"  edgecapctl list --page 2 --per-page 100\n"
	"  edgecapctl ownership create s3://pcaps/edge\n"
	"  aws s3 cp s3://pcaps/edge/ownership-challenge-1a2b3c4d.txt - # read the challenge\n"
	"  edgecapctl ownership validate s3://pcaps/edge CHALLENGE\n"
	"  edgecapctl collect --type full --colo ORD --time-limit 300 --destination \\\n"
	"      's3://pcaps/edge?region=eu-west-1'\n"
	"  edgecapctl download 6d1f0aac13cd40e3900d29f5dd0e8a2b -o - | tcpdump -nr -\n";

enum {
	OPT_AGGREGATOR = 256,
	OPT_AGGREGATOR_CA,
	OPT_ACCOUNT,
	OPT_REQUEST,
	OPT_FILTER,
	OPT_TYPE,
	OPT_SYSTEM,
	OPT_COLO,
	OPT_DESTINATION,
	OPT_NO_WAIT,
	OPT_DOWNLOAD,
	OPT_JSON,
	OPT_PAGE,
	OPT_PER_PAGE,
};

static const struct option agg_options[] = {
	{ "aggregator", required_argument, NULL, OPT_AGGREGATOR },
	{ "aggregator-ca", required_argument, NULL, OPT_AGGREGATOR_CA },
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "request", required_argument, NULL, OPT_REQUEST },
	REQUEST_FILTER_OPTIONS,
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "system", required_argument, NULL, OPT_SYSTEM },
	{ "time-limit", required_argument, NULL, RF_OPT_TIME_LIMIT },
	{ "packet-limit", required_argument, NULL, RF_OPT_PACKET_LIMIT },
	{ "byte-limit", required_argument, NULL, RF_OPT_BYTE_LIMIT },
	{ "colo", required_argument, NULL, OPT_COLO },
	{ "destination-conf", required_argument, NULL, OPT_DESTINATION },
	{ "destination", required_argument, NULL, OPT_DESTINATION },
	{ "page", required_argument, NULL, OPT_PAGE },
	{ "per-page", required_argument, NULL, OPT_PER_PAGE },
	{ "sample-rate", required_argument, NULL, RF_OPT_SAMPLE_RATE },
	{ "snaplen", required_argument, NULL, RF_OPT_SNAPLEN },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	{ "download", required_argument, NULL, OPT_DOWNLOAD },
	{ "output", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/*
 * Why path cannot be --aggregator-ca (NULL when it can): libcurl would only say "error setting
 * certificate file" when the first request fails, as if the aggregator were unreachable.
 */
static const char *ca_file_problem(const char *path)
{
	static char why[128];
	const char *type;
	char buf[4096];
	ssize_t n;
	int fd = file_open_regular(path, &type);

	if (fd < 0)
		return type ? type : strerror(-fd);
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	close(fd);
	if (n < 0)
		return why;
	buf[n] = '\0';
	if (!strstr(buf, "-----BEGIN CERTIFICATE-----"))
		return "not a PEM file of CA certificates (none in its first 4 KiB)";
	return NULL;
}

bool ctl_wants_aggregator(int argc, char **argv)
{
	bool socket = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		/* --aggregator-ca too: it is meant for the aggregator, not the local agent. */
		if (!strncmp(argv[i], "--aggregator", 12))
			return true;
		if (!strcmp(argv[i], "--socket") || !strncmp(argv[i], "--socket=", 9))
			socket = true;
	}
	/* An explicit --socket wins over the environment: the local agent was asked for. */
	return !socket && env_nonempty(ENV_AGGREGATOR);
}

static int parse_args(int argc, char **argv, struct agg_cli *cli)
{
	/* "edgecapctl collect": the program usage errors name (usage.h). */
	static char prog[64];
	const char *base, *why;
	size_t n;
	int opt, ret;

	memset(cli, 0, sizeof(*cli));
	request_flags_init(&cli->flags, RF_CHECK_AGGREGATOR);
	cli->cmd = argv[0];
	cli->base = env_nonempty(ENV_AGGREGATOR);
	cli->ca = env_nonempty(ENV_AGGREGATOR_CA);
	cli->account = env_nonempty(ENV_ACCOUNT) ? env_nonempty(ENV_ACCOUNT) : DEFAULT_ACCOUNT;

	snprintf(prog, sizeof(prog), "edgecapctl %s", cli->cmd);
	cli->flags.prog = prog;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:qvh", agg_options, NULL)) != -1) {
		/* The filter and limit flags: numbers checked, the rest left to the aggregator. */
		ret = request_flags_take(&cli->flags, opt, optarg);
		if (ret != -ENOENT) {
			if (ret)
				return ret;
			cli->has_collect_flags = true;
			continue;
		}
		switch (opt) {
		case OPT_AGGREGATOR:
			cli->base = optarg;
			break;
		case OPT_AGGREGATOR_CA:
			cli->ca = optarg;
			break;
		case OPT_ACCOUNT:
			cli->account = optarg;
			break;
		case OPT_REQUEST:
			cli->request_path = optarg;
			break;
		case OPT_FILTER:
			cli->filter_json = optarg;
			cli->has_collect_flags = true;
			break;
		case OPT_TYPE:
			cli->type = optarg;
			cli->has_collect_flags = true;
			break;
		case OPT_SYSTEM:
			cli->system = optarg;
			cli->has_collect_flags = true;
			break;
		case OPT_COLO:
			cli->colo = optarg;
			cli->has_collect_flags = true;
			break;
		case OPT_DESTINATION:
			cli->destination = optarg;
			cli->has_collect_flags = true;
			break;
		case OPT_NO_WAIT:
			cli->no_wait = true;
			break;
		case OPT_DOWNLOAD:
			cli->collect_dl = optarg;
			break;
		case 'o':
			cli->output = optarg;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_PAGE:
		case OPT_PER_PAGE:
			if (strnum_u32(optarg, 1, opt == OPT_PAGE ? 1000000 : 1000,
				       opt == OPT_PAGE ? &cli->page : &cli->per_page)) {
				return usage_error(prog,
						   opt == OPT_PAGE ? "invalid --page"
								   : "invalid --per-page",
						   optarg, "must be an integer from 1 to %u",
						   opt == OPT_PAGE ? 1000000 : 1000);
			}
			break;
		case 'q':
			cli->quiet = true;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			fputs(agg_usage, stdout);
			return 1;
		default:
			return usage_getopt_error(prog, opt, argv);
		}
	}

	/* Which arguments each command takes. */
	if (!strcmp(cli->cmd, "status") || !strcmp(cli->cmd, "stop") ||
	    !strcmp(cli->cmd, "download")) {
		if (optind >= argc)
			return usage_error(prog, "missing argument", "ID", "give the capture id");
		cli->id = argv[optind++];
	}
	if (!strcmp(cli->cmd, "ownership")) {
		static const char *const want[] = { "create DEST", "validate DEST CHALLENGE",
						    "list", "delete ID" };
		static const char *const subs[] = { "create", "validate", "list", "delete" };
		static const int nargs[] = { 1, 2, 0, 1 };
		size_t i;

		cli->sub = optind < argc ? argv[optind++] : "";
		for (i = 0; i < 4 && strcmp(cli->sub, subs[i]); i++)
			;
		if (i == 4)
			return usage_error(prog, "invalid ownership command", cli->sub,
					   "give create DEST, validate DEST CHALLENGE, list or "
					   "delete ID");
		if (argc - optind < nargs[i])
			return usage_error(prog, "missing argument", NULL, "give ownership %s",
					   want[i]);
		cli->arg1 = nargs[i] > 0 ? argv[optind++] : NULL;
		cli->arg2 = nargs[i] > 1 ? argv[optind++] : NULL;
	}
	if (strcmp(cli->cmd, "list") && (cli->page || cli->per_page))
		return usage_error(prog, "misplaced option", "--page",
				   "--page and --per-page are for list");
	if (optind < argc)
		return usage_error(prog, "unexpected argument", argv[optind],
				   "%s takes options only%s", prog,
				   strcmp(cli->cmd, "collect") && strcmp(cli->cmd, "list") &&
						   strcmp(cli->cmd, "ownership")
					   ? " after the capture id"
					   : "");
	if (strcmp(cli->cmd, "collect") &&
	    (cli->has_collect_flags || cli->request_path || cli->no_wait || cli->collect_dl))
		return usage_error(prog, "misplaced option", NULL,
				   "request flags, --request, --no-wait and --download are for "
				   "collect");
	if (strcmp(cli->cmd, "download") && cli->output)
		return usage_error(prog, "misplaced option", "-o",
				   "it is for download (collect takes --download FILE)");
	if (!strcmp(cli->cmd, "download") && !cli->output)
		return usage_error(prog, "missing option", "-o",
				   "give -o FILE (or -o - for stdout)");
	if (cli->request_path && cli->has_collect_flags)
		return usage_error(prog, "conflicting option", "--request",
				   "the request body gives the filter and limits; do not combine "
				   "it with request flags");
	if (cli->filter_json && cli->flags.filter.fields)
		return usage_error(prog, "conflicting option", "--filter",
				   "give the filter as JSON or as flags, not both");
	if (cli->collect_dl && !strcmp(cli->collect_dl, "-"))
		return usage_error(prog, "invalid --download", "-",
				   "collect prints the record on stdout; give a file (or use "
				   "`edgecapctl download ID -o -`)");
	if (cli->no_wait && cli->collect_dl)
		return usage_error(prog, "conflicting option", "--download",
				   "needs the capture to finish; do not combine it with --no-wait");
	if (!cli->base)
		return usage_error(prog, "missing option", "--aggregator",
				   "give the aggregator's URL with --aggregator URL or in "
				   "$" ENV_AGGREGATOR " (e.g. http://127.0.0.1:7100)");
	base = cli->base;
	for (n = strlen(base); n && base[n - 1] == '/'; n--)
		;
	if (!n)
		return usage_error(prog, "invalid --aggregator", base, "not a URL");
	if (!*cli->account)
		return usage_error(prog, "invalid --account", cli->account, "must not be empty");
	if (cli->ca) {
		why = ca_file_problem(cli->ca);
		if (why)
			return usage_error(prog, "invalid --aggregator-ca", cli->ca, why);
		if (strncmp(base, "https://", 8))
			pr_warn("--aggregator-ca %s: %.*s is not an https:// URL, so no "
				"certificate is checked",
				cli->ca, (int)n, base);
	}
	return 0;
}

/*
 * collect's body: the --request file as it is (checked to be a JSON object, so that a typo
 * fails here rather than as the server's 400), or one built from flags in the API's order.
 * *type is the request's type member, when it has one ("" otherwise). Returns EXIT_OK or
 * EXIT_USAGE with the reason printed.
 */
/* Sets a string member from a flag; json_string refuses text that is not UTF-8. */
static int set_flag_str(json_t *obj, const char *key, const char *flag, const char *value)
{
	if (json_object_set_new(obj, key, json_string(value))) {
		pr_err("%s: not valid UTF-8 text", flag);
		return -EINVAL;
	}
	return 0;
}

static int build_body(const struct agg_cli *cli, char **body, size_t *len, char *type,
		      size_t typelen)
{
	const struct request_flags *f = &cli->flags;
	json_t *req = NULL, *filter = NULL;
	json_error_t jerr;
	int ret;

	type[0] = '\0';
	if (cli->request_path) {
		ret = request_flags_read_body(cli->request_path, body, len);
		if (ret) {
			pr_err("--request: cannot read %s: %s", cli->request_path,
			       request_flags_read_error(ret));
			return EXIT_USAGE;
		}
		req = json_loadb(*body, *len, JSON_REJECT_DUPLICATES, &jerr);
		if (!req || !json_is_object(req)) {
			if (req)
				pr_err("--request %s: not a JSON object (a capture request is one)",
				       cli->request_path);
			else
				pr_err("--request %s: not valid JSON: %s (line %d, column %d)",
				       cli->request_path, jerr.text, jerr.line, jerr.column);
			json_decref(req);
			free(*body);
			*body = NULL;
			return EXIT_USAGE;
		}
		if (json_is_string(json_object_get(req, "type")))
			snprintf(type, typelen, "%s",
				 json_string_value(json_object_get(req, "type")));
		json_decref(req);
		return EXIT_OK;
	}

	if (cli->filter_json) {
		filter = json_loads(cli->filter_json, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(filter)) {
			if (filter)
				pr_err("--filter: not a JSON object (a filter_v1 is one, e.g. "
				       "'{\"protocol\": 6}')");
			else
				pr_err("--filter: not valid JSON: %s (at column %d)", jerr.text,
				       jerr.column);
			json_decref(filter);
			return EXIT_USAGE;
		}
	} else {
		/* The seeds' filter_v1 member order; no flags: an empty filter, every packet. */
		filter = json_object();
		if (f->src_addr &&
		    set_flag_str(filter, "source_address", "--src-addr", f->src_addr))
			goto bad;
		if (f->filter.fields & EC_F_SRC_PORT)
			json_object_set_new(filter, "source_port",
					    json_integer(f->filter.src_port));
		if (f->dst_addr &&
		    set_flag_str(filter, "destination_address", "--dst-addr", f->dst_addr))
			goto bad;
		if (f->filter.fields & EC_F_DST_PORT)
			json_object_set_new(filter, "destination_port",
					    json_integer(f->filter.dst_port));
		if (f->filter.fields & EC_F_PROTOCOL)
			json_object_set_new(filter, "protocol", json_integer(f->filter.protocol));
	}
	req = json_object();
	json_object_set(req, "filter_v1", filter);
	if (f->has & REQ_HAS_TIME_LIMIT)
		json_object_set_new(req, "time_limit", json_integer((json_int_t)f->time_limit));
	if (f->has & REQ_HAS_PACKET_LIMIT)
		json_object_set_new(req, "packet_limit", json_integer((json_int_t)f->packet_limit));
	if (f->has & REQ_HAS_BYTE_LIMIT)
		json_object_set_new(req, "byte_limit", json_integer((json_int_t)f->byte_limit));
	if (set_flag_str(req, "type", "--type", cli->type ? cli->type : "simple") ||
	    set_flag_str(req, "system", "--system", cli->system ? cli->system : "magic-transit") ||
	    (cli->colo && set_flag_str(req, "colo_name", "--colo", cli->colo)) ||
	    (cli->destination &&
	     set_flag_str(req, "destination_conf", "--destination-conf", cli->destination)))
		goto bad;
	if (f->has & REQ_HAS_SAMPLE_RATE)
		json_object_set_new(req, "sample_rate", json_integer((json_int_t)f->sample_rate));
	if (f->has & REQ_HAS_SNAPLEN)
		json_object_set_new(req, "snaplen", json_integer((json_int_t)f->snaplen));
	snprintf(type, typelen, "%s", cli->type ? cli->type : "simple");

	*body = json_dumps(req, JSON_INDENT(2));
	json_decref(req);
	json_decref(filter);
	if (!*body) {
		pr_err("collect: cannot build the request: out of memory");
		return EXIT_RUNTIME;
	}
	*len = strlen(*body);
	return EXIT_OK;
bad:
	json_decref(req);
	json_decref(filter);
	return EXIT_USAGE;
}

static void print_json(const json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	fflush(stdout);
}

/* The envelope's informational messages (e.g. "already finished"), on stderr. */
static void print_messages(const json_t *messages)
{
	const json_t *m;
	size_t i;

	json_array_foreach (messages, i, m) {
		if (json_string_value(json_object_get(m, "message")))
			pr_info("%s", json_string_value(json_object_get(m, "message")));
	}
}

static const char *rec_str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s ? s : "";
}

static bool rec_finished(const json_t *rec)
{
	return !strcmp(rec_str(rec, "status"), "success") ||
	       !strcmp(rec_str(rec, "status"), "complete") ||
	       !strcmp(rec_str(rec, "status"), "failed");
}

static int cmd_status(struct api_client *c, const struct agg_cli *cli)
{
	struct api_result res;
	char path[256];

	if (api_client_path(c, cli->id, "", path, sizeof(path)))
		return EXIT_USAGE;
	if (api_call(c, "GET", path, NULL, 0, &res)) {
		pr_err("cannot get capture %s: %s", cli->id, res.why);
		return res.exit;
	}
	print_json(res.result);
	api_result_free(&res);
	return EXIT_OK;
}

static int cmd_stop(struct api_client *c, const struct agg_cli *cli)
{
	struct api_result res;
	char path[256];

	if (api_client_path(c, cli->id, "/stop", path, sizeof(path)))
		return EXIT_USAGE;
	if (api_call(c, "PUT", path, NULL, 0, &res)) {
		pr_err("cannot stop capture %s: %s", cli->id, res.why);
		return res.exit;
	}
	print_messages(res.messages);
	print_json(res.result);
	api_result_free(&res);
	return EXIT_OK;
}

static void print_table(const json_t *list)
{
	const json_t *rec, *v;
	char limit[24];
	size_t i;

	printf("%-32s  %-18s  %-6s  %-27s  %10s  %12s  %s\n", "ID", "STATUS", "TYPE", "SUBMITTED",
	       "TIME_LIMIT", "PACKET_LIMIT", "ERROR");
	json_array_foreach (list, i, rec) {
		v = json_object_get(rec, "packet_limit");
		if (json_is_integer(v))
			snprintf(limit, sizeof(limit), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(v));
		else
			snprintf(limit, sizeof(limit), "-");
		printf("%-32s  %-18s  %-6s  %-27s  %8" JSON_INTEGER_FORMAT " s  %12s%s%s\n",
		       rec_str(rec, "id"), rec_str(rec, "status"), rec_str(rec, "type"),
		       rec_str(rec, "submitted"),
		       json_integer_value(json_object_get(rec, "time_limit")), limit,
		       *rec_str(rec, "error_message") ? "  " : "", rec_str(rec, "error_message"));
	}
}

static int cmd_list(struct api_client *c, const struct agg_cli *cli)
{
	struct api_result res;
	char query[64] = "";

	if (cli->page || cli->per_page)
		snprintf(query, sizeof(query), "?page=%u&per_page=%u", cli->page ? cli->page : 1,
			 cli->per_page ? cli->per_page : 50);
	if (api_call(c, "GET", query, NULL, 0, &res)) {
		pr_err("cannot list the captures of account %s: %s", cli->account, res.why);
		return res.exit;
	}
	if (!json_is_array(res.result)) {
		pr_err("cannot list the captures of account %s: GET %s: the result is not a list",
		       cli->account, res.url);
		api_result_free(&res);
		return EXIT_RUNTIME;
	}
	if (cli->json)
		print_json(res.result);
	else if (!json_array_size(res.result))
		pr_info("no captures in account %s%s", cli->account,
			cli->page > 1 ? " on that page" : "");
	else
		print_table(res.result);
	if (!cli->json && json_is_object(res.result_info) && json_array_size(res.result))
		printf("page %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
		       " a page): %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " captures\n",
		       json_integer_value(json_object_get(res.result_info, "page")),
		       json_integer_value(json_object_get(res.result_info, "per_page")),
		       json_integer_value(json_object_get(res.result_info, "count")),
		       json_integer_value(json_object_get(res.result_info, "total_count")));
	api_result_free(&res);
	return EXIT_OK;
}

/* ownership create|validate|list|delete: the bucket-ownership challenge (api.h). */
static int cmd_ownership(struct api_client *c, const struct agg_cli *cli)
{
	struct api_result res;
	const char *method = "GET";
	char path[256] = "/ownership", *body = NULL;
	json_t *req = NULL;
	int status;

	if (!strcmp(cli->sub, "create") || !strcmp(cli->sub, "validate")) {
		method = "POST";
		if (!strcmp(cli->sub, "validate"))
			strcat(path, "/validate");
		req = json_pack("{s:s}", "destination_conf", cli->arg1);
		if (req && cli->arg2)
			json_object_set_new(req, "ownership_challenge", json_string(cli->arg2));
		body = req ? json_dumps(req, JSON_COMPACT) : NULL;
		json_decref(req);
		if (!body) {
			pr_err("ownership: out of memory");
			return EXIT_RUNTIME;
		}
	} else if (!strcmp(cli->sub, "delete")) {
		method = "DELETE";
		if (api_client_path(c, cli->arg1, "", path + 10, sizeof(path) - 10))
			return EXIT_USAGE;
	}
	status = api_call(c, method, path, body, body ? strlen(body) : 0, &res);
	free(body);
	if (status) {
		pr_err("ownership %s: %s", cli->sub, res.why);
		return res.exit;
	}
	print_json(res.result);
	api_result_free(&res);
	return EXIT_OK;
}

/*
 * Where a download goes: a temporary file beside the destination, renamed over it only once
 * the whole pcap is in, so that no truncated file is ever left claiming success. "-" streams to
 * stdout instead.
 */
struct dl_file {
	const char *path;
	char *tmp;
	FILE *f;
};

static int dl_open(struct dl_file *d, const char *path)
{
	mode_t mask;
	int fd;

	memset(d, 0, sizeof(*d));
	d->path = path;
	if (!strcmp(path, "-")) {
		d->f = stdout;
		return 0;
	}
	if (asprintf(&d->tmp, "%s.part.XXXXXX", path) < 0) {
		d->tmp = NULL;
		pr_err("out of memory");
		return -ENOMEM;
	}
	fd = mkostemp(d->tmp, O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		pr_err("cannot write %s: cannot create a temporary file beside it: %s", path,
		       strerror(-fd));
		free(d->tmp);
		d->tmp = NULL;
		return fd;
	}
	/* mkstemp makes it 0600; the pcap gets the mode any new file would get. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask))
		pr_warn("cannot set the mode of %s: %s", d->tmp, strerror(errno));
	d->f = fdopen(fd, "wb");
	if (!d->f) {
		pr_err("cannot open %s: %s", d->tmp, strerror(errno));
		close(fd);
		unlink(d->tmp);
		free(d->tmp);
		d->tmp = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Drops a download that did not complete (NULL-safe, repeatable). */
static void dl_abort(struct dl_file *d)
{
	if (d->tmp) {
		if (d->f)
			fclose(d->f);
		unlink(d->tmp);
		free(d->tmp);
	}
	d->tmp = NULL;
	d->f = NULL;
}

/* The whole pcap is in: to disk, then into place. */
static int dl_commit(struct dl_file *d)
{
	int ret = 0;

	if (!d->tmp) {
		if (fflush(stdout))
			ret = -errno;
		if (ret)
			pr_err("cannot write the pcap to stdout: %s", strerror(-ret));
		d->f = NULL;
		return ret;
	}
	if (fflush(d->f) || fsync(fileno(d->f)))
		ret = -errno;
	if (fclose(d->f) && !ret)
		ret = -errno;
	d->f = NULL;
	if (!ret && rename(d->tmp, d->path))
		ret = -errno;
	if (ret) {
		pr_err("cannot complete %s: %s", d->path, strerror(-ret));
		unlink(d->tmp);
	}
	free(d->tmp);
	d->tmp = NULL;
	return ret;
}

/* A 409 on download: say whether the capture is still on its way or failed. */
static void explain_not_ready(struct api_client *c, const char *id, const struct api_result *dl)
{
	struct api_result res;
	char path[256];

	if (!api_client_path(c, id, "", path, sizeof(path)) &&
	    !api_call(c, "GET", path, NULL, 0, &res)) {
		const char *st = rec_str(res.result, "status");

		if (!strcmp(st, "failed"))
			pr_err("cannot download capture %s: the capture failed (%s), there is no "
			       "pcap",
			       id, rec_str(res.result, "error_message"));
		else if (strcmp(st, "success"))
			pr_err("cannot download capture %s: it is not finished yet (status %s); "
			       "wait until `edgecapctl status %s` says success",
			       id, st, id);
		else
			pr_err("cannot download capture %s: %s", id, dl->why);
		api_result_free(&res);
		return;
	}
	pr_err("cannot download capture %s: %s", id, dl->why);
}

/* Downloads a capture's pcap into d; on success d is committed, on failure left to abort. */
static int download_pcap(struct api_client *c, const char *id, struct dl_file *d)
{
	struct api_result res = { 0 };
	char path[256];
	uint64_t bytes;
	int ret, status = EXIT_RUNTIME;

	if (api_client_path(c, id, "/download", path, sizeof(path)))
		return EXIT_USAGE;
	ret = api_download(c, path, PCAP_TYPE, d->f, &bytes, &res);
	if (!ret) {
		if (bytes < PCAP_HEADER_LEN) {
			pr_err("cannot download capture %s: GET %s: %" PRIu64 " bytes, less than a "
			       "pcap file header",
			       id, res.url, bytes);
			goto out;
		}
		if (dl_commit(d))
			goto out;
		pr_info("capture %s: %" PRIu64 " bytes of pcap written to %s", id, bytes,
			strcmp(d->path, "-") ? d->path : "stdout");
		status = EXIT_OK;
		goto out;
	}
	if (ret == -EREMOTEIO && res.http == 409)
		explain_not_ready(c, id, &res);
	else
		pr_err("cannot download capture %s: %s", id, res.why);
	if (ret == -EREMOTEIO)
		status = res.exit == EXIT_OK ? EXIT_RUNTIME : res.exit;
out:
	api_result_free(&res);
	return status;
}

static int cmd_download(struct api_client *c, const struct agg_cli *cli)
{
	struct dl_file d;
	int status;

	if (dl_open(&d, cli->output))
		return EXIT_RUNTIME;
	status = download_pcap(c, cli->id, &d);
	dl_abort(&d);
	return status;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted++;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void show_progress(const json_t *rec, uint64_t elapsed_ms, json_int_t time_limit)
{
	const json_t *packets = json_object_get(rec, "packets"),
		     *limit = json_object_get(rec, "packet_limit"),
		     *remaining = json_object_get(rec, "packets_remaining");
	char extra[64] = "";

	if (json_is_integer(packets))
		snprintf(extra, sizeof(extra), ", %" JSON_INTEGER_FORMAT " packets",
			 json_integer_value(packets));
	else if (json_is_integer(limit) && json_is_integer(remaining))
		snprintf(extra, sizeof(extra),
			 ", %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " packets",
			 json_integer_value(limit) - json_integer_value(remaining),
			 json_integer_value(limit));
	/* Past its time_limit a capture waits for the agents' final reports. */
	fprintf(stderr, "\r\033[Kcapture %s: %s, %.0f s %s %" JSON_INTEGER_FORMAT " s%s",
		rec_str(rec, "id"), rec_str(rec, "status"), (double)elapsed_ms / 1000,
		elapsed_ms > (uint64_t)time_limit * 1000 ? "(finishing) of" : "of", time_limit,
		extra);
	fflush(stderr);
}

/*
 * Follows a capture until it finished: a GET every POLL_INTERVAL_MS, up to its time_limit plus
 * WAIT_MARGIN_S, through aggregator outages of up to POLL_OUTAGE_S. The first SIGINT or SIGTERM
 * stops the capture (and the wait goes on for its record); a second one leaves. *last is the
 * last record seen. Returns EXIT_OK when the capture finished (either way), else why not is
 * printed and EXIT_RUNTIME (or the API's code) returned.
 */
static int follow_capture(struct api_client *c, const struct agg_cli *cli, const char *id,
			  json_t **last)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	uint64_t t0 = mono_ms(), now, deadline, outage_since = 0;
	json_int_t time_limit = json_integer_value(json_object_get(*last, "time_limit"));
	bool progress = !cli->quiet && isatty(STDERR_FILENO), stop_sent = false;
	struct timespec pause = { .tv_nsec = POLL_INTERVAL_MS * 1000000L };
	char path[256], stop_path[256];
	struct api_result res;
	int status = EXIT_RUNTIME;

	if (api_client_path(c, id, "", path, sizeof(path)) ||
	    api_client_path(c, id, "/stop", stop_path, sizeof(stop_path)))
		return EXIT_RUNTIME;
	if (time_limit <= 0 || time_limit > WAIT_TIME_LIMIT_MAX_S)
		time_limit = WAIT_TIME_LIMIT_MAX_S;
	deadline = t0 + ((uint64_t)time_limit + WAIT_MARGIN_S) * 1000;
	interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (progress)
		pr_info("capture %s submitted; waiting for it (Ctrl-C stops it)", id);

	for (;;) {
		if (rec_finished(*last)) {
			status = EXIT_OK;
			break;
		}
		now = mono_ms();
		if (progress)
			show_progress(*last, now - t0, time_limit);
		if (interrupted > 1) {
			if (progress)
				fputs("\r\033[K", stderr);
			pr_err("capture %s left %s%s; follow it with `edgecapctl status %s`", id,
			       rec_str(*last, "status"),
			       stop_sent ? " (its stop was requested)" : "", id);
			break;
		}
		if (interrupted && !stop_sent) {
			if (progress)
				fputs("\r\033[K", stderr);
			pr_info("stopping capture %s (Ctrl-C again to leave it running)", id);
			if (api_call(c, "PUT", stop_path, NULL, 0, &res))
				pr_warn("cannot stop capture %s: %s", id, res.why);
			api_result_free(&res);
			stop_sent = true;
		}
		if (now >= deadline) {
			if (progress)
				fputs("\r\033[K", stderr);
			pr_err("capture %s is still %s %" PRIu64 " s after it was submitted "
			       "(time_limit %" JSON_INTEGER_FORMAT
			       " s + %d s); check it later with "
			       "`edgecapctl status %s`",
			       id, rec_str(*last, "status"), (now - t0) / 1000, time_limit,
			       WAIT_MARGIN_S, id);
			break;
		}
		/* A signal cuts the pause short; the loop then acts on it. */
		nanosleep(&pause, NULL);
		if (interrupted && !stop_sent)
			continue;

		if (!api_call(c, "GET", path, NULL, 0, &res)) {
			json_decref(*last);
			*last = res.result;
			res.result = NULL;
			api_result_free(&res);
			outage_since = 0;
			continue;
		}
		now = mono_ms();
		if (progress)
			fputs("\r\033[K", stderr);
		/* No answer or a server error: the aggregator may be restarting. */
		if (!res.http || res.http >= 500) {
			if (!outage_since) {
				outage_since = now;
				pr_warn("cannot get capture %s: %s; trying again for %d s", id,
					res.why, POLL_OUTAGE_S);
				continue;
			}
			if (now - outage_since < POLL_OUTAGE_S * 1000ULL)
				continue;
		}
		pr_err("cannot follow capture %s: %s", id, res.why);
		status = res.exit;
		break;
	}
	if (progress)
		fputs("\r\033[K", stderr);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return status;
}

static int cmd_collect(struct api_client *c, const struct agg_cli *cli)
{
	struct dl_file dl = { 0 };
	struct api_result res = { 0 };
	json_t *rec = NULL;
	char *body = NULL, type[32], id[128];
	size_t len = 0;
	int status;

	status = build_body(cli, &body, &len, type, sizeof(type));
	if (status)
		return status;
	if (cli->collect_dl && !strcmp(type, "full")) {
		pr_err("--download: a full capture's files go to its destination_conf; there is no "
		       "single pcap to download");
		status = EXIT_USAGE;
		goto out;
	}
	/* The output before the capture: one that cannot be written is not asked for. */
	if (cli->collect_dl && dl_open(&dl, cli->collect_dl)) {
		status = EXIT_RUNTIME;
		goto out;
	}

	status = api_call(c, "POST", "", body, len, &res);
	if (status) {
		pr_err("%s: %s",
		       status == EXIT_USAGE ? "invalid capture request"
					    : "cannot submit the capture",
		       res.why);
		goto out;
	}
	rec = res.result;
	res.result = NULL;
	print_messages(res.messages);
	if (!json_string_value(json_object_get(rec, "id"))) {
		pr_err("cannot submit the capture: POST %s: the answer has no capture id", res.url);
		status = EXIT_RUNTIME;
		goto out;
	}
	snprintf(id, sizeof(id), "%s", rec_str(rec, "id"));
	if (cli->no_wait) {
		print_json(rec);
		goto out;
	}

	status = follow_capture(c, cli, id, &rec);
	print_json(rec);
	if (status)
		goto out;
	/* Simple captures end success; full ones complete, once their files are in place. */
	if (strcmp(rec_str(rec, "status"), "success") &&
	    strcmp(rec_str(rec, "status"), "complete")) {
		pr_err("capture %s failed: %s", id,
		       json_string_value(json_object_get(rec, "error_message"))
			       ? rec_str(rec, "error_message")
			       : "the aggregator gave no reason");
		status = EXIT_RUNTIME;
		goto out;
	}
	if (cli->collect_dl)
		status = download_pcap(c, id, &dl);
out:
	dl_abort(&dl);
	api_result_free(&res);
	json_decref(rec);
	free(body);
	return status;
}

int aggregator_cmd_main(int argc, char **argv)
{
	struct api_client *c;
	struct agg_cli cli;
	int ret, status = EXIT_USAGE;

	ret = parse_args(argc, argv, &cli);
	if (ret)
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	/* A reader that goes away (`download -o - | head`) is a write error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (api_client_open(&c, cli.base, cli.account, env_nonempty(ENV_API_TOKEN),
			    env_nonempty(ENV_AUTH_EMAIL), env_nonempty(ENV_AUTH_KEY)))
		return EXIT_RUNTIME;
	api_client_set_ca(c, cli.ca);
	if (!strcmp(cli.cmd, "collect"))
		status = cmd_collect(c, &cli);
	else if (!strcmp(cli.cmd, "status"))
		status = cmd_status(c, &cli);
	else if (!strcmp(cli.cmd, "list"))
		status = cmd_list(c, &cli);
	else if (!strcmp(cli.cmd, "stop"))
		status = cmd_stop(c, &cli);
	else if (!strcmp(cli.cmd, "download"))
		status = cmd_download(c, &cli);
	else if (!strcmp(cli.cmd, "ownership"))
		status = cmd_ownership(c, &cli);
	api_client_close(c);
	return status;
}
