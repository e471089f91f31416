/**
 * Whether a connect must wait for our own NAT discovery before it starts. The
 * plan's lead only reads our NAT type when the peer is neither near (same host
 * or LAN) nor reachable: then ranking picks reverse/punch from what discovery
 * says. A peer that accepts inbound connections is dialled directly whatever
 * our NAT is, so waiting for discovery only delays the dial (by up to
 * discoveryWait, 1 s) — later strategies rank with "unknown", which tries more,
 * never less.
 */
import type { NodeAddress } from "../identity/address.ts";
import { directCandidates } from "../strategies/direct.ts";
import { reachability } from "../identity/reachability.ts";

/** Pure: true when ranking a connect from `local` to `remote` depends on our NAT discovery. */
export function planNeedsDiscovery(local: NodeAddress, remote: NodeAddress): boolean {
  const near = directCandidates(local, remote).some((c) => c.kind === "loopback" || c.kind === "lan");
  return !near && reachability(remote) !== "yes";
}

/** What of a node this needs (src/node.ts Node). */
export interface DiscoveringNode {
  readonly address: NodeAddress;
  natReady(): Promise<unknown>;
  portMappingReady(): Promise<unknown>;
}

/** Waits for discovery and port mapping only when the plan needs them; resolves with whether it waited. */
export async function discoveryForPlan(node: DiscoveringNode, remote: NodeAddress): Promise<boolean> {
  if (!planNeedsDiscovery(node.address, remote)) return false;
  await Promise.all([node.natReady(), node.portMappingReady()]);
  return true;
}
