/**
 * The receiving half of a reliable-UDP connection (pure): packets stored by
 * number until the gap before them fills, delivered in order, held while the
 * reader is paused, and the window and SACK ranges that tell the sender where
 * we are. It decides nothing about when acks go out (connection.ts does).
 */
import { MAX_PAYLOAD, MAX_SACK, type Packet, type SackRange } from "./packet.ts";

export type Accepted = "duplicate" | "beyond-window" | "in-order" | "out-of-order";

export class Receiver {
  /** The next packet number we expect (the cumulative ack). */
  next = 1;
  /** Packet number of the peer's FIN once everything before it arrived. */
  finSeq?: number;
  readonly #window: number;
  readonly #deliver: (bytes: Uint8Array) => void;
  readonly #ooo = new Map<number, { payload?: Uint8Array; fin: boolean }>();
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #paused = false;

  constructor(receiveWindow: number, deliver: (bytes: Uint8Array) => void) {
    this.#window = receiveWindow;
    this.#deliver = deliver;
  }

  /** Takes a data or FIN packet; delivers whatever became in order. */
  accept(p: Packet, fin: boolean): Accepted {
    if (p.seq < this.next || this.#ooo.has(p.seq)) return "duplicate";
    if (p.seq >= this.next + this.window()) return "beyond-window";
    this.#ooo.set(p.seq, { payload: p.payload, fin });
    const inOrder = p.seq === this.next;
    while (this.#ooo.has(this.next)) {
      const e = this.#ooo.get(this.next)!;
      this.#ooo.delete(this.next);
      if (e.fin) this.finSeq = this.next;
      this.next++;
      if (e.payload?.length) {
        if (this.#paused) {
          this.#held.push(e.payload);
          this.#heldBytes += e.payload.length;
        } else this.#deliver(e.payload);
      }
    }
    return inOrder && this.#ooo.size === 0 ? "in-order" : "out-of-order";
  }

  /** True while packets wait above a gap. */
  get hasGaps(): boolean {
    return this.#ooo.size > 0;
  }

  /** The peer's FIN arrived and the reader has had everything before it. */
  get ended(): boolean {
    return this.finSeq !== undefined && !this.#paused && this.#held.length === 0;
  }

  pause(): void {
    this.#paused = true;
  }

  /** Unpauses; returns what was held, in order, for the caller to hand on. */
  resume(): Uint8Array[] {
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    return held;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The window beyond the cumulative ack, in packets: we take packet numbers
   * below next + window(). Packets held out of order lie inside it; bytes the
   * paused reader has not taken shrink it.
   */
  window(): number {
    const unread = Math.ceil(this.#heldBytes / MAX_PAYLOAD);
    return Math.max(0, this.#window - unread);
  }

  /** Ranges of packets held above the cumulative ack, highest first, at most `max`. */
  sackRanges(max = MAX_SACK): SackRange[] {
    if (this.#ooo.size === 0) return [];
    const seqs = [...this.#ooo.keys()].sort((a, b) => b - a);
    const out: SackRange[] = [];
    let end = seqs[0] + 1;
    let first = seqs[0];
    for (const s of seqs.slice(1)) {
      if (s === first - 1) first = s;
      else {
        out.push({ first, end });
        if (out.length === max) return out;
        end = s + 1;
        first = s;
      }
    }
    out.push({ first, end });
    return out.slice(0, max);
  }
}
