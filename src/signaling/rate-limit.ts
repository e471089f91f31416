/**
 * Token buckets for signaling requests that make us dial out (reverse-connect):
 * one bucket per peer and one for everyone together. A request passes only if
 * both buckets have a token; then it takes one from each.
 *
 * Pure: time is passed in. The number of per-peer buckets is bounded; a bucket
 * that has refilled completely is forgotten (it is the same as a new one), and
 * when every slot holds a partly used bucket a new peer is refused.
 */
import { InvalidArgumentError } from "../errors.ts";
import { TokenBucket, type BucketOptions } from "../util/token-bucket.ts";

export { TokenBucket, type BucketOptions };

export interface RateLimitOptions {
  /** @default { capacity: 5, refillPerSecond: 0.2 } (a burst of 5, then one per 5 s) */
  perPeer?: BucketOptions;
  /** @default { capacity: 30, refillPerSecond: 2 } */
  global?: BucketOptions;
  /** Per-peer buckets tracked at most. @default 10000 */
  maxPeers?: number;
}

export const RATE_LIMIT_DEFAULTS = Object.freeze({
  perPeer: Object.freeze({ capacity: 5, refillPerSecond: 0.2 }),
  global: Object.freeze({ capacity: 30, refillPerSecond: 2 }),
  maxPeers: 10_000,
});

function checkBucket(name: string, b: BucketOptions): BucketOptions {
  if (!(b.capacity >= 1) || !Number.isFinite(b.capacity)) throw new InvalidArgumentError(`${name}.capacity must be a finite number >= 1`);
  if (!(b.refillPerSecond >= 0) || !Number.isFinite(b.refillPerSecond)) throw new InvalidArgumentError(`${name}.refillPerSecond must be a finite number >= 0`);
  return { capacity: b.capacity, refillPerSecond: b.refillPerSecond };
}

export class RateLimiter {
  readonly #perPeer: BucketOptions;
  readonly #global: TokenBucket;
  readonly #maxPeers: number;
  readonly #peers = new Map<string, TokenBucket>();

  constructor(options: RateLimitOptions = {}, now = 0) {
    this.#perPeer = checkBucket("perPeer", options.perPeer ?? RATE_LIMIT_DEFAULTS.perPeer);
    this.#global = new TokenBucket(checkBucket("global", options.global ?? RATE_LIMIT_DEFAULTS.global), now);
    this.#maxPeers = options.maxPeers ?? RATE_LIMIT_DEFAULTS.maxPeers;
    if (!(this.#maxPeers >= 1)) throw new InvalidArgumentError("maxPeers must be >= 1");
  }

  /** Takes one token for `peer` and one global token, or neither; returns whether it was allowed. */
  take(peer: string, now: number): boolean {
    let bucket = this.#peers.get(peer);
    if (!bucket) {
      if (this.#peers.size >= this.#maxPeers) {
        for (const [k, b] of this.#peers) if (b.isFull(now)) this.#peers.delete(k);
        if (this.#peers.size >= this.#maxPeers) return false;
      }
      bucket = new TokenBucket(this.#perPeer, now);
      this.#peers.set(peer, bucket);
    }
    if (bucket.available(now) < 1 || this.#global.available(now) < 1) return false;
    bucket.take(now);
    this.#global.take(now);
    return true;
  }
}
