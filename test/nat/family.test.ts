// IPv6 discovery's pure parts (issue 15): which servers each family's run uses, which
// address an IPv6 run binds, and where an IPv6 report lands in the address (nat6 only:
// the IPv4 summaries and addresses stay as they were).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UNKNOWN_NAT, type AddressInterface } from "../../src/identity/address.ts";
import { globalV6Of, serversByFamily } from "../../src/nat/family.ts";
import { applyReport } from "../../src/nat/summary.ts";
import type { NatReport, NatTypeName, TransportReport } from "../../src/nat/types.ts";

describe("serversByFamily", () => {
  for (const [servers, v4, v6] of [
    [["stun:203.0.113.10:3478"], ["stun:203.0.113.10:3478"], []],
    [["stun:[2001:db8::10]:3478"], [], ["stun:[2001:db8::10]:3478"]],
    [["stun:203.0.113.10", "stun:[2001:db8::10]:3478", "stun:stun.example.org"], ["stun:203.0.113.10", "stun:stun.example.org"], ["stun:[2001:db8::10]:3478"]],
  ] as Array<[string[], string[], string[]]>) {
    test(`${servers.join(" ")} → IPv4 [${v4.join(" ")}], IPv6 [${v6.join(" ")}]`, () => {
      assert.deepEqual(serversByFamily(servers), { 4: v4, 6: v6 });
    });
  }
});

test("globalV6Of: the first global IPv6 address; unique-local, link-local and loopback are not", () => {
  assert.equal(globalV6Of(["fd00::1", "2001:db8:1::11", "2001:db8:1::12"]), "2001:db8:1::11");
  assert.equal(globalV6Of(["fd00::1", "fe80::1", "::1"]), undefined);
  assert.equal(globalV6Of([]), undefined);
});

function tr(transport: "udp" | "tcp", natType: NatTypeName, filtering: TransportReport["filtering"], address: string): TransportReport {
  const mapped = { family: (address.includes(":") ? 6 : 4) as 4 | 6, address, port: 40000 };
  return { transport, natType, mapping: "endpoint-independent", filtering, preservesPort: true, delta: { kind: "preserving" }, behindNat: natType !== "open" && natType !== "firewall", localAddress: mapped, publicAddress: mapped, publicAddresses: [], predictedPorts: [40000], timings: [], warnings: [], durationMs: 1 };
}
const report = (family: 4 | 6, udp: TransportReport, tcp: TransportReport): NatReport => ({ startedAt: "", durationMs: 1, family, servers: [], udp, tcp, warnings: [] });

describe("applyReport per family", () => {
  const itf: AddressInterface = { name: "eth0", isDefault: true, port: 4000, v4: { private: ["10.77.1.11"], public: [] }, v6: ["2001:db8:1::11"], nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } } };
  const v4 = report(4, tr("udp", "full-cone", "endpoint-independent", "203.0.113.101"), tr("tcp", "port-restricted", "address-and-port-dependent", "203.0.113.101"));
  const v6 = report(6, tr("udp", "firewall", "address-and-port-dependent", "2001:db8:1::11"), tr("tcp", "firewall", "address-and-port-dependent", "2001:db8:1::11"));

  test("IPv4: NAT summaries and the public IPv4, nat6 untouched (absent)", () => {
    const out = applyReport(itf, v4);
    assert.equal(out.nat.udp.type, "full-cone");
    assert.equal(out.nat.tcp.type, "port-restricted");
    assert.deepEqual(out.v4.public, ["203.0.113.101"]);
    assert.equal(out.nat6, undefined);
  });

  test("IPv6: nat6 only, the IPv4 summaries and addresses kept, in either order", () => {
    const both = applyReport(applyReport(itf, v4), v6);
    assert.deepEqual(applyReport(applyReport(itf, v6), v4), both);
    assert.equal(both.nat.tcp.type, "port-restricted");
    assert.deepEqual(both.v4.public, ["203.0.113.101"]);
    assert.deepEqual(both.v6, ["2001:db8:1::11"]);
    assert.deepEqual(both.nat6, { tcp: { type: "firewall", mapping: "endpoint-independent", filtering: "address-and-port-dependent", delta: { kind: "preserving", step: 0 } }, udp: { type: "firewall", mapping: "endpoint-independent", filtering: "address-and-port-dependent", delta: { kind: "preserving", step: 0 } } });
  });
});
