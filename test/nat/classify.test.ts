import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyDelta, classifyFiltering, classifyMapping, isBehindNat, natTypeName, predictPorts, type MappingSample } from "../../src/nat/classify.ts";
import type { FilteringBehavior, MappingBehavior, NatTypeName, PortDelta, TransportAddress } from "../../src/nat/types.ts";

const A = (address: string, port: number): TransportAddress => ({ family: 4, address, port });
// RFC 5780 server layout: primary A1:P1, alternate A2:P2, probed in this order.
const A1P1 = A("198.51.100.1", 3478);
const A2P1 = A("198.51.100.2", 3478);
const A2P2 = A("198.51.100.2", 3479);
const A1P2 = A("198.51.100.1", 3479);
const ORDER = [A1P1, A2P1, A2P2, A1P2];

/** A simulated NAT: external port for destination `d`, mapping by `key`, allocating with `alloc`. */
function simulate(key: (d: TransportAddress) => string, alloc: (n: number) => number): MappingSample[] {
  const table = new Map<string, number>();
  return ORDER.map((server) => {
    const k = key(server);
    if (!table.has(k)) table.set(k, alloc(table.size));
    return { server, mapped: A("203.0.113.5", table.get(k)!) };
  });
}
const EIM = () => "x";
const ADM = (d: TransportAddress) => d.address;
const APDM = (d: TransportAddress) => `${d.address}:${d.port}`;

describe("classifyMapping (RFC 5780 §4.3, generalised)", () => {
  const table: Array<[string, MappingSample[], MappingBehavior, boolean]> = [
    ["EIM (cone)", simulate(EIM, () => 40000), "endpoint-independent", false],
    ["ADM", simulate(ADM, (n) => 40000 + n), "address-dependent", true],
    ["APDM sequential", simulate(APDM, (n) => 40000 + 2 * n), "address-and-port-dependent", true],
    ["APDM random", simulate(APDM, (n) => [51234, 1999, 60001, 33333][n]), "address-and-port-dependent", true],
    ["no samples", [], "unknown", false],
    ["one sample", [{ server: A1P1, mapped: A("203.0.113.5", 1) }], "unknown", false],
    ["two plain servers, different IPs, same mapping", [{ server: A1P1, mapped: A("203.0.113.5", 1) }, { server: A2P1, mapped: A("203.0.113.5", 1) }], "endpoint-independent", false],
    ["two plain servers, different IPs, different mapping", [{ server: A1P1, mapped: A("203.0.113.5", 1) }, { server: A2P1, mapped: A("203.0.113.5", 2) }], "unknown", true],
    ["same IP, other port, same mapping: EIM or ADM", [{ server: A1P1, mapped: A("203.0.113.5", 1) }, { server: A1P2, mapped: A("203.0.113.5", 1) }], "unknown", false],
    ["same IP, other port, different mapping", [{ server: A1P1, mapped: A("203.0.113.5", 1) }, { server: A1P2, mapped: A("203.0.113.5", 2) }], "address-and-port-dependent", true],
    ["mapped IP changes (NAT pool)", [{ server: A1P1, mapped: A("203.0.113.5", 1) }, { server: A2P1, mapped: A("203.0.113.6", 1) }, { server: A2P2, mapped: A("203.0.113.6", 1) }], "address-dependent", true],
  ];
  for (const [name, samples, mapping, endpointDependent] of table) {
    it(name, () => assert.deepEqual(classifyMapping(samples), { mapping, endpointDependent }));
  }
});

describe("classifyFiltering (RFC 5780 §4.4)", () => {
  const table: Array<[boolean | undefined, boolean | undefined, FilteringBehavior]> = [
    [true, undefined, "endpoint-independent"],
    [true, false, "endpoint-independent"],
    [false, true, "address-dependent"],
    [false, false, "address-and-port-dependent"],
    [false, undefined, "unknown"],
    [undefined, true, "unknown"],
    [undefined, undefined, "unknown"],
  ];
  for (const [fromOtherIp, fromOtherPort, want] of table) {
    it(`other IP ${fromOtherIp}, other port ${fromOtherPort} -> ${want}`, () => assert.equal(classifyFiltering({ fromOtherIp, fromOtherPort }), want));
  }
});

describe("classifyDelta", () => {
  const table: Array<[string, number[], number | undefined, PortDelta]> = [
    ["none", [], 5000, { kind: "unknown" }],
    ["preserved", [5000, 5000, 5000], 5000, { kind: "preserving" }],
    ["preserved once", [5000], 5000, { kind: "preserving" }],
    ["one port, not local", [6000], 5000, { kind: "unknown" }],
    ["independent", [6000, 6000, 6000], 5000, { kind: "independent" }],
    ["sequential +1", [6000, 6001, 6002, 6003], 5000, { kind: "sequential", step: 1 }],
    ["sequential +2", [6000, 6002, 6004], 5000, { kind: "sequential", step: 2 }],
    ["sequential -1", [6000, 5999, 5998], 5000, { kind: "sequential", step: -1 }],
    ["sequential +1000 (constant, 2 steps)", [6000, 7000, 8000], 5000, { kind: "sequential", step: 1000 }],
    ["sequential with noise", [6000, 6001, 6003, 6004], 5000, { kind: "sequential", step: 1 }],
    ["preserved first, then +1", [5000, 5001, 5002], 5000, { kind: "sequential", step: 1 }],
    ["ADM: two mappings +1", [6000, 6001, 6001, 6000], 5000, { kind: "sequential", step: 1 }],
    ["one big jump", [6000, 41000], 5000, { kind: "random" }],
    ["random", [51234, 1999, 60001, 33333], 5000, { kind: "random" }],
  ];
  for (const [name, ports, local, want] of table) {
    it(name, () => assert.deepEqual(classifyDelta(ports, local), want));
  }
});

describe("natTypeName", () => {
  const seq: PortDelta = { kind: "sequential", step: 1 };
  const rnd: PortDelta = { kind: "random" };
  const unk: PortDelta = { kind: "unknown" };
  const EI = "endpoint-independent";
  const AD = "address-dependent";
  const APD = "address-and-port-dependent";
  const table: Array<[string, Parameters<typeof natTypeName>[0], NatTypeName]> = [
    ["nothing answered", { anyResponse: false, behindNat: undefined, mapping: "unknown", filtering: "unknown", delta: unk }, "blocked"],
    ["nothing answered, no refusal either (silence: filtered)", { anyResponse: false, serverRefused: false, behindNat: undefined, mapping: "unknown", filtering: "unknown", delta: unk }, "blocked"],
    ["nothing answered, a server refused (RST / ICMP unreachable): path open, server down", { anyResponse: false, serverRefused: true, behindNat: undefined, mapping: "unknown", filtering: "unknown", delta: unk }, "unknown"],
    ["answers win over a refusal elsewhere", { anyResponse: true, serverRefused: true, behindNat: false, mapping: EI, filtering: EI, delta: { kind: "preserving" } }, "open"],
    ["no NAT, open", { anyResponse: true, behindNat: false, mapping: EI, filtering: EI, delta: { kind: "preserving" } }, "open"],
    ["no NAT, filtered", { anyResponse: true, behindNat: false, mapping: EI, filtering: APD, delta: { kind: "preserving" } }, "firewall"],
    ["no NAT, filtering unknown", { anyResponse: true, behindNat: false, mapping: EI, filtering: "unknown", delta: unk }, "unknown"],
    ["full cone", { anyResponse: true, behindNat: true, mapping: EI, filtering: EI, delta: unk }, "full-cone"],
    ["restricted", { anyResponse: true, behindNat: true, mapping: EI, filtering: AD, delta: unk }, "restricted"],
    ["port restricted", { anyResponse: true, behindNat: true, mapping: EI, filtering: APD, delta: unk }, "port-restricted"],
    ["cone, filtering unknown", { anyResponse: true, behindNat: true, mapping: EI, filtering: "unknown", delta: unk }, "unknown"],
    ["symmetric sequential", { anyResponse: true, behindNat: true, mapping: APD, filtering: APD, delta: seq }, "symmetric-sequential"],
    ["symmetric random", { anyResponse: true, behindNat: true, mapping: AD, filtering: APD, delta: rnd }, "symmetric-random"],
    ["symmetric, pattern unknown", { anyResponse: true, behindNat: true, mapping: APD, filtering: "unknown", delta: unk }, "symmetric"],
    ["endpoint dependent, sub-kind unknown", { anyResponse: true, behindNat: true, mapping: "unknown", endpointDependent: true, filtering: "unknown", delta: rnd }, "symmetric-random"],
    ["one plain server", { anyResponse: true, behindNat: true, mapping: "unknown", filtering: "unknown", delta: unk }, "unknown"],
  ];
  for (const [name, input, want] of table) it(name, () => assert.equal(natTypeName(input), want));
});

describe("predictPorts", () => {
  const table: Array<[string, PortDelta, number, number | undefined, number[]]> = [
    ["preserving", { kind: "preserving" }, 6000, 5000, [5000]],
    ["independent", { kind: "independent" }, 6000, 5000, [6000]],
    ["+1", { kind: "sequential", step: 1 }, 6000, undefined, [6001, 6002, 6003, 6004]],
    ["+3", { kind: "sequential", step: 3 }, 6000, undefined, [6003, 6006, 6009, 6012]],
    ["wraps past 65535", { kind: "sequential", step: 2 }, 65534, undefined, [1024, 1026, 1028, 1030]],
    ["-1 wraps below 1024", { kind: "sequential", step: -1 }, 1025, undefined, [1024, 65535, 65534, 65533]],
    ["random", { kind: "random" }, 6000, undefined, []],
    ["unknown", { kind: "unknown" }, 6000, undefined, []],
  ];
  for (const [name, delta, last, local, want] of table) it(name, () => assert.deepEqual(predictPorts(delta, last, 4, local), want));
});

describe("isBehindNat", () => {
  const table: Array<[string, TransportAddress, TransportAddress, string[], boolean]> = [
    ["same address", A("127.0.0.1", 5000), A("127.0.0.1", 5000), [], false],
    ["wildcard, mapped is a local IP", A("0.0.0.0", 5000), A("192.168.1.9", 5000), ["127.0.0.1", "192.168.1.9"], false],
    ["wildcard, mapped elsewhere", A("0.0.0.0", 5000), A("203.0.113.5", 5000), ["127.0.0.1", "192.168.1.9"], true],
    ["port changed", A("127.0.0.1", 5000), A("127.0.0.1", 5001), [], true],
    ["v6 spelled differently", { family: 6, address: "::1", port: 9 }, { family: 6, address: "0:0::0:1", port: 9 }, [], false],
  ];
  for (const [name, local, mapped, ips, want] of table) it(name, () => assert.equal(isBehindNat(local, mapped, ips), want));
});
