/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ingest_internal.h: the ingest's state, shared by its three modules and by nothing else:
 * ingest.c (message routing, the capture lifecycle, the loop), output.c (outputs and the agents'
 * sequence accounts) and checkpoint.c (the checkpoint, and the restart from it). ingest.h is
 * the contract with the rest of the aggregator; these types change with the modules.
 *
 * One struct icap per capture the ingest knows, each with its agents (struct iagent) and its
 * output: the merged pcap and its reorder window for a simple capture, one pcap per host for a
 * full one.
 */
#ifndef EDGECAP_INGEST_INTERNAL_H
#define EDGECAP_INGEST_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <nng/nng.h>

#include "identity.h"
#include "hostidx.h"
#include "ingest.h"
#include "merge.h"
#include "pcap_writer.h"
#include "store.h"
#include "wire.h"

#define US_PER_MS 1000ULL
#define US_PER_S  1000000ULL
/* Distinct drop reasons: wire_error_name's and the ingest's own. */
#define MAX_DROP_REASONS 24
#define N_FIELDS(a)	 (sizeof(a) / sizeof((a)[0]))

/* Sequence numbers lo..hi (inclusive) that have not arrived. */
struct gap {
	uint64_t lo, hi;
};

/* One pcap file and what went into it. */
struct output {
	struct pcap_writer *w;
	uint64_t packets, bytes, over_limit;
	uint64_t length;  /* at the last checkpoint */
	uint64_t synced;  /* packets at the last checkpoint: unchanged outputs need no fsync */
	uint64_t last_ts; /* newest timestamp written */
	bool packet_limit_hit, byte_limit_hit;
	bool truncated; /* failed (a full disk): its valid prefix kept (out_close) */
	int err;
};

struct iagent {
	char host[WIRE_AGENT_ID_MAX + 1];
	uint32_t index; /* in icap.agents */
	json_t *info;	/* what the fan-out knows (colo, ...); merged into reports */
	bool expected, heard, final_received, final_late;
	bool allowed; /* a proven reply said this host accepted the capture (ingest_allow_agent) */
	bool report_due; /* its report waits for reports_flush (output.h) */
	bool live;	 /* takes part and has not sent its final: may still send records */
	bool lost;	 /* the fan-out lost it (info's "lost"): the capture ends without it */
	uint64_t batches, records, highest_seq, duplicates;
	uint64_t newest_ts; /* newest record timestamp received */
	uint64_t records_written, over_limit, out_of_order, late_batches, lost_at_restart;
	uint64_t held; /* records in the window now (as of the last agent_settle) */
	/*
	 * Simple captures: the window's takes of this agent's records that agent_settle has
	 * counted, and of those since, the ones not written (over a limit, or a failed output).
	 * Releasing a record from the window does not touch its agent: with 10,000 agents that
	 * was a cache miss a record, about a quarter of the ingest's samples (output.h).
	 */
	uint64_t taken_seen, window_unwritten;
	struct gap *gaps;
	size_t ngaps, gaps_cap;
	struct wire_final fin;
	/* Full captures: this host's file. */
	char file[NAME_MAX + 1];
	struct output out;
};

struct icap {
	struct icap *next;
	struct capture_rec rec;
	uint8_t bin[WIRE_CAPTURE_ID_LEN];
	uint32_t snaplen;
	uint64_t packet_limit, byte_limit; /* byte_limit counts record headers (ingest.h) */
	uint32_t max_hosts;		   /* agents at most (ingest_opts) */
	bool full, finished, expect_done, dirty, no_state, no_watermark;
	int write_err; /* an output's first error: the capture fails at once (maybe_finish) */
	uint32_t restarts;
	uint64_t finished_us;
	/* The last checkpoint tried: the next is due checkpoint_ms later, whether it failed. */
	uint64_t last_ckpt_us;
	bool ckpt_failing;  /* the last checkpoint failed: logged once, until one succeeds */
	uint64_t status_us; /* when the store's status was last looked at */
	/*
	 * Kept at their length: a finished capture lingers INGEST_LINGER_S, and two PATH_MAX
	 * arrays were 8 KiB of its 10.
	 */
	char *dir;	   /* the capture's directory in the store */
	char *out_dir;	   /* full: where the host files go (for messages); "" for a simple one */
	int out_dirfd;	   /* full: that directory, opened beneath its root; -1: none */
	struct output out; /* simple: the merged pcap */
	/* full: the hosts' files' packets and bytes, summed (cap_totals; files_recount) */
	uint64_t files_packets, files_bytes;
	bool files_journal; /* full: the journal of files opened since the checkpoint exists */
	/* full: host files created since the last checkpoint, their entries not yet synced */
	bool files_unsynced;
	struct merge *win; /* simple: the reorder window, its sources the agents */
	uint64_t strays;   /* records win took out of their agent's order (merge.h) */
	size_t nlive;	   /* agents live */
	struct iagent **agents;
	size_t nagents, agents_cap;
	struct hostidx agent_idx; /* agents by host */
	struct hostidx file_idx;  /* full: agents by their file's name */
	bool reports_due;	  /* some agent's report waits for reports_flush */
	uint64_t reports_us;	  /* when they were last flushed */
	struct iagent *last;	  /* the agent of the previous message: most messages repeat it */
};

/* A host's session key, proven by a signed control reply (identity.h). */
struct ikey {
	char host[WIRE_AGENT_ID_MAX + 1];
	uint8_t key[ID_KEY_LEN];
};

/*
 * A data message that came before its host's key: held until the key or park_us. Every
 * one is on the list of all of them (arrival order: expiry takes from its head) and on its
 * host's (arrival order: a binding takes that list alone), and counts against its host's and
 * its connection's quotas (ingest.h).
 */
struct phost;
struct pconn;
struct parked {
	struct parked *next, *prev; /* all of them */
	struct parked *hnext;	    /* its host's */
	struct phost *h;
	struct pconn *c; /* NULL: fed with no connection (ingest_feed) */
	uint64_t at_us;
	size_t len, cost;
	uint8_t data[];
};

/* A host with messages parked; freed with its last one. */
struct phost {
	struct phost *next; /* in its bucket */
	struct parked *head, **tail;
	size_t bytes, n;
	char host[WIRE_AGENT_ID_MAX + 1];
};

/*
 * What a parked message and a host with messages parked cost against the room's bounds: their
 * bytes, bookkeeping and what malloc adds (about 16 bytes).
 */
#define PARK_MALLOC_OVERHEAD 16
#define PARK_COST(len)	     (sizeof(struct parked) + (len) + PARK_MALLOC_OVERHEAD)
#define PARK_HOST_COST	     (sizeof(struct phost) + PARK_MALLOC_OVERHEAD)

/* A data connection (NNG pipe) with messages parked; freed with its last one. */
struct pconn {
	struct pconn *next; /* in its bucket */
	uint32_t id;
	size_t bytes, n;
};

struct drop_count {
	const char *reason; /* a static string */
	uint64_t n;
};

struct ingest {
	struct store *store;
	uint64_t window_us, ckpt_us, held_max;
	/* The waiting room's bounds (ingest_opts, ingest.h). */
	uint64_t park_us, park_max, park_host_max, park_conn_max;
	uint32_t park_msgs, park_host_msgs, park_conn_msgs;
	uint32_t max_msgs, max_hosts;
	uint64_t full_byte_limit;
	nng_socket sock; /* the PULL socket, when sock_open */
	bool sock_open;
	struct relisten *listener; /* the socket's, kept answering (relisten.h) */
	int rcvfd, tfd;
	struct icap *caps;
	struct ingest_hooks hooks;
	void *hooks_ctx;
	uint64_t messages, batches, finals, records, strays;
	uint64_t bytes;			 /* of every message received, as it came off the socket */
	struct wire_counters finals_sum; /* the counters of every final message taken, summed */
	bool require_auth;		 /* every message needs a MAC under its host's proven key */
	struct ikey *keys;
	/* keys[0..nkeys): keys_dead of them forgotten (host ""), left as the index's tombstones */
	size_t nkeys, keys_cap, keys_dead;
	struct hostidx key_idx;		     /* keys by host */
	struct parked *parked, *parked_last; /* all parked messages, oldest first */
	uint64_t parked_bytes;		     /* their cost, and their hosts' (PARK_COST) */
	size_t nparked;
	struct phost **phosts; /* hashed by host id (hostidx_hash) */
	size_t phosts_size, nphosts;
	struct pconn **pconns; /* hashed by pipe id */
	size_t pconns_size, npconns;
	uint64_t park_steps; /* parked messages visited by bindings and expiry (tests) */
	struct drop_count drops[MAX_DROP_REASONS];
	size_t ndrops;
};

/* A counter as a JSON integer: jansson's are signed, so it saturates at INT64_MAX. */
static inline json_t *ju64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

#endif /* EDGECAP_INGEST_INTERNAL_H */
