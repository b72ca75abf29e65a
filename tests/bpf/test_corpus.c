// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_corpus.c: the BPF tier on real frames: every Ethernet frame of the tcpdump corpus, run
 * through edgecap_xdp and edgecap_tc with eight slots, checked against a user-space model of
 * filter_v1 (DESIGN.md) written independently of parse.bpf.h.
 * Needs root (see harness.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "corpus.h"
#include "harness.h"

#ifndef EDGECAP_CORPUS_DIR
#define EDGECAP_CORPUS_DIR "../shared/corpus/tcpdump"
#endif

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

int main(void)
{
	if (!bpf_harness_init())
		return TEST_SUMMARY();
	RUN_BPF(test_corpus_xdp);
	RUN_BPF(test_corpus_tc);
	return TEST_SUMMARY();
}
