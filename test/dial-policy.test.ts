import assert from "node:assert/strict";
import { test } from "node:test";
import { UNKNOWN_NAT, type NodeAddress } from "../src/address.ts";
import { mayDialFor } from "../src/dial-policy.ts";

const nat = { tcp: UNKNOWN_NAT, udp: UNKNOWN_NAT };
function addr(pub: string[], priv: string[]): NodeAddress {
  return { id: "x", text: "", seq: 1, expires: 0, signaling: [], relays: [], interfaces: [{ name: "e", isDefault: true, port: 1, v4: { public: pub, private: priv }, v6: [], nat }] };
}

test("a node dials only the requester's own endpoints; private ones only on a shared network", () => {
  const me = addr(["203.0.113.5"], ["10.0.0.2"]);
  const stranger = addr(["198.51.100.9"], ["10.0.0.3", "127.0.0.1"]);
  const neighbour = addr(["203.0.113.5"], ["10.0.0.3"]);
  const table: Array<[NodeAddress, string, boolean, boolean]> = [
    [stranger, "198.51.100.9", false, true],
    [stranger, "198.51.100.10", false, false], // not in its address
    [stranger, "10.0.0.3", false, false], // private, different network
    [stranger, "127.0.0.1", false, false],
    [stranger, "10.0.0.3", true, true], // allowPrivate (tests, one LAN)
    [stranger, "10.0.0.99", true, false], // still must be listed
    [neighbour, "10.0.0.3", false, true], // same public IP: same NAT
  ];
  for (const [req, host, allow, want] of table) assert.equal(mayDialFor(me, req, host, allow), want, `${host} allow=${allow}`);
});
