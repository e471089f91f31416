/**
 * Ranking, first cut (pure): the order in which connect() tries strategies,
 * from what both addresses say, and a time cap for attempts that may not work.
 * A peer that a NAT or firewall guards, and that has no verified mapping, is
 * not dialled directly first: we ask it to dial us (reverse), then punch.
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
  reason: string;
}

export interface RankInput {
  local: NodeAddress;
  remote: NodeAddress;
  /** Strategies this node has (direct always; reverse/punch need signaling on both sides). */
  available: ReadonlySet<StrategyName>;
  /** Cap on a direct attempt that may not work (ms). @default 3000 */
  directCap?: number;
}

export function rankStrategies({ local, remote, available, directCap = 3000 }: RankInput): RankedStrategy[] {
  const out: RankedStrategy[] = [];
  const push = (name: StrategyName, reason: string, cap?: number) => {
    if (available.has(name) && !out.some((s) => s.name === name)) out.push({ name, reason, cap });
  };
  const near = directCandidates(local, remote).some((c) => c.kind === "loopback" || c.kind === "lan");
  const theirs = reachability(remote);
  const ours = reachability(local);
  const helpers = available.has("reverse") || available.has("punch");
  if (near || theirs === "yes") {
    push("direct", near ? "the peer is on this host or LAN" : "the peer accepts inbound connections");
  } else if (theirs === "unknown") {
    push("direct", "the peer may accept inbound connections", helpers ? directCap : undefined);
  }
  if (ours !== "no") push("reverse", ours === "yes" ? "we accept inbound connections: the peer can dial us" : "the peer may be able to dial us");
  push("punch", "both sides behind NATs or firewalls: simultaneous open");
  if (theirs === "no" && !near) push("direct", "last resort: the peer's address says it is guarded", Math.min(directCap, 1500));
  push("turn", "relay");
  return out;
}
