/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sp_header.h: the header both ends of an SP connection (the nanomsg wire protocol that NNG
 * speaks over ipc:// and tcp://) send first, before any message: 0x00 'S' 'P' 0x00, the
 * sender's protocol id (16 bits, big-endian) and two zero bytes. Written here once for the
 * agent's own REP server (agent/sp_rep.c), which sends and checks it, and for relisten.c's
 * probe, which speaks it to its own listener.
 */
#ifndef EDGECAP_SP_HEADER_H
#define EDGECAP_SP_HEADER_H

#include <stdint.h>
#include <string.h>

#define SP_HEADER_LEN 8

/* The protocol ids of REQ and REP (NNG's NNG_REQ0_SELF and NNG_REP0_SELF). */
#define SP_PROTO_REQ 0x30
#define SP_PROTO_REP 0x31

/* The header of protocol proto, as an initializer of a uint8_t[SP_HEADER_LEN]. */
#define SP_HEADER_INIT(proto)                                                   \
	{                                                                       \
		0, 'S', 'P', 0, (uint8_t)((proto) >> 8), (uint8_t)(proto), 0, 0 \
	}

/* The header of protocol proto into h. */
static inline void sp_header(uint8_t h[SP_HEADER_LEN], uint16_t proto)
{
	const uint8_t v[SP_HEADER_LEN] = SP_HEADER_INIT(proto);

	memcpy(h, v, SP_HEADER_LEN);
}

#endif /* EDGECAP_SP_HEADER_H */
