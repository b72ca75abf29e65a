/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * request.h: the capture-request model shared by the API, the aggregator, the agent and the CLI,
 * with the field names of the PCAPs API (filter_v1, time_limit, packet_limit, byte_limit, type,
 * system, colo_name/colo, destination_conf) and the extensions sample_rate and snaplen.
 *
 * A request is parsed from JSON (request_from_json, filter_from_json) or built from CLI flags, and
 * always checked with request_validate before anything starts. Errors name the field and the rule,
 * e.g. "time_limit: must be an integer from 1 to 300 (got 301)". All functions return 0 or a
 * negative errno (-EINVAL for a bad request), and write a one-line message into err.
 */
#ifndef EDGECAP_REQUEST_H
#define EDGECAP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "capture_abi.h"

/* API ranges (DESIGN.md, "Capture requests and validation"). */
#define REQ_TIME_LIMIT_MAX   300
#define REQ_PACKET_LIMIT_MAX 10000
#define REQ_BYTE_LIMIT_MAX   1000000000ULL
#define REQ_SAMPLE_RATE_MAX  1000000
#define REQ_SIMPLE_SNAPLEN   160
#define REQ_SYSTEM	     "magic-transit"
/*
 * Local captures built from flags (REQ_SCOPE_LOCAL_FLAGS) take any positive limit up to these:
 * every limit must still fit a JSON integer (int64), and time_limit * 10^9 must fit a u64 of ns.
 */
#define REQ_LOCAL_LIMIT_MAX	 9223372036854775807ULL
#define REQ_LOCAL_TIME_LIMIT_MAX 18446744073ULL

enum capture_type {
	CAPTURE_SIMPLE = 0,
	CAPTURE_FULL = 1,
};

/*
 * Which rules apply. REQ_SCOPE_API: a request through the API, the aggregator or an agent: every
 * range binds and a full capture needs colo_name and destination_conf. REQ_SCOPE_LOCAL_REQUEST:
 * a body given to `edgecapctl capture --request`: the ranges bind, but a local full capture needs
 * no colo or destination. REQ_SCOPE_LOCAL_FLAGS: built from edgecapctl flags: limits may be any
 * positive number or absent (no limit: until interrupted).
 */
enum request_scope {
	REQ_SCOPE_API = 0,
	REQ_SCOPE_LOCAL_REQUEST = 1,
	REQ_SCOPE_LOCAL_FLAGS = 2,
};

/* An address or CIDR prefix. IPv4 keeps its 4 bytes at the start of addr. */
struct req_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t len;	/* prefix length; 32 or 128 for a single address */
	uint8_t addr[16];
};

struct req_filter {
	uint32_t fields; /* enum ec_filter_field bits: which of the members below are set */
	struct req_prefix src, dst;
	uint8_t protocol;
	uint16_t src_port, dst_port;
};

/* Which optional top-level members a request carries. */
enum request_member {
	REQ_HAS_TIME_LIMIT = 1 << 0,
	REQ_HAS_PACKET_LIMIT = 1 << 1,
	REQ_HAS_BYTE_LIMIT = 1 << 2,
	REQ_HAS_TYPE = 1 << 3,
	REQ_HAS_SYSTEM = 1 << 4,
	REQ_HAS_COLO = 1 << 5,
	REQ_HAS_DESTINATION = 1 << 6,
	REQ_HAS_SAMPLE_RATE = 1 << 7,
	REQ_HAS_SNAPLEN = 1 << 8,
};

struct capture_request {
	uint32_t has; /* enum request_member bits */
	struct req_filter filter;
	uint64_t time_limit;   /* seconds */
	uint64_t packet_limit; /* 0 when absent */
	uint64_t byte_limit;   /* 0 when absent */
	enum capture_type type;
	char system[32];
	char colo_name[64];
	char destination_conf[512];
	uint32_t sample_rate; /* 0 when absent: the capture's default applies */
	uint32_t snaplen;     /* 0 when absent: 160 for simple, whole frames for full */
};

/* Parses a filter_v1 object (unknown members are errors). *out is written only on success. */
int filter_from_json(const json_t *obj, struct req_filter *out, char *err, size_t errlen);
/*
 * Parses a whole request body and validates it for scope. *out is written only on success.
 * Malformed values (wrong JSON type, negative, too large for the field) are reported while
 * parsing, then request_validate's rules; each pass reports the first bad field in a fixed order.
 */
int request_from_json(const char *text, size_t len, enum request_scope scope,
		      struct capture_request *out, char *err, size_t errlen);
/* Checks every rule of DESIGN.md that applies to scope. */
int request_validate(const struct capture_request *req, enum request_scope scope, char *err,
		     size_t errlen);

/* Parses "192.0.2.1", "192.0.2.0/24", "2001:db8::1" or "2001:db8::/32" (host bits must be 0). */
int prefix_parse(const char *text, struct req_prefix *out, char *err, size_t errlen);
/* Writes the canonical text of a prefix ("/len" only when shorter than the address). */
void prefix_format(const struct req_prefix *p, char *buf, size_t buflen);

/* The filter_v1 object for a filter, with the API's member names (new reference). */
json_t *filter_to_json(const struct req_filter *f);
/* The request as the API shows it: filter_v1, limits, type, system, ... (new reference). */
json_t *request_to_json(const struct capture_request *req);

/* The snaplen and sample rate a capture will use, defaults applied. */
uint32_t request_snaplen(const struct capture_request *req);
uint32_t request_sample_rate(const struct capture_request *req, uint32_t simple_default);

/* An IP protocol given as a number (0..255) or a name: icmp, tcp, udp, gre, icmpv6, sctp. */
int protocol_parse(const char *text, uint8_t *out);
#define PROTOCOL_NAMES "tcp, udp, icmp, icmpv6, gre, sctp"

/* The kernel's form of a filter (capture_abi.h). */
void filter_compile(const struct req_filter *f, struct ec_filter *out);

const char *capture_type_name(enum capture_type t);

#endif /* EDGECAP_REQUEST_H */
