/**
 * Which NAT pairs can punch a TCP connection by simultaneous open (pure).
 *
 * A punch needs each side's SYN to leave from a public endpoint the other side
 * dials. That holds when the mapping is endpoint-independent (RFC 5382 REQ-1:
 * the mapping STUN saw is the one the peer's SYN reaches), or when it is
 * endpoint-dependent but allocated sequentially (the next ports are predicted).
 * A random allocator (APDM + random ports) leaves nothing to aim at: the peer's
 * SYN would have to hit the one port the NAT picks for that 5-tuple.
 */
import type { NatSummary, NodeAddress } from "../../identity/address.ts";
import { classifyIp } from "../../util/ip.ts";
import type { Applicability } from "../strategy.ts";

/** How a side's NAT allocates the public endpoint of the punch's SYN. */
export type PunchClass = "fixed" | "predictable" | "random" | "blocked" | "unknown";

/** The familiar NAT name, with the symmetric sub-kind hole punching cares about. */
export function natKindName(n: NatSummary): string {
  if (n.type === "symmetric") {
    if (n.delta.kind === "sequential") return "symmetric-sequential";
    if (n.delta.kind === "random") return "symmetric-random";
  }
  return n.type;
}

export function punchClass(n: NatSummary): PunchClass {
  switch (n.type) {
    case "open":
    case "firewall":
    case "full-cone":
    case "restricted":
    case "port-restricted":
      return "fixed";
    case "blocked":
      return "blocked";
    case "symmetric":
      if (n.delta.kind === "sequential") return "predictable";
      // One external port for every destination behaves like an EIM NAT for a punch.
      if (n.delta.kind === "independent" || n.delta.kind === "preserving") return "fixed";
      if (n.delta.kind === "random") return "random";
      return "unknown";
    default:
      if (n.mapping === "endpoint-independent") return "fixed";
      return "unknown";
  }
}

/**
 * The verdict for a punch between a NAT `local` and a NAT `remote`. "no"
 * reasons name both kinds, so a skipped or failed punch says why.
 */
export function punchApplicability(local: NatSummary, remote: NatSummary): Applicability {
  const [a, b] = [punchClass(local), punchClass(remote)];
  const names = `${natKindName(local)} (here) × ${natKindName(remote)} (peer)`;
  // "blocked" only says discovery got no TCP answer (a lossy start can do that); the fresh
  // mappings taken just before the punch fail fast if TCP really is blocked.
  if (a === "blocked" || b === "blocked") return { verdict: "maybe", reason: `${names}: discovery got no TCP answer; fresh mappings will tell` };
  if (a === "random" || b === "random") {
    return { verdict: "no", reason: `cannot punch ${names}: a symmetric NAT with random ports gives the other side no port to aim at` };
  }
  if (a === "fixed" && b === "fixed") return { verdict: "yes", reason: `${names}: both mappings are endpoint-independent` };
  if (a === "predictable" && b === "predictable") return { verdict: "maybe", reason: `${names}: both sides rely on port prediction` };
  if ((a === "predictable" && b === "fixed") || (a === "fixed" && b === "predictable")) {
    return { verdict: "yes", reason: `${names}: the sequential side's next ports are predicted` };
  }
  return { verdict: "maybe", reason: `${names}: NAT behaviour not fully known` };
}

/** The global IPv6 addresses an address lists (ULA and link-local are not global). */
export function globalV6(a: NodeAddress): string[] {
  return a.interfaces.flatMap((i) => i.v6).filter((ip) => classifyIp(ip) === "public");
}

/** What is assumed of a global IPv6 address that discovery did not measure: RFC 6092's stateful firewall. */
export const ASSUMED_V6: Readonly<NatSummary> = Object.freeze({ type: "firewall", mapping: "endpoint-independent", filtering: "address-and-port-dependent", delta: Object.freeze({ kind: "preserving", step: 0 }) }) as NatSummary;

/**
 * What discovery measured over IPv6 on the interface that lists `a`'s first
 * global IPv6 address (TCP, else UDP; undefined when it was not measured).
 */
export function measuredV6(a: NodeAddress): NatSummary | undefined {
  const itf = a.interfaces.find((i) => i.v6.some((ip) => classifyIp(ip) === "public"));
  const n = itf?.nat6;
  if (!n) return undefined;
  if (n.tcp.type !== "unknown") return n.tcp;
  return n.udp.type !== "unknown" ? n.udp : undefined;
}

const RANK = { yes: 2, maybe: 1, no: 0 } as const;

/**
 * The verdict for a punch between two addresses. When both list a global IPv6
 * address the punch can run over IPv6 whatever their IPv4 NATs are: there is
 * normally no NAT on that path, the punch port is the host's own, and a
 * stateful firewall (RFC 6092: APDF) lets the peer's SYN in once ours went out.
 * What discovery measured over IPv6 (the address's nat6) is used where known;
 * an unmeasured side is taken as such a firewall. The better of the IPv6 and
 * the IPv4 verdict wins. A peer measured "open" over IPv6 accepts a direct
 * connection (reachability() says so and the plan dials it first); a punch
 * to it works too.
 */
export function punchApplicabilityFor(local: NodeAddress, remote: NodeAddress, localNat: NatSummary, remoteNat: NatSummary): Applicability {
  const v4 = punchApplicability(localNat, remoteNat);
  if (v4.verdict === "yes" || !globalV6(local).length || !globalV6(remote).length) return v4;
  const [l6, r6] = [measuredV6(local), measuredV6(remote)];
  if (!l6 && !r6) return { verdict: "yes", reason: `both sides have global IPv6: no NAT there, the punch runs over IPv6 (IPv4: ${v4.reason})` };
  const v6 = punchApplicability(l6 ?? ASSUMED_V6, r6 ?? ASSUMED_V6);
  const measured = `IPv6 ${natKindName(l6 ?? ASSUMED_V6)}${l6 ? " (measured)" : " (assumed)"} here × ${natKindName(r6 ?? ASSUMED_V6)}${r6 ? " (measured)" : " (assumed)"} at the peer`;
  if (RANK[v4.verdict] > RANK[v6.verdict]) return { verdict: v4.verdict, reason: `${v4.reason} (${measured}: ${v6.reason})` };
  const open = r6?.type === "open" ? "; the peer's IPv6 accepts inbound connections, so direct should connect first" : "";
  return { verdict: v6.verdict, reason: `both sides have global IPv6, ${measured}: the punch runs over IPv6${open} (IPv4: ${v4.reason})` };
}
