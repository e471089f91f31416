/**
 * An in-memory pair of ByteTransports, for tests of everything above the
 * socket (frame and close ordering, backpressure, errors) without TCP.
 *
 * It behaves like two connected net.Sockets with `allowHalfOpen: true`, with
 * one simplification: there is no kernel buffer. Bytes wait in the writer's
 * queue until the reader takes them, so a reader that pauses stops the
 * writer's write callbacks at once and write() returns false past
 * `highWaterMark`. Delivery runs on microtasks, so it needs no timers and
 * settles within one FakeTime.advance().
 */
import { EventEmitter } from "node:events";
import type { ByteTransport, TransportEvents } from "./transport.ts";

export interface MemoryTransportOptions {
  /** Queued bytes at which write() returns false (as a socket's). @default 16384 */
  highWaterMark?: number;
  /** Splits deliveries into chunks of at most this many bytes (to exercise decoders). @default Infinity */
  maxChunk?: number;
}

const END = Symbol("end");
type Item = { bytes: Buffer; done?: (err?: Error | null) => void } | typeof END;

function errno(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** One end of a memoryTransportPair(). */
export class MemoryTransport extends EventEmitter<TransportEvents> implements ByteTransport {
  #peer!: MemoryTransport;
  readonly #hwm: number;
  readonly #maxChunk: number;
  #out: Item[] = [];
  #outBytes = 0;
  #scheduled = false;
  #paused = false;
  #needDrain = false;
  #ended = false;
  #endFlushed = false;
  #endDone?: () => void;
  #readEnded = false;
  #peerGone = false;
  #destroyed = false;
  #closeEmitted = false;
  /** Bytes handed to the peer so far. */
  bytesDelivered = 0;

  constructor(opts: MemoryTransportOptions = {}) {
    super();
    this.#hwm = opts.highWaterMark ?? 16_384;
    this.#maxChunk = opts.maxChunk ?? Infinity;
  }

  /** @internal Links the two ends; called once by memoryTransportPair(). */
  link(peer: MemoryTransport): void {
    this.#peer = peer;
  }

  get writableLength(): number {
    return this.#outBytes;
  }
  get needDrain(): boolean {
    return this.#needDrain;
  }
  get writable(): boolean {
    return !this.#destroyed && !this.#ended;
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }
  /** True while reading is paused. */
  get isPaused(): boolean {
    return this.#paused;
  }

  write(chunks: readonly Uint8Array[], done?: (err?: Error | null) => void): boolean {
    if (!this.writable) {
      const err = this.#destroyed ? errno("Cannot call write after a stream was destroyed", "ERR_STREAM_DESTROYED") : errno("write after end", "ERR_STREAM_WRITE_AFTER_END");
      if (done) queueMicrotask(() => done(err));
      return false;
    }
    if (this.#peerGone) {
      // Like a socket whose peer is gone: the write fails and the connection errors out.
      if (done) queueMicrotask(() => done(errno("write EPIPE", "EPIPE")));
      this.destroy(errno("write EPIPE", "EPIPE"));
      return false;
    }
    const bytes = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
    this.#out.push({ bytes, done });
    this.#outBytes += bytes.length;
    this.#schedule();
    const ok = this.#outBytes < this.#hwm;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  end(done?: () => void): void {
    if (this.#destroyed || this.#endFlushed) {
      if (done) queueMicrotask(done);
      return;
    }
    if (this.#ended) {
      // Already ending: run `done` too once the end is flushed, as a socket does.
      const first = this.#endDone;
      if (done) this.#endDone = () => (first?.(), done());
      return;
    }
    this.#ended = true;
    this.#endDone = done;
    if (this.#peerGone) return this.#flushedEnd();
    this.#out.push(END);
    this.#schedule();
  }

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const dropped = this.#out.splice(0);
    this.#outBytes = 0;
    const reason = err ?? errno("Cannot call write after a stream was destroyed", "ERR_STREAM_DESTROYED");
    queueMicrotask(() => {
      for (const item of dropped) if (item !== END) item.done?.(reason);
      this.#endDone?.();
      this.#endDone = undefined;
      if (err) this.emit("error", err);
      this.#emitClose();
    });
    this.#peer.#onPeerDestroyed();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#peer.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /** Moves queued writes to the peer while it reads. */
  #pump(): void {
    const peer = this.#peer;
    while (this.#out.length && !peer.#paused && !peer.#destroyed && !this.#destroyed) {
      const item = this.#out[0];
      if (item === END) {
        this.#out.shift();
        peer.#onPeerEnd();
        this.#flushedEnd();
        continue;
      }
      const piece = item.bytes.length > this.#maxChunk ? item.bytes.subarray(0, this.#maxChunk) : item.bytes;
      if (piece === item.bytes) this.#out.shift();
      else item.bytes = item.bytes.subarray(piece.length);
      this.#outBytes -= piece.length;
      this.bytesDelivered += piece.length;
      peer.emit("data", piece);
      if (this.#out[0] !== item) item.done?.(); // the whole write was handed on
    }
    if (this.#needDrain && this.#outBytes === 0 && !this.#destroyed) {
      this.#needDrain = false;
      this.emit("drain");
    }
  }

  #flushedEnd(): void {
    this.#endFlushed = true;
    const done = this.#endDone;
    this.#endDone = undefined;
    done?.();
    this.#maybeClose();
  }

  #onPeerEnd(): void {
    if (this.#readEnded) return;
    this.#readEnded = true;
    this.emit("end");
    this.#maybeClose();
  }

  #onPeerDestroyed(): void {
    if (this.#destroyed) return;
    this.#peerGone = true;
    const unsent = this.#out.some((i) => i !== END);
    queueMicrotask(() => {
      if (this.#destroyed) return;
      // What we had queued can no longer arrive: the connection is reset.
      if (unsent) return this.destroy(errno("read ECONNRESET", "ECONNRESET"));
      this.#out.splice(0);
      if (this.#ended && !this.#endFlushed) this.#flushedEnd();
      this.#onPeerEnd();
    });
  }

  #maybeClose(): void {
    if (this.#endFlushed && this.#readEnded && !this.#destroyed) {
      this.#destroyed = true;
      queueMicrotask(() => this.#emitClose());
    }
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.emit("close");
  }
}

/** Two connected in-memory transports: what one writes, the other reads. */
export function memoryTransportPair(opts: MemoryTransportOptions = {}): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport(opts);
  const b = new MemoryTransport(opts);
  a.link(b);
  b.link(a);
  return [a, b];
}
