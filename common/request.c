// SPDX-License-Identifier: BSD-2-Clause
/*
 * request.c: the capture-request model (request.h): JSON in and out through jansson, and the
 * validation rules of DESIGN.md ("Capture requests and validation").
 *
 * Errors come from two passes, each walking the fields in one fixed order (filter_v1's members,
 * time_limit, packet_limit, byte_limit, type, system, colo_name, destination_conf, sample_rate,
 * snaplen), so that the same bad request always gets the same message:
 *  1. parsing: JSON syntax, unknown members, a value of the wrong JSON type, or a number that no
 *     rule of any scope accepts and the struct cannot hold (negative, or too large);
 *  2. request_validate: the rules of the scope, including those that relate fields to the type.
 * Every message is one line of printable ASCII: "FIELD: RULE (got VALUE)", VALUE in JSON form.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bucket_url.h"
#include "decode.h"
#include "log.h"
#include "request.h"
#include "strnum.h"

/* Longest value quoted in an error message; longer ones end in "...". */
#define VALUE_REPR_MAX 72
/* Room for the text of any address with "/len". */
#define PREFIX_TEXT_MAX (INET6_ADDRSTRLEN + 4)

/* The numeric top-level members, in the order they are checked. */
enum num_field {
	NUM_TIME_LIMIT,
	NUM_PACKET_LIMIT,
	NUM_BYTE_LIMIT,
	NUM_SAMPLE_RATE,
	NUM_SNAPLEN,
};

struct num_rule {
	const char *name;
	uint32_t has_bit;
	uint64_t min;
	uint64_t max;	    /* REQ_SCOPE_API and REQ_SCOPE_LOCAL_REQUEST */
	uint64_t local_max; /* REQ_SCOPE_LOCAL_FLAGS */
	uint64_t store_max; /* what the struct member holds */
};

static const struct num_rule num_rules[] = {
	[NUM_TIME_LIMIT] = { "time_limit", REQ_HAS_TIME_LIMIT, 1, REQ_TIME_LIMIT_MAX,
			     REQ_LOCAL_TIME_LIMIT_MAX, UINT64_MAX },
	[NUM_PACKET_LIMIT] = { "packet_limit", REQ_HAS_PACKET_LIMIT, 1, REQ_PACKET_LIMIT_MAX,
			       REQ_LOCAL_LIMIT_MAX, UINT64_MAX },
	[NUM_BYTE_LIMIT] = { "byte_limit", REQ_HAS_BYTE_LIMIT, 1, REQ_BYTE_LIMIT_MAX,
			     REQ_LOCAL_LIMIT_MAX, UINT64_MAX },
	[NUM_SAMPLE_RATE] = { "sample_rate", REQ_HAS_SAMPLE_RATE, 1, REQ_SAMPLE_RATE_MAX,
			      REQ_SAMPLE_RATE_MAX, UINT32_MAX },
	[NUM_SNAPLEN] = { "snaplen", REQ_HAS_SNAPLEN, 1, EC_MAX_CAPLEN, EC_MAX_CAPLEN, UINT32_MAX },
};

/* Every member a request may have, "colo" being the seeds' other spelling of colo_name. */
static const char *const request_members[] = {
	"filter_v1", "time_limit", "packet_limit",     "byte_limit",  "type",	 "system",
	"colo_name", "colo",	   "destination_conf", "sample_rate", "snaplen",
};

static const char *const filter_members[] = {
	"source_address", "source_port", "destination_address", "destination_port", "protocol",
};

#define RULE_TYPE   "must be \"simple\" or \"full\""
#define RULE_SYSTEM "must be \"" REQ_SYSTEM "\""
#define RULE_COLO   "must be a colo name of 1 to 63 letters, digits, '-', '_' or '.'"
#define RULE_DESTINATION \
	"must be a directory path, a file:// URL or an s3:// or gs:// bucket of at most 511 bytes"
#define RULE_ADDRESS "must be an IPv4 or IPv6 address, optionally with a /length"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * err may be NULL or empty. Bytes that are not printable ASCII become '?', so the message stays
 * on one line and is valid UTF-8 wherever it goes next (a log line, a JSON error body).
 */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	log_printable(err);
}

/* A JSON value as it appears in a message: compact, ASCII, cut at VALUE_REPR_MAX. */
static const char *json_repr(const json_t *v, char *buf, size_t buflen)
{
	char *text;

	text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text) {
		snprintf(buf, buflen, "?");
		return buf;
	}
	if (strlen(text) >= buflen)
		snprintf(buf, buflen, "%.*s...", (int)(buflen - 4), text);
	else
		snprintf(buf, buflen, "%s", text);
	free(text);
	return buf;
}

/* A C string as it appears in a message, quoted and escaped like a JSON string. */
static const char *str_repr(const char *s, char *buf, size_t buflen)
{
	json_t *v = json_string(s);

	if (!v) {
		snprintf(buf, buflen, "(a string that is not valid UTF-8)");
		return buf;
	}
	json_repr(v, buf, buflen);
	json_decref(v);
	return buf;
}

static uint64_t num_rule_max(const struct num_rule *r, enum request_scope scope)
{
	return scope == REQ_SCOPE_LOCAL_FLAGS ? r->local_max : r->max;
}

/*
 * Reads a JSON integer in [0, store_max]. Anything else (a real such as 10.0, a string, a
 * boolean, null, a negative number) is an error that states the rule the value will be held to.
 */
static int json_get_uint(const json_t *v, const char *name, uint64_t store_max, uint64_t rule_min,
			 uint64_t rule_max, uint64_t *out, char *err, size_t errlen)
{
	char repr[VALUE_REPR_MAX];
	json_int_t i;

	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i >= 0 && (uint64_t)i <= store_max) {
			*out = (uint64_t)i;
			return 0;
		}
	}
	seterr(err, errlen, "%s: must be an integer from %" PRIu64 " to %" PRIu64 " (got %s)", name,
	       rule_min, rule_max, json_repr(v, repr, sizeof(repr)));
	return -EINVAL;
}

/* Reads a JSON string that fits out (NUL included) and holds no NUL of its own. */
static int json_get_str(const json_t *v, const char *name, const char *rule, char *out,
			size_t outlen, char *err, size_t errlen)
{
	char repr[VALUE_REPR_MAX];
	const char *s;
	size_t len;

	if (json_is_string(v)) {
		s = json_string_value(v);
		len = json_string_length(v);
		if (len < outlen && strlen(s) == len) {
			memcpy(out, s, len + 1);
			return 0;
		}
	}
	seterr(err, errlen, "%s: %s (got %s)", name, rule, json_repr(v, repr, sizeof(repr)));
	return -EINVAL;
}

/* The first member (in document order) whose name is not in names, or NULL. */
static const char *first_unknown_member(const json_t *obj, const char *const *names, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)obj, key, v) {
		if (!decode_name_in(key, names, n))
			return key;
	}
	return NULL;
}

/*
 * The shared checks of a prefix, whether parsed or built by hand: known family, length in range,
 * and no bits set beyond the length (a filter on 192.0.2.1/24 is almost always a typo for
 * 192.0.2.0/24, and silently masking it would capture something else than was asked for).
 */
static int prefix_check(const struct req_prefix *p, char *err, size_t errlen)
{
	char have[PREFIX_TEXT_MAX], want[PREFIX_TEXT_MAX];
	unsigned int max, i, bits;
	struct req_prefix masked;
	uint8_t mask;

	if (p->family != 4 && p->family != 6) {
		seterr(err, errlen, "%s (got address family %u)", RULE_ADDRESS, p->family);
		return -EINVAL;
	}
	max = p->family == 4 ? 32 : 128;
	if (p->len > max) {
		seterr(err, errlen, "prefix length must be an integer from 0 to %u (got %u)", max,
		       p->len);
		return -EINVAL;
	}
	masked = *p;
	for (i = 0, bits = p->len; i < 16; i++) {
		mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		masked.addr[i] &= mask;
		bits -= bits >= 8 ? 8 : bits;
	}
	if (memcmp(masked.addr, p->addr, max / 8)) {
		inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, have, sizeof(have));
		prefix_format(&masked, want, sizeof(want));
		seterr(err, errlen, "%s/%u has host bits set; did you mean %s?", have, p->len,
		       want);
		return -EINVAL;
	}
	return 0;
}

int prefix_parse(const char *text, struct req_prefix *out, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN], repr[VALUE_REPR_MAX];
	const char *slash;
	struct req_prefix p;
	uint32_t len, max;
	size_t alen;
	int ret;

	if (!text || !out) {
		seterr(err, errlen, "no address given");
		return -EINVAL;
	}
	memset(&p, 0, sizeof(p));
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(addr))
		goto bad_address;
	memcpy(addr, text, alen);
	addr[alen] = '\0';

	/* inet_pton is strict: no octal or hex parts, no short forms, no blanks, no zone index. */
	p.family = strchr(addr, ':') ? 6 : 4;
	if (inet_pton(p.family == 4 ? AF_INET : AF_INET6, addr, p.addr) != 1)
		goto bad_address;
	max = p.family == 4 ? 32 : 128;
	len = max;
	if (slash && strnum_u32(slash + 1, 0, max, &len)) {
		seterr(err, errlen, "prefix length must be an integer from 0 to %u (got %s)", max,
		       str_repr(text, repr, sizeof(repr)));
		return -EINVAL;
	}
	p.len = (uint8_t)len;
	ret = prefix_check(&p, err, errlen);
	if (ret)
		return ret;
	*out = p;
	return 0;

bad_address:
	seterr(err, errlen, "%s (got %s)", RULE_ADDRESS, str_repr(text, repr, sizeof(repr)));
	return -EINVAL;
}

void prefix_format(const struct req_prefix *p, char *buf, size_t buflen)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned int max = p->family == 4 ? 32 : 128;

	if (!buflen)
		return;
	if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, addr, sizeof(addr))) {
		snprintf(buf, buflen, "?");
		return;
	}
	if (p->len < max)
		snprintf(buf, buflen, "%s/%u", addr, p->len);
	else
		snprintf(buf, buflen, "%s", addr);
}

static int filter_parse_addr(const json_t *v, const char *name, struct req_prefix *out, char *err,
			     size_t errlen)
{
	char repr[VALUE_REPR_MAX], why[256];

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		seterr(err, errlen, "%s: %s (got %s)", name, RULE_ADDRESS,
		       json_repr(v, repr, sizeof(repr)));
		return -EINVAL;
	}
	if (prefix_parse(json_string_value(v), out, why, sizeof(why))) {
		seterr(err, errlen, "%s: %s", name, why);
		return -EINVAL;
	}
	return 0;
}

int filter_from_json(const json_t *obj, struct req_filter *out, char *err, size_t errlen)
{
	char repr[VALUE_REPR_MAX];
	struct req_filter f;
	const char *unknown;
	const json_t *v;
	uint64_t n;

	if (!json_is_object(obj)) {
		seterr(err, errlen, "filter_v1: must be a JSON object (got %s)",
		       obj ? json_repr(obj, repr, sizeof(repr)) : "nothing");
		return -EINVAL;
	}
	unknown = first_unknown_member(obj, filter_members,
				       sizeof(filter_members) / sizeof(filter_members[0]));
	if (unknown) {
		seterr(err, errlen, "filter_v1: unknown field %s",
		       str_repr(unknown, repr, sizeof(repr)));
		return -EINVAL;
	}

	memset(&f, 0, sizeof(f));
	v = json_object_get(obj, "source_address");
	if (v) {
		if (filter_parse_addr(v, "filter_v1.source_address", &f.src, err, errlen))
			return -EINVAL;
		f.fields |= EC_F_SRC_ADDR;
	}
	v = json_object_get(obj, "source_port");
	if (v) {
		if (json_get_uint(v, "filter_v1.source_port", UINT16_MAX, 0, UINT16_MAX, &n, err,
				  errlen))
			return -EINVAL;
		f.src_port = (uint16_t)n;
		f.fields |= EC_F_SRC_PORT;
	}
	v = json_object_get(obj, "destination_address");
	if (v) {
		if (filter_parse_addr(v, "filter_v1.destination_address", &f.dst, err, errlen))
			return -EINVAL;
		f.fields |= EC_F_DST_ADDR;
	}
	v = json_object_get(obj, "destination_port");
	if (v) {
		if (json_get_uint(v, "filter_v1.destination_port", UINT16_MAX, 0, UINT16_MAX, &n,
				  err, errlen))
			return -EINVAL;
		f.dst_port = (uint16_t)n;
		f.fields |= EC_F_DST_PORT;
	}
	v = json_object_get(obj, "protocol");
	if (v) {
		if (json_get_uint(v, "filter_v1.protocol", UINT8_MAX, 0, UINT8_MAX, &n, err,
				  errlen))
			return -EINVAL;
		f.protocol = (uint8_t)n;
		f.fields |= EC_F_PROTOCOL;
	}
	*out = f;
	return 0;
}

/* Reads one numeric top-level member, if present, marking it in req->has. */
static int request_parse_num(const json_t *root, enum num_field field, enum request_scope scope,
			     struct capture_request *req, uint64_t *out, char *err, size_t errlen)
{
	const struct num_rule *r = &num_rules[field];
	const json_t *v = json_object_get(root, r->name);

	if (!v)
		return 0;
	if (json_get_uint(v, r->name, r->store_max, r->min, num_rule_max(r, scope), out, err,
			  errlen))
		return -EINVAL;
	req->has |= r->has_bit;
	return 0;
}

/* Pass 1: the members' JSON types and representable values, into req. */
static int request_parse(const json_t *root, enum request_scope scope, struct capture_request *req,
			 char *err, size_t errlen)
{
	char repr[VALUE_REPR_MAX], type[8];
	uint64_t rate = 0, snaplen = 0;
	const char *unknown, *colo_key;
	const json_t *v;

	unknown = first_unknown_member(root, request_members,
				       sizeof(request_members) / sizeof(request_members[0]));
	if (unknown) {
		seterr(err, errlen, "unknown field %s", str_repr(unknown, repr, sizeof(repr)));
		return -EINVAL;
	}
	/* The seeds use both spellings; two of them could disagree, so only one may be given. */
	if (json_object_get(root, "colo_name") && json_object_get(root, "colo")) {
		seterr(err, errlen, "colo_name: give either colo_name or colo, not both");
		return -EINVAL;
	}

	v = json_object_get(root, "filter_v1");
	if (v && filter_from_json(v, &req->filter, err, errlen))
		return -EINVAL;

	if (request_parse_num(root, NUM_TIME_LIMIT, scope, req, &req->time_limit, err, errlen) ||
	    request_parse_num(root, NUM_PACKET_LIMIT, scope, req, &req->packet_limit, err,
			      errlen) ||
	    request_parse_num(root, NUM_BYTE_LIMIT, scope, req, &req->byte_limit, err, errlen))
		return -EINVAL;

	v = json_object_get(root, "type");
	if (v) {
		if (json_get_str(v, "type", RULE_TYPE, type, sizeof(type), err, errlen))
			return -EINVAL;
		if (!strcmp(type, "simple")) {
			req->type = CAPTURE_SIMPLE;
		} else if (!strcmp(type, "full")) {
			req->type = CAPTURE_FULL;
		} else {
			seterr(err, errlen, "type: %s (got %s)", RULE_TYPE,
			       json_repr(v, repr, sizeof(repr)));
			return -EINVAL;
		}
		req->has |= REQ_HAS_TYPE;
	}

	v = json_object_get(root, "system");
	if (v) {
		if (json_get_str(v, "system", RULE_SYSTEM, req->system, sizeof(req->system), err,
				 errlen))
			return -EINVAL;
		req->has |= REQ_HAS_SYSTEM;
	}

	colo_key = json_object_get(root, "colo") ? "colo" : "colo_name";
	v = json_object_get(root, colo_key);
	if (v) {
		if (json_get_str(v, colo_key, RULE_COLO, req->colo_name, sizeof(req->colo_name),
				 err, errlen))
			return -EINVAL;
		req->has |= REQ_HAS_COLO;
	}

	v = json_object_get(root, "destination_conf");
	if (v) {
		if (json_get_str(v, "destination_conf", RULE_DESTINATION, req->destination_conf,
				 sizeof(req->destination_conf), err, errlen))
			return -EINVAL;
		req->has |= REQ_HAS_DESTINATION;
	}

	if (request_parse_num(root, NUM_SAMPLE_RATE, scope, req, &rate, err, errlen) ||
	    request_parse_num(root, NUM_SNAPLEN, scope, req, &snaplen, err, errlen))
		return -EINVAL;
	/* Both fit: their store_max is UINT32_MAX. */
	req->sample_rate = (uint32_t)rate;
	req->snaplen = (uint32_t)snaplen;
	return 0;
}

int request_from_json(const char *text, size_t len, enum request_scope scope,
		      struct capture_request *out, char *err, size_t errlen)
{
	struct capture_request req;
	char repr[VALUE_REPR_MAX];
	json_error_t jerr;
	json_t *root = NULL;
	int ret = -EINVAL;

	if (!text || !out) {
		seterr(err, errlen, "request: no request given");
		return -EINVAL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		seterr(err, errlen, "invalid JSON at line %d, column %d: %s", jerr.line,
		       jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "request: must be a JSON object (got %s)",
		       json_repr(root, repr, sizeof(repr)));
		goto out;
	}
	memset(&req, 0, sizeof(req));
	ret = request_parse(root, scope, &req, err, errlen);
	if (!ret)
		ret = request_validate(&req, scope, err, errlen);
	if (!ret)
		*out = req;
out:
	json_decref(root);
	return ret;
}

static int filter_validate(const struct req_filter *f, char *err, size_t errlen)
{
	const uint32_t known =
		EC_F_SRC_ADDR | EC_F_DST_ADDR | EC_F_PROTOCOL | EC_F_SRC_PORT | EC_F_DST_PORT;
	char why[256];

	if (f->fields & ~known) {
		seterr(err, errlen, "filter_v1: unknown field bits (got 0x%x)", f->fields & ~known);
		return -EINVAL;
	}
	if ((f->fields & EC_F_SRC_ADDR) && prefix_check(&f->src, why, sizeof(why))) {
		seterr(err, errlen, "filter_v1.source_address: %s", why);
		return -EINVAL;
	}
	if ((f->fields & EC_F_DST_ADDR) && prefix_check(&f->dst, why, sizeof(why))) {
		seterr(err, errlen, "filter_v1.destination_address: %s", why);
		return -EINVAL;
	}
	/* Ports and protocol cannot leave their ranges: the struct's types are the ranges. */
	return 0;
}

/*
 * A numeric member's rule. present: given at all (an explicit 0 is given, and out of range);
 * required_for: NULL when optional, else the words that say when it is required.
 */
static int check_num(enum num_field field, enum request_scope scope, bool present, uint64_t v,
		     const char *required_for, char *err, size_t errlen)
{
	const struct num_rule *r = &num_rules[field];
	uint64_t max = num_rule_max(r, scope);

	if (!present) {
		if (!required_for)
			return 0;
		seterr(err, errlen, "%s: required%s (an integer from %" PRIu64 " to %" PRIu64 ")",
		       r->name, required_for, r->min, max);
		return -EINVAL;
	}
	if (v < r->min || v > max) {
		seterr(err, errlen,
		       "%s: must be an integer from %" PRIu64 " to %" PRIu64 " (got %" PRIu64 ")",
		       r->name, r->min, max, v);
		return -EINVAL;
	}
	return 0;
}

/* A string member of the struct is given when marked so or not empty. */
static bool str_present(const char *s, bool has)
{
	return has || s[0] != '\0';
}

/* A struct built by hand may fill a string member to the last byte. */
static bool str_terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static bool colo_valid(const char *s, size_t size)
{
	size_t i;

	if (!str_terminated(s, size) || !s[0])
		return false;
	for (i = 0; s[i]; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	}
	return true;
}

/* Length of an RFC 3986 scheme followed by "://" at the start of s, or 0 when there is none. */
static size_t url_scheme_len(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; s[i]; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
			continue;
		return strncmp(s + i, "://", 3) ? 0 : i;
	}
	return 0;
}

/*
 * Where a full capture's files go: a directory path, a file:// URL naming an absolute local
 * path, or a bucket (bucket_url.h). Any other URL is refused with a message that says so,
 * rather than written to a directory named "http:".
 */
static int check_destination(const char *s, char *err, size_t errlen)
{
	char repr[VALUE_REPR_MAX];
	size_t scheme, i;

	if (!str_terminated(s, sizeof(((struct capture_request *)0)->destination_conf)) || !s[0]) {
		seterr(err, errlen, "destination_conf: %s (got \"\")", RULE_DESTINATION);
		return -EINVAL;
	}
	for (i = 0; s[i]; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			seterr(err, errlen,
			       "destination_conf: must not contain control characters (got %s)",
			       str_repr(s, repr, sizeof(repr)));
			return -EINVAL;
		}
	}
	scheme = url_scheme_len(s);
	if (!scheme)
		return 0;
	if (bucket_url_is(s)) {
		struct bucket_url u;

		return bucket_url_parse(s, &u, err, errlen);
	}
	if (scheme != 4 || strncasecmp(s, "file", 4)) {
		seterr(err, errlen,
		       "destination_conf: a local directory, a file:// URL, s3://BUCKET[/PREFIX]"
		       "[?region=REGION] or gs://BUCKET[/PREFIX] (got %s)",
		       str_repr(s, repr, sizeof(repr)));
		return -EINVAL;
	}
	if (s[7] != '/') {
		seterr(err, errlen,
		       "destination_conf: a file:// URL must name an absolute local path, as in "
		       "file:///var/lib/edgecap (got %s)",
		       str_repr(s, repr, sizeof(repr)));
		return -EINVAL;
	}
	return 0;
}

int request_validate(const struct capture_request *req, enum request_scope scope, char *err,
		     size_t errlen)
{
	bool flags = scope == REQ_SCOPE_LOCAL_FLAGS, api = scope == REQ_SCOPE_API;
	bool type_known, simple, full, present;
	char repr[VALUE_REPR_MAX];
	int ret;

	if (!req || (scope != REQ_SCOPE_API && scope != REQ_SCOPE_LOCAL_REQUEST && !flags)) {
		seterr(err, errlen, "request: no request or unknown scope");
		return -EINVAL;
	}
	ret = filter_validate(&req->filter, err, errlen);
	if (ret)
		return ret;

	/*
	 * Rules that depend on the type apply once the type is known: given (a flags-built request
	 * always has one, its default being the caller's) and valid. Until then the type's own
	 * check, further down, reports it.
	 */
	type_known = ((req->has & REQ_HAS_TYPE) || flags) &&
		     (req->type == CAPTURE_SIMPLE || req->type == CAPTURE_FULL);
	simple = type_known && req->type == CAPTURE_SIMPLE;
	full = type_known && req->type == CAPTURE_FULL;

	/* From flags, a limit of 0 is no limit; elsewhere a given 0 is out of range. */
	present = flags ? req->time_limit != 0 : (req->has & REQ_HAS_TIME_LIMIT) || req->time_limit;
	ret = check_num(NUM_TIME_LIMIT, scope, present, req->time_limit, flags ? NULL : "", err,
			errlen);
	if (ret)
		return ret;

	present = flags ? req->packet_limit != 0
			: (req->has & REQ_HAS_PACKET_LIMIT) || req->packet_limit;
	ret = check_num(NUM_PACKET_LIMIT, scope, present, req->packet_limit,
			!flags && simple ? " for simple captures" : NULL, err, errlen);
	if (ret)
		return ret;

	present = flags ? req->byte_limit != 0 : (req->has & REQ_HAS_BYTE_LIMIT) || req->byte_limit;
	if (api && simple && present) {
		seterr(err, errlen, "byte_limit: only for full captures (got %" PRIu64 ")",
		       req->byte_limit);
		return -EINVAL;
	}
	ret = check_num(NUM_BYTE_LIMIT, scope, present, req->byte_limit, NULL, err, errlen);
	if (ret)
		return ret;

	if (!flags && !(req->has & REQ_HAS_TYPE)) {
		seterr(err, errlen, "type: required (\"simple\" or \"full\")");
		return -EINVAL;
	}
	if (req->type != CAPTURE_SIMPLE && req->type != CAPTURE_FULL) {
		seterr(err, errlen, "type: %s (got %d)", RULE_TYPE, (int)req->type);
		return -EINVAL;
	}

	present = str_present(req->system, req->has & REQ_HAS_SYSTEM);
	if (!present && !flags) {
		seterr(err, errlen, "system: required (\"%s\")", REQ_SYSTEM);
		return -EINVAL;
	}
	if (present && (!str_terminated(req->system, sizeof(req->system)) ||
			strcmp(req->system, REQ_SYSTEM))) {
		seterr(err, errlen, "system: %s (got %s)", RULE_SYSTEM,
		       str_terminated(req->system, sizeof(req->system))
			       ? str_repr(req->system, repr, sizeof(repr))
			       : "an unterminated string");
		return -EINVAL;
	}

	/* A simple capture runs on every agent and goes to the aggregator: these mean nothing. */
	present = str_present(req->colo_name, req->has & REQ_HAS_COLO);
	if (present && !colo_valid(req->colo_name, sizeof(req->colo_name))) {
		seterr(err, errlen, "colo_name: %s (got %s)", RULE_COLO,
		       str_terminated(req->colo_name, sizeof(req->colo_name))
			       ? str_repr(req->colo_name, repr, sizeof(repr))
			       : "an unterminated string");
		return -EINVAL;
	}
	if (present && simple) {
		seterr(err, errlen, "colo_name: only for full captures (got %s)",
		       str_repr(req->colo_name, repr, sizeof(repr)));
		return -EINVAL;
	}
	if (!present && api && full) {
		seterr(err, errlen,
		       "colo_name: required for full captures (the colo whose agents capture, "
		       "e.g. \"ORD\")");
		return -EINVAL;
	}

	present = str_present(req->destination_conf, req->has & REQ_HAS_DESTINATION);
	if (present) {
		ret = check_destination(req->destination_conf, err, errlen);
		if (ret)
			return ret;
	}
	if (present && simple) {
		seterr(err, errlen, "destination_conf: only for full captures (got %s)",
		       str_repr(req->destination_conf, repr, sizeof(repr)));
		return -EINVAL;
	}
	if (!present && api && full) {
		seterr(err, errlen,
		       "destination_conf: required for full captures (a local directory, a "
		       "file:// URL or an s3:// or gs:// bucket)");
		return -EINVAL;
	}

	ret = check_num(NUM_SAMPLE_RATE, scope,
			(req->has & REQ_HAS_SAMPLE_RATE) || req->sample_rate, req->sample_rate,
			NULL, err, errlen);
	if (ret)
		return ret;
	return check_num(NUM_SNAPLEN, scope, (req->has & REQ_HAS_SNAPLEN) || req->snaplen,
			 req->snaplen, NULL, err, errlen);
}

/* Sets obj[key] to a new value; NULL (allocation failed) is an error too. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) ? -ENOMEM : 0;
}

/* A validated request never exceeds int64; clamp anything else rather than turn it negative. */
static json_t *json_uint(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *filter_to_json(const struct req_filter *f)
{
	char text[PREFIX_TEXT_MAX];
	json_t *obj;

	obj = json_object();
	if (!obj)
		return NULL;
	/* The member order of the API's own examples. */
	if (f->fields & EC_F_SRC_ADDR) {
		prefix_format(&f->src, text, sizeof(text));
		if (set_new(obj, "source_address", json_string(text)))
			goto fail;
	}
	if ((f->fields & EC_F_SRC_PORT) && set_new(obj, "source_port", json_integer(f->src_port)))
		goto fail;
	if (f->fields & EC_F_DST_ADDR) {
		prefix_format(&f->dst, text, sizeof(text));
		if (set_new(obj, "destination_address", json_string(text)))
			goto fail;
	}
	if ((f->fields & EC_F_DST_PORT) &&
	    set_new(obj, "destination_port", json_integer(f->dst_port)))
		goto fail;
	if ((f->fields & EC_F_PROTOCOL) && set_new(obj, "protocol", json_integer(f->protocol)))
		goto fail;
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/*
 * Every member a request carries, so that parsing the result gives the same struct back for any
 * request valid in REQ_SCOPE_API or REQ_SCOPE_LOCAL_REQUEST (both require time_limit, type and
 * system). type and system are always written: a capture always has a type, and there is one
 * system. time_limit is written when given: a flags-built request with no time limit gets none
 * rather than a false 0.
 */
json_t *request_to_json(const struct capture_request *req)
{
	const char *system = req->system[0] ? req->system : REQ_SYSTEM;
	json_t *obj;

	obj = json_object();
	if (!obj)
		return NULL;
	if (set_new(obj, "filter_v1", filter_to_json(&req->filter)))
		goto fail;
	if (((req->has & REQ_HAS_TIME_LIMIT) || req->time_limit) &&
	    set_new(obj, "time_limit", json_uint(req->time_limit)))
		goto fail;
	if (((req->has & REQ_HAS_PACKET_LIMIT) || req->packet_limit) &&
	    set_new(obj, "packet_limit", json_uint(req->packet_limit)))
		goto fail;
	if (((req->has & REQ_HAS_BYTE_LIMIT) || req->byte_limit) &&
	    set_new(obj, "byte_limit", json_uint(req->byte_limit)))
		goto fail;
	if (set_new(obj, "type", json_string(capture_type_name(req->type))))
		goto fail;
	if (!str_terminated(req->system, sizeof(req->system)) ||
	    set_new(obj, "system", json_string(system)))
		goto fail;
	if (str_present(req->colo_name, req->has & REQ_HAS_COLO) &&
	    (!str_terminated(req->colo_name, sizeof(req->colo_name)) ||
	     set_new(obj, "colo_name", json_string(req->colo_name))))
		goto fail;
	if (str_present(req->destination_conf, req->has & REQ_HAS_DESTINATION) &&
	    (!str_terminated(req->destination_conf, sizeof(req->destination_conf)) ||
	     set_new(obj, "destination_conf", json_string(req->destination_conf))))
		goto fail;
	if (((req->has & REQ_HAS_SAMPLE_RATE) || req->sample_rate) &&
	    set_new(obj, "sample_rate", json_integer(req->sample_rate)))
		goto fail;
	if (((req->has & REQ_HAS_SNAPLEN) || req->snaplen) &&
	    set_new(obj, "snaplen", json_integer(req->snaplen)))
		goto fail;
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

uint32_t request_snaplen(const struct capture_request *req)
{
	if (req->snaplen)
		return req->snaplen;
	return req->type == CAPTURE_FULL ? EC_MAX_CAPLEN : REQ_SIMPLE_SNAPLEN;
}

uint32_t request_sample_rate(const struct capture_request *req, uint32_t simple_default)
{
	if (req->sample_rate)
		return req->sample_rate;
	if (req->type == CAPTURE_FULL)
		return 1;
	/* The kernel treats 0 as 1 too; say so here rather than hand it a 0. */
	return simple_default ? simple_default : 1;
}

const char *capture_type_name(enum capture_type t)
{
	switch (t) {
	case CAPTURE_SIMPLE:
		return "simple";
	case CAPTURE_FULL:
		return "full";
	}
	return "unknown";
}

int protocol_parse(const char *text, uint8_t *out)
{
	static const struct {
		const char *name;
		uint8_t number;
	} names[] = { { "icmp", 1 }, { "tcp", 6 },     { "udp", 17 },
		      { "gre", 47 }, { "icmpv6", 58 }, { "sctp", 132 } };
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(text, names[i].name)) {
			*out = names[i].number;
			return 0;
		}
	}
	if (strnum_u32(text, 0, 255, &v))
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}
