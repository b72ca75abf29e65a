// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_livegen: edgecap's own fast traffic generator, for benchmarks and tests.
 *
 * It builds one Ethernet/IP/UDP frame carrying the ECT1 payload of ect.h and hands it to the XDP
 * program xdp_tx (bpf/noop.bpf.c) through BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES. In that
 * mode the kernel runs the program once per frame over page-pool copies of the frame, and
 * XDP_TX becomes a redirect out of the interface named by ingress_ifindex: on a veth, straight
 * into the peer's receive path, several million frames a second from one CPU. xdp_tx stamps
 * each copy with the next sequence number (and fixes the UDP checksum), so ec_traffic recv can
 * count exactly what arrived.
 *
 * Frames go out in runs of up to --chunk frames (one syscall each); with --rate the runs are
 * about a millisecond's worth, paced against the start time. Each frame carries 4 bytes of XDP
 * metadata, EC_GEN_MAGIC, that xdp_tx looks for: that lets the tool attach xdp_tx in skb mode to
 * an interface (the anchor, by default --dev) where it passes all real traffic untouched. A
 * program attached somewhere stays in the kernel's XDP dispatcher; one that is not is added and
 * removed by every BPF_PROG_RUN call, each time waiting for an RCU grace period, which caps a
 * paced generator at a few dozen runs a second.
 *
 * The peer of a veth only takes XDP frames while its NAPI is on: it needs an XDP program attached
 * (any, e.g. xdp_noop) or GRO on. The summary reports the device's own tx counters, so frames
 * that did not make it show up as a difference from "sent".
 *
 * Some kernels refuse live frames (BPF_PROG_RUN fails with EPERM: seen on a 6.18 build whose
 * other BPF features all work). With --mode auto (the default) the tool then sends the same
 * frames, numbered the same way, through an AF_PACKET socket that bypasses the qdisc, in
 * sendmmsg runs: far fewer frames a second, but the same frames on the same path into the peer.
 * The summary's "mode" says which way they went.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ect.h"
#include "log.h"
#include "noop.skel.h"
#include "tool_flags.h"

#define EXIT_USAGE   2
#define ETH_HDR_LEN  14
#define IPV4_HDR_LEN 20
#define IPV6_HDR_LEN 40
#define UDP_HDR_LEN  8
#define FRAME_MIN    60
/* Live frames live in one page with the kernel's headers: about 3.4 KiB is the most it takes. */
#define FRAME_MAX 4096
/* The kernel's own limit on frames per batch inside one run. */
#define LIVE_BATCH_MAX 256
/* Frames per sendmmsg call when sending through a packet socket. */
#define PACKET_BATCH 64
/* Metadata before each frame, so xdp_tx knows a generator run (bpf/noop.bpf.c: same value). */
#define EC_GEN_MAGIC 0x47544345
#define GEN_META_LEN 4

struct gen_opts {
	const char *dev;
	const char *anchor; /* interface to attach xdp_tx to; NULL: --dev; "none": do not */
	const char *src;
	const char *dst;
	const char *tag;
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	bool have_src_mac;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t size;	   /* frame bytes, Ethernet header included, FCS not */
	uint64_t count;	   /* 0: until --duration */
	uint64_t duration; /* seconds; 0: until --count */
	uint64_t rate;	   /* frames per second; 0: as fast as possible */
	uint32_t batch;	   /* frames per kernel batch inside a run */
	uint32_t chunk;	   /* frames per run (one syscall) */
	bool stamp;	   /* write sequence numbers */
	const char *mode;  /* "auto", "live" or "packet" */
};

static const struct gen_opts gen_defaults = {
	.tag = "",
	.dst_mac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	.src_port = 9,
	.dst_port = 9,
	.size = 64,
	.batch = 64,
	.chunk = 8192,
	.stamp = true,
	.mode = "auto",
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
		"usage: ec_livegen --dev IFACE --src ADDR --dst ADDR (--count N | --duration S)\n"
		"                  [options]\n"
		"\n"
		"Sends one UDP frame, stamped with a running sequence number, out of IFACE at up "
		"to\n"
		"millions of frames a second, through BPF_PROG_RUN live frames and XDP_TX. On a "
		"veth\n"
		"the frames arrive on the peer, which needs an XDP program attached (or GRO on) "
		"to\n"
		"take them. Needs root (CAP_BPF and CAP_NET_ADMIN). Prints one JSON object.\n"
		"\n"
		"options:\n"
		"  --dev IFACE         interface to send out of (required)\n"
		"  --src ADDR          source IPv4 or IPv6 address (required)\n"
		"  --dst ADDR          destination address, same family (required)\n"
		"  --dst-mac MAC       destination MAC (default ff:ff:ff:ff:ff:ff)\n"
		"  --src-mac MAC       source MAC (default: IFACE's own)\n"
		"  --src-port PORT     UDP source port (default 9)\n"
		"  --dst-port PORT     UDP destination port (default 9)\n"
		"  --size BYTES        frame size without FCS, %d..%d (default 64)\n"
		"  --count N           frames to send\n"
		"  --duration S        seconds to send for (with --count: whichever ends first)\n"
		"  --rate PPS          target frames per second, 0 = as fast as possible (default "
		"0)\n"
		"  --batch-size N      frames per kernel batch, 1..%d (default 64)\n"
		"  --chunk N           most frames per BPF_PROG_RUN call (default 8192)\n"
		"  --anchor IFACE|none attach the generator program (skb mode, passes all real\n"
		"                      traffic) to IFACE to keep runs cheap (default: --dev)\n"
		"  --tag STR           ECT1 tag, up to %d printable characters\n"
		"  --no-seq            send every frame with sequence number 0\n"
		"  --mode MODE         live (BPF_PROG_RUN live frames), packet (an AF_PACKET\n"
		"                      socket, qdisc bypassed; slower) or auto: live, and packet\n"
		"                      where the kernel refuses live frames (default auto)\n"
		"\n"
		"examples:\n"
		"  ip netns exec ectg0 ec_livegen --dev veth0 --src 192.0.2.1 --dst 192.0.2.2 \\\n"
		"      --dst-mac 02:00:00:00:00:02 --dst-port 5001 --count 1000000\n"
		"  taskset -c 1 ec_livegen --dev veth0 --src 2001:db8::1 --dst 2001:db8::2 \\\n"
		"      --size 1514 --rate 500000 --duration 5\n"
		"\n"
		"exit codes: 0 success, 1 runtime failure, 2 bad usage\n",
		FRAME_MIN, FRAME_MAX, LIVE_BATCH_MAX, ECT_TAG_MAX);
}

/* Exactly six two-digit hex bytes separated by colons. */
static int parse_mac(const char *opt, const char *val, uint8_t mac[6], char err[TOOL_FLAG_ERR_LEN])
{
	unsigned int b[6];
	int i, n = -1;

	if (strlen(val) != 17 ||
	    sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &n) != 6 ||
	    n != 17) {
		snprintf(err, TOOL_FLAG_ERR_LEN,
			 "%s: %s is not a MAC address like 02:00:00:00:00:01", opt, val);
		return -EINVAL;
	}
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* One's complement sum of len bytes, folded into sum (RFC 1071). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Where the generator program stamps a frame. */
struct frame_layout {
	uint32_t seq_off;
	uint32_t csum_off;
};

/*
 * Builds the frame: Ethernet, IPv4 (no options, DF) or IPv6, UDP with its checksum, then the
 * ECT1 payload (sequence number 0) padded with zeros. Returns 0 or -EINVAL if size cannot hold
 * the headers and the tag.
 */
static int frame_build(const struct gen_opts *o, const struct sockaddr_storage *src,
		       const struct sockaddr_storage *dst, uint8_t *frame, struct frame_layout *lay)
{
	bool v6 = dst->ss_family == AF_INET6;
	uint32_t ip_len = v6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
	uint32_t l4 = ETH_HDR_LEN + ip_len, udp_len = o->size - l4;
	uint8_t *ip = frame + ETH_HDR_LEN, *udp = frame + l4;
	uint32_t sum;

	if (o->size < l4 + UDP_HDR_LEN + ect_payload_min(o->tag))
		return -EINVAL;
	memset(frame, 0, o->size);
	memcpy(frame, o->dst_mac, 6);
	memcpy(frame + 6, o->src_mac, 6);
	put16(frame + 12, v6 ? 0x86dd : 0x0800);

	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)udp_len);
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;
		memcpy(ip + 8, &((const struct sockaddr_in6 *)src)->sin6_addr, 16);
		memcpy(ip + 24, &((const struct sockaddr_in6 *)dst)->sin6_addr, 16);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(ip_len + udp_len));
		put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, &((const struct sockaddr_in *)src)->sin_addr, 4);
		memcpy(ip + 16, &((const struct sockaddr_in *)dst)->sin_addr, 4);
		put16(ip + 10, csum_fold(csum_add(0, ip, IPV4_HDR_LEN)));
	}

	put16(udp, (uint16_t)o->src_port);
	put16(udp + 2, (uint16_t)o->dst_port);
	put16(udp + 4, (uint16_t)udp_len);
	ect_payload_build(udp + UDP_HDR_LEN, udp_len - UDP_HDR_LEN, 0, o->tag);

	/* The pseudo-header: both addresses, protocol and UDP length. */
	sum = v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);
	sum += IPPROTO_UDP + udp_len;
	sum = csum_add(sum, udp, udp_len);
	put16(udp + 6, csum_fold(sum) ? csum_fold(sum) : 0xffff);

	lay->seq_off = l4 + UDP_HDR_LEN + ECT_SEQ_OFF;
	lay->csum_off = l4 + 6;
	return 0;
}

static int dev_mac(const char *dev, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

/* The device's transmit counters, read through netlink (getifaddrs) so any netns is right. */
struct dev_tx {
	uint32_t packets;
	uint32_t dropped;
};

static int dev_tx_read(const char *dev, struct dev_tx *out)
{
	struct ifaddrs *ifs, *ifa;
	int err = -ENODEV;

	if (getifaddrs(&ifs))
		return -errno;
	for (ifa = ifs; ifa; ifa = ifa->ifa_next) {
		const struct rtnl_link_stats *st = ifa->ifa_data;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_PACKET || !st ||
		    strcmp(ifa->ifa_name, dev))
			continue;
		out->packets = st->tx_packets;
		out->dropped = st->tx_dropped;
		err = 0;
		break;
	}
	freeifaddrs(ifs);
	return err;
}

/*
 * Attaches xdp_tx to the anchor interface in skb mode, through a link that goes away with this
 * process; *link_fd is -1 when there is none. Failing to attach is only a warning (runs get
 * slow); 0, or -ENODEV if the anchor does not exist.
 */
static int anchor_attach(const struct gen_opts *o, int prog_fd, int *link_fd)
{
	const char *name = o->anchor ? o->anchor : o->dev;
	unsigned int ifindex;
	int fd;

	*link_fd = -1;
	if (!strcmp(name, "none"))
		return 0;
	ifindex = if_nametoindex(name);
	if (!ifindex) {
		pr_err("--anchor %s: no such interface in this network namespace", name);
		return -ENODEV;
	}
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = XDP_FLAGS_SKB_MODE);
	fd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &lopts);
	if (fd < 0) {
		pr_warn("failed to attach the generator program to %s: %s (another XDP program "
			"there?); every run now waits for RCU: use a large --chunk, or another "
			"--anchor",
			name, strerror(-fd));
		return 0;
	}
	*link_fd = fd;
	return 0;
}

/* RFC 1624, eqn. 3, as xdp_tx does it: the checksum after one 16-bit word changes. */
static uint16_t csum_replace16(uint16_t check, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~check + (uint16_t)~old + (uint32_t) new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Writes seq into frame where xdp_tx would, fixing the UDP checksum the same way. */
static void frame_stamp(uint8_t *frame, const struct frame_layout *lay, uint32_t seq)
{
	uint8_t *stamp = frame + lay->seq_off, *check = frame + lay->csum_off;
	uint16_t hi = (uint16_t)(seq >> 16), lo = (uint16_t)seq, sum;

	/* A zero UDP checksum means "none" (IPv4 only): leave it so. */
	if (lay->csum_off && get16(check)) {
		sum = csum_replace16(get16(check), get16(stamp), hi);
		sum = csum_replace16(sum, get16(stamp + 2), lo);
		put16(check, sum ? sum : 0xffff);
	}
	put16(stamp, hi);
	put16(stamp + 2, lo);
}

/* Why sending stops before the next run: "count", "signal" or "duration"; NULL: it goes on. */
static const char *gen_stop(const struct gen_opts *o, uint64_t sent, double t0)
{
	if (o->count && sent >= o->count)
		return "count";
	if (stop_requested)
		return "signal";
	if (o->duration && ect_now() - t0 >= (double)o->duration)
		return "duration";
	return NULL;
}

/*
 * Frames in the next run: at most max, about a millisecond's worth when pacing (so the rate is
 * smooth at that scale), and no more than --count leaves.
 */
static uint64_t gen_run_len(const struct gen_opts *o, uint64_t max, uint64_t sent)
{
	uint64_t n = max;

	if (o->rate && o->rate / 1000 < n)
		n = o->rate / 1000 ? o->rate / 1000 : 1;
	if (o->count && o->count - sent < n)
		n = o->count - sent;
	return n;
}

/*
 * --mode packet, or auto where live frames are refused: the frame, numbered from *sent on, out
 * of ifindex through an AF_PACKET socket with the qdisc bypassed, PACKET_BATCH frames a
 * sendmmsg call, paced as the live runs are. Returns 0 or a negative errno; *why says why it
 * stopped.
 */
static int packet_send(const struct gen_opts *o, unsigned int ifindex, const uint8_t *frame,
		       const struct frame_layout *lay, double t0, uint64_t *sent, const char **why)
{
	static uint8_t frames[PACKET_BATCH][FRAME_MAX];
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex };
	struct mmsghdr msgs[PACKET_BATCH];
	struct iovec iov[PACKET_BATCH];
	int fd, one = 1, err = 0, i, got;
	uint64_t n;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		pr_err("failed to open a packet socket: %s", strerror(-err));
		*why = "error";
		return err;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		pr_warn("packet socket: no qdisc bypass (%s): frames go through %s's qdisc",
			strerror(errno), o->dev);
	ll.sll_halen = 6;
	memcpy(ll.sll_addr, o->dst_mac, 6);
	for (i = 0; i < PACKET_BATCH; i++) {
		memcpy(frames[i], frame, o->size);
		iov[i] = (struct iovec){ .iov_base = frames[i], .iov_len = o->size };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &ll,
							 .msg_namelen = sizeof(ll),
							 .msg_iov = &iov[i],
							 .msg_iovlen = 1 } };
	}
	while (!(*why = gen_stop(o, *sent, t0))) {
		n = gen_run_len(o, PACKET_BATCH, *sent);
		for (i = 0; i < (int)n; i++)
			frame_stamp(frames[i], lay, o->stamp ? (uint32_t)(*sent + (uint64_t)i) : 0);
		got = sendmmsg(fd, msgs, (unsigned int)n, 0);
		if (got < 0 && errno == EINTR) {
			*why = "signal";
			break;
		}
		if (got < 0 && (errno == ENOBUFS || errno == EAGAIN))
			continue; /* the device's queue is full: the same frames again */
		if (got < 0) {
			err = -errno;
			pr_err("failed to send %u-byte frames out of %s (packet socket): %s",
			       o->size, o->dev, strerror(-err));
			*why = "error";
			break;
		}
		*sent += (uint64_t)got;
		if (o->rate)
			ect_sleep_until(t0 + (double)*sent / (double)o->rate, &stop_requested);
	}
	close(fd);
	return err;
}

static int run(const struct gen_opts *o)
{
	struct sockaddr_storage src, dst;
	struct gen_opts eff = *o;
	struct dev_tx tx0 = { 0 }, tx1 = { 0 };
	struct frame_layout lay;
	struct noop_bpf *skel = NULL;
	struct xdp_md ctx = { 0 };
	uint8_t buf[GEN_META_LEN + FRAME_MAX];
	uint32_t magic = EC_GEN_MAGIC;
	uint64_t sent = 0, n;
	double t0 = 0, elapsed = 0;
	const char *why = "count", *mode = "live";
	uint32_t runs0, runs;
	unsigned int ifindex;
	int err, prog_fd, have_tx, link_fd = -1;
	socklen_t len;

	if (ect_addr_parse(o->src, 0, &src, &len) || ect_addr_parse(o->dst, 0, &dst, &len)) {
		pr_err("--src %s / --dst %s: not IPv4 or IPv6 addresses", o->src, o->dst);
		return EXIT_USAGE;
	}
	if (src.ss_family != dst.ss_family) {
		pr_err("--src %s and --dst %s are not the same family", o->src, o->dst);
		return EXIT_USAGE;
	}
	ifindex = if_nametoindex(o->dev);
	if (!ifindex) {
		pr_err("--dev %s: no such interface in this network namespace", o->dev);
		return EXIT_USAGE;
	}
	if (!eff.have_src_mac) {
		err = dev_mac(o->dev, eff.src_mac);
		if (err) {
			pr_err("failed to read the MAC address of %s: %s", o->dev, strerror(-err));
			return 1;
		}
	}
	/* The metadata goes first: BPF_PROG_RUN takes it from the start of data_in. */
	memcpy(buf, &magic, GEN_META_LEN);
	if (frame_build(&eff, &src, &dst, buf + GEN_META_LEN, &lay)) {
		pr_err("--size: %u bytes cannot hold the headers and the ECT1 payload (%s needs at "
		       "least %zu with this tag)",
		       o->size, dst.ss_family == AF_INET6 ? "IPv6" : "IPv4",
		       ETH_HDR_LEN + (dst.ss_family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN) +
			       UDP_HDR_LEN + ect_payload_min(o->tag));
		return EXIT_USAGE;
	}

	if (!strcmp(o->mode, "packet")) {
		have_tx = dev_tx_read(o->dev, &tx0) == 0;
		t0 = ect_now();
		mode = "packet";
		err = packet_send(&eff, ifindex, buf + GEN_META_LEN, &lay, t0, &sent, &why);
		goto report;
	}
	/* Open, set where to stamp, load: only xdp_tx is needed here. */
	skel = noop_bpf__open();
	if (!skel) {
		err = -errno;
		pr_err("failed to open the generator program: %s", strerror(-err));
		return 1;
	}
	bpf_program__set_autoload(skel->progs.xdp_noop, false);
	bpf_program__set_autoload(skel->progs.xdp_drop, false);
	if (o->stamp) {
		skel->rodata->ec_gen_seq_off = lay.seq_off;
		skel->rodata->ec_gen_csum_off = lay.csum_off;
	}
	err = noop_bpf__load(skel);
	if (err) {
		pr_err("failed to load the generator program: %s%s", strerror(-err),
		       err == -EPERM ? " (needs root, or CAP_BPF and CAP_NET_ADMIN)" : "");
		err = 1;
		goto cleanup;
	}
	prog_fd = bpf_program__fd(skel->progs.xdp_tx);
	if (anchor_attach(o, prog_fd, &link_fd)) {
		err = EXIT_USAGE;
		goto cleanup;
	}

	ctx.data = GEN_META_LEN;
	ctx.data_end = GEN_META_LEN + o->size;
	ctx.ingress_ifindex = ifindex;

	have_tx = dev_tx_read(o->dev, &tx0) == 0;
	runs0 = skel->bss->ec_gen_runs;
	err = 0;
	t0 = ect_now();
	while (!(why = gen_stop(o, sent, t0))) {
		n = gen_run_len(o, o->chunk, sent);
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf,
			    .data_size_in = GEN_META_LEN + o->size, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = (__u32)n,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = o->batch);
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		/* The program counts its own runs: exact even for a run a signal cut short. */
		runs = skel->bss->ec_gen_runs;
		sent += (uint32_t)(runs - runs0);
		runs0 = runs;
		if (err == -EINTR) {
			err = 0;
			why = "signal";
			break;
		}
		if (err == -EPERM && !sent && !strcmp(o->mode, "auto")) {
			pr_warn("this kernel refuses BPF_PROG_RUN live frames (%s): sending "
				"through a "
				"packet socket instead, far slower (--mode packet)",
				strerror(-err));
			mode = "packet";
			err = packet_send(&eff, ifindex, buf + GEN_META_LEN, &lay, t0, &sent, &why);
			break;
		}
		if (err) {
			pr_err("failed to send %u-byte frames out of %s (BPF_PROG_RUN live "
			       "frames): "
			       "%s%s",
			       o->size, o->dev, strerror(-err),
			       err == -EINVAL ? " (frame too large for one page, or kernel without "
						"live frames?)"
					      : "");
			why = "error";
			break;
		}
		if (o->rate)
			ect_sleep_until(t0 + (double)sent / (double)o->rate, &stop_requested);
	}
report:
	elapsed = ect_now() - t0;
	if (have_tx)
		have_tx = dev_tx_read(o->dev, &tx1) == 0;

	printf("{\"sent\": %" PRIu64 ", \"seconds\": %.6f, \"pps\": %.0f, \"target_pps\": %" PRIu64
	       ", \"size\": %u, \"dev\": \"%s\", \"dev_tx_packets\": %" PRId64
	       ", \"dev_tx_dropped\": %" PRId64 ", \"stop\": \"%s\", \"mode\": \"%s\"}\n",
	       sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, o->rate, o->size, o->dev,
	       have_tx ? (int64_t)(uint32_t)(tx1.packets - tx0.packets) : -1,
	       have_tx ? (int64_t)(uint32_t)(tx1.dropped - tx0.dropped) : -1, why, mode);
	fflush(stdout);
	/* A veth counts what its peer took as its own tx_packets: none means none arrived. */
	if (have_tx && sent && tx1.packets == tx0.packets)
		pr_warn("no frame left %s: if it is a veth, its peer needs an XDP program attached "
			"(or GRO on) to take XDP frames",
			o->dev);
	err = err ? 1 : 0;
cleanup:
	if (link_fd >= 0)
		close(link_fd);
	noop_bpf__destroy(skel);
	return err;
}

enum {
	OPT_DEV = 256,
	OPT_SRC,
	OPT_DST,
	OPT_SRC_MAC,
	OPT_DST_MAC,
	OPT_SRC_PORT,
	OPT_DST_PORT,
	OPT_SIZE,
	OPT_COUNT,
	OPT_DURATION,
	OPT_RATE,
	OPT_BATCH,
	OPT_CHUNK,
	OPT_TAG,
	OPT_NO_SEQ,
	OPT_ANCHOR,
	OPT_MODE,
};

static const struct option options[] = {
	{ "dev", required_argument, NULL, OPT_DEV },
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dst", required_argument, NULL, OPT_DST },
	{ "src-mac", required_argument, NULL, OPT_SRC_MAC },
	{ "dst-mac", required_argument, NULL, OPT_DST_MAC },
	{ "src-port", required_argument, NULL, OPT_SRC_PORT },
	{ "dst-port", required_argument, NULL, OPT_DST_PORT },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "batch-size", required_argument, NULL, OPT_BATCH },
	{ "chunk", required_argument, NULL, OPT_CHUNK },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "no-seq", no_argument, NULL, OPT_NO_SEQ },
	{ "anchor", required_argument, NULL, OPT_ANCHOR },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* 0, 1 for --help, or -EINVAL. */
static int parse_args(int argc, char **argv, struct gen_opts *o)
{
	char msg[TOOL_FLAG_ERR_LEN];
	int c, err = 0;

	*o = gen_defaults;
	while (!err && (c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_DEV:
			o->dev = optarg;
			break;
		case OPT_SRC:
			o->src = optarg;
			break;
		case OPT_DST:
			o->dst = optarg;
			break;
		case OPT_SRC_MAC:
			err = parse_mac("--src-mac", optarg, o->src_mac, msg);
			o->have_src_mac = true;
			break;
		case OPT_DST_MAC:
			err = parse_mac("--dst-mac", optarg, o->dst_mac, msg);
			break;
		case OPT_SRC_PORT:
			err = tool_flag_u32("--src-port", optarg, 1, 65535, &o->src_port, msg);
			break;
		case OPT_DST_PORT:
			err = tool_flag_u32("--dst-port", optarg, 1, 65535, &o->dst_port, msg);
			break;
		case OPT_SIZE:
			err = tool_flag_u32("--size", optarg, FRAME_MIN, FRAME_MAX, &o->size, msg);
			break;
		case OPT_COUNT:
			err = tool_flag_u64("--count", optarg, 1, UINT64_MAX, &o->count, msg);
			break;
		case OPT_DURATION:
			err = tool_flag_u64("--duration", optarg, 1, 86400, &o->duration, msg);
			break;
		case OPT_RATE:
			err = tool_flag_u64("--rate", optarg, 0, 1000000000, &o->rate, msg);
			break;
		case OPT_BATCH:
			err = tool_flag_u32("--batch-size", optarg, 1, LIVE_BATCH_MAX, &o->batch,
					    msg);
			break;
		case OPT_CHUNK:
			err = tool_flag_u32("--chunk", optarg, 1, 1U << 24, &o->chunk, msg);
			break;
		case OPT_TAG:
			o->tag = optarg;
			err = tool_flag_tag(optarg, msg);
			break;
		case OPT_NO_SEQ:
			o->stamp = false;
			break;
		case OPT_ANCHOR:
			o->anchor = optarg;
			break;
		case OPT_MODE:
			o->mode = optarg;
			if (strcmp(optarg, "auto") && strcmp(optarg, "live") &&
			    strcmp(optarg, "packet")) {
				snprintf(msg, sizeof(msg), "--mode: %s is not live, packet or auto",
					 optarg);
				err = -EINVAL;
			}
			break;
		case 'h':
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (err) {
		pr_err("%s", msg);
		return err;
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->dev || !o->src || !o->dst) {
		pr_err("--dev, --src and --dst are required");
		return -EINVAL;
	}
	if (!o->count && !o->duration) {
		pr_err("give --count or --duration (or both)");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct gen_opts o;
	int err;

	log_set_ident("ec_livegen");
	log_route_libbpf();
	err = parse_args(argc, argv, &o);
	if (err > 0) {
		usage(stdout);
		return 0;
	}
	if (err) {
		pr_err("run 'ec_livegen --help' for usage");
		return EXIT_USAGE;
	}
	/* No SA_RESTART: the kernel ends a live-frames run early when a signal is pending. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* The default 50 us timer slack would blur the pacing between runs. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	return run(&o);
}
