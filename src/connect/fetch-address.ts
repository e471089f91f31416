/** Asks a peer for its current signed address over signaling (addresses change with IPs and mappings). */
import { AddressError, PeerIdentityError } from "../errors.ts";
import { parseAddress, type NodeAddress } from "../identity/address.ts";
import type { NodeId } from "../identity/identity.ts";
import type { Signaling } from "../signaling/signaling.ts";

/**
 * The peer's address from its get-addr reply. Rejects with AddressError when
 * the reply carries no valid address (the peer's input), PeerIdentityError
 * when it is another node's, or the request's own error.
 */
export async function fetchAddress(
  sig: Signaling,
  peerId: NodeId,
  brokers: string[],
  opts: { timeout?: number; signal?: AbortSignal } = {},
): Promise<NodeAddress> {
  const reply = (await sig.request(peerId, brokers, "get-addr", {}, { timeout: opts.timeout, signal: opts.signal })) as { address?: unknown } | undefined;
  if (typeof reply?.address !== "string") throw new AddressError("the peer's get-addr reply carries no address");
  const addr = parseAddress(reply.address);
  if (addr.id !== peerId) throw new PeerIdentityError(`asked ${peerId} for its address and got one for ${addr.id}`);
  return addr;
}
