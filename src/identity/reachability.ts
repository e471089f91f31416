/** Whether strangers can open a TCP connection to a node, judged from its signed address alone (pure). */
import type { NatSummary, NodeAddress } from "./address.ts";
import { classifyIp } from "../util/ip.ts";

export type Reachability = "yes" | "no" | "unknown";

const GUARDED = new Set(["firewall", "full-cone", "restricted", "port-restricted", "symmetric", "blocked"]);

/**
 * Can a stranger on the internet open a TCP connection to this node? (from its signed address)
 *
 * Only TCP evidence says "yes". "No" may also rest on UDP: a standard STUN
 * server (coturn, the public ones) cannot test TCP filtering, but a NAT that
 * UDP discovery saw is the same box for TCP, and without a port mapping no NAT
 * forwards a stranger's SYN to our listening port.
 *
 * IPv6 (the interface's nat6, when discovery ran over IPv6): TCP measured
 * "open" on an interface with a global IPv6 address says "yes"; a measured
 * firewall guards that interface's IPv6 as an IPv4 NAT guards its IPv4. An
 * unmeasured IPv6 leaves the IPv4 evidence to decide, as before.
 */
export function reachability(a: NodeAddress): Reachability {
  if (a.interfaces.some((i) => i.mappedPort && i.mappedVerified)) return "yes";
  if (a.interfaces.some((i) => i.v4.public.length && i.nat.tcp.type === "open")) return "yes";
  if (a.interfaces.some((i) => hasGlobalV6(i) && i.nat6?.tcp.type === "open")) return "yes";
  const by = (n: { tcp: NatSummary; udp: NatSummary }) => GUARDED.has(n.tcp.type) || (n.tcp.type === "unknown" && GUARDED.has(n.udp.type) && n.udp.type !== "firewall");
  const noV4 = (i: NodeAddress["interfaces"][number]) => !i.v4.private.length && !i.v4.public.length;
  // An IPv6-only interface is judged by its IPv6 measurement; a dual-stack one needs its IPv4 guarded, and its IPv6 too when measured.
  const guarded = (i: NodeAddress["interfaces"][number]) => (noV4(i) && i.nat6 ? by(i.nat6) : by(i.nat) && (!i.nat6 || !hasGlobalV6(i) || by(i.nat6) || measuredNothing(i.nat6)));
  if (a.interfaces.length && a.interfaces.every(guarded)) return "no";
  return "unknown";
}


function hasGlobalV6(i: NodeAddress["interfaces"][number]): boolean {
  return i.v6.some((ip) => classifyIp(ip) === "public");
}

function measuredNothing(n: { tcp: NatSummary; udp: NatSummary }): boolean {
  return n.tcp.type === "unknown" && n.udp.type === "unknown";
}
