/**
 * Ranking (pure): the plan connect() races, from what both addresses say. Each
 * entry has the time after which, if it has not connected, the next one
 * starts alongside it (`expectMs`), a cap for attempts that may not work, and
 * `exclusive` for a punch that must run alone. A peer that a NAT or firewall
 * guards, and that has no verified mapping, is not dialled directly first: we
 * ask it to dial us (reverse), then punch; the relay comes last, started when
 * the others have had their expected time.
 */
import type { NodeAddress } from "../identity/address.ts";
import { reachability, type Reachability } from "../identity/reachability.ts";

export { reachability, type Reachability };
import type { StrategyName } from "../strategies/strategy.ts";
import { directCandidates } from "../strategies/direct.ts";

// Even a full cone NAT forwards only ports that already have a mapping, and a node's
// listening port has none (it never sent anything out): without a port mapping,
// every NAT kind and a firewall keep strangers out.
export interface RankedStrategy {
  name: StrategyName;
  /** Cap for this strategy's attempt (ms); undefined = the rest of connect()'s time. */
  cap?: number;
  /** Start the next entry this long after this one, if it has not connected by then (ms). */
  expectMs: number;
  /** Runs alone (see EXPECT_MS and exclusivePunch). */
  exclusive?: boolean;
  reason: string;
}

/**
 * How long each attempt usually takes when it works, over an internet path
 * (a few round trips of ~100 ms, signaling through a broker adds two more):
 * past it, the next strategy starts alongside. Measured in the lab at 20 ms
 * one-way: direct ~0.1 s, reverse ~0.5 s, punch ~1.1 s, turn ~0.4–2 s.
 */
export const EXPECT_MS = Object.freeze({ directNear: 300, direct: 1000, directLastResort: 500, reverse: 1500, punch: 2500, turn: Infinity });

export interface RankInput {
  local: NodeAddress;
  remote: NodeAddress;
  /** Strategies this node has (direct always; reverse/punch need signaling on both sides). */
  available: ReadonlySet<StrategyName>;
  /** Cap on a direct attempt that may not work (ms). @default 3000 */
  directCap?: number;
}

/**
 * A punch through a symmetric NAT with sequential ports aims at the ports the
 * NAT will hand out next. Any other connection from that NAT in the meantime
 * (a direct dial, the peer dialling us back, a TCP connection to a relay)
 * takes one of them, so such a punch runs alone.
 */
export function exclusivePunch(local: NodeAddress, remote: NodeAddress): boolean {
  const sequential = (a: NodeAddress) => a.interfaces.some((i) => i.nat.tcp.delta.kind === "sequential" || (i.nat.tcp.type === "unknown" && i.nat.udp.delta.kind === "sequential"));
  return sequential(local) || sequential(remote);
}

export function rankStrategies({ local, remote, available, directCap = 3000 }: RankInput): RankedStrategy[] {
  const out: RankedStrategy[] = [];
  const push = (name: StrategyName, reason: string, expectMs: number, cap?: number, exclusive?: boolean) => {
    if (available.has(name) && !out.some((s) => s.name === name)) out.push({ name, reason, cap, expectMs, ...(exclusive ? { exclusive } : {}) });
  };
  const near = directCandidates(local, remote).some((c) => c.kind === "loopback" || c.kind === "lan");
  const theirs = reachability(remote);
  const ours = reachability(local);
  const helpers = available.has("reverse") || available.has("punch");
  if (near || theirs === "yes") {
    push("direct", near ? "the peer is on this host or LAN" : "the peer accepts inbound connections", near ? EXPECT_MS.directNear : EXPECT_MS.direct);
  } else if (theirs === "unknown") {
    push("direct", "the peer may accept inbound connections", EXPECT_MS.direct, helpers ? directCap : undefined);
  }
  if (ours !== "no") push("reverse", ours === "yes" ? "we accept inbound connections: the peer can dial us" : "the peer may be able to dial us", EXPECT_MS.reverse);
  push("punch", "both sides behind NATs or firewalls: simultaneous open", EXPECT_MS.punch, undefined, exclusivePunch(local, remote));
  if (theirs === "no" && !near) push("direct", "last resort: the peer's address says it is guarded", EXPECT_MS.directLastResort, Math.min(directCap, 1500));
  push("turn", "relay", EXPECT_MS.turn);
  return out;
}
