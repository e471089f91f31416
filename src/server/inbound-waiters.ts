/**
 * connect() calls waiting for the peer to dial us back (reverse connect), by
 * one-time token. A connection claims a waiter only if its handshake proved
 * the identity the waiter expects.
 */
import { AbortError, TimeoutError } from "../errors.ts";
import type { NodeId } from "../identity/identity.ts";
import type { DialResult } from "../strategies/strategy.ts";

interface Waiter {
  peer: NodeId;
  resolve: (r: DialResult) => void;
}

export class InboundWaiters {
  readonly #waiting = new Map<string, Waiter>();

  /** Waits for a session carrying `token` from `peer`; rejects on timeout or abort. */
  expect(peer: NodeId, token: string, opts: { timeout: number; signal: AbortSignal }): Promise<DialResult> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        opts.signal.removeEventListener("abort", onAbort);
        this.#waiting.delete(token);
      };
      const onAbort = () => {
        done();
        reject(new AbortError("stopped waiting for the peer to connect"));
      };
      const timer = setTimeout(() => {
        done();
        reject(new TimeoutError(`the peer did not connect back within ${opts.timeout} ms`));
      }, opts.timeout);
      opts.signal.addEventListener("abort", onAbort, { once: true });
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
