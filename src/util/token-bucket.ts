/** A token bucket (pure: time is passed in, in ms). Shared by the signaling and STUN rate limits. */

export interface BucketOptions {
  /** Tokens a full bucket holds (the allowed burst). */
  capacity: number;
  /** Tokens added per second. */
  refillPerSecond: number;
}

/** One token bucket. */
export class TokenBucket {
  readonly #opts: BucketOptions;
  #tokens: number;
  #at: number;

  constructor(opts: BucketOptions, now: number) {
    this.#opts = opts;
    this.#tokens = opts.capacity;
    this.#at = now;
  }

  /** Tokens available at `now` (refills first). */
  available(now: number): number {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#opts.capacity, this.#tokens + ((now - this.#at) / 1000) * this.#opts.refillPerSecond);
    }
    this.#at = Math.max(this.#at, now);
    return this.#tokens;
  }

  isFull(now: number): boolean {
    return this.available(now) >= this.#opts.capacity;
  }

  take(now: number): boolean {
    if (this.available(now) < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

