/**
 * The handshake's reader: exact byte counts and length-prefixed messages from
 * a stream, failed all at once by the handshake's deadline or the stream's end.
 * A responder caps what the peer may send ahead of what it read.
 */
import type { Duplex } from "node:stream";
import { HandshakeError } from "../errors.ts";

/** Largest handshake message (its 2-byte length prefix excluded). */
export const MAX_HANDSHAKE_MESSAGE = 2048;

/** Reads exact byte counts from a stream; the handshake fails it (deadline, abort) through fail(). */
export class Reader {
  #buf: Buffer = Buffer.alloc(0);
  #wait?: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };
  #error?: Error;
  readonly #stream: Duplex;
  readonly #maxBuffered: number;
  /** Set when the peer sent more than #maxBuffered bytes ahead of what we read. */
  overflow?: HandshakeError;

  constructor(stream: Duplex, maxBuffered = Infinity) {
    this.#stream = stream;
    this.#maxBuffered = maxBuffered;
    stream.on("data", this.#onData);
    stream.on("end", this.#onEnd);
    stream.on("error", this.#onError);
    stream.on("close", this.#onEnd);
  }

  #onData = (chunk: Buffer) => {
    if (this.overflow) return;
    if (this.#buf.length + chunk.length > this.#maxBuffered + (this.#wait?.n ?? 0)) {
      // Dropped, not kept: the handshake fails at the next read or before READY.
      this.overflow = new HandshakeError(`the peer sent more than ${this.#maxBuffered} bytes ahead of the handshake`);
      this.#buf = Buffer.alloc(0);
      this.fail(this.overflow);
      return;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    this.#settle();
  };
  #onEnd = () => this.fail(new HandshakeError("the peer closed the connection during the handshake"));
  #onError = (err: Error) => this.fail(new HandshakeError(`connection failed during the handshake: ${err.message}`, { cause: err }));

  /** Fails the pending read and every later one with `err` (the first error wins). */
  fail(err: Error): void {
    this.#error ??= err;
    this.#settle();
  }

  #settle(): void {
    const w = this.#wait;
    if (!w) return;
    if (this.#buf.length >= w.n) {
      this.#wait = undefined;
      const out = this.#buf.subarray(0, w.n);
      this.#buf = this.#buf.subarray(w.n);
      w.resolve(out);
    } else if (this.#error) {
      this.#wait = undefined;
      w.reject(this.#error);
    }
  }

  /** Exactly `n` bytes, once they arrived. */
  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#wait = { n, resolve, reject };
      this.#settle();
    });
  }

  /** One handshake message: a 2-byte length, then that many bytes (2..MAX_HANDSHAKE_MESSAGE). */
  async readMessage(): Promise<Buffer> {
    const len = (await this.read(2)).readUInt16BE(0);
    if (len < 2 || len > MAX_HANDSHAKE_MESSAGE) throw new HandshakeError(`handshake message has an invalid length ${len} (not a p2pnode peer?)`);
    return this.read(len);
  }

  /**
   * Detaches and returns the bytes read past the handshake. The caller must
   * attach its reader in the same tick (only promise continuations in between):
   * 'data' events come from I/O callbacks, so none can fire before it does.
   */
  detach(): Buffer {
    this.#stream.off("data", this.#onData);
    this.#stream.off("end", this.#onEnd);
    this.#stream.off("error", this.#onError);
    this.#stream.off("close", this.#onEnd);
    return this.#buf;
  }
}
