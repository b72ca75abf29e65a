// SPDX-License-Identifier: BSD-2-Clause
/*
 * manifest.c: the manifest codec (manifest.h; the schema is docs/manifest.md): a capture's
 * record as JSON, written durably, and parsed back member by member.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "jsonout.h"
#include "manifest.h"
#include "request.h"

json_t *manifest_json(const struct store_capture *c)
{
	const struct capture_rec *r = &c->rec;
	char sub[RFC3339_US_LEN], start[RFC3339_US_LEN], stop[RFC3339_US_LEN], fin[RFC3339_US_LEN];

	rfc3339_us_format(r->submitted_us, sub, sizeof(sub));
	rfc3339_us_format(r->started_us, start, sizeof(start));
	rfc3339_us_format(r->stop_requested_us, stop, sizeof(stop));
	rfc3339_us_format(r->finished_us, fin, sizeof(fin));
	/* "o" steals the request (json_pack frees it on failure too); "O" shares the agents. */
	return json_pack("{s:i, s:s, s:s, s:o, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, "
			 "s:O, s:o*}",
			 "version", MANIFEST_VERSION, "id", r->id, "account_id", r->account,
			 "request", store_request_json(r), "status", capture_status_name(r->status),
			 "submitted", sub, "started", r->started_us ? start : NULL,
			 "stop_requested", r->stop_requested_us ? stop : NULL, "finished",
			 r->finished_us ? fin : NULL, "stop_reason",
			 r->stop_reason[0] ? r->stop_reason : NULL, "error_message",
			 r->error_message[0] ? r->error_message : NULL, "packets",
			 (json_int_t)(r->packets > INT64_MAX ? INT64_MAX : r->packets), "bytes",
			 (json_int_t)(r->bytes > INT64_MAX ? INT64_MAX : r->bytes), "agents",
			 c->agents, "truncated", r->truncated ? json_true() : NULL);
}

/*
 * Writes captures/<id>/manifest.json so that a reader (or a restart) sees the old or the new
 * manifest, never part of one: a temp file beside it, fsync, rename, fsync of the directory.
 */
int manifest_write(struct store *s, const struct store_capture *c, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *what = "write";
	struct jsonout out = { 0 };
	char *text = NULL;
	json_t *m = NULL;
	size_t len = 0;
	int ret;

	ret = store_capture_dir(s, c->rec.id, dir, sizeof(dir));
	if (!ret)
		ret = store_path_join(path, sizeof(path), dir, MANIFEST_NAME, NULL);
	if (ret) {
		snprintf(err, errlen, "failed to write the manifest of capture %s: path too long",
			 c->rec.id);
		return ret;
	}
	m = manifest_json(c);
	/*
	 * As json_dumps(m, JSON_INDENT(2)) writes it, four times faster (jsonout.h): with 10,000
	 * agents this is 7.5 MB at the capture's end. One trailing newline, as a text file has.
	 */
	ret = m ? jsonout_json(&out, m, JSON_INDENT(2)) : -ENOMEM;
	if (!ret) {
		jsonout_put(&out, "\n", 1);
		text = jsonout_take(&out, &len);
		if (!text)
			ret = -ENOMEM;
	}
	jsonout_free(&out);
	if (ret) {
		snprintf(err, errlen, "failed to write %s: %s", path,
			 ret == -ENOMEM ? "out of memory" : "a member is not valid JSON");
		goto out;
	}
	ret = file_write_durably(dir, MANIFEST_NAME, text, len, 0640, &what);
	if (ret)
		snprintf(err, errlen, "failed to %s %s: %s", what, path, strerror(-ret));
out:
	free(text);
	json_decref(m);
	return ret;
}

int manifest_read(const struct store *s, const char *id, json_t **out, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const json_t *mid, *a;
	json_error_t jerr;
	json_t *m;
	int ret;

	*out = NULL;
	ret = store_capture_dir(s, id, dir, sizeof(dir));
	if (!ret)
		ret = store_path_join(path, sizeof(path), dir, MANIFEST_NAME, NULL);
	if (ret) {
		snprintf(err, errlen, "the manifest of capture %s: path too long", id);
		return ret;
	}
	m = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!m) {
		ret = access(path, F_OK) ? -errno : -EINVAL;
		snprintf(err, errlen, "failed to read %s: %s", path,
			 ret == -EINVAL ? jerr.text : strerror(-ret));
		return ret;
	}
	mid = json_object_get(m, "id");
	a = json_object_get(m, "agents");
	/* None is none, as manifest_parse loads it: such a manifest loads, and stays writable. */
	if (!a && json_is_string(mid)) {
		if (json_object_set_new(m, "agents", json_object())) {
			snprintf(err, errlen, "failed to read %s: out of memory", path);
			json_decref(m);
			return -ENOMEM;
		}
		a = json_object_get(m, "agents");
	}
	if (!json_is_string(mid) || strcmp(json_string_value(mid), id) || !json_is_object(a)) {
		snprintf(err, errlen, "failed to read %s: %s", path,
			 json_is_object(a) ? "id: must be the directory's name"
					   : "agents: missing or invalid");
		json_decref(m);
		return -EINVAL;
	}
	*out = m;
	return 0;
}

void manifest_str_copy(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len) {
		n = len - 1;
		/* Back to the first byte of the character the cut falls in (10xxxxxx follow). */
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* Reads a "null or string" manifest member into buf, cut as manifest_str_copy cuts. */
static int get_opt_str(const json_t *m, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(m, key);

	buf[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	manifest_str_copy(buf, len, json_string_value(v));
	return 0;
}

static int get_opt_time(const json_t *m, const char *key, uint64_t *us)
{
	const json_t *v = json_object_get(m, key);

	*us = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	return rfc3339_us_parse(json_string_value(v), us);
}

static int get_opt_count(const json_t *m, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(m, key);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* The manifest's members into c; why names the first bad one. */
int manifest_parse(const json_t *m, const char *id, struct store_capture *c, char *why,
		   size_t whylen)
{
	const json_t *req = json_object_get(m, "request");
	const json_t *agents = json_object_get(m, "agents");
	const char *bad = NULL, *str;
	char rerr[256], status[32];
	char *text = NULL;
	int ret, i;

	if (json_integer_value(json_object_get(m, "version")) != MANIFEST_VERSION) {
		snprintf(why, whylen, "version: must be %d", MANIFEST_VERSION);
		return -EINVAL;
	}
	str = json_string_value(json_object_get(m, "id"));
	if (!str || strcmp(str, id)) {
		snprintf(why, whylen, "id: must be the directory's name, %.32s", id);
		return -EINVAL;
	}
	memcpy(c->rec.id, id, STORE_ID_LEN + 1);
	str = json_string_value(json_object_get(m, "account_id"));
	if (!str || !store_account_valid(str)) {
		snprintf(why, whylen, "account_id: missing or invalid");
		return -EINVAL;
	}
	snprintf(c->rec.account, sizeof(c->rec.account), "%s", str);

	if (!json_is_object(req)) {
		snprintf(why, whylen, "request: must be an object");
		return -EINVAL;
	}
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	ret = request_from_json(text, strlen(text), REQ_SCOPE_API, &c->rec.req, rerr, sizeof(rerr));
	free(text);
	if (ret) {
		snprintf(why, whylen, "request: %s", rerr);
		return -EINVAL;
	}
	c->rec.colo_as_colo = json_object_get(req, "colo") != NULL;

	if (get_opt_str(m, "status", status, sizeof(status)))
		bad = "status";
	c->rec.status = (enum capture_status) - 1;
	for (i = CAPTURE_PENDING; i <= CAPTURE_STATUS_LAST; i++) {
		if (!strcmp(status, capture_status_name((enum capture_status)i)))
			c->rec.status = (enum capture_status)i;
	}
	if ((int)c->rec.status < 0)
		bad = "status";
	if (!bad && (get_opt_time(m, "submitted", &c->rec.submitted_us) || !c->rec.submitted_us))
		bad = "submitted";
	if (!bad && get_opt_time(m, "started", &c->rec.started_us))
		bad = "started";
	if (!bad && get_opt_time(m, "stop_requested", &c->rec.stop_requested_us))
		bad = "stop_requested";
	if (!bad && get_opt_time(m, "finished", &c->rec.finished_us))
		bad = "finished";
	if (!bad && get_opt_str(m, "stop_reason", c->rec.stop_reason, sizeof(c->rec.stop_reason)))
		bad = "stop_reason";
	if (!bad &&
	    get_opt_str(m, "error_message", c->rec.error_message, sizeof(c->rec.error_message)))
		bad = "error_message";
	if (!bad && get_opt_count(m, "packets", &c->rec.packets))
		bad = "packets";
	if (!bad && get_opt_count(m, "bytes", &c->rec.bytes))
		bad = "bytes";
	if (!bad && agents && !json_is_object(agents))
		bad = "agents";
	if (!bad && json_object_get(m, "truncated") &&
	    !json_is_boolean(json_object_get(m, "truncated")))
		bad = "truncated";
	c->rec.truncated = json_is_true(json_object_get(m, "truncated"));
	if (bad) {
		snprintf(why, whylen, "%s: missing or invalid", bad);
		return -EINVAL;
	}
	c->agents = agents ? json_deep_copy(agents) : json_object();
	return c->agents ? 0 : -ENOMEM;
}
