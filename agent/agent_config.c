// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "conffile.h"
#include "listen_addr.h"
#include "local_ctl.h"
#include "log.h"
#include "request.h"
#include "strnum.h"
#include "usage.h"
#include "wire.h"

static const char agent_usage[] =
	"usage: edgecap-agent [--config FILE] [options]\n"
	"\n"
	"edgecap's capture agent: runs the in-kernel capture on this host's interfaces, takes\n"
	"capture requests from the aggregator (and from edgecapctl on this host), and streams the\n"
	"selected packets to the aggregator. It dials out and reconnects by itself.\n"
	"\n"
	"Options (each also a `key = value` line in the config file, without the dashes;\n"
	"a key's '_' and '-' are alike: tls_ca or tls-ca):\n"
	"  --interface IF        capture on IF (repeatable; required)\n"
	"  --host-id ID          this host's name in captures (default: the hostname)\n"
	"  --colo COLO           this host's colo, e.g. ord02 (required for full captures)\n"
	"  --control URL         the aggregator's control endpoint (SP), e.g.\n"
	"                        tls+tcp://agg:7101 (or ipc://PATH; required)\n"
	"  --data URL            the aggregator's data endpoint (SP), e.g. tls+tcp://agg:7102\n"
	"                        (or ipc://PATH; required)\n"
	"  --local-socket PATH   control socket for edgecapctl (default /run/edgecap/agent.sock);\n"
	"                        its directory must be the agent's own, without group or other\n"
	"                        access\n"
	"  --local-max-request BYTES   the local socket's largest request, 4K-64M (default 1M)\n"
	"  --local-max-connections N   its connections at once, 1-4096; one more closes the\n"
	"                        one whose time runs out first (default 64)\n"
	"  --local-timeout-ms MS   time a connection has to send a whole request or take a whole\n"
	"                        reply, 100-600000 (default 5000)\n"
	"  --output-dir DIR      local captures (edgecapctl start -w) are written here and only\n"
	"                        here (default /var/lib/edgecap-agent/captures)\n"
	"  --queue-size BYTES    send queue while the aggregator is away (default 64M)\n"
	"  --sample-rate N       default 1-in-N sampling of simple captures (default 1)\n"
	"  --snaplen N           default snaplen of simple captures (default 160); the\n"
	"                        aggregator's stop at 160 unless their request sets one\n"
	"  --hook xdp|tc-ingress|tc-egress   where to capture (default xdp)\n"
	"  --xdp-mode auto|native|skb        XDP attach mode (default auto)\n"
	"  --ring-size BYTES     ring buffers per interface, a power of two, 256K-1G (default "
	"8M):\n"
	"                        a ring per CPU, each max(BYTES/CPUs, min(BYTES, 8M))\n"
	"  --batch-ms MS         longest a packet waits before it is shipped (default 100)\n"
	"  --batch-codec auto|deflate|zstd|lz4   compression of batches: auto (default) takes\n"
	"                        the first of zstd, lz4, deflate that the aggregator's surveys\n"
	"                        name; a codec the aggregator does not name (a protocol 1.1\n"
	"                        one names none) gives deflate\n"
	"  --tls-ca FILE         the CA (PEM) that signs the aggregator's certificate\n"
	"  --tls-cert FILE       this agent's certificate (PEM); its CN, or first DNS name, or\n"
	"                        both (then the same), is the host id\n"
	"  --tls-key FILE        the certificate's private key (PEM)\n"
	"  --insecure-plaintext  allow tcp:// endpoints (no authentication, no encryption);\n"
	"                        interop tests only. tls+tcp:// and ipc:// need no flag\n"
	"  --metrics ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics (numeric\n"
	"                        address, IPv6 as [ADDR]:PORT; default: off)\n"
	"  --config FILE         read settings from FILE first\n"
	"  -v, --verbose         debug logging\n"
	"  --version             print the version and exit\n"
	"  -h, --help            print this help and exit\n"
	"\n"
	"Examples:\n"
	"  edgecap-agent --interface eth0 --colo ord02 --host-id edge-ord02-01 \\\n"
	"      --control tls+tcp://agg.example.net:7101 --data tls+tcp://agg.example.net:7102 \\\n"
	"      --tls-ca /etc/edgecap/ca.pem --tls-cert /etc/edgecap/agent.pem \\\n"
	"      --tls-key /etc/edgecap/agent.key\n"
	"  edgecap-agent --config /etc/edgecap/agent.conf --metrics 127.0.0.1:9101\n"
	"  edgecap-agent --config /etc/edgecap/agent.conf --output-dir /srv/edgecap/local\n";

enum {
	OPT_INTERFACE,
	OPT_HOST_ID,
	OPT_COLO,
	OPT_CONTROL,
	OPT_DATA,
	OPT_LOCAL_SOCKET,
	OPT_LOCAL_MAX_REQUEST,
	OPT_LOCAL_MAX_CONNS,
	OPT_LOCAL_TIMEOUT_MS,
	OPT_OUTPUT_DIR,
	OPT_QUEUE_SIZE,
	OPT_SAMPLE_RATE,
	OPT_SNAPLEN,
	OPT_HOOK,
	OPT_XDP_MODE,
	OPT_RING_SIZE,
	OPT_BATCH_MS,
	OPT_BATCH_CODEC,
	/* in enum tls_opt's order: tls_opts_set takes the offset from OPT_TLS_CA */
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_INSECURE_PLAINTEXT,
	OPT_METRICS,
};

/* In --help's order; --config, -v/--verbose and -h/--help are conffile_parse_args()'s own. */
static const struct conffile_option agent_options[] = {
	{ "interface", OPT_INTERFACE },
	{ "host-id", OPT_HOST_ID },
	{ "colo", OPT_COLO },
	{ "control", OPT_CONTROL },
	{ "data", OPT_DATA },
	{ "local-socket", OPT_LOCAL_SOCKET },
	{ "local-max-request", OPT_LOCAL_MAX_REQUEST },
	{ "local-max-connections", OPT_LOCAL_MAX_CONNS },
	{ "local-timeout-ms", OPT_LOCAL_TIMEOUT_MS },
	{ "output-dir", OPT_OUTPUT_DIR },
	/* The design's name for the config key; the flag's spelling works too. */
	{ "output_dir", OPT_OUTPUT_DIR },
	{ "queue-size", OPT_QUEUE_SIZE },
	{ "sample-rate", OPT_SAMPLE_RATE },
	{ "snaplen", OPT_SNAPLEN },
	{ "hook", OPT_HOOK },
	{ "xdp-mode", OPT_XDP_MODE },
	{ "ring-size", OPT_RING_SIZE },
	{ "batch-ms", OPT_BATCH_MS },
	{ "batch-codec", OPT_BATCH_CODEC },
	{ "tls-ca", OPT_TLS_CA },
	{ "tls-cert", OPT_TLS_CERT },
	{ "tls-key", OPT_TLS_KEY },
	{ "insecure-plaintext", OPT_INSECURE_PLAINTEXT, true },
	{ "metrics", OPT_METRICS },
	{ NULL },
};

/* What apply() works on: the settings, and whether a flag has given interfaces yet. */
struct parse_ctx {
	struct agent_config *cfg;
	bool ifaces_from_flags;
};

void agent_config_defaults(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hook = EC_HOOK_XDP;
	cfg->xdp_mode = XDP_MODE_AUTO;
	if (gethostname(cfg->host_id, sizeof(cfg->host_id) - 1))
		snprintf(cfg->host_id, sizeof(cfg->host_id), "localhost");
	snprintf(cfg->local_socket, sizeof(cfg->local_socket), "/run/edgecap/agent.sock");
	cfg->local_max_request = LOCAL_CTL_MAX_REQUEST_DEFAULT;
	cfg->local_max_conns = LOCAL_CTL_MAX_CONNS_DEFAULT;
	cfg->local_timeout_ms = LOCAL_CTL_TIMEOUT_MS_DEFAULT;
	snprintf(cfg->output_dir, sizeof(cfg->output_dir), "/var/lib/edgecap-agent/captures");
	cfg->queue_bytes = 64ULL << 20;
	cfg->simple_sample_rate = 1;
	cfg->simple_snaplen = REQ_SIMPLE_SNAPLEN;
	cfg->ring_bytes = 8U << 20;
	cfg->batch_ms = 100;
	cfg->batch_codec = AGENT_CODEC_AUTO;
}

/* Applies one setting; shared by flags and the config file so both accept the same things. */
/* An integer setting from min to max, or an error that says so (as every such setting says it). */
static int parse_int(const char *value, uint32_t min, uint32_t max, uint32_t *out, char *err,
		     size_t errlen)
{
	if (strnum_u32(value, min, max, out)) {
		snprintf(err, errlen, "must be an integer from %u to %u", min, max);
		return -EINVAL;
	}
	return 0;
}

static int apply(void *ctx, int opt, const char *name, const char *value, bool from_flag, char *err,
		 size_t errlen)
{
	struct parse_ctx *pc = ctx;
	struct agent_config *cfg = pc->cfg;
	uint64_t v;

	switch (opt) {
	case OPT_INTERFACE:
		if (from_flag && !pc->ifaces_from_flags) {
			/* Interfaces given as flags replace the config file's list. */
			cfg->n_ifaces = 0;
			pc->ifaces_from_flags = true;
		}
		if (cfg->n_ifaces == ENGINE_MAX_IFACES) {
			snprintf(err, errlen, "at most %d interfaces", ENGINE_MAX_IFACES);
			return -EINVAL;
		}
		return conffile_copy_str(cfg->ifaces[cfg->n_ifaces++], sizeof(cfg->ifaces[0]), name,
					 value, err, errlen);
	case OPT_HOST_ID:
		return conffile_copy_str(cfg->host_id, sizeof(cfg->host_id), name, value, err,
					 errlen);
	case OPT_COLO:
		return conffile_copy_str(cfg->colo, sizeof(cfg->colo), name, value, err, errlen);
	case OPT_CONTROL:
		return conffile_copy_str(cfg->control_url, sizeof(cfg->control_url), name, value,
					 err, errlen);
	case OPT_DATA:
		return conffile_copy_str(cfg->data_url, sizeof(cfg->data_url), name, value, err,
					 errlen);
	case OPT_LOCAL_SOCKET:
		return conffile_copy_str(cfg->local_socket, sizeof(cfg->local_socket), name, value,
					 err, errlen);
	case OPT_LOCAL_MAX_REQUEST:
		if (strnum_size(value, 4 << 10, 64 << 20, &cfg->local_max_request)) {
			snprintf(err, errlen, "must be a size from 4K to 64M, such as 1M");
			return -EINVAL;
		}
		return 0;
	case OPT_LOCAL_MAX_CONNS:
		return parse_int(value, 1, 4096, &cfg->local_max_conns, err, errlen);
	case OPT_LOCAL_TIMEOUT_MS:
		return parse_int(value, 100, 600000, &cfg->local_timeout_ms, err, errlen);
	case OPT_OUTPUT_DIR:
		if (value[0] != '/') {
			snprintf(err, errlen, "must be an absolute directory path");
			return -EINVAL;
		}
		return conffile_copy_str(cfg->output_dir, sizeof(cfg->output_dir), name, value, err,
					 errlen);
	case OPT_QUEUE_SIZE:
		if (strnum_size(value, 64 << 10, 16ULL << 30, &cfg->queue_bytes))
			goto bad_size;
		return 0;
	case OPT_SAMPLE_RATE:
		return parse_int(value, 1, REQ_SAMPLE_RATE_MAX, &cfg->simple_sample_rate, err,
				 errlen);
	case OPT_SNAPLEN:
		return parse_int(value, 1, EC_MAX_CAPLEN, &cfg->simple_snaplen, err, errlen);
	case OPT_HOOK:
		if (hook_parse(value, &cfg->hook)) {
			snprintf(err, errlen, "must be xdp, tc-ingress or tc-egress");
			return -EINVAL;
		}
		return 0;
	case OPT_XDP_MODE:
		if (xdp_mode_parse(value, &cfg->xdp_mode)) {
			snprintf(err, errlen, "must be auto, native or skb");
			return -EINVAL;
		}
		return 0;
	case OPT_RING_SIZE:
		if (strnum_size(value, EC_MIN_RING_BYTES, 1ULL << 30, &v) || (v & (v - 1)))
			goto bad_size;
		cfg->ring_bytes = (uint32_t)v;
		return 0;
	case OPT_BATCH_MS:
		return parse_int(value, 1, 10000, &cfg->batch_ms, err, errlen);
	case OPT_BATCH_CODEC: {
		enum wire_codec c;

		if (!strcmp(value, "auto")) {
			cfg->batch_codec = AGENT_CODEC_AUTO;
			return 0;
		}
		if (wire_codec_parse(value, &c)) {
			snprintf(err, errlen, "must be auto, deflate, zstd or lz4");
			return -EINVAL;
		}
		cfg->batch_codec = (int)c;
		return 0;
	}
	case OPT_TLS_CA:
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
	case OPT_INSECURE_PLAINTEXT:
		return tls_opts_set(&cfg->tls, (enum tls_opt)(opt - OPT_TLS_CA), name, value, err,
				    errlen);
	case OPT_METRICS:
		return listen_addr_set(cfg->metrics, sizeof(cfg->metrics), name, value, err,
				       errlen);
	}
	snprintf(err, errlen, "unknown setting \"%s\"", name);
	return -EINVAL;
bad_size:
	snprintf(err, errlen, "must be a size such as 64M%s",
		 opt == OPT_RING_SIZE ? ", a power of two from 256K to 1G" : "");
	return -EINVAL;
}

int agent_config_parse(int argc, char **argv, struct agent_config *cfg)
{
	struct parse_ctx pc = { .cfg = cfg };
	char err[PATH_MAX + 512];
	const struct conffile_spec spec = {
		.prog = "edgecap-agent",
		.usage = agent_usage,
		.options = agent_options,
		.apply = apply,
		.ctx = &pc,
		.verbose = &cfg->verbose,
	};
	int ret;

	agent_config_defaults(cfg);
	cfg->argc = argc;
	cfg->argv = argv;
	ret = conffile_parse_args(&spec, argc, argv);
	if (ret)
		return ret;
	if (!cfg->n_ifaces)
		return usage_error(spec.prog, "missing option", "--interface",
				   "give at least one interface to capture on");
	if (!cfg->control_url[0] || !cfg->data_url[0])
		return usage_error(spec.prog, "missing option",
				   !cfg->control_url[0] ? "--control" : "--data",
				   "give the aggregator's endpoints, --control and --data");
	if (tls_check_url("--control", cfg->control_url, &cfg->tls, err, sizeof(err)) ||
	    tls_check_url("--data", cfg->data_url, &cfg->tls, err, sizeof(err))) {
		pr_err("%s", err);
		return -EINVAL;
	}
	return 0;
}

const char *agent_codec_name(int codec)
{
	return codec == AGENT_CODEC_AUTO ? "auto" : wire_codec_name((enum wire_codec)codec);
}

/* Appends name to a ", "-separated list in buf (truncated quietly: it is a log line). */
static void list_add(char *buf, size_t size, const char *name)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s", n ? ", " : "", name);
}

int agent_config_reload(struct agent_config *cfg)
{
	struct agent_config next;
	char ignored[512] = "";
	int ret;

	ret = agent_config_parse(cfg->argc, cfg->argv, &next);
	if (ret) {
		pr_err("SIGHUP: keeping every setting as it was: the configuration does not parse");
		return ret < 0 ? ret : -EINVAL;
	}
	/* What starts next: new captures take these; running ones keep what they started with. */
	if (next.verbose != cfg->verbose) {
		cfg->verbose = next.verbose;
		log_set_level(cfg->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
		pr_info("SIGHUP: verbose is now %s", cfg->verbose ? "on" : "off");
	}
	if (next.simple_sample_rate != cfg->simple_sample_rate) {
		pr_info("SIGHUP: sample-rate %u -> %u (captures started from now on)",
			cfg->simple_sample_rate, next.simple_sample_rate);
		cfg->simple_sample_rate = next.simple_sample_rate;
	}
	if (next.simple_snaplen != cfg->simple_snaplen) {
		pr_info("SIGHUP: snaplen %u -> %u (captures started from now on)",
			cfg->simple_snaplen, next.simple_snaplen);
		cfg->simple_snaplen = next.simple_snaplen;
	}
	if (next.batch_ms != cfg->batch_ms) {
		pr_info("SIGHUP: batch-ms %u -> %u", cfg->batch_ms, next.batch_ms);
		cfg->batch_ms = next.batch_ms;
	}
	if (next.batch_codec != cfg->batch_codec) {
		pr_info("SIGHUP: batch-codec %s -> %s (from the next survey on)",
			agent_codec_name(cfg->batch_codec), agent_codec_name(next.batch_codec));
		cfg->batch_codec = next.batch_codec;
	}

	/* The rest is bound into attached programs, open sockets and files: start only. */
	if (next.n_ifaces != cfg->n_ifaces)
		list_add(ignored, sizeof(ignored), "interface");
	for (unsigned int i = 0; next.n_ifaces == cfg->n_ifaces && i < next.n_ifaces; i++) {
		if (strcmp(next.ifaces[i], cfg->ifaces[i])) {
			list_add(ignored, sizeof(ignored), "interface");
			break;
		}
	}
	if (strcmp(next.host_id, cfg->host_id))
		list_add(ignored, sizeof(ignored), "host-id");
	if (strcmp(next.colo, cfg->colo))
		list_add(ignored, sizeof(ignored), "colo");
	if (strcmp(next.control_url, cfg->control_url))
		list_add(ignored, sizeof(ignored), "control");
	if (strcmp(next.data_url, cfg->data_url))
		list_add(ignored, sizeof(ignored), "data");
	if (strcmp(next.local_socket, cfg->local_socket))
		list_add(ignored, sizeof(ignored), "local-socket");
	if (next.local_max_request != cfg->local_max_request ||
	    next.local_max_conns != cfg->local_max_conns ||
	    next.local_timeout_ms != cfg->local_timeout_ms)
		list_add(ignored, sizeof(ignored),
			 "local-max-request/local-max-connections/local-timeout-ms");
	if (strcmp(next.metrics, cfg->metrics))
		list_add(ignored, sizeof(ignored), "metrics");
	if (strcmp(next.output_dir, cfg->output_dir))
		list_add(ignored, sizeof(ignored), "output-dir");
	if (next.queue_bytes != cfg->queue_bytes)
		list_add(ignored, sizeof(ignored), "queue-size");
	if (next.hook != cfg->hook)
		list_add(ignored, sizeof(ignored), "hook");
	if (next.xdp_mode != cfg->xdp_mode)
		list_add(ignored, sizeof(ignored), "xdp-mode");
	if (next.ring_bytes != cfg->ring_bytes)
		list_add(ignored, sizeof(ignored), "ring-size");
	if (strcmp(next.tls.ca, cfg->tls.ca) || strcmp(next.tls.cert, cfg->tls.cert) ||
	    strcmp(next.tls.key, cfg->tls.key))
		list_add(ignored, sizeof(ignored), "tls-ca/tls-cert/tls-key");
	if (next.tls.insecure_plaintext != cfg->tls.insecure_plaintext)
		list_add(ignored, sizeof(ignored), "insecure-plaintext");
	if (ignored[0])
		pr_warn("SIGHUP: ignored the changed %s: read at start only (restart to apply)",
			ignored);
	else
		pr_info("SIGHUP: configuration reloaded");
	return 0;
}
