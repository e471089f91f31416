// The address's optional IPv6 NAT summaries (NAT6_TCP 0x0a, NAT6_UDP 0x0b; docs/address.md)
// and what reachability() makes of them: a measured open IPv6 says "yes", a measured firewall
// guards, an unmeasured IPv6 leaves the IPv4 evidence to decide (as before).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UNKNOWN_NAT, encodeAddress, parseAddress, type AddressInterface, type NatSummary, type NodeAddress } from "../../src/identity/address.ts";
import { Identity } from "../../src/identity/identity.ts";
import { reachability } from "../../src/identity/reachability.ts";
import { base32Decode } from "../../src/util/encoding.ts";

const me = Identity.generate();
const n = (type: NatSummary["type"], filtering: NatSummary["filtering"] = "unknown"): NatSummary => ({ ...UNKNOWN_NAT, type, filtering, mapping: type === "unknown" ? "unknown" : "endpoint-independent", delta: { kind: "preserving", step: 0 } });
const FW6 = { tcp: n("firewall", "address-and-port-dependent"), udp: n("firewall", "address-and-port-dependent") };
const OPEN6 = { tcp: n("open", "endpoint-independent"), udp: n("open", "endpoint-independent") };

function itf(o: Partial<AddressInterface> = {}): AddressInterface {
  return { name: "eth0", isDefault: true, port: 4000, v4: { private: ["10.77.1.11"], public: [] }, v6: ["2001:db8:1::11"], nat: { tcp: n("port-restricted", "address-and-port-dependent"), udp: n("port-restricted", "address-and-port-dependent") }, ...o };
}
const encode = (interfaces: AddressInterface[]) => encodeAddress(me, { seq: 1, expires: Math.floor(Date.now() / 1000) + 600, interfaces, signaling: [], relays: [] });

describe("address: nat6", () => {
  test("round-trips; absent when not measured (the bytes are what they were before nat6)", () => {
    assert.deepEqual(parseAddress(encode([itf({ nat6: FW6 })])).interfaces[0].nat6, FW6);
    assert.deepEqual(parseAddress(encode([itf({ nat6: { tcp: n("open", "endpoint-independent"), udp: { ...UNKNOWN_NAT } } })])).interfaces[0].nat6?.tcp.type, "open");
    const plain = parseAddress(encode([itf()]));
    assert.equal(plain.interfaces[0].nat6, undefined);
    assert.equal("nat6" in plain.interfaces[0], false);
  });

  test("written after NAT_UDP as types 0x0a, 0x0b (ascending order: older parsers skip them as unknown, non-critical)", () => {
    const raw = base32Decode(encode([itf({ nat6: FW6 })]).slice(5))!;
    const plain = base32Decode(encode([itf()]).slice(5))!;
    // Two 9-byte TLVs (3-byte header + 6 bytes) more, nothing else.
    assert.equal(raw.length - plain.length, 18);
    const at = Buffer.from(raw).indexOf(Buffer.from([0x0a, 0x00, 0x06]));
    assert.ok(at > 0);
    assert.deepEqual([...raw.subarray(at + 9, at + 12)], [0x0b, 0x00, 0x06]);
  });
});

const address = (interfaces: AddressInterface[]): NodeAddress => ({ id: "x", text: "", seq: 1, expires: 0, interfaces, signaling: [], relays: [] });

describe("reachability with IPv6 measured", () => {
  for (const [name, list, expect] of [
    ["IPv4 port-restricted, IPv6 not measured", [itf()], "no"],
    ["IPv4 port-restricted, IPv6 measured open", [itf({ nat6: OPEN6 })], "yes"],
    ["IPv4 port-restricted, IPv6 measured firewall", [itf({ nat6: FW6 })], "no"],
    ["IPv4 port-restricted, IPv6 measured nothing (unknown both)", [itf({ nat6: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } } })], "no"],
    ["open IPv6 on an interface without a global IPv6 address does not count", [itf({ v6: ["fd00::11"], nat6: OPEN6 })], "no"],
    ["IPv4 unknown, IPv6 measured firewall", [itf({ nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } }, nat6: FW6 })], "unknown"],
    ["IPv6-only interface, measured firewall", [itf({ v4: { private: [], public: [] }, nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } }, nat6: FW6 })], "no"],
    ["IPv6-only interface, measured open", [itf({ v4: { private: [], public: [] }, nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } }, nat6: OPEN6 })], "yes"],
    ["IPv6-only interface, not measured", [itf({ v4: { private: [], public: [] }, nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } } })], "unknown"],
  ] as Array<[string, AddressInterface[], string]>) {
    test(`${name} → ${expect}`, () => assert.equal(reachability(address(list)), expect));
  }
});
