// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture_abi.h"
/* The skeleton uses the ABI structs without including their header. */
#include "capture.skel.h"
#include "loader.h"
#include "log.h"

/* The UAPI headers of the build machine may predate TCX (Linux 6.6); the values are ABI. */
#define EC_BPF_TCX_INGRESS 46
#define EC_BPF_TCX_EGRESS  47

const char *hook_name(enum ec_hook hook)
{
	switch (hook) {
	case EC_HOOK_XDP:
		return "xdp";
	case EC_HOOK_TC_INGRESS:
		return "tc-ingress";
	case EC_HOOK_TC_EGRESS:
		return "tc-egress";
	}
	return "?";
}

int hook_parse(const char *text, enum ec_hook *out)
{
	if (!strcmp(text, "xdp"))
		*out = EC_HOOK_XDP;
	else if (!strcmp(text, "tc-ingress"))
		*out = EC_HOOK_TC_INGRESS;
	else if (!strcmp(text, "tc-egress"))
		*out = EC_HOOK_TC_EGRESS;
	else
		return -EINVAL;
	return 0;
}

const char *xdp_mode_name(enum xdp_mode mode)
{
	switch (mode) {
	case XDP_MODE_AUTO:
		return "auto";
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "skb";
	}
	return "?";
}

int xdp_mode_parse(const char *text, enum xdp_mode *out)
{
	if (!strcmp(text, "auto"))
		*out = XDP_MODE_AUTO;
	else if (!strcmp(text, "native"))
		*out = XDP_MODE_NATIVE;
	else if (!strcmp(text, "skb"))
		*out = XDP_MODE_SKB;
	else
		return -EINVAL;
	return 0;
}

__u32 loader_ring_bytes_per_cpu(__u32 ring_bytes, unsigned int n_cpus)
{
	__u32 floor = ring_bytes < LOADER_RING_CPU_FLOOR ? ring_bytes : LOADER_RING_CPU_FLOOR;
	__u32 share = ring_bytes;

	/* The largest power of two not above ring_bytes / n_cpus (ring_bytes is a power of two). */
	while (n_cpus > 1 && share > floor && (__u64)share * n_cpus > ring_bytes)
		share /= 2;
	return share > floor ? share : floor;
}

int loader_ring_shared(void)
{
	const char *v = getenv("EDGECAP_RING_LAYOUT");

	if (!v || !*v || !strcmp(v, "percpu"))
		return 0;
	return !strcmp(v, "shared") ? 1 : -EINVAL;
}

static void rings_close(struct capture_obj *obj)
{
	unsigned int i;

	/* The shared ring is the skeleton's own map: closed with it. */
	if (obj->ring_fd && obj->n_rings && obj->skel &&
	    obj->ring_fd[0] != bpf_map__fd(obj->skel->maps.ec_records)) {
		for (i = 0; i < obj->n_rings; i++) {
			if (obj->ring_fd[i] >= 0)
				close(obj->ring_fd[i]);
		}
	}
	free(obj->ring_fd);
	obj->ring_fd = NULL;
	obj->n_rings = 0;
}

/* Creates the per-CPU rings and puts them in ec_rings, or names the shared ring. */
static int rings_setup(struct capture_obj *obj, __u32 ring_bytes, int n_cpus, char *err,
		       size_t errlen)
{
	int outer, ret;
	__u32 i;

	if (n_cpus <= 0) {
		obj->n_rings = 1;
		obj->ring_fd = malloc(sizeof(int));
		if (!obj->ring_fd)
			return -ENOMEM;
		obj->ring_fd[0] = bpf_map__fd(obj->skel->maps.ec_records);
		obj->ring_bytes = bpf_map__max_entries(obj->skel->maps.ec_records);
		return 0;
	}
	obj->ring_fd = malloc((size_t)n_cpus * sizeof(int));
	if (!obj->ring_fd)
		return -ENOMEM;
	obj->ring_bytes = ring_bytes;
	outer = bpf_map__fd(obj->skel->maps.ec_rings);
	for (i = 0; i < (__u32)n_cpus; i++) {
		obj->ring_fd[i] =
			bpf_map_create(BPF_MAP_TYPE_RINGBUF, "ec_ring_cpu", 0, 0, ring_bytes, NULL);
		obj->n_rings = i + 1;
		if (obj->ring_fd[i] < 0) {
			ret = -errno;
			snprintf(err, errlen,
				 "failed to create the ring buffer of CPU %u (%u bytes): %s", i,
				 ring_bytes, strerror(-ret));
			return ret;
		}
		if (bpf_map_update_elem(outer, &i, &obj->ring_fd[i], BPF_ANY)) {
			ret = -errno;
			snprintf(err, errlen, "failed to install the ring buffer of CPU %u: %s", i,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int loader_load(const struct loader_opts *opts, struct capture_bpf **out, char *err, size_t errlen)
{
	struct capture_bpf *skel;
	int ret;

	skel = capture_bpf__open();
	if (!skel) {
		ret = -errno;
		snprintf(err, errlen, "failed to open the capture BPF object: %s", strerror(errno));
		return ret;
	}

	/* Load-time knobs: set between open and load. */
	skel->rodata->ec_hook = (__u8)opts->hook;
	skel->rodata->ec_wakeup_bytes = opts->wakeup_bytes;
	if (loader_ring_shared() < 0) {
		snprintf(err, errlen, "EDGECAP_RING_LAYOUT: must be shared or percpu (got '%s')",
			 getenv("EDGECAP_RING_LAYOUT"));
		ret = -EINVAL;
		goto cleanup;
	}
	if (loader_ring_shared()) {
		ret = bpf_map__set_max_entries(skel->maps.ec_records, opts->ring_bytes);
	} else {
		int n_cpus = libbpf_num_possible_cpus();
		__u32 each;

		if (n_cpus <= 0 || n_cpus > LOADER_MAX_RINGS) {
			snprintf(err, errlen, "cannot size the per-CPU rings for %d possible CPUs",
				 n_cpus);
			ret = n_cpus < 0 ? n_cpus : -E2BIG;
			goto cleanup;
		}
		each = loader_ring_bytes_per_cpu(opts->ring_bytes, (unsigned int)n_cpus);
		skel->rodata->ec_ring_percpu = 1;
		/* Each ring wakes the drain at the same fraction of its own size. */
		skel->rodata->ec_wakeup_bytes = opts->wakeup_bytes * each / opts->ring_bytes;
		/* The shared ring is unused: the smallest one (a page). */
		ret = bpf_map__set_max_entries(skel->maps.ec_records, (__u32)sysconf(_SC_PAGESIZE));
		if (!ret)
			ret = bpf_map__set_max_entries(skel->maps.ec_rings, (__u32)n_cpus);
	}
	if (!ret)
		ret = bpf_program__set_autoload(opts->hook == EC_HOOK_XDP ? skel->progs.edgecap_tc
									  : skel->progs.edgecap_xdp,
						false);
	if (ret) {
		snprintf(err, errlen, "failed to configure the capture BPF object: %s",
			 strerror(-ret));
		goto cleanup;
	}

	ret = capture_bpf__load(skel);
	if (ret) {
		snprintf(err, errlen,
			 "failed to load the capture BPF program: %s (the verifier log is above "
			 "with -v)",
			 strerror(-ret));
		goto cleanup;
	}
	*out = skel;
	return 0;
cleanup:
	capture_bpf__destroy(skel);
	return ret;
}

/* Describes the XDP program already on ifindex, if any, into buf; returns its id or 0. */
static __u32 xdp_describe_existing(int ifindex, char *buf, size_t buflen)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	const char *mode = "";
	__u32 id;
	int fd;

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id ? q.skb_prog_id : q.hw_prog_id;
	if (!id)
		id = q.prog_id;
	if (!id)
		return 0;
	if (q.drv_prog_id)
		mode = "native";
	else if (q.skb_prog_id)
		mode = "skb";
	else if (q.hw_prog_id)
		mode = "offloaded";
	fd = bpf_prog_get_fd_by_id(id);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &info_len) && info.name[0])
		snprintf(buf, buflen, "\"%s\" (id %u, %s mode)", info.name, id, mode);
	else
		snprintf(buf, buflen, "id %u (%s mode)", id, mode);
	if (fd >= 0)
		close(fd);
	return id;
}

static int attach_xdp(struct capture_obj *obj, enum xdp_mode mode, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char existing[128];
	int ret;

	/* Never replace someone else's program: name it and stop. */
	if (xdp_describe_existing(obj->ifindex, existing, sizeof(existing))) {
		snprintf(err, errlen,
			 "failed to attach XDP to %s: %s (another XDP program %s is attached; "
			 "edgecap never replaces it%s)",
			 obj->ifname, strerror(EBUSY), existing,
			 strstr(existing, "\"edgecap_xdp\"")
				 ? "; is edgecap-agent running here? use `edgecapctl start`"
				 : "");
		return -EBUSY;
	}

	if (mode == XDP_MODE_NATIVE)
		lopts.flags = XDP_FLAGS_DRV_MODE;
	else if (mode == XDP_MODE_SKB)
		lopts.flags = XDP_FLAGS_SKB_MODE;
	ret = bpf_link_create(bpf_program__fd(obj->skel->progs.edgecap_xdp), obj->ifindex, BPF_XDP,
			      &lopts);
	if (ret < 0) {
		ret = -errno;
		if (ret == -EBUSY &&
		    xdp_describe_existing(obj->ifindex, existing, sizeof(existing)))
			snprintf(err, errlen,
				 "failed to attach XDP to %s: %s (another XDP program %s was "
				 "attached meanwhile; edgecap never replaces it)",
				 obj->ifname, strerror(-ret), existing);
		else if (ret == -EOPNOTSUPP && mode == XDP_MODE_NATIVE)
			snprintf(err, errlen,
				 "failed to attach XDP to %s in native mode: %s (the driver has no "
				 "native XDP; try --xdp-mode skb or auto)",
				 obj->ifname, strerror(-ret));
		else
			snprintf(err, errlen, "failed to attach XDP to %s in %s mode: %s",
				 obj->ifname, xdp_mode_name(mode), strerror(-ret));
		return ret;
	}
	obj->link_fd = ret;

	/* Report the mode the kernel chose, which matters for auto. */
	obj->attach_mode = mode == XDP_MODE_SKB ? "skb" : "native";
	if (!bpf_xdp_query(obj->ifindex, 0, &q))
		obj->attach_mode = q.attach_mode == XDP_ATTACHED_SKB ? "skb" : "native";
	return 0;
}

static int attach_tcx(struct capture_obj *obj, char *err, size_t errlen)
{
	int attach_type = obj->hook == EC_HOOK_TC_INGRESS ? EC_BPF_TCX_INGRESS : EC_BPF_TCX_EGRESS;
	int ret;

	/* TCX links coexist with other tc programs and run after those attached before them. */
	ret = bpf_link_create(bpf_program__fd(obj->skel->progs.edgecap_tc), obj->ifindex,
			      (enum bpf_attach_type)attach_type, NULL);
	if (ret < 0) {
		ret = -errno;
		snprintf(err, errlen, "failed to attach tc %s to %s: %s%s",
			 obj->hook == EC_HOOK_TC_INGRESS ? "ingress" : "egress", obj->ifname,
			 strerror(-ret),
			 ret == -EINVAL ? " (TCX links need Linux 6.6 or later)" : "");
		return ret;
	}
	obj->link_fd = ret;
	obj->attach_mode = "tcx";
	return 0;
}

int loader_attach(const char *ifname, const struct loader_opts *opts, struct capture_obj *obj,
		  char *err, size_t errlen)
{
	int ret;

	memset(obj, 0, sizeof(*obj));
	obj->link_fd = -1;
	obj->hook = opts->hook;
	if (strlen(ifname) >= sizeof(obj->ifname)) {
		snprintf(err, errlen, "interface name too long: %s", ifname);
		return -EINVAL;
	}
	strcpy(obj->ifname, ifname);
	obj->ifindex = (int)if_nametoindex(ifname);
	if (!obj->ifindex) {
		ret = -errno;
		snprintf(err, errlen, "no such interface: %s", ifname);
		return ret ? ret : -ENODEV;
	}

	ret = loader_load(opts, &obj->skel, err, errlen);
	if (ret)
		goto cleanup;
	if (obj->skel->rodata->ec_ring_percpu) {
		int n_cpus = (int)bpf_map__max_entries(obj->skel->maps.ec_rings);

		ret = rings_setup(obj,
				  loader_ring_bytes_per_cpu(opts->ring_bytes, (unsigned int)n_cpus),
				  n_cpus, err, errlen);
	} else {
		ret = rings_setup(obj, 0, 0, err, errlen);
	}
	if (ret) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory for the rings of %s", ifname);
		goto cleanup;
	}
	if (opts->hook == EC_HOOK_XDP)
		ret = attach_xdp(obj, opts->mode, err, errlen);
	else
		ret = attach_tcx(obj, err, errlen);
	if (ret)
		goto cleanup;
	pr_debug("attached to %s at %s (%s) iface=%s", ifname, hook_name(opts->hook),
		 obj->attach_mode, ifname);
	return 0;
cleanup:
	loader_detach(obj);
	return ret;
}

void loader_detach(struct capture_obj *obj)
{
	if (!obj)
		return;
	/* Closing the last reference to the link detaches the program. fd 0 is never ours. */
	if (obj->link_fd > 0)
		close(obj->link_fd);
	obj->link_fd = -1;
	rings_close(obj);
	capture_bpf__destroy(obj->skel);
	obj->skel = NULL;
}
