#!/usr/bin/env python3
"""Delay line for the NAT lab (this kernel has no netem).

    delay-line.py NETNS_A TAP_A NETNS_B TAP_B DELAY_MS

Attaches to two persistent TAP devices (created beforehand by the lab with
`ip tuntap add mode tap`), one in each network namespace, and copies every
Ethernet frame from one to the other DELAY_MS milliseconds after it arrived, in
both directions. Order is kept (constant delay = FIFO per direction). Runs until
killed; the lab starts it by PID and kills it by PID.
"""
import collections
import ctypes
import fcntl
import os
import select
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

libc = ctypes.CDLL(None, use_errno=True)


def open_tap(netns, name):
    """Enter `netns`, open /dev/net/tun bound to TAP `name` there. The fd keeps working after we leave."""
    with open("/run/netns/" + netns) as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + netns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    ns_a, tap_a, ns_b, tap_b, delay_ms = sys.argv[1:6]
    delay = float(delay_ms) / 1000.0
    fa = open_tap(ns_a, tap_a)
    fb = open_tap(ns_b, tap_b)
    peer = {fa: fb, fb: fa}
    queue = {fa: collections.deque(), fb: collections.deque()}  # frames waiting to be written to key
    print("delay-line ready %s/%s <-> %s/%s %sms" % (ns_a, tap_a, ns_b, tap_b, delay_ms), flush=True)
    while True:
        now = time.monotonic()
        timeout = None
        for q in queue.values():
            if q:
                wait = q[0][0] - now
                timeout = wait if timeout is None else min(timeout, wait)
        r, _, _ = select.select([fa, fb], [], [], None if timeout is None else max(0.0, timeout))
        now = time.monotonic()
        for fd in r:
            for _ in range(64):  # drain a burst without starving the other side
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                queue[peer[fd]].append((now + delay, frame))
        for fd, q in queue.items():
            while q and q[0][0] <= now:
                try:
                    os.write(fd, q.popleft()[1])
                except OSError:
                    pass  # a full TAP queue drops the frame, like a congested link


if __name__ == "__main__":
    main()
