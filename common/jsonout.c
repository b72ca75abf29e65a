// SPDX-License-Identifier: BSD-2-Clause
/*
 * jsonout.c: JSON text written fast (jsonout.h). The layout is jansson's (dump.c): an empty
 * object or array is "{}" or "[]"; otherwise the opening bracket, then each member preceded by
 * a newline and (depth + 1) * n spaces under JSON_INDENT(n), or, between members and without
 * indent, one space unless JSON_COMPACT; a key's colon is followed by a space unless
 * JSON_COMPACT; the closing bracket comes after a newline and depth * n spaces under indent.
 * test_jsonout holds it to json_dumps over random values.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"

/* The flags written here; any other goes to json_dumps. */
#define JSONOUT_FLAGS (JSON_MAX_INDENT | JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)

static bool jsonout_room(struct jsonout *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom || b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			b->oom = b->failed = true;
			return false;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void jsonout_put(struct jsonout *b, const char *s, size_t n)
{
	if (!jsonout_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jsonout_str(struct jsonout *b, const char *s)
{
	jsonout_put(b, s, strlen(s));
}

static void jsonout_char(struct jsonout *b, char c)
{
	if (!jsonout_room(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void jsonout_u64(struct jsonout *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jsonout_put(b, tmp + i, sizeof(tmp) - i);
}

void jsonout_i64(struct jsonout *b, int64_t v)
{
	if (v < 0) {
		jsonout_char(b, '-');
		/* INT64_MIN too: its magnitude fits a uint64_t. */
		jsonout_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		jsonout_u64(b, (uint64_t)v);
	}
}

/* Whatever json_dumps writes for j, appended; for what this file does not write itself. */
static int jsonout_jansson(struct jsonout *b, const json_t *j, size_t flags)
{
	char *text = json_dumps(j, flags | JSON_ENCODE_ANY);

	if (!text)
		return b->oom ? -ENOMEM : -EINVAL;
	jsonout_str(b, text);
	free(text);
	return b->oom ? -ENOMEM : 0;
}

/* A string as a JSON string: copied when nothing in it needs an escape, else by jansson. */
static int jsonout_string(struct jsonout *b, const char *s, size_t n, size_t flags)
{
	json_t *tmp;
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* Escapes (and UTF-8, which jansson checks) are jansson's to write. */
		if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
			break;
	}
	if (i == n) {
		if (!jsonout_room(b, n + 2))
			return -ENOMEM;
		b->p[b->len++] = '"';
		memcpy(b->p + b->len, s, n);
		b->len += n;
		b->p[b->len++] = '"';
		b->p[b->len] = '\0';
		return 0;
	}
	tmp = json_stringn(s, n);
	if (!tmp)
		return -EINVAL; /* not UTF-8: json_dumps fails on it too */
	ret = jsonout_jansson(b, tmp, flags);
	json_decref(tmp);
	return ret;
}

/* A newline and depth * n spaces under indent; else one space when space and not compact. */
static void jsonout_indent(struct jsonout *b, size_t flags, size_t depth, bool space)
{
	size_t n = JSON_INDENT(flags) * depth;

	if (JSON_INDENT(flags)) {
		if (!jsonout_room(b, n + 1))
			return;
		b->p[b->len++] = '\n';
		memset(b->p + b->len, ' ', n);
		b->len += n;
		b->p[b->len] = '\0';
	} else if (space && !(flags & JSON_COMPACT)) {
		jsonout_char(b, ' ');
	}
}

/* After a member at depth: a comma and the next member's indent, or the closing indent. */
static void jsonout_after(struct jsonout *b, size_t flags, size_t depth, bool more)
{
	if (more) {
		jsonout_char(b, ',');
		jsonout_indent(b, flags, depth + 1, true);
	} else {
		jsonout_indent(b, flags, depth, false);
	}
}

static int jsonout_value(struct jsonout *b, const json_t *j, size_t flags, size_t depth)
{
	const char *key;
	json_t *v;
	size_t i, n;
	void *it;
	int ret;

	if (depth > JSONOUT_MAX_DEPTH)
		return -EINVAL;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		it = json_object_iter((json_t *)j);
		if (!it) {
			jsonout_put(b, "{}", 2);
			break;
		}
		jsonout_char(b, '{');
		jsonout_indent(b, flags, depth + 1, false);
		while (it) {
			key = json_object_iter_key(it);
			v = json_object_iter_value(it);
			ret = jsonout_string(b, key, json_object_iter_key_len(it), flags);
			if (ret)
				return ret;
			if (flags & JSON_COMPACT)
				jsonout_char(b, ':');
			else
				jsonout_put(b, ": ", 2);
			ret = jsonout_value(b, v, flags, depth + 1);
			if (ret)
				return ret;
			it = json_object_iter_next((json_t *)j, it);
			jsonout_after(b, flags, depth, it != NULL);
		}
		jsonout_char(b, '}');
		break;
	case JSON_ARRAY:
		n = json_array_size(j);
		if (!n) {
			jsonout_put(b, "[]", 2);
			break;
		}
		jsonout_char(b, '[');
		jsonout_indent(b, flags, depth + 1, false);
		for (i = 0; i < n; i++) {
			ret = jsonout_value(b, json_array_get(j, i), flags, depth + 1);
			if (ret)
				return ret;
			jsonout_after(b, flags, depth, i + 1 < n);
		}
		jsonout_char(b, ']');
		break;
	case JSON_STRING:
		return jsonout_string(b, json_string_value(j), json_string_length(j), flags);
	case JSON_INTEGER:
		jsonout_i64(b, (int64_t)json_integer_value(j));
		break;
	case JSON_TRUE:
		jsonout_put(b, "true", 4);
		break;
	case JSON_FALSE:
		jsonout_put(b, "false", 5);
		break;
	case JSON_NULL:
		jsonout_put(b, "null", 4);
		break;
	default: /* JSON_REAL: its formatting is jansson's */
		return jsonout_jansson(b, j, flags);
	}
	return b->oom ? -ENOMEM : 0;
}

int jsonout_json(struct jsonout *b, const json_t *j, size_t flags)
{
	size_t len = b->len;
	int ret;

	if (b->failed)
		return b->oom ? -ENOMEM : -EINVAL;
	if (!j) {
		ret = -EINVAL;
	} else if (flags & ~(size_t)JSONOUT_FLAGS) {
		ret = jsonout_jansson(b, j, flags);
	} else {
		ret = jsonout_value(b, j, flags, 0);
		/* Too deep (or a cycle, which jansson refuses): jansson's text, from the start. */
		if (ret == -EINVAL && !b->oom) {
			b->len = len;
			if (b->p)
				b->p[len] = '\0';
			ret = jsonout_jansson(b, j, flags);
		}
	}
	if (ret)
		b->failed = true;
	return ret;
}

char *jsonout_take(struct jsonout *b, size_t *len)
{
	char *p = b->failed ? NULL : b->p;

	if (b->failed)
		free(b->p);
	else if (!p)
		p = calloc(1, 1);
	if (len)
		*len = p ? b->len : 0;
	*b = (struct jsonout){ 0 };
	return p;
}

void jsonout_free(struct jsonout *b)
{
	free(b->p);
	*b = (struct jsonout){ 0 };
}
