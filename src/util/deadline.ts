/**
 * The one deadline helper: a caller's signal, an owner's lifetime and a
 * timeout folded into one AbortSignal, that of its own AbortController, which
 * listens to each parent. Its reason is an AbortError when a parent aborted and
 * a TimeoutError when the time ran out, so code below only ever listens to one
 * signal. The timer runs on the injected timers (fake in tests) and is freed,
 * with the parents' listeners, by done() or when a parent aborts.
 *
 * Not AbortSignal.any / AbortSignal.timeout: the first would pass a parent's
 * raw reason on (not an AbortError that names the wait), the second runs on
 * the system's timers, which tests cannot fake, and keeps its timer until it
 * fires; done() here frees the timer and the links to the parents at once.
 */
import { AbortError, TimeoutError } from "../errors.ts";
import { systemClock, systemTimers, type Clock, type Timers } from "./clock.ts";

export interface DeadlineOptions {
  /** Budget in ms; Infinity (or undefined) for none. */
  timeout?: number;
  /** Parents: the caller's signal, the owner's lifetime… (undefined entries are skipped). */
  signals?: ReadonlyArray<AbortSignal | undefined>;
  /** Names the wait in the error messages ("punch", "connect to abc…"). */
  what: string;
  clock?: Clock;
  timers?: Timers;
}

export interface Deadline {
  /** Aborts when a parent aborts (AbortError) or the time is up (TimeoutError). */
  readonly signal: AbortSignal;
  /** ms left (0 when past; Infinity without a timeout). */
  remaining(): number;
  /** Throws the signal's reason if it has aborted. */
  throwIfAborted(): void;
  /** Frees the timer and listeners. Idempotent; the signal stays as it is. */
  done(): void;
}

export function deadline(o: DeadlineOptions): Deadline {
  const clock = o.clock ?? systemClock;
  const timers = o.timers ?? systemTimers;
  const own = new AbortController();
  const parents = (o.signals ?? []).filter((s): s is AbortSignal => s !== undefined);
  const timeout = o.timeout ?? Infinity;
  const end = clock.now() + timeout;
  let handle: ReturnType<Timers["setTimeout"]> | undefined;
  const onParent = (s: AbortSignal) => () => {
    own.abort(asAbortError(s.reason, o.what));
    cleanup();
  };
  const listeners = parents.map((s) => [s, onParent(s)] as const);
  const cleanup = () => {
    timers.clearTimeout(handle);
    handle = undefined;
    for (const [s, l] of listeners) s.removeEventListener("abort", l);
  };
  const first = parents.find((s) => s.aborted);
  if (first) own.abort(asAbortError(first.reason, o.what));
  else {
    for (const [s, l] of listeners) s.addEventListener("abort", l, { once: true });
    if (Number.isFinite(timeout)) {
      handle = timers.setTimeout(() => {
        handle = undefined;
        own.abort(new TimeoutError(`${o.what} timed out after ${timeout} ms`));
        cleanup();
      }, Math.max(0, timeout));
    }
  }
  return {
    signal: own.signal,
    remaining: () => (Number.isFinite(timeout) ? Math.max(0, end - clock.now()) : Infinity),
    throwIfAborted: () => {
      if (own.signal.aborted) throw own.signal.reason;
    },
    done: cleanup,
  };
}

/** Runs `fn` under a deadline and always frees it. */
export async function withDeadline<T>(o: DeadlineOptions, fn: (d: Deadline) => Promise<T>): Promise<T> {
  const d = deadline(o);
  try {
    d.throwIfAborted();
    return await raceSignal(fn(d), d.signal);
  } finally {
    d.done();
  }
}

/**
 * Settles with `p`, or rejects with `signal`'s reason as soon as it aborts
 * (the work behind `p` is expected to stop on the same signal).
 */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** A parent's abort reason as an AbortError (kept as is when it already is one, or a TimeoutError). */
export function asAbortError(reason: unknown, what: string): Error {
  if (reason instanceof AbortError || reason instanceof TimeoutError) return reason;
  return new AbortError(`${what} aborted`, { cause: reason });
}
