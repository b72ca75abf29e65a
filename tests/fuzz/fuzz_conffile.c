// SPDX-License-Identifier: BSD-2-Clause
/*
 * fuzz_conffile.c: the daemons' config files (common/conffile.h) on arbitrary bytes: the input
 * is a --config FILE, read by conffile_parse on its own and then by both daemons' parsers,
 * agent_config_parse (agent/agent_config.c) and agg_config_parse (aggregator/config.c), which
 * check and store every key through their apply functions. Properties:
 *   - conffile_parse hands over keys without '=' or a line break, never starting with '#',
 *     and values trimmed of blanks; a refusal is a negative errno with "FILE:LINE: " in front;
 *   - each daemon's parser returns 0 or a negative errno, never "help printed" (only a flag
 *     can ask for help);
 *   - what an accepted file sets is NUL-terminated within its field, and what the parsers
 *     require is there: an agent has 1..ENGINE_MAX_IFACES interfaces, both endpoints and a
 *     host id; an aggregator has its endpoints, a state directory and at most
 *     AGG_MAX_DEST_ROOTS destination roots.
 * The file is a memfd, named by its /proc/self/fd path.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent_config.h"
#include "conffile.h"
#include "config.h"
#include "fuzz.h"

#define TERMINATED(s) (strnlen((s), sizeof(s)) < sizeof(s))

static int check_setting(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	size_t n = strlen(value);

	(void)err;
	(void)errlen;
	++*(unsigned int *)ctx;
	FUZZ_ASSERT(!strchr(key, '=') && !strchr(key, '\n') && key[0] != '#');
	FUZZ_ASSERT(!strchr(value, '\n'));
	FUZZ_ASSERT(!n ||
		    (!isspace((unsigned char)value[0]) && !isspace((unsigned char)value[n - 1])));
	FUZZ_ASSERT(!*key || !isspace((unsigned char)key[strlen(key) - 1]));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agent_config acfg;
	static struct agg_config gcfg;
	char path[64], err[512] = "", prefix[80];
	char *argv[4] = { NULL, "--config", path, NULL };
	unsigned int settings = 0, i;
	int fd, ret;

	fd = memfd_create("fuzz-conffile", MFD_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	ret = conffile_parse(path, check_setting, &settings, err, sizeof(err));
	FUZZ_ASSERT(ret <= 0);
	if (ret) {
		snprintf(prefix, sizeof(prefix), "%s:", path);
		FUZZ_ASSERT(!strncmp(err, prefix, strlen(prefix)));
	}

	argv[0] = "edgecap-agent";
	ret = agent_config_parse(3, argv, &acfg);
	FUZZ_ASSERT(ret <= 0);
	if (!ret) {
		FUZZ_ASSERT(acfg.n_ifaces >= 1 && acfg.n_ifaces <= ENGINE_MAX_IFACES);
		for (i = 0; i < acfg.n_ifaces; i++)
			FUZZ_ASSERT(TERMINATED(acfg.ifaces[i]) && acfg.ifaces[i][0]);
		FUZZ_ASSERT(TERMINATED(acfg.host_id) && acfg.host_id[0]);
		FUZZ_ASSERT(TERMINATED(acfg.colo) && TERMINATED(acfg.local_socket) &&
			    TERMINATED(acfg.output_dir));
		FUZZ_ASSERT(TERMINATED(acfg.control_url) && acfg.control_url[0]);
		FUZZ_ASSERT(TERMINATED(acfg.data_url) && acfg.data_url[0]);
	}

	argv[0] = "edgecap-aggregator";
	ret = agg_config_parse(3, argv, &gcfg);
	FUZZ_ASSERT(ret <= 0);
	if (!ret) {
		FUZZ_ASSERT(TERMINATED(gcfg.http) && TERMINATED(gcfg.credentials));
		FUZZ_ASSERT(TERMINATED(gcfg.state_dir) && gcfg.state_dir[0]);
		FUZZ_ASSERT(TERMINATED(gcfg.control_url) && TERMINATED(gcfg.data_url));
		FUZZ_ASSERT(gcfg.n_dest_roots <= AGG_MAX_DEST_ROOTS);
		for (i = 0; i < gcfg.n_dest_roots; i++)
			FUZZ_ASSERT(TERMINATED(gcfg.dest_roots[i]) && gcfg.dest_roots[i][0]);
	}
	close(fd);
	return 0;
}
