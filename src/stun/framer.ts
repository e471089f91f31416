import { StunError } from "../errors.ts";
import { HEADER_LENGTH, MAGIC_COOKIE } from "./constants.ts";

/** One complete frame off a TCP stream: a STUN message, or TURN ChannelData (RFC 8656 §12.5). */
export interface StunFrame {
  kind: "stun" | "channel-data";
  /** The frame bytes exactly (for channel-data without the TCP padding). */
  bytes: Uint8Array;
}

/** Largest frame we accept: the 16-bit length plus the header. */
const MAX_FRAME = HEADER_LENGTH + 0xffff;

/**
 * STUN over TCP framing (RFC 8489 §6.2.2): messages back to back, each one's
 * size taken from its header. ChannelData frames (first two bits 01) are padded
 * to 4 bytes on TCP (RFC 8656 §12.5). Pure: feed chunks with push(); it returns
 * the frames they completed. Garbage (anything else) throws StunError, after
 * which the stream cannot be resynchronised and should be closed.
 */
export class StunFramer {
  // Chunks as they came, joined only once a whole frame is there: joining on
  // every push copied the pending bytes each time, and a 64 KB message sent one
  // byte per segment cost seconds of CPU (found by fuzz/targets/stun.ts).
  #chunks: Uint8Array[] = [];
  /** Index of the first unread chunk (Array#shift is O(n) on a long list of tiny chunks). */
  #head = 0;
  #length = 0;
  #failed = false;

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): StunFrame[] {
    if (this.#failed) throw new StunError("STUN stream already failed");
    if (chunk.length === 0) return [];
    this.#chunks.push(chunk.slice());
    this.#length += chunk.length;
    const out: StunFrame[] = [];
    while (this.#length >= 4) {
      const head = this.#peek(Math.min(8, this.#length));
      const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
      const top = head[0] >> 6;
      const len = dv.getUint16(2);
      let size: number;
      let frameLen: number;
      if (top === 0) {
        if (len % 4 !== 0) return this.#fail(`STUN length ${len} is not a multiple of 4`);
        if (head.length >= 8 && dv.getUint32(4) !== MAGIC_COOKIE) return this.#fail("bad magic cookie on STUN stream");
        frameLen = size = HEADER_LENGTH + len;
      } else if (top === 1 && head[0] <= 0x4f) {
        // Channel numbers are 0x4000-0x4FFF (RFC 8656 §12); 0x5000-0x7FFF are reserved.
        frameLen = 4 + len;
        size = (frameLen + 3) & ~3;
      } else {
        return this.#fail(`not STUN or ChannelData: first byte 0x${head[0].toString(16)}`);
      }
      if (size > MAX_FRAME) return this.#fail("frame too large");
      if (this.#length < size) break;
      const frame = this.#take(size);
      out.push({ kind: top === 0 ? "stun" : "channel-data", bytes: frame.subarray(0, frameLen) });
    }
    return out;
  }

  /** The first n buffered bytes (n ≤ 8), without consuming them. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[this.#head];
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    for (let i = this.#head, off = 0; off < n; i++) {
      const c = this.#chunks[i];
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
    }
    return out;
  }

  /** Removes and returns the first n buffered bytes as one fresh array. */
  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[this.#head];
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (k === c.length) this.#head++;
      else this.#chunks[this.#head] = c.subarray(k);
    }
    this.#chunks = this.#chunks.slice(this.#head);
    this.#head = 0;
    this.#length -= n;
    return out;
  }

  #fail(msg: string): never {
    this.#failed = true;
    this.#chunks = [];
    this.#head = 0;
    this.#length = 0;
    throw new StunError(msg);
  }
}
