// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_capture.c: the BPF tier. Loads the real bpf/capture.bpf.c object through its skeleton and
 * drives edgecap_xdp and edgecap_tc with BPF_PROG_TEST_RUN: hand-built frames for every filter_v1
 * field and header variant, several slots at once, record contents, sampling, budgets, deadlines,
 * and every Ethernet frame of the tcpdump corpus checked against a user-space model of filter_v1.
 *
 * Needs root: it loads and test-runs BPF, and moves into a network namespace of its own (with a
 * four-queue veth for ifindex and rx queue checks). Every test loads its own copy of the object, so
 * counters, budgets and the ring start empty. Every record drained anywhere is checked: its size,
 * its header, cap_len against the slots' snaplens, and its bytes against the frame that was run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* capture_abi.h (through slot.h) before the skeleton: the skeleton uses its structs. */
#include "slot.h"
#include "capture.skel.h"
#include "corpus.h"
#include "request.h"
#include "testing.h"

#ifndef EDGECAP_CORPUS_DIR
#define EDGECAP_CORPUS_DIR "../shared/corpus/tcpdump"
#endif

#define RING_BIG   (16u << 20) /* enough for every statistical test without draining */
#define RING_SMALL 4096u       /* one page: the smallest ring, filled by a few dozen records */
#define PKT_MAX	   (96u << 10) /* room for the largest frame BPF_PROG_TEST_RUN takes (~73 KB) */
#define KEEP_MAX   16	       /* records of one run kept with their bytes for inspection */
#define LO_IFINDEX 1	       /* test runs use the loopback device of the current netns */
#define XDP_LINEAR 3520	       /* test_run's linear part of an XDP frame: PAGE_SIZE - 256 - 320 */

/* Documentation addresses (RFC 5737, RFC 3849). */
#define V4_A "192.0.2.1"
#define V4_B "198.51.100.2"
#define V4_C "203.0.113.3"
#define V6_A "2001:db8:1::1"
#define V6_B "2001:db8:2::2"

/* Set while a long run has already printed enough failures: they are still counted. */
static bool quiet;

/* Like CHECK, but does not return: for helpers that go on and report a value. */
#define EXPECT(cond, ...)                                                                    \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			if (!quiet) {                                                        \
				fprintf(stderr, "%s:%d: expectation failed: %s: ", __FILE__, \
					__LINE__, #cond);                                    \
				fprintf(stderr, __VA_ARGS__);                                \
				fprintf(stderr, "\n");                                       \
			}                                                                    \
			test_failures_in_current++;                                          \
		}                                                                            \
	} while (0)

/* ---------------------------------------------------------------------------------------------
 * Frames. Builders append to a struct pkt and remember where L3 and L4 start, so a test can
 * damage one field after building a well-formed frame.
 */

struct pkt {
	size_t len;
	size_t l3;     /* offset of the outermost IP (or ARP) header */
	size_t l4;     /* offset of the header after IP and its extension headers */
	int family;    /* 4, 6 or 0 */
	uint8_t proto; /* what the builder put at l4 */
	uint8_t b[PKT_MAX];
};

static void put_bytes(struct pkt *p, const void *src, size_t n)
{
	if (p->len + n > sizeof(p->b))
		abort(); /* a test asked for a frame larger than any test run takes */
	memcpy(p->b + p->len, src, n);
	p->len += n;
}

static void put_u8(struct pkt *p, uint8_t v)
{
	put_bytes(p, &v, 1);
}

static void put_be16(struct pkt *p, uint16_t v)
{
	uint16_t be = htons(v);

	put_bytes(p, &be, 2);
}

static void put_be32(struct pkt *p, uint32_t v)
{
	uint32_t be = htonl(v);

	put_bytes(p, &be, 4);
}

static void put_zeros(struct pkt *p, size_t n)
{
	while (n--)
		put_u8(p, 0);
}

static void set_be16(struct pkt *p, size_t off, uint16_t v)
{
	p->b[off] = v >> 8;
	p->b[off + 1] = v & 0xff;
}

static uint16_t get_be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void put_addr(struct pkt *p, int family, const char *text)
{
	uint8_t a[16];

	if (inet_pton(family == 4 ? AF_INET : AF_INET6, text, a) != 1)
		abort();
	put_bytes(p, a, family == 4 ? 4 : 16);
}

/* Bytes that differ from offset to offset and from any header field a test looks for. */
static void put_payload(struct pkt *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		put_u8(p, (uint8_t)((p->len * 31 + 7) % 251));
}

/* A fresh frame: destination and source MAC, then the ethertype. */
static void build_eth(struct pkt *p, uint16_t ethertype)
{
	static const uint8_t macs[12] = { 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01 };

	memset(p, 0, offsetof(struct pkt, b));
	put_bytes(p, macs, sizeof(macs));
	put_be16(p, ethertype);
	p->l3 = p->l4 = p->len;
}

/*
 * Inserts a VLAN tag (tpid, vid) right after the MAC addresses, so the tag pushed last is the
 * outermost: push_vlan(0x8100) then push_vlan(0x88a8) gives 88a8 outer, 8100 inner.
 */
static void push_vlan(struct pkt *p, uint16_t tpid, uint16_t vid)
{
	if (p->len + 4 > sizeof(p->b))
		abort();
	memmove(p->b + 16, p->b + 12, p->len - 12);
	set_be16(p, 12, tpid);
	set_be16(p, 14, vid & 0xfff);
	p->len += 4;
	p->l3 += 4;
	p->l4 += 4;
}

/* An IPv4 header with ihl words (options are NOPs); lengths are set by fix_lengths(). */
static void put_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		     unsigned int ihl)
{
	p->l3 = p->len;
	p->family = 4;
	put_u8(p, (uint8_t)(0x40 | ihl));
	put_u8(p, 0);
	put_be16(p, 0); /* total length */
	put_be16(p, 0x1234);
	put_be16(p, 0); /* flags, fragment offset */
	put_u8(p, 64);
	put_u8(p, proto);
	put_be16(p, 0); /* checksum */
	put_addr(p, 4, src);
	put_addr(p, 4, dst);
	for (; ihl > 5; ihl--)
		put_be32(p, 0x01010101);
	p->l4 = p->len;
	p->proto = proto;
}

static void put_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t next)
{
	p->l3 = p->len;
	p->family = 6;
	put_be32(p, 0x60000000);
	put_be16(p, 0); /* payload length */
	put_u8(p, next);
	put_u8(p, 64);
	put_addr(p, 6, src);
	put_addr(p, 6, dst);
	p->l4 = p->len;
	p->proto = next;
}

/* Hop-by-hop, routing or destination options: len bytes (a multiple of 8), then next. */
static void put_ipv6_opts(struct pkt *p, uint8_t next, size_t len)
{
	put_u8(p, next);
	put_u8(p, (uint8_t)(len / 8 - 1));
	put_u8(p, 1); /* PadN over the rest */
	put_u8(p, (uint8_t)(len - 4));
	put_zeros(p, len - 4);
	p->l4 = p->len;
	p->proto = next;
}

/* A fragment header; offset in 8-byte units. */
static void put_ipv6_frag(struct pkt *p, uint8_t next, uint16_t offset, bool more)
{
	put_u8(p, next);
	put_u8(p, 0);
	put_be16(p, (uint16_t)(offset << 3 | (more ? 1 : 0)));
	put_be32(p, 0xabcd0123);
	p->l4 = p->len;
	p->proto = next;
}

/*
 * The fixed L4 header of proto: TCP 20 bytes, UDP 8, SCTP 12, anything else 8. The first four
 * bytes always hold sport and dport, so for protocols without ports (ICMP, GRE...) a parser that
 * read ports there anyway would match a port filter.
 */
static void put_l4(struct pkt *p, uint8_t proto, uint16_t sport, uint16_t dport)
{
	p->l4 = p->len;
	p->proto = proto;
	put_be16(p, sport);
	put_be16(p, dport);
	switch (proto) {
	case IPPROTO_TCP:
		put_be32(p, 1000); /* seq */
		put_be32(p, 0);	   /* ack */
		put_u8(p, 5 << 4); /* data offset */
		put_u8(p, 0x02);   /* SYN */
		put_be16(p, 65535);
		put_be32(p, 0); /* checksum, urgent */
		break;
	case IPPROTO_UDP:
		put_be16(p, 0); /* length: fix_lengths */
		put_be16(p, 0);
		break;
	case IPPROTO_SCTP:
		put_be32(p, 0x11223344); /* verification tag */
		put_be32(p, 0);
		break;
	default:
		put_be32(p, 0x00010002);
		break;
	}
}

static uint16_t ipv4_checksum(const uint8_t *h, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get_be16(h + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Makes the IP (and UDP) lengths describe exactly the bytes after them in the frame. */
static void fix_lengths(struct pkt *p)
{
	if (p->family == 4) {
		size_t hlen = (p->b[p->l3] & 0xf) * 4u;

		set_be16(p, p->l3 + 2, (uint16_t)(p->len - p->l3));
		set_be16(p, p->l3 + 10, 0);
		set_be16(p, p->l3 + 10, ipv4_checksum(p->b + p->l3, hlen));
	} else if (p->family == 6) {
		set_be16(p, p->l3 + 4, (uint16_t)(p->len - p->l3 - 40));
	}
	if (p->proto == IPPROTO_UDP && p->l4 + 8 <= p->len)
		set_be16(p, p->l4 + 4, (uint16_t)(p->len - p->l4));
}

/* Ethernet, IPv4 (ihl words), the L4 header of proto with its ports, 18 bytes of payload. */
static void build_ipv4_opts(struct pkt *p, const char *src, const char *dst, unsigned int ihl,
			    uint8_t proto, uint16_t sport, uint16_t dport)
{
	build_eth(p, ETH_P_IP);
	put_ipv4(p, src, dst, proto, ihl);
	put_l4(p, proto, sport, dport);
	put_payload(p, 18);
	fix_lengths(p);
}

static void build_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		       uint16_t sport, uint16_t dport)
{
	build_ipv4_opts(p, src, dst, 5, proto, sport, dport);
}

static void build_ipv4_udp(struct pkt *p, const char *src, const char *dst, uint16_t sport,
			   uint16_t dport)
{
	build_ipv4(p, src, dst, IPPROTO_UDP, sport, dport);
}

/*
 * Ethernet, IPv6, then the extension headers ext[0..n-1] in that order (hop-by-hop, routing and
 * destination options of 8, 16 or 24 bytes; fragment headers as first fragments), then proto.
 */
static void build_ipv6_with_ext(struct pkt *p, const char *src, const char *dst, const uint8_t *ext,
				unsigned int n, uint8_t proto, uint16_t sport, uint16_t dport)
{
	unsigned int i;

	build_eth(p, ETH_P_IPV6);
	put_ipv6(p, src, dst, n ? ext[0] : proto);
	for (i = 0; i < n; i++) {
		uint8_t next = i + 1 < n ? ext[i + 1] : proto;

		if (ext[i] == IPPROTO_FRAGMENT)
			put_ipv6_frag(p, next, 0, true);
		else
			put_ipv6_opts(p, next, 8 * (1 + i % 3));
	}
	put_l4(p, proto, sport, dport);
	put_payload(p, 18);
	fix_lengths(p);
}

static void build_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		       uint16_t sport, uint16_t dport)
{
	build_ipv6_with_ext(p, src, dst, NULL, 0, proto, sport, dport);
}

/* An ARP request from sender asking for target: non-IP, though it carries IPv4 addresses. */
static void build_arp(struct pkt *p, const char *sender, const char *target)
{
	build_eth(p, ETH_P_ARP);
	put_be16(p, 1);
	put_be16(p, ETH_P_IP);
	put_u8(p, 6);
	put_u8(p, 4);
	put_be16(p, 1);
	put_bytes(p, "\x02\x00\x00\x00\x00\x01", 6);
	put_addr(p, 4, sender);
	put_zeros(p, 6);
	put_addr(p, 4, target);
	put_zeros(p, 18); /* padding to the 60-byte minimum */
}

/* n bytes from a fixed pseudo-random sequence: not any protocol. */
static void build_garbage(struct pkt *p, size_t n, uint32_t seed)
{
	memset(p, 0, offsetof(struct pkt, b));
	while (n--) {
		seed = seed * 1103515245u + 12345u;
		put_u8(p, (uint8_t)(seed >> 16));
	}
}

/* Ethernet, IPv4 GRE (47) carrying an inner IPv4 frame. */
static void build_gre_ipv4(struct pkt *p, const char *osrc, const char *odst, const char *isrc,
			   const char *idst, uint8_t iproto, uint16_t sport, uint16_t dport)
{
	size_t inner;

	build_eth(p, ETH_P_IP);
	put_ipv4(p, osrc, odst, IPPROTO_GRE, 5);
	put_be16(p, 0);	       /* GRE flags, version */
	put_be16(p, ETH_P_IP); /* GRE protocol */
	inner = p->len;
	put_ipv4(p, isrc, idst, iproto, 5);
	put_l4(p, iproto, sport, dport);
	put_payload(p, 18);
	set_be16(p, inner + 2, (uint16_t)(p->len - inner));
	if (iproto == IPPROTO_UDP)
		set_be16(p, p->l4 + 4, (uint16_t)(p->len - p->l4));
	/* What the outer IPv4 header carries. */
	p->l3 = 14;
	p->l4 = 14 + 20;
	p->proto = IPPROTO_GRE;
	fix_lengths(p);
}

/* ---------------------------------------------------------------------------------------------
 * Filters, built from the API's model (struct req_filter) and compiled by filter_compile().
 */

/* "192.0.2.0/24", "192.0.2.1", "2001:db8::/32" or "2001:db8::1". */
static struct req_prefix prefix(const char *text)
{
	struct req_prefix p = { 0 };
	char buf[64];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = 4;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = 6;
	else
		abort();
	p.len = (uint8_t)(slash ? atoi(slash + 1) : (p.family == 4 ? 32 : 128));
	return p;
}

static struct req_filter filter_src(const char *text)
{
	return (struct req_filter){ .fields = EC_F_SRC_ADDR, .src = prefix(text) };
}

static struct req_filter filter_dst(const char *text)
{
	return (struct req_filter){ .fields = EC_F_DST_ADDR, .dst = prefix(text) };
}

static struct req_filter filter_proto(uint8_t proto)
{
	return (struct req_filter){ .fields = EC_F_PROTOCOL, .protocol = proto };
}

static struct req_filter filter_sport(uint16_t port)
{
	return (struct req_filter){ .fields = EC_F_SRC_PORT, .src_port = port };
}

static struct req_filter filter_dport(uint16_t port)
{
	return (struct req_filter){ .fields = EC_F_DST_PORT, .dst_port = port };
}

static const struct req_filter filter_empty;

static const char *filter_desc(const struct req_filter *f)
{
	static char buf[256];
	char a[INET6_ADDRSTRLEN];
	size_t n = 0;

	buf[0] = 0;
	if (!f->fields)
		return "{} (empty)";
	if (f->fields & EC_F_SRC_ADDR) {
		inet_ntop(f->src.family == 4 ? AF_INET : AF_INET6, f->src.addr, a, sizeof(a));
		n += snprintf(buf + n, sizeof(buf) - n, "src %s/%u ", a, f->src.len);
	}
	if (f->fields & EC_F_DST_ADDR) {
		inet_ntop(f->dst.family == 4 ? AF_INET : AF_INET6, f->dst.addr, a, sizeof(a));
		n += snprintf(buf + n, sizeof(buf) - n, "dst %s/%u ", a, f->dst.len);
	}
	if (f->fields & EC_F_PROTOCOL)
		n += snprintf(buf + n, sizeof(buf) - n, "proto %u ", f->protocol);
	if (f->fields & EC_F_SRC_PORT)
		n += snprintf(buf + n, sizeof(buf) - n, "sport %u ", f->src_port);
	if (f->fields & EC_F_DST_PORT)
		snprintf(buf + n, sizeof(buf) - n, "dport %u ", f->dst_port);
	return buf;
}

/* A slot that keeps every match of f, snaplen bytes each, with no limit or deadline. */
static struct ec_slot_config slot_config(const struct req_filter *f, uint32_t snaplen)
{
	struct ec_slot_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	filter_compile(f, &cfg.filter);
	cfg.sample_rate = 1;
	cfg.snaplen = snaplen;
	return cfg;
}

static uint64_t tai_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_TAI, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------
 * One loaded object, its ring buffer, and what the tests learned from it.
 */

struct kept_rec {
	struct ec_record hdr;
	uint8_t *data; /* cap_len bytes */
};

struct env {
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	int prog_fd;
	enum ec_hook hook;
	/* XDP runs arrive on this device and rx queue (tc runs always on lo, queue 0). */
	uint32_t ifindex, rx_queue;
	bool hold; /* leave the records of a run in the ring */
	struct ec_slot_config cfg[EC_MAX_SLOTS];
	struct ec_slot_counters base[EC_MAX_SLOTS];
	uint32_t started; /* slots started at least once */
	/* The frame of the current run: every record drained must carry its leading bytes. */
	const uint8_t *frame;
	size_t frame_len;
	/* Records drained since the current run began; the first KEEP_MAX kept whole. */
	size_t nrec;
	struct kept_rec kept[KEEP_MAX];
	/* Every record drained since each slot last started, and its bytes at that slot's snaplen.
	 */
	uint64_t slot_records[EC_MAX_SLOTS], slot_bytes[EC_MAX_SLOTS];
	unsigned int bad_records;
};

/* The four-queue veth some test runs arrive on (netns_private); 0 if it could not be made. */
static uint32_t veth_ifindex;

/* Open environments, closed by the runner after each test even if a check returned early. */
static struct env *open_envs[4];

static int libbpf_print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void env_forget_records(struct env *e)
{
	size_t i;

	for (i = 0; i < e->nrec && i < KEEP_MAX; i++)
		free(e->kept[i].data);
	e->nrec = 0;
}

static uint32_t expected_cap(const struct env *e, uint32_t mask, uint32_t orig_len)
{
	uint32_t cap = 0, i, c;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (!(mask & (1u << i)))
			continue;
		c = orig_len < e->cfg[i].snaplen ? orig_len : e->cfg[i].snaplen;
		if (c > cap)
			cap = c;
	}
	return cap;
}

/* Checks one record against the run that produced it, and tallies it per slot. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct env *e = ctx;
	const struct ec_record *r = data;
	const uint8_t *bytes = (const uint8_t *)(r + 1);
	uint32_t i, slot_cap;
	int bad = 0;

	/* A record fills its whole size class: nothing wasted beyond the class, nothing cut. */
	if (size < sizeof(*r) || size != sizeof(*r) + ec_record_room(r->cap_len)) {
		if (!quiet)
			fprintf(stderr, "record of %zu bytes for cap_len %u\n", size,
				size >= sizeof(*r) ? r->cap_len : 0);
		e->bad_records++;
		return 0;
	}
	if (r->orig_len != e->frame_len || r->ifindex != e->ifindex || r->rx_queue != e->rx_queue ||
	    r->hook != e->hook || r->pad0 || r->pad1 || !r->slot_mask ||
	    (r->slot_mask & ~e->started) ||
	    r->cap_len != expected_cap(e, r->slot_mask, r->orig_len)) {
		if (!quiet)
			fprintf(stderr,
				"bad record header: orig_len %u (frame %zu) ifindex %u (want %u) "
				"rx_queue %u (want %u) hook %u (want %u) pad %u/%u slot_mask 0x%x "
				"cap_len %u (want %u)\n",
				r->orig_len, e->frame_len, r->ifindex, e->ifindex, r->rx_queue,
				e->rx_queue, r->hook, e->hook, r->pad0, r->pad1, r->slot_mask,
				r->cap_len, expected_cap(e, r->slot_mask, r->orig_len));
		bad = 1;
	} else if (memcmp(bytes, e->frame, r->cap_len)) {
		if (!quiet)
			fprintf(stderr, "record bytes differ from the frame's first %u bytes\n",
				r->cap_len);
		bad = 1;
	}
	e->bad_records += bad;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (!(r->slot_mask & (1u << i)))
			continue;
		slot_cap = r->orig_len < e->cfg[i].snaplen ? r->orig_len : e->cfg[i].snaplen;
		e->slot_records[i]++;
		e->slot_bytes[i] += slot_cap;
	}
	if (e->nrec < KEEP_MAX) {
		e->kept[e->nrec].hdr = *r;
		e->kept[e->nrec].data = malloc(r->cap_len ? r->cap_len : 1);
		if (e->kept[e->nrec].data)
			memcpy(e->kept[e->nrec].data, bytes, r->cap_len);
	}
	e->nrec++;
	return 0;
}

static void env_close(struct env *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < sizeof(open_envs) / sizeof(open_envs[0]); i++) {
		if (open_envs[i] == e)
			open_envs[i] = NULL;
	}
	env_forget_records(e);
	ring_buffer__free(e->rb);
	capture_bpf__destroy(e->skel);
	free(e);
}

static void envs_close_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(open_envs) / sizeof(open_envs[0]); i++)
		env_close(open_envs[i]);
}

/*
 * Loads the object for hook (XDP, or tc with the XDP program not loaded) with a ring of
 * ring_bytes, the way the agent does: hook and wake-up mark set in rodata.
 */
static struct env *env_open_opts(enum ec_hook hook, uint32_t ring_bytes, uint64_t wakeup_bytes)
{
	struct env *e = calloc(1, sizeof(*e));
	int err;
	size_t i;

	EXPECT(e != NULL, "out of memory");
	if (!e)
		return NULL;
	for (i = 0; i < sizeof(open_envs) / sizeof(open_envs[0]); i++) {
		if (!open_envs[i]) {
			open_envs[i] = e;
			break;
		}
	}
	e->hook = hook;
	e->ifindex = LO_IFINDEX;
	e->skel = capture_bpf__open();
	EXPECT(e->skel != NULL, "capture_bpf__open: %s", strerror(errno));
	if (!e->skel)
		goto fail;
	bpf_map__set_max_entries(e->skel->maps.ec_records, ring_bytes);
	e->skel->rodata->ec_hook = (uint8_t)hook;
	e->skel->rodata->ec_wakeup_bytes = wakeup_bytes;
	bpf_program__set_autoload(e->skel->progs.edgecap_xdp, hook == EC_HOOK_XDP);
	bpf_program__set_autoload(e->skel->progs.edgecap_tc, hook != EC_HOOK_XDP);
	err = capture_bpf__load(e->skel);
	EXPECT(err == 0, "capture_bpf__load (%s): %s", hook == EC_HOOK_XDP ? "xdp" : "tc",
	       strerror(-err));
	if (err)
		goto fail;
	e->prog_fd = bpf_program__fd(hook == EC_HOOK_XDP ? e->skel->progs.edgecap_xdp
							 : e->skel->progs.edgecap_tc);
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.ec_records), on_record, e, NULL);
	EXPECT(e->rb != NULL, "ring_buffer__new: %s", strerror(errno));
	if (!e->rb)
		goto fail;
	return e;
fail:
	env_close(e);
	return NULL;
}

static struct env *env_open_ring(enum ec_hook hook, uint32_t ring_bytes)
{
	return env_open_opts(hook, ring_bytes, 0);
}

static struct env *env_open(enum ec_hook hook)
{
	return env_open_ring(hook, RING_BIG);
}

static void env_drain(struct env *e)
{
	int n = ring_buffer__consume(e->rb);

	EXPECT(n >= 0, "ring_buffer__consume: %s", strerror(-n));
}

/* Starts slot with cfg (stopping it first if live); its counters and tallies start at zero. */
static int env_start(struct env *e, unsigned int slot, const struct ec_slot_config *cfg)
{
	int err;

	slot_stop(e->skel, slot);
	env_drain(e);
	e->cfg[slot] = *cfg;
	e->started |= 1u << slot;
	e->slot_records[slot] = 0;
	e->slot_bytes[slot] = 0;
	err = slot_start(e->skel, slot, cfg, &e->base[slot]);
	EXPECT(err == 0, "slot_start(%u): %s", slot, strerror(-err));
	return err;
}

static int env_start_filter(struct env *e, unsigned int slot, const struct req_filter *f,
			    uint32_t snaplen)
{
	struct ec_slot_config cfg = slot_config(f, snaplen);

	return env_start(e, slot, &cfg);
}

static struct ec_slot_counters env_counters(struct env *e, unsigned int slot)
{
	struct ec_slot_counters c;
	int err;

	memset(&c, 0, sizeof(c));
	err = slot_counters(e->skel, slot, &e->base[slot], &c);
	EXPECT(err == 0, "slot_counters(%u): %s", slot, strerror(-err));
	return c;
}

/*
 * Runs frame repeat times through the program (XDP: arriving on e->ifindex, queue e->rx_queue;
 * tc: on lo). Checks the verdict (XDP_PASS, or TCX_NEXT at tc) and that the bytes handed on are the
 * bytes given, then drains the ring (checking every record, see on_record). Returns 0 or the run's
 * -errno.
 */
static int run_frame(struct env *e, const uint8_t *frame, size_t len, uint32_t repeat)
{
	static uint8_t out[PKT_MAX + 4096];
	struct xdp_md xctx = {
		.data_end = (uint32_t)len,
		.ingress_ifindex = e->ifindex,
		.rx_queue_index = e->rx_queue,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);
	int err;

	if (e->hook == EC_HOOK_XDP) {
		opts.ctx_in = &xctx;
		opts.ctx_size_in = sizeof(xctx);
	}
	env_forget_records(e);
	e->frame = frame;
	e->frame_len = len;
	err = bpf_prog_test_run_opts(e->prog_fd, &opts);
	if (err)
		return err < 0 ? err : -errno;
	if (e->hook == EC_HOOK_XDP)
		EXPECT(opts.retval == XDP_PASS, "XDP verdict %u, want XDP_PASS (%u)", opts.retval,
		       XDP_PASS);
	else
		EXPECT((int)opts.retval == -1, "tc verdict %d, want TCX_NEXT (-1)",
		       (int)opts.retval);
	EXPECT(opts.data_size_out == len, "%u bytes handed on, %zu given", opts.data_size_out, len);
	EXPECT(opts.data_size_out != len || !memcmp(out, frame, len),
	       "the program changed the frame's bytes");
	if (!e->hold)
		env_drain(e);
	return 0;
}

static int run(struct env *e, const struct pkt *p, uint32_t repeat)
{
	int err = run_frame(e, p->b, p->len, repeat);

	EXPECT(err == 0, "BPF_PROG_TEST_RUN of a %zu-byte frame: %s", p->len, strerror(-err));
	return err;
}

/*
 * The counter identity, for every slot this test started: matched == sampled_out +
 * budget_exhausted + ring_full + submitted; and submitted and bytes agree with the records the
 * ring actually held for that slot. Drains first.
 */
static void assert_identity(struct env *e)
{
	struct ec_slot_counters c;
	unsigned int i;

	env_drain(e);
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (!(e->started & (1u << i)))
			continue;
		c = env_counters(e, i);
		CHECK(c.matched == c.sampled_out + c.budget_exhausted + c.ring_full + c.submitted,
		      "slot %u: matched %llu != sampled_out %llu + budget_exhausted %llu + "
		      "ring_full %llu + submitted %llu",
		      i, c.matched, c.sampled_out, c.budget_exhausted, c.ring_full, c.submitted);
		CHECK(c.matched <= c.seen, "slot %u: matched %llu > seen %llu", i, c.matched,
		      c.seen);
		CHECK_EQ_U64(c.submitted, e->slot_records[i], "submitted vs records in the ring");
		CHECK_EQ_U64(c.bytes, e->slot_bytes[i], "bytes vs the records' bytes at snaplen");
	}
	CHECK(e->bad_records == 0, "%u records did not match their frame or slots", e->bad_records);
}

/*
 * Whether a slot filtering with f selects p: slot 0 alone, one run. Also checks that the run
 * was counted consistently (seen 1, one record exactly when matched). -1 on error.
 */
static int selects(struct env *e, const struct req_filter *f, const struct pkt *p)
{
	struct ec_slot_counters c;
	int fails = test_failures_in_current;

	if (env_start_filter(e, 0, f, EC_MAX_CAPLEN) || run(e, p, 1))
		return -1;
	c = env_counters(e, 0);
	EXPECT(c.seen == 1, "seen %llu after one run", c.seen);
	EXPECT(c.matched <= 1 && c.submitted == c.matched && e->nrec == c.matched,
	       "one run: matched %llu submitted %llu records %zu", c.matched, c.submitted, e->nrec);
	EXPECT(e->nrec == 0 || e->kept[0].hdr.slot_mask == 1, "slot_mask 0x%x, want 0x1",
	       e->kept[0].hdr.slot_mask);
	assert_identity(e);
	if (test_failures_in_current != fails)
		return -1;
	return (int)c.matched;
}

#define EXPECT_SELECTS(e, f, p, what)                                                  \
	do {                                                                           \
		struct req_filter f_ = (f);                                            \
		CHECK(selects(e, &f_, p) == 1, "%s: filter %s should select it", what, \
		      filter_desc(&f_));                                               \
	} while (0)

#define EXPECT_SKIPS(e, f, p, what)                                                        \
	do {                                                                               \
		struct req_filter f_ = (f);                                                \
		CHECK(selects(e, &f_, p) == 0, "%s: filter %s should not select it", what, \
		      filter_desc(&f_));                                                   \
	} while (0)

/*
 * What filter_v1 should see in a frame. src/dst NULL: no well-formed IP header. proto -1:
 * protocol unknown. ports false: no complete port pair, though sport/dport are what lies in the
 * frame where ports would be, and must not match.
 */
struct sees {
	const char *src, *dst;
	int proto;
	bool ports;
	uint16_t sport, dport;
};

/* Checks every filter field against p, positive and negative, as s describes. */
static void expect_sees(struct env *e, const struct pkt *p, const struct sees *s, const char *what)
{
	int family = s->src ? (strchr(s->src, ':') ? 6 : 4) : 0;
	const char *any4 = "0.0.0.0/0", *any6 = "::/0";
	unsigned int proto;

	EXPECT_SELECTS(e, filter_empty, p, what);
	if (family) {
		EXPECT_SELECTS(e, filter_src(s->src), p, what);
		EXPECT_SELECTS(e, filter_dst(s->dst), p, what);
		EXPECT_SKIPS(e, filter_src(s->dst), p, what);
		EXPECT_SKIPS(e, filter_dst(s->src), p, what);
		EXPECT_SELECTS(e, filter_src(family == 4 ? any4 : any6), p, what);
		EXPECT_SKIPS(e, filter_src(family == 4 ? any6 : any4), p, what);
		EXPECT_SKIPS(e, filter_dst(family == 4 ? any6 : any4), p, what);
	} else {
		EXPECT_SKIPS(e, filter_src(any4), p, what);
		EXPECT_SKIPS(e, filter_src(any6), p, what);
		EXPECT_SKIPS(e, filter_dst(any4), p, what);
		EXPECT_SKIPS(e, filter_dst(any6), p, what);
	}
	for (proto = 0; proto < 256; proto++) {
		if ((int)proto == s->proto)
			EXPECT_SELECTS(e, filter_proto((uint8_t)proto), p, what);
		else
			EXPECT_SKIPS(e, filter_proto((uint8_t)proto), p, what);
	}
	if (s->ports) {
		EXPECT_SELECTS(e, filter_sport(s->sport), p, what);
		EXPECT_SELECTS(e, filter_dport(s->dport), p, what);
		EXPECT_SKIPS(e, filter_sport((uint16_t)(s->sport + 1)), p, what);
		EXPECT_SKIPS(e, filter_dport((uint16_t)(s->dport + 1)), p, what);
	} else {
		EXPECT_SKIPS(e, filter_sport(s->sport), p, what);
		EXPECT_SKIPS(e, filter_dport(s->dport), p, what);
	}
}

/* A frame only the empty filter selects; sport/dport are what lies where ports would be. */
static void expect_only_empty(struct env *e, const struct pkt *p, uint16_t sport, uint16_t dport,
			      const char *what)
{
	struct sees s = { .proto = -1, .sport = sport, .dport = dport };

	expect_sees(e, p, &s, what);
}

/* ---------------------------------------------------------------------------------------------
 * Loading.
 */

static void test_object_loads_both_programs(void)
{
	struct capture_bpf *skel = capture_bpf__open();
	int err;

	CHECK(skel != NULL, "capture_bpf__open: %s", strerror(errno));
	err = capture_bpf__load(skel);
	if (err)
		capture_bpf__destroy(skel);
	CHECK(err == 0, "both programs should pass the verifier: %s", strerror(-err));
	/* Frags support itself is exercised by test_record_multi_buffer. */
	err = bpf_program__type(skel->progs.edgecap_xdp) == BPF_PROG_TYPE_XDP &&
	      !strcmp(bpf_program__section_name(skel->progs.edgecap_xdp), "xdp.frags") &&
	      bpf_program__type(skel->progs.edgecap_tc) == BPF_PROG_TYPE_SCHED_CLS;
	capture_bpf__destroy(skel);
	CHECK(err, "want edgecap_xdp an XDP program in xdp.frags, edgecap_tc SCHED_CLS");
}

/* ---------------------------------------------------------------------------------------------
 * filter_v1 fields.
 */

static void test_filter_empty_matches_everything(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt *p = malloc(sizeof(*p));

	CHECK(e && p, "set-up");
	build_ipv4_udp(p, V4_A, V4_B, 1000, 53);
	EXPECT_SELECTS(e, filter_empty, p, "IPv4 UDP");
	build_ipv6(p, V6_A, V6_B, IPPROTO_TCP, 40000, 443);
	EXPECT_SELECTS(e, filter_empty, p, "IPv6 TCP");
	build_arp(p, V4_A, V4_B);
	EXPECT_SELECTS(e, filter_empty, p, "ARP");
	build_garbage(p, 60, 1);
	EXPECT_SELECTS(e, filter_empty, p, "60 random bytes");
	build_garbage(p, 14, 2);
	EXPECT_SELECTS(e, filter_empty, p, "14 random bytes");
	build_eth(p, ETH_P_IP);
	EXPECT_SELECTS(e, filter_empty, p, "an IPv4 ethertype with nothing after it");
	free(p);
}

static void test_filter_ipv4_address_exact(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	EXPECT_SELECTS(e, filter_src(V4_A), &p, "source address");
	EXPECT_SELECTS(e, filter_dst(V4_B), &p, "destination address");
	EXPECT_SKIPS(e, filter_src(V4_B), &p, "source filter given the destination address");
	EXPECT_SKIPS(e, filter_dst(V4_A), &p, "destination filter given the source address");
	EXPECT_SKIPS(e, filter_src("192.0.2.2"), &p, "source differing in the last bit");
	EXPECT_SKIPS(e, filter_src("193.0.2.1"), &p, "source differing in the first byte");
	EXPECT_SKIPS(e, filter_dst("198.51.100.3"), &p, "destination differing in the last byte");
	EXPECT_SKIPS(e, filter_dst(V4_C), &p, "another destination");
}

static void test_filter_ipv4_address_cidr(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, "192.0.2.77", "10.20.30.40", 1000, 53);
	EXPECT_SELECTS(e, filter_src("192.0.2.0/24"), &p, "source in /24");
	EXPECT_SELECTS(e, filter_dst("10.0.0.0/8"), &p, "destination in /8");
	EXPECT_SELECTS(e, filter_dst("10.20.28.0/22"), &p, "destination in /22");
	EXPECT_SELECTS(e, filter_src("192.0.2.64/26"), &p, "source in /26");
	EXPECT_SELECTS(e, filter_src("192.0.2.76/31"), &p, "source in /31");
	EXPECT_SELECTS(e, filter_src("0.0.0.0/0"), &p, "source in /0");
	EXPECT_SKIPS(e, filter_src("192.0.3.0/24"), &p, "source outside /24");
	EXPECT_SKIPS(e, filter_src("192.0.2.0/26"), &p, "source just below /26");
	EXPECT_SKIPS(e, filter_src("192.0.2.128/25"), &p, "source below the upper /25");
	EXPECT_SKIPS(e, filter_src("192.0.2.78/31"), &p, "source just below /31");
	EXPECT_SKIPS(e, filter_dst("10.20.32.0/22"), &p, "destination just below /22");
	EXPECT_SKIPS(e, filter_dst("11.0.0.0/8"), &p, "destination outside /8");
	EXPECT_SKIPS(e, filter_dst("192.0.2.0/24"), &p,
		     "destination filter given the source's /24");
}

static void test_filter_ipv6_address_exact(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, filter_src(V6_A), &p, "source address");
	EXPECT_SELECTS(e, filter_dst(V6_B), &p, "destination address");
	EXPECT_SKIPS(e, filter_src(V6_B), &p, "source filter given the destination address");
	EXPECT_SKIPS(e, filter_dst(V6_A), &p, "destination filter given the source address");
	/* One differing bit in each of the four 32-bit words the kernel compares. */
	EXPECT_SKIPS(e, filter_src("2001:db9:1::1"), &p, "source differing in word 0");
	EXPECT_SKIPS(e, filter_src("2001:db8:1:1::1"), &p, "source differing in word 1");
	EXPECT_SKIPS(e, filter_src("2001:db8:1:0:1::1"), &p, "source differing in word 2");
	EXPECT_SKIPS(e, filter_src("2001:db8:1::3"), &p, "source differing in word 3");
	EXPECT_SKIPS(e, filter_dst("2001:db8:2::2:2"), &p, "destination differing in word 3");
}

static void test_filter_ipv6_address_prefix(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6(&p, "2001:db8:1234:5678:9abc:def0:1234:5678", "fe80::1", IPPROTO_TCP, 1, 2);
	EXPECT_SELECTS(e, filter_src("2001:db8::/32"), &p, "source in /32");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234::/48"), &p, "source in /48");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5678::/64"), &p, "source in /64");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5600::/56"), &p, "source in /56");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5678:9abc:def0:1234:5600/120"), &p,
		       "source in /120");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5678:8000::/65"), &p, "source in /65");
	EXPECT_SELECTS(e, filter_src("::/0"), &p, "source in ::/0");
	EXPECT_SELECTS(e, filter_dst("fe80::/10"), &p, "destination in fe80::/10");
	EXPECT_SKIPS(e, filter_src("2001:db9::/32"), &p, "source outside /32");
	EXPECT_SKIPS(e, filter_src("2001:db8:1235::/48"), &p, "source outside /48");
	EXPECT_SKIPS(e, filter_src("2001:db8:1234:5679::/64"), &p, "source outside /64");
	EXPECT_SKIPS(e, filter_src("2001:db8:1234:5678::/65"), &p, "source below /65");
	EXPECT_SKIPS(e, filter_src("2001:db8:1234:5678:9abc:def0:1234:5700/120"), &p,
		     "source outside /120");
	EXPECT_SKIPS(e, filter_dst("fec0::/10"), &p, "destination outside fe80::/10");
}

static void test_filter_address_family_never_crosses(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p4, p6;

	CHECK(e, "set-up");
	build_ipv4_udp(&p4, V4_A, V4_B, 1000, 53);
	build_ipv6(&p6, "::ffff:192.0.2.1", "::ffff:198.51.100.2", IPPROTO_UDP, 1000, 53);
	EXPECT_SKIPS(e, filter_src("0.0.0.0/0"), &p6, "IPv4 /0 on IPv6");
	EXPECT_SKIPS(e, filter_dst("0.0.0.0/0"), &p6, "IPv4 /0 on IPv6");
	EXPECT_SKIPS(e, filter_src(V4_A), &p6, "IPv4 address on its IPv4-mapped IPv6 form");
	EXPECT_SKIPS(e, filter_src("::/0"), &p4, "IPv6 ::/0 on IPv4");
	EXPECT_SKIPS(e, filter_dst("::/0"), &p4, "IPv6 ::/0 on IPv4");
	EXPECT_SKIPS(e, filter_src("::ffff:192.0.2.1"), &p4, "IPv4-mapped IPv6 address on IPv4");
	/* An IPv6 address whose first word equals the IPv4 packet's address. */
	EXPECT_SKIPS(e, filter_src("c000:201::/32"), &p4, "IPv6 prefix with the IPv4 bits");
}

static void test_filter_protocol_ipv4(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_UDP), &p, "UDP");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_TCP), &p, "UDP packet, TCP filter");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1000, 80);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_TCP), &p, "TCP");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_UDP), &p, "TCP packet, UDP filter");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_ICMP, 0x0800, 0);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_ICMP), &p, "ICMP");
	build_ipv4(&p, V4_A, V4_B, 0, 1, 2);
	EXPECT_SELECTS(e, filter_proto(0), &p, "protocol 0");
	EXPECT_SKIPS(e, filter_proto(255), &p, "protocol 0 packet, 255 filter");
	build_ipv4(&p, V4_A, V4_B, 255, 1, 2);
	EXPECT_SELECTS(e, filter_proto(255), &p, "protocol 255");
	build_arp(&p, V4_A, V4_B);
	EXPECT_SKIPS(e, filter_proto(0), &p, "ARP, protocol 0 filter");
}

static void test_filter_protocol_ipv6_after_ext_headers(void)
{
	static const uint8_t ext[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
				       IPPROTO_DSTOPTS };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_ICMPV6, 0x8000, 0);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_ICMPV6), &p, "ICMPv6, no extension header");
	build_ipv6_with_ext(&p, V6_A, V6_B, ext, 4, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_UDP), &p, "UDP after HBH, RH, FH, DO");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_HOPOPTS), &p, "the first next-header (0)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_ROUTING), &p, "an extension header (43)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_FRAGMENT), &p, "an extension header (44)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_DSTOPTS), &p, "the last extension header (60)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_TCP), &p, "another upper layer");
}

static void expect_ports(struct env *e, const struct pkt *p, const char *what)
{
	EXPECT_SELECTS(e, filter_sport(1111), p, what);
	EXPECT_SELECTS(e, filter_dport(2222), p, what);
	EXPECT_SKIPS(e, filter_sport(2222), p, what);
	EXPECT_SKIPS(e, filter_dport(1111), p, what);
	EXPECT_SKIPS(e, filter_sport(1112), p, what);
	EXPECT_SKIPS(e, filter_dport(2223), p, what);
	EXPECT_SKIPS(e, filter_sport(0x5704), p, what); /* 1111 byte-swapped */
	EXPECT_SKIPS(e, filter_dport(0xae08), p, what); /* 2222 byte-swapped */
}

static void test_filter_ports_tcp_udp_sctp(void)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(protos); i++) {
		snprintf(what, sizeof(what), "IPv4 protocol %u", protos[i]);
		build_ipv4(&p, V4_A, V4_B, protos[i], 1111, 2222);
		expect_ports(e, &p, what);
		snprintf(what, sizeof(what), "IPv6 protocol %u", protos[i]);
		build_ipv6(&p, V6_A, V6_B, protos[i], 1111, 2222);
		expect_ports(e, &p, what);
	}
	build_ipv4(&p, V4_A, V4_B, IPPROTO_UDP, 0, 65535);
	EXPECT_SELECTS(e, filter_sport(0), &p, "source port 0");
	EXPECT_SELECTS(e, filter_dport(65535), &p, "destination port 65535");
}

static void test_filter_ports_never_match_without_ports(void)
{
	/* Protocols whose first four L4 bytes hold 1111, 2222 but that carry no ports. */
	static const uint8_t protos[] = { IPPROTO_ICMP, IPPROTO_GRE, 0, IPPROTO_ESP,
					  136 /* UDP-Lite */ };
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(protos); i++) {
		snprintf(what, sizeof(what), "IPv4 protocol %u", protos[i]);
		build_ipv4(&p, V4_A, V4_B, protos[i], 1111, 2222);
		EXPECT_SELECTS(e, filter_proto(protos[i]), &p, what);
		EXPECT_SKIPS(e, filter_sport(1111), &p, what);
		EXPECT_SKIPS(e, filter_dport(2222), &p, what);
	}
	build_ipv6(&p, V6_A, V6_B, IPPROTO_ICMPV6, 1111, 2222);
	EXPECT_SKIPS(e, filter_sport(1111), &p, "ICMPv6");
	EXPECT_SKIPS(e, filter_dport(2222), &p, "ICMPv6");
}

static void test_filter_combined_fields_all_must_match(void)
{
	struct req_filter all = {
		.fields = EC_F_SRC_ADDR | EC_F_DST_ADDR | EC_F_PROTOCOL | EC_F_SRC_PORT |
			  EC_F_DST_PORT,
		.src = prefix("192.0.2.0/24"),
		.dst = prefix(V4_B),
		.protocol = IPPROTO_TCP,
		.src_port = 1111,
		.dst_port = 2222,
	};
	struct req_filter f;
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1111, 2222);
	EXPECT_SELECTS(e, all, &p, "every field matches");
	build_ipv4(&p, V4_C, V4_B, IPPROTO_TCP, 1111, 2222);
	EXPECT_SKIPS(e, all, &p, "only the source address differs");
	build_ipv4(&p, V4_A, V4_C, IPPROTO_TCP, 1111, 2222);
	EXPECT_SKIPS(e, all, &p, "only the destination address differs");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_UDP, 1111, 2222);
	EXPECT_SKIPS(e, all, &p, "only the protocol differs");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1112, 2222);
	EXPECT_SKIPS(e, all, &p, "only the source port differs");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1111, 2223);
	EXPECT_SKIPS(e, all, &p, "only the destination port differs");

	f = (struct req_filter){ .fields = EC_F_PROTOCOL | EC_F_DST_PORT,
				 .protocol = IPPROTO_UDP,
				 .dst_port = 53 };
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, f, &p, "IPv6 UDP to 53, protocol and port");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1000, 53);
	EXPECT_SKIPS(e, f, &p, "IPv6 TCP to 53, protocol differs");
	f.fields |= EC_F_SRC_ADDR;
	f.src = prefix("2001:db8::/32");
	EXPECT_SKIPS(e, f, &p, "IPv6 TCP to 53 with a matching source");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, f, &p, "IPv6 UDP to 53 from 2001:db8::/32");
}

/* ---------------------------------------------------------------------------------------------
 * Header variants: where the parser must find (or must refuse to find) each field.
 */

static const struct sees sees_v4_udp = { V4_A, V4_B, IPPROTO_UDP, true, 1111, 2222 };
static const struct sees sees_v6_tcp = { V6_A, V6_B, IPPROTO_TCP, true, 1111, 2222 };

static void test_plain_ethernet_sees_every_field(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	expect_sees(e, &p, &sees_v4_udp, "untagged IPv4 UDP");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1111, 2222);
	expect_sees(e, &p, &sees_v6_tcp, "untagged IPv6 TCP");
}

static void test_vlan_one_and_two_tags(void)
{
	static const uint16_t tags[][2] = {
		{ 0x8100, 0 },	    /* single 802.1Q */
		{ 0x88a8, 0 },	    /* single 802.1ad */
		{ 0x8100, 0x88a8 }, /* QinQ: 88a8 outer, 8100 inner */
		{ 0x8100, 0x8100 }, /* double 802.1Q */
		{ 0x88a8, 0x8100 }, /* 8100 outer, 88a8 inner */
	};
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		/* Tags are pushed inner first. */
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		push_vlan(&p, tags[i][0], 100);
		if (tags[i][1])
			push_vlan(&p, tags[i][1], 200);
		snprintf(what, sizeof(what), "IPv4 in tags outer 0x%04x inner 0x%04x",
			 get_be16(p.b + 12), tags[i][1] ? get_be16(p.b + 16) : 0);
		expect_sees(e, &p, &sees_v4_udp, what);

		build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1111, 2222);
		push_vlan(&p, tags[i][0], 100);
		if (tags[i][1])
			push_vlan(&p, tags[i][1], 200);
		snprintf(what, sizeof(what), "IPv6 in tags outer 0x%04x", get_be16(p.b + 12));
		expect_sees(e, &p, &sees_v6_tcp, what);
	}
}

static void test_vlan_three_tags_not_parsed(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	push_vlan(&p, 0x8100, 1);
	push_vlan(&p, 0x8100, 2);
	push_vlan(&p, 0x88a8, 3);
	expect_only_empty(e, &p, 1111, 2222, "IPv4 under three tags");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1111, 2222);
	push_vlan(&p, 0x8100, 1);
	push_vlan(&p, 0x88a8, 2);
	push_vlan(&p, 0x8100, 3);
	expect_only_empty(e, &p, 1111, 2222, "IPv6 under three tags");
}

static void test_vlan_truncated_tag(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_eth(&p, 0x8100);
	put_be16(&p, 100); /* TCI, but no inner ethertype */
	EXPECT_SELECTS(e, filter_empty, &p, "a 16-byte frame ending inside a VLAN tag");
	EXPECT_SKIPS(e, filter_src("0.0.0.0/0"), &p, "a frame ending inside a VLAN tag");
}

static void test_ipv4_options(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	unsigned int ihl;

	CHECK(e, "set-up");
	for (ihl = 6; ihl <= 15; ihl++) {
		snprintf(what, sizeof(what), "IPv4 IHL %u", ihl);
		build_ipv4_opts(&p, V4_A, V4_B, ihl, IPPROTO_UDP, 1111, 2222);
		expect_sees(e, &p, &sees_v4_udp, what);
	}
	/* Options present but the frame ends inside them: malformed. */
	build_ipv4_opts(&p, V4_A, V4_B, 15, IPPROTO_UDP, 1111, 2222);
	p.len = p.l3 + 40;
	expect_only_empty(e, &p, 0x0101, 0x0101, "IHL 15 with 40 bytes of header in the frame");
}

static void test_ipv4_bad_ihl_and_version(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	unsigned int v;

	CHECK(e, "set-up");
	for (v = 0; v < 5; v++) {
		snprintf(what, sizeof(what), "IPv4 IHL %u", v);
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		p.b[p.l3] = (uint8_t)(0x40 | v);
		expect_only_empty(e, &p, 1111, 2222, what);
	}
	for (v = 0; v < 16; v++) {
		if (v == 4)
			continue;
		snprintf(what, sizeof(what), "IP version %u under ethertype 0x0800", v);
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		p.b[p.l3] = (uint8_t)(v << 4 | 5);
		expect_only_empty(e, &p, 1111, 2222, what);
	}
}

static void test_ipv4_truncated_header(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t n;

	CHECK(e, "set-up");
	for (n = 0; n < 20; n += 19) {
		snprintf(what, sizeof(what), "%zu bytes of IPv4 header", n);
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		p.len = p.l3 + n;
		expect_only_empty(e, &p, 1111, 2222, what);
	}
	/* A total length below the header's own length is malformed. */
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	set_be16(&p, p.l3 + 2, 19);
	expect_only_empty(e, &p, 1111, 2222, "IPv4 total length 19");
}

static void test_ipv4_fragments(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees later = { V4_A, V4_B, IPPROTO_UDP, false, 1111, 2222 };
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	set_be16(&p, p.l3 + 6, 0x2000); /* MF, offset 0 */
	expect_sees(e, &p, &sees_v4_udp, "first fragment");
	set_be16(&p, p.l3 + 6, 0x4000); /* DF, offset 0: not a fragment */
	expect_sees(e, &p, &sees_v4_udp, "DF set");
	/* Later fragments whose payload happens to begin with the port bytes. */
	set_be16(&p, p.l3 + 6, 0x2000 | 185);
	expect_sees(e, &p, &later, "middle fragment (offset 185)");
	set_be16(&p, p.l3 + 6, 1);
	expect_sees(e, &p, &later, "last fragment (offset 1)");
	set_be16(&p, p.l3 + 6, 0x1fff);
	expect_sees(e, &p, &later, "last fragment (offset 8191)");
}

static void test_truncated_l4_has_no_ports(void)
{
	static const struct {
		uint8_t proto;
		size_t fixed;
	} l4[] = { { IPPROTO_TCP, 20 }, { IPPROTO_UDP, 8 }, { IPPROTO_SCTP, 12 } };
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees s;
	char what[96];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(l4) / sizeof(l4[0]); i++) {
		s = (struct sees){ V4_A, V4_B, l4[i].proto, false, 1111, 2222 };
		/* The frame ends one byte short of the fixed header, lengths consistent. */
		build_ipv4(&p, V4_A, V4_B, l4[i].proto, 1111, 2222);
		p.len = p.l4 + l4[i].fixed - 1;
		fix_lengths(&p);
		snprintf(what, sizeof(what), "IPv4 protocol %u with %zu bytes of L4", l4[i].proto,
			 l4[i].fixed - 1);
		expect_sees(e, &p, &s, what);
		/* Exactly the fixed header: ports. */
		p.len = p.l4 + l4[i].fixed;
		fix_lengths(&p);
		s.ports = true;
		snprintf(what, sizeof(what), "IPv4 protocol %u with exactly %zu bytes of L4",
			 l4[i].proto, l4[i].fixed);
		expect_sees(e, &p, &s, what);
		/* The whole header is in the frame, but the IP packet ends before it does. */
		build_ipv4(&p, V4_A, V4_B, l4[i].proto, 1111, 2222);
		set_be16(&p, p.l3 + 2, (uint16_t)(20 + l4[i].fixed - 1));
		s.ports = false;
		snprintf(what, sizeof(what), "IPv4 protocol %u, total length %zu", l4[i].proto,
			 20 + l4[i].fixed - 1);
		expect_sees(e, &p, &s, what);
		/* The same for IPv6's payload length. */
		build_ipv6(&p, V6_A, V6_B, l4[i].proto, 1111, 2222);
		set_be16(&p, p.l3 + 4, (uint16_t)(l4[i].fixed - 1));
		s = (struct sees){ V6_A, V6_B, l4[i].proto, false, 1111, 2222 };
		snprintf(what, sizeof(what), "IPv6 protocol %u, payload length %zu", l4[i].proto,
			 l4[i].fixed - 1);
		expect_sees(e, &p, &s, what);
	}
	/* The brief's case: UDP with just its four port bytes. */
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	p.len = p.l4 + 4;
	fix_lengths(&p);
	s = (struct sees){ V4_A, V4_B, IPPROTO_UDP, false, 1111, 2222 };
	expect_sees(e, &p, &s, "UDP with 4 bytes of L4");
}

static void test_ipv6_each_ext_header(void)
{
	static const uint8_t types[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
					 IPPROTO_DSTOPTS };
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees s = sees_v6_tcp;
	uint8_t two[2];
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(types); i++) {
		snprintf(what, sizeof(what), "IPv6 TCP after extension header %u", types[i]);
		build_ipv6_with_ext(&p, V6_A, V6_B, &types[i], 1, IPPROTO_TCP, 1111, 2222);
		expect_sees(e, &p, &s, what);
		/* The second header of a pair is 16 bytes long: hdrlen is used. */
		two[0] = types[i];
		two[1] = types[(i + 1) % sizeof(types)];
		snprintf(what, sizeof(what), "IPv6 TCP after extension headers %u, %u", two[0],
			 two[1]);
		build_ipv6_with_ext(&p, V6_A, V6_B, two, 2, IPPROTO_TCP, 1111, 2222);
		expect_sees(e, &p, &s, what);
	}
}

static void test_ipv6_fragments(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees later = { V6_A, V6_B, IPPROTO_UDP, false, 1111, 2222 };
	struct sees first = { V6_A, V6_B, IPPROTO_UDP, true, 1111, 2222 };
	struct pkt p;

	CHECK(e, "set-up");
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_FRAGMENT);
	put_ipv6_frag(&p, IPPROTO_UDP, 0, true);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	put_payload(&p, 40);
	fix_lengths(&p);
	expect_sees(e, &p, &first, "first fragment");
	/* A later fragment whose data happens to begin with the port bytes. */
	set_be16(&p, 14 + 40 + 2, 185 << 3 | 1);
	expect_sees(e, &p, &later, "middle fragment");
	set_be16(&p, 14 + 40 + 2, 185 << 3);
	expect_sees(e, &p, &later, "last fragment");
	/* Non-first fragment after hop-by-hop: still the fragment's next header. */
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_HOPOPTS);
	put_ipv6_opts(&p, IPPROTO_FRAGMENT, 8);
	put_ipv6_frag(&p, IPPROTO_UDP, 7, false);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	fix_lengths(&p);
	expect_sees(e, &p, &later, "last fragment after hop-by-hop");
}

static void test_ipv6_ext_chain_limit(void)
{
	static const uint8_t six[] = { IPPROTO_HOPOPTS,	 IPPROTO_DSTOPTS, IPPROTO_ROUTING,
				       IPPROTO_FRAGMENT, IPPROTO_ROUTING, IPPROTO_DSTOPTS };
	static const uint8_t seven[] = { IPPROTO_HOPOPTS,  IPPROTO_DSTOPTS, IPPROTO_ROUTING,
					 IPPROTO_FRAGMENT, IPPROTO_ROUTING, IPPROTO_DSTOPTS,
					 IPPROTO_DSTOPTS };
	struct sees unknown = { V6_A, V6_B, -1, false, 1111, 2222 };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6_with_ext(&p, V6_A, V6_B, six, 6, IPPROTO_TCP, 1111, 2222);
	expect_sees(e, &p, &sees_v6_tcp, "six extension headers");
	/* Seven: the upper layer is past what the parser walks; the addresses are still known. */
	build_ipv6_with_ext(&p, V6_A, V6_B, seven, 7, IPPROTO_TCP, 1111, 2222);
	expect_sees(e, &p, &unknown, "seven extension headers");
}

static void test_ipv6_malformed(void)
{
	struct sees unknown = { V6_A, V6_B, -1, false, 1111, 2222 };
	struct sees no_ports = { V6_A, V6_B, IPPROTO_UDP, false, 1111, 2222 };
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	unsigned int v;

	CHECK(e, "set-up");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1111, 2222);
	p.len = p.l3 + 39;
	expect_only_empty(e, &p, 1111, 2222, "39 bytes of IPv6 header");
	for (v = 0; v < 16; v++) {
		if (v == 6)
			continue;
		snprintf(what, sizeof(what), "IP version %u under ethertype 0x86dd", v);
		build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1111, 2222);
		p.b[p.l3] = (uint8_t)(v << 4);
		expect_only_empty(e, &p, 1111, 2222, what);
	}
	/*
	 * A broken extension header after a well-formed IPv6 header: the upper layer is unknown,
	 * the addresses are not (the IPv6 header itself is well-formed).
	 */
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_HOPOPTS);
	put_ipv6_opts(&p, IPPROTO_UDP, 16);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	fix_lengths(&p);
	set_be16(&p, p.l3 + 4, 15); /* payload length ends inside hop-by-hop */
	expect_sees(e, &p, &unknown, "payload length shorter than hop-by-hop");
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_DSTOPTS);
	put_u8(&p, IPPROTO_UDP); /* the frame ends after one byte of the header */
	expect_sees(e, &p, &unknown, "frame ends inside destination options");
	/* Lengths say the header is whole, the frame ends after it: protocol known, no ports. */
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_ROUTING);
	put_ipv6_opts(&p, IPPROTO_UDP, 8);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	fix_lengths(&p);
	p.len -= 5;
	expect_sees(e, &p, &no_ports, "frame truncated inside UDP after routing");
}

static void test_arp_matches_only_empty_filter(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_arp(&p, V4_A, V4_B);
	expect_only_empty(e, &p, 0x0800, 0x0604, "ARP request");
	EXPECT_SKIPS(e, filter_src(V4_A), &p, "ARP sender address");
	EXPECT_SKIPS(e, filter_dst(V4_B), &p, "ARP target address");
}

static void test_tunnels_match_outer_header(void)
{
	struct sees outer_gre = { V4_A, V4_B, IPPROTO_GRE, false, 0, ETH_P_IP };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_gre_ipv4(&p, V4_A, V4_B, "10.1.1.1", "10.2.2.2", IPPROTO_UDP, 1111, 2222);
	expect_sees(e, &p, &outer_gre, "GRE");
	EXPECT_SKIPS(e, filter_src("10.1.1.1"), &p, "GRE, inner source");
	EXPECT_SKIPS(e, filter_dst("10.2.2.2"), &p, "GRE, inner destination");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_UDP), &p, "GRE, inner protocol");
	EXPECT_SKIPS(e, filter_sport(1111), &p, "GRE, inner source port");
	EXPECT_SKIPS(e, filter_dport(2222), &p, "GRE, inner destination port");

	/* IPv6 in IPv4 (41): protocol 41, outer addresses, no ports. */
	build_eth(&p, ETH_P_IP);
	put_ipv4(&p, V4_A, V4_B, IPPROTO_IPV6, 5);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_TCP);
	put_l4(&p, IPPROTO_TCP, 1111, 2222);
	p.family = 4;
	p.l3 = 14;
	p.proto = IPPROTO_IPV6;
	fix_lengths(&p);
	set_be16(&p, 14 + 20 + 4, 20);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_IPV6), &p, "6in4");
	EXPECT_SELECTS(e, filter_src(V4_A), &p, "6in4, outer source");
	EXPECT_SKIPS(e, filter_src(V6_A), &p, "6in4, inner source");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_TCP), &p, "6in4, inner protocol");
	EXPECT_SKIPS(e, filter_sport(1111), &p, "6in4, inner source port");
}

/* ---------------------------------------------------------------------------------------------
 * Slots, records.
 */

static void test_slots_share_one_record(void)
{
	struct req_filter udp53 = { .fields = EC_F_PROTOCOL | EC_F_DST_PORT,
				    .protocol = IPPROTO_UDP,
				    .dst_port = 53 };
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_counters c[3];
	struct pkt p;
	int i;

	CHECK(e, "set-up");
	CHECK(!env_start_filter(e, 0, &filter_empty, 64), "start slot 0");
	CHECK(!env_start_filter(e, 1, &udp53, 128), "start slot 1");
	CHECK(!env_start_filter(
		      e, 5,
		      &(struct req_filter){ .fields = EC_F_PROTOCOL, .protocol = IPPROTO_TCP },
		      1500),
	      "start slot 5");

	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	put_payload(&p, 300);
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records for a UDP/53 frame (slots 0 and 1)");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x03, "slot mask");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, 128, "cap_len: the larger of 64 and 128");

	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1000, 80);
	put_payload(&p, 200);
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records for a TCP frame (slots 0 and 5)");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x21, "slot mask");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, p.len, "cap_len: the whole frame, under 1500");

	build_ipv4(&p, V4_A, V4_B, IPPROTO_ICMP, 0x0800, 0);
	put_payload(&p, 100);
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records for an ICMP frame (slot 0)");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x01, "slot mask");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, 64, "cap_len: slot 0's snaplen");

	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	p.len = p.l4 + 8;
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, p.len, "cap_len of a frame shorter than all snaplens");

	c[0] = env_counters(e, 0);
	c[1] = env_counters(e, 1);
	c[2] = env_counters(e, 5);
	for (i = 0; i < 3; i++)
		CHECK_EQ_U64(c[i].seen, 4, "seen by every live slot");
	CHECK_EQ_U64(c[0].submitted, 4, "slot 0 submitted");
	CHECK_EQ_U64(c[1].submitted, 2, "slot 1 submitted");
	CHECK_EQ_U64(c[2].submitted, 1, "slot 5 submitted");
	CHECK_EQ_U64(c[0].bytes, 64 * 3 + 42, "slot 0 bytes, at its own snaplen");
	CHECK_EQ_U64(c[1].bytes, 128 + 42, "slot 1 bytes, at its own snaplen");
	assert_identity(e);
}

static void test_slots_all_eight(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_counters c;
	struct pkt p;
	unsigned int i;

	CHECK(e, "set-up");
	for (i = 0; i < EC_MAX_SLOTS; i++)
		CHECK(!env_start_filter(e, i, &filter_empty, 20 + 10 * i), "start slot %u", i);
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	put_payload(&p, 200);
	fix_lengths(&p);
	run(e, &p, 3);
	CHECK_EQ_U64(e->nrec, 3, "one record per packet");
	CHECK_EQ_U64(e->kept[2].hdr.slot_mask, 0xff, "every slot in the mask");
	CHECK_EQ_U64(e->kept[2].hdr.cap_len, 20 + 10 * 7, "cap_len: slot 7's snaplen");
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		c = env_counters(e, i);
		CHECK_EQ_U64(c.submitted, 3, "submitted per slot");
		CHECK_EQ_U64(c.bytes, 3 * (20 + 10 * i), "bytes per slot");
	}
	assert_identity(e);

	/* Slot 7 alone selects: bit 7 of the byte-wide mask. */
	CHECK(!env_start_filter(
		      e, 7,
		      &(struct req_filter){ .fields = EC_F_PROTOCOL, .protocol = IPPROTO_UDP }, 30),
	      "restart slot 7");
	for (i = 0; i < 7; i++)
		CHECK(!env_start_filter(e, i,
					&(struct req_filter){ .fields = EC_F_PROTOCOL,
							      .protocol = IPPROTO_TCP },
					100),
		      "restart slot %u", i);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x80, "slot 7 alone");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, 30, "cap_len: slot 7's snaplen");
	assert_identity(e);
}

static void test_slot_stop(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_counters c0, c1;
	struct pkt p;

	CHECK(e, "set-up");
	CHECK(!env_start_filter(e, 0, &filter_empty, 100), "start slot 0");
	CHECK(!env_start_filter(e, 1, &filter_empty, 100), "start slot 1");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, 2);
	slot_stop(e->skel, 1);
	run(e, &p, 3);
	c0 = env_counters(e, 0);
	c1 = env_counters(e, 1);
	CHECK_EQ_U64(c0.submitted, 5, "the live slot keeps capturing");
	CHECK_EQ_U64(c1.seen, 2, "the stopped slot sees nothing after its stop");
	CHECK_EQ_U64(c1.submitted, 2, "the stopped slot's records");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x01, "mask after the stop");
	assert_identity(e);
}

static void test_record_header_and_bytes(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	const struct kept_rec *r;
	uint64_t before, after;
	struct pkt p;

	CHECK(e, "set-up");
	CHECK(veth_ifindex, "no veth to run on (see netns_private)");
	/* Arriving on queue 3 of the test's four-queue veth, not on lo's only queue. */
	e->ifindex = veth_ifindex;
	e->rx_queue = 3;
	CHECK(!env_start_filter(e, 0, &filter_empty, 1500), "start slot 0");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	put_payload(&p, 100);
	fix_lengths(&p);
	before = tai_now_ns();
	run(e, &p, 1);
	after = tai_now_ns();
	CHECK_EQ_U64(e->nrec, 1, "records");
	r = &e->kept[0];
	CHECK(r->hdr.tstamp_ns >= before && r->hdr.tstamp_ns <= after,
	      "tstamp %llu not within CLOCK_TAI [%" PRIu64 ", %" PRIu64 "]", r->hdr.tstamp_ns,
	      before, after);
	CHECK_EQ_U64(r->hdr.ifindex, veth_ifindex, "ifindex (ctx_in ingress_ifindex)");
	CHECK_EQ_U64(r->hdr.rx_queue, 3, "rx_queue (ctx_in rx_queue_index)");
	CHECK_EQ_U64(r->hdr.orig_len, p.len, "orig_len");
	CHECK_EQ_U64(r->hdr.cap_len, p.len, "cap_len: the whole frame under the snaplen");
	CHECK_EQ_U64(r->hdr.slot_mask, 1, "slot_mask");
	CHECK_EQ_U64(r->hdr.hook, EC_HOOK_XDP, "hook");
	CHECK_EQ_U64(r->hdr.pad0 | r->hdr.pad1, 0, "padding");
	CHECK(r->data && !memcmp(r->data, p.b, p.len), "record bytes differ from the frame");
	assert_identity(e);
}

static void test_record_snaplen(void)
{
	static const uint32_t snaplens[] = { 1, 14, 60, 159, 160, 161, 1000 };
	struct env *e = env_open(EC_HOOK_XDP);
	uint32_t want;
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	put_payload(&p, 100);
	fix_lengths(&p); /* 160 bytes */
	for (i = 0; i < sizeof(snaplens) / sizeof(snaplens[0]); i++) {
		CHECK(!env_start_filter(e, 0, &filter_empty, snaplens[i]), "start slot 0");
		run(e, &p, 1);
		want = snaplens[i] < p.len ? snaplens[i] : (uint32_t)p.len;
		CHECK_EQ_U64(e->nrec, 1, "records");
		CHECK_EQ_U64(e->kept[0].hdr.orig_len, p.len, "orig_len");
		CHECK_EQ_U64(e->kept[0].hdr.cap_len, want, "cap_len = min(len, snaplen)");
		CHECK(!memcmp(e->kept[0].data, p.b, want), "snaplen %u: bytes differ", snaplens[i]);
		assert_identity(e);
	}
}

/*
 * A frame larger than test_run's linear part (XDP_LINEAR) arrives as a multi-buffer xdp_buff:
 * the kernel puts the rest in page frags (xdp.frags programs only). The record must carry
 * bytes from the frags too, and orig_len the whole frame.
 */
static void test_record_multi_buffer(void)
{
	static const uint32_t snaplens[] = { 100,  XDP_LINEAR, XDP_LINEAR + 1,
					     5000, 9000,       EC_MAX_CAPLEN };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt *p = malloc(sizeof(*p));
	uint32_t want;
	size_t i;

	CHECK(e && p, "set-up");
	build_ipv4_udp(p, V4_A, V4_B, 1000, 53);
	put_payload(p, 9000 - p->len);
	fix_lengths(p);
	for (i = 0; i < sizeof(snaplens) / sizeof(snaplens[0]); i++) {
		CHECK(!env_start_filter(e, 0, &filter_empty, snaplens[i]), "start slot 0");
		if (run(e, p, 1))
			break;
		want = snaplens[i] < p->len ? snaplens[i] : (uint32_t)p->len;
		CHECK_EQ_U64(e->nrec, 1, "records of a 9000-byte frame");
		CHECK_EQ_U64(e->kept[0].hdr.orig_len, 9000, "orig_len: every buffer of the frame");
		CHECK_EQ_U64(e->kept[0].hdr.cap_len, want, "cap_len");
		CHECK(!memcmp(e->kept[0].data, p->b, want), "snaplen %u: bytes differ",
		      snaplens[i]);
		assert_identity(e);
	}
	/* Larger than a record carries: cap_len stops at EC_MAX_CAPLEN. */
	put_payload(p, 70000 - p->len);
	CHECK(!env_start_filter(e, 0, &filter_empty, EC_MAX_CAPLEN), "start slot 0");
	if (!run(e, p, 1)) {
		CHECK_EQ_U64(e->nrec, 1, "records of a 70000-byte frame");
		CHECK_EQ_U64(e->kept[0].hdr.orig_len, 70000, "orig_len");
		CHECK_EQ_U64(e->kept[0].hdr.cap_len, EC_MAX_CAPLEN, "cap_len");
		CHECK(!memcmp(e->kept[0].data, p->b, EC_MAX_CAPLEN), "bytes differ");
	}
	/* The parser reads the first buffer: filters work on a multi-buffer frame. */
	EXPECT_SELECTS(e, filter_dport(53), p, "70000-byte UDP frame, destination port");
	EXPECT_SKIPS(e, filter_dport(54), p, "70000-byte UDP frame, another port");
	assert_identity(e);
	free(p);
}

/* ---------------------------------------------------------------------------------------------
 * Sampling, budgets, deadlines, idle.
 */

static void test_sampling_one_in_four(void)
{
	const uint32_t runs = 40000, rate = 4;
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	double mean, sigma;
	struct pkt p;

	CHECK(e, "set-up");
	cfg.sample_rate = rate;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, runs);
	c = env_counters(e, 0);
	mean = runs / (double)rate;
	sigma = sqrt(runs * (1.0 / rate) * (1.0 - 1.0 / rate));
	CHECK_EQ_U64(c.matched, runs, "matched");
	CHECK(fabs((double)c.submitted - mean) <= 6 * sigma,
	      "submitted %llu of %u, want %.0f +- %.0f (6 sigma)", c.submitted, runs, mean,
	      6 * sigma);
	CHECK(c.submitted > 0 && c.submitted < c.matched, "sampling kept none or all");
	CHECK_EQ_U64(c.sampled_out, runs - c.submitted, "sampled_out");
	CHECK_EQ_U64(e->nrec, c.submitted, "records");
	assert_identity(e);
	printf("     1 in %u: %llu of %u kept (expected %.0f +- %.0f)\n", rate, c.submitted, runs,
	       mean, 6 * sigma);
}

static void test_sampling_one_keeps_every_match(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	struct pkt p;
	uint32_t rate;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	for (rate = 0; rate <= 1; rate++) {
		cfg.sample_rate = rate;
		CHECK(!env_start(e, 0, &cfg), "start slot 0");
		run(e, &p, 2000);
		c = env_counters(e, 0);
		CHECK_EQ_U64(c.submitted, 2000, "sample_rate 0 or 1 keeps every match");
		CHECK_EQ_U64(c.sampled_out, 0, "sampled_out");
		assert_identity(e);
	}
}

static void test_budget_packet_limit(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	struct pkt p;

	CHECK(e, "set-up");
	cfg.packet_limit = 5;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, 100);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.matched, 100, "matched");
	CHECK_EQ_U64(c.submitted, 5, "submitted: exactly packet_limit");
	CHECK_EQ_U64(c.budget_exhausted, 95, "budget_exhausted");
	CHECK_EQ_U64(e->nrec, 5, "records");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, 5,
		     "packet budget used: refused packets leave no trace");
	assert_identity(e);
	run(e, &p, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 5, "nothing more on a later run");
	CHECK_EQ_U64(c.budget_exhausted, 105, "budget_exhausted");
	assert_identity(e);
}

static void test_budget_byte_limit(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 1500);
	struct ec_slot_counters c;
	struct pkt big, small;

	CHECK(e, "set-up");
	build_ipv4_udp(&big, V4_A, V4_B, 1, 2);
	put_payload(&big, 200 - big.len);
	fix_lengths(&big);
	build_ipv4_udp(&small, V4_A, V4_B, 1, 2);
	put_payload(&small, 100 - small.len);
	fix_lengths(&small);
	cfg.byte_limit = 500;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");

	run(e, &big, 5); /* 200 + 200 fit, the next 200 would make 600 */
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 2, "200-byte frames under a 500-byte budget");
	CHECK_EQ_U64(c.budget_exhausted, 3, "200-byte frames refused");
	CHECK_EQ_U64(c.bytes, 400, "bytes");
	run(e, &small, 3); /* 400 + 100 = 500 fits exactly; then nothing */
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 3, "a smaller frame still fits after a larger one is refused");
	CHECK_EQ_U64(c.bytes, 500, "bytes: exactly byte_limit");
	CHECK_EQ_U64(c.budget_exhausted, 5, "refused");
	assert_identity(e);

	/* The budget counts captured bytes: snaplen 60 of each 200-byte frame. */
	cfg.snaplen = 60;
	cfg.byte_limit = 200;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &big, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 3, "60-byte captures under a 200-byte budget");
	CHECK_EQ_U64(c.bytes, 180, "bytes");
	assert_identity(e);

	/* Both limits: the first reached wins. */
	cfg.snaplen = 1500;
	cfg.byte_limit = 1000;
	cfg.packet_limit = 3;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &small, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 3, "packet limit before byte limit");
	cfg.byte_limit = 250;
	cfg.packet_limit = 10;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &small, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 2, "byte limit before packet limit");
	CHECK_EQ_U64(c.budget_exhausted, 8, "refused by bytes");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, 2,
		     "packet budget used: packets refused by bytes are given back");
	assert_identity(e);
}

static void test_budget_ring_full_gives_back(void)
{
	struct env *e = env_open_ring(EC_HOOK_XDP, RING_SMALL);
	struct ec_slot_config by_packets = slot_config(&filter_empty, 1500);
	struct ec_slot_config by_bytes = slot_config(&filter_empty, 1500);
	uint32_t per_record, fits;
	struct ec_slot_counters c;
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	put_payload(&p, 100 - p.len);
	fix_lengths(&p);
	/* What one record takes in the ring: its 8-byte header, rounded up to 8. */
	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(100);
	fits = RING_SMALL / per_record;
	by_packets.packet_limit = fits + 3;
	by_bytes.byte_limit = (fits + 3) * 100;
	CHECK(!env_start(e, 0, &by_packets), "start slot 0");
	CHECK(!env_start(e, 1, &by_bytes), "start slot 1");

	/* One test run of 100 packets: the ring is not drained until it returns. */
	run(e, &p, 100);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, fits, "records that fit in a one-page ring");
	CHECK_EQ_U64(c.ring_full, 100 - fits, "ring_full");
	CHECK_EQ_U64(c.budget_exhausted, 0, "budget_exhausted while the ring was full");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, fits,
		     "packet budget used: ring-full packets given back");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[1].bytes, fits * 100,
		     "byte budget used: ring-full packets given back");
	c = env_counters(e, 1);
	CHECK_EQ_U64(c.ring_full, 100 - fits, "ring_full of the byte-limited slot");
	assert_identity(e);

	/* Drained: the 3 packets of budget left are still there, and then no more. */
	run(e, &p, 100);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, fits + 3, "submitted: exactly packet_limit");
	CHECK_EQ_U64(c.ring_full, 100 - fits, "no ring_full with a drained ring");
	CHECK_EQ_U64(c.budget_exhausted, 97, "budget_exhausted");
	c = env_counters(e, 1);
	CHECK_EQ_U64(c.submitted, fits + 3, "submitted: exactly byte_limit / 100");
	CHECK_EQ_U64(c.bytes, (fits + 3) * 100, "bytes: exactly byte_limit");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, fits + 3, "packet budget used");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[1].bytes, (fits + 3) * 100, "byte budget used");
	assert_identity(e);
}

/*
 * Records go in without waking the reader (it drains on a timer) until ec_wakeup_bytes are
 * waiting; then one record wakes it, and the ones after it do not until the reader has drained
 * and cleared ec_wakeup_sent (a wake-up per record would cost an IPI each). Seen through epoll:
 * ring_buffer__poll only returns records after a wake-up.
 */
static void test_ring_wakes_reader_only_past_watermark(void)
{
	struct env *quiet_ring = env_open_opts(EC_HOOK_XDP, RING_BIG, 0);
	struct env *e = env_open_opts(EC_HOOK_XDP, RING_BIG, 1000);
	uint32_t per_record, k;
	struct pkt p;
	int n;

	CHECK(quiet_ring && e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	put_payload(&p, 100 - p.len);
	fix_lengths(&p);
	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(100);

	quiet_ring->hold = true;
	CHECK(!env_start_filter(quiet_ring, 0, &filter_empty, 1500), "start slot 0");
	run(quiet_ring, &p, 20);
	n = ring_buffer__poll(quiet_ring->rb, 50);
	CHECK(n == 0, "no watermark: poll returned %d records, want 0 (no wake-up)", n);
	env_drain(quiet_ring);
	CHECK_EQ_U64(quiet_ring->nrec, 20, "records in the ring all along");
	assert_identity(quiet_ring);

	/* The k-th record is the first with 1000 bytes in the ring, itself included: it wakes. */
	k = (1000 + per_record - 1) / per_record;
	CHECK(k >= 3, "record size %u: the watermark is %u records away", per_record, k);
	e->hold = true;
	CHECK(!env_start_filter(e, 0, &filter_empty, 1500), "start slot 0");
	run(e, &p, k - 1);
	n = ring_buffer__poll(e->rb, 50);
	CHECK(n == 0, "%u records (%u bytes): poll returned %d, want 0", k - 1,
	      (k - 1) * per_record, n);
	run(e, &p, 1);
	n = ring_buffer__poll(e->rb, 1000);
	CHECK(n == (int)k, "record %u past the watermark: poll returned %d records, want %u", k, n,
	      k);
	CHECK(e->skel->bss->ec_wakeup_sent == 1, "the waking record marks the wake-up sent");
	/* epoll rescans a level-triggered fd it just reported: one empty poll settles it. */
	n = ring_buffer__poll(e->rb, 0);
	CHECK(n == 0, "ring drained: poll returned %d, want 0", n);

	/* Not cleared by the reader: past the watermark again, no second wake-up. */
	run(e, &p, k + 2);
	n = ring_buffer__poll(e->rb, 50);
	CHECK(n == 0, "wake-up already sent: poll returned %d, want 0", n);
	env_drain(e);

	/* Cleared after the drain, as the engine does: the next crossing wakes the reader again. */
	e->skel->bss->ec_wakeup_sent = 0;
	run(e, &p, k - 1);
	n = ring_buffer__poll(e->rb, 50);
	CHECK(n == 0, "re-armed, below the watermark: poll returned %d, want 0", n);
	run(e, &p, 1);
	n = ring_buffer__poll(e->rb, 1000);
	CHECK(n == (int)k, "re-armed, past the watermark: poll returned %d records, want %u", n, k);
	assert_identity(e);
}

static void test_deadline(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	cfg.deadline_ns = tai_now_ns() - 1000000000ull;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");
	run(e, &p, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(e->nrec, 0, "records after the deadline");
	CHECK_EQ_U64(c.seen, 10, "seen after the deadline");
	CHECK_EQ_U64(c.matched, 0, "matched after the deadline");
	assert_identity(e);

	cfg.deadline_ns = tai_now_ns() + 60 * 1000000000ull;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &p, 10);
	CHECK_EQ_U64(e->nrec, 10, "records before the deadline");
	CHECK(e->kept[0].hdr.tstamp_ns < cfg.deadline_ns, "record stamped after the deadline");
	assert_identity(e);
}

static uint64_t all_counters_sum(struct env *e)
{
	int ncpus = libbpf_num_possible_cpus();
	struct ec_cpu_counters *percpu = calloc((size_t)ncpus, sizeof(*percpu));
	const uint64_t *w;
	uint64_t sum = 0;
	uint32_t key = 0;
	size_t i;

	EXPECT(percpu != NULL, "out of memory");
	if (!percpu)
		return 0;
	EXPECT(!bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.ec_counters), &key, percpu),
	       "reading ec_counters: %s", strerror(errno));
	w = (const uint64_t *)percpu;
	for (i = 0; i < (size_t)ncpus * sizeof(*percpu) / sizeof(*w); i++)
		sum += w[i];
	free(percpu);
	return sum;
}

static void test_idle_touches_nothing(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	uint64_t before;
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, 100);
	CHECK_EQ_U64(all_counters_sum(e), 0, "counters with no slot ever started");
	CHECK_EQ_U64(e->nrec, 0, "records with no slot ever started");

	CHECK(!env_start_filter(e, 3, &filter_empty, 64), "start slot 3");
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records while live");
	slot_stop(e->skel, 3);
	before = all_counters_sum(e);
	run(e, &p, 100);
	CHECK_EQ_U64(all_counters_sum(e), before, "counters after every slot stopped");
	CHECK_EQ_U64(e->nrec, 0, "records after every slot stopped");
	assert_identity(e);
}

/* ---------------------------------------------------------------------------------------------
 * tc.
 */

static void test_tc_passes_on_and_captures_like_xdp(void)
{
	struct req_filter udp53 = { .fields = EC_F_DST_PORT, .dst_port = 53 };
	struct env *tc = env_open(EC_HOOK_TC_INGRESS);
	struct env *xdp = env_open(EC_HOOK_XDP);
	struct pkt frames[3];
	size_t i;

	CHECK(tc && xdp, "set-up");
	build_ipv4_udp(&frames[0], V4_A, V4_B, 1000, 53);
	push_vlan(&frames[0], 0x8100, 7);
	build_ipv6(&frames[1], V6_A, V6_B, IPPROTO_TCP, 1000, 443);
	put_payload(&frames[1], 500);
	fix_lengths(&frames[1]);
	build_arp(&frames[2], V4_A, V4_B);
	CHECK(!env_start_filter(tc, 0, &filter_empty, 100), "start tc slot 0");
	CHECK(!env_start_filter(tc, 2, &udp53, 1500), "start tc slot 2");
	CHECK(!env_start_filter(xdp, 0, &filter_empty, 100), "start xdp slot 0");
	CHECK(!env_start_filter(xdp, 2, &udp53, 1500), "start xdp slot 2");
	for (i = 0; i < 3; i++) {
		/* run() checks the verdict: TCX_NEXT at tc. */
		CHECK(!run(tc, &frames[i], 1) && !run(xdp, &frames[i], 1), "frame %zu", i);
		CHECK(tc->nrec == 1 && xdp->nrec == 1, "frame %zu: %zu tc records, %zu xdp", i,
		      tc->nrec, xdp->nrec);
		CHECK(tc->kept[0].hdr.slot_mask == xdp->kept[0].hdr.slot_mask,
		      "frame %zu: tc slot mask 0x%x, xdp 0x%x", i, tc->kept[0].hdr.slot_mask,
		      xdp->kept[0].hdr.slot_mask);
		CHECK_EQ_U64(tc->kept[0].hdr.cap_len, xdp->kept[0].hdr.cap_len, "cap_len");
		CHECK_EQ_U64(tc->kept[0].hdr.orig_len, frames[i].len, "tc orig_len");
		CHECK_EQ_U64(tc->kept[0].hdr.hook, EC_HOOK_TC_INGRESS, "tc hook");
		CHECK_EQ_U64(tc->kept[0].hdr.ifindex, LO_IFINDEX, "tc ifindex");
		CHECK(!memcmp(tc->kept[0].data, xdp->kept[0].data, tc->kept[0].hdr.cap_len),
		      "frame %zu: tc and xdp records differ", i);
	}
	CHECK_EQ_U64(xdp->kept[0].hdr.slot_mask, 0x01, "ARP: slot 0 only");
	assert_identity(tc);
	assert_identity(xdp);
}

/* ---------------------------------------------------------------------------------------------
 * The corpus: every Ethernet frame of corpus/tcpdump, checked against a user-space model of
 * filter_v1 (DESIGN.md) written independently of parse.bpf.h.
 */

struct model {
	int family;
	uint8_t saddr[16], daddr[16];
	bool has_proto, has_ports;
	uint8_t proto;
	uint16_t sport, dport;
};

/* The fixed header a port-carrying protocol needs before its ports count; 0: no ports. */
static long model_l4_min_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_SCTP:
		return 12;
	default:
		return 0;
	}
}

/* avail: bytes of the frame from l4 on; room: bytes the IP header says the packet has left. */
static void model_ports(const uint8_t *l4, long avail, long room, struct model *m)
{
	long need = model_l4_min_len(m->proto);

	if (!need || avail < need || room < need)
		return;
	m->has_ports = true;
	m->sport = get_be16(l4);
	m->dport = get_be16(l4 + 2);
}

static bool is_ipv6_ext(uint8_t h)
{
	return h == IPPROTO_HOPOPTS || h == IPPROTO_ROUTING || h == IPPROTO_FRAGMENT ||
	       h == IPPROTO_DSTOPTS;
}

static void model_ipv4(const uint8_t *h, long avail, struct model *m)
{
	long hlen, tot;

	if (avail < 20 || h[0] >> 4 != 4 || (h[0] & 0xf) < 5)
		return;
	hlen = (h[0] & 0xf) * 4;
	tot = get_be16(h + 2);
	if (avail < hlen || tot < hlen)
		return;
	m->family = 4;
	memcpy(m->saddr, h + 12, 4);
	memcpy(m->daddr, h + 16, 4);
	m->has_proto = true;
	m->proto = h[9];
	if (get_be16(h + 6) & 0x1fff)
		return;
	model_ports(h + hlen, avail - hlen, tot - hlen, m);
}

static void model_ipv6(const uint8_t *h, long avail, struct model *m)
{
	long room, off = 40, hlen;
	uint8_t next;
	int n;

	if (avail < 40 || h[0] >> 4 != 6)
		return;
	m->family = 6;
	memcpy(m->saddr, h + 8, 16);
	memcpy(m->daddr, h + 24, 16);
	next = h[6];
	room = get_be16(h + 4);
	for (n = 0; is_ipv6_ext(next); n++) {
		if (n == EC_MAX_IPV6_EXT)
			return; /* more than the parser walks */
		if (next == IPPROTO_FRAGMENT) {
			if (avail - off < 8 || room < 8)
				return;
			next = h[off];
			if (get_be16(h + off + 2) >> 3) {
				/* A later fragment: the upper layer is named, its header absent. */
				m->has_proto = !is_ipv6_ext(next);
				m->proto = next;
				return;
			}
			hlen = 8;
		} else {
			if (avail - off < 2)
				return;
			hlen = (h[off + 1] + 1) * 8;
			next = h[off];
			if (room < hlen)
				return;
		}
		room -= hlen;
		off += hlen;
	}
	m->has_proto = true;
	m->proto = next;
	model_ports(h + off, avail - off, room, m);
}

static void model_parse(const uint8_t *d, long len, struct model *m)
{
	uint16_t type;
	long off = 14;
	int tags;

	memset(m, 0, sizeof(*m));
	if (len < 14)
		return;
	type = get_be16(d + 12);
	for (tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8); tags++) {
		if (len < off + 4)
			return;
		type = get_be16(d + off + 2);
		off += 4;
	}
	if (type == ETH_P_IP)
		model_ipv4(d + off, len - off, m);
	else if (type == ETH_P_IPV6)
		model_ipv6(d + off, len - off, m);
}

static bool model_prefix(const struct req_prefix *p, int family, const uint8_t *addr)
{
	unsigned int bits = p->len, i;

	if (p->family != family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8) {
		if (addr[i] != p->addr[i])
			return false;
	}
	return !bits || !((addr[i] ^ p->addr[i]) & (uint8_t)(0xff << (8 - bits)));
}

static bool model_match(const struct req_filter *f, const struct model *m)
{
	if (!f->fields)
		return true;
	if (!m->family)
		return false;
	if ((f->fields & EC_F_SRC_ADDR) && !model_prefix(&f->src, m->family, m->saddr))
		return false;
	if ((f->fields & EC_F_DST_ADDR) && !model_prefix(&f->dst, m->family, m->daddr))
		return false;
	if ((f->fields & EC_F_PROTOCOL) && (!m->has_proto || m->proto != f->protocol))
		return false;
	if ((f->fields & (EC_F_SRC_PORT | EC_F_DST_PORT)) && !m->has_ports)
		return false;
	if ((f->fields & EC_F_SRC_PORT) && m->sport != f->src_port)
		return false;
	if ((f->fields & EC_F_DST_PORT) && m->dport != f->dst_port)
		return false;
	return true;
}

/* The slots every corpus frame runs through: slot 0 captures whole frames. */
static struct corpus_slot {
	struct req_filter f;
	uint32_t snaplen;
	uint64_t selected;
} corpus_slots[EC_MAX_SLOTS];

static void corpus_slots_init(void)
{
	struct corpus_slot s[EC_MAX_SLOTS] = {
		{ filter_empty, EC_MAX_CAPLEN },
		{ filter_proto(IPPROTO_TCP), 96 },
		{ { .fields = EC_F_PROTOCOL | EC_F_DST_PORT,
		    .protocol = IPPROTO_UDP,
		    .dst_port = 53 },
		  128 },
		{ filter_sport(80), 200 },
		{ filter_src("fe80::/10"), 256 },
		{ { .fields = EC_F_DST_ADDR | EC_F_PROTOCOL,
		    .dst = prefix("10.0.0.0/8"),
		    .protocol = IPPROTO_UDP },
		  64 },
		{ { .fields = EC_F_DST_ADDR | EC_F_PROTOCOL,
		    .dst = prefix("ff02::/16"),
		    .protocol = IPPROTO_ICMPV6 },
		  80 },
		{ filter_dst("192.168.0.0/16"), 1500 },
	};

	memcpy(corpus_slots, s, sizeof(s));
}

struct corpus_run {
	struct env *e;
	uint64_t frames, ran, too_short, too_large, short_ip, failures;
};

static void corpus_frame(void *ctx, const char *file, uint64_t index, const uint8_t *data,
			 uint32_t len)
{
	struct corpus_run *cr = ctx;
	struct env *e = cr->e;
	uint32_t mask = 0, want_cap, i;
	struct model m;
	int err, fails = test_failures_in_current;

	/* Stop printing after a few failures; keep counting. */
	quiet = cr->failures >= 10;
	cr->frames++;
	err = run_frame(e, data, len, 1);
	if (len < ETH_HLEN) {
		/* No device hands XDP or tc less than an Ethernet header; test_run refuses it. */
		EXPECT(err == -EINVAL, "%s #%" PRIu64 ": %u-byte frame: test_run %d, want -EINVAL",
		       file, index, len, err);
		cr->too_short++;
		goto out;
	}
	/*
	 * Too large for test_run: at XDP beyond the 17 frags an xdp_buff holds (BIG TCP frames
	 * of ~80 KB); at tc beyond one page, since test_run builds a linear skb.
	 */
	if ((e->hook == EC_HOOK_XDP && err == -ENOMEM && len > EC_MAX_CAPLEN) ||
	    (e->hook != EC_HOOK_XDP && err == -EINVAL && len > XDP_LINEAR)) {
		cr->too_large++;
		goto out;
	}
	/*
	 * tc's test_run also refuses an untagged IPv4 or IPv6 frame too short for the fixed IP
	 * header (it sets up a socket from it); XDP runs these frames.
	 */
	if (e->hook != EC_HOOK_XDP && err == -EINVAL &&
	    ((get_be16(data + 12) == ETH_P_IP && len < ETH_HLEN + 20) ||
	     (get_be16(data + 12) == ETH_P_IPV6 && len < ETH_HLEN + 40))) {
		cr->short_ip++;
		goto out;
	}
	EXPECT(err == 0, "%s #%" PRIu64 ": test_run of %u bytes: %s", file, index, len,
	       strerror(-err));
	if (err)
		goto out;
	cr->ran++;

	model_parse(data, len, &m);
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (model_match(&corpus_slots[i].f, &m)) {
			mask |= 1u << i;
			corpus_slots[i].selected++;
		}
	}
	want_cap = expected_cap(e, mask, len);
	EXPECT(e->nrec == 1, "%s #%" PRIu64 ": %zu records, want 1", file, index, e->nrec);
	if (e->nrec != 1)
		goto out;
	EXPECT(e->kept[0].hdr.slot_mask == mask,
	       "%s #%" PRIu64 " (%u bytes): slot mask 0x%02x, the model says 0x%02x", file, index,
	       len, e->kept[0].hdr.slot_mask, mask);
	EXPECT(e->kept[0].hdr.cap_len == want_cap && !memcmp(e->kept[0].data, data, want_cap),
	       "%s #%" PRIu64 ": the record is not the frame's first %u bytes", file, index,
	       want_cap);
out:
	if (test_failures_in_current != fails)
		cr->failures++;
	quiet = false;
}

static const char *corpus_dir(void)
{
	const char *dir = getenv("EDGECAP_CORPUS_DIR");

	return dir && *dir ? dir : EDGECAP_CORPUS_DIR;
}

static void corpus_run_hook(enum ec_hook hook)
{
	const char *dir = corpus_dir();
	struct corpus_run cr = { 0 };
	struct corpus_stats st;
	int err, i;

	cr.e = env_open(hook);
	CHECK(cr.e, "set-up");
	corpus_slots_init();
	for (i = 0; i < EC_MAX_SLOTS; i++)
		CHECK(!env_start_filter(cr.e, (unsigned int)i, &corpus_slots[i].f,
					corpus_slots[i].snaplen),
		      "start slot %d", i);
	err = corpus_foreach(dir, corpus_frame, &cr, &st);
	CHECK(!err, "corpus %s: %s (set EDGECAP_CORPUS_DIR)", dir, strerror(-err));

	printf("     %s: %u Ethernet files (%u of other link types skipped, %u with read errors), "
	       "%" PRIu64 " frames: %" PRIu64 " ran, %" PRIu64 " shorter than 14 bytes, "
	       "%" PRIu64 " too large for test_run, %" PRIu64 " IP frames too short for tc's "
	       "test_run\n",
	       hook == EC_HOOK_XDP ? "xdp" : "tc", st.files, st.files_other_link,
	       st.files_read_errors, cr.frames, cr.ran, cr.too_short, cr.too_large, cr.short_ip);
	printf("     selected per slot:");
	for (i = 0; i < EC_MAX_SLOTS; i++)
		printf(" %" PRIu64, corpus_slots[i].selected);
	printf("\n");
	CHECK(cr.ran > 0, "no Ethernet frame ran from %s", dir);
	CHECK(cr.failures == 0, "%" PRIu64 " frames failed", cr.failures);
	for (i = 1; i < EC_MAX_SLOTS; i++)
		CHECK(corpus_slots[i].selected > 0, "slot %d's filter %s selected nothing", i,
		      filter_desc(&corpus_slots[i].f));
	CHECK_EQ_U64(env_counters(cr.e, 0).submitted, cr.ran, "slot 0 records every frame run");
	assert_identity(cr.e);
}

static void test_corpus_xdp(void)
{
	corpus_run_hook(EC_HOOK_XDP);
}

static void test_corpus_tc(void)
{
	corpus_run_hook(EC_HOOK_TC_INGRESS);
}

/*
 * Moves this process into a network namespace of its own, so the veth the tests make never
 * touches the host and test runs use a private lo (ifindex 1).
 */
static int netns_private(void)
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	if (system("ip link add ectest0 numrxqueues 4 type veth peer name ectest1"))
		return -EIO;
	veth_ifindex = if_nametoindex("ectest0");
	return veth_ifindex ? 0 : -ENODEV;
}

#define RUN_BPF(test)             \
	do {                      \
		RUN(test);        \
		envs_close_all(); \
	} while (0)

int main(void)
{
	int err;

	if (geteuid() != 0) {
		printf("skipped: the BPF tier needs root to load and test-run BPF programs\n");
		return 77;
	}
	libbpf_set_print(libbpf_print_warnings);
	err = netns_private();
	if (err)
		fprintf(stderr, "private netns with a veth: %s\n", strerror(-err));

	RUN_BPF(test_object_loads_both_programs);

	RUN_BPF(test_filter_empty_matches_everything);
	RUN_BPF(test_filter_ipv4_address_exact);
	RUN_BPF(test_filter_ipv4_address_cidr);
	RUN_BPF(test_filter_ipv6_address_exact);
	RUN_BPF(test_filter_ipv6_address_prefix);
	RUN_BPF(test_filter_address_family_never_crosses);
	RUN_BPF(test_filter_protocol_ipv4);
	RUN_BPF(test_filter_protocol_ipv6_after_ext_headers);
	RUN_BPF(test_filter_ports_tcp_udp_sctp);
	RUN_BPF(test_filter_ports_never_match_without_ports);
	RUN_BPF(test_filter_combined_fields_all_must_match);

	RUN_BPF(test_plain_ethernet_sees_every_field);
	RUN_BPF(test_vlan_one_and_two_tags);
	RUN_BPF(test_vlan_three_tags_not_parsed);
	RUN_BPF(test_vlan_truncated_tag);
	RUN_BPF(test_ipv4_options);
	RUN_BPF(test_ipv4_bad_ihl_and_version);
	RUN_BPF(test_ipv4_truncated_header);
	RUN_BPF(test_ipv4_fragments);
	RUN_BPF(test_truncated_l4_has_no_ports);
	RUN_BPF(test_ipv6_each_ext_header);
	RUN_BPF(test_ipv6_fragments);
	RUN_BPF(test_ipv6_ext_chain_limit);
	RUN_BPF(test_ipv6_malformed);
	RUN_BPF(test_arp_matches_only_empty_filter);
	RUN_BPF(test_tunnels_match_outer_header);

	RUN_BPF(test_slots_share_one_record);
	RUN_BPF(test_slots_all_eight);
	RUN_BPF(test_slot_stop);
	RUN_BPF(test_record_header_and_bytes);
	RUN_BPF(test_record_snaplen);
	RUN_BPF(test_record_multi_buffer);

	RUN_BPF(test_sampling_one_in_four);
	RUN_BPF(test_sampling_one_keeps_every_match);
	RUN_BPF(test_budget_packet_limit);
	RUN_BPF(test_budget_byte_limit);
	RUN_BPF(test_budget_ring_full_gives_back);
	RUN_BPF(test_ring_wakes_reader_only_past_watermark);
	RUN_BPF(test_deadline);
	RUN_BPF(test_idle_touches_nothing);

	RUN_BPF(test_tc_passes_on_and_captures_like_xdp);
	RUN_BPF(test_corpus_xdp);
	RUN_BPF(test_corpus_tc);

	return TEST_SUMMARY();
}
