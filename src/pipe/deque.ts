/**
 * A FIFO with O(1) push and shift at any length (a growable ring buffer).
 * `Array#shift` copies the whole array once it is long, so a pipe's outbox of
 * many small sends cost O(n) per frame taken: throughput fell as more was
 * queued. Taken slots are cleared, so the queue keeps nothing alive.
 */
export class Deque<T> {
  #buf: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(capacity = 16) {
    this.#buf = new Array(Math.max(2, capacity));
  }

  get length(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) % this.#buf.length] = item;
    this.#size++;
  }

  /** The first item, not removed. */
  peek(): T | undefined {
    return this.#size ? this.#buf[this.#head] : undefined;
  }

  shift(): T | undefined {
    if (!this.#size) return undefined;
    const item = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#size--;
    return item;
  }

  /** Puts `items` in front, in their order (they come out before everything queued). */
  unshiftAll(items: readonly T[]): void {
    if (!items.length) return;
    const rest = this.takeAll();
    for (const x of items) this.push(x);
    for (const x of rest) this.push(x);
  }

  /** Removes and returns every item, in order. */
  takeAll(): T[] {
    const out: T[] = [];
    while (this.#size) out.push(this.shift()!);
    return out;
  }

  /** Removes the items `pred` selects and returns them, in order; the others keep their order. */
  extract(pred: (item: T) => boolean): T[] {
    const taken: T[] = [];
    const kept: T[] = [];
    for (const x of this.takeAll()) (pred(x) ? taken : kept).push(x);
    for (const x of kept) this.push(x);
    return taken;
  }

  #grow(): void {
    const old = this.#buf;
    const next: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) % old.length];
    this.#buf = next;
    this.#head = 0;
  }
}
