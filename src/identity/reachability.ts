/** Whether strangers can open a TCP connection to a node, judged from its signed address alone (pure). */
import type { NodeAddress } from "./address.ts";

export type Reachability = "yes" | "no" | "unknown";

const GUARDED = new Set(["firewall", "full-cone", "restricted", "port-restricted", "symmetric", "blocked"]);

/** Can a stranger on the internet open a TCP connection to this node? (from its signed address) */
export function reachability(a: NodeAddress): Reachability {
  if (a.interfaces.some((i) => i.mappedPort && i.mappedVerified)) return "yes";
  if (a.interfaces.some((i) => i.v4.public.length && i.nat.tcp.type === "open")) return "yes";
  if (a.interfaces.length && a.interfaces.every((i) => GUARDED.has(i.nat.tcp.type))) return "no";
  return "unknown";
}

