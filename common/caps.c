// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "caps.h"
#include "log.h"

/* Older UAPI headers lack the capabilities split out of CAP_SYS_ADMIN in Linux 5.8. */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const struct {
	int cap;
	const char *name;
	const char *why;
} needed[] = {
	{ CAP_BPF, "CAP_BPF", "needed to load the capture program and create its maps" },
	{ CAP_NET_ADMIN, "CAP_NET_ADMIN",
	  "needed to load XDP and tc programs and attach them to interfaces" },
	{ CAP_PERFMON, "CAP_PERFMON",
	  "needed for the verifier to accept the capture program: without it the stricter checks "
	  "for unprivileged programs reject it" },
};

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

int caps_check_capture(const char *hint)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	bool sys_admin;
	size_t i;
	int ret = 0;

	memset(data, 0, sizeof(data));
	/* glibc has no capget() wrapper; the raw call needs no libcap. */
	if (syscall(SYS_capget, &hdr, data)) {
		ret = -errno;
		pr_err("cannot read this process's capabilities: %s", strerror(-ret));
		return ret;
	}
	sys_admin = has_cap(data, CAP_SYS_ADMIN);
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (has_cap(data, needed[i].cap))
			continue;
		/* The kernel accepts CAP_SYS_ADMIN for both (bpf_capable, perfmon_capable). */
		if (sys_admin && needed[i].cap != CAP_NET_ADMIN)
			continue;
		pr_err("missing capability %s (%s); %s", needed[i].name, needed[i].why, hint);
		ret = -EPERM;
	}
	return ret;
}
