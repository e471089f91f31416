/**
 * The receiving half's decoding: bytes in, authenticated frames out. Records
 * are cut by the socket-free RecordDecoder, opened by the session's channel,
 * a BATCH record is unpacked (whole, so a bad batch delivers nothing), and a
 * message sent as DATA fragments (FrameFlags.MORE) is put back together; its
 * size is checked against maxMessageSize as each fragment arrives.
 */
import { decodeBatch, decodeFrame, FRAGMENT_PAYLOAD, FRAME_HEADER_LENGTH, FrameFlags, FrameType, MAX_RECORD_PLAINTEXT, RecordDecoder, TAG_LENGTH, type Frame } from "../session/frame.ts";
import type { SecureChannel } from "../session/secure-channel.ts";
import { FrameError, MessageTooLargeError, PipeClosedError, WireError } from "../errors.ts";

/** Puts fragmented DATA messages back together (pure). */
export class Reassembly {
  readonly #max: number;
  #parts: Buffer[] = [];
  #bytes = 0;
  #seq = 0;
  #flags = 0;

  readonly #fragment: number;

  /**
   * `maxMessageSize`: the most payload bytes one message may reach; `fragment`:
   * the payload of every fragment but the last (the wire's FRAGMENT_PAYLOAD;
   * smaller in tests).
   */
  constructor(maxMessageSize: number, fragment = FRAGMENT_PAYLOAD) {
    this.#max = maxMessageSize;
    this.#fragment = fragment;
  }

  /** Payload bytes held for the message in progress. */
  get buffered(): number {
    return this.#bytes;
  }

  /**
   * Takes a DATA frame; returns the whole message's frame once its last fragment
   * arrived, else undefined. A fragment of another seq or with other flags while a
   * message is in progress is a FrameError; a message over the maximum is
   * MessageTooLargeError, thrown before the fragment that would exceed it is kept.
   */
  push(f: Frame): Frame | undefined {
    const more = (f.flags & FrameFlags.MORE) !== 0;
    const flags = f.flags & ~FrameFlags.MORE;
    if (this.#parts.length && (f.seq !== this.#seq || flags !== this.#flags)) {
      throw new FrameError(`DATA seq ${f.seq} arrived inside fragmented message ${this.#seq}`);
    }
    if (!more && !this.#parts.length) return f; // the usual case: a whole message in one frame
    // Every fragment but the last is exactly FRAGMENT_PAYLOAD (the sender's rule):
    // otherwise a peer could pile up empty fragments, each an object we hold.
    if (more && f.payload.length !== this.#fragment) {
      throw new FrameError(`DATA fragment of ${f.payload.length} bytes (every fragment but the last has ${this.#fragment})`);
    }
    if (this.#bytes + f.payload.length > this.#max) {
      throw new MessageTooLargeError(`peer sent a fragmented message over ${this.#max} bytes`);
    }
    this.#parts.push(f.payload);
    this.#bytes += f.payload.length;
    this.#seq = f.seq;
    this.#flags = flags;
    if (more) return undefined;
    const payload = Buffer.concat(this.#parts, this.#bytes);
    this.#parts = [];
    this.#bytes = 0;
    return { ...f, flags, payload };
  }
}

export class FrameReader {
  readonly #decoder: RecordDecoder;
  readonly #channel: SecureChannel;
  readonly #reassembly: Reassembly;

  /** Accepts messages of up to `maxMessageSize` payload bytes, in records of at most MAX_RECORD_PLAINTEXT. */
  constructor(channel: SecureChannel, maxMessageSize: number) {
    this.#channel = channel;
    this.#decoder = new RecordDecoder(Math.min(maxMessageSize + FRAME_HEADER_LENGTH, MAX_RECORD_PLAINTEXT) + TAG_LENGTH);
    this.#reassembly = new Reassembly(maxMessageSize);
  }

  /**
   * Feeds `chunk`; calls `onFrame` for every frame it completes, in order,
   * until `stopped()` is true (the pipe closed part-way through a chunk).
   * Throws FrameError or MessageTooLargeError on bad input; frames before the
   * bad record were already handed on.
   */
  push(chunk: Uint8Array, onFrame: (f: Frame) => void, stopped: () => boolean): void {
    for (const record of this.#decoder.push(chunk)) {
      if (stopped()) return;
      const frame = decodeFrame(this.#channel.open(record));
      if (frame.type !== FrameType.BATCH) {
        this.#hand(frame, onFrame);
        continue;
      }
      for (const f of decodeBatch(frame.payload)) {
        if (stopped()) return;
        this.#hand(f, onFrame);
      }
    }
  }

  #hand(f: Frame, onFrame: (f: Frame) => void): void {
    if (f.type !== FrameType.DATA) return onFrame(f); // control frames may come between fragments
    const whole = this.#reassembly.push(f);
    if (whole) onFrame(whole);
  }
}

/** What an ERROR frame from the peer means, as the error the pipe fails with (its reason capped at 200 characters). */
export function peerError(payload: Buffer): Error {
  const code = payload[0];
  const reason = payload.subarray(1).toString("utf8").slice(0, 200);
  return code === WireError.TOO_LARGE
    ? new MessageTooLargeError(`the peer refused a message over its maximum size and closed the pipe (${reason})`)
    : new PipeClosedError(`the peer closed the pipe with an error: ${reason || `code ${code}`}`);
}
