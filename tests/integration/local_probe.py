#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""local_probe.py: raw SP REQ connections to the agent's local socket, for test_abuse.sh, to see
which bound closed them. Each connection first reads the server's SP handshake. Prints one word
or number, what the server did:

  local_probe.py SOCK evict N       N connections, 0.1 s apart, all idle; then the indices
                                    (from 0, the oldest) of those the server closed within
                                    0.5 s of the last, comma-separated, or "none"
  local_probe.py SOCK request LEN   a list request of LEN bytes in all (request id included):
                                    "answered", "closed", or "open" (neither within 3 s)
  local_probe.py SOCK idle          a request whose head promises 64 bytes that never come:
                                    the seconds until the server closed it (one decimal), or
                                    "open" after 8 s
"""
import socket
import struct
import sys
import time

REQ_HELLO = b"\x00SP\x00\x00\x30\x00\x00"
REP_HELLO = b"\x00SP\x00\x00\x31\x00\x00"


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(3)
    hello = b""
    while len(hello) < 8:
        got = s.recv(8 - len(hello))
        if not got:
            sys.exit("the server closed a new connection before its handshake")
        hello += got
    if hello != REP_HELLO:
        sys.exit("not an SP REP handshake: %r" % hello)
    return s


def closed_within(s, seconds):
    """True when the server closes s (EOF or reset) within seconds; False if it stays open."""
    s.settimeout(seconds)
    try:
        while True:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def evict(path, n):
    conns = []
    for _ in range(n):
        conns.append(connect(path))
        time.sleep(0.1)
    closed = []
    deadline = time.monotonic() + 0.5
    for i, s in enumerate(conns):
        if closed_within(s, max(0.01, deadline - time.monotonic())):
            closed.append(str(i))
    return ",".join(closed) or "none"


def request(path, length):
    s = connect(path)
    body = b'{"v":1,"cmd":"list","pad":"'
    body += b"x" * (length - 4 - len(body) - 2) + b'"}'
    s.sendall(REQ_HELLO + b"\x01" + struct.pack(">Q", length) + b"\x80\x00\x00\x01" + body)
    s.settimeout(3)
    try:
        head = s.recv(13, socket.MSG_WAITALL)
    except socket.timeout:
        return "open"
    except ConnectionResetError:
        return "closed"
    if not head:
        return "closed"
    return "answered" if head[0] == 1 and head[9:13] == b"\x80\x00\x00\x01" else "garbled"


def idle(path):
    s = connect(path)
    start = time.monotonic()
    s.sendall(REQ_HELLO + b"\x01" + struct.pack(">Q", 64))
    if closed_within(s, 8):
        return "%.1f" % (time.monotonic() - start)
    return "open"


def main():
    path, what = sys.argv[1:3]
    if what == "evict":
        print(evict(path, int(sys.argv[3])))
    elif what == "request":
        print(request(path, int(sys.argv[3])))
    elif what == "idle":
        print(idle(path))
    else:
        sys.exit("unknown probe %r" % what)


if __name__ == "__main__":
    main()
