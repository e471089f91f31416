/**
 * Pure NAT classification (RFC 4787 terms, RFC 5780 tests), tested with
 * scenario tables in test/nat/classify.test.ts. Nothing here touches a socket.
 */
import { canonicalIp } from "../stun/ip.ts";
import type { FilteringBehavior, MappingBehavior, NatTypeName, PortDelta, TransportAddress } from "./types.ts";

/** One mapping seen from ONE local endpoint: which server address we sent to and what it saw. */
export interface MappingSample {
  server: TransportAddress;
  mapped: TransportAddress;
}

export interface MappingVerdict {
  mapping: MappingBehavior;
  /**
   * True when mappings differ between server IPs but no pair with the same IP
   * and different ports exists to tell address-dependent from
   * address-and-port-dependent: "symmetric", sub-kind unknown.
   */
  endpointDependent: boolean;
}

const same = (a: TransportAddress, b: TransportAddress) => a.port === b.port && canonicalIp(a.address) === canonicalIp(b.address);

/**
 * Mapping behaviour from samples taken from one local endpoint. Generalises
 * RFC 5780 §4.3: pairs of server addresses that differ in IP decide
 * endpoint-independent or not; pairs with the same IP and different ports
 * then separate address-dependent from address-and-port-dependent.
 */
export function classifyMapping(samples: readonly MappingSample[]): MappingVerdict {
  let ipPairs = 0;
  let ipPairsDiffer = false;
  let portPairs = 0;
  let portPairsDiffer = false;
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const a = samples[i];
      const b = samples[j];
      const sameIp = canonicalIp(a.server.address) === canonicalIp(b.server.address);
      if (sameIp && a.server.port === b.server.port) continue;
      const differ = !same(a.mapped, b.mapped);
      if (sameIp) {
        portPairs++;
        portPairsDiffer ||= differ;
      } else {
        ipPairs++;
        ipPairsDiffer ||= differ;
      }
    }
  }
  if (ipPairs > 0 && !ipPairsDiffer && !portPairsDiffer) return { mapping: "endpoint-independent", endpointDependent: false };
  if (portPairsDiffer) return { mapping: "address-and-port-dependent", endpointDependent: true };
  if (ipPairsDiffer) {
    if (portPairs > 0) return { mapping: "address-dependent", endpointDependent: true };
    return { mapping: "unknown", endpointDependent: true };
  }
  return { mapping: "unknown", endpointDependent: false };
}

/** Filtering test outcomes: did an answer (UDP) or dial-back (TCP) get through? undefined = not tested. */
export interface FilteringObservation {
  /** From the server's other IP (and, for UDP, other port): RFC 5780 test II. */
  fromOtherIp?: boolean;
  /** From the same IP, other port: RFC 5780 test III. */
  fromOtherPort?: boolean;
}

/** RFC 5780 §4.4. */
export function classifyFiltering(o: FilteringObservation): FilteringBehavior {
  if (o.fromOtherIp === true) return "endpoint-independent";
  if (o.fromOtherIp === false && o.fromOtherPort === true) return "address-dependent";
  if (o.fromOtherIp === false && o.fromOtherPort === false) return "address-and-port-dependent";
  return "unknown";
}

/** Largest |step| we still call sequential when steps vary (other hosts' traffic interleaves). */
export const MAX_SEQUENTIAL_STEP = 16;

/**
 * Port allocation pattern ("delta") from the external ports of successive
 * mappings, in the order they were created, and the local port they came from.
 */
export function classifyDelta(mappedPorts: readonly number[], localPort?: number): PortDelta {
  if (mappedPorts.length === 0) return { kind: "unknown" };
  const unique = mappedPorts.filter((p, i) => mappedPorts.indexOf(p) === i);
  if (unique.length === 1) {
    if (unique[0] === localPort) return { kind: "preserving" };
    return mappedPorts.length > 1 ? { kind: "independent" } : { kind: "unknown" };
  }
  const diffs = unique.slice(1).map((p, i) => p - unique[i]);
  if (diffs.every((d) => d === diffs[0])) {
    // One difference is weak evidence; a random allocator lands within ±16 with p ≈ 5e-4.
    return Math.abs(diffs[0]) <= MAX_SEQUENTIAL_STEP || diffs.length > 1 ? { kind: "sequential", step: diffs[0] } : { kind: "random" };
  }
  const sign = Math.sign(diffs[0]);
  if (diffs.every((d) => Math.sign(d) === sign && Math.abs(d) <= MAX_SEQUENTIAL_STEP)) {
    // Most frequent step, smallest magnitude on ties.
    const counts = new Map<number, number>();
    for (const d of diffs) counts.set(d, (counts.get(d) ?? 0) + 1);
    const step = [...counts.entries()].sort((a, b) => b[1] - a[1] || Math.abs(a[0]) - Math.abs(b[0]))[0][0];
    return { kind: "sequential", step };
  }
  return { kind: "random" };
}

export interface NatNameInput {
  /** Did any server answer at all? */
  anyResponse: boolean;
  /**
   * Did a server refuse (TCP RST, ICMP port unreachable), over this transport or
   * another? Then packets reach it: the network is not blocked, the server is down.
   */
  serverRefused?: boolean;
  behindNat: boolean | undefined;
  mapping: MappingBehavior;
  endpointDependent?: boolean;
  filtering: FilteringBehavior;
  delta: PortDelta;
}

/** The familiar name for a set of behaviours. */
export function natTypeName(i: NatNameInput): NatTypeName {
  if (!i.anyResponse) return i.serverRefused ? "unknown" : "blocked";
  if (i.behindNat === false) {
    if (i.filtering === "endpoint-independent") return "open";
    if (i.filtering === "unknown") return "unknown";
    return "firewall";
  }
  if (i.mapping === "endpoint-independent") {
    if (i.filtering === "endpoint-independent") return "full-cone";
    if (i.filtering === "address-dependent") return "restricted";
    if (i.filtering === "address-and-port-dependent") return "port-restricted";
    return "unknown";
  }
  if (i.mapping !== "unknown" || i.endpointDependent) {
    if (i.delta.kind === "sequential") return "symmetric-sequential";
    if (i.delta.kind === "random") return "symmetric-random";
    return "symmetric";
  }
  return "unknown";
}

const wrap = (p: number) => {
  // Keep predictions inside 1024-65535, where NATs allocate.
  const span = 65536 - 1024;
  return ((((p - 1024) % span) + span) % span) + 1024;
};

/** The next likely external ports, most likely first (empty when unpredictable). */
export function predictPorts(delta: PortDelta, lastPort: number, count = 4, localPort?: number): number[] {
  switch (delta.kind) {
    case "preserving":
      return [localPort ?? lastPort];
    case "independent":
      return [lastPort];
    case "sequential": {
      const step = delta.step ?? 1;
      return Array.from({ length: count }, (_, i) => wrap(lastPort + step * (i + 1)));
    }
    default:
      return [];
  }
}

/** True when `mapped` is not one of our own addresses (or its port differs): there is a NAT. */
export function isBehindNat(local: TransportAddress, mapped: TransportAddress, localIps: readonly string[]): boolean {
  const ips = new Set(localIps.map(canonicalIp));
  const wildcard = local.address === "0.0.0.0" || local.address === "::";
  const ours = wildcard ? ips.has(canonicalIp(mapped.address)) : canonicalIp(local.address) === canonicalIp(mapped.address);
  return !(ours && mapped.port === local.port);
}
