/**
 * Seals and opens records with the session keys the handshake derived.
 * One key per direction; the nonce is a 64-bit counter that never repeats
 * (a channel refuses to seal after 2^48 records rather than wrap).
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { FrameError, PipeClosedError } from "./errors.ts";
import { RECORD_HEADER_LENGTH, TAG_LENGTH } from "./frame.ts";

const ALGORITHM = "aes-256-gcm";
const MAX_RECORDS = 2 ** 48;

function nonce(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 6, 6);
  return n;
}

export class SecureChannel {
  #sendKey: Buffer;
  #recvKey: Buffer;
  #sendCounter = 0;
  #recvCounter = 0;

  constructor(sendKey: Uint8Array, recvKey: Uint8Array) {
    this.#sendKey = Buffer.from(sendKey);
    this.#recvKey = Buffer.from(recvKey);
  }

  /** Returns the buffers of one record (length, ciphertext parts, tag) for a corked write. */
  seal(parts: Uint8Array[]): Buffer[] {
    if (this.#sendCounter >= MAX_RECORDS) throw new PipeClosedError("the pipe sent its maximum number of records; reconnect");
    let plainLen = 0;
    for (const p of parts) plainLen += p.length;
    const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
    header.writeUInt32BE(plainLen + TAG_LENGTH, 0);
    const cipher = createCipheriv(ALGORITHM, this.#sendKey, nonce(this.#sendCounter++), { authTagLength: TAG_LENGTH });
    cipher.setAAD(header);
    const out: Buffer[] = [header];
    for (const p of parts) out.push(cipher.update(p));
    out.push(cipher.final(), cipher.getAuthTag());
    return out;
  }

  /** Opens one record body (ciphertext + tag). Throws FrameError if it was forged or corrupted. */
  open(body: Buffer): Buffer {
    // Shorter than a tag, setAuthTag would throw a TypeError (e.g. a 0-length record right after the handshake).
    if (body.length < TAG_LENGTH) throw new FrameError(`a ${body.length}-byte record is shorter than its authentication tag; closing the pipe`);
    const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
    header.writeUInt32BE(body.length, 0);
    const decipher = createDecipheriv(ALGORITHM, this.#recvKey, nonce(this.#recvCounter++), { authTagLength: TAG_LENGTH });
    decipher.setAAD(header);
    decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
    const plain = decipher.update(body.subarray(0, body.length - TAG_LENGTH));
    try {
      decipher.final();
    } catch {
      throw new FrameError("a frame failed authentication (corrupted or forged); closing the pipe");
    }
    return plain;
  }
}
