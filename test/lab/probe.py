#!/usr/bin/env python3
"""NAT lab probe: a reflector and the clients that measure a NAT from inside the lab.

Runs inside lab namespaces only (the lab spawns it with `ip netns exec`). Every
result is one JSON object per line on stdout, so the TypeScript side can parse it.

  reflect --addrs A1,A2 --port P [--helper IP:PORT]
      UDP + TCP reflector on A1:P, A1:P+1, A2:P, A2:P+1. Replies with the source
      ip:port it saw. On request it sends probes to that source from its other
      addresses/ports and (through --helper) from a third host.
  helper --port P          third-host helper: does the probes the reflector asks for.
  nat --proto udp|tcp --srv A1,A2 --port P
      measures mapping (4 destinations from one local port) and filtering.
  listen --proto udp|tcp --srv A1 --port P --hold S
      learns its own mapping, then reports every inbound datagram/connection.
  send --proto udp|tcp --to IP:PORT [--count N]     one-shot sender.
  rtt --to IP:PORT --count N [--interval MS]        UDP echo round trips.
  natpmp --gw IP --proto tcp --internal P --external P [--lifetime S]
  mqtt --broker IP:PORT --topic T --message M       subscribe, publish, receive.
  http-get --url http://IP:PORT/path                prints status and body.
"""
import argparse
import json
import select
import socket
import struct
import sys
import threading
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def hp(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def fmt(addr):
    return "%s:%d" % (addr[0], addr[1])


def reuse(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


# --- probes toward a target (used by the reflector and the helper) -----------

def udp_probe_from(bind_ip, target, tag):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind_ip, 0))
    for _ in range(3):  # a few copies; the lab has no loss unless a test asks for it
        s.sendto(("probe " + tag).encode(), target)
        time.sleep(0.01)
    s.close()


def tcp_probe_from(bind_ip, target, timeout=1.0):
    """True when the SYN reached the host (accepted or refused), False when dropped."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((bind_ip, 0))
    s.settimeout(timeout)
    try:
        s.connect(target)
        try:
            s.sendall(b"probe\n")
        except OSError:
            pass
        return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def ask_helper(helper, line, timeout=5):
    c = socket.create_connection(helper, timeout=timeout)
    c.sendall((line + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    c.close()
    return data.decode().strip()


# --- reflector ---------------------------------------------------------------

def cmd_reflect(a):
    addrs = a.addrs.split(",")
    ports = [a.port, a.port + 1]
    helper = hp(a.helper) if a.helper else None
    udps, tcps = {}, {}
    for ip in addrs:
        for p in ports:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((ip, p))
            udps[u] = (ip, p)
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            reuse(t)
            t.bind((ip, p))
            t.listen(64)
            tcps[t] = (ip, p)
    out({"ready": True, "addrs": addrs, "ports": ports})

    def udp_probe(via, src, tag_prefix):
        other_ip = [ip for ip in addrs if ip != via[0]][0]
        udp_probe_from(via[0], src, tag_prefix + "same-addr")
        udp_probe_from(other_ip, src, tag_prefix + "other-addr")
        if helper:
            ask_helper(helper, "udp %s %s" % (fmt(src), tag_prefix + "third"))

    def tcp_conn(conn, peer, via):
        try:
            conn.settimeout(10)
            conn.sendall(("seen %s via %s\n" % (fmt(peer), fmt(via))).encode())
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    words = line.decode().split()
                    if words[:1] == ["probe"]:
                        other_ip = [ip for ip in addrs if ip != via[0]][0]
                        res = {}
                        jobs = [("same-addr", lambda: tcp_probe_from(via[0], peer)),
                                ("other-addr", lambda: tcp_probe_from(other_ip, peer))]
                        if helper:
                            jobs.append(("third", lambda: ask_helper(helper, "tcp %s" % fmt(peer)) == "reached"))
                        ths = [threading.Thread(target=lambda k=k, fn=fn: res.__setitem__(k, fn())) for k, fn in jobs]
                        for th in ths:
                            th.start()
                        for th in ths:
                            th.join()
                        conn.sendall((json.dumps(res) + "\n").encode())
                    elif words[:1] == ["echo"]:
                        conn.sendall(line + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        r, _, _ = select.select(list(udps) + list(tcps), [], [])
        for s in r:
            if s in udps:
                try:
                    data, src = s.recvfrom(2048)
                except OSError:
                    continue
                words = data.decode(errors="replace").split()
                if words[:1] == ["map"]:
                    s.sendto(("seen %s via %s" % (fmt(src), fmt(udps[s]))).encode(), src)
                elif words[:1] == ["probe"]:
                    tag = words[1] if len(words) > 1 else ""
                    threading.Thread(target=udp_probe, args=(udps[s], src, tag), daemon=True).start()
                else:  # echo anything else (rtt, loss)
                    s.sendto(data, src)
            else:
                conn, peer = s.accept()
                threading.Thread(target=tcp_conn, args=(conn, peer, tcps[s]), daemon=True).start()


def cmd_helper(a):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reuse(srv)
    srv.bind(("0.0.0.0", a.port))
    srv.listen(16)
    out({"ready": True})
    while True:
        conn, _ = srv.accept()
        try:
            conn.settimeout(5)
            words = conn.recv(4096).decode().split()
            if words[0] == "udp":
                udp_probe_from("0.0.0.0", hp(words[1]), words[2])
                conn.sendall(b"sent\n")
            elif words[0] == "tcp":
                conn.sendall(b"reached\n" if tcp_probe_from("0.0.0.0", hp(words[1])) else b"dropped\n")
        except OSError:
            pass
        finally:
            conn.close()


# --- NAT measurement client ---------------------------------------------------

def dests(a):
    addrs = a.srv.split(",")
    return [(addrs[0], a.port), (addrs[1], a.port), (addrs[0], a.port + 1), (addrs[1], a.port + 1)]


def udp_map(sock, dest, timeout=0.4):
    for _ in range(3):
        sock.sendto(b"map", dest)
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([sock], [], [], max(0, end - time.time()))
            if not r:
                break
            data, src = sock.recvfrom(2048)
            if src == dest and data.startswith(b"seen "):
                return data.decode().split()[1]
    return None


def cmd_nat(a):
    if a.proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        local = s.getsockname()[1]
        mapped = [udp_map(s, d) for d in dests(a)]
        res = {"proto": "udp", "local": local, "mapped": mapped, "filter": None}
        # Filtering: a fresh socket that has contacted only the first destination.
        f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        f.bind(("0.0.0.0", 0))
        first = dests(a)[0]
        if udp_map(f, first) is not None:
            f.sendto(b"probe f-", first)
            got = set()
            end = time.time() + a.wait
            while time.time() < end:
                r, _, _ = select.select([f], [], [], max(0, end - time.time()))
                if r:
                    data, src = f.recvfrom(2048)
                    words = data.decode(errors="replace").split()
                    if words[:1] == ["probe"] and len(words) > 1 and words[1].startswith("f-"):
                        got.add(words[1][2:])
            res["filter"] = {k: k in got for k in ("same-addr", "other-addr", "third")}
        out(res)
        return
    # TCP: listen on the local port and connect from it to each destination.
    def open_from(local, dest):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        reuse(c)
        c.bind(("0.0.0.0", local))
        c.settimeout(3)
        try:
            c.connect(dest)
            f = c.makefile("rb")
            line = f.readline().decode().split()
            return c, f, (line[1] if line[:1] == ["seen"] else None)
        except OSError:
            c.close()
            return None, None, None

    def listener():
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        reuse(lst)
        lst.bind(("0.0.0.0", 0))
        lst.listen(8)
        return lst

    lst = listener()
    local = lst.getsockname()[1]
    opened = [open_from(local, d) for d in dests(a)]
    res = {"proto": "tcp", "local": local, "mapped": [m for _, _, m in opened], "filter": None}
    for c, _, _ in opened:
        if c:
            c.close()
    # Filtering: a fresh port (listening, so a probe that gets through is accepted) that contacted one destination.
    lst2 = listener()
    c, f, m = open_from(lst2.getsockname()[1], dests(a)[0])
    if c:
        c.settimeout(15)
        c.sendall(b"probe\n")
        res["filter"] = json.loads(f.readline().decode())
        c.close()
    lst.close()
    lst2.close()
    out(res)


def cmd_listen(a):
    """Learn the own mapping from the reflector, then report whatever comes in."""
    srv = (a.srv.split(",")[0], a.port)
    if a.proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        out({"local": s.getsockname()[1], "mapped": udp_map(s, srv)})
        end = time.time() + a.hold
        while time.time() < end:
            r, _, _ = select.select([s], [], [], max(0, end - time.time()))
            if r:
                data, src = s.recvfrom(2048)
                if src != srv:
                    out({"recv": data.decode(errors="replace"), "from": fmt(src)})
        return
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reuse(lst)
    lst.bind(("0.0.0.0", 0))
    local = lst.getsockname()[1]
    lst.listen(8)
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reuse(c)
    c.bind(("0.0.0.0", local))
    c.settimeout(3)
    c.connect(srv)
    line = c.makefile("rb").readline().decode().split()
    out({"local": local, "mapped": line[1] if line[:1] == ["seen"] else None})
    end = time.time() + a.hold
    while time.time() < end:
        r, _, _ = select.select([lst], [], [], max(0, end - time.time()))
        if r:
            conn, peer = lst.accept()
            conn.settimeout(2)
            try:
                data = conn.recv(2048).decode(errors="replace")
            except OSError:
                data = ""
            out({"recv": data, "from": fmt(peer)})
            conn.close()
    c.close()


def cmd_send(a):
    to = hp(a.to)
    if a.proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(a.count):
            s.sendto(a.message.encode(), to)
            time.sleep(0.01)
        out({"sent": a.count})
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    try:
        s.connect(to)
        s.sendall(a.message.encode())
        data = s.recv(2048).decode(errors="replace")
        out({"connected": True, "reply": data})
    except OSError as e:
        out({"connected": False, "error": type(e).__name__})
    finally:
        s.close()


def cmd_rtt(a):
    """UDP echo: each datagram carries its sequence number; lost ones never come back."""
    to = hp(a.to)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    sent_at = {}
    rtts = []
    for i in range(a.count):
        sent_at[i] = time.monotonic()
        s.sendto(b"echo %d" % i, to)
        end = time.monotonic() + a.interval / 1000.0
        while True:
            left = end - time.monotonic()
            r, _, _ = select.select([s], [], [], max(0, left))
            if r:
                data, _ = s.recvfrom(2048)
                seq = int(data.split()[1])
                if seq in sent_at:
                    rtts.append((time.monotonic() - sent_at.pop(seq)) * 1000)
            if left <= 0:
                break
    end = time.monotonic() + a.drain / 1000.0
    while sent_at and time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
        if r:
            data, _ = s.recvfrom(2048)
            seq = int(data.split()[1])
            if seq in sent_at:
                rtts.append((time.monotonic() - sent_at.pop(seq)) * 1000)
    rtts.sort()
    out({"sent": a.count, "received": len(rtts),
         "min": rtts[0] if rtts else None,
         "median": rtts[len(rtts) // 2] if rtts else None,
         "max": rtts[-1] if rtts else None})


# --- NAT-PMP (RFC 6886) -------------------------------------------------------

def cmd_natpmp(a):
    gw = (a.gw, 5351)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)

    def ask(req, n):
        for _ in range(6):
            s.sendto(req, gw)
            try:
                data, _ = s.recvfrom(64)
                if len(data) >= n:
                    return data
            except socket.timeout:
                pass
        raise SystemExit("no NAT-PMP answer from %s" % a.gw)

    data = ask(struct.pack("!BB", 0, 0), 12)
    _, op, code, epoch = struct.unpack("!BBHI", data[:8])
    ext_ip = socket.inet_ntoa(data[8:12])
    opcode = 2 if a.proto == "tcp" else 1
    data = ask(struct.pack("!BBHHHI", 0, opcode, 0, a.internal, a.external, a.lifetime), 16)
    _, op2, code2, _, internal, external, lifetime = struct.unpack("!BBHIHHI", data[:16])
    out({"externalIp": ext_ip, "resultCode": code2, "internal": internal, "external": external,
         "lifetime": lifetime, "opcode": op2})


# --- MQTT 3.1.1, just enough for a subscribe/publish round trip --------------

def mqtt_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def mqtt_packet(ptype, body):
    n, rem = len(body), b""
    while True:
        byte = n % 128
        n //= 128
        rem += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([ptype]) + rem + body


def mqtt_read(sock):
    head = sock.recv(1)
    if not head:
        raise EOFError("broker closed")
    mult, n = 1, 0
    while True:
        b = sock.recv(1)[0]
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = b""
    while len(body) < n:
        body += sock.recv(n - len(body))
    return head[0], body


def mqtt_connect(broker, cid):
    c = socket.create_connection(broker, timeout=5)
    c.sendall(mqtt_packet(0x10, mqtt_str("MQTT") + bytes([4, 2]) + struct.pack("!H", 30) + mqtt_str(cid)))
    t, body = mqtt_read(c)
    if t != 0x20 or body[1] != 0:
        raise SystemExit("CONNACK refused: %r" % body)
    return c


def cmd_mqtt(a):
    broker = hp(a.broker)
    sub = mqtt_connect(broker, "p2pn-sub")
    sub.sendall(mqtt_packet(0x82, struct.pack("!H", 1) + mqtt_str(a.topic) + b"\x00"))
    t, _ = mqtt_read(sub)
    if t != 0x90:
        raise SystemExit("no SUBACK")
    pub = mqtt_connect(broker, "p2pn-pub")
    pub.sendall(mqtt_packet(0x30, mqtt_str(a.topic) + a.message.encode()))
    while True:
        t, body = mqtt_read(sub)
        if t & 0xF0 == 0x30:
            tl = struct.unpack("!H", body[:2])[0]
            out({"topic": body[2:2 + tl].decode(), "message": body[2 + tl:].decode()})
            break
    pub.sendall(b"\xe0\x00")
    sub.sendall(b"\xe0\x00")


def cmd_http_get(a):
    rest = a.url.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    c = socket.create_connection(hp(hostport), timeout=5)
    c.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, hostport)).encode())
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    out({"status": int(head.split()[1]), "body": body.decode(errors="replace")})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reflect"); r.add_argument("--addrs", required=True); r.add_argument("--port", type=int, default=3000); r.add_argument("--helper")
    h = sub.add_parser("helper"); h.add_argument("--port", type=int, default=3100)
    n = sub.add_parser("nat"); n.add_argument("--proto", default="udp"); n.add_argument("--srv", required=True); n.add_argument("--port", type=int, default=3000); n.add_argument("--wait", type=float, default=0.8)
    l = sub.add_parser("listen"); l.add_argument("--proto", default="udp"); l.add_argument("--srv", required=True); l.add_argument("--port", type=int, default=3000); l.add_argument("--hold", type=float, default=5)
    s = sub.add_parser("send"); s.add_argument("--proto", default="udp"); s.add_argument("--to", required=True); s.add_argument("--message", default="hello"); s.add_argument("--count", type=int, default=3); s.add_argument("--timeout", type=float, default=2)
    t = sub.add_parser("rtt"); t.add_argument("--to", required=True); t.add_argument("--count", type=int, default=10); t.add_argument("--interval", type=float, default=20); t.add_argument("--drain", type=float, default=1000)
    m = sub.add_parser("natpmp"); m.add_argument("--gw", required=True); m.add_argument("--proto", default="tcp"); m.add_argument("--internal", type=int, required=True); m.add_argument("--external", type=int, required=True); m.add_argument("--lifetime", type=int, default=600)
    q = sub.add_parser("mqtt"); q.add_argument("--broker", required=True); q.add_argument("--topic", default="p2pn/lab"); q.add_argument("--message", default="hello")
    g = sub.add_parser("http-get"); g.add_argument("--url", required=True)
    a = p.parse_args()
    {"reflect": cmd_reflect, "helper": cmd_helper, "nat": cmd_nat, "listen": cmd_listen, "send": cmd_send,
     "rtt": cmd_rtt, "natpmp": cmd_natpmp, "mqtt": cmd_mqtt, "http-get": cmd_http_get}[a.cmd](a)


if __name__ == "__main__":
    main()
