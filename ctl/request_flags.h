/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * request_flags.h: the request flags that `edgecapctl capture` and `edgecapctl collect` share:
 * filter_v1 (--src-addr, --dst-addr, --src-port, --dst-port, --protocol) and the numeric limits
 * (--time-limit, --packet-limit, --byte-limit, --sample-rate, --snaplen).
 *
 * Each command keeps its own getopt table, --help text and other flags; it puts these options in
 * its table with the RF_OPT_* ids and hands every option to request_flags_take first. Ports and
 * the protocol are checked the same way for both. The rest depends on who checks the request:
 * capture checks it here (addresses parsed, the limits held to REQ_SCOPE_LOCAL_FLAGS's ranges),
 * collect leaves it to the aggregator (addresses kept as given, limits any JSON integer >= 0).
 * A bad value is a usage error printed with pr_err that names the flag, the rule and the value.
 */
#ifndef EDGECAP_REQUEST_FLAGS_H
#define EDGECAP_REQUEST_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "request.h"

/* getopt_long ids, clear of short options and of each command's own ids (256 up). */
enum request_flag_opt {
	RF_OPT_SRC_ADDR = 1024,
	RF_OPT_DST_ADDR,
	RF_OPT_SRC_PORT,
	RF_OPT_DST_PORT,
	RF_OPT_PROTOCOL,
	RF_OPT_TIME_LIMIT,
	RF_OPT_PACKET_LIMIT,
	RF_OPT_BYTE_LIMIT,
	RF_OPT_SAMPLE_RATE,
	RF_OPT_SNAPLEN,
};

/* The filter flags' getopt_long entries, in the order both commands list them. */
#define REQUEST_FILTER_OPTIONS                                            \
	{ "src-addr", required_argument, NULL, RF_OPT_SRC_ADDR },         \
		{ "dst-addr", required_argument, NULL, RF_OPT_DST_ADDR }, \
		{ "src-port", required_argument, NULL, RF_OPT_SRC_PORT }, \
		{ "dst-port", required_argument, NULL, RF_OPT_DST_PORT }, \
	{                                                                 \
		"protocol", required_argument, NULL, RF_OPT_PROTOCOL      \
	}

/* Who checks the request the flags build. */
enum request_flags_check {
	RF_CHECK_LOCAL = 0,	 /* capture: addresses parsed, REQ_SCOPE_LOCAL_FLAGS's ranges */
	RF_CHECK_AGGREGATOR = 1, /* collect: addresses as given, limits from 0 to INT64_MAX */
};

/* What the flags gave. */
struct request_flags {
	enum request_flags_check check;
	/* The filter: fields says which flags were given; src and dst are set for RF_CHECK_LOCAL.
	 */
	struct req_filter filter;
	const char *src_addr, *dst_addr; /* the address flags as given */
	uint32_t has;			 /* REQ_HAS_* bits of the limits below */
	uint64_t time_limit, packet_limit, byte_limit, sample_rate, snaplen;
	/* Usage errors name this program ("edgecapctl capture"); request_flags_init's default. */
	const char *prog;
	/* The flag as typed when it was an alias (-c for --packet-limit), for the next take. */
	const char *alias;
};

void request_flags_init(struct request_flags *rf, enum request_flags_check check);
/*
 * Takes one option from getopt_long: 0 when it is a request flag and recorded, -EINVAL when it
 * is one with a bad value (the usage error is printed, usage.h), -ENOENT when it is not one of
 * them.
 */
int request_flags_take(struct request_flags *rf, int opt, const char *text);
/* Copies the filter and the limits given into req (RF_CHECK_LOCAL: every value fits). */
void request_flags_apply(const struct request_flags *rf, struct capture_request *req);

/* Largest --request body either command reads: anything bigger is not a capture request. */
#define REQUEST_FLAGS_BODY_MAX (1U << 20)
/*
 * Reads the --request file (path, or "-" for stdin) whole into a NUL-terminated *out of *len
 * bytes. -EFBIG past REQUEST_FLAGS_BODY_MAX, -ENOMEM, -EIO, or open's -errno; nothing to free
 * then.
 */
int request_flags_read_body(const char *path, char **out, size_t *len);
/* The reason to print for request_flags_read_body's error. */
const char *request_flags_read_error(int err);

#endif /* EDGECAP_REQUEST_FLAGS_H */
