import assert from "node:assert/strict";
import { test } from "node:test";
import { UNKNOWN_NAT, type NodeAddress } from "../../src/identity/address.ts";
import { capCandidates, mayDialFor } from "../../src/strategies/dial-policy.ts";
import { directCandidates } from "../../src/strategies/direct.ts";

const nat = { tcp: UNKNOWN_NAT, udp: UNKNOWN_NAT };
function addr(pub: string[], priv: string[], v6: string[] = []): NodeAddress {
  return { id: "x", text: "", seq: 1, expires: 0, signaling: [], relays: [], interfaces: [{ name: "e", isDefault: true, port: 1, v4: { public: pub, private: priv }, v6, nat }] };
}

test("a node dials only the requester's own endpoints; private ones only with proof, local ones never", () => {
  const stranger = addr(["198.51.100.9"], ["10.0.0.3", "127.0.0.1", "169.254.169.254"], ["fe80::1", "2001:db8::9"]);
  // Claims our public IP (203.0.113.5): self-asserted, so it proves nothing (issue 9 item 3).
  const claimsOurs = addr(["203.0.113.5"], ["10.0.0.5", "127.0.0.1"]);
  // [requester, host, allowPrivate, seenOnLan, may dial]
  const table: Array<[NodeAddress, string, boolean, boolean, boolean]> = [
    [stranger, "198.51.100.9", false, false, true],
    [stranger, "2001:db8::9", false, false, true],
    [stranger, "198.51.100.10", false, false, false], // not in its address
    [stranger, "10.0.0.3", false, false, false], // private, no proof
    [stranger, "127.0.0.1", false, false, false],
    [stranger, "127.0.0.1", false, true, false], // loopback: never, proof or not
    [stranger, "169.254.169.254", false, true, false], // cloud metadata: never
    [stranger, "fe80::1", false, true, false],
    [stranger, "10.0.0.3", true, false, true], // allowPrivate (tests, one LAN)
    [stranger, "127.0.0.1", true, false, true],
    [stranger, "10.0.0.99", true, false, false], // still must be listed
    [claimsOurs, "10.0.0.5", false, false, false], // the LAN-scanner bypass: refused now
    [claimsOurs, "127.0.0.1", false, false, false],
    [claimsOurs, "10.0.0.5", false, true, true], // an authenticated pipe from this peer came from our LAN
  ];
  for (const [requester, host, allowPrivate, seenOnLan, want] of table) {
    assert.equal(mayDialFor({ requester, host, allowPrivate, seenOnLan }), want, `${host} allow=${allowPrivate} seenOnLan=${seenOnLan}`);
  }
});

test("one peer request dials a handful of candidates, one port per IP", () => {
  const list = [
    { host: "198.51.100.1", port: 1 },
    { host: "198.51.100.1", port: 2 },
    { host: "198.51.100.2", port: 3 },
    { host: "198.51.100.3", port: 4 },
    { host: "198.51.100.4", port: 5 },
    { host: "198.51.100.5", port: 6 },
  ];
  assert.deepEqual(capCandidates(list).map((c) => c.port), [1, 3, 4, 5]);
  assert.deepEqual(capCandidates(list, 2).map((c) => c.port), [1, 3]);
});

test("reverse connect over IPv6: the requester's IPv6 endpoints are allowed, tried first, and the cap keeps an IPv4 fallback", () => {
  const me = addr(["203.0.113.5"], ["10.0.0.2"], ["2001:db8:2::11"]);
  const requester = addr(["203.0.113.20"], [], ["2001:db8::20", "2001:db8::21", "2001:db8::22", "2001:db8::23", "2001:db8::24"]);
  const allowed = directCandidates(me, requester).filter((c) => mayDialFor({ requester, host: c.host, allowPrivate: false, seenOnLan: false }));
  assert.deepEqual(capCandidates(allowed).map((c) => c.host), ["2001:db8::20", "203.0.113.20", "2001:db8::21", "2001:db8::22"]);
});
