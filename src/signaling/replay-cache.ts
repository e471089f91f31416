/**
 * The replay cache of the signaling envelope: remembers every (sender, nonce)
 * it accepted until the message would be rejected as expired anyway, so that
 * nothing can be replayed inside the validity window. When it is full of live
 * entries it refuses new messages instead of evicting: evicting would let an
 * attacker flood it and then replay an evicted message.
 *
 * Pure: time is passed in by the caller.
 */
export type ReplayVerdict = "added" | "duplicate" | "full";

export interface ReplayCacheOptions {
  /** Live entries kept at most. @default 20000 */
  capacity?: number;
}

export const REPLAY_CACHE_DEFAULTS = Object.freeze({ capacity: 20_000 });

export class ReplayCache {
  readonly capacity: number;
  readonly #entries = new Map<string, number>(); // key → expiry (ms)

  constructor(options: ReplayCacheOptions = {}) {
    this.capacity = options.capacity ?? REPLAY_CACHE_DEFAULTS.capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Whether `key` is live (seen and not yet expired) at `now`. */
  has(key: string, now: number): boolean {
    const exp = this.#entries.get(key);
    return exp !== undefined && exp > now;
  }

  /**
   * Records `key` until `expiresAt`. Returns "duplicate" if it is already live,
   * "full" (and records nothing) if `limit` slots (default: all) hold live
   * entries. A lower limit is a sender's share: a stranger's message may not
   * fill the cache past it, so the rest stays free for peers we know.
   */
  add(key: string, expiresAt: number, now: number, limit = this.capacity): ReplayVerdict {
    const exp = this.#entries.get(key);
    if (exp !== undefined && exp > now) return "duplicate";
    const max = Math.min(limit, this.capacity);
    if (exp === undefined && this.#entries.size >= max) {
      this.prune(now);
      if (this.#entries.size >= max) return "full";
    }
    this.#entries.set(key, expiresAt);
    return "added";
  }

  /** Drops every entry expired at `now`. O(n); runs only when the cache is full. */
  prune(now: number): void {
    for (const [k, exp] of this.#entries) if (exp <= now) this.#entries.delete(k);
  }

  clear(): void {
    this.#entries.clear();
  }
}
