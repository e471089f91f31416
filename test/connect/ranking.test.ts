import assert from "node:assert/strict";
import { test } from "node:test";
import { UNKNOWN_NAT, type AddressInterface, type NatTypeName, type NodeAddress } from "../../src/identity/address.ts";
import { rankStrategies, reachability } from "../../src/connect/ranking.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";

function addr(opts: { pub?: string; priv?: string; nat?: NatTypeName; mapped?: boolean; brokers?: boolean }): NodeAddress {
  const nat = { ...UNKNOWN_NAT, type: opts.nat ?? "unknown" };
  const itf: AddressInterface = {
    name: "eth0",
    isDefault: true,
    port: 4000,
    v4: { private: opts.priv ? [opts.priv] : [], public: opts.pub ? [opts.pub] : [] },
    v6: [],
    mappedPort: opts.mapped ? 5000 : undefined,
    mappedVerified: opts.mapped ? true : undefined,
    nat: { tcp: nat, udp: nat },
  };
  return { id: "x", text: "", seq: 1, expires: 0, interfaces: [itf], signaling: opts.brokers === false ? [] : ["mqtt://203.0.113.10:1883"], relays: [] };
}

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
