/**
 * The pipe's wire format, below and above the encryption (docs/protocol.md):
 *
 *   record    = length:u32be  sealed[length]          (sealed = ChaCha20-Poly1305(frame) + 16-byte tag)
 *   frame     = version:u8 type:u8 flags:u8 reserved:u8 seq:u32be ack:u32be payload
 *
 * A frame is at most MAX_RECORD_PLAINTEXT bytes: a larger message goes as
 * several DATA frames with one seq, each but the last flagged MORE.
 *
 * `RecordDecoder` is a socket-free state machine: push(chunk) returns the
 * complete record bodies, however the bytes were split.
 */
import { FrameError, MessageTooLargeError } from "../errors.ts";

export const FRAME_VERSION = 1;
export const FRAME_HEADER_LENGTH = 12;
export const RECORD_HEADER_LENGTH = 4;
export const TAG_LENGTH = 16;
/**
 * Most frames one BATCH may carry. A 4 MiB record of empty frames would otherwise be
 * ~260,000 frames (16 bytes each) handled in one go, before the pipe's queue limits can pause reading.
 * Senders batch at most this many.
 */
export const MAX_BATCH_FRAMES = 256;
/**
 * Most plaintext bytes in one record (a frame or a BATCH). Larger messages are split
 * into DATA fragments (FrameFlags.MORE), so sealing, writing and opening overlap and a
 * receiver never buffers more than one record of undecrypted bytes.
 */
export const MAX_RECORD_PLAINTEXT = 64 * 1024 + FRAME_HEADER_LENGTH;
/** Payload bytes of one DATA fragment (a 64 KiB message still fits one record). */
export const FRAGMENT_PAYLOAD = 64 * 1024;
/** PING and PONG carry exactly the sender's clock (u64 ms): a fixed size, so a PONG cannot echo a large PING back. */
export const PING_PAYLOAD_LENGTH = 8;

export enum FrameType {
  /** An application message. */
  DATA = 1,
  /** Keepalive; answered with PONG (payload: the sender's clock, exactly 8 bytes; other sizes are a protocol error). */
  PING = 2,
  PONG = 3,
  /** Graceful close: the sender will send nothing more (like a FIN, but authenticated). */
  CLOSE = 4,
  /** Reserved for moving a live pipe between paths: acknowledges `ack`. */
  ACK = 5,
  /** The sender is closing because of an error; payload = WireError code u8 + UTF-8 reason. */
  ERROR = 6,
  /** Responder → initiator after the handshake: "you are accepted", carries limits. */
  READY = 7,
  /** Several frames in one record (small messages share one AEAD seal): payload = (length:u32be frame)*. */
  BATCH = 8,
  /** Resumption on a new path: `ack` = the last DATA seq delivered; payload = proof (docs/protocol.md). */
  RESUME = 9,
}

export const FrameFlags = {
  /** DATA payload was sent as a string (UTF-8). */
  TEXT: 1,
  /** DATA: more fragments of this message (same seq) follow; the message ends with a fragment without it. */
  MORE: 2,
} as const;

export interface Frame {
  type: FrameType;
  flags: number;
  seq: number;
  ack: number;
  payload: Buffer;
}

export function encodeFrameHeader(type: FrameType, flags: number, seq: number, ack: number): Buffer {
  return writeFrameHeader(Buffer.allocUnsafe(FRAME_HEADER_LENGTH), 0, type, flags, seq, ack);
}

/** Writes a frame header into `buf` at `off` (a BATCH is built in one buffer); returns `buf`. */
export function writeFrameHeader(buf: Buffer, off: number, type: FrameType, flags: number, seq: number, ack: number): Buffer {
  buf[off] = FRAME_VERSION;
  buf[off + 1] = type;
  buf[off + 2] = flags;
  buf[off + 3] = 0;
  buf.writeUInt32BE(seq >>> 0, off + 4);
  buf.writeUInt32BE(ack >>> 0, off + 8);
  return buf;
}

export function decodeFrame(plain: Buffer): Frame {
  if (plain.length < FRAME_HEADER_LENGTH) throw new FrameError(`frame too short: ${plain.length} bytes`);
  if (plain[0] !== FRAME_VERSION) throw new FrameError(`unsupported frame version ${plain[0]}`);
  const type = plain[1];
  if (type < FrameType.DATA || type > FrameType.RESUME) throw new FrameError(`unknown frame type ${type}`);
  return {
    type,
    flags: plain[2],
    seq: plain.readUInt32BE(4),
    ack: plain.readUInt32BE(8),
    payload: plain.subarray(FRAME_HEADER_LENGTH),
  };
}

/**
 * The frames inside a BATCH payload (pure); a nested BATCH, a bad length or more
 * than `maxFrames` frames is a FrameError.
 */
export function decodeBatch(payload: Buffer, maxFrames = MAX_BATCH_FRAMES): Frame[] {
  const out: Frame[] = [];
  let off = 0;
  while (off < payload.length) {
    if (out.length >= maxFrames) throw new FrameError(`batch holds more than ${maxFrames} frames`);
    if (off + 4 > payload.length) throw new FrameError("batch is truncated");
    const len = payload.readUInt32BE(off);
    if (len < FRAME_HEADER_LENGTH || off + 4 + len > payload.length) throw new FrameError(`batch entry has a bad length ${len}`);
    const f = decodeFrame(payload.subarray(off + 4, off + 4 + len));
    if (f.type === FrameType.BATCH || f.type === FrameType.READY) throw new FrameError(`frame type ${f.type} cannot be inside a batch`);
    out.push(f);
    off += 4 + len;
  }
  if (out.length === 0) throw new FrameError("empty batch");
  return out;
}

/** Pure incremental decoder of length-prefixed records. */
export class RecordDecoder {
  readonly maxRecord: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1;

  constructor(maxRecord: number) {
    this.maxRecord = maxRecord;
  }

  /** Bytes held waiting for the rest of a record. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Feeds bytes; returns every complete record body. Throws on a length over the maximum. */
  push(chunk: Uint8Array): Buffer[] {
    if (chunk.length) {
      this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#buffered += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < RECORD_HEADER_LENGTH) break;
        const len = this.#take(RECORD_HEADER_LENGTH).readUInt32BE(0);
        if (len > this.maxRecord) {
          throw new MessageTooLargeError(`peer sent a ${len}-byte record; the maximum is ${this.maxRecord}`);
        }
        if (len < TAG_LENGTH + FRAME_HEADER_LENGTH) throw new FrameError(`record too short: ${len} bytes`);
        this.#need = len;
      }
      if (this.#buffered < this.#need) break;
      out.push(this.#take(this.#need));
      this.#need = -1;
    }
    return out;
  }

  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    // Copy across chunks, then drop the consumed ones with one splice: a shift() per chunk
    // made a record sent one byte per segment cost O(chunks²) (found by the fuzzer).
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.#chunks[i];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) i++;
      else this.#chunks[i] = c.subarray(k);
    }
    this.#chunks.splice(0, i);
    return out;
  }
}
