// connect() to an address someone handed us: which of its endpoints we dial (issue 9 item 6).
import assert from "node:assert/strict";
import { test } from "node:test";
import { UNKNOWN_NAT, type NodeAddress } from "../../src/identity/address.ts";
import { directCandidates, happyEyeballsOrder, MAX_DIRECT_CANDIDATES, type Candidate } from "../../src/strategies/direct.ts";

const nat = { tcp: UNKNOWN_NAT, udp: UNKNOWN_NAT };
function addr(pub: string[], priv: string[], v6: string[] = [], port = 4000, mappedPort?: number): NodeAddress {
  return { id: "x", text: "", seq: 1, expires: 0, signaling: [], relays: [], interfaces: [{ name: "e", isDefault: true, port, mappedPort, v4: { public: pub, private: priv }, v6, nat }] };
}
const hosts = (l: NodeAddress, r: NodeAddress) => directCandidates(l, r).map((c) => `${c.kind} ${c.host}:${c.port}`);

test("direct candidates: what an untrusted address can make connect() dial", () => {
  const me = addr(["203.0.113.5"], ["10.0.0.2"], ["2001:db8::2"]);
  // A public node that slips loopback, cloud-metadata and link-local endpoints into its address.
  const sneaky = addr(["198.51.100.9"], ["127.0.0.1", "169.254.169.254", "10.9.9.9"], ["::1", "fe80::1", "2001:db8::9"]);
  assert.deepEqual(hosts(me, sneaky), ["ipv6 2001:db8::9:4000", "public 198.51.100.9:4000"]);
  // A node on this host, listening on loopback alone: loopback is all it has, and is dialled.
  assert.deepEqual(hosts(me, addr([], ["127.0.0.1"], ["::1"])), ["loopback ::1:4000", "loopback 127.0.0.1:4000"]);
  // Same /24 or same public IP: its LAN endpoints.
  assert.deepEqual(hosts(me, addr(["198.51.100.7"], ["10.0.0.3"])), ["lan 10.0.0.3:4000", "public 198.51.100.7:4000"]);
  assert.deepEqual(hosts(me, addr(["203.0.113.5"], ["10.1.0.3"])), ["lan 10.1.0.3:4000", "public 203.0.113.5:4000"]);
  // Reserved ranges are never dialled.
  assert.deepEqual(hosts(me, addr(["198.18.0.1", "240.0.0.1", "224.0.0.5"], [])), []);
});

test("direct candidates: at most 8 endpoints and 2 ports per IP", () => {
  const me = addr(["203.0.113.5"], ["10.0.0.2"]);
  const many = { ...addr([], []), interfaces: Array.from({ length: 12 }, (_, i) => ({ ...addr([`198.51.100.${i + 1}`], [], [], 4000 + i, 5000 + i).interfaces[0], isDefault: i === 0 })) };
  const c = directCandidates(me, many);
  assert.equal(c.length, MAX_DIRECT_CANDIDATES);
  const oneIp = { ...addr([], []), interfaces: [4000, 4001, 4002].map((port) => ({ ...addr(["198.51.100.1"], [], [], port).interfaces[0] })) };
  assert.deepEqual(hosts(me, oneIp), ["public 198.51.100.1:4000", "public 198.51.100.1:4001"]);
});

test("Happy Eyeballs order (RFC 8305 §4): IPv6 first, families interleaved, preference within each, duplicates once", () => {
  const c = (s: string): Candidate => {
    const [kind, host, port] = s.split(" ");
    return { kind: kind as Candidate["kind"], host, port: Number(port) };
  };
  const order = (list: string[]) => happyEyeballsOrder(list.map(c)).map((x) => `${x.kind} ${x.host} ${x.port}`);
  const table: Array<[string, string[], string[]]> = [
    ["nothing", [], []],
    ["IPv4 listed first: IPv6 still goes first", ["public 198.51.100.9 4000", "ipv6 2001:db8::9 4000"], ["ipv6 2001:db8::9 4000", "public 198.51.100.9 4000"]],
    ["interleaved v6, v4, v6, v4, then the rest of the longer family",
      ["ipv6 2001:db8::1 1", "ipv6 2001:db8::2 1", "ipv6 2001:db8::3 1", "public 198.51.100.1 1", "public 198.51.100.2 1"],
      ["ipv6 2001:db8::1 1", "public 198.51.100.1 1", "ipv6 2001:db8::2 1", "public 198.51.100.2 1", "ipv6 2001:db8::3 1"]],
    ["more IPv4 than IPv6", ["public 198.51.100.1 1", "public 198.51.100.2 1", "public 198.51.100.3 1", "ipv6 2001:db8::1 1"],
      ["ipv6 2001:db8::1 1", "public 198.51.100.1 1", "public 198.51.100.2 1", "public 198.51.100.3 1"]],
    ["preference within IPv4: LAN before public, whatever the listed order", ["public 198.51.100.1 1", "lan 10.0.0.3 1", "ipv6 2001:db8::1 1"],
      ["ipv6 2001:db8::1 1", "lan 10.0.0.3 1", "public 198.51.100.1 1"]],
    ["ties keep the peer's order (a mapped port before the listening one)", ["public 198.51.100.1 5000", "public 198.51.100.1 4000"],
      ["public 198.51.100.1 5000", "public 198.51.100.1 4000"]],
    ["duplicates (same host and port) once, at their first place", ["ipv6 2001:db8::1 1", "public 198.51.100.1 1", "ipv6 2001:db8::1 1", "public 198.51.100.1 1", "public 198.51.100.1 2"],
      ["ipv6 2001:db8::1 1", "public 198.51.100.1 1", "public 198.51.100.1 2"]],
    ["IPv4 only: its own order", ["lan 10.0.0.3 1", "public 198.51.100.1 1"], ["lan 10.0.0.3 1", "public 198.51.100.1 1"]],
    ["IPv6 only: its own order", ["ipv6 2001:db8::2 1", "ipv6 2001:db8::1 1"], ["ipv6 2001:db8::2 1", "ipv6 2001:db8::1 1"]],
    ["loopback only (a node on this host): ::1 first", ["loopback 127.0.0.1 1", "loopback ::1 1"], ["loopback ::1 1", "loopback 127.0.0.1 1"]],
  ];
  for (const [what, input, expected] of table) assert.deepEqual(order(input), expected, what);
});

test("direct candidates: a dual-stack peer is dialled IPv6 first, IPv4 second, and the 8-endpoint cap keeps both families", () => {
  const me = addr(["203.0.113.5"], ["10.0.0.2"], ["2001:db8::2"]);
  assert.deepEqual(hosts(me, addr(["198.51.100.7"], ["10.0.0.3"], ["2001:db8::7"], 4000, 5000)),
    ["ipv6 2001:db8::7:4000", "lan 10.0.0.3:4000", "public 198.51.100.7:5000", "public 198.51.100.7:4000"]);
  const v6Heavy = addr(["198.51.100.7"], [], Array.from({ length: 10 }, (_, i) => `2001:db8::${i + 10}`));
  const c = directCandidates(me, v6Heavy);
  assert.equal(c.length, MAX_DIRECT_CANDIDATES);
  assert.equal(c[1].host, "198.51.100.7", "IPv4 is the second attempt, not cut off by the cap");
});
