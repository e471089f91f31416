import { AbortError, TimeoutError } from "../errors.ts";

/**
 * One cancellable wait: a promise-side `fail` plus a teardown. Combines the
 * caller's AbortSignal with a timeout; whichever fires first rejects with
 * AbortError or TimeoutError. Call `done()` to free the timer and listener.
 */
export interface Deadline {
  /** Rejects when the signal aborts or the timeout passes; never resolves. */
  readonly expired: Promise<never>;
  /** Milliseconds left (0 when past). */
  remaining(): number;
  done(): void;
}

export function deadline(timeoutMs: number, signal: AbortSignal | undefined, what: string): Deadline {
  const end = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const expired = new Promise<never>((_, reject) => {
    if (signal?.aborted) {
      reject(new AbortError(`${what} aborted`, { cause: signal.reason }));
      return;
    }
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    onAbort = () => reject(new AbortError(`${what} aborted`, { cause: signal?.reason }));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  expired.catch(() => {});
  return {
    expired,
    remaining: () => Math.max(0, end - Date.now()),
    done() {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    },
  };
}

/** Races `p` against the deadline and always frees it. */
export async function within<T>(p: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, what: string): Promise<T> {
  const d = deadline(timeoutMs, signal, what);
  try {
    return await Promise.race([p, d.expired]);
  } finally {
    d.done();
  }
}
