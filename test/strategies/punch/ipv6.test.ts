// Issue 15: punching over IPv6. The offer's optional v6 endpoints (built, targeted, checked from
// the wire), the address-level verdict (global IPv6 on both sides lifts an IPv4 "no"), and the
// engine dialling an IPv6 target from a punch port an IPv4 connection already holds (::1).
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import { UNKNOWN_NAT, type AddressInterface, type NatSummary, type NodeAddress } from "../../../src/identity/address.ts";
import { globalV6, measuredV6, punchApplicabilityFor } from "../../../src/strategies/punch/applicability.ts";
import { buildOffer, parseOffer, punchTargets } from "../../../src/strategies/punch/candidates.ts";
import { simultaneousOpen } from "../../../src/strategies/punch/simultaneous-open.ts";

const nat = (type: NatSummary["type"], delta: NatSummary["delta"]["kind"] = "preserving"): NatSummary => ({ ...UNKNOWN_NAT, type, delta: { kind: delta, step: 0 } });
const RANDOM = nat("symmetric", "random");
const CONE = nat("port-restricted");

function addr(v6: string[]): NodeAddress {
  const itf: AddressInterface = { name: "eth0", isDefault: true, port: 4000, v4: { private: ["10.77.1.11"], public: [] }, v6, nat: { tcp: RANDOM, udp: RANDOM } };
  return { id: "x", text: "", seq: 1, expires: 0, interfaces: [itf], signaling: ["mqtt://203.0.113.10:1883"], relays: [] };
}

const mappings = [
  { localPort: 40001, mapped: { ip: "203.0.113.101", port: 20010 } },
  { localPort: 40002, mapped: { ip: "203.0.113.101", port: 20011 } },
];

describe("punch offer: IPv6 endpoints", () => {
  test("each global IPv6 address × each punch port, on the host's own ports; no key without IPv6", () => {
    const o = buildOffer({ mappings, nat: CONE, lanIps: [], v6Ips: ["2001:db8:1::11"] });
    assert.deepEqual(o.v6, [{ ip: "2001:db8:1::11", port: 40001 }, { ip: "2001:db8:1::11", port: 40002 }]);
    assert.equal("v6" in buildOffer({ mappings, nat: CONE, lanIps: [] }), false, "an offer without IPv6 is what older peers sent");
    // Behind a random-port symmetric NAT the IPv4 offer is empty: IPv6 is all there is to dial.
    const sym = buildOffer({ mappings, nat: RANDOM, lanIps: [], v6Ips: ["2001:db8:1::11"] });
    assert.deepEqual([sym.mapped, sym.predicted, sym.v6?.length], [[], [], 2]);
    assert.equal(buildOffer({ mappings, nat: CONE, lanIps: [], v6Ips: Array.from({ length: 9 }, (_, i) => `2001:db8::${i + 1}`) }).v6?.length, 8, "at most 8");
  });

  test("IPv6 targets only when we have global IPv6 ourselves, and first", () => {
    const remote = buildOffer({ mappings, nat: CONE, lanIps: [], v6Ips: ["2001:db8:2::11"] });
    assert.deepEqual(punchTargets(remote, ["203.0.113.102"]).map((t) => t.kind), ["mapped", "mapped"]);
    assert.deepEqual(punchTargets(remote, ["203.0.113.102"], { v6: true }).map((t) => `${t.kind} ${t.ip}:${t.port}`), [
      "ipv6 2001:db8:2::11:40001", "ipv6 2001:db8:2::11:40002", "mapped 203.0.113.101:20010", "mapped 203.0.113.101:20011",
    ]);
  });

  test("v6 from the wire: optional, IPv6 only, zone-free, at most 8", () => {
    const base = { mapped: [], predicted: [], lan: [] };
    assert.deepEqual(parseOffer(base), base, "an older peer's offer");
    assert.deepEqual(parseOffer({ ...base, v6: [] }), base, "an empty list is dropped");
    const v6 = [{ ip: "2001:db8:2::11", port: 40001 }];
    assert.deepEqual(parseOffer({ ...base, v6 }), { ...base, v6 });
    for (const bad of [[{ ip: "203.0.113.5", port: 1 }], [{ ip: "fe80::1%eth0", port: 1 }], [{ ip: "2001:db8::1", port: 0 }], "2001:db8::1", Array(9).fill(v6[0])]) {
      assert.throws(() => parseOffer({ ...base, v6: bad }), { code: "P2P_ERR_PROTOCOL" }, JSON.stringify(bad));
    }
    assert.throws(() => parseOffer({ ...base, mapped: v6 }), { code: "P2P_ERR_PROTOCOL" }, "IPv4 lists stay IPv4");
  });
});

describe("punch verdict from both addresses", () => {
  test("global IPv6 on both sides lifts an IPv4 'no'; one side, ULA or link-local do not", () => {
    const table: Array<[string[], string[], NatSummary, string]> = [
      [[], [], RANDOM, "no"],
      [["2001:db8:1::11"], ["2001:db8:2::11"], RANDOM, "yes"],
      [["2001:db8:1::11"], [], RANDOM, "no"],
      [["fd77:1::11"], ["fd77:2::11"], RANDOM, "no"],
      [["2001:db8:1::11"], ["2001:db8:2::11"], CONE, "yes"],
      [[], [], CONE, "yes"],
    ];
    for (const [l, r, n, want] of table) {
      const v = punchApplicabilityFor(addr(l), addr(r), n, n);
      assert.equal(v.verdict, want, `${l} × ${r} over ${n.type}: ${v.reason}`);
      if (want === "yes" && n === RANDOM) assert.match(v.reason, /IPv6.*symmetric-random/, "says IPv6 carries it and what IPv4 said");
    }
    assert.deepEqual(globalV6(addr(["fd77::1", "2001:db8::5", "fe80::1"])), ["2001:db8::5"]);
  });
});

describe("punch verdict with IPv6 measured (the addresses' nat6)", () => {
  const FW6 = { tcp: { ...nat("firewall"), mapping: "endpoint-independent" as const, filtering: "address-and-port-dependent" as const }, udp: { ...UNKNOWN_NAT } };
  const OPEN6 = { tcp: { ...nat("open"), mapping: "endpoint-independent" as const, filtering: "endpoint-independent" as const }, udp: { ...UNKNOWN_NAT } };
  const UDP_FW6 = { tcp: { ...UNKNOWN_NAT }, udp: FW6.tcp };
  const NAT66_RANDOM = { tcp: RANDOM, udp: RANDOM };
  const with6 = (v6: string[], nat6?: AddressInterface["nat6"]): NodeAddress => {
    const a = addr(v6);
    a.interfaces[0] = { ...a.interfaces[0], ...(nat6 ? { nat6 } : {}) };
    return a;
  };
  const L = ["2001:db8:1::11"];
  const R = ["2001:db8:2::11"];
  // [here nat6, peer nat6, IPv4 NAT both sides, verdict, reason must match]
  const table: Array<[AddressInterface["nat6"], AddressInterface["nat6"], NatSummary, string, RegExp]> = [
    [FW6, FW6, RANDOM, "yes", /IPv6 firewall \(measured\) here × firewall \(measured\) at the peer.*IPv4: .*symmetric-random/],
    [FW6, undefined, RANDOM, "yes", /firewall \(measured\) here × firewall \(assumed\)/],
    [undefined, OPEN6, RANDOM, "yes", /open \(measured\) at the peer.*direct should connect first/],
    [UDP_FW6, UDP_FW6, RANDOM, "yes", /firewall \(measured\).*firewall \(measured\)/],
    // NAT66 with random ports measured on one side: IPv6 is no better than IPv4 here.
    [NAT66_RANDOM, FW6, RANDOM, "no", /symmetric-random/],
    // The IPv4 verdict stands when it is already "yes".
    [NAT66_RANDOM, NAT66_RANDOM, CONE, "yes", /both mappings are endpoint-independent/],
  ];
  for (const [l6, r6, v4, want, reason] of table) {
    test(`${l6 ? natName(l6) : "unmeasured"} × ${r6 ? natName(r6) : "unmeasured"} (IPv4 ${v4.type}/${v4.delta.kind}) → ${want}`, () => {
      const v = punchApplicabilityFor(with6(L, l6), with6(R, r6), v4, v4);
      assert.equal(v.verdict, want, v.reason);
      assert.match(v.reason, reason);
    });
  }
  test("measuredV6: TCP, else UDP, else nothing; only on an interface with a global IPv6 address", () => {
    assert.equal(measuredV6(with6(L, FW6))?.type, "firewall");
    assert.equal(measuredV6(with6(L, UDP_FW6))?.type, "firewall");
    assert.equal(measuredV6(with6(L, { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } })), undefined);
    assert.equal(measuredV6(with6(["fd77:1::11"], OPEN6)), undefined);
    assert.equal(measuredV6(with6(L)), undefined);
  });
});

function natName(n: NonNullable<AddressInterface["nat6"]>): string {
  return n.tcp.type !== "unknown" ? `${n.tcp.type}/${n.tcp.delta.kind}` : `udp ${n.udp.type}`;
}

describe("punch engine: an IPv6 target", () => {
  test("dials [::1] from a punch port an IPv4 connection already holds (no NAT: the port is the host's own)", async () => {
    // The punch port, as the STUN connection that learned its mapping holds it (0.0.0.0, SO_REUSEADDR).
    const v4srv = net.createServer((s) => s.destroy()).listen(0, "127.0.0.1");
    await new Promise((r) => v4srv.once("listening", r));
    const holder = net.connect({ host: "127.0.0.1", port: (v4srv.address() as net.AddressInfo).port, localAddress: "0.0.0.0", localPort: 0 });
    holder.on("error", () => {});
    await new Promise((r) => holder.once("connect", r));
    const punchPort = holder.localPort as number;
    const peer = net.createServer().listen(0, "::1");
    await new Promise((r) => peer.once("listening", r));
    const accepted = new Promise<net.Socket>((r) => peer.once("connection", r));
    try {
      const startAt = performance.timeOrigin + performance.now();
      let got: net.Socket | undefined;
      const report = await new Promise<Awaited<ReturnType<typeof simultaneousOpen>>>((resolve, reject) => {
        const ac = new AbortController();
        simultaneousOpen({
          localPorts: [punchPort],
          targets: [{ ip: "::1", port: (peer.address() as net.AddressInfo).port, kind: "ipv6" }],
          startAt,
          windowEnd: startAt + 5000,
          signal: ac.signal,
          onConnect: (s) => {
            got = s;
            ac.abort();
          },
        }).then(resolve, reject);
      });
      assert.equal(report.connected, 1);
      assert.ok(got);
      assert.equal(got.remoteAddress, "::1");
      assert.equal(got.localPort, punchPort, "the SYN left from the punch port");
      assert.equal((await accepted).remotePort, punchPort);
      got.destroy();
    } finally {
      holder.destroy();
      (await accepted.catch(() => undefined))?.destroy();
      await new Promise((r) => peer.close(r));
      await new Promise((r) => v4srv.close(r));
    }
  });
});
