// SPDX-License-Identifier: BSD-2-Clause
/*
 * control.c: the control-plane JSON codec (control.h, docs/protocol.md). jansson does all JSON
 * reading and writing; this file only says which members a message has and what they hold.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "decode.h"

static const char *const type_names[] = {
	[CTL_START] = "start",		 [CTL_STOP] = "stop",
	[CTL_STATUS] = "status",	 [CTL_START_REPLY] = "start_reply",
	[CTL_STOP_REPLY] = "stop_reply", [CTL_STATUS_REPLY] = "status_reply",
	[CTL_ERROR] = "error",
};

/* The counters of struct wire_counters by their JSON names, in the order they are written. */
static const struct {
	const char *name;
	size_t off;
} counter_fields[] = {
#define COUNTER_FIELD(name, help) { #name, offsetof(struct wire_counters, name) },
	EC_CAPTURE_COUNTERS(COUNTER_FIELD)
#undef COUNTER_FIELD
};
#define N_COUNTERS (sizeof(counter_fields) / sizeof(counter_fields[0]))

static const struct {
	const char *name;
	size_t off;
} queue_fields[] = {
	{ "queued_msgs", offsetof(struct ctl_queue_stats, queued_msgs) },
	{ "queued_bytes", offsetof(struct ctl_queue_stats, queued_bytes) },
	{ "dropped_msgs", offsetof(struct ctl_queue_stats, dropped_msgs) },
	{ "dropped_bytes", offsetof(struct ctl_queue_stats, dropped_bytes) },
};
#define N_QUEUE (sizeof(queue_fields) / sizeof(queue_fields[0]))

/* The members of each message type; version, type and id are in every one. */
#define COMMON "version", "type", "id"
#define SURVEY "nonce", "codecs"
#define REPLY  "host_id", "colo", "agent_version", "cert", "session_key", "signature"
static const char *const start_members[] = { COMMON, SURVEY, "capture_id", "request", "hosts" };
static const char *const stop_members[] = { COMMON, SURVEY, "capture_id" };
static const char *const status_members[] = { COMMON, SURVEY };
static const char *const start_stop_reply_members[] = { COMMON, REPLY, "capture_id", "accepted",
							"reason" };
static const char *const status_reply_members[] = { COMMON, REPLY, "captures", "queue" };
static const char *const error_members[] = { COMMON, REPLY, "reason" };
static const char *const capture_members[] = { "capture_id", "start_ns", "counters" };
#define MEMBERS(a) a, sizeof(a) / sizeof(a[0])

/* A decode failure's reason: decode.h's one writer, under this file's short name. */
#define seterr(...) decode_fail(__VA_ARGS__)

void ctl_msg_init(struct ctl_msg *m, enum ctl_type type, uint64_t id)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->major = CTL_VERSION_MAJOR;
	m->minor = CTL_VERSION_MINOR;
	m->id = id;
}

static bool type_known(unsigned int type)
{
	return type >= CTL_START && type <= CTL_ERROR;
}

const char *ctl_type_name(enum ctl_type type)
{
	return type_known(type) ? type_names[type] : "unknown";
}

bool ctl_type_is_survey(enum ctl_type type)
{
	return type == CTL_START || type == CTL_STOP || type == CTL_STATUS;
}

/* Names and versions: printable ASCII; space allowed only where a person reads the value. */
static bool text_valid(const char *s, size_t len, size_t min, size_t max, bool spaces)
{
	size_t i;

	if (len < min || len > max)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c >= 0x7f || (c == ' ' && !spaces))
			return false;
	}
	return true;
}

static bool colo_valid(const char *s, size_t len)
{
	return text_valid(s, len, 0, CTL_NAME_MAX, false);
}

static bool version_text_valid(const char *s, size_t len)
{
	return text_valid(s, len, 1, CTL_NAME_MAX, true);
}

static bool capture_id_valid(const char *s)
{
	uint8_t id[WIRE_CAPTURE_ID_LEN];

	return !wire_capture_id_parse(s, id);
}

/* ---- decoding ---- */

/* What a decode needs to report errors and to know whether unknown members may be skipped. */
struct dec {
	bool lenient; /* the message is from a later minor version */
	char *err;
	size_t errlen;
};

/* Unknown members are errors, except in a message from a later minor version of this major. */
static int check_members(struct dec *d, const json_t *obj, const char *where,
			 const char *const *names, size_t n)
{
	const char *key;
	json_t *v;

	if (d->lenient)
		return 0;
	json_object_foreach ((json_t *)obj, key, v) {
		if (!decode_name_in(key, names, n))
			return seterr(-EINVAL, d->err, d->errlen, "%s%sunknown member \"%.64s\"",
				      where, *where ? ": " : "", key);
	}
	return 0;
}

static int get_uint(struct dec *d, const json_t *obj, const char *where, const char *key,
		    uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!v)
		return seterr(-EINVAL, d->err, d->errlen, "%s%s: missing", where, key);
	if (!json_is_integer(v))
		return seterr(-EINVAL, d->err, d->errlen, "%s%s: must be an integer", where, key);
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		return seterr(-EINVAL, d->err, d->errlen, "%s%s: must be from 0 to %llu (got %lld)",
			      where, key, (unsigned long long)max, (long long)i);
	*out = (uint64_t)i;
	return 0;
}

/* A string member that passes valid() into out (size bytes). Absent is an error if required. */
static int get_text(struct dec *d, const json_t *obj, const char *where, const char *key,
		    bool required, bool (*valid)(const char *, size_t), const char *rule, char *out,
		    size_t size)
{
	json_t *v = json_object_get(obj, key);
	size_t len;

	if (!v) {
		if (required)
			return seterr(-EINVAL, d->err, d->errlen, "%s%s: missing", where, key);
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return seterr(-EINVAL, d->err, d->errlen, "%s%s: must be a string", where, key);
	len = json_string_length(v);
	/* jansson refuses NUL inside strings, so len is the C string's length too. */
	if (len >= size || !valid(json_string_value(v), len))
		return seterr(-EINVAL, d->err, d->errlen, "%s%s: must be %s", where, key, rule);
	memcpy(out, json_string_value(v), len);
	out[len] = '\0';
	return 0;
}

static bool host_id_valid(const char *s, size_t len)
{
	return wire_agent_id_valid(s, len);
}

static bool reason_valid(const char *s, size_t len)
{
	return text_valid(s, len, 0, CTL_REASON_MAX, true);
}

static bool capture_id_text_valid(const char *s, size_t len)
{
	return len == 2 * WIRE_CAPTURE_ID_LEN && capture_id_valid(s);
}

static int get_capture_id(struct dec *d, const json_t *obj, const char *where,
			  char out[WIRE_CAPTURE_ID_HEX_LEN])
{
	return get_text(d, obj, where, "capture_id", true, capture_id_text_valid,
			"32 lowercase hex digits", out, WIRE_CAPTURE_ID_HEX_LEN);
}

static int get_version(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	json_t *v = json_object_get(root, "version");
	json_t *maj, *min;

	if (!v)
		return seterr(-EINVAL, d->err, d->errlen, "version: missing");
	maj = json_array_get(v, 0);
	min = json_array_get(v, 1);
	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(maj) ||
	    !json_is_integer(min) || json_integer_value(maj) < 0 ||
	    json_integer_value(maj) > UINT16_MAX || json_integer_value(min) < 0 ||
	    json_integer_value(min) > UINT16_MAX)
		return seterr(-EINVAL, d->err, d->errlen,
			      "version: must be [major, minor], integers from 0 to 65535");
	m->major = (uint16_t)json_integer_value(maj);
	m->minor = (uint16_t)json_integer_value(min);
	if (m->major != CTL_VERSION_MAJOR)
		return seterr(-EPROTONOSUPPORT, d->err, d->errlen,
			      "unsupported protocol version %u.%u (this side speaks %d.x)",
			      m->major, m->minor, CTL_VERSION_MAJOR);
	d->lenient = m->minor > CTL_VERSION_MINOR;
	return 0;
}

static int get_type(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	json_t *v = json_object_get(root, "type");
	unsigned int t;

	if (!v)
		return seterr(-EINVAL, d->err, d->errlen, "type: missing");
	if (!json_is_string(v))
		return seterr(-EINVAL, d->err, d->errlen, "type: must be a string");
	for (t = CTL_START; t <= CTL_ERROR; t++) {
		if (!strcmp(json_string_value(v), type_names[t])) {
			m->type = t;
			return 0;
		}
	}
	return seterr(-EOPNOTSUPP, d->err, d->errlen, "unknown message type \"%.64s\"",
		      json_string_value(v));
}

/* The request through the one parser every entry point uses, with the API's rules. */
static int get_request(struct dec *d, const json_t *root, struct capture_request *out)
{
	json_t *v = json_object_get(root, "request");
	char rerr[256] = "";
	char *text;
	int ret;

	if (!v)
		return seterr(-EINVAL, d->err, d->errlen, "request: missing");
	if (!json_is_object(v))
		return seterr(-EINVAL, d->err, d->errlen, "request: must be an object");
	text = json_dumps(v, JSON_COMPACT);
	if (!text)
		return seterr(-ENOMEM, d->err, d->errlen, "request: no memory");
	ret = request_from_json(text, strlen(text), REQ_SCOPE_API, out, rerr, sizeof(rerr));
	free(text);
	if (ret)
		return seterr(ret == -ENOMEM ? -ENOMEM : -EINVAL, d->err, d->errlen, "request: %s",
			      rerr);
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A lowercase hex string member of min..max bytes into out; *n its length in bytes. Absent:
 * *n = 0.
 */
static int get_hex(struct dec *d, const json_t *root, const char *key, size_t min, size_t max,
		   uint8_t *out, size_t *n)
{
	json_t *v = json_object_get(root, key);
	const char *s;
	size_t len, i;

	*n = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return seterr(-EINVAL, d->err, d->errlen, "%s: must be a string", key);
	s = json_string_value(v);
	len = json_string_length(v);
	if (len % 2 || len / 2 < min || len / 2 > max)
		goto bad;
	for (i = 0; i < len / 2; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
bad:
	if (min == max)
		return seterr(-EINVAL, d->err, d->errlen, "%s: must be %zu lowercase hex digits",
			      key, 2 * min);
	return seterr(-EINVAL, d->err, d->errlen, "%s: must be %zu to %zu lowercase hex digits",
		      key, 2 * min, 2 * max);
}

/* A survey's nonce (optional: a 1.0 aggregator sends none). */
static int get_nonce(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	size_t n;
	int ret = get_hex(d, root, "nonce", ID_NONCE_LEN, ID_NONCE_LEN, m->nonce, &n);

	m->has_nonce = !ret && n;
	return ret;
}

/* A start's "hosts" (optional): 1 to CTL_MAX_HOSTS distinct host ids. */
static int get_hosts(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	json_t *arr = json_object_get(root, "hosts"), *v;
	size_t i, j, len;

	m->n_hosts = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr) || !json_array_size(arr) || json_array_size(arr) > CTL_MAX_HOSTS)
		return seterr(-EINVAL, d->err, d->errlen,
			      "hosts: must be an array of 1 to %d host ids", CTL_MAX_HOSTS);
	json_array_foreach (arr, i, v) {
		len = json_is_string(v) ? json_string_length(v) : 0;
		if (!len || len > CTL_NAME_MAX || !host_id_valid(json_string_value(v), len))
			return seterr(-EINVAL, d->err, d->errlen, "hosts[%zu]: must be a host id",
				      i);
		memcpy(m->hosts[i], json_string_value(v), len);
		m->hosts[i][len] = '\0';
		for (j = 0; j < i; j++) {
			if (!strcmp(m->hosts[j], m->hosts[i]))
				return seterr(-EINVAL, d->err, d->errlen,
					      "hosts: %s is listed twice", m->hosts[i]);
		}
		m->n_hosts = (uint32_t)i + 1;
	}
	return 0;
}

/*
 * A survey's codecs (optional: a 1.1 aggregator sends none, and takes only deflate): an array of
 * at most CTL_MAX_CODECS names, each 1..CTL_CODEC_NAME_MAX printable ASCII bytes without space.
 * A name this side does not know is one a later version added: skipped, not an error.
 */
static int get_codecs(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	json_t *v = json_object_get(root, "codecs"), *e;
	enum wire_codec c;
	size_t i;

	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > CTL_MAX_CODECS)
		return seterr(-EINVAL, d->err, d->errlen,
			      "codecs: must be an array of at most %d names", CTL_MAX_CODECS);
	json_array_foreach (v, i, e) {
		if (!json_is_string(e) || !text_valid(json_string_value(e), json_string_length(e),
						      1, CTL_CODEC_NAME_MAX, false))
			return seterr(-EINVAL, d->err, d->errlen,
				      "codecs[%zu]: must be a name of 1 to %d printable ASCII "
				      "characters without space",
				      i, CTL_CODEC_NAME_MAX);
		if (!wire_codec_parse(json_string_value(e), &c))
			m->codecs |= WIRE_CODEC_BIT(c);
	}
	m->has_codecs = true;
	return 0;
}

/* A certificate in PEM: printable ASCII and newlines, a "-----BEGIN" first. */
static bool pem_valid(const char *s, size_t len)
{
	size_t i;

	if (len < 10 || strncmp(s, "-----BEGIN", 10))
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] != '\n' && ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e))
			return false;
	}
	return true;
}

/* A reply's proof of identity: cert, session_key and signature, all three or none. */
static int get_proof(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	bool c = json_object_get(root, "cert"), k = json_object_get(root, "session_key"),
	     s = json_object_get(root, "signature");
	size_t n;
	int ret;

	if (!c && !k && !s)
		return 0;
	if (!c || !k || !s)
		return seterr(-EINVAL, d->err, d->errlen,
			      "cert, session_key and signature: must come together");
	ret = get_text(d, root, "", "cert", true, pem_valid,
		       "a PEM certificate of at most 8192 bytes", m->cert, sizeof(m->cert));
	if (!ret)
		ret = get_hex(d, root, "session_key", ID_KEY_LEN, ID_KEY_LEN, m->session_key, &n);
	if (!ret)
		ret = get_hex(d, root, "signature", 1, ID_SIG_MAX, m->signature, &m->signature_len);
	m->has_proof = !ret;
	return ret;
}

static int get_reply_common(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	int ret;

	ret = get_text(d, root, "", "host_id", true, host_id_valid,
		       "1 to 63 printable ASCII characters without spaces", m->host_id,
		       sizeof(m->host_id));
	if (!ret)
		ret = get_text(d, root, "", "colo", true, colo_valid,
			       "up to 63 printable ASCII characters without spaces", m->colo,
			       sizeof(m->colo));
	if (!ret)
		ret = get_text(d, root, "", "agent_version", true, version_text_valid,
			       "1 to 63 printable ASCII characters", m->agent_version,
			       sizeof(m->agent_version));
	if (!ret)
		ret = get_proof(d, root, m);
	return ret;
}

static int get_counters(struct dec *d, const json_t *obj, const char *where,
			struct wire_counters *c)
{
	const char *names[N_COUNTERS];
	size_t i;
	int ret;

	char prefix[64];

	if (!obj)
		return seterr(-EINVAL, d->err, d->errlen, "%s: missing", where);
	if (!json_is_object(obj))
		return seterr(-EINVAL, d->err, d->errlen, "%s: must be an object", where);
	snprintf(prefix, sizeof(prefix), "%s.", where);
	for (i = 0; i < N_COUNTERS; i++)
		names[i] = counter_fields[i].name;
	ret = check_members(d, obj, where, names, N_COUNTERS);
	for (i = 0; !ret && i < N_COUNTERS; i++)
		ret = get_uint(d, obj, prefix, counter_fields[i].name, INT64_MAX,
			       (uint64_t *)((char *)c + counter_fields[i].off));
	return ret;
}

static int get_queue(struct dec *d, const json_t *root, struct ctl_queue_stats *q)
{
	json_t *obj = json_object_get(root, "queue");
	const char *names[N_QUEUE];
	size_t i;
	int ret;

	if (!obj)
		return seterr(-EINVAL, d->err, d->errlen, "queue: missing");
	if (!json_is_object(obj))
		return seterr(-EINVAL, d->err, d->errlen, "queue: must be an object");
	for (i = 0; i < N_QUEUE; i++)
		names[i] = queue_fields[i].name;
	ret = check_members(d, obj, "queue", names, N_QUEUE);
	for (i = 0; !ret && i < N_QUEUE; i++)
		ret = get_uint(d, obj, "queue.", queue_fields[i].name, INT64_MAX,
			       (uint64_t *)((char *)q + queue_fields[i].off));
	return ret;
}

static int get_captures(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	json_t *arr = json_object_get(root, "captures");
	size_t i, j;
	int ret;

	if (!arr)
		return seterr(-EINVAL, d->err, d->errlen, "captures: missing");
	if (!json_is_array(arr))
		return seterr(-EINVAL, d->err, d->errlen, "captures: must be an array");
	if (json_array_size(arr) > CTL_MAX_CAPTURES)
		return seterr(-EINVAL, d->err, d->errlen, "captures: more than %d entries",
			      CTL_MAX_CAPTURES);
	for (i = 0; i < json_array_size(arr); i++) {
		struct ctl_capture_status *cs = &m->captures[i];
		json_t *obj = json_array_get(arr, i);
		char where[32], prefix[sizeof(where) + 1], counters[sizeof(where) + 9];

		snprintf(where, sizeof(where), "captures[%zu]", i);
		snprintf(prefix, sizeof(prefix), "%s.", where);
		snprintf(counters, sizeof(counters), "%s.counters", where);
		if (!json_is_object(obj))
			return seterr(-EINVAL, d->err, d->errlen, "%s: must be an object", where);
		ret = check_members(d, obj, where, MEMBERS(capture_members));
		if (!ret)
			ret = get_capture_id(d, obj, prefix, cs->capture_id);
		for (j = 0; !ret && j < i; j++) {
			if (!strcmp(m->captures[j].capture_id, cs->capture_id))
				ret = seterr(-EINVAL, d->err, d->errlen,
					     "%s: capture %s listed twice", where, cs->capture_id);
		}
		if (!ret)
			ret = get_uint(d, obj, prefix, "start_ns", INT64_MAX, &cs->start_ns);
		if (!ret)
			ret = get_counters(d, json_object_get(obj, "counters"), counters, &cs->c);
		if (ret)
			return ret;
	}
	m->n_captures = (uint32_t)i;
	return 0;
}

static int get_accepted(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	json_t *v = json_object_get(root, "accepted");
	int ret;

	if (!v)
		return seterr(-EINVAL, d->err, d->errlen, "accepted: missing");
	if (!json_is_boolean(v))
		return seterr(-EINVAL, d->err, d->errlen, "accepted: must be true or false");
	m->accepted = json_is_true(v);
	ret = get_text(d, root, "", "reason", !m->accepted, reason_valid,
		       "at most 255 printable ASCII characters", m->reason, sizeof(m->reason));
	if (!ret && !m->accepted && !m->reason[0])
		return seterr(-EINVAL, d->err, d->errlen,
			      "reason: must say why, when not accepted");
	return ret;
}

static int decode_body(struct dec *d, const json_t *root, struct ctl_msg *m)
{
	uint64_t id;
	int ret;

	ret = get_version(d, root, m);
	if (ret)
		return ret;
	ret = get_uint(d, root, "", "id", CTL_ID_MAX, &id);
	if (ret)
		return ret;
	m->id = id;
	ret = get_type(d, root, m);
	if (ret)
		return ret;

	switch (m->type) {
	case CTL_START:
		ret = check_members(d, root, "", MEMBERS(start_members));
		if (!ret)
			ret = get_capture_id(d, root, "", m->capture_id);
		if (!ret)
			ret = get_request(d, root, &m->request);
		if (!ret)
			ret = get_hosts(d, root, m);
		if (!ret)
			ret = get_nonce(d, root, m);
		if (!ret)
			ret = get_codecs(d, root, m);
		break;
	case CTL_STOP:
		ret = check_members(d, root, "", MEMBERS(stop_members));
		if (!ret)
			ret = get_capture_id(d, root, "", m->capture_id);
		if (!ret)
			ret = get_nonce(d, root, m);
		if (!ret)
			ret = get_codecs(d, root, m);
		break;
	case CTL_STATUS:
		ret = check_members(d, root, "", MEMBERS(status_members));
		if (!ret)
			ret = get_nonce(d, root, m);
		if (!ret)
			ret = get_codecs(d, root, m);
		break;
	case CTL_START_REPLY:
	case CTL_STOP_REPLY:
		ret = check_members(d, root, "", MEMBERS(start_stop_reply_members));
		if (!ret)
			ret = get_reply_common(d, root, m);
		if (!ret)
			ret = get_capture_id(d, root, "", m->capture_id);
		if (!ret)
			ret = get_accepted(d, root, m);
		break;
	case CTL_STATUS_REPLY:
		ret = check_members(d, root, "", MEMBERS(status_reply_members));
		if (!ret)
			ret = get_reply_common(d, root, m);
		if (!ret)
			ret = get_captures(d, root, m);
		if (!ret)
			ret = get_queue(d, root, &m->queue);
		break;
	case CTL_ERROR:
		ret = check_members(d, root, "", MEMBERS(error_members));
		if (!ret)
			ret = get_reply_common(d, root, m);
		if (!ret)
			ret = get_text(d, root, "", "reason", true, reason_valid,
				       "at most 255 printable ASCII characters", m->reason,
				       sizeof(m->reason));
		if (!ret && !m->reason[0])
			ret = seterr(-EINVAL, d->err, d->errlen, "reason: must not be empty");
		break;
	}
	return ret;
}

int ctl_decode(const void *buf, size_t len, struct ctl_msg *out, char *err, size_t errlen)
{
	struct dec d = { .err = err, .errlen = errlen };
	json_error_t jerr;
	json_t *root = NULL;
	uint64_t id;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!buf)
		return seterr(-EINVAL, err, errlen, "no message");
	if (len > CTL_MSG_MAX)
		return seterr(-EMSGSIZE, err, errlen,
			      "message of %zu bytes is over the limit of %u", len, CTL_MSG_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		ret = seterr(-EINVAL, err, errlen, "not JSON: %s (byte %d)", jerr.text,
			     jerr.position);
		goto cleanup;
	}
	if (!json_is_object(root)) {
		ret = seterr(-EINVAL, err, errlen, "not a JSON object");
		goto cleanup;
	}
	ret = decode_body(&d, root, out);
cleanup:
	json_decref(root);
	if (ret) {
		/* Keep only the survey id, so that an error reply can name the survey. */
		id = out->id;
		memset(out, 0, sizeof(*out));
		out->id = id;
	}
	return ret;
}

/* ---- encoding ---- */

static int set_new(json_t *obj, const char *key, json_t *v)
{
	/* json_object_set_new takes v even when it fails, and v == NULL means allocation failed. */
	return json_object_set_new(obj, key, v) ? -ENOMEM : 0;
}

/* A start's "hosts": the only hosts it is for. */
static int encode_hosts(json_t *root, const struct ctl_msg *m, char *err, size_t errlen)
{
	json_t *arr = json_array();
	uint32_t i;

	if (m->n_hosts > CTL_MAX_HOSTS)
		return seterr(-EINVAL, err, errlen, "hosts: at most %d", CTL_MAX_HOSTS);
	for (i = 0; arr && i < m->n_hosts; i++) {
		if (!host_id_valid(m->hosts[i], strlen(m->hosts[i]))) {
			json_decref(arr);
			return seterr(-EINVAL, err, errlen, "hosts[%u]: must be a host id", i);
		}
		if (json_array_append_new(arr, json_string(m->hosts[i]))) {
			json_decref(arr);
			return -ENOMEM;
		}
	}
	return set_new(root, "hosts", arr);
}

static int set_uint(json_t *obj, const char *key, uint64_t v, char *err, size_t errlen)
{
	if (v > INT64_MAX)
		return seterr(-ERANGE, err, errlen, "%s: %llu does not fit a JSON integer", key,
			      (unsigned long long)v);
	return set_new(obj, key, json_integer((json_int_t)v));
}

/* A reason as printable ASCII, cut to CTL_REASON_MAX: a reply must go out whatever the text. */
static json_t *reason_json(const char *s)
{
	char buf[CTL_REASON_MAX + 1];
	size_t i, len = strnlen(s, CTL_REASON_MAX);

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	return json_stringn(buf, len);
}

static int text_member(json_t *obj, const char *key, const char *s, size_t size,
		       bool (*valid)(const char *, size_t), const char *rule, char *err,
		       size_t errlen)
{
	size_t len = strnlen(s, size);

	if (len == size || !valid(s, len))
		return seterr(-EINVAL, err, errlen, "%s: must be %s", key, rule);
	return set_new(obj, key, json_stringn(s, len));
}

static json_t *counters_json(const struct wire_counters *c, char *err, size_t errlen, int *ret)
{
	json_t *obj = json_object();
	size_t i;

	*ret = obj ? 0 : -ENOMEM;
	for (i = 0; !*ret && i < N_COUNTERS; i++)
		*ret = set_uint(obj, counter_fields[i].name,
				*(const uint64_t *)((const char *)c + counter_fields[i].off), err,
				errlen);
	if (*ret) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* bytes as a lowercase hex string member. */
static int hex_member(json_t *obj, const char *key, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	size_t i;
	int ret;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		s[2 * i] = digits[b[i] >> 4];
		s[2 * i + 1] = digits[b[i] & 15];
	}
	s[2 * n] = '\0';
	ret = set_new(obj, key, json_string(s));
	free(s);
	return ret;
}

static int encode_proof(json_t *root, const struct ctl_msg *m, char *err, size_t errlen)
{
	size_t len = strnlen(m->cert, sizeof(m->cert));
	int ret;

	if (!m->has_proof)
		return 0;
	if (len == sizeof(m->cert) || !pem_valid(m->cert, len))
		return seterr(-EINVAL, err, errlen,
			      "cert: must be a PEM certificate of at most "
			      "8192 bytes");
	if (!m->signature_len || m->signature_len > ID_SIG_MAX)
		return seterr(-EINVAL, err, errlen, "signature: must be 1 to %d bytes", ID_SIG_MAX);
	ret = set_new(root, "cert", json_stringn(m->cert, len));
	if (!ret)
		ret = hex_member(root, "session_key", m->session_key, ID_KEY_LEN);
	if (!ret)
		ret = hex_member(root, "signature", m->signature, m->signature_len);
	return ret;
}

static int encode_reply_common(json_t *root, const struct ctl_msg *m, char *err, size_t errlen)
{
	int ret;

	ret = text_member(root, "host_id", m->host_id, sizeof(m->host_id), host_id_valid,
			  "1 to 63 printable ASCII characters without spaces", err, errlen);
	if (!ret)
		ret = text_member(root, "colo", m->colo, sizeof(m->colo), colo_valid,
				  "up to 63 printable ASCII characters without spaces", err,
				  errlen);
	if (!ret)
		ret = text_member(root, "agent_version", m->agent_version, sizeof(m->agent_version),
				  version_text_valid, "1 to 63 printable ASCII characters", err,
				  errlen);
	if (!ret)
		ret = encode_proof(root, m, err, errlen);
	return ret;
}

/* obj.capture_id; where names obj in an error ("" for the message itself). */
static int encode_capture_id(json_t *obj, const char *where, const char *id, char *err,
			     size_t errlen)
{
	if (strnlen(id, WIRE_CAPTURE_ID_HEX_LEN) == WIRE_CAPTURE_ID_HEX_LEN ||
	    !capture_id_valid(id))
		return seterr(-EINVAL, err, errlen, "%scapture_id: must be 32 lowercase hex digits",
			      where);
	return set_new(obj, "capture_id", json_string(id));
}

static int encode_captures(json_t *root, const struct ctl_msg *m, char *err, size_t errlen)
{
	json_t *arr, *obj;
	uint32_t i;
	int ret;

	if (m->n_captures > CTL_MAX_CAPTURES)
		return seterr(-EINVAL, err, errlen, "captures: more than %d entries",
			      CTL_MAX_CAPTURES);
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	ret = set_new(root, "captures", arr);
	for (i = 0; !ret && i < m->n_captures; i++) {
		const struct ctl_capture_status *cs = &m->captures[i];

		obj = json_object();
		if (!obj || json_array_append_new(arr, obj))
			return -ENOMEM;
		char where[32];

		snprintf(where, sizeof(where), "captures[%u].", i);
		ret = encode_capture_id(obj, where, cs->capture_id, err, errlen);
		if (!ret)
			ret = set_uint(obj, "start_ns", cs->start_ns, err, errlen);
		if (!ret) {
			json_t *c = counters_json(&cs->c, err, errlen, &ret);

			if (!ret)
				ret = set_new(obj, "counters", c);
		}
	}
	return ret;
}

static int encode_queue(json_t *root, const struct ctl_queue_stats *q, char *err, size_t errlen)
{
	json_t *obj = json_object();
	size_t i;
	int ret;

	ret = set_new(root, "queue", obj);
	for (i = 0; !ret && i < N_QUEUE; i++)
		ret = set_uint(obj, queue_fields[i].name,
			       *(const uint64_t *)((const char *)q + queue_fields[i].off), err,
			       errlen);
	return ret;
}

/* A survey's codecs: the names of the set's codecs, in wire.h's order. */
static int encode_codecs(json_t *root, unsigned int codecs)
{
	json_t *a = json_array();
	unsigned int c;

	for (c = 0; a && c < WIRE_N_CODECS; c++) {
		if ((codecs & WIRE_CODEC_BIT(c)) &&
		    json_array_append_new(a, json_string(wire_codec_name(c)))) {
			json_decref(a);
			a = NULL;
		}
	}
	return set_new(root, "codecs", a);
}

static int encode_body(json_t *root, const struct ctl_msg *m, char *err, size_t errlen)
{
	json_t *v;
	int ret;

	if (!type_known(m->type))
		return seterr(-EINVAL, err, errlen, "type: unknown (%d)", (int)m->type);
	if (m->id > CTL_ID_MAX)
		return seterr(-EINVAL, err, errlen, "id: must be from 0 to %llu",
			      (unsigned long long)CTL_ID_MAX);
	v = json_pack("[ii]", CTL_VERSION_MAJOR, CTL_VERSION_MINOR);
	ret = set_new(root, "version", v);
	if (!ret)
		ret = set_new(root, "type", json_string(type_names[m->type]));
	if (!ret)
		ret = set_uint(root, "id", m->id, err, errlen);
	if (!ret && m->has_nonce && ctl_type_is_survey(m->type))
		ret = hex_member(root, "nonce", m->nonce, ID_NONCE_LEN);
	if (!ret && m->has_codecs && ctl_type_is_survey(m->type))
		ret = encode_codecs(root, m->codecs);
	if (ret)
		return ret;

	switch (m->type) {
	case CTL_START: {
		char rerr[256] = "";

		ret = encode_capture_id(root, "", m->capture_id, err, errlen);
		if (ret)
			return ret;
		/* The agent will refuse what the API would refuse: say so here, not there. */
		ret = request_validate(&m->request, REQ_SCOPE_API, rerr, sizeof(rerr));
		if (ret)
			return seterr(ret, err, errlen, "request: %s", rerr);
		ret = set_new(root, "request", request_to_json(&m->request));
		if (!ret && m->n_hosts)
			ret = encode_hosts(root, m, err, errlen);
		return ret;
	}
	case CTL_STOP:
		return encode_capture_id(root, "", m->capture_id, err, errlen);
	case CTL_STATUS:
		return 0;
	case CTL_START_REPLY:
	case CTL_STOP_REPLY:
		ret = encode_reply_common(root, m, err, errlen);
		if (!ret)
			ret = encode_capture_id(root, "", m->capture_id, err, errlen);
		if (!ret)
			ret = set_new(root, "accepted", json_boolean(m->accepted));
		if (ret)
			return ret;
		if (!m->accepted && !m->reason[0])
			return seterr(-EINVAL, err, errlen,
				      "reason: must say why, when not accepted");
		if (m->reason[0])
			ret = set_new(root, "reason", reason_json(m->reason));
		return ret;
	case CTL_STATUS_REPLY:
		ret = encode_reply_common(root, m, err, errlen);
		if (!ret)
			ret = encode_captures(root, m, err, errlen);
		if (!ret)
			ret = encode_queue(root, &m->queue, err, errlen);
		return ret;
	case CTL_ERROR:
		ret = encode_reply_common(root, m, err, errlen);
		if (ret)
			return ret;
		if (!m->reason[0])
			return seterr(-EINVAL, err, errlen, "reason: must not be empty");
		return set_new(root, "reason", reason_json(m->reason));
	}
	return -EINVAL;
}

int ctl_encode(const struct ctl_msg *m, char **out, size_t *len, char *err, size_t errlen)
{
	json_t *root;
	char *text = NULL;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	root = json_object();
	if (!root)
		return seterr(-ENOMEM, err, errlen, "no memory");
	ret = encode_body(root, m, err, errlen);
	if (ret) {
		if (ret == -ENOMEM)
			seterr(ret, err, errlen, "no memory");
		goto cleanup;
	}
	text = json_dumps(root, JSON_COMPACT);
	if (!text) {
		ret = seterr(-ENOMEM, err, errlen, "no memory");
		goto cleanup;
	}
	if (strlen(text) > CTL_MSG_MAX) {
		ret = seterr(-EMSGSIZE, err, errlen, "message of %zu bytes is over the limit of %u",
			     strlen(text), CTL_MSG_MAX);
		free(text);
		goto cleanup;
	}
	*out = text;
	*len = strlen(text);
cleanup:
	json_decref(root);
	return ret;
}
