// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_request.c: the capture-request model (common/request.h) against DESIGN.md's validation
 * table and the seeds' example requests: accepted edge values, the first rejected ones, strict
 * numbers, unknown fields, scopes, messages that name field, rule and value, and round trips.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "request.h"
#include "testing.h"

/* The seeds' simple example, as published. */
static const char seed_simple[] = "{\n"
				  "  \"filter_v1\": {\n"
				  "    \"source_address\": \"1.2.3.4\",\n"
				  "    \"source_port\": 123,\n"
				  "    \"destination_address\": \"5.6.7.8\",\n"
				  "    \"destination_port\": 80,\n"
				  "    \"protocol\": 6\n"
				  "  },\n"
				  "  \"time_limit\": 300,\n"
				  "  \"packet_limit\": 10000,\n"
				  "  \"type\": \"simple\",\n"
				  "  \"system\": \"magic-transit\"\n"
				  "}";

/*
 * The seeds' full example, as published. Its "${BUCKET}" is a shell placeholder inside single
 * quotes, so the API receives it literally. Here it has no URL scheme, so it is taken as what
 * this system supports, a directory path (relative; where relative paths live is the
 * aggregator's choice). What the placeholder stands for in the API, a gs:// bucket (the
 * example response shows "gs://<bucket-name>"), is refused: see
 * test_full_example_with_gs_bucket_is_accepted.
 */
static const char seed_full[] =
	"{ \"filter_v1\": {}, \"time_limit\": 300, \"packet_limit\": 10000, "
	"\"byte_limit\": 100000000, \"type\": \"full\", \"colo\": \"ORD\", "
	"\"system\": \"magic-transit\", \"destination_conf\": \"${BUCKET}\" }";

/* Small valid requests that the tests change one member at a time. */
static const char base_simple[] = "{\"filter_v1\":{},\"time_limit\":60,\"packet_limit\":100,"
				  "\"type\":\"simple\",\"system\":\"magic-transit\"}";
static const char base_full[] = "{\"filter_v1\":{},\"time_limit\":60,\"type\":\"full\","
				"\"system\":\"magic-transit\",\"colo_name\":\"ORD\","
				"\"destination_conf\":\"/var/lib/edgecap/pcaps\"}";
static const char base_full_colo[] = "{\"filter_v1\":{},\"time_limit\":60,\"type\":\"full\","
				     "\"system\":\"magic-transit\",\"colo\":\"ORD\","
				     "\"destination_conf\":\"/var/lib/edgecap/pcaps\"}";

/* What the last parse gave. */
static struct capture_request req;
static char err[256];

/* A test setup failure (bad JSON in the test itself), distinct from any errno. */
#define SETUP_FAILED (-100000)

static int parse(const char *text, enum request_scope scope)
{
	memset(&req, 0, sizeof(req));
	err[0] = '\0';
	return request_from_json(text, strlen(text), scope, &req, err, sizeof(err));
}

/*
 * Parses base with one member set to the JSON text value, or removed when value is NULL. A key
 * "filter_v1.NAME" names a member of the filter.
 */
static int parse_with(const char *base, const char *key, const char *value,
		      enum request_scope scope)
{
	json_t *root, *obj, *v = NULL;
	const char *dot = strchr(key, '.');
	char *text;
	int ret = SETUP_FAILED;

	root = json_loads(base, 0, NULL);
	if (!root)
		return SETUP_FAILED;
	obj = dot ? json_object_get(root, "filter_v1") : root;
	key = dot ? dot + 1 : key;
	if (value) {
		v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		if (!v || json_object_set_new(obj, key, v))
			goto out;
	} else {
		json_object_del(obj, key);
	}
	text = json_dumps(root, JSON_COMPACT);
	if (!text)
		goto out;
	ret = parse(text, scope);
	free(text);
out:
	json_decref(root);
	return ret;
}

#define EXPECT_OK(expr)                                                         \
	do {                                                                    \
		int r_ = (expr);                                                \
		CHECK(r_ == 0, "%s: want success, got %d: %s", #expr, r_, err); \
	} while (0)

#define EXPECT_REJECT(expr, msg)                                                                   \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		CHECK(r_ == -EINVAL, "%s: want -EINVAL, got %d (%s)", #expr, r_, err);             \
		CHECK(strstr(err, (msg)) != NULL, "%s: want \"%s\" in \"%s\"", #expr, (msg), err); \
	} while (0)

/* One value of one member and what must come of it: NULL msg means accepted. */
struct edge {
	const char *value;
	const char *msg;
};

/* Runs a table of edges; returns the index of the first that behaved wrongly, or -1. */
static int run_edges(const char *base, const char *key, enum request_scope scope,
		     const struct edge *edges, size_t n)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = parse_with(base, key, edges[i].value, scope);
		if (edges[i].msg ? ret != -EINVAL || !strstr(err, edges[i].msg) : ret != 0) {
			fprintf(stderr, "%s = %s: got %d \"%s\", want %s\n", key, edges[i].value,
				ret, err, edges[i].msg ? edges[i].msg : "success");
			return (int)i;
		}
	}
	return -1;
}

#define CHECK_EDGES(base, key, scope, edges)                                            \
	CHECK(run_edges(base, key, scope, edges, sizeof(edges) / sizeof(edges[0])) < 0, \
	      "%s: an edge value was handled wrongly (see above)", key)

static bool prefix_equal(const struct req_prefix *a, const struct req_prefix *b)
{
	return a->family == b->family && a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

static bool request_equal(const struct capture_request *a, const struct capture_request *b)
{
	return a->has == b->has && a->filter.fields == b->filter.fields &&
	       prefix_equal(&a->filter.src, &b->filter.src) &&
	       prefix_equal(&a->filter.dst, &b->filter.dst) &&
	       a->filter.protocol == b->filter.protocol &&
	       a->filter.src_port == b->filter.src_port &&
	       a->filter.dst_port == b->filter.dst_port && a->time_limit == b->time_limit &&
	       a->packet_limit == b->packet_limit && a->byte_limit == b->byte_limit &&
	       a->type == b->type && !strcmp(a->system, b->system) &&
	       !strcmp(a->colo_name, b->colo_name) &&
	       !strcmp(a->destination_conf, b->destination_conf) &&
	       a->sample_rate == b->sample_rate && a->snaplen == b->snaplen;
}

/* A request built the way edgecapctl builds one from flags. */
static void flags_request(struct capture_request *r)
{
	memset(r, 0, sizeof(*r));
	r->type = CAPTURE_SIMPLE;
}

static void test_seed_simple_example_is_valid(void)
{
	uint8_t src[4] = { 1, 2, 3, 4 }, dst[4] = { 5, 6, 7, 8 };

	EXPECT_OK(parse(seed_simple, REQ_SCOPE_API));
	CHECK_EQ_U64(req.filter.fields,
		     EC_F_SRC_ADDR | EC_F_DST_ADDR | EC_F_SRC_PORT | EC_F_DST_PORT | EC_F_PROTOCOL,
		     "filter fields");
	CHECK(req.filter.src.family == 4 && req.filter.src.len == 32 &&
		      !memcmp(req.filter.src.addr, src, 4),
	      "source_address 1.2.3.4 as a /32");
	CHECK(req.filter.dst.family == 4 && req.filter.dst.len == 32 &&
		      !memcmp(req.filter.dst.addr, dst, 4),
	      "destination_address 5.6.7.8 as a /32");
	CHECK_EQ_U64(req.filter.src_port, 123, "source_port");
	CHECK_EQ_U64(req.filter.dst_port, 80, "destination_port");
	CHECK_EQ_U64(req.filter.protocol, 6, "protocol");
	CHECK_EQ_U64(req.time_limit, 300, "time_limit");
	CHECK_EQ_U64(req.packet_limit, 10000, "packet_limit");
	CHECK_EQ_U64(req.type, CAPTURE_SIMPLE, "type");
	CHECK(!strcmp(req.system, "magic-transit"), "system: got \"%s\"", req.system);
	CHECK_EQ_U64(req.has,
		     REQ_HAS_TIME_LIMIT | REQ_HAS_PACKET_LIMIT | REQ_HAS_TYPE | REQ_HAS_SYSTEM,
		     "members present");
	CHECK_EQ_U64(request_snaplen(&req), REQ_SIMPLE_SNAPLEN, "simple snaplen default");
}

static void test_seed_full_example_is_valid(void)
{
	EXPECT_OK(parse(seed_full, REQ_SCOPE_API));
	CHECK_EQ_U64(req.filter.fields, 0, "empty filter");
	CHECK_EQ_U64(req.type, CAPTURE_FULL, "type");
	CHECK_EQ_U64(req.byte_limit, 100000000, "byte_limit");
	CHECK_EQ_U64(req.packet_limit, 10000, "packet_limit");
	CHECK(!strcmp(req.colo_name, "ORD"), "colo given as \"colo\": got \"%s\"", req.colo_name);
	CHECK(!strcmp(req.destination_conf, "${BUCKET}"), "destination_conf: got \"%s\"",
	      req.destination_conf);
	CHECK_EQ_U64(request_snaplen(&req), EC_MAX_CAPLEN, "full snaplen default");
	CHECK_EQ_U64(request_sample_rate(&req, 100), 1, "full keeps every match");
}

static void test_full_example_with_gs_bucket_is_accepted(void)
{
	EXPECT_OK(parse_with(seed_full, "destination_conf", "\"gs://my-bucket\"", REQ_SCOPE_API));
	CHECK(!strcmp(req.destination_conf, "gs://my-bucket"), "destination_conf: got \"%s\"",
	      req.destination_conf);
}

static void test_filter_may_be_empty_or_absent(void)
{
	EXPECT_OK(parse_with(base_simple, "filter_v1", "{}", REQ_SCOPE_API));
	CHECK_EQ_U64(req.filter.fields, 0, "empty filter_v1");
	EXPECT_OK(parse_with(base_simple, "filter_v1", NULL, REQ_SCOPE_API));
	CHECK_EQ_U64(req.filter.fields, 0, "no filter_v1");
	EXPECT_REJECT(parse_with(base_simple, "filter_v1", "null", REQ_SCOPE_API),
		      "filter_v1: must be a JSON object (got null)");
	EXPECT_REJECT(parse_with(base_simple, "filter_v1", "[]", REQ_SCOPE_API),
		      "filter_v1: must be a JSON object (got [])");
}

static void test_time_limit_range(void)
{
	static const struct edge edges[] = {
		{ "0", "time_limit: must be an integer from 1 to 300 (got 0)" },
		{ "1", NULL },
		{ "300", NULL },
		{ "301", "time_limit: must be an integer from 1 to 300 (got 301)" },
		{ "-1", "time_limit: must be an integer from 1 to 300 (got -1)" },
		{ NULL, "time_limit: required (an integer from 1 to 300)" },
	};

	CHECK_EDGES(base_simple, "time_limit", REQ_SCOPE_API, edges);
	CHECK_EDGES(base_full, "time_limit", REQ_SCOPE_API, edges);
	CHECK_EDGES(base_simple, "time_limit", REQ_SCOPE_LOCAL_REQUEST, edges);
}

static void test_packet_limit_range(void)
{
	static const struct edge simple[] = {
		{ "0", "packet_limit: must be an integer from 1 to 10000 (got 0)" },
		{ "1", NULL },
		{ "10000", NULL },
		{ "10001", "packet_limit: must be an integer from 1 to 10000 (got 10001)" },
		{ NULL, "packet_limit: required for simple captures (an integer from 1 to 10000)" },
	};
	static const struct edge full[] = {
		{ "0", "packet_limit: must be an integer from 1 to 10000 (got 0)" },
		{ "1", NULL },
		{ "10000", NULL },
		{ "10001", "packet_limit: must be an integer from 1 to 10000 (got 10001)" },
		{ NULL, NULL },
	};

	CHECK_EDGES(base_simple, "packet_limit", REQ_SCOPE_API, simple);
	CHECK_EDGES(base_simple, "packet_limit", REQ_SCOPE_LOCAL_REQUEST, simple);
	CHECK_EDGES(base_full, "packet_limit", REQ_SCOPE_API, full);
}

static void test_byte_limit_range(void)
{
	static const struct edge full[] = {
		{ "0", "byte_limit: must be an integer from 1 to 1000000000 (got 0)" },
		{ "1", NULL },
		{ "1000000000", NULL },
		{ "1000000001",
		  "byte_limit: must be an integer from 1 to 1000000000 (got 1000000001)" },
		{ NULL, NULL },
	};

	CHECK_EDGES(base_full, "byte_limit", REQ_SCOPE_API, full);
	/* A local request body may limit a simple capture by bytes too; the range still binds. */
	CHECK_EDGES(base_simple, "byte_limit", REQ_SCOPE_LOCAL_REQUEST, full);
}

static void test_byte_limit_is_for_full_captures_in_the_api(void)
{
	EXPECT_REJECT(parse_with(base_simple, "byte_limit", "1000", REQ_SCOPE_API),
		      "byte_limit: only for full captures (got 1000)");
}

static void test_type_rules(void)
{
	static const struct edge edges[] = {
		{ "\"simple\"", NULL },
		{ "\"medium\"", "type: must be \"simple\" or \"full\" (got \"medium\")" },
		{ "\"Simple\"", "type: must be \"simple\" or \"full\" (got \"Simple\")" },
		{ "\"\"", "type: must be \"simple\" or \"full\" (got \"\")" },
		{ "\"simple-but-longer\"", "type: must be \"simple\" or \"full\"" },
		{ "0", "type: must be \"simple\" or \"full\" (got 0)" },
		{ "null", "type: must be \"simple\" or \"full\" (got null)" },
		{ NULL, "type: required (\"simple\" or \"full\")" },
	};

	CHECK_EDGES(base_simple, "type", REQ_SCOPE_API, edges);
	CHECK_EDGES(base_simple, "type", REQ_SCOPE_LOCAL_REQUEST, edges);
	EXPECT_OK(parse_with(base_full, "type", "\"full\"", REQ_SCOPE_API));
}

static void test_system_rules(void)
{
	static const struct edge edges[] = {
		{ "\"magic-transit\"", NULL },
		{ "\"magic_transit\"",
		  "system: must be \"magic-transit\" (got \"magic_transit\")" },
		{ "\"\"", "system: must be \"magic-transit\" (got \"\")" },
		{ "\"magic-transit-and-a-name-much-too-long\"",
		  "system: must be \"magic-transit\"" },
		{ "1", "system: must be \"magic-transit\" (got 1)" },
		{ NULL, "system: required (\"magic-transit\")" },
	};

	CHECK_EDGES(base_simple, "system", REQ_SCOPE_API, edges);
	CHECK_EDGES(base_full, "system", REQ_SCOPE_LOCAL_REQUEST, edges);
}

static void test_port_ranges(void)
{
	static const struct edge src[] = {
		{ "-1", "filter_v1.source_port: must be an integer from 0 to 65535 (got -1)" },
		{ "0", NULL },
		{ "65535", NULL },
		{ "65536",
		  "filter_v1.source_port: must be an integer from 0 to 65535 (got 65536)" },
		{ "\"80\"",
		  "filter_v1.source_port: must be an integer from 0 to 65535 (got \"80\")" },
		{ "80.0", "filter_v1.source_port: must be an integer from 0 to 65535 (got 80.0)" },
	};
	static const struct edge dst[] = {
		{ "-1", "filter_v1.destination_port: must be an integer from 0 to 65535 (got -1)" },
		{ "0", NULL },
		{ "65535", NULL },
		{ "65536",
		  "filter_v1.destination_port: must be an integer from 0 to 65535 (got 65536)" },
	};

	CHECK_EDGES(base_simple, "filter_v1.source_port", REQ_SCOPE_API, src);
	CHECK_EDGES(base_simple, "filter_v1.destination_port", REQ_SCOPE_API, dst);
	CHECK_EDGES(base_simple, "filter_v1.source_port", REQ_SCOPE_LOCAL_FLAGS, src);
}

static void test_protocol_range(void)
{
	static const struct edge edges[] = {
		{ "-1", "filter_v1.protocol: must be an integer from 0 to 255 (got -1)" },
		{ "0", NULL },
		{ "255", NULL },
		{ "256", "filter_v1.protocol: must be an integer from 0 to 255 (got 256)" },
		{ "\"tcp\"", "filter_v1.protocol: must be an integer from 0 to 255 (got \"tcp\")" },
	};

	CHECK_EDGES(base_simple, "filter_v1.protocol", REQ_SCOPE_API, edges);
}

static void test_sample_rate_and_snaplen_ranges(void)
{
	static const struct edge rate[] = {
		{ "0", "sample_rate: must be an integer from 1 to 1000000 (got 0)" },
		{ "1", NULL },
		{ "1000000", NULL },
		{ "1000001", "sample_rate: must be an integer from 1 to 1000000 (got 1000001)" },
		{ "4294967296",
		  "sample_rate: must be an integer from 1 to 1000000 (got 4294967296)" },
		{ NULL, NULL },
	};
	static const struct edge snaplen[] = {
		{ "0", "snaplen: must be an integer from 1 to 65535 (got 0)" },
		{ "1", NULL },
		{ "65535", NULL },
		{ "65536", "snaplen: must be an integer from 1 to 65535 (got 65536)" },
		{ NULL, NULL },
	};

	CHECK_EDGES(base_simple, "sample_rate", REQ_SCOPE_API, rate);
	CHECK_EDGES(base_full, "sample_rate", REQ_SCOPE_LOCAL_FLAGS, rate);
	CHECK_EDGES(base_simple, "snaplen", REQ_SCOPE_API, snaplen);
	CHECK_EDGES(base_full, "snaplen", REQ_SCOPE_LOCAL_FLAGS, snaplen);
}

static void test_numbers_must_be_json_integers(void)
{
	static const struct edge edges[] = {
		{ "10.0", "time_limit: must be an integer from 1 to 300 (got 10.0)" },
		{ "1.5", "time_limit: must be an integer from 1 to 300 (got 1.5)" },
		{ "1e2", "time_limit: must be an integer from 1 to 300 (got 100.0)" },
		{ "\"10\"", "time_limit: must be an integer from 1 to 300 (got \"10\")" },
		{ "true", "time_limit: must be an integer from 1 to 300 (got true)" },
		{ "null", "time_limit: must be an integer from 1 to 300 (got null)" },
		{ "[10]", "time_limit: must be an integer from 1 to 300 (got [10])" },
		{ "{}", "time_limit: must be an integer from 1 to 300 (got {})" },
		{ "-10", "time_limit: must be an integer from 1 to 300 (got -10)" },
		{ "9223372036854775807",
		  "time_limit: must be an integer from 1 to 300 (got 9223372036854775807)" },
	};

	CHECK_EDGES(base_simple, "time_limit", REQ_SCOPE_API, edges);
}

static void test_integers_too_big_for_json_are_syntax_errors(void)
{
	/* jansson refuses integers beyond int64 while parsing; the message gives the place. */
	EXPECT_REJECT(parse("{\"time_limit\": 99999999999999999999}", REQ_SCOPE_API),
		      "invalid JSON at line 1, column");
	CHECK_STR_CONTAINS(err, "99999999999999999999");
	EXPECT_REJECT(parse("{\"time_limit\": -99999999999999999999}", REQ_SCOPE_API),
		      "invalid JSON at line 1");
}

static void test_malformed_json_names_the_position(void)
{
	EXPECT_REJECT(parse("{\"time_limit\": 60,\n \"type\": }", REQ_SCOPE_API),
		      "invalid JSON at line 2, column");
	EXPECT_REJECT(parse("", REQ_SCOPE_API), "invalid JSON at line 1");
	EXPECT_REJECT(parse("{} {}", REQ_SCOPE_API), "invalid JSON at line 1, column");
	EXPECT_REJECT(parse("{\"time_limit\": 60, \"time_limit\": 61}", REQ_SCOPE_API),
		      "duplicate object key");
	EXPECT_REJECT(parse("{\"filter_v1\": {\"protocol\": 6, \"protocol\": 17}}", REQ_SCOPE_API),
		      "duplicate object key");
}

static void test_request_must_be_an_object(void)
{
	EXPECT_REJECT(parse("[1, 2]", REQ_SCOPE_API), "request: must be a JSON object (got [1,2])");
	/* jansson takes only an array or object at the top level. */
	EXPECT_REJECT(parse("42", REQ_SCOPE_API), "invalid JSON at line 1");
}

static void test_unknown_fields_are_errors(void)
{
	EXPECT_REJECT(parse_with(base_simple, "foo", "1", REQ_SCOPE_API), "unknown field \"foo\"");
	EXPECT_REJECT(parse_with(base_simple, "Time_limit", "60", REQ_SCOPE_API),
		      "unknown field \"Time_limit\"");
	EXPECT_REJECT(parse_with(base_simple, "id", "\"6d1f0aac13cd40e3900d29f5dd0e8a2b\"",
				 REQ_SCOPE_LOCAL_REQUEST),
		      "unknown field \"id\"");
	EXPECT_REJECT(parse_with(base_simple, "filter_v1.src_port", "80", REQ_SCOPE_API),
		      "filter_v1: unknown field \"src_port\"");
	EXPECT_REJECT(parse_with(base_simple, "filter_v1.colo", "\"ORD\"", REQ_SCOPE_API),
		      "filter_v1: unknown field \"colo\"");
	/* A name that is not ASCII is escaped, so the message stays plain ASCII. */
	EXPECT_REJECT(parse_with(base_simple, "f\xc3\xa9", "1", REQ_SCOPE_API),
		      "unknown field \"f\\u00E9\"");
}

static void test_colo_and_colo_name(void)
{
	struct capture_request with_colo_name;

	/* The seeds' full example says "colo"; the model's name is colo_name. Both mean one thing.
	 */
	EXPECT_OK(parse(base_full, REQ_SCOPE_API));
	with_colo_name = req;
	EXPECT_OK(parse(base_full_colo, REQ_SCOPE_API));
	CHECK(request_equal(&req, &with_colo_name), "colo and colo_name give the same request");

	EXPECT_REJECT(parse_with(base_full, "colo", "\"ORD\"", REQ_SCOPE_API),
		      "colo_name: give either colo_name or colo, not both");
	EXPECT_REJECT(parse_with(base_full, "colo", "\"ORD\"", REQ_SCOPE_LOCAL_REQUEST),
		      "colo_name: give either colo_name or colo, not both");
	EXPECT_REJECT(parse_with(base_full, "colo_name", "\"\"", REQ_SCOPE_API),
		      "colo_name: must be a colo name of 1 to 63 letters, digits, '-', '_' or '.' "
		      "(got \"\")");
	EXPECT_REJECT(parse_with(base_full, "colo_name", "\"O RD\"", REQ_SCOPE_API),
		      "(got \"O RD\")");
	EXPECT_REJECT(parse_with(base_full, "colo_name", "7", REQ_SCOPE_API),
		      "colo_name: must be a colo name");
	/* The message names the spelling the request used. */
	EXPECT_REJECT(parse_with(seed_full, "colo", "7", REQ_SCOPE_API),
		      "colo: must be a colo name");
}

static void test_full_capture_needs_colo_and_destination_in_the_api(void)
{
	EXPECT_REJECT(parse_with(base_full, "colo_name", NULL, REQ_SCOPE_API),
		      "colo_name: required for full captures");
	EXPECT_REJECT(parse_with(base_full, "destination_conf", NULL, REQ_SCOPE_API),
		      "destination_conf: required for full captures");
}

static void test_colo_and_destination_only_for_full(void)
{
	EXPECT_REJECT(parse_with(base_simple, "colo_name", "\"ORD\"", REQ_SCOPE_API),
		      "colo_name: only for full captures (got \"ORD\")");
	EXPECT_REJECT(parse_with(base_simple, "colo", "\"ORD\"", REQ_SCOPE_LOCAL_REQUEST),
		      "colo_name: only for full captures (got \"ORD\")");
	EXPECT_REJECT(parse_with(base_simple, "destination_conf", "\"/tmp\"", REQ_SCOPE_API),
		      "destination_conf: only for full captures (got \"/tmp\")");
}

static void test_destination_conf_forms(void)
{
	static const struct edge edges[] = {
		{ "\"/var/lib/edgecap/pcaps\"", NULL },
		{ "\"pcaps/full\"", NULL },
		{ "\"file:///var/lib/edgecap\"", NULL },
		{ "\"FILE:///var/lib/edgecap\"", NULL },
		{ "\"file://host/var/lib\"",
		  "destination_conf: a file:// URL must name an absolute local path" },
		{ "\"file://\"",
		  "destination_conf: a file:// URL must name an absolute local path" },
		{ "\"gs://bucket\"", NULL },
		{ "\"gs://my_bucket/a/b/\"", NULL },
		{ "\"s3://bucket/x\"", NULL },
		{ "\"s3://bucket.example-1/pcaps/edge?region=eu-west-1\"", NULL },
		{ "\"S3://bucket\"", NULL },
		{ "\"s3://my_bucket\"", "destination_conf: the bucket name \"my_bucket\" must be" },
		{ "\"s3://Bucket\"", "destination_conf: the bucket name \"Bucket\" must be" },
		{ "\"s3://ab\"", "destination_conf: the bucket name \"ab\" must be" },
		{ "\"s3://\"", "destination_conf: the bucket name \"\" must be" },
		{ "\"s3://bucket/a/../b\"", "must not have an empty, \".\" or \"..\" segment" },
		{ "\"s3://bucket/a//b\"", "must not have an empty, \".\" or \"..\" segment" },
		{ "\"s3://bucket/a b\"", "the prefix may hold only letters" },
		{ "\"s3://bucket?region=EU\"", "destination_conf: region must be" },
		{ "\"s3://bucket?acl=x\"", "the only query parameter is region=REGION" },
		{ "\"gs://bucket?region=eu\"", "region= is for s3:// buckets only" },
		{ "\"https://example.com/x\"", "(got \"https://example.com/x\")" },
		{ "\"\"", "destination_conf: must be a directory path, a file:// URL" },
		{ "\"a\\nb\"", "destination_conf: must not contain control characters" },
		/* jansson itself refuses a NUL inside a string, so no name is ever cut short. */
		{ "\"a\\u0000b\"", "invalid JSON at line 1" },
		{ "[]", "destination_conf: must be a directory path, a file:// URL" },
	};

	CHECK_EDGES(base_full, "destination_conf", REQ_SCOPE_API, edges);
}

static void test_local_request_binds_ranges_but_not_colo(void)
{
	EXPECT_OK(parse_with(base_full, "colo_name", NULL, REQ_SCOPE_LOCAL_REQUEST));
	EXPECT_OK(parse("{\"time_limit\": 10, \"type\": \"full\", \"system\": \"magic-transit\"}",
			REQ_SCOPE_LOCAL_REQUEST));
	CHECK_EQ_U64(req.type, CAPTURE_FULL, "type");
	EXPECT_REJECT(parse_with(base_simple, "packet_limit", "50000", REQ_SCOPE_LOCAL_REQUEST),
		      "packet_limit: must be an integer from 1 to 10000 (got 50000)");
	EXPECT_REJECT(parse_with(base_simple, "time_limit", "3600", REQ_SCOPE_LOCAL_REQUEST),
		      "time_limit: must be an integer from 1 to 300 (got 3600)");
	/* A given colo is still checked, though a local capture does not use it. */
	EXPECT_REJECT(parse_with(base_full, "colo_name", "\"a/b\"", REQ_SCOPE_LOCAL_REQUEST),
		      "colo_name: must be a colo name");
}

static void test_local_flags_take_any_positive_limit(void)
{
	struct capture_request r;

	flags_request(&r);
	r.packet_limit = 50000;
	EXPECT_OK(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)));
	/* The same request is out of range anywhere else. */
	r.time_limit = 10;
	r.has = REQ_HAS_TYPE;
	strcpy(r.system, REQ_SYSTEM);
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_REQUEST, err, sizeof(err)),
		      "packet_limit: must be an integer from 1 to 10000 (got 50000)");

	/* No limit at all: until interrupted. */
	flags_request(&r);
	EXPECT_OK(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)));
	r.time_limit = 86400;
	r.byte_limit = 5000000000ULL;
	r.type = CAPTURE_FULL;
	EXPECT_OK(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)));
	r.time_limit = REQ_LOCAL_TIME_LIMIT_MAX;
	EXPECT_OK(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)));
	/* Beyond this, time_limit in nanoseconds would not fit in 64 bits. */
	r.time_limit = REQ_LOCAL_TIME_LIMIT_MAX + 1;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "time_limit: must be an integer from 1 to 18446744073 (got 18446744074)");
	r.time_limit = 0;
	r.packet_limit = UINT64_MAX;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "packet_limit: must be an integer from 1 to 9223372036854775807");

	/* The same through a JSON body parsed for this scope. */
	EXPECT_OK(parse("{\"type\": \"simple\", \"packet_limit\": 50000}", REQ_SCOPE_LOCAL_FLAGS));
	CHECK_EQ_U64(req.packet_limit, 50000, "packet_limit");
}

static void test_local_flags_still_bind_other_ranges(void)
{
	struct capture_request r;

	flags_request(&r);
	r.snaplen = 65536;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "snaplen: must be an integer from 1 to 65535 (got 65536)");
	flags_request(&r);
	r.sample_rate = 1000001;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "sample_rate: must be an integer from 1 to 1000000 (got 1000001)");
	flags_request(&r);
	r.has = REQ_HAS_SNAPLEN; /* given as 0, not absent */
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "snaplen: must be an integer from 1 to 65535 (got 0)");
	flags_request(&r);
	r.type = (enum capture_type)7;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "type: must be \"simple\" or \"full\" (got 7)");
	flags_request(&r);
	strcpy(r.system, "other");
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "system: must be \"magic-transit\" (got \"other\")");
	flags_request(&r);
	r.filter.fields = EC_F_SRC_ADDR;
	r.filter.src.family = 4;
	r.filter.src.len = 24;
	memcpy(r.filter.src.addr, "\xc0\x00\x02\x01", 4);
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "filter_v1.source_address: 192.0.2.1/24 has host bits set; did you mean "
		      "192.0.2.0/24?");
	r.filter.src.len = 33;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "filter_v1.source_address: prefix length must be an integer from 0 to 32 "
		      "(got 33)");
	r.filter.src.family = 5;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "filter_v1.source_address: must be an IPv4 or IPv6 address");
	flags_request(&r);
	r.filter.fields = 1u << 7;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_LOCAL_FLAGS, err, sizeof(err)),
		      "filter_v1: unknown field bits (got 0x80)");
}

static void test_validate_a_hand_built_request(void)
{
	struct capture_request r;

	memset(&r, 0, sizeof(r));
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_API, err, sizeof(err)),
		      "time_limit: required");
	/* Limits set without their "has" bits still count as given. */
	r.time_limit = 30;
	r.packet_limit = 10;
	r.has = REQ_HAS_TYPE;
	strcpy(r.system, REQ_SYSTEM);
	EXPECT_OK(request_validate(&r, REQ_SCOPE_API, err, sizeof(err)));
	memset(r.colo_name, 'A', sizeof(r.colo_name));
	r.type = CAPTURE_FULL;
	EXPECT_REJECT(request_validate(&r, REQ_SCOPE_API, err, sizeof(err)),
		      "colo_name: must be a colo name of 1 to 63 letters, digits, '-', '_' or '.' "
		      "(got an unterminated string)");
	EXPECT_REJECT(request_validate(NULL, REQ_SCOPE_API, err, sizeof(err)), "request:");
	memset(&r, 0, sizeof(r));
	r.time_limit = 1;
	EXPECT_REJECT(request_validate(&r, (enum request_scope)9, err, sizeof(err)),
		      "unknown scope");
}

static void test_first_bad_field_wins(void)
{
	/* Within a pass, the order is fixed: filter, time_limit, ..., sample_rate, snaplen. */
	EXPECT_REJECT(parse("{\"snaplen\": 0, \"time_limit\": 0, \"packet_limit\": 1, "
			    "\"type\": \"simple\", \"system\": \"magic-transit\"}",
			    REQ_SCOPE_API),
		      "time_limit: must be an integer from 1 to 300 (got 0)");
	EXPECT_REJECT(
		parse("{\"time_limit\": 0, \"filter_v1\": {\"protocol\": 256}}", REQ_SCOPE_API),
		"filter_v1.protocol:");
	EXPECT_REJECT(
		parse("{\"filter_v1\": {\"protocol\": 256, \"source_port\": -1}}", REQ_SCOPE_API),
		"filter_v1.source_port:");
	/* Unknown fields come before any value. */
	EXPECT_REJECT(parse("{\"time_limit\": \"x\", \"bogus\": 1}", REQ_SCOPE_API),
		      "unknown field \"bogus\"");
	/* A malformed value comes before a rule broken by a well-formed one. */
	EXPECT_REJECT(parse("{\"time_limit\": 301, \"snaplen\": \"x\"}", REQ_SCOPE_API),
		      "snaplen: must be an integer from 1 to 65535 (got \"x\")");
	/* The type decides what else is required, so a missing type is reported first. */
	EXPECT_REJECT(parse("{\"time_limit\": 30, \"system\": \"magic-transit\"}", REQ_SCOPE_API),
		      "type: required");
}

static void test_message_format_is_field_rule_value(void)
{
	EXPECT_REJECT(parse_with(base_simple, "time_limit", "301", REQ_SCOPE_API), "time_limit");
	CHECK(!strcmp(err, "time_limit: must be an integer from 1 to 300 (got 301)"), "got \"%s\"",
	      err);
	EXPECT_REJECT(parse_with(base_simple, "time_limit", "\"10\"", REQ_SCOPE_API), "time_limit");
	CHECK(!strcmp(err, "time_limit: must be an integer from 1 to 300 (got \"10\")"),
	      "got \"%s\"", err);
	EXPECT_REJECT(
		parse_with(base_simple, "filter_v1.source_address", "\"1.2.3\"", REQ_SCOPE_API),
		"filter_v1.source_address");
	CHECK(!strcmp(err, "filter_v1.source_address: must be an IPv4 or IPv6 address, optionally "
			   "with a /length (got \"1.2.3\")"),
	      "got \"%s\"", err);
}

static void test_long_values_are_cut_in_messages(void)
{
	char value[1100];

	memset(value, 'x', sizeof(value));
	value[0] = '"';
	value[sizeof(value) - 2] = '"';
	value[sizeof(value) - 1] = '\0';
	EXPECT_REJECT(parse_with(base_full, "destination_conf", value, REQ_SCOPE_API),
		      "destination_conf: must be a directory path, a file:// URL or an s3:// or "
		      "gs:// bucket of at most 511 bytes (got \"xxx");
	CHECK_STR_CONTAINS(err, "...)");
	CHECK(strlen(err) < 200, "message of %zu bytes", strlen(err));
}

static void test_err_may_be_null_or_short(void)
{
	struct capture_request r;
	char small[8];

	CHECK(request_from_json("{", 1, REQ_SCOPE_API, &r, NULL, 0) == -EINVAL, "NULL err");
	CHECK(request_from_json(seed_simple, strlen(seed_simple), REQ_SCOPE_API, &r, NULL, 0) == 0,
	      "valid with NULL err");
	CHECK(request_validate(NULL, REQ_SCOPE_API, NULL, 0) == -EINVAL, "NULL request");
	CHECK(prefix_parse("nope", &r.filter.src, NULL, 0) == -EINVAL, "prefix with NULL err");
	memset(small, 'z', sizeof(small));
	CHECK(request_from_json("[]", 2, REQ_SCOPE_API, &r, small, sizeof(small)) == -EINVAL,
	      "short err");
	CHECK(memchr(small, '\0', sizeof(small)) != NULL, "short err is terminated");
	CHECK(!strncmp(small, "request", 7), "short err holds the start: \"%s\"", small);
	CHECK(request_from_json(NULL, 0, REQ_SCOPE_API, &r, err, sizeof(err)) == -EINVAL,
	      "NULL text");
}

static void test_output_is_untouched_on_error(void)
{
	struct capture_request r;
	struct req_filter f;
	json_t *bad;

	memset(&r, 0xab, sizeof(r));
	CHECK(request_from_json("{\"time_limit\": 0}", 17, REQ_SCOPE_API, &r, err, sizeof(err)) ==
		      -EINVAL,
	      "rejected");
	CHECK(r.time_limit == 0xababababababababULL, "request written on error");
	memset(&f, 0xab, sizeof(f));
	bad = json_pack("{s:i, s:i}", "source_port", 80, "protocol", 300);
	CHECK(bad, "pack");
	CHECK(filter_from_json(bad, &f, err, sizeof(err)) == -EINVAL, "rejected");
	json_decref(bad);
	CHECK(f.fields == 0xabababab, "filter written on error");
}

static void test_filter_from_json_directly(void)
{
	struct req_filter f;
	json_t *obj;

	/* What `edgecapctl capture --filter JSON` hands over. */
	obj = json_loads("{\"destination_address\": \"2001:db8::/32\", \"destination_port\": 443}",
			 0, NULL);
	CHECK(obj, "loads");
	EXPECT_OK(filter_from_json(obj, &f, err, sizeof(err)));
	json_decref(obj);
	CHECK_EQ_U64(f.fields, EC_F_DST_ADDR | EC_F_DST_PORT, "fields");
	CHECK(f.dst.family == 6 && f.dst.len == 32, "IPv6 /32");
	CHECK_EQ_U64(f.dst_port, 443, "destination_port");
	EXPECT_REJECT(filter_from_json(NULL, &f, err, sizeof(err)),
		      "filter_v1: must be a JSON object (got nothing)");
	obj = json_string("1.2.3.4");
	EXPECT_REJECT(filter_from_json(obj, &f, err, sizeof(err)),
		      "filter_v1: must be a JSON object (got \"1.2.3.4\")");
	json_decref(obj);
}

static void test_filter_addresses(void)
{
	static const struct edge edges[] = {
		{ "\"192.0.2.1\"", NULL },
		{ "\"192.0.2.0/24\"", NULL },
		{ "\"0.0.0.0/0\"", NULL },
		{ "\"2001:db8::1\"", NULL },
		{ "\"2001:db8::/32\"", NULL },
		{ "\"192.0.2.1/24\"", "filter_v1.source_address: 192.0.2.1/24 has host bits set; "
				      "did you mean 192.0.2.0/24?" },
		{ "\"2001:db8::1/32\"", "filter_v1.source_address: 2001:db8::1/32 has host bits "
					"set; did you mean 2001:db8::/32?" },
		{ "\"192.0.2.0/33\"", "filter_v1.source_address: prefix length must be an integer "
				      "from 0 to 32 (got \"192.0.2.0/33\")" },
		{ "\"1.2.3.4 \"", "filter_v1.source_address: must be an IPv4 or IPv6 address" },
		{ "\"\"", "filter_v1.source_address: must be an IPv4 or IPv6 address" },
		{ "16909060",
		  "filter_v1.source_address: must be an IPv4 or IPv6 address, optionally "
		  "with a /length (got 16909060)" },
		{ "\"1.2.3.4\\u0000junk\"", "\\u0000 is not allowed" },
	};

	CHECK_EDGES(base_simple, "filter_v1.source_address", REQ_SCOPE_API, edges);
	EXPECT_REJECT(parse_with(base_simple, "filter_v1.destination_address", "\"10.0.0.1/8\"",
				 REQ_SCOPE_API),
		      "filter_v1.destination_address: 10.0.0.1/8 has host bits set; did you mean "
		      "10.0.0.0/8?");
}

static void test_prefix_parse_ipv4(void)
{
	static const char *const bad[] = {
		"",
		"192.0.2",
		"192.0.2.256",
		"1.2.3.4.5",
		"0x7f.0.0.1",
		"192.0.2.01",
		" 192.0.2.1",
		"192.0.2.1 ",
		"192.0.2.0/",
		"/24",
		"192.0.2.0/+24",
		"192.0.2.0/-1",
		"192.0.2.0/ 24",
		"192.0.2.0/24 ",
		"192.0.2.0/24x",
		"192.0.2.0/0x18",
		"192.0.2.0/33",
		"192.0.2.0/24/24",
		"1.2.3.4/32/",
		"localhost",
	};
	struct req_prefix p;
	size_t i;

	EXPECT_OK(prefix_parse("192.0.2.1", &p, err, sizeof(err)));
	CHECK(p.family == 4 && p.len == 32 && !memcmp(p.addr, "\xc0\x00\x02\x01", 4),
	      "192.0.2.1: family %u len %u", p.family, p.len);
	CHECK(!memcmp(p.addr + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12), "IPv4 leaves the rest zero");
	EXPECT_OK(prefix_parse("192.0.2.0/24", &p, err, sizeof(err)));
	CHECK(p.len == 24, "len %u", p.len);
	EXPECT_OK(prefix_parse("0.0.0.0/0", &p, err, sizeof(err)));
	CHECK(p.len == 0, "len %u", p.len);
	EXPECT_OK(prefix_parse("192.0.2.128/25", &p, err, sizeof(err)));
	EXPECT_OK(prefix_parse("192.0.2.7/32", &p, err, sizeof(err)));
	CHECK(p.len == 32, "len %u", p.len);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(prefix_parse(bad[i], &p, err, sizeof(err)) == -EINVAL, "\"%s\" accepted",
		      bad[i]);
	EXPECT_REJECT(prefix_parse("192.0.2.1/24", &p, err, sizeof(err)),
		      "192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?");
	EXPECT_REJECT(prefix_parse("192.0.2.129/25", &p, err, sizeof(err)),
		      "did you mean 192.0.2.128/25?");
	EXPECT_REJECT(prefix_parse("0.0.0.1/0", &p, err, sizeof(err)), "did you mean 0.0.0.0/0?");
}

static void test_prefix_parse_ipv6(void)
{
	static const char *const bad[] = {
		"2001:db8::/129", "2001:db8:::1",  "fe80::1%eth0", "2001:db8::/",
		"2001:db8::g",	  "[2001:db8::1]", ":::",	   "2001:db8::/-0",
	};
	struct req_prefix p;
	char text[64];
	size_t i;

	EXPECT_OK(prefix_parse("2001:db8::1", &p, err, sizeof(err)));
	CHECK(p.family == 6 && p.len == 128 && p.addr[0] == 0x20 && p.addr[1] == 0x01 &&
		      p.addr[15] == 1,
	      "2001:db8::1");
	EXPECT_OK(prefix_parse("::/0", &p, err, sizeof(err)));
	EXPECT_OK(prefix_parse("::ffff:192.0.2.1", &p, err, sizeof(err)));
	CHECK(p.family == 6, "a mapped IPv4 address is IPv6");
	EXPECT_OK(prefix_parse("2001:0DB8:0000::/32", &p, err, sizeof(err)));
	prefix_format(&p, text, sizeof(text));
	CHECK(!strcmp(text, "2001:db8::/32"), "canonical form: got \"%s\"", text);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(prefix_parse(bad[i], &p, err, sizeof(err)) == -EINVAL, "\"%s\" accepted",
		      bad[i]);
	EXPECT_REJECT(prefix_parse("2001:db8::1/64", &p, err, sizeof(err)),
		      "2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?");
	EXPECT_REJECT(prefix_parse("2001:db8::/129", &p, err, sizeof(err)),
		      "prefix length must be an integer from 0 to 128");
}

static void test_prefix_format(void)
{
	static const char *const round[] = {
		"192.0.2.1", "192.0.2.0/24", "0.0.0.0/0", "2001:db8::1", "2001:db8::/32", "::/0",
	};
	struct req_prefix p;
	char text[64], tiny[5];
	size_t i;

	for (i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		CHECK(prefix_parse(round[i], &p, err, sizeof(err)) == 0, "%s: %s", round[i], err);
		prefix_format(&p, text, sizeof(text));
		CHECK(!strcmp(text, round[i]), "%s formats as %s", round[i], text);
	}
	CHECK(prefix_parse("192.0.2.0/24", &p, err, sizeof(err)) == 0, "parse");
	prefix_format(&p, tiny, sizeof(tiny));
	CHECK(!strcmp(tiny, "192."), "cut to the buffer: \"%s\"", tiny);
	prefix_format(&p, tiny, 0);
}

static void test_to_json_uses_the_api_names(void)
{
	json_t *obj, *v;

	EXPECT_OK(parse(seed_full, REQ_SCOPE_API));
	obj = request_to_json(&req);
	CHECK(obj, "request_to_json");
	CHECK(json_object_size(obj) == 8, "8 members, got %zu", json_object_size(obj));
	CHECK(json_is_object(json_object_get(obj, "filter_v1")) &&
		      json_object_size(json_object_get(obj, "filter_v1")) == 0,
	      "filter_v1 is an empty object");
	CHECK(json_integer_value(json_object_get(obj, "time_limit")) == 300, "time_limit");
	CHECK(json_integer_value(json_object_get(obj, "packet_limit")) == 10000, "packet_limit");
	CHECK(json_integer_value(json_object_get(obj, "byte_limit")) == 100000000, "byte_limit");
	CHECK(!strcmp(json_string_value(json_object_get(obj, "type")), "full"), "type");
	CHECK(!strcmp(json_string_value(json_object_get(obj, "system")), "magic-transit"),
	      "system");
	CHECK(!strcmp(json_string_value(json_object_get(obj, "colo_name")), "ORD"), "colo_name");
	CHECK(!json_object_get(obj, "colo"), "colo is written as colo_name");
	CHECK(!strcmp(json_string_value(json_object_get(obj, "destination_conf")), "${BUCKET}"),
	      "destination_conf");
	json_decref(obj);

	EXPECT_OK(parse(seed_simple, REQ_SCOPE_API));
	obj = request_to_json(&req);
	CHECK(obj, "request_to_json");
	CHECK(json_object_size(obj) == 5, "simple: 5 members, got %zu", json_object_size(obj));
	CHECK(!json_object_get(obj, "byte_limit") && !json_object_get(obj, "sample_rate") &&
		      !json_object_get(obj, "snaplen") && !json_object_get(obj, "colo_name"),
	      "absent members stay absent");
	v = json_object_get(obj, "filter_v1");
	CHECK(!strcmp(json_string_value(json_object_get(v, "source_address")), "1.2.3.4"),
	      "source_address");
	CHECK(json_integer_value(json_object_get(v, "source_port")) == 123, "source_port");
	CHECK(!strcmp(json_string_value(json_object_get(v, "destination_address")), "5.6.7.8"),
	      "destination_address");
	CHECK(json_integer_value(json_object_get(v, "destination_port")) == 80, "dst port");
	CHECK(json_integer_value(json_object_get(v, "protocol")) == 6, "protocol");
	json_decref(obj);
}

/* request -> JSON -> request gives the same struct. */
static int round_trip(const char *text, enum request_scope scope)
{
	struct capture_request first, second;
	char *dumped;
	json_t *obj;
	int ret;

	ret = parse(text, scope);
	if (ret)
		return ret;
	first = req;
	obj = request_to_json(&first);
	if (!obj)
		return SETUP_FAILED;
	dumped = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!dumped)
		return SETUP_FAILED;
	ret = request_from_json(dumped, strlen(dumped), scope, &second, err, sizeof(err));
	free(dumped);
	if (ret)
		return ret;
	return request_equal(&first, &second) ? 0 : 1;
}

static void test_round_trip(void)
{
	EXPECT_OK(round_trip(seed_simple, REQ_SCOPE_API));
	EXPECT_OK(round_trip(seed_full, REQ_SCOPE_API));
	EXPECT_OK(round_trip(base_simple, REQ_SCOPE_API));
	EXPECT_OK(
		round_trip("{\"filter_v1\": {\"source_address\": \"2001:db8::/48\", "
			   "\"destination_address\": \"192.0.2.0/24\", \"protocol\": 17, "
			   "\"destination_port\": 0}, \"time_limit\": 1, \"packet_limit\": 1, "
			   "\"byte_limit\": 1, \"type\": \"full\", \"system\": \"magic-transit\", "
			   "\"colo_name\": \"sjc-1\", \"destination_conf\": \"file:///srv/pcap\", "
			   "\"sample_rate\": 1000000, \"snaplen\": 65535}",
			   REQ_SCOPE_API));
	EXPECT_OK(round_trip("{\"time_limit\": 300, \"type\": \"full\", \"system\": "
			     "\"magic-transit\", \"sample_rate\": 10, \"snaplen\": 1}",
			     REQ_SCOPE_LOCAL_REQUEST));
	EXPECT_OK(round_trip("{\"type\": \"simple\", \"system\": \"magic-transit\", "
			     "\"packet_limit\": 50000, \"byte_limit\": 9223372036854775807}",
			     REQ_SCOPE_LOCAL_FLAGS));
}

static void test_defaults(void)
{
	struct capture_request r;

	memset(&r, 0, sizeof(r));
	r.type = CAPTURE_SIMPLE;
	CHECK_EQ_U64(request_snaplen(&r), 160, "simple snaplen");
	CHECK_EQ_U64(request_sample_rate(&r, 100), 100, "simple sample rate: the default");
	CHECK_EQ_U64(request_sample_rate(&r, 0), 1, "no default: every match");
	r.type = CAPTURE_FULL;
	CHECK_EQ_U64(request_snaplen(&r), EC_MAX_CAPLEN, "full snaplen");
	CHECK_EQ_U64(request_sample_rate(&r, 100), 1, "full sample rate");
	r.snaplen = 96;
	r.sample_rate = 7;
	CHECK_EQ_U64(request_snaplen(&r), 96, "explicit snaplen");
	CHECK_EQ_U64(request_sample_rate(&r, 100), 7, "explicit sample rate");
	r.type = CAPTURE_SIMPLE;
	CHECK_EQ_U64(request_snaplen(&r), 96, "explicit snaplen, simple");
	CHECK_EQ_U64(request_sample_rate(&r, 100), 7, "explicit sample rate, simple");
}

static void test_capture_type_name(void)
{
	CHECK(!strcmp(capture_type_name(CAPTURE_SIMPLE), "simple"), "simple");
	CHECK(!strcmp(capture_type_name(CAPTURE_FULL), "full"), "full");
	CHECK(!strcmp(capture_type_name((enum capture_type)5), "unknown"), "unknown");
}

int main(void)
{
	RUN(test_seed_simple_example_is_valid);
	RUN(test_seed_full_example_is_valid);
	RUN(test_full_example_with_gs_bucket_is_accepted);
	RUN(test_filter_may_be_empty_or_absent);
	RUN(test_time_limit_range);
	RUN(test_packet_limit_range);
	RUN(test_byte_limit_range);
	RUN(test_byte_limit_is_for_full_captures_in_the_api);
	RUN(test_type_rules);
	RUN(test_system_rules);
	RUN(test_port_ranges);
	RUN(test_protocol_range);
	RUN(test_sample_rate_and_snaplen_ranges);
	RUN(test_numbers_must_be_json_integers);
	RUN(test_integers_too_big_for_json_are_syntax_errors);
	RUN(test_malformed_json_names_the_position);
	RUN(test_request_must_be_an_object);
	RUN(test_unknown_fields_are_errors);
	RUN(test_colo_and_colo_name);
	RUN(test_full_capture_needs_colo_and_destination_in_the_api);
	RUN(test_colo_and_destination_only_for_full);
	RUN(test_destination_conf_forms);
	RUN(test_local_request_binds_ranges_but_not_colo);
	RUN(test_local_flags_take_any_positive_limit);
	RUN(test_local_flags_still_bind_other_ranges);
	RUN(test_validate_a_hand_built_request);
	RUN(test_first_bad_field_wins);
	RUN(test_message_format_is_field_rule_value);
	RUN(test_long_values_are_cut_in_messages);
	RUN(test_err_may_be_null_or_short);
	RUN(test_output_is_untouched_on_error);
	RUN(test_filter_from_json_directly);
	RUN(test_filter_addresses);
	RUN(test_prefix_parse_ipv4);
	RUN(test_prefix_parse_ipv6);
	RUN(test_prefix_format);
	RUN(test_to_json_uses_the_api_names);
	RUN(test_round_trip);
	RUN(test_defaults);
	RUN(test_capture_type_name);
	return TEST_SUMMARY();
}
