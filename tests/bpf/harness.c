// SPDX-License-Identifier: BSD-2-Clause
/*
 * harness.c: the BPF tier's shared harness (see harness.h): frame builders, filters, loading the
 * capture object, runs, and the checks on every record and counter.
 */
#include <arpa/inet.h>
#include <errno.h>
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

#include "harness.h"

bool quiet;

/* ---------------------------------------------------------------------------------------------
 * Frames. Builders append to a struct pkt and remember where L3 and L4 start, so a test can
 * damage one field after building a well-formed frame.
 */

static void put_bytes(struct pkt *p, const void *src, size_t n)
{
	if (p->len + n > sizeof(p->b))
		abort(); /* a test asked for a frame larger than any test run takes */
	memcpy(p->b + p->len, src, n);
	p->len += n;
}

void put_u8(struct pkt *p, uint8_t v)
{
	put_bytes(p, &v, 1);
}

void put_be16(struct pkt *p, uint16_t v)
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

void set_be16(struct pkt *p, size_t off, uint16_t v)
{
	p->b[off] = v >> 8;
	p->b[off + 1] = v & 0xff;
}

uint16_t get_be16(const uint8_t *b)
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

void put_payload(struct pkt *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		put_u8(p, (uint8_t)((p->len * 31 + 7) % 251));
}

void build_eth(struct pkt *p, uint16_t ethertype)
{
	static const uint8_t macs[12] = { 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01 };

	memset(p, 0, offsetof(struct pkt, b));
	put_bytes(p, macs, sizeof(macs));
	put_be16(p, ethertype);
	p->l3 = p->l4 = p->len;
}

void push_vlan(struct pkt *p, uint16_t tpid, uint16_t vid)
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

void put_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto, unsigned int ihl)
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

void put_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t next)
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

void put_ipv6_opts(struct pkt *p, uint8_t next, size_t len)
{
	put_u8(p, next);
	put_u8(p, (uint8_t)(len / 8 - 1));
	put_u8(p, 1); /* PadN over the rest */
	put_u8(p, (uint8_t)(len - 4));
	put_zeros(p, len - 4);
	p->l4 = p->len;
	p->proto = next;
}

void put_ipv6_frag(struct pkt *p, uint8_t next, uint16_t offset, bool more)
{
	put_u8(p, next);
	put_u8(p, 0);
	put_be16(p, (uint16_t)(offset << 3 | (more ? 1 : 0)));
	put_be32(p, 0xabcd0123);
	p->l4 = p->len;
	p->proto = next;
}

void put_l4(struct pkt *p, uint8_t proto, uint16_t sport, uint16_t dport)
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

void fix_lengths(struct pkt *p)
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

void build_ipv4_opts(struct pkt *p, const char *src, const char *dst, unsigned int ihl,
		     uint8_t proto, uint16_t sport, uint16_t dport)
{
	build_eth(p, ETH_P_IP);
	put_ipv4(p, src, dst, proto, ihl);
	put_l4(p, proto, sport, dport);
	put_payload(p, 18);
	fix_lengths(p);
}

void build_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t sport,
		uint16_t dport)
{
	build_ipv4_opts(p, src, dst, 5, proto, sport, dport);
}

void build_ipv4_udp(struct pkt *p, const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	build_ipv4(p, src, dst, IPPROTO_UDP, sport, dport);
}

void build_ipv6_with_ext(struct pkt *p, const char *src, const char *dst, const uint8_t *ext,
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

void build_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t sport,
		uint16_t dport)
{
	build_ipv6_with_ext(p, src, dst, NULL, 0, proto, sport, dport);
}

void build_arp(struct pkt *p, const char *sender, const char *target)
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

void build_garbage(struct pkt *p, size_t n, uint32_t seed)
{
	memset(p, 0, offsetof(struct pkt, b));
	while (n--) {
		seed = seed * 1103515245u + 12345u;
		put_u8(p, (uint8_t)(seed >> 16));
	}
}

void build_gre_ipv4(struct pkt *p, const char *osrc, const char *odst, const char *isrc,
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

struct req_prefix prefix(const char *text)
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

struct req_filter filter_src(const char *text)
{
	return (struct req_filter){ .fields = EC_F_SRC_ADDR, .src = prefix(text) };
}

struct req_filter filter_dst(const char *text)
{
	return (struct req_filter){ .fields = EC_F_DST_ADDR, .dst = prefix(text) };
}

struct req_filter filter_proto(uint8_t proto)
{
	return (struct req_filter){ .fields = EC_F_PROTOCOL, .protocol = proto };
}

struct req_filter filter_sport(uint16_t port)
{
	return (struct req_filter){ .fields = EC_F_SRC_PORT, .src_port = port };
}

struct req_filter filter_dport(uint16_t port)
{
	return (struct req_filter){ .fields = EC_F_DST_PORT, .dst_port = port };
}

const struct req_filter filter_empty;

const char *filter_desc(const struct req_filter *f)
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

struct ec_slot_config slot_config(const struct req_filter *f, uint32_t snaplen)
{
	struct ec_slot_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	filter_compile(f, &cfg.filter);
	cfg.sample_rate = 1;
	cfg.snaplen = snaplen;
	return cfg;
}

uint64_t tai_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_TAI, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------
 * One loaded object, its ring buffer, and what the tests learned from it.
 */

uint32_t veth_ifindex;

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

uint32_t expected_cap(const struct env *e, uint32_t mask, uint32_t orig_len)
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

void envs_close_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(open_envs) / sizeof(open_envs[0]); i++)
		env_close(open_envs[i]);
}

struct env *env_open_opts(enum ec_hook hook, uint32_t ring_bytes, uint64_t wakeup_bytes)
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

struct env *env_open_ring(enum ec_hook hook, uint32_t ring_bytes)
{
	return env_open_opts(hook, ring_bytes, 0);
}

struct env *env_open(enum ec_hook hook)
{
	return env_open_ring(hook, RING_BIG);
}

void env_drain(struct env *e)
{
	int n = ring_buffer__consume(e->rb);

	EXPECT(n >= 0, "ring_buffer__consume: %s", strerror(-n));
}

int env_start(struct env *e, unsigned int slot, const struct ec_slot_config *cfg)
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

int env_start_filter(struct env *e, unsigned int slot, const struct req_filter *f, uint32_t snaplen)
{
	struct ec_slot_config cfg = slot_config(f, snaplen);

	return env_start(e, slot, &cfg);
}

struct ec_slot_counters env_counters(struct env *e, unsigned int slot)
{
	struct ec_slot_counters c;
	int err;

	memset(&c, 0, sizeof(c));
	err = slot_counters(e->skel, slot, &e->base[slot], &c);
	EXPECT(err == 0, "slot_counters(%u): %s", slot, strerror(-err));
	return c;
}

int run_frame(struct env *e, const uint8_t *frame, size_t len, uint32_t repeat)
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

int run(struct env *e, const struct pkt *p, uint32_t repeat)
{
	int err = run_frame(e, p->b, p->len, repeat);

	EXPECT(err == 0, "BPF_PROG_TEST_RUN of a %zu-byte frame: %s", p->len, strerror(-err));
	return err;
}

void assert_identity(struct env *e)
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

int selects(struct env *e, const struct req_filter *f, const struct pkt *p)
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

void expect_sees(struct env *e, const struct pkt *p, const struct sees *s, const char *what)
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

void expect_only_empty(struct env *e, const struct pkt *p, uint16_t sport, uint16_t dport,
		       const char *what)
{
	struct sees s = { .proto = -1, .sport = sport, .dport = dport };

	expect_sees(e, p, &s, what);
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

bool bpf_harness_init(void)
{
	int err;

	if (geteuid() != 0) {
		SKIP_ALL("the BPF tier needs root to load and test-run BPF programs");
		return false;
	}
	libbpf_set_print(libbpf_print_warnings);
	err = netns_private();
	if (err)
		fprintf(stderr, "private netns with a veth: %s\n", strerror(-err));
	return true;
}
