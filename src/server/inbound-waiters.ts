/**
 * connect() calls waiting for the peer to dial us back (reverse connect), by
 * one-time token. A connection claims a waiter only if its handshake proved
 * the identity the waiter expects.
 *
 * A session that carries the token but proves another identity fails the
 * waiter at once with PeerIdentityError. Only the asked peer can know the
 * token: the request is sealed to the key its address names, and the peer's
 * dial-back sends the token in the handshake's last message, encrypted, after
 * it has checked that our listener proves our key. So a wrong key with the
 * right token means the peer that holds the address's key handed its token to
 * another identity: the impostor case, not a stranger to wait out.
 */
import { AbortError, PeerIdentityError, TimeoutError } from "../errors.ts";
import type { NodeId } from "../identity/identity.ts";
import type { DialResult } from "../strategies/strategy.ts";
import type { Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";

interface Waiter {
  peer: NodeId;
  resolve: (r: DialResult) => void;
  fail: (err: Error) => void;
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
      const fail = (err: Error) => {
        done();
        reject(err);
      };
      if (d.signal.aborted) return onEnd();
      d.signal.addEventListener("abort", onEnd, { once: true });
      this.#waiting.set(token, {
        peer,
        resolve: (r) => {
          done();
          resolve(r);
        },
        fail,
      });
    });
  }

  /**
   * The waiter for `token` if `peer` is the one it expects; "wrong-peer" if
   * another identity presents the token (the waiter then rejects with
   * PeerIdentityError and is gone); undefined if no one waits.
   */
  claim(token: string, peer: NodeId): ((r: DialResult) => void) | "wrong-peer" | undefined {
    const w = this.#waiting.get(token);
    if (!w) return undefined;
    if (w.peer === peer) return w.resolve;
    w.fail(new PeerIdentityError(`the peer connected back as ${peer}, not as ${w.peer} (its address's key)`));
    return "wrong-peer";
  }
}
