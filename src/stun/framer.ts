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
  #buf: Uint8Array = new Uint8Array(0);
  #failed = false;

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buf.length;
  }

  push(chunk: Uint8Array): StunFrame[] {
    if (this.#failed) throw new StunError("STUN stream already failed");
    if (chunk.length === 0) return [];
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf, 0);
    joined.set(chunk, this.#buf.length);
    const out: StunFrame[] = [];
    let off = 0;
    while (joined.length - off >= 4) {
      const dv = new DataView(joined.buffer, joined.byteOffset + off, joined.length - off);
      const top = joined[off] >> 6;
      const len = dv.getUint16(2);
      let size: number;
      let frameLen: number;
      if (top === 0) {
        if (len % 4 !== 0) return this.#fail(`STUN length ${len} is not a multiple of 4`);
        if (joined.length - off >= 8 && dv.getUint32(4) !== MAGIC_COOKIE) return this.#fail("bad magic cookie on STUN stream");
        frameLen = size = HEADER_LENGTH + len;
      } else if (top === 1 && joined[off] <= 0x4f) {
        // Channel numbers are 0x4000-0x4FFF (RFC 8656 §12); 0x5000-0x7FFF are reserved.
        frameLen = 4 + len;
        size = (frameLen + 3) & ~3;
      } else {
        return this.#fail(`not STUN or ChannelData: first byte 0x${joined[off].toString(16)}`);
      }
      if (size > MAX_FRAME) return this.#fail("frame too large");
      if (joined.length - off < size) break;
      out.push({ kind: top === 0 ? "stun" : "channel-data", bytes: joined.slice(off, off + frameLen) });
      off += size;
    }
    this.#buf = joined.slice(off);
    return out;
  }

  #fail(msg: string): never {
    this.#failed = true;
    this.#buf = new Uint8Array(0);
    throw new StunError(msg);
  }
}
