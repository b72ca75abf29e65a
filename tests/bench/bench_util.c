// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "bench_util.h"
#include "strnum.h"

/* Options a benchmark may have, --help aside: the size of getopt_long's table. */
#define BENCH_OPTS_MAX 16

double bench_now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * BENCH_PERF_CTL=FIFO: perf record's control FIFO (perf record --delay=-1 --control fifo:FIFO),
 * told "enable" at each span's start and "disable" at its end, so that a profile holds only the
 * timed code and none of the set-up. -1: not opened yet; -2: not asked for.
 */
static int perf_ctl = -1;

static void perf_ctl_say(const char *what)
{
	const char *path;

	if (perf_ctl == -1) {
		path = getenv("BENCH_PERF_CTL");
		perf_ctl = path && *path ? open(path, O_WRONLY | O_CLOEXEC) : -2;
		if (perf_ctl == -1)
			perf_ctl = -2;
	}
	if (perf_ctl >= 0 && write(perf_ctl, what, strlen(what)) < 0)
		perf_ctl = -2;
}

void bench_span_start(struct bench_span *s, clockid_t cpu_clock)
{
	perf_ctl_say("enable\n");
	s->cpu_clock = cpu_clock;
	s->wall0 = bench_now_ns(CLOCK_MONOTONIC);
	s->cpu0 = bench_now_ns(cpu_clock);
}

void bench_span_add(const struct bench_span *s, double *wall, double *cpu)
{
	/* The reverse order of the start: each clock brackets the other's reading. */
	*cpu += bench_now_ns(s->cpu_clock) - s->cpu0;
	*wall += bench_now_ns(CLOCK_MONOTONIC) - s->wall0;
	perf_ctl_say("disable\n");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(const double *v, unsigned int n)
{
	double s[BENCH_RUNS_MAX];

	if (n > BENCH_RUNS_MAX)
		n = BENCH_RUNS_MAX;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

uint64_t bench_rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

const char *bench_kernel(void)
{
	static struct utsname u;

	if (!u.release[0] && uname(&u))
		return "unknown";
	return u.release;
}

bool bench_shared(double wall, double cpu)
{
	return wall > cpu * 1.05 + 1;
}

void bench_table_head(const char *const *names, unsigned int n, const char *align)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		printf("| %s ", names[i]);
	printf("|\n");
	for (i = 0; i < n; i++)
		printf("|%s", align[i] == 'r' ? "---:" : "---");
	printf("|\n");
}

/* A size as the command line takes it: 65536 is "64K", 1 << 30 is "1G". */
static void size_name(uint64_t v, char *buf, size_t len)
{
	if (v && !(v & ((1ULL << 30) - 1)))
		snprintf(buf, len, "%lluG", (unsigned long long)(v >> 30));
	else if (v && !(v & ((1ULL << 20) - 1)))
		snprintf(buf, len, "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(buf, len, "%lluK", (unsigned long long)(v >> 10));
}

/* What the argument of o must be, for the error message. */
static void opt_what(const struct bench_opt *o, char *buf, size_t len)
{
	char lo[32], hi[32];
	size_t used;
	uint64_t i;

	if (o->what) {
		snprintf(buf, len, "%s", o->what);
	} else if (o->kind == BENCH_OPT_POW2) {
		size_name(o->min, lo, sizeof(lo));
		size_name(o->max, hi, sizeof(hi));
		snprintf(buf, len, "a power of 2 from %s to %s", lo, hi);
	} else if (o->kind == BENCH_OPT_PAYLOAD) {
		snprintf(buf, len, "random or zeros");
	} else if (o->kind == BENCH_OPT_CHOICE) {
		used = (size_t)snprintf(buf, len, "one of");
		for (i = 0; i < o->max && used < len; i++)
			used += (size_t)snprintf(buf + used, len - used, "%s %s", i ? "," : "",
						 o->choices[i]);
	} else {
		snprintf(buf, len, "a number in %llu..%llu", (unsigned long long)o->min,
			 (unsigned long long)o->max);
	}
}

/* Parses arg into o->out; 0 or a negative errno. */
static int opt_parse(const struct bench_opt *o, const char *arg)
{
	uint64_t v;
	uint32_t u;
	unsigned int i;
	int err;

	switch (o->kind) {
	case BENCH_OPT_U64:
		return strnum_u64(arg, o->min, o->max, o->out);
	case BENCH_OPT_U32:
		return strnum_u32(arg, (uint32_t)o->min, (uint32_t)o->max, o->out);
	case BENCH_OPT_INT:
		err = strnum_u32(arg, (uint32_t)o->min, (uint32_t)o->max, &u);
		if (!err)
			*(int *)o->out = (int)u;
		return err;
	case BENCH_OPT_POW2:
		err = strnum_size(arg, o->min, o->max, &v);
		if (!err && (v & (v - 1)))
			err = -EINVAL;
		if (!err)
			*(uint64_t *)o->out = v;
		return err;
	case BENCH_OPT_PAYLOAD:
		if (strcmp(arg, "random") && strcmp(arg, "zeros"))
			return -EINVAL;
		*(bool *)o->out = arg[0] == 'z';
		return 0;
	case BENCH_OPT_STRING:
		*(const char **)o->out = arg;
		return 0;
	case BENCH_OPT_CHOICE:
		for (i = 0; i < o->max; i++) {
			if (!strcmp(arg, o->choices[i])) {
				*(unsigned int *)o->out = i;
				return 0;
			}
		}
		return -EINVAL;
	}
	return -EINVAL;
}

bool bench_args_parse(const char *prog, const struct bench_opt *opts, unsigned int n,
		      void (*usage)(FILE *out), int argc, char **argv, int *status)
{
	struct option longopts[BENCH_OPTS_MAX + 2] = { 0 };
	char what[256];
	unsigned int i;
	int c, err = 0;

	if (n > BENCH_OPTS_MAX) {
		fprintf(stderr, "%s: %u options, more than the %d bench_args_parse takes\n", prog,
			n, BENCH_OPTS_MAX);
		*status = BENCH_EXIT_USAGE;
		return false;
	}
	/* getopt_long returns 256 + the option's index in opts, or 'h'. */
	for (i = 0; i < n; i++)
		longopts[i] =
			(struct option){ opts[i].name, required_argument, NULL, 256 + (int)i };
	longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
	while (!err && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			*status = 0;
			return false;
		}
		if (c < 256 || c >= 256 + (int)n) {
			err = -EINVAL; /* getopt_long said what */
			break;
		}
		err = opt_parse(&opts[c - 256], optarg);
		if (err) {
			opt_what(&opts[c - 256], what, sizeof(what));
			fprintf(stderr, "%s: --%s: %s is not %s\n", prog, opts[c - 256].name,
				optarg, what);
		}
	}
	if (!err && optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		err = -EINVAL;
	}
	if (err) {
		fprintf(stderr, "%s: run '%s --help' for usage\n", prog, prog);
		*status = BENCH_EXIT_USAGE;
		return false;
	}
	return true;
}

/* Appends attribute type with len bytes of data to the netlink message; returns it. */
static struct rtattr *nla_put(struct nlmsghdr *n, size_t room, unsigned short type,
			      const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));

	if (NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len) > room)
		return NULL;
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = (__u32)(NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len));
	return rta;
}

/* Closes a nested attribute opened by nla_put(..., NULL, 0). */
static void nla_end(struct nlmsghdr *n, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)n + n->nlmsg_len - (char *)nest);
}

/* Creates the veth pair "bench0"/"bench1" in the current network namespace over rtnetlink. */
static int veth_create(void)
{
	struct {
		struct nlmsghdr n;
		struct ifinfomsg i;
		char buf[512];
	} req = { 0 };
	struct {
		struct nlmsghdr n;
		struct nlmsgerr e;
		char buf[512];
	} ack;
	struct ifinfomsg peer = { .ifi_family = AF_UNSPEC };
	struct rtattr *linkinfo, *data, *peer_nest;
	int fd, err = 0;
	ssize_t got;

	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
	req.n.nlmsg_type = RTM_NEWLINK;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	req.i.ifi_family = AF_UNSPEC;
	if (!nla_put(&req.n, sizeof(req), IFLA_IFNAME, "bench0", sizeof("bench0")) ||
	    !(linkinfo = nla_put(&req.n, sizeof(req), IFLA_LINKINFO, NULL, 0)) ||
	    !nla_put(&req.n, sizeof(req), IFLA_INFO_KIND, "veth", sizeof("veth")) ||
	    !(data = nla_put(&req.n, sizeof(req), IFLA_INFO_DATA, NULL, 0)) ||
	    !(peer_nest = nla_put(&req.n, sizeof(req), VETH_INFO_PEER, &peer, sizeof(peer))) ||
	    !nla_put(&req.n, sizeof(req), IFLA_IFNAME, "bench1", sizeof("bench1")))
		return -ENOSPC;
	nla_end(&req.n, peer_nest);
	nla_end(&req.n, data);
	nla_end(&req.n, linkinfo);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.n.nlmsg_len, 0) < 0) {
		err = -errno;
		goto cleanup;
	}
	got = recv(fd, &ack, sizeof(ack), 0);
	if (got < 0)
		err = -errno;
	else if ((size_t)got < NLMSG_LENGTH(sizeof(ack.e)) || ack.n.nlmsg_type != NLMSG_ERROR)
		err = -EPROTO;
	else
		err = ack.e.error;
cleanup:
	close(fd);
	return err;
}

int bench_netns_veth(const char *prog)
{
	int err;

	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "%s: failed to make a network namespace: %s%s\n", prog,
			strerror(-err), err == -EPERM ? " (needs root)" : "");
		return err;
	}
	err = veth_create();
	if (err)
		fprintf(stderr, "%s: failed to make a veth pair in our namespace: %s\n", prog,
			strerror(-err));
	return err;
}
