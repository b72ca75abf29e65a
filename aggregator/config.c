// SPDX-License-Identifier: BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bucket_url.h"
#include "conffile.h"
#include "config.h"
#include "ingest.h"
#include "store.h"
#include "fanout.h"
#include "listen_addr.h"
#include "log.h"
#include "strnum.h"

static const char agg_usage[] =
	"usage: edgecap-aggregator [--config FILE] [options]\n"
	"\n"
	"edgecap's central service: serves the PCAPs API over HTTP, hands captures to the agents\n"
	"that dial in, merges what they send into one pcap per simple capture, and keeps a\n"
	"manifest per capture under the state directory. Finished captures survive a restart.\n"
	"\n"
	"Options (each also a `key = value` line in the config file, without the dashes;\n"
	"a key's '_' and '-' are alike: tls_ca or tls-ca):\n"
	"  --credentials FILE       who may use the API (required): one `ACCOUNT_ID SHA256_HEX\n"
	"                           [EMAIL]` a line, made with `edgecapctl credential`; mode\n"
	"                           0600 or 0640, owned by root or the aggregator's user;\n"
	"                           SIGHUP re-reads it\n"
	"  --http ADDR:PORT         where the API listens (default 127.0.0.1:7100; port 0: any\n"
	"                           free port, logged at start-up); IPv6 as [ADDR]:PORT\n"
	"  --control URL            control endpoint agents dial (SP; default tls+tcp://*:7101)\n"
	"  --data URL               data endpoint agents dial (SP; default tls+tcp://*:7102)\n"
	"  --state-dir DIR          captures and manifests (default /var/lib/edgecap)\n"
	"  --destination-root DIR   full captures' destination_conf must lie beneath DIR\n"
	"                           (repeatable; default STATE_DIR/destinations); a relative\n"
	"                           destination_conf is taken beneath the first one\n"
	"  --s3-allow-bucket NAME   full captures may go to bucket NAME (s3://NAME/... or\n"
	"                           gs://NAME/...; repeatable; any other bucket is refused)\n"
	"  --s3-endpoint URL        the S3 endpoint (default https://s3.REGION.amazonaws.com;\n"
	"                           an S3-compatible store's URL, addressed path-style)\n"
	"  --s3-region REGION       signing region when destination_conf has no ?region=\n"
	"                           (default us-east-1)\n"
	"  --s3-credentials FILE    `access_key_id = ...` and `secret_access_key = ...` lines,\n"
	"                           mode 0600 or 0640 (default: AWS_ACCESS_KEY_ID and\n"
	"                           AWS_SECRET_ACCESS_KEY from the environment)\n"
	"  --gs-endpoint URL        gs:// buckets' S3-compatible XML API (default\n"
	"                           https://storage.googleapis.com)\n"
	"  --gs-credentials FILE    gs:// buckets' HMAC keys, as --s3-credentials (default: the\n"
	"                           S3 credentials)\n"
	"  --upload-retries N       a failed upload is tried again N times (default 5)\n"
	"  --upload-backoff SECS    first wait before a retry, doubled each time up to 60 s\n"
	"                           (default 2)\n"
	"  --upload-keep-hours N    a failed upload's local files stay N hours (default 72)\n"
	"  --simple-interval SECS   at most one simple capture per SECS seconds per account\n"
	"                           (default 60; 0: no limit)\n"
	"  --max-full N             full captures pending or running at once per account\n"
	"                           (default 1; 0: no limit)\n"
	"  --grace SECS             wait for agents' final reports after a capture's end\n"
	"                           (default 5)\n"
	"  --agent-lost-grace SECS  an agent silent this long is lost: captures go on without it\n"
	"                           (default 3)\n"
	"  --max-body BYTES         largest request body, e.g. 64K (default 64K)\n"
	"  --no-agents              run captures without agents: each ends after its time_limit\n"
	"                           (or when stopped) with an empty pcap; for tests and demos\n"
	"  --metrics ADDR:PORT      serve Prometheus metrics at http://ADDR:PORT/metrics (numeric\n"
	"                           address, IPv6 as [ADDR]:PORT; default: off). GET /healthz\n"
	"                           on the API's listener needs no credential\n"
	"  --retention-days N       remove finished captures (record, manifest, pcap under the\n"
	"                           state directory) N days after they finished, checked at\n"
	"                           start and hourly; never a running one; files written under a\n"
	"                           destination root stay (default 30; 0: keep every capture)\n"
	"  --retention-captures N   an account keeps at most its newest N finished captures;\n"
	"                           older ones are removed as by --retention-days (default\n"
	"                           50000: 30 days of one simple capture a minute; 0: no limit)\n"
	"  --max-capture-hosts N    hosts that may send data for one capture; a full capture\n"
	"                           holds one file open per host (default 10000, at most\n"
	"                           50000); data from more is dropped as too_many_agents\n"
	"  --full-byte-limit BYTES  a full capture without byte_limit: each host's file holds\n"
	"                           at most BYTES, record headers included (default\n"
	"                           1000000000)\n"
	"  --manifest-interval-ms MS  a capture's manifest is rewritten for agents' reports at\n"
	"                           most every MS ms; status changes at once (default 1000;\n"
	"                           0: every report)\n"
	"  --reorder-window-ms MS   a simple capture holds a record at most MS ms for agents\n"
	"                           that are behind before it is written in timestamp order\n"
	"                           (default 1000)\n"
	"  --reorder-max-bytes BYTES  what a simple capture's reorder window holds at most,\n"
	"                           e.g. 64M; past it the oldest records are written at once\n"
	"                           (default 64M)\n"
	"  --key-wait-ms MS         with --tls-ca, data that came before its agent proved its key\n"
	"                           waits at most MS ms for it (default 5000)\n"
	"  --key-wait-bytes BYTES   ... in a room of BYTES in all, e.g. 32M (default 32M)\n"
	"  --key-wait-messages N    ... and of N messages in all (default 16384)\n"
	"  --key-wait-host-bytes BYTES, --key-wait-host-messages N  ... of which one agent id\n"
	"                           takes at most BYTES and N (default 1M, 64)\n"
	"  --key-wait-conn-bytes BYTES, --key-wait-conn-messages N  ... and one data connection\n"
	"                           (default 4M, 1024)\n"
	"  --max-pending-joins N    late join surveys queued (for agents that come while captures\n"
	"                           run), up to 64 agents each; past it a join is refused and\n"
	"                           counted (default 1024)\n"
	"  --checkpoint-ms MS       a running capture's state is made durable every MS ms while\n"
	"                           agents send: a crash loses at most that much (default 500)\n"
	"  --http-threads N         threads serving the API (default 4)\n"
	"  --http-max-connections N  API connections at once (default 1024)\n"
	"  --http-per-ip-connections N  API connections at once from one address (default 32)\n"
	"  --http-timeout SECS      an API connection idle this long is closed, and so is one\n"
	"                           whose request (headers and body) is not whole this long\n"
	"                           after it connected or had its last answer to a request\n"
	"                           with a credential (default 5)\n"
	"  --http-tls-cert FILE     serve the API over HTTPS only (TLS 1.2, 1.3) with this\n"
	"                           certificate (PEM, its chain may follow); with --http-tls-key\n"
	"  --http-tls-key FILE      its unencrypted private key (PEM); mode 0600 or 0640, owned\n"
	"                           by root or the aggregator's user\n"
	"  --max-agents N           agents the aggregator keeps track of; one more is not\n"
	"                           registered (default 16384)\n"
	"  --agent-forget-after SECS  a lost agent unseen SECS seconds leaves the agent list\n"
	"                           (default 604800, a week; 0: never)\n"
	"  --tls-ca FILE            the CA (PEM) that signs every agent's certificate\n"
	"  --tls-cert FILE          the aggregator's certificate (PEM), named for the host the\n"
	"                           agents dial\n"
	"  --tls-key FILE           its private key (PEM)\n"
	"  --insecure-plaintext     allow tcp:// endpoints (no authentication, no encryption);\n"
	"                           interop tests only. tls+tcp:// and ipc:// need no flag\n"
	"  --config FILE            read settings from FILE first\n"
	"  -v, --verbose            debug logging (every request)\n"
	"  -h, --help               this text\n"
	"  --version                print the version and exit\n"
	"\n"
	"Examples:\n"
	"  edgecapctl credential acme    # a secret for acme, and its line for the file\n"
	"  edgecap-aggregator --credentials /etc/edgecap/credentials --http 0.0.0.0:7100 \\\n"
	"      --control tls+tcp://*:7101 --data tls+tcp://*:7102 --tls-ca /etc/edgecap/ca.pem \\\n"
	"      --tls-cert /etc/edgecap/aggregator.pem --tls-key /etc/edgecap/aggregator.key \\\n"
	"      --state-dir /var/lib/edgecap\n"
	"  edgecap-aggregator --destination-root /srv/pcaps --destination-root /data/pcaps\n"
	"  edgecap-aggregator --config /etc/edgecap/aggregator.conf --simple-interval 10\n"
	"  edgecap-aggregator --config /etc/edgecap/aggregator.conf --http 0.0.0.0:7100 \\\n"
	"      --http-tls-cert /etc/edgecap/api.pem --http-tls-key /etc/edgecap/api.key\n"
	"  edgecap-aggregator --config /etc/edgecap/aggregator.conf --metrics 127.0.0.1:9102 \\\n"
	"      --retention-days 7\n"
	"  edgecap-aggregator --credentials /etc/edgecap/credentials --s3-allow-bucket pcaps \\\n"
	"      --s3-region eu-west-1 --s3-credentials /etc/edgecap/s3-credentials\n"
	"\n"
	"A config file:\n"
	"  # /etc/edgecap/aggregator.conf\n"
	"  credentials = /etc/edgecap/credentials\n"
	"  http = 0.0.0.0:7100\n"
	"  state-dir = /var/lib/edgecap\n"
	"  destination_root = /srv/pcaps\n"
	"  max-full = 1\n"
	"  metrics = 127.0.0.1:9102\n"
	"  retention-days = 30\n"
	"\n"
	"Signals: SIGINT, SIGTERM stop; SIGHUP re-reads the credentials file (a bad file keeps "
	"the\n"
	"old credentials, and says why), and the HTTPS certificate and key files (a bad pair\n"
	"keeps the one served).\n"
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
	OPT_S3_ALLOW_BUCKET,
	OPT_S3_ENDPOINT,
	OPT_S3_REGION,
	OPT_S3_CREDENTIALS,
	OPT_GS_ENDPOINT,
	OPT_GS_CREDENTIALS,
	OPT_UPLOAD_RETRIES,
	OPT_UPLOAD_BACKOFF,
	OPT_UPLOAD_KEEP_HOURS,
	OPT_SIMPLE_INTERVAL,
	OPT_MAX_FULL,
	OPT_GRACE,
	OPT_AGENT_LOST_GRACE,
	OPT_MAX_BODY,
	OPT_NO_AGENTS,
	OPT_METRICS,
	OPT_RETENTION_DAYS,
	OPT_RETENTION_CAPTURES,
	OPT_MAX_CAPTURE_HOSTS,
	OPT_FULL_BYTE_LIMIT,
	OPT_MANIFEST_INTERVAL_MS,
	OPT_REORDER_WINDOW_MS,
	OPT_REORDER_MAX_BYTES,
	OPT_CHECKPOINT_MS,
	OPT_KEY_WAIT_MS,
	OPT_KEY_WAIT_BYTES,
	OPT_KEY_WAIT_MESSAGES,
	OPT_KEY_WAIT_HOST_BYTES,
	OPT_KEY_WAIT_HOST_MESSAGES,
	OPT_KEY_WAIT_CONN_BYTES,
	OPT_KEY_WAIT_CONN_MESSAGES,
	OPT_MAX_PENDING_JOINS,
	OPT_HTTP_THREADS,
	OPT_HTTP_MAX_CONNECTIONS,
	OPT_HTTP_PER_IP_CONNECTIONS,
	OPT_HTTP_TIMEOUT,
	OPT_HTTP_TLS_CERT,
	OPT_HTTP_TLS_KEY,
	OPT_MAX_AGENTS,
	OPT_AGENT_FORGET_AFTER,
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
	{ "s3-allow-bucket", OPT_S3_ALLOW_BUCKET },
	{ "s3-endpoint", OPT_S3_ENDPOINT },
	{ "s3-region", OPT_S3_REGION },
	{ "s3-credentials", OPT_S3_CREDENTIALS },
	{ "gs-endpoint", OPT_GS_ENDPOINT },
	{ "gs-credentials", OPT_GS_CREDENTIALS },
	{ "upload-retries", OPT_UPLOAD_RETRIES },
	{ "upload-backoff", OPT_UPLOAD_BACKOFF },
	{ "upload-keep-hours", OPT_UPLOAD_KEEP_HOURS },
	{ "simple-interval", OPT_SIMPLE_INTERVAL },
	{ "max-full", OPT_MAX_FULL },
	{ "grace", OPT_GRACE },
	{ "agent-lost-grace", OPT_AGENT_LOST_GRACE },
	{ "max-body", OPT_MAX_BODY },
	{ "no-agents", OPT_NO_AGENTS, true },
	{ "metrics", OPT_METRICS },
	{ "retention-days", OPT_RETENTION_DAYS },
	{ "retention-captures", OPT_RETENTION_CAPTURES },
	{ "max-capture-hosts", OPT_MAX_CAPTURE_HOSTS },
	{ "full-byte-limit", OPT_FULL_BYTE_LIMIT },
	{ "manifest-interval-ms", OPT_MANIFEST_INTERVAL_MS },
	{ "reorder-window-ms", OPT_REORDER_WINDOW_MS },
	{ "reorder-max-bytes", OPT_REORDER_MAX_BYTES },
	{ "checkpoint-ms", OPT_CHECKPOINT_MS },
	{ "key-wait-ms", OPT_KEY_WAIT_MS },
	{ "key-wait-bytes", OPT_KEY_WAIT_BYTES },
	{ "key-wait-messages", OPT_KEY_WAIT_MESSAGES },
	{ "key-wait-host-bytes", OPT_KEY_WAIT_HOST_BYTES },
	{ "key-wait-host-messages", OPT_KEY_WAIT_HOST_MESSAGES },
	{ "key-wait-conn-bytes", OPT_KEY_WAIT_CONN_BYTES },
	{ "key-wait-conn-messages", OPT_KEY_WAIT_CONN_MESSAGES },
	{ "max-pending-joins", OPT_MAX_PENDING_JOINS },
	{ "http-threads", OPT_HTTP_THREADS },
	{ "http-max-connections", OPT_HTTP_MAX_CONNECTIONS },
	{ "http-per-ip-connections", OPT_HTTP_PER_IP_CONNECTIONS },
	{ "http-timeout", OPT_HTTP_TIMEOUT },
	{ "http-tls-cert", OPT_HTTP_TLS_CERT },
	{ "http-tls-key", OPT_HTTP_TLS_KEY },
	{ "max-agents", OPT_MAX_AGENTS },
	{ "agent-forget-after", OPT_AGENT_FORGET_AFTER },
	{ "tls-ca", OPT_TLS_CA },
	{ "tls-cert", OPT_TLS_CERT },
	{ "tls-key", OPT_TLS_KEY },
	{ "insecure-plaintext", OPT_INSECURE_PLAINTEXT, true },
	{ NULL },
};

void agg_config_defaults(struct agg_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	/* Loopback unless told otherwise: exposing the API is the operator's choice. */
	snprintf(cfg->http, sizeof(cfg->http), "127.0.0.1:7100");
	listen_addr_parse(cfg->http, &cfg->http_addr, &cfg->http_addrlen, err, sizeof(err));
	snprintf(cfg->control_url, sizeof(cfg->control_url), "tls+tcp://*:7101");
	snprintf(cfg->data_url, sizeof(cfg->data_url), "tls+tcp://*:7102");
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/edgecap");
	cfg->upload_retries = 5;
	cfg->upload_backoff_s = 2;
	cfg->upload_keep_h = 72;
	cfg->simple_interval_s = 60;
	cfg->max_full = 1;
	cfg->grace_s = 5;
	cfg->lost_grace_s = 3;
	cfg->max_body = API_MAX_BODY_DEFAULT;
	cfg->retention_days = 30;
	cfg->retention_captures = RETENTION_CAPTURES_DEFAULT;
	cfg->max_capture_hosts = INGEST_MAX_HOSTS_DEFAULT;
	cfg->full_byte_limit = INGEST_FULL_BYTE_LIMIT_DEFAULT;
	cfg->manifest_interval_ms = STORE_MANIFEST_INTERVAL_MS_DEFAULT;
	cfg->reorder_window_ms = INGEST_WINDOW_MS_DEFAULT;
	cfg->reorder_max_bytes = INGEST_HELD_MAX_DEFAULT;
	cfg->checkpoint_ms = INGEST_CHECKPOINT_MS_DEFAULT;
	cfg->key_wait_ms = INGEST_PARK_MS;
	cfg->key_wait_bytes = INGEST_PARK_MAX;
	cfg->key_wait_msgs = INGEST_PARK_MSGS;
	cfg->key_wait_host_bytes = INGEST_PARK_HOST_MAX;
	cfg->key_wait_host_msgs = INGEST_PARK_HOST_MSGS;
	cfg->key_wait_conn_bytes = INGEST_PARK_CONN_MAX;
	cfg->key_wait_conn_msgs = INGEST_PARK_CONN_MSGS;
	cfg->max_pending_joins = FANOUT_MAX_JOINS;
	cfg->http_threads = API_THREADS_DEFAULT;
	cfg->http_max_conns = API_MAX_CONNECTIONS_DEFAULT;
	cfg->http_per_ip = API_PER_IP_DEFAULT;
	cfg->http_timeout_s = API_TIMEOUT_S_DEFAULT;
	cfg->max_agents = FANOUT_MAX_AGENTS_DEFAULT;
	cfg->agent_forget_s = FANOUT_PRUNE_AFTER_S_DEFAULT;
}

/* strnum_u32 within min..max, or err naming the range. */
static int parse_u32_min(const char *value, uint32_t min, uint32_t max, uint32_t *out,
			 const char *unit, char *err, size_t errlen)
{
	if (strnum_u32(value, min, max, out)) {
		snprintf(err, errlen, "must be %s from %u to %u", unit, min, max);
		return -EINVAL;
	}
	return 0;
}

static int parse_u32(const char *value, uint32_t max, uint32_t *out, const char *unit, char *err,
		     size_t errlen)
{
	if (strnum_u32(value, 0, max, out)) {
		snprintf(err, errlen, "must be %s from 0 to %u", unit, max);
		return -EINVAL;
	}
	return 0;
}

/* strnum_size within min..max, or err: "must be a size from RANGE", RANGE naming it in words. */
static int parse_size(const char *value, uint64_t min, uint64_t max, uint64_t *out,
		      const char *range, char *err, size_t errlen)
{
	if (strnum_size(value, min, max, out)) {
		snprintf(err, errlen, "must be a size from %s", range);
		return -EINVAL;
	}
	return 0;
}

/* Applies one setting; shared by flags and the config file so both accept the same things. */
static int apply(void *ctx, int opt, const char *name, const char *value, bool from_flag, char *err,
		 size_t errlen)
{
	struct agg_config *cfg = ctx;
	struct bucket_url bu;
	char why[256], url[128];

	switch (opt) {
	case OPT_CREDENTIALS:
		return conffile_copy_str(cfg->credentials, sizeof(cfg->credentials), name, value,
					 err, errlen);
	case OPT_HTTP:
		if (listen_addr_parse(value, &cfg->http_addr, &cfg->http_addrlen, why,
				      sizeof(why))) {
			snprintf(err, errlen, "%s", why);
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
			snprintf(err, errlen, "at most %d destination roots", AGG_MAX_DEST_ROOTS);
			return -EINVAL;
		}
		if (value[0] != '/') {
			snprintf(err, errlen, "must be an absolute directory path");
			return -EINVAL;
		}
		return conffile_copy_str(cfg->dest_roots[cfg->n_dest_roots++],
					 sizeof(cfg->dest_roots[0]), name, value, err, errlen);
	case OPT_S3_ALLOW_BUCKET:
		if (from_flag && !cfg->buckets_from_flags) {
			cfg->n_buckets = 0;
			cfg->buckets_from_flags = true;
		}
		if (cfg->n_buckets == AGG_MAX_BUCKETS) {
			snprintf(err, errlen, "at most %d buckets", AGG_MAX_BUCKETS);
			return -EINVAL;
		}
		snprintf(url, sizeof(url), "gs://%.*s", (int)sizeof(url) - 8, value);
		if (strchr(value, '/') || bucket_url_parse(url, &bu, why, sizeof(why))) {
			snprintf(err, errlen,
				 "a bucket name: 3 to 63 lower-case letters, digits, "
				 "'.', '-' or '_'");
			return -EINVAL;
		}
		return conffile_copy_str(cfg->buckets[cfg->n_buckets++], sizeof(cfg->buckets[0]),
					 name, value, err, errlen);
	case OPT_S3_ENDPOINT:
	case OPT_GS_ENDPOINT:
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
			snprintf(err, errlen, "must be an http:// or https:// URL");
			return -EINVAL;
		}
		if (opt == OPT_S3_ENDPOINT)
			return conffile_copy_str(cfg->s3_endpoint, sizeof(cfg->s3_endpoint), name,
						 value, err, errlen);
		return conffile_copy_str(cfg->gs_endpoint, sizeof(cfg->gs_endpoint), name, value,
					 err, errlen);
	case OPT_S3_REGION:
		snprintf(url, sizeof(url), "s3://bucket?region=%.*s", (int)sizeof(url) - 24, value);
		if (bucket_url_parse(url, &bu, why, sizeof(why))) {
			snprintf(err, errlen,
				 "lower-case letters, digits and '-', as in us-east-1");
			return -EINVAL;
		}
		return conffile_copy_str(cfg->s3_region, sizeof(cfg->s3_region), name, value, err,
					 errlen);
	case OPT_S3_CREDENTIALS:
		return conffile_copy_str(cfg->s3_credentials, sizeof(cfg->s3_credentials), name,
					 value, err, errlen);
	case OPT_GS_CREDENTIALS:
		return conffile_copy_str(cfg->gs_credentials, sizeof(cfg->gs_credentials), name,
					 value, err, errlen);
	case OPT_UPLOAD_RETRIES:
		return parse_u32(value, 100, &cfg->upload_retries, "a count", err, errlen);
	case OPT_UPLOAD_BACKOFF:
		return parse_u32(value, 60, &cfg->upload_backoff_s, "a number of seconds", err,
				 errlen);
	case OPT_UPLOAD_KEEP_HOURS:
		return parse_u32(value, 24 * 365, &cfg->upload_keep_h, "a number of hours", err,
				 errlen);
	case OPT_SIMPLE_INTERVAL:
		return parse_u32(value, 86400, &cfg->simple_interval_s, "a number of seconds", err,
				 errlen);
	case OPT_MAX_FULL:
		return parse_u32(value, 1000, &cfg->max_full, "a count", err, errlen);
	case OPT_GRACE:
		return parse_u32(value, 600, &cfg->grace_s, "a number of seconds", err, errlen);
	case OPT_AGENT_LOST_GRACE:
		if (strnum_u32(value, 1, 3600, &cfg->lost_grace_s)) {
			snprintf(err, errlen, "must be a number of seconds from 1 to 3600");
			return -EINVAL;
		}
		return 0;
	case OPT_MAX_AGENTS:
		if (strnum_u32(value, 1, 1000000, &cfg->max_agents)) {
			snprintf(err, errlen, "must be a count from 1 to 1000000");
			return -EINVAL;
		}
		return 0;
	case OPT_AGENT_FORGET_AFTER:
		return parse_u32(value, 365 * 86400, &cfg->agent_forget_s, "a number of seconds",
				 err, errlen);
	case OPT_MAX_BODY:
		return parse_size(value, 1024, 64ULL << 20, &cfg->max_body,
				  "1K to 64M, such as 64K", err, errlen);
	case OPT_NO_AGENTS:
		cfg->no_agents = true;
		return 0;
	case OPT_METRICS:
		return listen_addr_set(cfg->metrics, sizeof(cfg->metrics), name, value, err,
				       errlen);
	case OPT_RETENTION_DAYS:
		if (strnum_u32(value, 0, 36500, &cfg->retention_days)) {
			snprintf(err, errlen,
				 "must be a whole number of days from 0 (keep every "
				 "capture) to 36500");
			return -EINVAL;
		}
		return 0;
	case OPT_RETENTION_CAPTURES:
		if (strnum_u32(value, 0, RETENTION_CAPTURES_MAX, &cfg->retention_captures)) {
			snprintf(err, errlen,
				 "must be a whole number of captures from 0 (no limit) to %u",
				 RETENTION_CAPTURES_MAX);
			return -EINVAL;
		}
		return 0;
	case OPT_MAX_CAPTURE_HOSTS:
		return parse_u32_min(value, 1, INGEST_MAX_HOSTS_MAX, &cfg->max_capture_hosts,
				     "a count", err, errlen);
	case OPT_FULL_BYTE_LIMIT:
		return parse_size(value, 1024, 1ULL << 40, &cfg->full_byte_limit,
				  "1K to 1T, such as 1000000000 or 512M", err, errlen);
	case OPT_MANIFEST_INTERVAL_MS:
		return parse_u32(value, 60000, &cfg->manifest_interval_ms, "a number of ms", err,
				 errlen);
	case OPT_REORDER_WINDOW_MS:
		return parse_u32_min(value, 1, 60000, &cfg->reorder_window_ms, "a number of ms",
				     err, errlen);
	case OPT_REORDER_MAX_BYTES:
		return parse_size(value, 64 * 1024, 4ULL << 30, &cfg->reorder_max_bytes,
				  "64K to 4G, such as 67108864 or 64M", err, errlen);
	case OPT_KEY_WAIT_BYTES:
		/* At least twice the largest message (WIRE_MSG_MAX): any one batch can wait. */
		return parse_size(value, 8ULL << 20, 1ULL << 30, &cfg->key_wait_bytes,
				  "8M to 1G, such as 33554432 or 32M", err, errlen);
	case OPT_KEY_WAIT_MESSAGES:
		return parse_u32_min(value, 64, 1000000, &cfg->key_wait_msgs, "a count", err,
				     errlen);
	case OPT_KEY_WAIT_MS:
		return parse_u32_min(value, 100, 600000, &cfg->key_wait_ms, "a number of ms", err,
				     errlen);
	case OPT_KEY_WAIT_HOST_BYTES:
		return parse_size(value, 64 * 1024, 1ULL << 30, &cfg->key_wait_host_bytes,
				  "64K to 1G, such as 1048576 or 1M", err, errlen);
	case OPT_KEY_WAIT_HOST_MESSAGES:
		return parse_u32_min(value, 1, 1000000, &cfg->key_wait_host_msgs, "a count", err,
				     errlen);
	case OPT_KEY_WAIT_CONN_BYTES:
		return parse_size(value, 64 * 1024, 1ULL << 30, &cfg->key_wait_conn_bytes,
				  "64K to 1G, such as 4194304 or 4M", err, errlen);
	case OPT_KEY_WAIT_CONN_MESSAGES:
		return parse_u32_min(value, 1, 1000000, &cfg->key_wait_conn_msgs, "a count", err,
				     errlen);
	case OPT_MAX_PENDING_JOINS:
		return parse_u32_min(value, 1, 65536, &cfg->max_pending_joins, "a count", err,
				     errlen);
	case OPT_CHECKPOINT_MS:
		return parse_u32_min(value, 10, 60000, &cfg->checkpoint_ms, "a number of ms", err,
				     errlen);
	case OPT_HTTP_THREADS:
		return parse_u32_min(value, 1, 64, &cfg->http_threads, "a count", err, errlen);
	case OPT_HTTP_MAX_CONNECTIONS:
		return parse_u32_min(value, 1, 60000, &cfg->http_max_conns, "a count", err, errlen);
	case OPT_HTTP_PER_IP_CONNECTIONS:
		return parse_u32_min(value, 1, 60000, &cfg->http_per_ip, "a count", err, errlen);
	case OPT_HTTP_TLS_CERT:
		return conffile_copy_str(cfg->http_tls_cert, sizeof(cfg->http_tls_cert), name,
					 value, err, errlen);
	case OPT_HTTP_TLS_KEY:
		return conffile_copy_str(cfg->http_tls_key, sizeof(cfg->http_tls_key), name, value,
					 err, errlen);
	case OPT_HTTP_TIMEOUT:
		return parse_u32_min(value, 1, 3600, &cfg->http_timeout_s, "a number of seconds",
				     err, errlen);
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
	};

	char err[PATH_MAX + 512];
	int ret;

	agg_config_defaults(cfg);
	cfg->argc = argc;
	cfg->argv = argv;
	ret = conffile_parse_args(&spec, argc, argv);
	if (ret)
		return ret;
	if (!cfg->http_tls_cert[0] != !cfg->http_tls_key[0]) {
		pr_err("--http-tls-%s %s: HTTPS needs --http-tls-%s too",
		       cfg->http_tls_cert[0] ? "cert" : "key",
		       cfg->http_tls_cert[0] ? cfg->http_tls_cert : cfg->http_tls_key,
		       cfg->http_tls_cert[0] ? "key" : "cert");
		return -EINVAL;
	}
	/* Without agents nothing is bound, so the endpoints are not checked. */
	if (!cfg->no_agents &&
	    (tls_check_url("--control", cfg->control_url, &cfg->tls, err, sizeof(err)) ||
	     tls_check_url("--data", cfg->data_url, &cfg->tls, err, sizeof(err)))) {
		pr_err("%s", err);
		return -EINVAL;
	}
	return 0;
}

/* Appends name to a ", "-separated list in buf (truncated quietly: it is a log line). */
static void list_add(char *buf, size_t size, const char *name)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s", n ? ", " : "", name);
}

/* Whether two lists of na and nb names, stride bytes apart in each, differ (order counts). */
static bool names_differ(const char *a, unsigned int na, const char *b, unsigned int nb,
			 size_t stride)
{
	unsigned int i;

	if (na != nb)
		return true;
	for (i = 0; i < na; i++) {
		if (strcmp(a + i * stride, b + i * stride))
			return true;
	}
	return false;
}

int agg_config_reload(struct agg_config *cfg)
{
	struct agg_config *next = malloc(sizeof(*next)); /* ~70 KiB: not on the stack */
	const char *roots[AGG_MAX_DEST_ROOTS];
	char ignored[512] = "";
	int ret;

	if (!next)
		return -ENOMEM;
	ret = agg_config_parse(cfg->argc, cfg->argv, next);
	if (ret) {
		pr_err("SIGHUP: keeping every setting as it was: the configuration does not parse");
		free(next);
		return ret < 0 ? ret : -EINVAL;
	}
	if (next->verbose != cfg->verbose) {
		cfg->verbose = next->verbose;
		log_set_level(cfg->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
		pr_info("SIGHUP: verbose is now %s", cfg->verbose ? "on" : "off");
	}
	if (next->retention_days != cfg->retention_days) {
		pr_info("SIGHUP: retention-days %u -> %u", cfg->retention_days,
			next->retention_days);
		cfg->retention_days = next->retention_days;
	}
	if (next->retention_captures != cfg->retention_captures) {
		pr_info("SIGHUP: retention-captures %u -> %u", cfg->retention_captures,
			next->retention_captures);
		cfg->retention_captures = next->retention_captures;
	}
	/* Bound into listeners, the store and its rules at start. */
	if (strcmp(next->http, cfg->http))
		list_add(ignored, sizeof(ignored), "http");
	if (strcmp(next->metrics, cfg->metrics))
		list_add(ignored, sizeof(ignored), "metrics");
	if (strcmp(next->control_url, cfg->control_url))
		list_add(ignored, sizeof(ignored), "control");
	if (strcmp(next->data_url, cfg->data_url))
		list_add(ignored, sizeof(ignored), "data");
	if (strcmp(next->state_dir, cfg->state_dir))
		list_add(ignored, sizeof(ignored), "state-dir");
	if (strcmp(next->credentials, cfg->credentials))
		list_add(ignored, sizeof(ignored), "credentials (the file's path)");
	/* The default root is filled in as at start, so that only a real change counts. */
	agg_dest_roots(next, roots);
	if (names_differ(next->dest_roots[0], next->n_dest_roots, cfg->dest_roots[0],
			 cfg->n_dest_roots, sizeof(cfg->dest_roots[0])))
		list_add(ignored, sizeof(ignored), "destination-root");
	if (next->simple_interval_s != cfg->simple_interval_s)
		list_add(ignored, sizeof(ignored), "simple-interval");
	if (next->max_full != cfg->max_full)
		list_add(ignored, sizeof(ignored), "max-full");
	if (next->grace_s != cfg->grace_s)
		list_add(ignored, sizeof(ignored), "grace");
	if (next->lost_grace_s != cfg->lost_grace_s)
		list_add(ignored, sizeof(ignored), "agent-lost-grace");
	if (next->max_agents != cfg->max_agents)
		list_add(ignored, sizeof(ignored), "max-agents");
	if (next->agent_forget_s != cfg->agent_forget_s)
		list_add(ignored, sizeof(ignored), "agent-forget-after");
	if (next->max_body != cfg->max_body)
		list_add(ignored, sizeof(ignored), "max-body");
	if (next->no_agents != cfg->no_agents)
		list_add(ignored, sizeof(ignored), "no-agents");
	if (next->max_capture_hosts != cfg->max_capture_hosts)
		list_add(ignored, sizeof(ignored), "max-capture-hosts");
	if (next->full_byte_limit != cfg->full_byte_limit)
		list_add(ignored, sizeof(ignored), "full-byte-limit");
	if (next->manifest_interval_ms != cfg->manifest_interval_ms)
		list_add(ignored, sizeof(ignored), "manifest-interval-ms");
	if (next->reorder_window_ms != cfg->reorder_window_ms ||
	    next->reorder_max_bytes != cfg->reorder_max_bytes)
		list_add(ignored, sizeof(ignored), "reorder-window-ms/reorder-max-bytes");
	if (next->checkpoint_ms != cfg->checkpoint_ms)
		list_add(ignored, sizeof(ignored), "checkpoint-ms");
	if (next->key_wait_ms != cfg->key_wait_ms || next->key_wait_bytes != cfg->key_wait_bytes ||
	    next->key_wait_msgs != cfg->key_wait_msgs ||
	    next->key_wait_host_bytes != cfg->key_wait_host_bytes ||
	    next->key_wait_host_msgs != cfg->key_wait_host_msgs ||
	    next->key_wait_conn_bytes != cfg->key_wait_conn_bytes ||
	    next->key_wait_conn_msgs != cfg->key_wait_conn_msgs)
		list_add(ignored, sizeof(ignored), "key-wait-*");
	if (next->max_pending_joins != cfg->max_pending_joins)
		list_add(ignored, sizeof(ignored), "max-pending-joins");
	if (next->http_threads != cfg->http_threads ||
	    next->http_max_conns != cfg->http_max_conns || next->http_per_ip != cfg->http_per_ip ||
	    next->http_timeout_s != cfg->http_timeout_s)
		list_add(ignored, sizeof(ignored), "http-* (the API's bounds)");
	if (strcmp(next->http_tls_cert, cfg->http_tls_cert) ||
	    strcmp(next->http_tls_key, cfg->http_tls_key))
		list_add(
			ignored, sizeof(ignored),
			"http-tls-cert/http-tls-key (the files' paths: SIGHUP re-reads the files)");
	if (strcmp(next->s3_endpoint, cfg->s3_endpoint) ||
	    strcmp(next->s3_region, cfg->s3_region) ||
	    strcmp(next->s3_credentials, cfg->s3_credentials) ||
	    strcmp(next->gs_endpoint, cfg->gs_endpoint) ||
	    strcmp(next->gs_credentials, cfg->gs_credentials) ||
	    names_differ(next->buckets[0], next->n_buckets, cfg->buckets[0], cfg->n_buckets,
			 sizeof(cfg->buckets[0])))
		list_add(ignored, sizeof(ignored), "s3-*/gs-* (bucket settings)");
	if (next->upload_retries != cfg->upload_retries ||
	    next->upload_backoff_s != cfg->upload_backoff_s ||
	    next->upload_keep_h != cfg->upload_keep_h)
		list_add(ignored, sizeof(ignored), "upload-*");
	if (strcmp(next->tls.ca, cfg->tls.ca) || strcmp(next->tls.cert, cfg->tls.cert) ||
	    strcmp(next->tls.key, cfg->tls.key))
		list_add(ignored, sizeof(ignored), "tls-ca/tls-cert/tls-key");
	if (next->tls.insecure_plaintext != cfg->tls.insecure_plaintext)
		list_add(ignored, sizeof(ignored), "insecure-plaintext");
	if (ignored[0])
		pr_warn("SIGHUP: ignored the changed %s: read at start only (restart to apply)",
			ignored);
	free(next);
	return 0;
}
