/**
 * Which endpoints a node may dial on a peer's request (pure). The rule, from
 * docs/security.md §Dialling for a peer:
 *
 * - only endpoints of the requester's own signed address;
 * - public addresses (src/util/ip.ts classifyIp) freely;
 * - private ones (RFC 1918, CGNAT, ULA) only with proof that the requester is
 *   on our network: an authenticated pipe with that same peer arrived from a
 *   private address. "Same public IP" is not proof: the requester writes its
 *   own address, so anyone could claim ours and make us scan our LAN;
 * - loopback, link-local (169.254.169.254 among them), reserved, multicast and
 *   unspecified never;
 * - `allowPrivate` (tests, one trusted LAN) lifts the last two rules.
 */
import type { NodeAddress } from "../identity/address.ts";
import { classifyIp } from "../util/ip.ts";

export interface DialPolicyInput {
  /** The requester's signed address. */
  requester: NodeAddress;
  /** The endpoint's IP. */
  host: string;
  /** The user allowed private and loopback endpoints from peers. */
  allowPrivate: boolean;
  /** We have had an authenticated pipe with this requester from a private address. */
  seenOnLan: boolean;
}

export function mayDialFor({ requester, host, allowPrivate, seenOnLan }: DialPolicyInput): boolean {
  const listed = requester.interfaces.some((i) => [...i.v4.private, ...i.v4.public, ...i.v6].includes(host));
  if (!listed) return false;
  const kind = classifyIp(host);
  if (kind === "invalid") return false;
  if (kind === "public" || allowPrivate) return true;
  return kind === "private" && seenOnLan;
}

/** Candidates dialled for one peer request at most, and one port per IP: a request cannot fan out. */
export const MAX_REQUEST_CANDIDATES = 4;

/** Keeps the first endpoint of each IP, at most MAX_REQUEST_CANDIDATES of them (pure, order kept). */
export function capCandidates<T extends { host: string }>(list: readonly T[], max = MAX_REQUEST_CANDIDATES): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const c of list) {
    if (seen.has(c.host)) continue;
    seen.add(c.host);
    out.push(c);
    if (out.length >= max) break;
  }
  return out;
}
