// SPDX-License-Identifier: BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "conffile.h"
#include "config.h"
#include "log.h"
#include "strnum.h"

static const char agg_usage[] =
	"usage: edgecap-aggregator [--config FILE] [options]\n"
	"\n"
	"edgecap's central service: serves the PCAPs API over HTTP, hands captures to the agents\n"
	"that dial in, merges what they send into one pcap per simple capture, and keeps a\n"
	"manifest per capture under the state directory. Finished captures survive a restart.\n"
	"\n"
	"Options (each also a `key = value` line in the config file, without the dashes):\n"
	"  --credentials FILE       who may use the API (required): one `ACCOUNT_ID SHA256_HEX\n"
	"                           [EMAIL]` a line, made with `edgecapctl credential`; mode\n"
	"                           0600 or 0640; SIGHUP re-reads it\n"
	"  --http ADDR:PORT         where the API listens (default 127.0.0.1:7100; port 0: any\n"
	"                           free port, logged at start-up); IPv6 as [ADDR]:PORT\n"
	"  --control URL            control endpoint agents dial (SP; default tls+tcp://*:7101)\n"
	"  --data URL               data endpoint agents dial (SP; default tls+tcp://*:7102)\n"
	"  --state-dir DIR          captures and manifests (default /var/lib/edgecap)\n"
	"  --destination-root DIR   full captures' destination_conf must lie beneath DIR\n"
	"                           (repeatable; default STATE_DIR/destinations); a relative\n"
	"                           destination_conf is taken beneath the first one\n"
	"  --simple-interval SECS   at most one simple capture per SECS seconds per account\n"
	"                           (default 60; 0: no limit)\n"
	"  --max-full N             full captures pending or running at once per account\n"
	"                           (default 1; 0: no limit)\n"
	"  --grace SECS             wait for agents' final reports after a capture's end\n"
	"                           (default 5)\n"
	"  --max-body BYTES         largest request body, e.g. 64K (default 64K)\n"
	"  --no-agents              run captures without agents: each ends after its time_limit\n"
	"                           (or when stopped) with an empty pcap; for tests and demos\n"
	"  --tls-ca FILE            the CA (PEM) that signs every agent's certificate\n"
	"  --tls-cert FILE          the aggregator's certificate (PEM), named for the host the\n"
	"                           agents dial\n"
	"  --tls-key FILE           its private key (PEM)\n"
	"  --insecure-plaintext     allow tcp:// endpoints (no authentication, no encryption);\n"
	"                           interop tests only. tls+tcp:// and ipc:// need no flag\n"
	"  --config FILE            read settings from FILE first\n"
	"  -v, --verbose            debug logging (every request)\n"
	"  -h, --help               this text\n"
	"\n"
	"Examples:\n"
	"  edgecapctl credential acme    # a secret for acme, and its line for the file\n"
	"  edgecap-aggregator --credentials /etc/edgecap/credentials --http 0.0.0.0:7100 \\\n"
	"      --control tls+tcp://*:7101 --data tls+tcp://*:7102 --tls-ca /etc/edgecap/ca.pem \\\n"
	"      --tls-cert /etc/edgecap/aggregator.pem --tls-key /etc/edgecap/aggregator.key \\\n"
	"      --state-dir /var/lib/edgecap\n"
	"  edgecap-aggregator --destination-root /srv/pcaps --destination-root /data/pcaps\n"
	"  edgecap-aggregator --config /etc/edgecap/aggregator.conf --simple-interval 10\n"
	"\n"
	"A config file:\n"
	"  # /etc/edgecap/aggregator.conf\n"
	"  credentials = /etc/edgecap/credentials\n"
	"  http = 0.0.0.0:7100\n"
	"  state-dir = /var/lib/edgecap\n"
	"  destination_root = /srv/pcaps\n"
	"  max-full = 1\n"
	"\n"
	"Signals: SIGINT, SIGTERM stop; SIGHUP re-reads the credentials file (a bad file keeps "
	"the\n"
	"old credentials, and says why).\n"
	"\n"
	"Exit status: 0 after SIGINT or SIGTERM, 1 on a runtime failure, 2 on bad usage (a "
	"missing\n"
	"or unsafe credentials file too).\n";

enum {
	OPT_CREDENTIALS,
	OPT_HTTP,
	OPT_CONTROL,
	OPT_DATA,
	OPT_STATE_DIR,
	OPT_DEST_ROOT,
	OPT_SIMPLE_INTERVAL,
	OPT_MAX_FULL,
	OPT_GRACE,
	OPT_MAX_BODY,
	OPT_NO_AGENTS,
	/* in enum tls_opt's order: tls_opts_set takes the offset from OPT_TLS_CA */
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_INSECURE_PLAINTEXT,
};

/* In --help's order; --config, -v/--verbose and -h/--help are conffile_parse_args()'s own. */
static const struct conffile_option agg_options[] = {
	{ "credentials", OPT_CREDENTIALS },
	{ "http", OPT_HTTP },
	{ "control", OPT_CONTROL },
	{ "data", OPT_DATA },
	{ "state-dir", OPT_STATE_DIR },
	{ "destination-root", OPT_DEST_ROOT },
	/* The design's name for the config key; the flag's spelling works too. */
	{ "destination_root", OPT_DEST_ROOT },
	{ "simple-interval", OPT_SIMPLE_INTERVAL },
	{ "max-full", OPT_MAX_FULL },
	{ "grace", OPT_GRACE },
	{ "max-body", OPT_MAX_BODY },
	{ "no-agents", OPT_NO_AGENTS, true },
	{ "tls-ca", OPT_TLS_CA },
	{ "tls-cert", OPT_TLS_CERT },
	{ "tls-key", OPT_TLS_KEY },
	{ "insecure-plaintext", OPT_INSECURE_PLAINTEXT, true },
	{ NULL },
};

int agg_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		     size_t errlen)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port;
	uint32_t p;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			goto bad;
		n = (size_t)(colon - s - 1);
		port = colon + 2;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		n = (size_t)(colon - s);
		port = colon + 1;
	}
	if (!n || n >= sizeof(host))
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	if (strnum_u32(port, 0, 65535, &p))
		goto bad;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
		return 0;
	}
bad:
	snprintf(err, errlen,
		 "must be ADDR:PORT with a numeric IPv4 address or a bracketed IPv6 one and a port "
		 "from 0 to 65535, e.g. 127.0.0.1:7100 or [::1]:7100");
	return -EINVAL;
}

void agg_format_listen(const struct sockaddr_storage *ss, uint16_t port, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, port);
	}
}

void agg_config_defaults(struct agg_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	/* Loopback unless told otherwise: exposing the API is the operator's choice. */
	snprintf(cfg->http, sizeof(cfg->http), "127.0.0.1:7100");
	agg_parse_listen(cfg->http, &cfg->http_addr, &cfg->http_addrlen, err, sizeof(err));
	snprintf(cfg->control_url, sizeof(cfg->control_url), "tls+tcp://*:7101");
	snprintf(cfg->data_url, sizeof(cfg->data_url), "tls+tcp://*:7102");
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/edgecap");
	cfg->simple_interval_s = 60;
	cfg->max_full = 1;
	cfg->grace_s = 5;
	cfg->max_body = API_MAX_BODY_DEFAULT;
}

static int parse_u32(const char *name, const char *value, uint32_t max, uint32_t *out,
		     const char *unit, char *err, size_t errlen)
{
	if (strnum_u32(value, 0, max, out)) {
		snprintf(err, errlen, "%s: must be %s from 0 to %u (got \"%s\")", name, unit, max,
			 value);
		return -EINVAL;
	}
	return 0;
}

/* Applies one setting; shared by flags and the config file so both accept the same things. */
static int apply(void *ctx, int opt, const char *name, const char *value, bool from_flag, char *err,
		 size_t errlen)
{
	struct agg_config *cfg = ctx;
	char why[256];

	switch (opt) {
	case OPT_CREDENTIALS:
		return conffile_copy_str(cfg->credentials, sizeof(cfg->credentials), name, value,
					 err, errlen);
	case OPT_HTTP:
		if (agg_parse_listen(value, &cfg->http_addr, &cfg->http_addrlen, why,
				     sizeof(why))) {
			snprintf(err, errlen, "%s: %s (got \"%s\")", name, why, value);
			return -EINVAL;
		}
		return conffile_copy_str(cfg->http, sizeof(cfg->http), name, value, err, errlen);
	case OPT_CONTROL:
		return conffile_copy_str(cfg->control_url, sizeof(cfg->control_url), name, value,
					 err, errlen);
	case OPT_DATA:
		return conffile_copy_str(cfg->data_url, sizeof(cfg->data_url), name, value, err,
					 errlen);
	case OPT_STATE_DIR:
		return conffile_copy_str(cfg->state_dir, sizeof(cfg->state_dir), name, value, err,
					 errlen);
	case OPT_DEST_ROOT:
		if (from_flag && !cfg->dest_roots_from_flags) {
			cfg->n_dest_roots = 0;
			cfg->dest_roots_from_flags = true;
		}
		if (cfg->n_dest_roots == AGG_MAX_DEST_ROOTS) {
			snprintf(err, errlen, "%s: at most %d destination roots", name,
				 AGG_MAX_DEST_ROOTS);
			return -EINVAL;
		}
		if (value[0] != '/') {
			snprintf(err, errlen, "%s: must be an absolute directory path (got \"%s\")",
				 name, value);
			return -EINVAL;
		}
		return conffile_copy_str(cfg->dest_roots[cfg->n_dest_roots++],
					 sizeof(cfg->dest_roots[0]), name, value, err, errlen);
	case OPT_SIMPLE_INTERVAL:
		return parse_u32(name, value, 86400, &cfg->simple_interval_s, "a number of seconds",
				 err, errlen);
	case OPT_MAX_FULL:
		return parse_u32(name, value, 1000, &cfg->max_full, "a count", err, errlen);
	case OPT_GRACE:
		return parse_u32(name, value, 600, &cfg->grace_s, "a number of seconds", err,
				 errlen);
	case OPT_MAX_BODY:
		if (strnum_size(value, 1024, 64ULL << 20, &cfg->max_body)) {
			snprintf(err, errlen,
				 "%s: must be a size from 1K to 64M, such as 64K (got \"%s\")",
				 name, value);
			return -EINVAL;
		}
		return 0;
	case OPT_NO_AGENTS:
		cfg->no_agents = true;
		return 0;
	case OPT_TLS_CA:
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
	case OPT_INSECURE_PLAINTEXT:
		return tls_opts_set(&cfg->tls, (enum tls_opt)(opt - OPT_TLS_CA), name, value, err,
				    errlen);
	}
	snprintf(err, errlen, "unknown setting \"%s\"", name);
	return -EINVAL;
}

unsigned int agg_dest_roots(struct agg_config *cfg, const char *roots[AGG_MAX_DEST_ROOTS])
{
	unsigned int i;

	if (!cfg->n_dest_roots) {
		snprintf(cfg->dest_roots[0], sizeof(cfg->dest_roots[0]), "%.*s/destinations",
			 (int)sizeof(cfg->dest_roots[0]) - 16, cfg->state_dir);
		cfg->n_dest_roots = 1;
	}
	for (i = 0; i < cfg->n_dest_roots; i++)
		roots[i] = cfg->dest_roots[i];
	return cfg->n_dest_roots;
}

int agg_config_parse(int argc, char **argv, struct agg_config *cfg)
{
	const struct conffile_spec spec = {
		.prog = "edgecap-aggregator",
		.usage = agg_usage,
		.options = agg_options,
		.apply = apply,
		.ctx = cfg,
		.verbose = &cfg->verbose,
		.help_first = true,
		.own_usage_errors = true,
	};

	char err[PATH_MAX + 512];
	int ret;

	agg_config_defaults(cfg);
	ret = conffile_parse_args(&spec, argc, argv);
	if (ret)
		return ret;
	/* Without agents nothing is bound, so the endpoints are not checked. */
	if (!cfg->no_agents &&
	    (tls_check_url("--control", cfg->control_url, &cfg->tls, err, sizeof(err)) ||
	     tls_check_url("--data", cfg->data_url, &cfg->tls, err, sizeof(err)))) {
		pr_err("%s", err);
		return -EINVAL;
	}
	return 0;
}
