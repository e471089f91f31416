import assert from "node:assert/strict";
import { test } from "node:test";
import { UNKNOWN_NAT, type NatTypeName, type NodeAddress } from "../../src/identity/address.ts";
import { addr } from "./address-fixture.ts";
import { rankStrategies, reachability } from "../../src/connect/ranking.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";

const all = new Set<StrategyName>(["direct", "reverse", "punch"]);
const names = (r: ReturnType<typeof rankStrategies>) => r.map((x) => x.name + (x.cap ? `≤${x.cap}` : ""));

test("reachability from the address", () => {
  const table: Array<[Parameters<typeof addr>[0], string]> = [
    [{ pub: "203.0.113.20", nat: "open" }, "yes"],
    [{ priv: "10.77.1.11", pub: "203.0.113.101", nat: "full-cone" }, "no"], // no mapping for the listening port
    [{ priv: "10.77.1.11", pub: "203.0.113.101", nat: "full-cone", mapped: true }, "yes"],
    [{ pub: "198.51.100.17", nat: "firewall" }, "no"],
    [{ priv: "10.77.1.11", nat: "port-restricted" }, "no"],
    [{ priv: "10.77.1.11", nat: "port-restricted", mapped: true }, "yes"],
    [{ priv: "10.77.1.11", nat: "symmetric" }, "no"],
    [{ priv: "10.77.1.11" }, "unknown"],
  ];
  for (const [input, want] of table) assert.equal(reachability(addr(input)), want, JSON.stringify(input));
});

test("ranking table: the right strategy first, hopeless direct attempts capped or last", () => {
  const pub = addr({ pub: "203.0.113.20", nat: "open" });
  const fw = addr({ pub: "198.51.100.17", nat: "firewall" });
  const nat = addr({ priv: "10.77.2.11", pub: "203.0.113.102", nat: "port-restricted" });
  const mapped = addr({ priv: "10.77.2.11", nat: "port-restricted", mapped: true });
  const unknown = addr({ priv: "10.77.2.11" });
  const table: Array<[string, NodeAddress, NodeAddress, string[]]> = [
    ["firewalled → public: direct (no reverse: nobody can dial a firewalled us)", fw, pub, ["direct", "punch"]],
    ["public → firewalled: reverse first, direct last and short", pub, fw, ["reverse", "punch", "direct≤1500"]],
    ["NAT → NAT: punch before a short direct (we are guarded too)", nat, fw, ["punch", "direct≤1500"]],
    ["anyone → a verified port mapping: direct", pub, mapped, ["direct", "reverse", "punch"]],
    ["unknown peer: direct capped so reverse gets its turn", pub, unknown, ["direct≤3000", "reverse", "punch"]],
  ];
  for (const [why, local, remote, want] of table) assert.deepEqual(names(rankStrategies({ local, remote, available: all })), want, why);
});

test("without signaling only direct is available, uncapped", () => {
  const r = rankStrategies({ local: addr({ nat: "open", pub: "203.0.113.20" }), remote: addr({ priv: "10.77.2.11" }), available: new Set(["direct"]) });
  assert.deepEqual(names(r), ["direct"]);
});

/** An address whose TCP and UDP NAT reports differ (a standard STUN server tests UDP only). */
function split(tcp: Partial<NatSummaryLike>, udp: Partial<NatSummaryLike>, site = 1): NodeAddress {
  const a = addr({ priv: `10.77.${site}.11`, pub: `203.0.113.${100 + site}` });
  const nat = (x: Partial<NatSummaryLike>) => ({ ...UNKNOWN_NAT, ...x, delta: { ...UNKNOWN_NAT.delta, ...(x.delta ?? {}) } });
  return { ...a, interfaces: a.interfaces.map((i) => ({ ...i, nat: { tcp: nat(tcp), udp: nat(udp) } })) };
}
type NatSummaryLike = { type: NatTypeName; delta: { kind: "sequential" | "random" | "preserving" | "unknown"; step: number } };

test("reachability: TCP unknown (coturn as STUN) but UDP saw a NAT → guarded; UDP open or firewall proves nothing about TCP", () => {
  const table: Array<[NodeAddress, string]> = [
    [split({}, { type: "port-restricted" }), "no"],
    [split({}, { type: "symmetric" }), "no"],
    [split({}, { type: "full-cone" }), "no"],
    [split({}, { type: "open" }), "unknown"],
    [split({}, { type: "firewall" }), "unknown"],
    [split({ type: "open" }, { type: "port-restricted" }), "yes"], // TCP evidence wins over UDP's
  ];
  for (const [a, want] of table) assert.equal(reachability(a), want, JSON.stringify(a.interfaces[0].nat));
});

const plan = (r: ReturnType<typeof rankStrategies>) => r.map((x) => `${x.name}${x.cap ? `≤${x.cap}` : ""}@${x.expectMs}${x.exclusive ? "!" : ""}`);

test("the plan: expected times stagger the race; the relay last; a punch through a sequential NAT runs alone", () => {
  const withTurn = new Set<StrategyName>(["direct", "reverse", "punch", "turn"]);
  const coneTcpUnknown = split({}, { type: "port-restricted" });
  const otherCone = split({}, { type: "port-restricted" }, 2);
  const seq = split({ type: "symmetric", delta: { kind: "sequential", step: 1 } }, { type: "symmetric" });
  const seqUdpOnly = split({}, { type: "symmetric", delta: { kind: "sequential", step: 1 } }, 2);
  const pub = addr({ pub: "203.0.113.20", nat: "open" });
  const table: Array<[string, NodeAddress, NodeAddress, string[]]> = [
    // The ~10 s of issue 11: no capped direct dial and no reverse that cannot work before the punch.
    ["cone × cone with coturn as the only STUN server: punch first", coneTcpUnknown, otherCone, ["punch@2500", "direct≤1500@500", "turn@Infinity"]],
    ["a sequential NAT on either side: its punch is exclusive", seq, otherCone, ["punch@2500!", "direct≤1500@500", "turn@Infinity"]],
    ["sequential seen over UDP only counts too", coneTcpUnknown, seqUdpOnly, ["punch@2500!", "direct≤1500@500", "turn@Infinity"]],
    ["public peer: direct, expected within a second, then the others", coneTcpUnknown, pub, ["direct@1000", "punch@2500", "turn@Infinity"]],
  ];
  for (const [why, local, remote, want] of table) assert.deepEqual(plan(rankStrategies({ local, remote, available: withTurn })), want, why);
});
