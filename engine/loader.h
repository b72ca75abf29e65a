/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * loader.h: load the capture object for one interface and attach it through a BPF link.
 *
 * Links go away with the process that owns them, so a capture killed with SIGKILL leaves nothing
 * attached. XDP is attached in native, skb (generic) or auto mode; tc through TCX links at
 * ingress or egress. An interface that already has an XDP program is refused with an error that
 * names it: edgecap never replaces a program someone else attached.
 */
#ifndef EDGECAP_LOADER_H
#define EDGECAP_LOADER_H

#include <net/if.h>
#include <stddef.h>

#include "capture_abi.h"

struct capture_bpf;

enum xdp_mode {
	XDP_MODE_AUTO = 0,
	XDP_MODE_NATIVE = 1,
	XDP_MODE_SKB = 2,
};

struct loader_opts {
	enum ec_hook hook;
	enum xdp_mode mode; /* XDP only */
	__u32 ring_bytes;   /* ring buffer size: a power of two, at least a page (see below) */
	__u64 wakeup_bytes; /* ring fill that wakes the drain; 0: timer only (see below) */
};

/*
 * Ring layout. By default every possible CPU writes its records into a ring of its own (no lock
 * shared between CPUs; the engine merges the rings by timestamp). Each CPU's ring holds
 * loader_ring_bytes_per_cpu(ring_bytes, CPUs): ring_bytes is the total, but no CPU's ring is
 * smaller than min(ring_bytes, LOADER_RING_CPU_FLOOR), what one CPU receiving at full speed
 * needs to lose nothing (measured: docs/performance.md, "More than one producing CPU"). With the
 * environment variable EDGECAP_RING_LAYOUT=shared (a benchmark switch) every CPU writes into one
 * ring of ring_bytes instead. wakeup_bytes is a fill of ring_bytes; each ring wakes the drain at
 * the same fraction of its own size.
 */
#define LOADER_RING_CPU_FLOOR (8U << 20)
#define LOADER_MAX_RINGS      1024 /* per interface: possible CPUs past this are refused */

__u32 loader_ring_bytes_per_cpu(__u32 ring_bytes, unsigned int n_cpus);
/*
 * Whether EDGECAP_RING_LAYOUT asks for the one shared ring: 1 for "shared", 0 for "percpu" or
 * unset, -EINVAL for anything else (loader_load then fails, naming the value).
 */
int loader_ring_shared(void);

/* One interface with the capture object loaded and attached. */
struct capture_obj {
	struct capture_bpf *skel;
	int link_fd;
	int ifindex;
	char ifname[IF_NAMESIZE];
	enum ec_hook hook;
	const char *attach_mode; /* "native", "skb", "tcx" */
	/* The rings the program writes to: ring_fd[c] is CPU c's, or ring_fd[0] the shared one. */
	int *ring_fd;
	unsigned int n_rings;
	__u32 ring_bytes; /* each ring's size */
};

/* Opens and loads the object for hook without attaching it (tests and benchmarks use this). */
int loader_load(const struct loader_opts *opts, struct capture_bpf **out, char *err, size_t errlen);
/* Loads and attaches on ifname. On failure nothing is left loaded or attached. */
int loader_attach(const char *ifname, const struct loader_opts *opts, struct capture_obj *obj,
		  char *err, size_t errlen);
/* Detaches and unloads; obj may be half set up (or zeroed). */
void loader_detach(struct capture_obj *obj);

const char *hook_name(enum ec_hook hook);
int hook_parse(const char *text, enum ec_hook *out);
const char *xdp_mode_name(enum xdp_mode mode);
int xdp_mode_parse(const char *text, enum xdp_mode *out);

#endif /* EDGECAP_LOADER_H */
