/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.h: edgecap-aggregator's settings, from flags and from a config file (--config FILE:
 * `key = value` lines with the long flag names, `#` comment lines; flags override the file).
 * Defaults live in one place, agg_config_defaults().
 */
#ifndef EDGECAP_AGG_CONFIG_H
#define EDGECAP_AGG_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "listen_addr.h"
#include "tls.h"

/* --destination-root: how many may be given; --s3-allow-bucket too. */
#define AGG_MAX_DEST_ROOTS 16
#define AGG_MAX_BUCKETS	   16
/*
 * --retention-captures: 30 days of one simple capture a minute (the default rate rule) is
 * 43,200; a kept capture's record is about 2 KiB in memory (its agents are on disk).
 */
#define RETENTION_CAPTURES_DEFAULT 50000
#define RETENTION_CAPTURES_MAX	   100000000

struct agg_config {
	char http[128]; /* ADDR:PORT as given, for messages */
	struct sockaddr_storage http_addr;
	socklen_t http_addrlen;
	char http_tls_cert[PATH_MAX]; /* HTTPS: the API's certificate (api_tls.h); "": HTTP */
	char http_tls_key[PATH_MAX];  /* ... and its key */
	char control_url[256];	      /* SURVEYOR endpoint the agents' RESPONDENTs dial */
	char data_url[256];	      /* PULL endpoint the agents' PUSHes dial */
	char state_dir[PATH_MAX];
	char credentials[PATH_MAX]; /* the API's credentials file (credentials.h); required */
	/* Where full captures' files may go; none given: STATE_DIR/destinations (agg_dest_roots) */
	char dest_roots[AGG_MAX_DEST_ROOTS][PATH_MAX];
	unsigned int n_dest_roots;
	bool dest_roots_from_flags; /* flags replace the config file's list */
	/* Bucket destinations (s3.h, uploader.h) */
	char s3_endpoint[256]; /* "": AWS's regional endpoint */
	char s3_region[33];    /* "": us-east-1 */
	char s3_credentials[PATH_MAX];
	char gs_endpoint[256]; /* "": https://storage.googleapis.com */
	char gs_credentials[PATH_MAX];
	char buckets[AGG_MAX_BUCKETS][64]; /* --s3-allow-bucket */
	unsigned int n_buckets;
	bool buckets_from_flags;
	uint32_t upload_retries;    /* a failed PUT is tried again this many times */
	uint32_t upload_backoff_s;  /* the first wait; doubled each time, at most 60 s */
	uint32_t upload_keep_h;	    /* a failed upload's local files stay this many hours */
	uint32_t simple_interval_s; /* at most one simple capture per interval; 0: no limit */
	uint32_t max_full;	    /* full captures pending or running at once; 0: no limit */
	uint32_t grace_s;	    /* wait for agents' final reports after a capture's end */
	uint32_t lost_grace_s;	    /* --agent-lost-grace: no survey answered this long: lost */
	uint64_t max_body;	    /* request body cap, bytes */
	bool no_agents;		    /* captures run with no agent and end with empty pcaps */
	char metrics[128];	    /* --metrics ADDR:PORT; empty: no metrics listener */
	uint32_t retention_days;    /* finished captures older than this are removed; 0: never */
	/* Per account, its finished captures past the newest N are removed; 0: never. */
	uint32_t retention_captures;
	/* Bounds (issue 11; the README's "Reliability"): every one read at start only. */
	uint32_t max_capture_hosts;    /* hosts per capture (one file each in a full capture) */
	uint64_t full_byte_limit;      /* a full capture's per-host bound without byte_limit */
	uint32_t manifest_interval_ms; /* a capture's manifest rewritten at most this often */
	uint32_t reorder_window_ms;    /* a simple capture holds a record at most this long */
	uint64_t reorder_max_bytes;    /* ... and its window at most this many bytes */
	uint32_t checkpoint_ms;	       /* a running capture's state made durable this often */
	uint32_t key_wait_ms;	       /* data before its agent's key: how long it waits */
	uint64_t key_wait_bytes;       /* ... the room's bytes in all */
	uint32_t key_wait_msgs;	       /* ... and its messages */
	uint64_t key_wait_host_bytes;  /* ... of which one agent id takes at most this */
	uint32_t key_wait_host_msgs;
	uint64_t key_wait_conn_bytes; /* ... and one data connection */
	uint32_t key_wait_conn_msgs;
	uint32_t max_pending_joins; /* late join surveys queued (the fan-out's) */
	uint32_t http_threads;	    /* the API's thread pool */
	uint32_t http_max_conns;    /* the API's connections in all */
	uint32_t http_per_ip;	    /* ... from one address */
	uint32_t http_timeout_s;    /* an idle (or slow-header) connection is closed */
	uint32_t max_agents;	    /* agents the registry holds (fanout.h) */
	uint32_t agent_forget_s;    /* a lost agent unseen this long is forgotten; 0: never */
	struct tls_opts tls;	    /* the agent links' certificates; tcp:// allowed or not */
	bool verbose;
	/* The command line the settings came from: SIGHUP reads it (and its --config) again. */
	int argc;
	char **argv;
};

void agg_config_defaults(struct agg_config *cfg);
/*
 * Reads --config (if given) then the flags. Returns 0 to run, 1 when --help was printed, or a
 * negative errno after printing what is wrong.
 */
int agg_config_parse(int argc, char **argv, struct agg_config *cfg);
/*
 * SIGHUP: reads the command line and config file again. verbose takes effect; every other
 * setting that changed is named in a line saying it is read at start only (the credentials
 * file's contents are reloaded by the caller, credentials_reload). A configuration that no
 * longer parses changes nothing. Returns 0, or the parser's negative errno.
 */
int agg_config_reload(struct agg_config *cfg);
/*
 * The destination roots in effect: those given, or STATE_DIR/destinations when none was, in
 * cfg->dest_roots (so that the pointers in roots stay valid as long as cfg). Returns how many.
 */
unsigned int agg_dest_roots(struct agg_config *cfg, const char *roots[AGG_MAX_DEST_ROOTS]);

#endif /* EDGECAP_AGG_CONFIG_H */
