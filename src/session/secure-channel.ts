/**
 * Seals and opens records with the session keys the handshake derived.
 *
 * One key per direction. The 96-bit AES-GCM nonce is 6 zero bytes and a
 * 48-bit record counter (the last 6 bytes), so a (key, nonce) pair never
 * repeats. Each key is retired before the AEAD usage limits (TLS 1.3 §5.5):
 * after `rekeyRecords` records or `rekeyBytes` plaintext bytes in that
 * direction, whichever comes first, both sides replace it with
 *   key' = HKDF-SHA256(ikm = key, salt = "", info = "p2pnode/1 key update", 32)
 * and restart the counter at 0. No frame announces it: sender and receiver
 * count the same records, so they switch at the same record. The old key is
 * dropped, so a record sealed under it afterwards no longer opens.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { FrameError, InvalidArgumentError } from "../errors.ts";
import { RECORD_HEADER_LENGTH, TAG_LENGTH } from "./frame.ts";

const ALGORITHM = "aes-256-gcm";
const KEY_UPDATE_INFO = "p2pnode/1 key update";

/**
 * Records per key. TLS 1.3 allows 2^24.5 full-size (16 KiB) AES-GCM records;
 * our records can be larger, which `REKEY_BYTES` covers.
 */
export const REKEY_RECORDS = 2 ** 24;
/** Plaintext bytes per key: 2^34 AES blocks, the data volume of 2^24 TLS records. */
export const REKEY_BYTES = 2 ** 38;

export interface SecureChannelOptions {
  /**
   * Records sealed under one key before it is replaced. A protocol constant: both
   * sides must use the same value (only tests lower it). @default 2^24
   */
  rekeyRecords?: number;
  /** Plaintext bytes under one key before it is replaced (protocol constant, like rekeyRecords). @default 2^38 */
  rekeyBytes?: number;
}

function nonce(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 6, 6);
  return n;
}

/** The next key of a direction. ikm, not the HMAC key: the AES key is only ever HMAC input (key separation). */
function nextKey(key: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), KEY_UPDATE_INFO, 32));
}

/** The key, record counter and byte count of one direction. */
class Direction {
  key: Buffer;
  counter = 0;
  bytes = 0;
  /** How many times this direction's key was replaced. */
  epoch = 0;
  constructor(key: Uint8Array) {
    this.key = Buffer.from(key);
  }
  /** Called after each record: replaces the key once it reached either limit. */
  advance(plainLen: number, records: number, bytes: number): void {
    this.counter++;
    this.bytes += plainLen;
    if (this.counter >= records || this.bytes >= bytes) {
      this.key = nextKey(this.key);
      this.counter = 0;
      this.bytes = 0;
      this.epoch++;
    }
  }
}

export class SecureChannel {
  readonly #send: Direction;
  readonly #recv: Direction;
  readonly #rekeyRecords: number;
  readonly #rekeyBytes: number;

  constructor(sendKey: Uint8Array, recvKey: Uint8Array, opts: SecureChannelOptions = {}) {
    const records = opts.rekeyRecords ?? REKEY_RECORDS;
    const bytes = opts.rekeyBytes ?? REKEY_BYTES;
    // The counter is 48 bits: a larger record limit would let a nonce repeat.
    if (!Number.isSafeInteger(records) || records < 1 || records > 2 ** 48) throw new InvalidArgumentError(`rekeyRecords must be an integer in 1..2^48, got ${records}`);
    if (!Number.isSafeInteger(bytes) || bytes < 1) throw new InvalidArgumentError(`rekeyBytes must be a positive integer, got ${bytes}`);
    this.#send = new Direction(sendKey);
    this.#recv = new Direction(recvKey);
    this.#rekeyRecords = records;
    this.#rekeyBytes = bytes;
  }

  /** Key updates so far in each direction (diagnostics and tests). */
  get epochs(): { send: number; recv: number } {
    return { send: this.#send.epoch, recv: this.#recv.epoch };
  }

  /** Returns the buffers of one record (length, ciphertext parts, tag) for a corked write. */
  seal(parts: Uint8Array[]): Buffer[] {
    let plainLen = 0;
    for (const p of parts) plainLen += p.length;
    const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
    header.writeUInt32BE(plainLen + TAG_LENGTH, 0);
    const d = this.#send;
    const cipher = createCipheriv(ALGORITHM, d.key, nonce(d.counter), { authTagLength: TAG_LENGTH });
    d.advance(plainLen, this.#rekeyRecords, this.#rekeyBytes);
    cipher.setAAD(header);
    const out: Buffer[] = [header];
    // Each update() is a native call and a new buffer: callers pass few, large parts.
    for (const p of parts) out.push(cipher.update(p));
    const last = cipher.final(); // empty for GCM: left out of the write
    if (last.length) out.push(last);
    out.push(cipher.getAuthTag());
    return out;
  }

  /** Opens one record body (ciphertext + tag). Throws FrameError if it was forged or corrupted. */
  open(body: Buffer): Buffer {
    // Shorter than a tag, setAuthTag would throw a TypeError (e.g. a 0-length record right after the handshake).
    if (body.length < TAG_LENGTH) throw new FrameError(`a ${body.length}-byte record is shorter than its authentication tag; closing the pipe`);
    const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
    header.writeUInt32BE(body.length, 0);
    const d = this.#recv;
    const decipher = createDecipheriv(ALGORITHM, d.key, nonce(d.counter), { authTagLength: TAG_LENGTH });
    // Advanced even when the record fails: the pipe is closed on the error, and the
    // counter never goes back to a nonce already tried under this key.
    d.advance(body.length - TAG_LENGTH, this.#rekeyRecords, this.#rekeyBytes);
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
