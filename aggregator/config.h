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

#include "tls.h"

/* --destination-root: how many may be given. */
#define AGG_MAX_DEST_ROOTS 16

struct agg_config {
	char http[128]; /* ADDR:PORT as given, for messages */
	struct sockaddr_storage http_addr;
	socklen_t http_addrlen;
	char control_url[256]; /* SURVEYOR endpoint the agents' RESPONDENTs dial */
	char data_url[256];    /* PULL endpoint the agents' PUSHes dial */
	char state_dir[PATH_MAX];
	char credentials[PATH_MAX]; /* the API's credentials file (credentials.h); required */
	/* Where full captures' files may go; none given: STATE_DIR/destinations (agg_dest_roots) */
	char dest_roots[AGG_MAX_DEST_ROOTS][PATH_MAX];
	unsigned int n_dest_roots;
	bool dest_roots_from_flags; /* flags replace the config file's list */
	uint32_t simple_interval_s; /* at most one simple capture per interval; 0: no limit */
	uint32_t max_full;	    /* full captures pending or running at once; 0: no limit */
	uint32_t grace_s;	    /* wait for agents' final reports after a capture's end */
	uint64_t max_body;	    /* request body cap, bytes */
	bool no_agents;		    /* captures run with no agent and end with empty pcaps */
	struct tls_opts tls;	    /* the agent links' certificates; tcp:// allowed or not */
	bool verbose;
};

void agg_config_defaults(struct agg_config *cfg);
/*
 * Reads --config (if given) then the flags. Returns 0 to run, 1 when --help was printed, or a
 * negative errno after printing what is wrong.
 */
int agg_config_parse(int argc, char **argv, struct agg_config *cfg);
/*
 * The destination roots in effect: those given, or STATE_DIR/destinations when none was, in
 * cfg->dest_roots (so that the pointers in roots stay valid as long as cfg). Returns how many.
 */
unsigned int agg_dest_roots(struct agg_config *cfg, const char *roots[AGG_MAX_DEST_ROOTS]);
/* "127.0.0.1:7100", "[::1]:7100", "0.0.0.0:0" (port 0: any free port); numeric only. */
int agg_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		     size_t errlen);
/* The address with port as "127.0.0.1:7100" or "[::1]:7100". */
void agg_format_listen(const struct sockaddr_storage *ss, uint16_t port, char *buf, size_t len);

#endif /* EDGECAP_AGG_CONFIG_H */
