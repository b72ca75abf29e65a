/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * agent_config.h: edgecap-agent's settings, from flags and from a config file (--config FILE,
 * `key = value` lines with the long flag names; flags override the file). Defaults live in one
 * place, agent_config_defaults().
 */
#ifndef EDGECAP_AGENT_CONFIG_H
#define EDGECAP_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "tls.h"

struct agent_config {
	char ifaces[ENGINE_MAX_IFACES][16];
	unsigned int n_ifaces;
	enum ec_hook hook;
	enum xdp_mode xdp_mode;
	char host_id[64];
	char colo[64];
	char control_url[256];
	char data_url[256];
	char local_socket[256];
	uint64_t local_max_request; /* the local socket's largest request, in bytes */
	uint32_t local_max_conns;   /* ... its connections at once */
	uint32_t local_timeout_ms;  /* ... and the time for a whole request or reply */
	char output_dir[256]; /* where local captures' pcaps go, and only there (--output-dir) */
	uint64_t queue_bytes; /* bound of the send queue while the aggregator is away */
	uint32_t simple_sample_rate; /* default 1-in-N for simple captures */
	uint32_t simple_snaplen;     /* default snaplen for simple captures */
	uint32_t ring_bytes;
	uint32_t batch_ms;   /* longest a record waits in a batch before it is shipped */
	int batch_codec;     /* --batch-codec: an enum wire_codec, or AGENT_CODEC_AUTO */
	struct tls_opts tls; /* the aggregator links' certificates; tcp:// allowed or not */
	char metrics[128];   /* --metrics ADDR:PORT; empty: no metrics listener */
	bool verbose;
	/* The command line the settings came from: SIGHUP reads it (and its --config) again. */
	int argc;
	char **argv;
};

/* --batch-codec auto: the first of wire_codec_preference that the aggregator names. */
#define AGENT_CODEC_AUTO (-1)

void agent_config_defaults(struct agent_config *cfg);
/* "auto", or the codec's name. */
const char *agent_codec_name(int codec);
/*
 * Reads --config (if given) then the flags. Returns 0 to run, 1 when --help was printed, or a
 * negative errno after printing what is wrong.
 */
int agent_config_parse(int argc, char **argv, struct agent_config *cfg);
/*
 * SIGHUP: reads the command line and config file again. The settings that only shape what
 * starts next (verbose, sample-rate, snaplen, batch-ms, batch-codec) take effect in cfg; every
 * other one that changed is named in a line saying it is read at start only. A file that no longer
 * parses changes nothing (the parser has said why). Returns 0, or the parser's negative errno.
 */
int agent_config_reload(struct agent_config *cfg);

#endif /* EDGECAP_AGENT_CONFIG_H */
