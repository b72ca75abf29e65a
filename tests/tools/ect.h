/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ect.h: the payload that edgecap's test traffic carries, and helpers ec_traffic and ec_livegen
 * share.
 *
 * Every datagram's UDP payload starts with an 8-byte header: the magic "ECT1", then a 32-bit
 * sequence number in network byte order (0, 1, 2, ... within one run of a sender), then the
 * sender's tag (0..ECT_TAG_MAX bytes, no NUL), then zero padding up to the payload size. A
 * receiver reads the tag up to the first NUL or the end of the payload, so a tag needs no length
 * field. Captures can be checked against this: the sequence numbers say which datagram a record
 * holds, the tag which test sent it.
 */
#ifndef EDGECAP_ECT_H
#define EDGECAP_ECT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ECT_MAGIC     "ECT1"
#define ECT_MAGIC_LEN 4
#define ECT_HDR_LEN   8
/* Offset of the sequence number inside the payload. */
#define ECT_SEQ_OFF 4
#define ECT_TAG_MAX 32

/* Largest UDP payload over IPv4 (65535 - 20 - 8); IPv6 could carry 20 bytes more. */
#define ECT_PAYLOAD_MAX 65507

/* Smallest payload that holds the header and the whole tag. */
size_t ect_payload_min(const char *tag);
/*
 * Writes a payload of size bytes (at least ect_payload_min(tag)) into buf: header, tag, zeros.
 * Returns 0, or -EINVAL if size is too small.
 */
int ect_payload_build(uint8_t *buf, size_t size, uint32_t seq, const char *tag);
/* Writes the sequence number of a payload built by ect_payload_build. */
void ect_payload_set_seq(uint8_t *buf, uint32_t seq);
/*
 * Reads a payload: 0 with the sequence number and the tag (NUL-terminated, truncated to
 * tag_size - 1), or -EINVAL if it does not start with the ECT1 header.
 */
int ect_payload_parse(const uint8_t *buf, size_t len, uint32_t *seq, char *tag, size_t tag_size);

/*
 * Parses an IPv4 or IPv6 address (no brackets, no port) into ss with the given port. Returns 0, or
 * -EINVAL if text is not an address.
 */
int ect_addr_parse(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* Seconds of CLOCK_MONOTONIC. */
double ect_now(void);
/*
 * Sleeps until monotonic time t (as ect_now gives it), or until a signal interrupts the sleep
 * with *stop set; returns at once if t has passed, so that a late sender catches up.
 */
void ect_sleep_until(double t, const volatile sig_atomic_t *stop);

#endif /* EDGECAP_ECT_H */
