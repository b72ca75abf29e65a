// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>

#include "counters_json.h"

static int set_u64(json_t *obj, const char *name, uint64_t v)
{
	/* jansson's integers are signed: a counter past INT64_MAX would wrap, so it saturates. */
	json_int_t i = v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v;

	return json_object_set_new(obj, name, json_integer(i)) ? -ENOMEM : 0;
}

int counters_kernel_json(json_t *obj, const struct ec_slot_counters *k)
{
	int ret = 0;

#define SET(name, help) ret = ret ? ret : set_u64(obj, #name, k->name);
	EC_KERNEL_COUNTERS(SET)
#undef SET
	return ret;
}

int counters_capture_json(json_t *obj, const struct wire_counters *c)
{
	int ret = 0;

#define SET(name, help) ret = ret ? ret : set_u64(obj, #name, c->name);
	EC_CAPTURE_COUNTERS(SET)
#undef SET
	return ret;
}
