/**
 * The receiving half's decoding: bytes in, authenticated frames out. Records
 * are cut by the socket-free RecordDecoder, opened by the session's channel,
 * and a BATCH record is unpacked (whole, so a bad batch delivers nothing).
 */
import { decodeBatch, decodeFrame, FRAME_HEADER_LENGTH, FrameType, RecordDecoder, TAG_LENGTH, type Frame } from "../session/frame.ts";
import type { SecureChannel } from "../session/secure-channel.ts";
import { MessageTooLargeError, PipeClosedError, WireError } from "../errors.ts";

export class FrameReader {
  readonly #decoder: RecordDecoder;
  readonly #channel: SecureChannel;

  /** Accepts records carrying up to `maxMessageSize` payload bytes. */
  constructor(channel: SecureChannel, maxMessageSize: number) {
    this.#channel = channel;
    this.#decoder = new RecordDecoder(maxMessageSize + FRAME_HEADER_LENGTH + TAG_LENGTH);
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
        onFrame(frame);
        continue;
      }
      for (const f of decodeBatch(frame.payload)) {
        if (stopped()) return;
        onFrame(f);
      }
    }
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
