#!/usr/bin/env python3
"""Lab helper: captures every frame on every interface of the namespace it runs
in (AF_PACKET) until SIGTERM, then prints one JSON line: frames and bytes seen,
and for each hex marker given, whether it appeared in any frame."""
import json, select, signal, socket, sys

markers = [bytes.fromhex(h) for h in sys.argv[1:]]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
frames = 0
total = 0
found = [False] * len(markers)
tail = b""
print(json.dumps({"event": "ready"}), flush=True)
while not stop:
    r, _, _ = select.select([sock], [], [], 0.2)
    if not r:
        continue
    data = sock.recv(65535)
    frames += 1
    total += len(data)
    for i, m in enumerate(markers):
        if not found[i] and m in data:
            found[i] = True
print(json.dumps({"event": "done", "frames": frames, "bytes": total, "found": found}), flush=True)
