/**
 * When to renew a port mapping lease, pure and with an injected clock.
 * Renew at half the granted lease (RFC 6886 §3.3 / RFC 6887 §11.2.1 advise
 * renewing well before expiry); after a failed renewal retry at half of what
 * is left (at least MIN_RETRY_MS apart); once the lease has run out the
 * mapping is lost. A lease of 0 (an IGD v1 "permanent" mapping) is
 * re-asserted every PERMANENT_RECHECK_S so a rebooted router gets it back.
 */
import { systemClock, type Clock, type TimerHandle, type Timers } from "../util/clock.ts";
import type { PortMapTime } from "./types.ts";

export const MIN_RETRY_MS = 1000;
export const PERMANENT_RECHECK_S = 1800;

/** Real timers, unref'd so a forgotten mapping never keeps a process alive. */
export const unrefTimers: Timers = Object.freeze({
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, Math.max(0, ms)).unref(),
  clearTimeout: (h: TimerHandle | undefined) => clearTimeout(h as NodeJS.Timeout | undefined),
});

/** Delay until the first renewal of a lease granted for `leaseSeconds`. */
export function renewDelayMs(leaseSeconds: number): number {
  if (leaseSeconds <= 0) return PERMANENT_RECHECK_S * 1000;
  return Math.max(MIN_RETRY_MS, Math.floor((leaseSeconds * 1000) / 2));
}

/** Delay before retrying a failed renewal, or undefined when the lease has expired (the mapping is lost). */
export function retryDelayMs(expiresAt: number | undefined, now: number): number | undefined {
  if (expiresAt === undefined) return PERMANENT_RECHECK_S * 1000;
  const left = expiresAt - now;
  if (left <= 0) return undefined;
  return Math.max(Math.min(MIN_RETRY_MS, left), Math.floor(left / 2));
}

/** What one renewal attempt produced: the new lease, or failure. */
export type RenewOutcome = { ok: true; leaseSeconds: number } | { ok: false; error: unknown };

export interface LeaseKeeperEvents {
  renewed(leaseSeconds: number): void;
  lost(error: unknown): void;
}

/**
 * Runs renewals until stopped: `renew` is called at renewDelayMs(lease),
 * failures are retried per retryDelayMs, and `lost` fires once when the lease
 * runs out without a successful renewal.
 */
/** The owner's injected clock and timers (util/clock.ts); each defaults to real time, with unref'd timers. */
export class LeaseKeeper {
  #clock: Clock;
  #timers: Timers;
  #renew: () => Promise<RenewOutcome>;
  #on: LeaseKeeperEvents;
  #timer: TimerHandle | undefined;
  #expiresAt: number | undefined;
  #stopped = false;
  #lastError: unknown;

  constructor(leaseSeconds: number, renew: () => Promise<RenewOutcome>, on: LeaseKeeperEvents, time: PortMapTime = {}) {
    this.#clock = time.clock ?? systemClock;
    this.#timers = time.timers ?? unrefTimers;
    this.#renew = renew;
    this.#on = on;
    this.#granted(leaseSeconds);
  }

  /** Absolute expiry (clock ms) of the current lease; undefined for a permanent one. */
  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  #granted(leaseSeconds: number): void {
    this.#expiresAt = leaseSeconds > 0 ? this.#clock.now() + leaseSeconds * 1000 : undefined;
    this.#schedule(renewDelayMs(leaseSeconds));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    let out: RenewOutcome;
    try {
      out = await this.#renew();
    } catch (error) {
      out = { ok: false, error };
    }
    if (this.#stopped) return;
    if (out.ok) {
      this.#granted(out.leaseSeconds);
      this.#on.renewed(out.leaseSeconds);
      return;
    }
    this.#lastError = out.error;
    const next = retryDelayMs(this.#expiresAt, this.#clock.now());
    if (next === undefined) {
      this.#stopped = true;
      this.#on.lost(this.#lastError);
      return;
    }
    // Never sleep past the expiry: the last retry lands on it, then the next failure is final.
    const cap = this.#expiresAt === undefined ? next : Math.max(1, Math.min(next, this.#expiresAt - this.#clock.now()));
    this.#schedule(cap);
  }

  /** Stops renewing (idempotent). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
