/** Whether strangers can open a TCP connection to a node, judged from its signed address alone (pure). */
import type { NodeAddress } from "./address.ts";

export type Reachability = "yes" | "no" | "unknown";

const GUARDED = new Set(["firewall", "full-cone", "restricted", "port-restricted", "symmetric", "blocked"]);

/**
 * Can a stranger on the internet open a TCP connection to this node? (from its signed address)
 *
 * Only TCP evidence says "yes". "No" may also rest on UDP: a standard STUN
 * server (coturn, the public ones) cannot test TCP filtering, but a NAT that
 * UDP discovery saw is the same box for TCP, and without a port mapping no NAT
 * forwards a stranger's SYN to our listening port.
 */
export function reachability(a: NodeAddress): Reachability {
  if (a.interfaces.some((i) => i.mappedPort && i.mappedVerified)) return "yes";
  if (a.interfaces.some((i) => i.v4.public.length && i.nat.tcp.type === "open")) return "yes";
  const guarded = (i: NodeAddress["interfaces"][number]) => GUARDED.has(i.nat.tcp.type) || (i.nat.tcp.type === "unknown" && GUARDED.has(i.nat.udp.type) && i.nat.udp.type !== "firewall");
  if (a.interfaces.length && a.interfaces.every(guarded)) return "no";
  return "unknown";
}

