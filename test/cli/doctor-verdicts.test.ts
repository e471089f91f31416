// The doctor's verdicts (src/cli/doctor-verdicts.ts, pure): every NAT kind × TURN present/absent ×
// broker up/down, each expectation written from what the strategies need (README "What
// connect() tries", docs/punch.md), not from what the code prints; then the single cases
// (wrong TURN credentials, IPv6, no STUN, UDP blocked, port mapping, the clock).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { exitCodeOf, verdicts } from "../../src/cli/doctor-verdicts.ts";
import { CLOCK_UNKNOWN, type DoctorFacts, type TurnAllocationFacts } from "../../src/cli/doctor-types.ts";
import type { NatTypeName, PortDelta, Transport, TransportReport } from "../../src/nat/types.ts";

const EIM = "endpoint-independent" as const;
const APD = "address-and-port-dependent" as const;

function transport(kind: NatTypeName, t: Transport): TransportReport {
  const symmetric = kind.startsWith("symmetric");
  const delta: PortDelta = kind === "symmetric-sequential" ? { kind: "sequential", step: 1 } : kind === "symmetric-random" ? { kind: "random" } : symmetric || kind === "blocked" || kind === "unknown" ? { kind: "unknown" } : { kind: "preserving" };
  const answered = kind !== "blocked";
  const mapped = { family: 4 as const, address: "203.0.113.101", port: 40000 };
  return {
    transport: t,
    natType: kind,
    mapping: symmetric ? APD : answered && kind !== "unknown" ? EIM : "unknown",
    filtering: kind === "open" || kind === "full-cone" ? EIM : kind === "restricted" ? "address-dependent" : answered && kind !== "unknown" ? APD : "unknown",
    preservesPort: answered ? !symmetric : undefined,
    delta,
    behindNat: answered ? kind !== "open" && kind !== "firewall" : undefined,
    localAddress: { family: 4, address: "10.77.1.11", port: 40000 },
    publicAddress: answered ? mapped : undefined,
    publicAddresses: answered ? [{ server: "stun:203.0.113.10:3478", mapped, rttMs: 1, rfc5780: true }] : [],
    predictedPorts: [],
    timings: [],
    warnings: [],
    durationMs: 1,
  };
}

const okAllocation: TurnAllocationFacts = { uri: "turn:203.0.113.10:3478", link: "udp", relay: "udp", configured: true, ok: true, relayed: "203.0.113.10:50000", ms: 3, released: true };

function facts(o: { kind?: NatTypeName; udpKind?: NatTypeName; turn?: TurnAllocationFacts[] | false; broker?: boolean; v6?: string[]; stun?: boolean; portmap?: boolean }): DoctorFacts {
  const stun = o.stun !== false;
  const kind = o.kind ?? "port-restricted";
  return {
    startedAt: "2026-01-01T00:00:00.000Z",
    durationMs: 1,
    config: { stun: stun ? ["stun:203.0.113.10:3478"] : [], signal: o.broker === undefined ? [] : ["mqtt://203.0.113.10:1883"], turn: o.turn ? ["turn:203.0.113.10:3478"] : [] },
    interfaces: [
      {
        name: "eth0",
        isDefault: true,
        v4: ["10.77.1.11"],
        v6: o.v6 ?? [],
        nat: stun ? { startedAt: "", durationMs: 1, family: 4, servers: ["stun:203.0.113.10:3478"], udp: transport(o.udpKind ?? kind, "udp"), tcp: transport(kind, "tcp"), warnings: [] } : undefined,
      },
    ],
    portmap: o.portmap
      ? { gateway: "10.77.1.1", method: "probe", pcp: { status: "no" }, natPmp: { status: "yes", externalIp: "203.0.113.101" }, upnp: { status: "yes", igd: 2 } }
      : { method: "skipped", pcp: { status: "not-checked" }, natPmp: { status: "not-checked" }, upnp: { status: "not-checked" } },
    brokers: o.broker === undefined ? [] : [o.broker ? { url: "mqtt://203.0.113.10:1883", ok: true, connectMs: 2, rttMs: 1 } : { url: "mqtt://203.0.113.10:1883", ok: false, error: "connect ECONNREFUSED" }],
    turn: o.turn ? [{ server: "turn:203.0.113.10:3478 (user \"u\")", user: "u", allocations: o.turn }] : [],
    clock: { offsetMs: null, source: null, reason: CLOCK_UNKNOWN },
  };
}

/** What each TCP NAT kind means for being dialled and for punching: [id, level] pairs. */
const NAT_EXPECT: Record<NatTypeName, Array<[string, string]>> = {
  open: [["reachable", "ok"]],
  firewall: [["guarded", "info"], ["punch", "ok"]],
  "full-cone": [["guarded", "info"], ["punch", "ok"]],
  restricted: [["guarded", "info"], ["punch", "ok"]],
  "port-restricted": [["guarded", "info"], ["punch", "ok"]],
  // Symmetric with an unknown port pattern: a punch may or may not work.
  symmetric: [["guarded", "info"], ["punch", "info"]],
  "symmetric-sequential": [["guarded", "info"], ["punch", "info"]],
  "symmetric-random": [["guarded", "info"], ["punch", "warn"]],
  blocked: [["stun-failed", "fail"]],
  unknown: [["nat-unknown", "warn"]],
};

const KINDS = Object.keys(NAT_EXPECT) as NatTypeName[];

describe("verdicts: every NAT kind × TURN present/absent × broker up/down", () => {
  for (const kind of KINDS) {
    for (const turn of [true, false]) {
      for (const brokerUp of [true, false]) {
        test(`${kind}, TURN ${turn ? "working" : "absent"}, broker ${brokerUp ? "up" : "down"}`, () => {
          const list = verdicts(facts({ kind, turn: turn ? [okAllocation] : false, broker: brokerUp }));
          const signaling: Array<[string, string]> = brokerUp ? [["signaling", "ok"]] : [["broker-down", "fail"], ["signaling", "fail"]];
          // Without a relay, a random-port symmetric NAT cannot reach guarded peers at all.
          const relay: Array<[string, string]> = [["relay", turn ? "ok" : kind === "symmetric-random" ? "warn" : "info"]];
          const want = [...NAT_EXPECT[kind], ...signaling, ...relay, ["portmap", "info"], ["clock", "info"]];
          assert.deepEqual(list.map((v) => [v.id, v.level]), want, JSON.stringify(list, null, 1));
          const failed = kind === "blocked" || !brokerUp;
          assert.equal(exitCodeOf(list), failed ? 1 : 0);
          const text = list.map((v) => v.text).join("\n");
          if (!turn) assert.match(text, /no TURN server configured/);
          if (!turn && kind !== "symmetric-random") assert.match(text, /two symmetric NATs with random ports cannot connect/);
          if (kind === "open") assert.match(text, /you are reachable directly/);
          if (kind === "symmetric-random") assert.match(text, /hole punching cannot work from here/);
          if (NAT_EXPECT[kind].some(([id, level]) => id === "punch" && level === "ok")) assert.match(text, /peers behind symmetric NATs with random ports will need the relay/);
          if (!brokerUp) assert.match(text, /mqtt:\/\/203\.0\.113\.10:1883 unreachable: connect ECONNREFUSED/);
        });
      }
    }
  }
});

describe("verdicts: single cases", () => {
  test("refused TURN credentials: a fail line naming the user and what to check, exit 1", () => {
    const bad: TurnAllocationFacts = { ...okAllocation, ok: false, relayed: undefined, released: undefined, reason: "wrong-credentials", error: "401" };
    const list = verdicts(facts({ turn: [bad], broker: true }));
    const failed = list.find((v) => v.id === "turn-failed");
    assert.ok(failed && failed.level === "fail", JSON.stringify(list));
    assert.match(failed.text, /refused the credentials of user "u"; check --turn-user and the password \(P2PNODE_TURN_PASS or --turn-pass-file\)/);
    assert.deepEqual(list.find((v) => v.id === "relay")?.level, "fail");
    assert.equal(exitCodeOf(list), 1);
  });

  test("a failed unconfigured TCP probe is information, not a failure", () => {
    const tcp: TurnAllocationFacts = { ...okAllocation, uri: "turn:203.0.113.10:3478?transport=tcp", link: "tcp", configured: false, ok: false, reason: "closed", error: "connect ECONNREFUSED" };
    const list = verdicts(facts({ turn: [okAllocation, tcp], broker: true }));
    assert.equal(list.find((v) => v.id === "turn-tcp")?.level, "info");
    assert.equal(exitCodeOf(list), 0);
  });

  test("IPv6 addresses without IPv6 discovery: listed, and no IPv6 verdict is made up", () => {
    const f = facts({ v6: ["2001:db8::11"], broker: true });
    f.interfaces[0].nat6Error = "no IPv6 STUN server configured (--stun stun:[IPv6]:3478): no IPv6 verdict";
    const v6 = verdicts(f).filter((v) => v.id === "ipv6");
    assert.deepEqual(v6.map((v) => v.level), ["info"]);
    assert.match(v6[0].text, /IPv6 addresses on eth0: no IPv6 verdict \(no IPv6 STUN server configured/);
  });

  // IPv6 measured (no NAT66): TCP decides, as for IPv4; UDP when TCP got no answer.
  for (const [tcp, udp, level, text] of [
    ["open", "open", "ok", /IPv6 on eth0: no NAT and nothing filtered .*peers with IPv6 connect directly/],
    ["firewall", "firewall", "info", /IPv6 on eth0: no NAT, but a firewall drops .*address-and-port-dependent filtering over TCP.*punching/],
    ["blocked", "firewall", "info", /IPv6 on eth0: .*over UDP.*punching/],
    ["blocked", "blocked", "warn", /IPv6 on eth0: no IPv6 STUN server answered/],
  ] as Array<[NatTypeName, NatTypeName, string, RegExp]>) {
    test(`IPv6 measured: TCP ${tcp}, UDP ${udp} → ${level}`, () => {
      const f = facts({ v6: ["2001:db8:1::11"], broker: true });
      f.interfaces[0].nat6 = { startedAt: "", durationMs: 1, family: 6, servers: ["stun:[2001:db8::10]:3478"], udp: transport(udp, "udp"), tcp: transport(tcp, "tcp"), warnings: [] };
      const list = verdicts(f);
      const v6 = list.filter((v) => v.id === "ipv6");
      assert.deepEqual(v6.map((v) => v.level), [level]);
      assert.match(v6[0].text, text);
      // The IPv4 verdicts are the IPv4 report's, whatever IPv6 says.
      assert.deepEqual(list.filter((v) => v.id !== "ipv6"), verdicts(facts({ v6: ["2001:db8:1::11"], broker: true })).filter((v) => v.id !== "ipv6"));
    });
  }

  test("no STUN server: NAT unknown (warn), no connectivity guess, exit 0", () => {
    const list = verdicts(facts({ stun: false, broker: true }));
    assert.deepEqual(list.slice(0, 1).map((v) => [v.id, v.level]), [["nat-unknown", "warn"]]);
    assert.ok(!list.some((v) => v.id === "punch" || v.id === "reachable" || v.id === "guarded"));
    assert.equal(exitCodeOf(list), 0);
  });

  test("no UDP answer but TCP ones: UDP may be blocked, reach the relay over TCP", () => {
    const list = verdicts(facts({ kind: "port-restricted", udpKind: "blocked", broker: true }));
    assert.match(list.find((v) => v.id === "udp-blocked")?.text ?? "", /\?transport=tcp/);
    assert.equal(exitCodeOf(list), 0);
  });

  test("no broker configured: only direct connections (warn), exit 0", () => {
    const list = verdicts(facts({}));
    assert.deepEqual(list.find((v) => v.id === "signaling")?.level, "warn");
    assert.equal(exitCodeOf(list), 0);
  });

  test("a gateway that offers port mapping: named, and the guarded verdict says it can help", () => {
    const list = verdicts(facts({ portmap: true, broker: true }));
    assert.equal(list.find((v) => v.id === "portmap")?.text, "gateway 10.77.1.1 speaks NAT-PMP, UPnP IGD v2");
    assert.match(list.find((v) => v.id === "guarded")?.text ?? "", /port mapping, which can make you reachable/);
  });

  test("clock: unknown says why; a measured offset past 30 s warns", () => {
    const f = facts({ broker: true });
    assert.match(verdicts(f).find((v) => v.id === "clock")!.text, /^clock offset unknown: no configured server tells the time/);
    const skewed = verdicts({ ...f, clock: { offsetMs: -90_000, source: "test", reason: "" } }).find((v) => v.id === "clock")!;
    assert.equal(skewed.level, "warn");
    assert.match(skewed.text, /-90 s off/);
  });
});
