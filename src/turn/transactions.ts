/**
 * STUN transactions to a TURN server over one link: requests matched to
 * answers by transaction id, retransmitted on UDP on a bounded schedule
 * (RFC 8489 §6.2.1 doubling, cut short: 250 ms, then ×2, five sends, 7.75 s in
 * all), sent once on TCP/TLS. Time comes from the injected timers.
 */
import { TurnError } from "../errors.ts";
import { decode, encode, newTransactionId, sameTransaction, type DecodedStunMessage, type StunAttribute, type StunMessage } from "../stun/codec.ts";
import { systemTimers, type Timers } from "../util/clock.ts";
import { raceSignal } from "../util/deadline.ts";
import type { TurnLink } from "./link.ts";

export const TURN_RETRANSMIT_MS: readonly number[] = Object.freeze([0, 250, 750, 1750, 3750]);
export const TURN_TRANSACTION_TIMEOUT_MS = 7750;

interface Pending {
  id: Uint8Array;
  resolve(m: DecodedStunMessage): void;
  reject(e: Error): void;
}

export interface RequestOptions {
  /** MESSAGE-INTEGRITY key (MD5 long-term key). */
  integrityKey?: Uint8Array;
  /** MESSAGE-INTEGRITY-SHA256 key (SHA-256 long-term key, RFC 8489 §9.2.2). */
  integritySha256Key?: Uint8Array;
  signal?: AbortSignal;
  /** @default TURN_TRANSACTION_TIMEOUT_MS */
  timeout?: number;
}

export class Transactions {
  readonly #link: TurnLink;
  readonly #timers: Timers;
  readonly #label: string;
  readonly #pending = new Set<Pending>();

  constructor(link: TurnLink, label: string, timers: Timers = systemTimers) {
    this.#link = link;
    this.#label = label;
    this.#timers = timers;
  }

  /** Sends a request; resolves with the success or error answer, rejects with TurnError "timeout". */
  async request(method: number, attributes: StunAttribute[], o: RequestOptions = {}): Promise<DecodedStunMessage> {
    const msg: StunMessage = { method, class: "request", transactionId: newTransactionId(), attributes };
    const bytes = encode(msg, { integrityKey: o.integrityKey, integritySha256Key: o.integritySha256Key, fingerprint: true });
    const timeout = o.timeout ?? TURN_TRANSACTION_TIMEOUT_MS;
    const handles: Array<ReturnType<Timers["setTimeout"]>> = [];
    let pending: Pending | undefined;
    const answer = new Promise<DecodedStunMessage>((resolve, reject) => {
      pending = { id: msg.transactionId, resolve, reject };
      this.#pending.add(pending);
      const schedule = this.#link.reliable ? [0] : TURN_RETRANSMIT_MS.filter((t) => t < timeout);
      for (const at of schedule) {
        if (at === 0) this.#link.send(bytes);
        else handles.push(this.#timers.setTimeout(() => this.#link.send(bytes), at));
      }
      handles.push(this.#timers.setTimeout(() => reject(new TurnError(`TURN ${this.#label} did not answer within ${timeout} ms`, { server: this.#label, reason: "timeout" })), timeout));
    });
    try {
      return o.signal ? await raceSignal(answer, o.signal) : await answer;
    } finally {
      for (const h of handles) this.#timers.clearTimeout(h);
      if (pending) this.#pending.delete(pending);
    }
  }

  /** An indication (Send): fire and forget. */
  indication(method: number, attributes: StunAttribute[]): void {
    this.#link.send(encode({ method, class: "indication", transactionId: newTransactionId(), attributes }, { fingerprint: true }));
  }

  /**
   * Offers a decoded answer to the pending requests; true when one took it.
   * Retransmitted answers to a request already settled are ignored.
   */
  settle(msg: DecodedStunMessage): boolean {
    if (msg.class !== "success" && msg.class !== "error") return false;
    for (const p of this.#pending) {
      if (sameTransaction(p.id, msg.transactionId)) {
        this.#pending.delete(p);
        p.resolve(msg);
        return true;
      }
    }
    return false;
  }

  /** Rejects every request in flight (the link closed). */
  failAll(err: Error): void {
    for (const p of [...this.#pending]) {
      this.#pending.delete(p);
      p.reject(err);
    }
  }

  /** Requests in flight. */
  get size(): number {
    return this.#pending.size;
  }
}

/** Decodes a STUN frame from the server, or undefined when it is not one we can read. */
export function tryDecode(bytes: Uint8Array): DecodedStunMessage | undefined {
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}
