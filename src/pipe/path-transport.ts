/**
 * The ByteTransport of a resumable pipe: it forwards to the current path (a
 * socket, a relayed stream) and can lose it and take a new one without the
 * layers above noticing. While the pipe is resumable, a path that ends,
 * errors or closes is reported through `onLost` instead of being forwarded,
 * and writes that die with it count as handed on (the resend buffer holds
 * their messages). Between paths the transport is "backed up" (needDrain):
 * the writer queues and waits for 'drain', which comes once the new path is
 * ready. An `end()` asked for in between is carried out on the next path.
 */
import { EventEmitter } from "node:events";
import { PipeClosedError } from "../errors.ts";
import type { ByteTransport, TransportEvents } from "./transport.ts";

export interface PathTransportInit {
  /** True while a lost path should be resumed rather than end the pipe (the pipe is open and resumable). */
  resumable: () => boolean;
  /** The current path is gone; `err` says how. */
  onLost: (err: Error) => void;
}

export class PathTransport implements ByteTransport {
  readonly #init: PathTransportInit;
  readonly #events = new EventEmitter();
  #inner?: ByteTransport;
  /** A new path is attached but not yet usable (the RESUME exchange runs on it first). */
  #ready = false;
  #paused = false;
  #destroyed = false;
  #pendingEnd?: Array<() => void>;
  readonly #off: Array<() => void> = [];

  constructor(first: ByteTransport, init: PathTransportInit) {
    this.#init = init;
    this.attach(first, true);
  }

  /** The path in use (undefined between paths). */
  get current(): ByteTransport | undefined {
    return this.#inner;
  }

  /**
   * Takes `inner` as the path; `ready` false keeps the writer waiting until
   * markReady(). Returns the path it replaces, no longer read or written, for
   * the caller to retire() once the new one is proven.
   */
  attach(inner: ByteTransport, ready: boolean): ByteTransport | undefined {
    const old = this.#inner;
    this.#release();
    old?.on("error", () => {});
    this.#inner = inner;
    this.#ready = ready;
    const on = <K extends keyof TransportEvents>(ev: K, fn: (...a: TransportEvents[K]) => void) => {
      inner.on(ev, fn);
      this.#off.push(() => inner.off(ev, fn));
    };
    on("data", (chunk) => this.#events.emit("data", chunk));
    on("drain", () => this.#ready && this.#events.emit("drain"));
    const lost = (ev: "end" | "error" | "close") => (err?: Error) => {
      if (inner !== this.#inner) return;
      if (this.#init.resumable()) {
        this.#release();
        retire(inner);
        this.#init.onLost(err ?? new PipeClosedError(ev === "end" ? "the path ended without a graceful close" : "the path closed"));
        return;
      }
      if (ev === "error") this.#events.emit("error", err!);
      else this.#events.emit(ev);
    };
    on("end", lost("end"));
    on("error", lost("error"));
    on("close", lost("close"));
    if (this.#paused) inner.pause();
    return old;
  }

  /** The new path finished its RESUME exchange: writes flow again. */
  markReady(): void {
    if (!this.#inner || this.#ready) return;
    this.#ready = true;
    const ends = this.#pendingEnd;
    this.#pendingEnd = undefined;
    if (ends) this.#inner.end(() => ends.forEach((f) => f()));
    this.#events.emit("drain");
  }

  /** Drops the current path on purpose (it went silent): reported like any loss. */
  drop(err: Error): void {
    const inner = this.#inner;
    if (!inner) return;
    this.#release();
    retire(inner);
    this.#init.onLost(err);
  }

  #release(): void {
    for (const off of this.#off.splice(0)) off();
    this.#inner = undefined;
    this.#ready = false;
  }

  write(chunks: readonly Uint8Array[], done?: (err?: Error | null) => void): boolean {
    const inner = this.#inner;
    if (!inner) {
      if (done) queueMicrotask(() => done(this.#init.resumable() ? null : new PipeClosedError("the pipe has no path")));
      return false;
    }
    return inner.write(chunks, (err) => {
      // A write that dies with its path (its callback may come before the path's 'error') is
      // resent on the next one from the resend buffer: not a failure of the send.
      if (err && this.#init.resumable()) return done?.(null);
      done?.(err);
    });
  }

  end(done?: () => void): void {
    if (this.#inner && this.#ready) return this.#inner.end(done);
    (this.#pendingEnd ??= []).push(done ?? (() => {}));
  }

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const inner = this.#inner;
    this.#release();
    // Its own 'error' and 'close' are no longer ours to forward: we say them once, after it is cut.
    if (inner) retire(inner); // also when already destroyed: its error may still be on its way (nextTick)
    queueMicrotask(() => {
      if (err) this.#events.emit("error", err);
      this.#events.emit("close");
    });
  }

  pause(): void {
    this.#paused = true;
    this.#inner?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#inner?.resume();
  }

  get writableLength(): number {
    return this.#inner?.writableLength ?? 0;
  }

  get needDrain(): boolean {
    return !this.#inner || !this.#ready || this.#inner.needDrain;
  }

  get writable(): boolean {
    return !this.#destroyed && (this.#inner ? this.#inner.writable : this.#init.resumable());
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  on<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): this {
    this.#events.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  off<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): this {
    this.#events.off(event, listener as (...a: unknown[]) => void);
    return this;
  }
}

/** Cuts a path that is no longer ours: whatever it says as it dies (a reset, a late error) goes nowhere. */
export function retire(t: ByteTransport): void {
  t.on("error", () => {});
  t.destroy();
}
