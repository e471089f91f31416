/**
 * What a responder says to requests that accept() refuses. A refusal is not
 * remembered in the request table (that would let refused senders fill it),
 * but answering each one afresh costs an encryption and a publish per message,
 * so a flood of refused requests would make us work and send traffic in step.
 * Two bounds:
 *
 * - the sealed refusal is kept, keyed by (sender, request id), for as long as
 *   its requester re-sends: a re-sent copy (fresh seal, same id) or a replayed
 *   one gets the same bytes again, with no new seal and no second accept();
 * - refusal replies are rate limited per sender and in all (a re-publish
 *   included); beyond that a request is refused silently: the requester sees
 *   a timeout instead of RefusedError, which is all a flood deserves.
 *
 * Pure: time is passed in.
 */
import type { NodeId } from "../identity/identity.ts";
import { InvalidArgumentError } from "../errors.ts";
import { RateLimiter, type RateLimitOptions } from "./rate-limit.ts";

/**
 * Per sender a burst of 4 (one connect tries up to ~4 strategies, each may be
 * refused), then one per 10 s; in all a burst of 32, then 4 a second (about
 * 1 KB/s of refusals at most).
 */
export const REFUSAL_LIMIT_DEFAULTS = Object.freeze({
  perPeer: Object.freeze({ capacity: 4, refillPerSecond: 0.1 }),
  global: Object.freeze({ capacity: 32, refillPerSecond: 4 }),
  maxPeers: 1024,
});

/**
 * Sealed refusals kept at most. The global limit bounds how many are made per
 * keepMs (32 + 4/s × 10 s = 72 by default), so this is rarely reached; when
 * it is, a new refusal is still sent, just not kept.
 */
const MAX_KEPT = 512;

export interface Refusal {
  bytes: Uint8Array;
  brokers: string[];
  expires: number;
}

export class Refusals {
  readonly #limit: RateLimiter;
  readonly #kept = new Map<string, Refusal>();
  /** How long a sealed refusal is kept: the longest a requester re-sends by default (its request timeout). */
  readonly #keepMs: number;

  constructor(o: { limit?: RateLimitOptions; keepMs: number; now: number }) {
    if (!(o.keepMs > 0)) throw new InvalidArgumentError("keepMs must be positive");
    const d = REFUSAL_LIMIT_DEFAULTS;
    this.#limit = new RateLimiter({ perPeer: o.limit?.perPeer ?? d.perPeer, global: o.limit?.global ?? d.global, maxPeers: o.limit?.maxPeers ?? d.maxPeers }, o.now);
    this.#keepMs = o.keepMs;
  }

  /** The refusal already sealed for this request, if it is still kept. */
  get(from: NodeId, id: string, now: number): Refusal | undefined {
    const r = this.#kept.get(key(from, id));
    if (r && r.expires <= now) {
      this.#kept.delete(key(from, id));
      return undefined;
    }
    return r;
  }

  /** Whether one more refusal may go to `from` now (takes a token from both buckets, or neither). */
  mayReply(from: NodeId, now: number): boolean {
    return this.#limit.take(from, now);
  }

  /** Keeps a sealed refusal for re-sent copies of the same request. */
  keep(from: NodeId, id: string, bytes: Uint8Array, brokers: string[], now: number): void {
    if (this.#kept.size >= MAX_KEPT) for (const [k, r] of this.#kept) if (r.expires <= now) this.#kept.delete(k);
    if (this.#kept.size >= MAX_KEPT) return;
    this.#kept.set(key(from, id), { bytes, brokers, expires: now + this.#keepMs });
  }

  clear(): void {
    this.#kept.clear();
  }
}

function key(from: NodeId, id: string): string {
  return `${from}:${id}`;
}
