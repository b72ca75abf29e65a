/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * harness.h: what every program of the BPF tier shares. The real bpf/capture.bpf.c object loaded
 * through its skeleton (struct env: one loaded copy, its ring buffer, and what the test learned
 * from it), frames built by hand (struct pkt), filter_v1 filters compiled for the kernel, runs
 * through BPF_PROG_TEST_RUN, and the checks every run gets: each record drained anywhere is
 * checked for its size, header, cap_len against the slots' snaplens and bytes against the frame
 * that was run; assert_identity checks the counters against the records.
 *
 * A program's main() calls bpf_harness_init() first (it needs root: it loads and test-runs BPF,
 * and moves into a network namespace of its own with a four-queue veth for ifindex and rx queue
 * checks), then runs each test with RUN_BPF, which closes whatever environments the test left
 * open however it ended. Every test opens its own environments, so counters, budgets and the
 * ring start empty.
 */
#ifndef EDGECAP_TEST_BPF_HARNESS_H
#define EDGECAP_TEST_BPF_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <bpf/libbpf.h>

/* capture_abi.h (through slot.h) before the skeleton: the skeleton uses its structs. */
#include "slot.h"
#include "capture.skel.h"
#include "request.h"
#include "testing.h"

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
extern bool quiet;

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

void put_u8(struct pkt *p, uint8_t v);
void put_be16(struct pkt *p, uint16_t v);
void set_be16(struct pkt *p, size_t off, uint16_t v);
uint16_t get_be16(const uint8_t *b);

/* Bytes that differ from offset to offset and from any header field a test looks for. */
void put_payload(struct pkt *p, size_t n);

/* A fresh frame: destination and source MAC, then the ethertype. */
void build_eth(struct pkt *p, uint16_t ethertype);

/*
 * Inserts a VLAN tag (tpid, vid) right after the MAC addresses, so the tag pushed last is the
 * outermost: push_vlan(0x8100) then push_vlan(0x88a8) gives 88a8 outer, 8100 inner.
 */
void push_vlan(struct pkt *p, uint16_t tpid, uint16_t vid);

/* An IPv4 header with ihl words (options are NOPs); lengths are set by fix_lengths(). */
void put_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto, unsigned int ihl);
void put_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t next);

/* Hop-by-hop, routing or destination options: len bytes (a multiple of 8), then next. */
void put_ipv6_opts(struct pkt *p, uint8_t next, size_t len);

/* A fragment header; offset in 8-byte units. */
void put_ipv6_frag(struct pkt *p, uint8_t next, uint16_t offset, bool more);

/*
 * The fixed L4 header of proto: TCP 20 bytes, UDP 8, SCTP 12, anything else 8. The first four
 * bytes always hold sport and dport, so for protocols without ports (ICMP, GRE...) a parser that
 * read ports there anyway would match a port filter.
 */
void put_l4(struct pkt *p, uint8_t proto, uint16_t sport, uint16_t dport);

/* Makes the IP (and UDP) lengths describe exactly the bytes after them in the frame. */
void fix_lengths(struct pkt *p);

/* Ethernet, IPv4 (ihl words), the L4 header of proto with its ports, 18 bytes of payload. */
void build_ipv4_opts(struct pkt *p, const char *src, const char *dst, unsigned int ihl,
		     uint8_t proto, uint16_t sport, uint16_t dport);
void build_ipv4(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t sport,
		uint16_t dport);
void build_ipv4_udp(struct pkt *p, const char *src, const char *dst, uint16_t sport,
		    uint16_t dport);

/*
 * Ethernet, IPv6, then the extension headers ext[0..n-1] in that order (hop-by-hop, routing and
 * destination options of 8, 16 or 24 bytes; fragment headers as first fragments), then proto.
 */
void build_ipv6_with_ext(struct pkt *p, const char *src, const char *dst, const uint8_t *ext,
			 unsigned int n, uint8_t proto, uint16_t sport, uint16_t dport);
void build_ipv6(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t sport,
		uint16_t dport);

/* An ARP request from sender asking for target: non-IP, though it carries IPv4 addresses. */
void build_arp(struct pkt *p, const char *sender, const char *target);

/* n bytes from a fixed pseudo-random sequence: not any protocol. */
void build_garbage(struct pkt *p, size_t n, uint32_t seed);

/* Ethernet, IPv4 GRE (47) carrying an inner IPv4 frame. */
void build_gre_ipv4(struct pkt *p, const char *osrc, const char *odst, const char *isrc,
		    const char *idst, uint8_t iproto, uint16_t sport, uint16_t dport);

/* ---------------------------------------------------------------------------------------------
 * Filters, built from the API's model (struct req_filter) and compiled by filter_compile().
 */

/* "192.0.2.0/24", "192.0.2.1", "2001:db8::/32" or "2001:db8::1". */
struct req_prefix prefix(const char *text);
struct req_filter filter_src(const char *text);
struct req_filter filter_dst(const char *text);
struct req_filter filter_proto(uint8_t proto);
struct req_filter filter_sport(uint16_t port);
struct req_filter filter_dport(uint16_t port);

extern const struct req_filter filter_empty;

const char *filter_desc(const struct req_filter *f);

/* A slot that keeps every match of f, snaplen bytes each, with no limit or deadline. */
struct ec_slot_config slot_config(const struct req_filter *f, uint32_t snaplen);

/* CLOCK_TAI now, the clock of the object's deadlines and record timestamps. */
uint64_t tai_now_ns(void);

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

/* The four-queue veth some test runs arrive on (bpf_harness_init); 0 if it could not be made. */
extern uint32_t veth_ifindex;

/* Closes every environment still open: RUN_BPF calls it after each test. */
void envs_close_all(void);

/* The cap_len a record for the slots in mask gets: the largest of their snaplens, at most orig_len.
 */
uint32_t expected_cap(const struct env *e, uint32_t mask, uint32_t orig_len);

/*
 * Loads the object for hook (XDP, or tc with the XDP program not loaded) with a ring of
 * ring_bytes, the way the agent does: hook and wake-up mark set in rodata.
 */
struct env *env_open_opts(enum ec_hook hook, uint32_t ring_bytes, uint64_t wakeup_bytes);
/* env_open_opts with wake-up mark 0; env_open with a RING_BIG ring too. NULL on failure. */
struct env *env_open_ring(enum ec_hook hook, uint32_t ring_bytes);
struct env *env_open(enum ec_hook hook);

/* Drains the ring, checking every record (see run_frame). */
void env_drain(struct env *e);

/* Starts slot with cfg (stopping it first if live); its counters and tallies start at zero. */
int env_start(struct env *e, unsigned int slot, const struct ec_slot_config *cfg);
int env_start_filter(struct env *e, unsigned int slot, const struct req_filter *f,
		     uint32_t snaplen);

/* Slot's counters since env_start (summed over CPUs). */
struct ec_slot_counters env_counters(struct env *e, unsigned int slot);

/*
 * Runs frame repeat times through the program (XDP: arriving on e->ifindex, queue e->rx_queue;
 * tc: on lo). Checks the verdict (XDP_PASS, or TCX_NEXT at tc) and that the bytes handed on are the
 * bytes given, then drains the ring (checking every record, see on_record). Returns 0 or the run's
 * -errno.
 */
int run_frame(struct env *e, const uint8_t *frame, size_t len, uint32_t repeat);
/* run_frame on a built frame. */
int run(struct env *e, const struct pkt *p, uint32_t repeat);

/*
 * The counter identity, for every slot this test started: matched == sampled_out +
 * budget_exhausted + ring_full + submitted; and submitted and bytes agree with the records the
 * ring actually held for that slot. Drains first.
 */
void assert_identity(struct env *e);

/*
 * Whether a slot filtering with f selects p: slot 0 alone, one run. Also checks that the run
 * was counted consistently (seen 1, one record exactly when matched). -1 on error.
 */
int selects(struct env *e, const struct req_filter *f, const struct pkt *p);

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
void expect_sees(struct env *e, const struct pkt *p, const struct sees *s, const char *what);

/* A frame only the empty filter selects; sport/dport are what lies where ports would be. */
void expect_only_empty(struct env *e, const struct pkt *p, uint16_t sport, uint16_t dport,
		       const char *what);

/*
 * Sets the tier up: root or a skip (SKIP_ALL, which fails under CI), libbpf's warnings only,
 * and a network namespace of our own with the veth. False when the program cannot run: main()
 * then returns TEST_SUMMARY().
 */
bool bpf_harness_init(void);

#define RUN_BPF(test)             \
	do {                      \
		RUN(test);        \
		envs_close_all(); \
	} while (0)

#endif /* EDGECAP_TEST_BPF_HARNESS_H */
