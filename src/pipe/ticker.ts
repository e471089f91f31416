/**
 * One timer for the liveness checks of every pipe that shares a `Timers`
 * (normally all pipes of a process), instead of one timer per pipe: 10,000
 * idle pipes then cost one timer firing every few seconds plus a comparison
 * per pipe, not 10,000 timers. The period is the smallest check interval any
 * registered pipe asked for; each check compares times itself, so running it
 * more often than its own interval changes nothing but when it is noticed
 * (at most one period late). With no pipe registered no timer is pending.
 */
import type { TimerHandle, Timers } from "../util/clock.ts";

/** A registered check; call it to deregister. */
export type Untick = () => void;

export class Ticker {
  readonly #timers: Timers;
  readonly #checks = new Set<() => void>();
  /** How many registered checks asked for each period (the timer runs at the smallest). */
  readonly #periods = new Map<number, number>();
  #timer?: TimerHandle;
  #period = Infinity;

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  /** Checks registered (tests and diagnostics). */
  get size(): number {
    return this.#checks.size;
  }

  /** Runs `check` every `period` ms or more often, until the returned function is called. */
  add(check: () => void, period: number): Untick {
    const entry = () => check(); // its own identity: the same function may be registered twice
    this.#checks.add(entry);
    this.#periods.set(period, (this.#periods.get(period) ?? 0) + 1);
    if (period < this.#period) this.#arm(period);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.#checks.delete(entry);
      const n = this.#periods.get(period)! - 1;
      if (n) this.#periods.set(period, n);
      else this.#periods.delete(period);
      if (!this.#checks.size) this.#disarm();
    };
  }

  #arm(period: number): void {
    this.#disarm();
    this.#period = period;
    this.#timer = this.#timers.setTimeout(this.#fire, period);
    unref(this.#timer);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#period = Infinity;
  }

  #fire = () => {
    this.#timer = undefined;
    this.#period = Infinity;
    // A check may remove itself or others (a pipe failing); a Set skips deleted entries.
    for (const check of this.#checks) check();
    if (this.#checks.size) this.#arm(Math.min(...this.#periods.keys()));
  };
}

/** Lets a system timer not keep the process alive (a fake one has no unref). */
export function unref(h: TimerHandle): void {
  (h as { unref?: () => void }).unref?.();
}

const shared = new WeakMap<Timers, Ticker>();

/** The ticker every pipe on `timers` shares. */
export function tickerFor(timers: Timers): Ticker {
  let t = shared.get(timers);
  if (!t) shared.set(timers, (t = new Ticker(timers)));
  return t;
}
