// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_traffic: sends and counts numbered UDP datagrams, for integration tests and the demo.
 *
 * `send` writes a bounded number of datagrams whose payload is the ECT1 header of ect.h (magic,
 * sequence number, tag), paced at a given rate. `recv` binds a port, says when it is ready (on
 * stderr and, atomically, in a ready file), and counts what arrives: distinct sequence numbers,
 * duplicates, numbers out of range, datagrams that are not ours, and what the kernel dropped on
 * the socket. Both print one JSON object on stdout. Neither needs any privilege.
 *
 * Exit codes: 0 success (recv with --count: every datagram arrived), 1 runtime failure or
 * datagrams missing, 2 bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ect.h"
#include "tool_flags.h"

#define EXIT_USAGE 2
/* Without --count, sequence numbers below this are tracked for duplicates and gaps. */
#define RECV_TRACK_MAX (1ULL << 26)
#define RECV_COUNT_MAX (1ULL << 30)
#define RECV_BATCH     64
/* How long a sender waits out a full socket or device queue before giving up on a datagram. */
#define SEND_RETRY_NS	 100000L
#define SEND_RETRIES_MAX 10000

struct send_opts {
	const char *dst;
	const char *src;
	uint32_t port;
	uint32_t src_port;
	uint64_t count;
	uint64_t rate; /* datagrams per second; 0: as fast as possible */
	uint64_t size; /* payload bytes */
	const char *tag;
	bool random; /* --random: the padding is random bytes, new for every datagram */
};

struct recv_opts {
	const char *bind;
	uint32_t port;
	uint64_t count; /* 0: no --count */
	uint64_t timeout_ms;
	uint64_t rcvbuf;
	const char *ready_file;
	const char *tag; /* NULL: accept any tag */
};

static const struct send_opts send_defaults = {
	.count = 1,
	.rate = 0,
	.size = 64,
	.tag = "",
};

static const struct recv_opts recv_defaults = {
	.bind = "::",
	.timeout_ms = 10000,
	.rcvbuf = 32 << 20,
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ec_traffic send --dst ADDR --port PORT [options]\n"
		"       ec_traffic recv --port PORT [options]\n"
		"\n"
		"Sends and counts numbered UDP datagrams (IPv4 or IPv6). Each payload starts with\n"
		"\"ECT1\", a 32-bit sequence number (0, 1, ...) and the tag, zero-padded to "
		"--size.\n"
		"Both commands print one JSON object on stdout.\n"
		"\n"
		"send options:\n"
		"  --dst ADDR          destination address (required)\n"
		"  --port PORT         destination port, 1..65535 (required)\n"
		"  --src ADDR          source address to bind (default: chosen by the kernel)\n"
		"  --src-port PORT     source port to bind (default: ephemeral)\n"
		"  --count N           datagrams to send (default 1)\n"
		"  --rate PPS          datagrams per second, 0 = as fast as possible (default 0)\n"
		"  --size BYTES        UDP payload size, header and tag included (default 64)\n"
		"  --tag STR           up to %d printable characters after the header\n"
		"  --random            pad with random bytes (after the tag and a NUL), new for "
		"every\n"
		"                      datagram: payloads that do not compress, like encrypted "
		"ones\n"
		"\n"
		"recv options:\n"
		"  --port PORT         port to bind, 0 = any free port (required)\n"
		"  --bind ADDR         address to bind (default ::, which takes IPv4 too)\n"
		"  --count N           stop after N distinct datagrams 0..N-1; exit 0 only if all "
		"came\n"
		"  --timeout-ms T      give up after T ms, 0 = never (default 10000)\n"
		"  --tag STR           count only datagrams with this tag (others are "
		"\"foreign\")\n"
		"  --ready-file PATH   write the bound port to PATH once ready to receive\n"
		"  --rcvbuf BYTES      socket receive buffer, K/M/G suffixes (default 32M)\n"
		"\n"
		"Once bound, recv prints \"ready port=P\" on stderr. SIGINT or SIGTERM ends it "
		"early\n"
		"with the summary printed.\n"
		"\n"
		"examples:\n"
		"  ec_traffic recv --port 5001 --count 100 --ready-file /tmp/r.ready &\n"
		"  ec_traffic send --dst 192.0.2.2 --port 5001 --count 100 --rate 1000 --tag t1\n"
		"  ec_traffic send --dst 2001:db8::2 --port 5001 --count 10 --size 1400\n"
		"\n"
		"exit codes: 0 success, 1 runtime failure or datagrams missing, 2 bad usage\n",
		ECT_TAG_MAX);
}

/* Sends one datagram, waiting out a full queue; 0 or a negative errno. */
static int send_one(int fd, const uint8_t *buf, size_t len, const struct sockaddr_storage *dst,
		    socklen_t dst_len)
{
	struct timespec pause = { .tv_nsec = SEND_RETRY_NS };
	int tries;

	for (tries = 0; tries < SEND_RETRIES_MAX; tries++) {
		if (sendto(fd, buf, len, 0, (const struct sockaddr *)dst, dst_len) == (ssize_t)len)
			return 0;
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (stop_requested)
			return -EINTR;
		nanosleep(&pause, NULL);
	}
	return -ENOBUFS;
}

/* The padding after the header, the tag and its NUL: xorshift64 bytes. */
static void fill_random(uint8_t *buf, uint64_t size, const char *tag, uint64_t *rng)
{
	uint64_t i = ECT_HDR_LEN + strlen(tag) + 1;

	for (; i < size; i++) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		buf[i] = (uint8_t)(*rng >> 24);
	}
}

static int cmd_send(const struct send_opts *o)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	uint64_t sent = 0, i;
	double t0, elapsed;
	uint8_t *buf = NULL;
	int fd = -1, err = 0;

	if (ect_addr_parse(o->dst, (uint16_t)o->port, &dst, &dst_len)) {
		fprintf(stderr, "ec_traffic: --dst: %s is not an IPv4 or IPv6 address\n", o->dst);
		return EXIT_USAGE;
	}
	if (ect_addr_parse(o->src ? o->src : (dst.ss_family == AF_INET ? "0.0.0.0" : "::"),
			   (uint16_t)o->src_port, &src, &src_len)) {
		fprintf(stderr, "ec_traffic: --src: %s is not an IPv4 or IPv6 address\n", o->src);
		return EXIT_USAGE;
	}
	if (src.ss_family != dst.ss_family) {
		fprintf(stderr, "ec_traffic: --src %s and --dst %s are not the same family\n",
			o->src, o->dst);
		return EXIT_USAGE;
	}
	if (o->size < ect_payload_min(o->tag)) {
		fprintf(stderr,
			"ec_traffic: --size: %" PRIu64 " bytes cannot hold the %zu-byte header"
			" and tag\n",
			o->size, ect_payload_min(o->tag));
		return EXIT_USAGE;
	}

	buf = malloc(o->size);
	if (!buf) {
		fprintf(stderr, "ec_traffic: out of memory for a %" PRIu64 "-byte payload\n",
			o->size);
		return 1;
	}
	ect_payload_build(buf, o->size, 0, o->tag);

	fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "ec_traffic: failed to create a UDP socket: %s\n", strerror(-err));
		goto cleanup;
	}
	if ((o->src || o->src_port) && bind(fd, (struct sockaddr *)&src, src_len)) {
		err = -errno;
		fprintf(stderr, "ec_traffic: failed to bind %s port %u: %s\n",
			o->src ? o->src : "any address", o->src_port, strerror(-err));
		goto cleanup;
	}

	/* The default 50 us timer slack would cap a paced sender near 20000 datagrams/s. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	t0 = ect_now();
	for (i = 0; i < o->count && !stop_requested; i++) {
		/* Pace against the start time, so a late datagram does not delay the rest. */
		if (o->rate)
			ect_sleep_until(t0 + (double)i / (double)o->rate, &stop_requested);
		ect_payload_set_seq(buf, (uint32_t)i);
		if (o->random)
			fill_random(buf, o->size, o->tag, &rng);
		err = send_one(fd, buf, o->size, &dst, dst_len);
		if (err) {
			if (err != -EINTR)
				fprintf(stderr,
					"ec_traffic: failed to send datagram %" PRIu64
					" to %s: %s\n",
					i, o->dst, strerror(-err));
			break;
		}
		sent++;
	}
	elapsed = ect_now() - t0;
	printf("{\"sent\": %" PRIu64 ", \"count\": %" PRIu64 ", \"size\": %" PRIu64
	       ", \"seconds\": %.6f, \"pps\": %.0f}\n",
	       sent, o->count, o->size, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0);
	fflush(stdout);
cleanup:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (err && err != -EINTR)
		return 1;
	return sent == o->count ? 0 : 1;
}

/* Writes the port into path so that the file appears whole: readers poll for its existence. */
static int write_ready_file(const char *path, unsigned int port)
{
	char tmp[4096];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f)) {
		unlink(tmp);
		return -EIO;
	}
	if (rename(tmp, path)) {
		n = -errno;
		unlink(tmp);
		return n;
	}
	return 0;
}

/* What recv has counted. */
struct recv_stats {
	uint64_t received; /* every datagram read */
	uint64_t bytes;
	uint64_t distinct;
	uint64_t duplicates;
	uint64_t out_of_range;
	uint64_t foreign; /* not ECT1, or another tag */
	uint64_t max_seq; /* highest tracked sequence number + 1; 0: none yet */
	uint32_t kernel_drops;
	uint8_t *seen; /* bitmap of tracked sequence numbers */
	uint64_t seen_bits;
};

/* Makes room in the bitmap for sequence number seq; -ENOMEM if that fails. */
static int stats_track(struct recv_stats *s, uint64_t seq)
{
	uint64_t bits = s->seen_bits ? s->seen_bits : 1 << 16;
	uint8_t *p;

	if (seq < s->seen_bits)
		return 0;
	while (bits <= seq)
		bits *= 2;
	p = realloc(s->seen, bits / 8);
	if (!p)
		return -ENOMEM;
	memset(p + s->seen_bits / 8, 0, (bits - s->seen_bits) / 8);
	s->seen = p;
	s->seen_bits = bits;
	return 0;
}

static void stats_count(struct recv_stats *s, const struct recv_opts *o, const uint8_t *buf,
			size_t len)
{
	char tag[ECT_TAG_MAX + 1];
	uint64_t limit = o->count ? o->count : RECV_TRACK_MAX;
	uint32_t seq;

	s->received++;
	s->bytes += len;
	if (ect_payload_parse(buf, len, &seq, tag, sizeof(tag)) ||
	    (o->tag && strcmp(tag, o->tag) != 0)) {
		s->foreign++;
		return;
	}
	if (seq >= limit || stats_track(s, seq)) {
		s->out_of_range++;
		return;
	}
	if (s->seen[seq / 8] & (1U << (seq % 8))) {
		s->duplicates++;
		return;
	}
	s->seen[seq / 8] |= (uint8_t)(1U << (seq % 8));
	s->distinct++;
	if (seq + 1ULL > s->max_seq)
		s->max_seq = seq + 1ULL;
}

/* Opens the receiving socket: dual-stack when bound to ::, with a large buffer and drop counts. */
static int recv_socket(const struct recv_opts *o, unsigned int *port)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int fd, err, off = 0, on = 1, rcvbuf;

	if (ect_addr_parse(o->bind, (uint16_t)o->port, &addr, &len))
		return -EINVAL;
	fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT && !strcmp(o->bind, "::")) {
		/* No IPv6 in this namespace: the wildcard falls back to IPv4. */
		ect_addr_parse("0.0.0.0", (uint16_t)o->port, &addr, &len);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	if (addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	/* Past rmem_max needs CAP_NET_ADMIN; without it the kernel's cap applies. */
	rcvbuf = o->rcvbuf > INT32_MAX / 2 ? INT32_MAX / 2 : (int)o->rcvbuf;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&addr, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	len = sizeof(addr);
	if (getsockname(fd, (struct sockaddr *)&addr, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
						: ((struct sockaddr_in6 *)&addr)->sin6_port);
	return fd;
}

/* Reads what is queued, up to RECV_BATCH datagrams; the number read or a negative errno. */
static int recv_batch(int fd, struct recv_stats *s, const struct recv_opts *o,
		      uint8_t (*bufs)[2048])
{
	char ctl[RECV_BATCH][CMSG_SPACE(sizeof(uint32_t))];
	struct mmsghdr msgs[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct cmsghdr *cm;
	int i, n;

	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < RECV_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = ctl[i];
		msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
	}
	n = recvmmsg(fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		/* Only the first bytes matter: a longer datagram counts with its real length. */
		stats_count(s, o, bufs[i], msgs[i].msg_len);
		for (cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm;
		     cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL)
				memcpy(&s->kernel_drops, CMSG_DATA(cm), sizeof(s->kernel_drops));
		}
	}
	return n;
}

static int cmd_recv(const struct recv_opts *o)
{
	static uint8_t bufs[RECV_BATCH][2048];
	struct recv_stats s = { 0 };
	double t0, deadline, now, t_last = 0;
	unsigned int port = 0;
	struct pollfd pfd;
	const char *why;
	uint64_t lost;
	int fd, err, n, complete;

	fd = recv_socket(o, &port);
	if (fd == -EINVAL) {
		fprintf(stderr, "ec_traffic: --bind: %s is not an IPv4 or IPv6 address\n", o->bind);
		return EXIT_USAGE;
	}
	if (fd < 0) {
		fprintf(stderr, "ec_traffic: failed to bind UDP port %u on %s: %s\n", o->port,
			o->bind, strerror(-fd));
		return 1;
	}
	if (o->count && stats_track(&s, o->count - 1)) {
		fprintf(stderr, "ec_traffic: out of memory for %" PRIu64 " sequence numbers\n",
			o->count);
		close(fd);
		return 1;
	}
	if (o->ready_file) {
		err = write_ready_file(o->ready_file, port);
		if (err) {
			fprintf(stderr, "ec_traffic: failed to write ready file %s: %s\n",
				o->ready_file, strerror(-err));
			close(fd);
			free(s.seen);
			return 1;
		}
	}
	fprintf(stderr, "ready port=%u\n", port);

	t0 = ect_now();
	deadline = o->timeout_ms ? t0 + (double)o->timeout_ms / 1000.0 : 0;
	why = "signal";
	for (;;) {
		if (o->count && s.distinct >= o->count) {
			why = "count";
			break;
		}
		if (stop_requested)
			break;
		now = ect_now();
		if (deadline && now >= deadline) {
			why = "timeout";
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		/* Wake at least every 100 ms: a signal may land between the check and poll. */
		n = poll(&pfd, 1,
			 deadline && deadline - now < 0.1 ? (int)((deadline - now) * 1000) + 1
							  : 100);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "ec_traffic: poll failed: %s\n", strerror(-err));
			why = "error";
			break;
		}
		if (n <= 0)
			continue;
		while ((n = recv_batch(fd, &s, o, bufs)) > 0) {
			t_last = ect_now();
			if (o->count && s.distinct >= o->count)
				break;
		}
		if (n < 0) {
			fprintf(stderr, "ec_traffic: failed to receive on port %u: %s\n", port,
				strerror(-n));
			why = "error";
			break;
		}
	}
	close(fd);

	lost = (o->count ? o->count : s.max_seq) - s.distinct;
	complete = o->count ? s.distinct == o->count : 1;
	printf("{\"received\": %" PRIu64 ", \"distinct\": %" PRIu64 ", \"lost\": %" PRIu64
	       ", \"duplicates\": %" PRIu64 ", \"out_of_range\": %" PRIu64 ", \"foreign\": %" PRIu64
	       ", \"bytes\": %" PRIu64 ", \"kernel_drops\": %u, \"expected\": %" PRIu64
	       ", \"port\": %u, \"seconds\": %.6f, \"stop\": \"%s\", \"complete\": %s}\n",
	       s.received, s.distinct, lost, s.duplicates, s.out_of_range, s.foreign, s.bytes,
	       s.kernel_drops, o->count, port, t_last > 0 ? t_last - t0 : 0.0, why,
	       complete ? "true" : "false");
	fflush(stdout);
	free(s.seen);
	if (!strcmp(why, "error"))
		return 1;
	return complete ? 0 : 1;
}

enum {
	OPT_DST = 256,
	OPT_SRC,
	OPT_PORT,
	OPT_SRC_PORT,
	OPT_COUNT,
	OPT_RATE,
	OPT_SIZE,
	OPT_TAG,
	OPT_TIMEOUT_MS,
	OPT_BIND,
	OPT_READY_FILE,
	OPT_RCVBUF,
	OPT_RANDOM,
};

static const struct option send_options[] = {
	{ "dst", required_argument, NULL, OPT_DST },
	{ "src", required_argument, NULL, OPT_SRC },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "src-port", required_argument, NULL, OPT_SRC_PORT },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "random", no_argument, NULL, OPT_RANDOM },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option recv_options[] = {
	{ "port", required_argument, NULL, OPT_PORT },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "rcvbuf", required_argument, NULL, OPT_RCVBUF },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* After a subcommand's flags: the bad flag's message (err), or an argument that is not a flag. */
static int flags_done(const char *cmd, int err, const char *msg, int argc, char **argv)
{
	if (err) {
		fprintf(stderr, "ec_traffic: %s\n", msg);
		return err;
	}
	if (optind < argc) {
		fprintf(stderr, "ec_traffic: %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Parses `send` flags into o; 0, 1 for --help, or -EINVAL. */
static int parse_send(int argc, char **argv, struct send_opts *o)
{
	char msg[TOOL_FLAG_ERR_LEN];
	bool have_port = false;
	int c, err = 0;

	*o = send_defaults;
	while (!err && (c = getopt_long(argc, argv, "h", send_options, NULL)) != -1) {
		switch (c) {
		case OPT_DST:
			o->dst = optarg;
			break;
		case OPT_SRC:
			o->src = optarg;
			break;
		case OPT_PORT:
			err = tool_flag_u32("--port", optarg, 1, 65535, &o->port, msg);
			have_port = true;
			break;
		case OPT_SRC_PORT:
			err = tool_flag_u32("--src-port", optarg, 1, 65535, &o->src_port, msg);
			break;
		case OPT_COUNT:
			err = tool_flag_u64("--count", optarg, 1, UINT32_MAX + 1ULL, &o->count,
					    msg);
			break;
		case OPT_RATE:
			err = tool_flag_u64("--rate", optarg, 0, 100000000, &o->rate, msg);
			break;
		case OPT_SIZE:
			err = tool_flag_u64("--size", optarg, ECT_HDR_LEN, ECT_PAYLOAD_MAX,
					    &o->size, msg);
			break;
		case OPT_TAG:
			o->tag = optarg;
			err = tool_flag_tag(optarg, msg);
			break;
		case OPT_RANDOM:
			o->random = true;
			break;
		case 'h':
			return 1;
		default:
			return -EINVAL;
		}
	}
	err = flags_done("send", err, msg, argc, argv);
	if (err)
		return err;
	if (!o->dst || !have_port) {
		fprintf(stderr, "ec_traffic: send needs --dst and --port\n");
		return -EINVAL;
	}
	return 0;
}

/* Parses `recv` flags into o; 0, 1 for --help, or -EINVAL. */
static int parse_recv(int argc, char **argv, struct recv_opts *o)
{
	char msg[TOOL_FLAG_ERR_LEN];
	bool have_port = false;
	int c, err = 0;

	*o = recv_defaults;
	while (!err && (c = getopt_long(argc, argv, "h", recv_options, NULL)) != -1) {
		switch (c) {
		case OPT_PORT:
			err = tool_flag_u32("--port", optarg, 0, 65535, &o->port, msg);
			have_port = true;
			break;
		case OPT_BIND:
			o->bind = optarg;
			break;
		case OPT_COUNT:
			err = tool_flag_u64("--count", optarg, 1, RECV_COUNT_MAX, &o->count, msg);
			break;
		case OPT_TIMEOUT_MS:
			err = tool_flag_u64("--timeout-ms", optarg, 0, 86400000, &o->timeout_ms,
					    msg);
			break;
		case OPT_TAG:
			o->tag = optarg;
			err = tool_flag_tag(optarg, msg);
			break;
		case OPT_READY_FILE:
			o->ready_file = optarg;
			break;
		case OPT_RCVBUF:
			err = tool_flag_size("--rcvbuf", optarg, 4096, 1ULL << 30, &o->rcvbuf, msg);
			break;
		case 'h':
			return 1;
		default:
			return -EINVAL;
		}
	}
	err = flags_done("recv", err, msg, argc, argv);
	if (err)
		return err;
	if (!have_port) {
		fprintf(stderr, "ec_traffic: recv needs --port (0 for any free port)\n");
		return -EINVAL;
	}
	return 0;
}

/* After parsing: --help (err > 0) prints the usage, a bad flag (err < 0) a pointer to it. */
static int usage_done(int err)
{
	if (err > 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ec_traffic: run 'ec_traffic --help' for usage\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct send_opts so;
	struct recv_opts ro;
	int err;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* No SA_RESTART: a signal interrupts poll and sleeps so the summary comes out at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Subcommand flags start after the subcommand. */
	if (!strcmp(argv[1], "send")) {
		err = parse_send(argc - 1, argv + 1, &so);
		if (err)
			return usage_done(err);
		return cmd_send(&so);
	}
	if (!strcmp(argv[1], "recv")) {
		err = parse_recv(argc - 1, argv + 1, &ro);
		if (err)
			return usage_done(err);
		return cmd_recv(&ro);
	}
	fprintf(stderr, "ec_traffic: unknown command '%s' (send or recv)\n", argv[1]);
	return usage_done(-EINVAL);
}
