/**
 * connect() calls waiting for the peer to dial us back (reverse connect), by
 * one-time token. A connection claims a waiter only if its handshake proved
 * the identity the waiter expects.
 */
import { AbortError, TimeoutError } from "../errors.ts";
import type { NodeId } from "../identity/identity.ts";
import type { DialResult } from "../strategies/strategy.ts";
import type { Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";

interface Waiter {
  peer: NodeId;
  resolve: (r: DialResult) => void;
}

export class InboundWaiters {
  readonly #waiting = new Map<string, Waiter>();
  readonly #timers?: Timers;

  /** `timers`: the owner's (fake in tests). @default the system's */
  constructor(opts: { timers?: Timers } = {}) {
    this.#timers = opts.timers;
  }

  /** Tokens being waited for. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Waits for a session carrying `token` from `peer`. Rejects with AbortError
   * when `signal` aborts, TimeoutError after `timeout` ms.
   */
  expect(peer: NodeId, token: string, opts: { timeout: number; signal: AbortSignal }): Promise<DialResult> {
    return new Promise((resolve, reject) => {
      const d = deadline({ timeout: opts.timeout, signals: [opts.signal], what: "waiting for the peer to connect back", timers: this.#timers });
      const done = () => {
        d.done();
        d.signal.removeEventListener("abort", onEnd);
        this.#waiting.delete(token);
      };
      const onEnd = () => {
        done();
        reject(opts.signal.aborted ? new AbortError("stopped waiting for the peer to connect") : new TimeoutError(`the peer did not connect back within ${opts.timeout} ms`));
      };
      if (d.signal.aborted) return onEnd();
      d.signal.addEventListener("abort", onEnd, { once: true });
      this.#waiting.set(token, {
        peer,
        resolve: (r) => {
          done();
          resolve(r);
        },
      });
    });
  }

  /**
   * The waiter for `token` if `peer` is the one it expects ("wrong-peer" if
   * another identity presents the token: the waiter stays; undefined if no one waits).
   */
  claim(token: string, peer: NodeId): ((r: DialResult) => void) | "wrong-peer" | undefined {
    const w = this.#waiting.get(token);
    if (!w) return undefined;
    return w.peer === peer ? w.resolve : "wrong-peer";
  }
}
