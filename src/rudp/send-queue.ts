/**
 * Bytes written and not yet put in a packet (pure): writes are kept as they
 * came and cut into payloads of at most `max` bytes; a write's callback runs
 * once its last byte is in a packet.
 */
export class SendQueue {
  #items: Array<{ bytes: Uint8Array; done?: (err?: Error | null) => void }> = [];
  /** Bytes waiting. */
  bytes = 0;

  get empty(): boolean {
    return this.#items.length === 0;
  }

  push(bytes: Uint8Array, done?: (err?: Error | null) => void): void {
    this.#items.push({ bytes, done });
    this.bytes += bytes.length;
  }

  /** The next payload (joined from several writes when they are small), or undefined when empty. */
  take(max: number): Uint8Array | undefined {
    if (this.#items.length === 0) return undefined;
    const parts: Uint8Array[] = [];
    let size = 0;
    while (this.#items.length && size < max) {
      const head = this.#items[0];
      const n = Math.min(max - size, head.bytes.length);
      parts.push(head.bytes.subarray(0, n));
      size += n;
      if (n === head.bytes.length) {
        this.#items.shift();
        head.done?.();
      } else head.bytes = head.bytes.subarray(n);
    }
    this.bytes -= size;
    return parts.length === 1 ? parts[0] : concat(parts);
  }

  /** Fails every waiting write. */
  fail(err: Error): void {
    for (const q of this.#items) q.done?.(err);
    this.#items = [];
    this.bytes = 0;
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
