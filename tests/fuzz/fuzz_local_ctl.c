// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_local_ctl.c: the agent's local control socket (agent/local_ctl.h, local_ctl_answer) on
 * arbitrary requests, as edgecapctl's bytes arrive: JSON parsing, the command, a start's
 * request and output path, through the capture table to an engine with no interface (the
 * agent's unit-test fixture, tests/unit/agent_fixture.h), without the kernel. Properties:
 *   - every answer is an object with "v": 1 and a boolean "ok"; one that is not ok says why in
 *     a string "error";
 *   - no start succeeds (there is no interface), and none leaves a file behind: the output
 *     directory holds what it held before (the local socket), whatever path was asked for;
 *   - nothing is written to the agent's standard output (a pcap writer's "-").
 * The fixture lives in a temporary directory for the whole run.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz.h"
#include "log.h"
#include "unit/agent_fixture.h"

static struct agent_fixture fx;
static int baseline = -1;
static int stdout_fd = -1;
static char stdout_path[160];

static void cleanup(void)
{
	fixture_close(&fx);
	if (stdout_path[0])
		unlink(stdout_path);
}

static void setup(void)
{
	char err[512];

	log_set_level(LOG_LEVEL_ERROR);
	FUZZ_ASSERT(fixture_open(&fx, "ord01", 0, err, sizeof(err)) == 0);
	baseline = peer_dir_count(fx.dir, "");
	/* The agent's stdout, where a "-" output would go: a file of its own, which must stay
	 * empty. */
	snprintf(stdout_path, sizeof(stdout_path), "%s.stdout", fx.dir);
	stdout_fd = open(stdout_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(stdout_fd >= 0);
	fflush(stdout);
	FUZZ_ASSERT(dup2(stdout_fd, STDOUT_FILENO) == STDOUT_FILENO);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *reply, *req, *ok, *v;
	struct stat st;
	bool is_start;

	if (baseline < 0)
		setup();
	reply = local_ctl_answer(fx.local, (const char *)data, size);
	FUZZ_ASSERT(json_is_object(reply));
	v = json_object_get(reply, "v");
	ok = json_object_get(reply, "ok");
	FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) == LOCAL_CTL_VERSION);
	FUZZ_ASSERT(json_is_boolean(ok));
	if (!json_is_true(ok))
		FUZZ_ASSERT(json_is_string(json_object_get(reply, "error")));
	req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	is_start = json_is_object(req) && json_is_string(json_object_get(req, "cmd")) &&
		   !strcmp(json_string_value(json_object_get(req, "cmd")), "start");
	json_decref(req);
	if (is_start)
		FUZZ_ASSERT(!json_is_true(ok));
	json_decref(reply);
	FUZZ_ASSERT(captures_count(fx.caps) == 0);
	FUZZ_ASSERT(peer_dir_count(fx.dir, "") == baseline);
	fflush(stdout);
	FUZZ_ASSERT(fstat(stdout_fd, &st) == 0 && st.st_size == 0);
	return 0;
}
