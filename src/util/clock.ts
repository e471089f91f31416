/**
 * The clock and timers every layer uses, injected from the node down (options
 * `clock` / `timers`), so tests of timeouts, keepalives, retries and expiry run
 * on fake time instead of sleeping. Nothing below the node reads Date.now() or
 * calls setTimeout directly when it was handed these.
 */

/** Wall-clock time, ms since the epoch. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** An opaque timer handle. */
export type TimerHandle = { readonly __timer: unique symbol } | ReturnType<typeof setTimeout>;

/** Timers as the library uses them: pass fake ones (startNode({ timers })) to test timeouts without waiting. */
export interface Timers {
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer (undefined or a fired one is fine). */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock (Date.now()). */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** The real timers (setTimeout / clearTimeout). */
export const systemTimers: Timers = Object.freeze({
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h: TimerHandle | undefined) => clearTimeout(h as ReturnType<typeof setTimeout> | undefined),
});

/** Sleeps `ms` on `timers`; resolves early (no error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, timers: Timers = systemTimers): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const finish = () => {
      timers.clearTimeout(handle);
      signal?.removeEventListener("abort", finish);
      resolve();
    };
    const handle = timers.setTimeout(finish, ms);
    signal?.addEventListener("abort", finish, { once: true });
  });
}

/**
 * A manual clock and timer queue for tests: time moves only when advance() is
 * called, and due timers fire in deadline order (ties in creation order).
 */
interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeTime implements Clock, Timers {
  #now: number;
  #seq = 0;
  #queue: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#queue.push(t);
    return t as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    const i = this.#queue.indexOf(handle as unknown as FakeTimer);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way
   * (and timers those set, if they fall due too). Awaits a microtask turn after
   * each one so promise chains settle in order.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await flush();
      this.#queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#queue[0];
      if (!next || next.at > end) break;
      this.#queue.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
