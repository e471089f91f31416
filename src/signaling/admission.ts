/**
 * Who may take room in the responder's caches (the remembered-request table
 * and the replay cache). Ed25519 keys cost nothing to make, so "one quota per
 * sender" alone does not stop a flood: an attacker who can publish to our
 * topic sends one signed request from each of thousands of fresh identities.
 * Two rules keep such a flood away from the peers we already deal with:
 *
 * - a budget: a request from a sender we hold nothing about (a stranger) takes
 *   a token from one global bucket; with none left it is dropped unanswered;
 * - shares: each class of sender may fill a cache only up to its share, so
 *   the rest stays free for the classes above it:
 *     known        (the node says so, or we have a request out to it)  100 %
 *     established  (it has a live remembered request: mid-connect)      75 %
 *     stranger     (anyone else)                                        50 %
 *
 * A flood of strangers thus fills at most half of each cache, at the budget's
 * pace, and can never lock out an established or a known peer. An established
 * sender (a stranger once admitted counts as one) is held back from the last
 * quarter, kept for known peers; among established senders the per-sender
 * quota is what stops one crowding out the others.
 *
 * Pure apart from the callback: time is passed in.
 */
import type { NodeId } from "../identity/identity.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Logger } from "../util/logger.ts";
import { TokenBucket, type BucketOptions } from "../util/token-bucket.ts";

export type PeerClass = "known" | "established" | "stranger";

/** The share of each cache a class of sender may fill (see above). */
export const CACHE_SHARES: Readonly<Record<PeerClass, number>> = Object.freeze({ known: 1, established: 0.75, stranger: 0.5 });

/**
 * New senders admitted: a burst of 50, then 5 a second. A node sees a new
 * peer when someone connects to it for the first time in ~70 s (the time a
 * request is remembered); 5 a second is 300 a minute, far above a personal
 * node's need, while a flood costs us at most that many handler runs.
 */
export const STRANGER_BUDGET_DEFAULTS: Readonly<BucketOptions> = Object.freeze({ capacity: 50, refillPerSecond: 5 });

/** Tells whether a peer is one the node already deals with (it has a pipe with us, or is on a list). */
export type KnownPeerHook = (peerId: NodeId) => boolean;

/** The size a request of `cls` may fill a cache of `capacity` up to (at least 1, so a tiny cache still serves someone). */
export function shareOf(cls: PeerClass, capacity: number): number {
  return Math.max(1, Math.floor(capacity * CACHE_SHARES[cls]));
}

export class Admission {
  readonly #known: KnownPeerHook;
  readonly #budget: TokenBucket;
  readonly #log: Logger;

  constructor(o: { isKnownPeer?: KnownPeerHook; strangerBudget?: BucketOptions; now: number; logger: Logger }) {
    this.#known = o.isKnownPeer ?? (() => false);
    const b = o.strangerBudget ?? STRANGER_BUDGET_DEFAULTS;
    if (!(b.capacity >= 1) || !Number.isFinite(b.capacity)) throw new InvalidArgumentError("strangerBudget.capacity must be a finite number >= 1");
    if (!(b.refillPerSecond >= 0) || !Number.isFinite(b.refillPerSecond)) throw new InvalidArgumentError("strangerBudget.refillPerSecond must be a finite number >= 0");
    this.#budget = new TokenBucket({ capacity: b.capacity, refillPerSecond: b.refillPerSecond }, o.now);
    this.#log = o.logger;
  }

  /**
   * The class of `from`. `contacted`: we have a request out to it (we chose
   * to talk to it); `inTable`: it has a live remembered request.
   */
  classify(from: NodeId, facts: { contacted: boolean; inTable: boolean }): PeerClass {
    if (facts.contacted || this.#isKnown(from)) return "known";
    return facts.inTable ? "established" : "stranger";
  }

  /** Takes a token from the strangers' budget; false: none left (drop the request unanswered). */
  admitStranger(now: number): boolean {
    return this.#budget.take(now);
  }

  #isKnown(from: NodeId): boolean {
    try {
      return this.#known(from) === true;
    } catch (err) {
      // A throwing hook must not let a flood through as "known", nor take the receive path down.
      this.#log.warn("isKnownPeer threw; treating the peer as unknown", { error: (err as Error)?.message });
      return false;
    }
  }
}
