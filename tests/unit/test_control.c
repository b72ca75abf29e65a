// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_control.c: the control-plane JSON codec (common/control.h) against docs/protocol.md:
 * round trips of every message type, the version rule, strict members and types, capture id
 * format, bounds, a start's request checked by the request model, and what the encoder refuses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "testing.h"

static const char capture_hex[] = "0123456789abcdef0123456789abcdef";

/* The seeds' simple example. */
static const char seed_simple[] =
	"{\"filter_v1\":{\"source_address\":\"1.2.3.4\",\"source_port\":123,"
	"\"destination_address\":\"5.6.7.8\",\"destination_port\":80,\"protocol\":6},"
	"\"time_limit\":300,\"packet_limit\":10000,\"type\":\"simple\",\"system\":\"magic-"
	"transit\"}";

static struct ctl_msg in, out;
static char err[256];

static int decode_text(const char *text)
{
	err[0] = '\0';
	return ctl_decode(text, strlen(text), &out, err, sizeof(err));
}

/* Encodes in, decodes into out. */
static int round_trip(void)
{
	char *text = NULL;
	size_t len;
	int ret;

	ret = ctl_encode(&in, &text, &len, err, sizeof(err));
	if (ret)
		return ret;
	ret = ctl_decode(text, len, &out, err, sizeof(err));
	free(text);
	return ret;
}

static void reply_init(enum ctl_type type)
{
	ctl_msg_init(&in, type, 42);
	strcpy(in.host_id, "edge-ord-01");
	strcpy(in.colo, "ORD");
	strcpy(in.agent_version, "0.1.0 (abc123)");
}

static void test_start_round_trip(void)
{
	char *a, *b;
	json_t *ja, *jb;
	int ret;

	ctl_msg_init(&in, CTL_START, 7);
	strcpy(in.capture_id, capture_hex);
	ret = request_from_json(seed_simple, strlen(seed_simple), REQ_SCOPE_API, &in.request, err,
				sizeof(err));
	CHECK(ret == 0, "seed request refused: %s", err);
	ret = round_trip();
	CHECK(ret == 0, "round trip failed: %d %s", ret, err);
	CHECK(out.type == CTL_START, "type %d", out.type);
	CHECK_EQ_U64(out.id, 7, "id");
	CHECK(out.major == 1 && out.minor == 2, "version %u.%u", out.major, out.minor);
	CHECK(!strcmp(out.capture_id, capture_hex), "capture id %s", out.capture_id);
	ja = request_to_json(&in.request);
	jb = request_to_json(&out.request);
	a = json_dumps(ja, JSON_COMPACT | JSON_SORT_KEYS);
	b = json_dumps(jb, JSON_COMPACT | JSON_SORT_KEYS);
	ret = strcmp(a, b);
	json_decref(ja);
	json_decref(jb);
	free(a);
	free(b);
	CHECK(ret == 0, "request changed in transit");
	CHECK_EQ_U64(out.request.packet_limit, 10000, "packet_limit");
	CHECK_EQ_U64(out.request.filter.dst_port, 80, "destination_port");
}

/* A late join's start names the hosts it is for (issue 11, agent churn). */
static void test_start_hosts(void)
{
	static const char pre[] =
		"{\"version\":[1,1],\"type\":\"start\",\"id\":3,"
		"\"capture_id\":\"0123456789abcdef0123456789abcdef\","
		"\"request\":{\"filter_v1\":{},\"time_limit\":30,"
		"\"packet_limit\":10,\"type\":\"simple\",\"system\":\"magic-transit\"},";
	char text[8192];
	size_t len;
	int ret, i;

	ctl_msg_init(&in, CTL_START, 7);
	strcpy(in.capture_id, capture_hex);
	ret = request_from_json(seed_simple, strlen(seed_simple), REQ_SCOPE_API, &in.request, err,
				sizeof(err));
	CHECK(ret == 0, "seed request refused: %s", err);
	CHECK(round_trip() == 0 && out.n_hosts == 0, "no hosts: %s", err);
	in.n_hosts = 2;
	strcpy(in.hosts[0], "edge-ord-01");
	strcpy(in.hosts[1], "edge-ord-02");
	CHECK(round_trip() == 0, "round trip: %s", err);
	CHECK(out.n_hosts == 2 && !strcmp(out.hosts[0], "edge-ord-01") &&
		      !strcmp(out.hosts[1], "edge-ord-02"),
	      "hosts changed (%u)", out.n_hosts);
	strcpy(in.hosts[1], "bad host");
	CHECK(round_trip() == -EINVAL, "encoded a bad host id");

	snprintf(text, sizeof(text), "%s\"hosts\":[]}", pre);
	CHECK(decode_text(text) == -EINVAL, "empty hosts");
	snprintf(text, sizeof(text), "%s\"hosts\":[\"a\",\"a\"]}", pre);
	CHECK(decode_text(text) == -EINVAL, "a host twice");
	CHECK_STR_CONTAINS(err, "twice");
	snprintf(text, sizeof(text), "%s\"hosts\":[\"a\",7]}", pre);
	CHECK(decode_text(text) == -EINVAL, "a number");
	snprintf(text, sizeof(text), "%s\"hosts\":\"a\"}", pre);
	CHECK(decode_text(text) == -EINVAL, "a string");
	len = (size_t)snprintf(text, sizeof(text), "%s\"hosts\":[", pre);
	for (i = 0; i <= CTL_MAX_HOSTS; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\"h%d\"", i ? "," : "",
					i);
	snprintf(text + len, sizeof(text) - len, "]}");
	CHECK(decode_text(text) == -EINVAL, "more than CTL_MAX_HOSTS");
	snprintf(text, sizeof(text), "%s\"hosts\":[\"a\",\"b\"]}", pre);
	CHECK(decode_text(text) == 0 && out.n_hosts == 2, "two hosts: %s", err);
}

static void test_stop_and_status_round_trip(void)
{
	ctl_msg_init(&in, CTL_STOP, 8);
	strcpy(in.capture_id, capture_hex);
	CHECK(round_trip() == 0, "stop: %s", err);
	CHECK(out.type == CTL_STOP && !strcmp(out.capture_id, capture_hex), "stop changed");
	ctl_msg_init(&in, CTL_STATUS, 9);
	CHECK(round_trip() == 0, "status: %s", err);
	CHECK(out.type == CTL_STATUS && out.id == 9, "status changed");
	CHECK(ctl_type_is_survey(CTL_STATUS) && !ctl_type_is_survey(CTL_STATUS_REPLY),
	      "survey/reply split");
}

static void test_start_reply_round_trip(void)
{
	reply_init(CTL_START_REPLY);
	strcpy(in.capture_id, capture_hex);
	in.accepted = false;
	strcpy(in.reason, "full capture for colo SJC, this agent is in ORD");
	CHECK(round_trip() == 0, "start_reply: %s", err);
	CHECK(out.type == CTL_START_REPLY, "type %d", out.type);
	CHECK_EQ_U64(out.id, 42, "echoed id");
	CHECK(!strcmp(out.host_id, "edge-ord-01"), "host_id %s", out.host_id);
	CHECK(!strcmp(out.colo, "ORD"), "colo %s", out.colo);
	CHECK(!strcmp(out.agent_version, "0.1.0 (abc123)"), "agent_version %s", out.agent_version);
	CHECK(!out.accepted, "accepted");
	CHECK(!strcmp(out.reason, in.reason), "reason %s", out.reason);

	reply_init(CTL_STOP_REPLY);
	strcpy(in.capture_id, capture_hex);
	in.accepted = true;
	in.colo[0] = '\0';
	CHECK(round_trip() == 0, "stop_reply: %s", err);
	CHECK(out.type == CTL_STOP_REPLY && out.accepted && !out.reason[0] && !out.colo[0],
	      "stop_reply changed");
}

static void test_status_reply_round_trip(void)
{
	uint32_t i;

	reply_init(CTL_STATUS_REPLY);
	in.n_captures = CTL_MAX_CAPTURES;
	for (i = 0; i < in.n_captures; i++) {
		struct ctl_capture_status *cs = &in.captures[i];

		snprintf(cs->capture_id, sizeof(cs->capture_id), "%032x", i);
		cs->start_ns = 1700000000000000000ull + i;
		cs->c = (struct wire_counters){ .seen = 1000 + i,
						.matched = 500,
						.sampled_out = 1,
						.budget_exhausted = 2,
						.ring_full = 3,
						.submitted = 494,
						.bytes = 79040,
						.packets_sent = 490,
						.bytes_sent = 78400,
						.batches_sent = 5,
						.records_dropped = 4,
						.batches_dropped = 1,
						.last_seq = 6 };
	}
	in.queue = (struct ctl_queue_stats){
		.queued_msgs = 1, .queued_bytes = 2, .dropped_msgs = 3, .dropped_bytes = INT64_MAX
	};
	CHECK(round_trip() == 0, "status_reply: %s", err);
	CHECK_EQ_U64(out.n_captures, CTL_MAX_CAPTURES, "captures");
	for (i = 0; i < in.n_captures; i++) {
		CHECK(!strcmp(out.captures[i].capture_id, in.captures[i].capture_id),
		      "capture %u id", i);
		CHECK_EQ_U64(out.captures[i].start_ns, in.captures[i].start_ns, "start_ns");
		CHECK(!memcmp(&out.captures[i].c, &in.captures[i].c, sizeof(in.captures[i].c)),
		      "capture %u counters differ", i);
	}
	CHECK(!memcmp(&out.queue, &in.queue, sizeof(in.queue)), "queue differs");
}

static void test_error_reply_round_trip(void)
{
	reply_init(CTL_ERROR);
	strcpy(in.reason, "unsupported protocol version 2.0 (this side speaks 1.x)");
	CHECK(round_trip() == 0, "error: %s", err);
	CHECK(out.type == CTL_ERROR && !strcmp(out.reason, in.reason), "error changed");
}

static void test_wire_form_is_as_documented(void)
{
	char *text = NULL;
	size_t len;

	ctl_msg_init(&in, CTL_STOP, 5);
	strcpy(in.capture_id, capture_hex);
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == 0, "encode: %s", err);
	CHECK(!strcmp(text, "{\"version\":[1,2],\"type\":\"stop\",\"id\":5,"
			    "\"capture_id\":\"0123456789abcdef0123456789abcdef\"}"),
	      "stop encoded as %s", text);
	CHECK(len == strlen(text), "length %zu", len);
	free(text);
}

static void test_other_major_version_is_refused(void)
{
	int ret;

	ret = decode_text("{\"version\":[2,0],\"type\":\"status\",\"id\":1}");
	CHECK(ret == -EPROTONOSUPPORT, "major 2 gave %d", ret);
	CHECK_STR_CONTAINS(err, "unsupported protocol version 2.0");
	/* Judged before anything else: a v2 message may look entirely different. */
	ret = decode_text("{\"version\":[2,3],\"kind\":\"whatever\"}");
	CHECK(ret == -EPROTONOSUPPORT, "major 2 with other members gave %d", ret);
	ret = decode_text("{\"version\":[0,9],\"type\":\"status\",\"id\":1}");
	CHECK(ret == -EPROTONOSUPPORT, "major 0 gave %d", ret);
}

static void test_version_must_be_well_formed(void)
{
	static const char *const bad[] = {
		"{\"type\":\"status\",\"id\":1}",
		"{\"version\":1,\"type\":\"status\",\"id\":1}",
		"{\"version\":\"1.0\",\"type\":\"status\",\"id\":1}",
		"{\"version\":[1],\"type\":\"status\",\"id\":1}",
		"{\"version\":[1,0,0],\"type\":\"status\",\"id\":1}",
		"{\"version\":[1,-1],\"type\":\"status\",\"id\":1}",
		"{\"version\":[1.0,0],\"type\":\"status\",\"id\":1}",
		"{\"version\":[1,65536],\"type\":\"status\",\"id\":1}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = decode_text(bad[i]);

		CHECK(ret == -EINVAL, "%s gave %d", bad[i], ret);
		CHECK_STR_CONTAINS(err, "version");
	}
}

static void test_unknown_members_and_later_minor(void)
{
	int ret;

	ret = decode_text("{\"version\":[1,0],\"type\":\"status\",\"id\":1,\"extra\":true}");
	CHECK(ret == -EINVAL, "unknown member in 1.0 gave %d", ret);
	CHECK_STR_CONTAINS(err, "unknown member \"extra\"");
	ret = decode_text("{\"version\":[1,1],\"type\":\"status\",\"id\":1,\"extra\":true}");
	CHECK(ret == -EINVAL, "unknown member in 1.1 gave %d", ret);
	ret = decode_text("{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"extra\":true}");
	CHECK(ret == -EINVAL, "unknown member in 1.2 gave %d", ret);
	/* A later minor version may add members; this side skips them. */
	ret = decode_text("{\"version\":[1,3],\"type\":\"status\",\"id\":1,\"extra\":true}");
	CHECK(ret == 0, "member added by 1.3 refused: %s", err);
	CHECK(out.minor == 3, "minor %u", out.minor);
	ret = decode_text("{\"version\":[1,0],\"type\":\"status_reply\",\"id\":1,"
			  "\"host_id\":\"h\",\"colo\":\"\",\"agent_version\":\"1\","
			  "\"captures\":[],\"queue\":{\"queued_msgs\":0,\"queued_bytes\":0,"
			  "\"dropped_msgs\":0,\"dropped_bytes\":0,\"x\":1}}");
	CHECK(ret == -EINVAL, "unknown nested member gave %d", ret);
	CHECK_STR_CONTAINS(err, "queue: unknown member");
}

static void test_nonce_and_proof_round_trip(void)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	size_t i;
	int ret;

	ctl_msg_init(&in, CTL_STATUS, 9);
	in.has_nonce = true;
	for (i = 0; i < ID_NONCE_LEN; i++)
		in.nonce[i] = (uint8_t)(i * 7);
	ret = round_trip();
	CHECK(ret == 0, "survey with a nonce: %s", err);
	CHECK(out.has_nonce && !memcmp(out.nonce, in.nonce, ID_NONCE_LEN), "nonce differs");

	ctl_msg_init(&in, CTL_STATUS_REPLY, 9);
	strcpy(in.host_id, "edge-1");
	strcpy(in.agent_version, "0.1.0");
	in.has_proof = true;
	strcpy(in.cert, pem);
	for (i = 0; i < ID_KEY_LEN; i++)
		in.session_key[i] = (uint8_t)(255 - i);
	in.signature_len = 71;
	for (i = 0; i < in.signature_len; i++)
		in.signature[i] = (uint8_t)i;
	ret = round_trip();
	CHECK(ret == 0, "reply with a proof: %s", err);
	CHECK(out.has_proof, "proof lost");
	CHECK(!strcmp(out.cert, pem), "cert %s", out.cert);
	CHECK(!memcmp(out.session_key, in.session_key, ID_KEY_LEN), "session key differs");
	CHECK(out.signature_len == 71 && !memcmp(out.signature, in.signature, 71),
	      "signature differs (%zu bytes)", out.signature_len);
}

/* 1.2: a survey names the batch codecs its aggregator takes. */
static void test_codecs_round_trip(void)
{
	enum ctl_type t;
	int ret;

	for (t = CTL_START; t <= CTL_STATUS; t++) {
		ctl_msg_init(&in, t, 9);
		strcpy(in.capture_id, capture_hex);
		if (t == CTL_START)
			CHECK(request_from_json(seed_simple, strlen(seed_simple), REQ_SCOPE_API,
						&in.request, err, sizeof(err)) == 0,
			      "seed request refused: %s", err);
		in.has_codecs = true;
		in.codecs = WIRE_CODECS_ALL;
		ret = round_trip();
		CHECK(ret == 0, "%s with codecs: %s", ctl_type_name(t), err);
		CHECK(out.has_codecs && out.codecs == WIRE_CODECS_ALL, "%s: codecs 0x%x",
		      ctl_type_name(t), out.codecs);
	}
	/* Without the member (a 1.1 aggregator): none named, so deflate alone. */
	ret = decode_text("{\"version\":[1,1],\"type\":\"status\",\"id\":1}");
	CHECK(ret == 0 && !out.has_codecs && !out.codecs, "1.1 survey: %d %s", ret, err);
	/* Names this side does not know (a later version's) are skipped, not refused. */
	ret = decode_text("{\"version\":[1,2],\"type\":\"status\",\"id\":1,"
			  "\"codecs\":[\"brotli\",\"lz4\",\"deflate\"]}");
	CHECK(ret == 0, "unknown codec name refused: %s", err);
	CHECK(out.has_codecs && out.codecs == (WIRE_CODEC_BIT(WIRE_CODEC_LZ4) |
					       WIRE_CODEC_BIT(WIRE_CODEC_DEFLATE)),
	      "codecs 0x%x", out.codecs);
	ret = decode_text("{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":[]}");
	CHECK(ret == 0 && out.has_codecs && !out.codecs, "empty codecs: %d %s", ret, err);
	/* The encoder writes the names, in wire.h's order. */
	{
		char *text = NULL;
		size_t len;

		ctl_msg_init(&in, CTL_STATUS, 3);
		in.has_codecs = true;
		in.codecs = WIRE_CODECS_ALL;
		CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == 0, "encode: %s", err);
		CHECK_STR_CONTAINS(text, "\"codecs\":[\"deflate\",\"zstd\",\"lz4\"]");
		free(text);
	}
}

static void test_bad_codecs_are_refused(void)
{
	static const char *const bad[] = {
		"{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":\"zstd\"}",
		"{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":[1]}",
		"{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":[\"\"]}",
		"{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":[\"z std\"]}",
		"{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":"
		"[\"a234567890123456789012345678901234\"]}",
		"{\"version\":[1,2],\"type\":\"status\",\"id\":1,\"codecs\":[\"a\",\"a\",\"a\","
		"\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
		"\"a\"]}",
		/* codecs is a survey's member, not a reply's */
		"{\"version\":[1,2],\"type\":\"error\",\"id\":1,\"host_id\":\"h\",\"colo\":\"\","
		"\"agent_version\":\"1\",\"reason\":\"x\",\"codecs\":[]}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = decode_text(bad[i]);

		CHECK(ret == -EINVAL, "%s gave %d", bad[i], ret);
		CHECK_STR_CONTAINS(err, "codecs");
	}
}

static void test_bad_nonce_and_proof_are_refused(void)
{
	const char *bad[] = {
		/* a nonce that is not 64 lowercase hex digits */
		"{\"version\":[1,1],\"type\":\"status\",\"id\":1,\"nonce\":\"00\"}",
		"{\"version\":[1,1],\"type\":\"status\",\"id\":1,\"nonce\":\"0000000000000000"
		"00000000000000000000000000000000000000000000000G\"}",
		"{\"version\":[1,1],\"type\":\"status\",\"id\":1,\"nonce\":7}",
		/* a proof without all three parts, or with a bad one */
		"{\"version\":[1,1],\"type\":\"error\",\"id\":1,\"host_id\":\"h\",\"colo\":\"\","
		"\"agent_version\":\"1\",\"reason\":\"x\",\"cert\":\"-----BEGIN X\"}",
		"{\"version\":[1,1],\"type\":\"error\",\"id\":1,\"host_id\":\"h\",\"colo\":\"\","
		"\"agent_version\":\"1\",\"reason\":\"x\",\"cert\":\"MIIB\",\"session_key\":\"00"
		"00000000000000000000000000000000000000000000000000000000000000\",\"signature\":"
		"\"00\"}",
		"{\"version\":[1,1],\"type\":\"error\",\"id\":1,\"host_id\":\"h\",\"colo\":\"\","
		"\"agent_version\":\"1\",\"reason\":\"x\",\"cert\":\"-----BEGIN X\",\"session_key"
		"\":\"00\",\"signature\":\"00\"}",
		"{\"version\":[1,1],\"type\":\"error\",\"id\":1,\"host_id\":\"h\",\"colo\":\"\","
		"\"agent_version\":\"1\",\"reason\":\"x\",\"cert\":\"-----BEGIN X\",\"session_key"
		"\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"signature\":\"\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(decode_text(bad[i]) == -EINVAL, "case %zu accepted: %s", i, bad[i]);
}

static void test_unknown_type_is_refused(void)
{
	int ret;

	ret = decode_text("{\"version\":[1,0],\"type\":\"reboot\",\"id\":1}");
	CHECK(ret == -EOPNOTSUPP, "type reboot gave %d", ret);
	CHECK_STR_CONTAINS(err, "unknown message type \"reboot\"");
	ret = decode_text("{\"version\":[1,0],\"type\":3,\"id\":1}");
	CHECK(ret == -EINVAL, "numeric type gave %d", ret);
	ret = decode_text("{\"version\":[1,0],\"id\":1}");
	CHECK(ret == -EINVAL, "missing type gave %d", ret);
}

static void test_not_a_json_object(void)
{
	static const char duplicate[] =
		"{\"version\":[1,0],\"version\":[1,0],\"type\":\"status\",\"id\":1}";
	static const char *const bad[] = {
		"", "[]", "\"start\"", "{", "{\"version\":[1,0]}}", "nul", duplicate,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(decode_text(bad[i]) == -EINVAL, "\"%s\" accepted", bad[i]);
	CHECK(ctl_decode(NULL, 0, &out, err, sizeof(err)) == -EINVAL, "NULL accepted");
	/* A NUL inside the text ends nothing: the whole length is parsed. */
	CHECK(ctl_decode("{\"version\":[1,0],\"type\":\"status\",\"id\":1}\0x", 42, &out, err,
			 sizeof(err)) == -EINVAL,
	      "trailing NUL and junk accepted");
}

static void test_oversized_message_is_refused(void)
{
	size_t len = CTL_MSG_MAX + 1;
	char *big = malloc(len);
	int ret;

	CHECK(big, "no memory");
	memset(big, ' ', len);
	ret = ctl_decode(big, len, &out, err, sizeof(err));
	free(big);
	CHECK(ret == -EMSGSIZE, "message over the limit gave %d", ret);
}

static void test_capture_id_format(void)
{
	static const char *const bad[] = {
		"0123456789ABCDEF0123456789abcdef",   "0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcdef0",  "0123456789abcdef0123456789abcdeg",
		"{01234567-89ab-cdef-0123-456789ab}",
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"version\":[1,0],\"type\":\"stop\",\"id\":1,\"capture_id\":\"%s\"}",
			 bad[i]);
		CHECK(decode_text(text) == -EINVAL, "capture id %s accepted", bad[i]);
		CHECK_STR_CONTAINS(err, "capture_id");
	}
	CHECK(decode_text("{\"version\":[1,0],\"type\":\"stop\",\"id\":1,\"capture_id\":5}") ==
		      -EINVAL,
	      "numeric capture id accepted");
	CHECK(decode_text("{\"version\":[1,0],\"type\":\"stop\",\"id\":1}") == -EINVAL,
	      "stop without capture id accepted");
}

static void test_start_request_is_validated(void)
{
	int ret;

	ret = decode_text("{\"version\":[1,0],\"type\":\"start\",\"id\":3,"
			  "\"capture_id\":\"0123456789abcdef0123456789abcdef\","
			  "\"request\":{\"filter_v1\":{},\"time_limit\":301,\"packet_limit\":10,"
			  "\"type\":\"simple\",\"system\":\"magic-transit\"}}");
	CHECK(ret == -EINVAL, "time_limit 301 gave %d", ret);
	CHECK_STR_CONTAINS(err, "request: time_limit");
	CHECK_EQ_U64(out.id, 3, "id kept for an error reply");
	ret = decode_text("{\"version\":[1,0],\"type\":\"start\",\"id\":3,"
			  "\"capture_id\":\"0123456789abcdef0123456789abcdef\","
			  "\"request\":\"{}\"}");
	CHECK(ret == -EINVAL, "request as a string gave %d", ret);
	ret = decode_text("{\"version\":[1,0],\"type\":\"start\",\"id\":3,"
			  "\"capture_id\":\"0123456789abcdef0123456789abcdef\"}");
	CHECK(ret == -EINVAL, "start without request gave %d", ret);
}

static void test_member_types_and_ranges(void)
{
	static const char *const bad[] = {
		/* id */
		"{\"version\":[1,0],\"type\":\"status\",\"id\":-1}",
		"{\"version\":[1,0],\"type\":\"status\",\"id\":1.5}",
		"{\"version\":[1,0],\"type\":\"status\",\"id\":\"1\"}",
		"{\"version\":[1,0],\"type\":\"status\",\"id\":9007199254740992}",
		"{\"version\":[1,0],\"type\":\"status\"}",
		/* accepted must be a boolean, and a refusal must say why */
		"{\"version\":[1,0],\"type\":\"start_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\","
		"\"capture_id\":\"0123456789abcdef0123456789abcdef\",\"accepted\":1}",
		"{\"version\":[1,0],\"type\":\"start_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\","
		"\"capture_id\":\"0123456789abcdef0123456789abcdef\",\"accepted\":false}",
		"{\"version\":[1,0],\"type\":\"start_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\","
		"\"capture_id\":\"0123456789abcdef0123456789abcdef\",\"accepted\":false,"
		"\"reason\":\"\"}",
		/* host_id: no spaces, no control characters, at most 63 */
		"{\"version\":[1,0],\"type\":\"error\",\"id\":1,\"host_id\":\"a b\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"reason\":\"x\"}",
		"{\"version\":[1,0],\"type\":\"error\",\"id\":1,\"host_id\":\"a\\nb\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"reason\":\"x\"}",
		"{\"version\":[1,0],\"type\":\"error\",\"id\":1,\"host_id\":\"\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"reason\":\"x\"}",
		"{\"version\":[1,0],\"type\":\"error\",\"id\":1,"
		"\"host_id\":\"0123456789012345678901234567890123456789012345678901234567890123\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"reason\":\"x\"}",
		"{\"version\":[1,0],\"type\":\"error\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"reason\":\"caf\\u00e9\"}",
		"{\"version\":[1,0],\"type\":\"error\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\"}",
		/* counters: non-negative integers, all present */
		"{\"version\":[1,0],\"type\":\"status_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"captures\":{},\"queue\":{}}",
		"{\"version\":[1,0],\"type\":\"status_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"captures\":[],"
		"\"queue\":{\"queued_msgs\":-1,\"queued_bytes\":0,\"dropped_msgs\":0,"
		"\"dropped_bytes\":0}}",
		"{\"version\":[1,0],\"type\":\"status_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"captures\":[],"
		"\"queue\":{\"queued_msgs\":0,\"queued_bytes\":0,\"dropped_msgs\":0}}",
		"{\"version\":[1,0],\"type\":\"status_reply\",\"id\":1,\"host_id\":\"h\","
		"\"colo\":\"ORD\",\"agent_version\":\"1\",\"captures\":[{\"capture_id\":"
		"\"0123456789abcdef0123456789abcdef\",\"start_ns\":1,\"counters\":{}}],"
		"\"queue\":{\"queued_msgs\":0,\"queued_bytes\":0,\"dropped_msgs\":0,"
		"\"dropped_bytes\":0}}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = decode_text(bad[i]);

		CHECK(ret == -EINVAL, "case %zu gave %d (%s)", i, ret, err);
	}
}

static void test_status_reply_bounds(void)
{
	json_t *root, *caps, *cap;
	char *text;
	int i, ret;

	reply_init(CTL_STATUS_REPLY);
	in.n_captures = 1;
	strcpy(in.captures[0].capture_id, capture_hex);
	CHECK(ctl_encode(&in, &text, &(size_t){ 0 }, err, sizeof(err)) == 0, "encode: %s", err);
	root = json_loads(text, 0, NULL);
	free(text);
	CHECK(root, "encoder output is not JSON");
	caps = json_object_get(root, "captures");
	cap = json_deep_copy(json_array_get(caps, 0));
	/* The same capture twice. */
	json_array_append(caps, cap);
	text = json_dumps(root, JSON_COMPACT);
	ret = decode_text(text);
	free(text);
	CHECK(ret == -EINVAL, "capture listed twice gave %d", ret);
	CHECK_STR_CONTAINS(err, "listed twice");
	/* One more capture than a reply may list. */
	json_array_clear(caps);
	for (i = 0; i <= CTL_MAX_CAPTURES; i++) {
		json_t *c = json_deep_copy(cap);
		char id[40];

		snprintf(id, sizeof(id), "%032x", i);
		json_object_set_new(c, "capture_id", json_string(id));
		json_array_append_new(caps, c);
	}
	text = json_dumps(root, JSON_COMPACT);
	ret = decode_text(text);
	free(text);
	json_decref(root);
	json_decref(cap);
	CHECK(ret == -EINVAL, "%d captures gave %d", CTL_MAX_CAPTURES + 1, ret);
	CHECK_STR_CONTAINS(err, "captures");
}

static void test_encoder_refuses_what_decoder_would(void)
{
	char *text = NULL;
	size_t len;

	reply_init(CTL_START_REPLY);
	strcpy(in.capture_id, capture_hex);
	in.accepted = true;
	strcpy(in.host_id, "has space");
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == -EINVAL, "host id with space");
	CHECK_STR_CONTAINS(err, "host_id");
	strcpy(in.host_id, "h");
	strcpy(in.capture_id, "0123");
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == -EINVAL, "short capture id");
	strcpy(in.capture_id, capture_hex);
	in.accepted = false;
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == -EINVAL, "refusal without reason");
	in.type = 99;
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == -EINVAL, "type 99");

	ctl_msg_init(&in, CTL_START, 1);
	strcpy(in.capture_id, capture_hex);
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == -EINVAL, "empty request");
	CHECK_STR_CONTAINS(err, "request: ");

	reply_init(CTL_STATUS_REPLY);
	in.queue.dropped_bytes = (uint64_t)INT64_MAX + 1;
	CHECK(ctl_encode(&in, &text, &len, err, sizeof(err)) == -ERANGE, "counter over int64");
	CHECK(text == NULL, "output set on failure");
}

static void test_reason_is_made_printable(void)
{
	reply_init(CTL_ERROR);
	snprintf(in.reason, sizeof(in.reason), "bad\tbyte \xc3\xa9");
	CHECK(round_trip() == 0, "error with control characters: %s", err);
	CHECK(!strcmp(out.reason, "bad?byte ??"), "reason %s", out.reason);
}

int main(void)
{
	RUN(test_start_round_trip);
	RUN(test_start_hosts);
	RUN(test_stop_and_status_round_trip);
	RUN(test_start_reply_round_trip);
	RUN(test_status_reply_round_trip);
	RUN(test_error_reply_round_trip);
	RUN(test_wire_form_is_as_documented);
	RUN(test_other_major_version_is_refused);
	RUN(test_version_must_be_well_formed);
	RUN(test_unknown_members_and_later_minor);
	RUN(test_nonce_and_proof_round_trip);
	RUN(test_bad_nonce_and_proof_are_refused);
	RUN(test_unknown_type_is_refused);
	RUN(test_not_a_json_object);
	RUN(test_oversized_message_is_refused);
	RUN(test_capture_id_format);
	RUN(test_start_request_is_validated);
	RUN(test_member_types_and_ranges);
	RUN(test_status_reply_bounds);
	RUN(test_encoder_refuses_what_decoder_would);
	RUN(test_reason_is_made_printable);
	RUN(test_codecs_round_trip);
	RUN(test_bad_codecs_are_refused);
	return TEST_SUMMARY();
}
