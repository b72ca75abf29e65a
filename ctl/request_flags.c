// SPDX-License-Identifier: BSD-2-Clause
/*
 * request_flags.c: the filter_v1 and limit flags of `edgecapctl capture` and `edgecapctl collect`
 * (request_flags.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "request_flags.h"
#include "strnum.h"
#include "usage.h"

/* A numeric limit flag: where it goes, and the range capture holds it to. */
struct limit_flag {
	int opt;
	const char *flag;
	uint32_t has_bit;
	uint64_t local_max; /* RF_CHECK_LOCAL: from 1 to this */
	size_t off;	    /* of the value in struct request_flags */
};

static const struct limit_flag limit_flags[] = {
	{ RF_OPT_TIME_LIMIT, "--time-limit", REQ_HAS_TIME_LIMIT, REQ_LOCAL_TIME_LIMIT_MAX,
	  offsetof(struct request_flags, time_limit) },
	{ RF_OPT_PACKET_LIMIT, "--packet-limit", REQ_HAS_PACKET_LIMIT, REQ_LOCAL_LIMIT_MAX,
	  offsetof(struct request_flags, packet_limit) },
	{ RF_OPT_BYTE_LIMIT, "--byte-limit", REQ_HAS_BYTE_LIMIT, REQ_LOCAL_LIMIT_MAX,
	  offsetof(struct request_flags, byte_limit) },
	{ RF_OPT_SAMPLE_RATE, "--sample-rate", REQ_HAS_SAMPLE_RATE, REQ_SAMPLE_RATE_MAX,
	  offsetof(struct request_flags, sample_rate) },
	{ RF_OPT_SNAPLEN, "--snaplen", REQ_HAS_SNAPLEN, EC_MAX_CAPLEN,
	  offsetof(struct request_flags, snaplen) },
};

/* "invalid FLAG" as typed: the alias when one was used. */
static const char *invalid(const struct request_flags *rf, const char *flag, char *buf, size_t size)
{
	snprintf(buf, size, "invalid %s", rf->alias ? rf->alias : flag);
	return buf;
}

/* A flag's number in [min, max], or a usage error that names the flag, the rule and the value. */
static int flag_u64(const struct request_flags *rf, const char *flag, const char *text,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	int ret = strnum_u64(text, min, max, out);
	char what[64];

	/* Any JSON integer from 0 up: collect's limits, which the aggregator checks. */
	if (ret && min == 0 && max == INT64_MAX)
		usage_error(rf->prog, invalid(rf, flag, what, sizeof(what)), text,
			    "must be a non-negative integer");
	else if (ret)
		usage_error(rf->prog, invalid(rf, flag, what, sizeof(what)), text,
			    "must be an integer from %" PRIu64 " to %" PRIu64, min, max);
	return ret;
}

static int take_addr(struct request_flags *rf, bool src, const char *text)
{
	char err[256];

	if (rf->check == RF_CHECK_LOCAL &&
	    prefix_parse(text, src ? &rf->filter.src : &rf->filter.dst, err, sizeof(err))) {
		char what[64];

		return usage_error(
			rf->prog,
			invalid(rf, src ? "--src-addr" : "--dst-addr", what, sizeof(what)), text,
			"%s", err);
	}
	if (src)
		rf->src_addr = text;
	else
		rf->dst_addr = text;
	rf->filter.fields |= src ? EC_F_SRC_ADDR : EC_F_DST_ADDR;
	return 0;
}

static int take_port(struct request_flags *rf, bool src, const char *text)
{
	uint64_t v;

	if (flag_u64(rf, src ? "--src-port" : "--dst-port", text, 0, 65535, &v))
		return -EINVAL;
	if (src)
		rf->filter.src_port = (uint16_t)v;
	else
		rf->filter.dst_port = (uint16_t)v;
	rf->filter.fields |= src ? EC_F_SRC_PORT : EC_F_DST_PORT;
	return 0;
}

static int take_protocol(struct request_flags *rf, const char *text)
{
	char what[64];

	if (protocol_parse(text, &rf->filter.protocol))
		return usage_error(rf->prog, invalid(rf, "--protocol", what, sizeof(what)), text,
				   "must be an integer from 0 to 255 or one of " PROTOCOL_NAMES);
	rf->filter.fields |= EC_F_PROTOCOL;
	return 0;
}

static int take_limit(struct request_flags *rf, const struct limit_flag *l, const char *text)
{
	bool local = rf->check == RF_CHECK_LOCAL;
	uint64_t *out = (uint64_t *)((char *)rf + l->off);

	if (flag_u64(rf, l->flag, text, local ? 1 : 0, local ? l->local_max : INT64_MAX, out))
		return -EINVAL;
	rf->has |= l->has_bit;
	return 0;
}

void request_flags_init(struct request_flags *rf, enum request_flags_check check)
{
	memset(rf, 0, sizeof(*rf));
	rf->check = check;
	rf->prog = "edgecapctl";
}

int request_flags_take(struct request_flags *rf, int opt, const char *text)
{
	size_t i;

	switch (opt) {
	case RF_OPT_SRC_ADDR:
	case RF_OPT_DST_ADDR:
		return take_addr(rf, opt == RF_OPT_SRC_ADDR, text);
	case RF_OPT_SRC_PORT:
	case RF_OPT_DST_PORT:
		return take_port(rf, opt == RF_OPT_SRC_PORT, text);
	case RF_OPT_PROTOCOL:
		return take_protocol(rf, text);
	}
	for (i = 0; i < sizeof(limit_flags) / sizeof(limit_flags[0]); i++) {
		if (limit_flags[i].opt == opt)
			return take_limit(rf, &limit_flags[i], text);
	}
	return -ENOENT;
}

void request_flags_apply(const struct request_flags *rf, struct capture_request *req)
{
	req->filter = rf->filter;
	req->has |= rf->has;
	if (rf->has & REQ_HAS_TIME_LIMIT)
		req->time_limit = rf->time_limit;
	if (rf->has & REQ_HAS_PACKET_LIMIT)
		req->packet_limit = rf->packet_limit;
	if (rf->has & REQ_HAS_BYTE_LIMIT)
		req->byte_limit = rf->byte_limit;
	if (rf->has & REQ_HAS_SAMPLE_RATE)
		req->sample_rate = (uint32_t)rf->sample_rate;
	if (rf->has & REQ_HAS_SNAPLEN)
		req->snaplen = (uint32_t)rf->snaplen;
}

int request_flags_read_body(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf;
	size_t n;
	int ret = 0;

	if (!f)
		return -errno;
	/* One byte more than allowed tells a body at the limit from a larger one. */
	buf = malloc(REQUEST_FLAGS_BODY_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	n = fread(buf, 1, REQUEST_FLAGS_BODY_MAX + 1, f);
	if (ferror(f))
		ret = -EIO;
	else if (n > REQUEST_FLAGS_BODY_MAX)
		ret = -EFBIG;
	if (ret) {
		free(buf);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
out:
	if (f != stdin)
		fclose(f);
	return ret;
}

const char *request_flags_read_error(int err)
{
	return err == -EFBIG ? "larger than 1 MiB, not a capture request" : strerror(-err);
}
