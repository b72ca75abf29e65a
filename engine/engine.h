/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * engine.h: the capture engine, used by `edgecapctl capture` and by edgecap-agent.
 *
 * An engine owns a set of interfaces (each with the capture object loaded and attached) and up to
 * EC_MAX_SLOTS captures. A capture takes the same slot on every interface, so a record's slot
 * mask names its captures directly. The owner runs the loop: it waits on engine_epoll_fd() (ready
 * when a ring passes its watermark) with a timeout of engine_timeout_ms(), then calls
 * engine_poll(), which drains every ring, hands each capture its records in timestamp order
 * (held back by a short reorder window, so records from several CPUs and interfaces merge
 * correctly), and enforces time, packet and byte limits. A capture that reached a limit is
 * stopped in the kernel at once; its owner sees capture_done() and calls capture_finish().
 *
 * Order and copies. engine_poll takes horizon = now - reorder_ns, reads every ring, and hands
 * each capture every record older than the horizon in (timestamp, arrival) order, arrival being
 * the order the drain read them (ring by ring). A record older than the horizon when read is
 * handed on straight from the ring, never copied: the engine reads the rings itself and gives a
 * record's space back only after it was handed on, so the drain can first see every ring, then
 * merge their old records with those the window holds. That space stays taken while the sink
 * writes, and the kernel goes on writing meanwhile, so the drain does this only for each ring's
 * last quarter as it finds it (the wake-up watermark): the kernel then has at least three
 * quarters of the ring while the sink writes. In a ring found fuller, the records before that
 * last quarter are copied out and their space given back before the sink runs. A record younger
 * than the horizon is copied into the capture's reorder window and handed on in a later drain. "In
 * order so far" is not enough to skip the window: a ring read later in the same drain, or another
 * CPU on the same ring, may still bring an older record. The output is exactly what copying every
 * record would give; the cost is that under a flood (rings past the watermark, or records
 * younger than the horizon when read) some records still take the copy
 * (capture_stats.records_direct counts those that did not).
 */
#ifndef EDGECAP_ENGINE_H
#define EDGECAP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture_abi.h"
#include "loader.h"

#define ENGINE_MAX_IFACES 16

struct engine;
struct capture;

struct engine_opts {
	uint32_t ring_bytes;	   /* per interface; a power of two, at least a page */
	uint32_t poll_interval_ms; /* how often the owner calls engine_poll at the latest */
	uint64_t reorder_ns;	   /* how long records are held back to merge in time order */
};

enum stop_reason {
	STOP_NONE = 0,
	STOP_TIME_LIMIT,
	STOP_PACKET_LIMIT,
	STOP_BYTE_LIMIT,
	STOP_STOPPED,
	STOP_ERROR,
};

struct capture_params {
	struct ec_filter filter;
	uint32_t sample_rate;  /* 1 keeps every match */
	uint32_t snaplen;      /* 1..EC_MAX_CAPLEN */
	uint64_t packet_limit; /* 0: none */
	uint64_t byte_limit;   /* 0: none; counts captured bytes */
	uint64_t time_limit_ns;
};

/*
 * Receives a capture's records in timestamp order. rec->tstamp_ns is UTC (ns since the epoch);
 * data holds cap_len bytes, already trimmed to the capture's snaplen. A negative return fails
 * the capture with STOP_ERROR.
 */
typedef int (*capture_record_fn)(void *ctx, const struct ec_record *rec, const uint8_t *data,
				 uint32_t cap_len);

struct capture_iface_stats {
	char ifname[16];
	int ifindex;
	const char *hook;
	const char *attach_mode;
	struct ec_slot_counters kernel;
};

struct capture_stats {
	struct ec_slot_counters kernel; /* summed over interfaces */
	uint64_t packets_captured;	/* handed to the sink */
	uint64_t bytes_captured;
	uint64_t
		over_limit; /* recorded by the kernel, not handed on: past a limit of the capture */
	uint64_t
		records_direct; /* handed to the sink straight from the ring buffer, never copied */
	uint64_t records_windowed; /* copied into the reorder window first */
	double duration_s;
	enum stop_reason reason;
	unsigned int n_ifaces;
	struct capture_iface_stats iface[ENGINE_MAX_IFACES];
};

void engine_opts_default(struct engine_opts *opts);
int engine_new(const struct engine_opts *opts, struct engine **out);
/* Loads and attaches on ifname; on failure the engine is unchanged. */
int engine_add_iface(struct engine *e, const char *ifname, enum ec_hook hook, enum xdp_mode mode,
		     char *err, size_t errlen);
unsigned int engine_n_ifaces(const struct engine *e);
const struct capture_obj *engine_iface(const struct engine *e, unsigned int i);
/* Stops every capture (STOP_STOPPED), detaches every interface, frees e (NULL is accepted). */
void engine_free(struct engine *e);

/*
 * Interface i's ring buffer: bytes written by the kernel and not yet drained, and its size.
 * -ENOENT when there is no such interface or its positions could not be mapped.
 */
int engine_ring_usage(const struct engine *e, unsigned int i, uint64_t *used, uint64_t *size);

int engine_epoll_fd(const struct engine *e);
/* Milliseconds until engine_poll is due: the poll interval, or sooner for a deadline. */
int engine_timeout_ms(const struct engine *e);
int engine_poll(struct engine *e);

/* Starts a capture on every interface of e. -EBUSY when all slots are taken. */
int capture_start(struct engine *e, const struct capture_params *p, capture_record_fn fn, void *ctx,
		  struct capture **out, char *err, size_t errlen);
/* Stops the capture in the kernel with reason (first reason wins); capture_finish completes it. */
void capture_stop(struct capture *c, enum stop_reason reason, const char *error);
bool capture_done(const struct capture *c);
/* Live figures while running; final ones after capture_finish. */
void capture_get_stats(const struct capture *c, struct capture_stats *out);
const char *capture_error(const struct capture *c);
unsigned int capture_slot(const struct capture *c);
/*
 * Stops the capture if it still runs (STOP_STOPPED), drains what the kernel recorded before it
 * stopped, hands the remaining records to the sink up to the limits, fills the final stats and
 * frees the capture and its slot.
 */
void capture_finish(struct capture *c, struct capture_stats *final);

const char *stop_reason_name(enum stop_reason reason);

struct capture_request;
/* Engine parameters for a validated request; simple_sample_rate is the default for simple. */
void capture_params_from_request(const struct capture_request *req, uint32_t simple_sample_rate,
				 struct capture_params *out);

#endif /* EDGECAP_ENGINE_H */
