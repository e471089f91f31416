/**
 * The messages a resumable pipe has written but the peer has not yet
 * acknowledged, in seq order (pure; no I/O). When the pipe moves to a new
 * path, the peer says the last seq it delivered and everything after it is
 * written again, in order, so nothing is lost and — because the receiver
 * drops seqs it already delivered — nothing is delivered twice.
 */
export interface Unacked {
  seq: number;
  flags: number;
  payload: Uint8Array;
}

export class ResendBuffer {
  #items: Unacked[] = [];
  #head = 0;
  #bytes = 0;

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Highest seq held, or `fallback` when empty. */
  last(fallback: number): number {
    return this.size ? this.#items[this.#items.length - 1].seq : fallback;
  }

  /** Keeps a written DATA frame; seqs must increase. */
  add(item: Unacked): void {
    const last = this.size ? this.#items[this.#items.length - 1].seq : -Infinity;
    if (item.seq <= last) throw new RangeError(`seq ${item.seq} after ${last}`);
    this.#items.push(item);
    this.#bytes += item.payload.length;
  }

  /** The peer delivered everything up to `seq`: those are dropped. Returns how many. */
  ack(seq: number): number {
    let n = 0;
    while (this.#head < this.#items.length && this.#items[this.#head].seq <= seq) {
      this.#bytes -= this.#items[this.#head].payload.length;
      this.#head++;
      n++;
    }
    // Compact now and then so the array does not grow for ever (O(1) amortised).
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return n;
  }

  /** What the peer lacks after it delivered up to `seq`, in order (still held until acked). */
  after(seq: number): Unacked[] {
    return this.#items.slice(this.#head).filter((x) => x.seq > seq);
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}
