/**
 * A SYN budget per destination IP (pure: no timers, the caller passes `now`).
 *
 * A punch dials endpoints a peer names, and the dial policy can only check
 * that each IP appears in the peer's own signed address — which the peer
 * writes itself. Per-request caps bound one request; this bounds what every
 * requester together can make one node send to one IP: a token bucket per
 * destination IP, `burst` SYNs at once and `perSecond` after that. One
 * PunchStrategy holds one budget for all its punches (responder and
 * initiator alike), so throwaway identities do not get fresh allowances.
 *
 * The map is bounded (`maxIps`). When it is full, entries whose bucket has
 * refilled are dropped first (they are the same as no entry); if none has,
 * the entry with the most tokens goes (ties: the oldest). So a depleted
 * bucket — the one under attack — is the last to be forgotten, and forgetting
 * any bucket grants that IP at most what a full bucket would.
 */
import { InvalidArgumentError } from "../../errors.ts";

export interface SynBudgetOptions {
  /** SYNs one destination IP may receive at once (bucket size). */
  burst: number;
  /** SYNs per second the bucket refills with. */
  perSecond: number;
  /** Destination IPs tracked at most. */
  maxIps: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

export class SynBudget {
  readonly options: Readonly<SynBudgetOptions>;
  #buckets = new Map<string, Bucket>();

  constructor(o: SynBudgetOptions) {
    if (!Number.isInteger(o.burst) || o.burst < 1) throw new InvalidArgumentError("SYN budget burst must be an integer ≥ 1");
    if (!Number.isFinite(o.perSecond) || o.perSecond <= 0) throw new InvalidArgumentError("SYN budget perSecond must be a positive number");
    if (!Number.isInteger(o.maxIps) || o.maxIps < 1) throw new InvalidArgumentError("SYN budget maxIps must be an integer ≥ 1");
    this.options = Object.freeze({ ...o });
  }

  /** Spends one SYN toward `ip` at `now` (ms); false when its bucket is empty (nothing is spent). */
  take(ip: string, now: number): boolean {
    let b = this.#buckets.get(ip);
    if (b) this.#refill(b, now);
    else {
      this.#makeRoom(now);
      b = { tokens: this.options.burst, at: now };
      this.#buckets.set(ip, b);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Whole SYNs `ip` may still receive at `now` (diagnostics, tests). */
  available(ip: string, now: number): number {
    const b = this.#buckets.get(ip);
    if (!b) return this.options.burst;
    this.#refill(b, now);
    return Math.floor(b.tokens);
  }

  /** Destination IPs tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  #refill(b: Bucket, now: number): void {
    // A clock that steps back refills nothing (it must never mint tokens).
    const elapsed = Math.max(0, now - b.at);
    b.tokens = Math.min(this.options.burst, b.tokens + (elapsed * this.options.perSecond) / 1000);
    b.at = Math.max(b.at, now);
  }

  #makeRoom(now: number): void {
    if (this.#buckets.size < this.options.maxIps) return;
    let fullest: [string, Bucket] | undefined;
    for (const [ip, b] of this.#buckets) {
      this.#refill(b, now);
      if (b.tokens >= this.options.burst) this.#buckets.delete(ip);
      else if (!fullest || b.tokens > fullest[1].tokens) fullest = [ip, b];
    }
    if (this.#buckets.size >= this.options.maxIps && fullest) this.#buckets.delete(fullest[0]);
  }
}
