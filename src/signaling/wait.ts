/** Cancellable waits used by the signaling layer: every wait has a timeout and honours an AbortSignal. */
import { AbortError, TimeoutError } from "../errors.ts";

/**
 * Settles with `promise`, or rejects with TimeoutError after `ms`, or AbortError
 * when `signal` aborts, whichever comes first. Frees its timer and listener.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError(`${what}: aborted`, { cause: signal.reason }));
    const onAbort = () => done(() => reject(new AbortError(`${what}: aborted`, { cause: signal!.reason })));
    const timer = setTimeout(() => done(() => reject(new TimeoutError(`${what}: no result within ${ms} ms`))), Math.max(0, ms));
    const done = (fn: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => done(() => resolve(v)),
      (e) => done(() => reject(e)),
    );
  });
}

/** Sleeps `ms`; resolves early (without error) when `wake` is called or `signal` aborts. */
export function sleeper(): { sleep(ms: number, signal?: AbortSignal): Promise<void>; wake(): void } {
  const waiting = new Set<() => void>();
  return {
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", finish);
          waiting.delete(finish);
          resolve();
        };
        const timer = setTimeout(finish, Math.max(0, ms));
        signal?.addEventListener("abort", finish, { once: true });
        waiting.add(finish);
        if (signal?.aborted) finish();
      });
    },
    wake() {
      for (const f of [...waiting]) f();
    },
  };
}
