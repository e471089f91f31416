/**
 * Punch candidates (pure). Each side offers the public endpoints its SYNs will
 * leave from: the fresh mappings of its punch ports (learned over TCP STUN just
 * before the punch), the ports a sequential NAT will hand out next, and its LAN
 * endpoints (used only when both sides share a public IP: same NAT, so the
 * private path or the NAT's hairpin is the way), and its global IPv6 endpoints
 * (no NAT on IPv6: the punch port is the host's own, a stateful firewall at
 * most, RFC 6092). The other side turns an offer into targets to dial.
 */
import net from "node:net";
import type { NatSummary } from "../../identity/address.ts";
import { MAX_SEQUENTIAL_STEP, predictPorts } from "../../nat/classify.ts";
import { ProtocolError } from "../../errors.ts";

export interface Endpoint {
  ip: string;
  port: number;
}

/** One punch port and what a STUN server saw it as. */
export interface PunchMapping {
  localPort: number;
  mapped: Endpoint;
}

export interface PunchOffer {
  /** Public mappings of our punch ports, in the order they were created. */
  mapped: Endpoint[];
  /** Predicted public endpoints (sequential NAT), most likely first. */
  predicted: Endpoint[];
  /** LAN endpoints: each private IPv4 × each punch port. */
  lan: Endpoint[];
  /**
   * Global IPv6 endpoints: each global IPv6 address × each punch port. Optional on
   * the wire (added later: a peer that does not know it ignores it); left out when empty.
   */
  v6?: Endpoint[];
}

/** "inbound": a connection accepted on a punch port (passive side), not dialled. */
export type TargetKind = "mapped" | "predicted" | "lan" | "ipv6" | "inbound";

export interface PunchTarget extends Endpoint {
  kind: TargetKind;
}

export const OFFER_LIMITS = Object.freeze({ mapped: 8, predicted: 16, lan: 8, v6: 8 });

export interface BuildOfferInput {
  mappings: readonly PunchMapping[];
  nat: NatSummary;
  /** Our private IPv4 addresses. */
  lanIps: readonly string[];
  /** How many ports to predict for a sequential NAT. @default 6 */
  predict?: number;
  /** Our global IPv6 addresses (no NAT: the punch ports are offered on them as they are). @default none */
  v6Ips?: readonly string[];
}

/**
 * Our offer from fresh mappings and what discovery says about our NAT. Behind
 * an endpoint-dependent (symmetric) NAT the STUN mapping only reaches the STUN
 * server, so it is left out: then the n-th SYN of each side goes to the other's
 * n-th predicted port and leaves from its own n-th one, and two sequential
 * NATs line up.
 */
export function buildOffer(i: BuildOfferInput): PunchOffer {
  const symmetric = i.nat.type === "symmetric" && i.nat.delta.kind !== "independent" && i.nat.delta.kind !== "preserving";
  const mapped = symmetric ? [] : dedupe(i.mappings.map((m) => m.mapped));
  let predicted: Endpoint[] = [];
  const last = i.mappings[i.mappings.length - 1];
  if (last && i.nat.type === "symmetric" && i.nat.delta.kind === "sequential") {
    // Every new 5-tuple takes the next port: the punch's SYNs get the ones after the last STUN mapping.
    const count = i.predict ?? 6;
    const steps = predictionSteps(i.mappings.map((m) => m.mapped.port), i.nat.delta.step);
    predicted = steps.flatMap((step) => predictPorts({ kind: "sequential", step }, last.mapped.port, count)).map((port) => ({ ip: last.mapped.ip, port }));
  }
  const lan = i.lanIps.flatMap((ip) => i.mappings.map((m) => ({ ip, port: m.localPort })));
  const v6 = dedupe((i.v6Ips ?? []).flatMap((ip) => i.mappings.map((m) => ({ ip, port: m.localPort })))).slice(0, OFFER_LIMITS.v6);
  return {
    mapped: mapped.slice(0, OFFER_LIMITS.mapped),
    predicted: dedupe(predicted).slice(0, OFFER_LIMITS.predicted),
    lan: dedupe(lan).slice(0, OFFER_LIMITS.lan),
    ...(v6.length ? { v6 } : {}),
  };
}

/**
 * The steps to predict with, most trusted first. The fresh punch mappings,
 * made one after the other just now, measure the step best; with one mapping
 * the step is taken as 1, because the step discovery measured is inflated
 * whenever other flows (its own concurrent UDP and TCP probes, other hosts)
 * took ports from the same allocator between its samples: on the lab's
 * sequential NAT one discovery in a few saw 2 where every flow takes the next
 * port. Discovery's step is still tried after, for NATs that really skip.
 */
export function predictionSteps(freshPorts: readonly number[], discoveryStep: number | undefined): number[] {
  const diffs = freshPorts.slice(1).map((p, k) => p - freshPorts[k]);
  const fresh = diffs.length > 0 && diffs.every((d) => d === diffs[0]) && diffs[0] !== 0 && Math.abs(diffs[0]) <= MAX_SEQUENTIAL_STEP ? diffs[0] : undefined;
  const primary = fresh ?? 1;
  const second = discoveryStep || 1;
  return second === primary ? [primary] : [primary, second];
}

/**
 * Endpoints to dial for a peer's offer. LAN endpoints only when the peer's
 * public IP is one of ours (same NAT); then its public mappings stay in the
 * list too (they work when the NAT hairpins). The peer's IPv6 endpoints only
 * when we have global IPv6 ourselves (`v6`), first (RFC 8305 prefers IPv6).
 */
export function punchTargets(remote: PunchOffer, ourPublicIps: readonly string[], opts: { v6?: boolean } = {}): PunchTarget[] {
  const out: PunchTarget[] = [];
  const add = (e: Endpoint, kind: TargetKind) => {
    if (!out.some((t) => same(t, e))) out.push({ ip: e.ip, port: e.port, kind });
  };
  const sameNat = [...remote.mapped, ...remote.predicted].some((m) => ourPublicIps.includes(m.ip));
  if (sameNat) for (const e of remote.lan) add(e, "lan");
  if (opts.v6) for (const e of remote.v6 ?? []) add(e, "ipv6");
  for (const e of remote.mapped) add(e, "mapped");
  for (const e of remote.predicted) add(e, "predicted");
  return out;
}

/** Validates an offer that came over the wire (peer input); throws ProtocolError. */
export function parseOffer(v: unknown): PunchOffer {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null) throw new ProtocolError("punch offer must be an object");
  const list = (key: keyof PunchOffer): Endpoint[] => {
    const l = o[key];
    if (!Array.isArray(l) || l.length > OFFER_LIMITS[key]) throw new ProtocolError(`punch offer ${key} must be a list of at most ${OFFER_LIMITS[key]} endpoints`);
    const v6 = key === "v6";
    return l.map((e: unknown) => {
      const x = e as Record<string, unknown> | null;
      if (typeof x !== "object" || x === null || typeof x.ip !== "string" || !(v6 ? net.isIPv6(x.ip) && !x.ip.includes("%") : net.isIPv4(x.ip))) throw new ProtocolError(`punch offer ${key}: not an ${v6 ? "IPv6 (zone-free)" : "IPv4"} endpoint`);
      if (!Number.isInteger(x.port) || (x.port as number) < 1 || (x.port as number) > 65535) throw new ProtocolError(`punch offer ${key}: bad port`);
      return { ip: x.ip, port: x.port as number };
    });
  };
  const offer: PunchOffer = { mapped: list("mapped"), predicted: list("predicted"), lan: list("lan") };
  if (o.v6 !== undefined) {
    const v6 = list("v6");
    if (v6.length) offer.v6 = v6;
  }
  return offer;
}

function same(a: Endpoint, b: Endpoint): boolean {
  return a.ip === b.ip && a.port === b.port;
}

function dedupe(l: Endpoint[]): Endpoint[] {
  return l.filter((e, i) => l.findIndex((x) => same(x, e)) === i);
}
