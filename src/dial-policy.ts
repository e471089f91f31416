/**
 * Which endpoints a node may dial on a peer's request (pure). Only endpoints
 * of the requester's own signed address; private and loopback ones only when
 * both nodes share a public IP (same network) or the user allowed it — so a
 * node cannot be used to scan or flood third parties or its own LAN.
 */
import type { NodeAddress } from "./address.ts";
import { isPrivateOrLocal } from "./ip.ts";

export function mayDialFor(local: NodeAddress, requester: NodeAddress, host: string, allowPrivate: boolean): boolean {
  const listed = requester.interfaces.some((i) => [...i.v4.private, ...i.v4.public, ...i.v6].includes(host));
  if (!listed) return false;
  if (!isPrivateOrLocal(host) || allowPrivate) return true;
  const ours = new Set(local.interfaces.flatMap((i) => i.v4.public));
  return requester.interfaces.some((i) => i.v4.public.some((ip) => ours.has(ip)));
}
