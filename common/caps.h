/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * caps.h: the capabilities a program that loads and attaches the capture needs, checked at start
 * so that a missing one is named plainly instead of surfacing later as a verifier or attach error.
 *
 * Contract: caps_check_capture() reads the calling thread's effective set with capget(2) (no
 * libcap). It logs one error line per missing capability, with what it is needed for and the
 * caller's hint, and returns -EPERM; 0 when all are there; -errno when capget fails. CAP_SYS_ADMIN
 * stands in for CAP_BPF and CAP_PERFMON, as it does in the kernel (bpf_capable, perfmon_capable),
 * so plain root passes; CAP_NET_ADMIN has no stand-in.
 */
#ifndef EDGECAP_CAPS_H
#define EDGECAP_CAPS_H

int caps_check_capture(const char *hint);

#endif /* EDGECAP_CAPS_H */
