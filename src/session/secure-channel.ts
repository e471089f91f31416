/**
 * Seals and opens records with the session keys the handshake derived.
 *
 * Records are ChaCha20-Poly1305 (IETF, record-aead.ts: libsodium when it
 * loads, node:crypto otherwise; the same bytes either way). One key per
 * direction. The 96-bit nonce is 6 zero bytes and a 48-bit record counter
 * (the last 6 bytes), so a (key, nonce) pair never repeats. Each key is
 * retired long before any AEAD limit or the counter's end:
 * after `rekeyRecords` records or `rekeyBytes` plaintext bytes in that
 * direction, whichever comes first, both sides replace it with
 *   key' = HKDF-SHA256(ikm = key, salt = "", info = "p2pnode/1 key update", 32)
 * and restart the counter at 0. No frame announces it: sender and receiver
 * count the same records, so they switch at the same record. The old key is
 * dropped, so a record sealed under it afterwards no longer opens.
 */
import { hkdfSync } from "node:crypto";
import { FrameError, InvalidArgumentError } from "../errors.ts";
import { RECORD_HEADER_LENGTH, TAG_LENGTH } from "./frame.ts";
import { defaultAead, type RecordAead } from "./record-aead.ts";

const KEY_UPDATE_INFO = "p2pnode/1 key update";

/**
 * Records per key. ChaCha20-Poly1305 has no confidentiality limit within reach
 * (TLS 1.3 §5.5: the 64-bit record counter wraps first) and its integrity limit
 * counts forgery attempts, of which a pipe allows one (the first failure closes
 * it). The update is kept for the 48-bit nonce counter (2^32 is 1/65536 of it)
 * and so that a key taken from memory opens a bounded amount of earlier traffic.
 */
export const REKEY_RECORDS = 2 ** 32;
/** Plaintext bytes per key (1 TiB): the other half of the same bound. */
export const REKEY_BYTES = 2 ** 40;

export interface SecureChannelOptions {
  /**
   * Records sealed under one key before it is replaced. A protocol constant: both
   * sides must use the same value (only tests lower it). @default 2^32
   */
  rekeyRecords?: number;
  /** Plaintext bytes under one key before it is replaced (protocol constant, like rekeyRecords). @default 2^40 */
  rekeyBytes?: number;
  /** The AEAD implementation (tests make a sodium end talk to a node:crypto end). @default sodium-native when it loads */
  aead?: RecordAead;
}

/** The next key of a direction. ikm, not the HMAC key: the AES key is only ever HMAC input (key separation). */
function nextKey(key: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), KEY_UPDATE_INFO, 32));
}

/** The key, record counter and byte count of one direction. */
class Direction {
  key: Buffer;
  counter = 0;
  /** The record nonce: 6 zero bytes and the counter (u48be), rewritten per record. */
  readonly nonce = Buffer.alloc(12);
  bytes = 0;
  /** How many times this direction's key was replaced. */
  epoch = 0;
  constructor(key: Uint8Array) {
    this.key = Buffer.from(key);
  }
  /** Called for each record before it is sealed or opened: sets its nonce, then replaces the key once it reached either limit (the caller kept the old key for this record). */
  advance(plainLen: number, records: number, bytes: number): void {
    this.nonce.writeUIntBE(this.counter, 6, 6); // the nonce of the record being sealed or opened
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
  readonly #aead: RecordAead;

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
    this.#aead = opts.aead ?? defaultAead;
  }

  /** Key updates so far in each direction (diagnostics and tests). */
  get epochs(): { send: number; recv: number } {
    return { send: this.#send.epoch, recv: this.#recv.epoch };
  }

  /** Which AEAD implementation this channel uses ("sodium" or "node"). */
  get aead(): string {
    return this.#aead.name;
  }

  /** Seals `parts` (one frame, concatenated) as one record; returns its buffers (length, ciphertext, tag) for one corked write. */
  seal(parts: Uint8Array[]): Buffer[] {
    let plainLen = 0;
    for (const p of parts) plainLen += p.length;
    const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
    header.writeUInt32BE(plainLen + TAG_LENGTH, 0);
    const d = this.#send;
    const key = d.key; // advance() may replace it: this record is still sealed under it
    d.advance(plainLen, this.#rekeyRecords, this.#rekeyBytes); // writes this record's nonce first
    const sealed = this.#aead.seal(parts, plainLen, header, d.nonce, key);
    sealed.unshift(header);
    return sealed;
  }

  /** Opens one record body (ciphertext + tag). Throws FrameError if it was forged or corrupted. */
  open(body: Buffer): Buffer {
    if (body.length < TAG_LENGTH) throw new FrameError(`a ${body.length}-byte record is shorter than its authentication tag; closing the pipe`);
    const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
    header.writeUInt32BE(body.length, 0);
    const d = this.#recv;
    // Advanced even when the record fails: the pipe is closed on the error, and the
    // counter never goes back to a nonce already tried under this key.
    const key = d.key;
    d.advance(body.length - TAG_LENGTH, this.#rekeyRecords, this.#rekeyBytes);
    const plain = this.#aead.open(body, header, d.nonce, key);
    if (!plain) throw new FrameError("a frame failed authentication (corrupted or forged); closing the pipe");
    return plain;
  }
}
