/**
 * What the node remembers about peers, bounded (least recently seen dropped
 * first): the newest signed address of each peer it connected to, and the
 * peers whose authenticated pipe came from a private address (proof they
 * share our network, which the dial policy needs).
 */
import { newerAddress, type NodeAddress } from "../identity/address.ts";
import type { NodeId } from "../identity/identity.ts";
import { classifyIp } from "../util/ip.ts";
import { mayDialFor } from "../strategies/dial-policy.ts";

/** Entries kept of each kind. */
export const PEER_MEMORY_LIMIT = 1024;

export class PeerMemory {
  readonly #addresses = new Map<NodeId, NodeAddress>();
  readonly #lan = new Set<NodeId>();
  readonly #allowPrivate: boolean;

  constructor(opts: { allowPrivate: boolean }) {
    this.#allowPrivate = opts.allowPrivate;
  }

  /** Keeps `a` as the peer's latest address. */
  rememberAddress(a: NodeAddress): void {
    this.#addresses.delete(a.id);
    this.#addresses.set(a.id, a);
    if (this.#addresses.size > PEER_MEMORY_LIMIT) this.#addresses.delete(this.#addresses.keys().next().value as NodeId);
  }

  /** The latest address we know for `id` (undefined if none). */
  known(id: NodeId): NodeAddress | undefined {
    return this.#addresses.get(id);
  }

  /**
   * The newer of `fetched` and the unexpired address we already know: a reply
   * can be old (delayed, or a stale cache on the peer's side).
   */
  newest(fetched: NodeAddress, nowMs: number): NodeAddress {
    const known = this.#addresses.get(fetched.id);
    return known && known.expires * 1000 > nowMs ? newerAddress(known, fetched) : fetched;
  }

  /** Notes a peer whose authenticated pipe came from `remoteAddress` (kept only if it is private). */
  notePipe(id: NodeId, remoteAddress: string | undefined): void {
    if (!remoteAddress || classifyIp(remoteAddress) !== "private") return;
    this.#lan.delete(id);
    this.#lan.add(id);
    if (this.#lan.size > PEER_MEMORY_LIMIT) this.#lan.delete(this.#lan.values().next().value as NodeId);
  }

  /** The dial policy for endpoints a peer sent us (src/connect/dial-policy.ts). */
  mayDial(requester: NodeAddress, host: string): boolean {
    return mayDialFor({ requester, host, allowPrivate: this.#allowPrivate, seenOnLan: this.#lan.has(requester.id) });
  }
}
