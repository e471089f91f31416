/**
 * The transport seam under the Pipe: the few byte-stream operations a pipe
 * needs, so that anything reliable and ordered can carry one — a TCP socket
 * today, a TURN relay stream, a reliable-UDP stream or a path swapped mid-life
 * later. The pipe does its own framing, encryption, keepalive and close
 * handshake on top; a transport only moves bytes, in order, without loss.
 *
 * Contract (what a net.Socket with `allowHalfOpen: true` already does):
 * - `write(chunks, done)` queues the chunks as one contiguous write, in order.
 *   `done()` is called once they were handed on (to the OS, to the peer) or
 *   `done(err)` if they never will be. It returns false when the caller should
 *   stop writing until 'drain' (`needDrain` is then true); writes made anyway
 *   are still queued, never dropped.
 * - Reading is flow-controlled by `pause()` / `resume()`: while paused no
 *   'data' is emitted and the sender is pushed back on.
 * - `end(done?)` half-closes: the queued bytes go out, then the peer sees
 *   'end'. This side can keep reading; `done` runs once the end was flushed.
 * - `destroy(err?)` cuts the connection at once: queued bytes are dropped, the
 *   peer sees 'end' or an error, and 'close' follows (after 'error' if `err`).
 * - Events: 'data' (bytes, in order), 'drain' (writable again), 'end' (the
 *   peer half-closed; no more data), 'error' (the connection failed; 'close'
 *   follows), 'close' (both directions are finished; nothing follows).
 */
import type { Duplex } from "node:stream";

/** The events a ByteTransport emits, as listener argument tuples. */
export interface TransportEvents {
  data: [chunk: Uint8Array];
  drain: [];
  end: [];
  error: [err: Error];
  close: [];
}

/** A reliable, ordered byte stream that can carry a Pipe (see the module comment for the contract). */
export interface ByteTransport {
  /** Queues `chunks` as one write; false when the caller should wait for 'drain'. */
  write(chunks: readonly Uint8Array[], done?: (err?: Error | null) => void): boolean;
  /** Half-closes after the queued bytes; `done` runs once that was flushed (or failed). */
  end(done?: () => void): void;
  /** Cuts the connection now; queued bytes are dropped. Idempotent. */
  destroy(err?: Error): void;
  /** Stops emitting 'data' (the sender is pushed back on) until resume(). */
  pause(): void;
  resume(): void;
  /** Bytes queued by write() and not yet handed on. */
  readonly writableLength: number;
  /** True after write() returned false, until 'drain'. */
  readonly needDrain: boolean;
  /** False once ended or destroyed: write() would fail. */
  readonly writable: boolean;
  readonly destroyed: boolean;
  on<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): unknown;
  off<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): unknown;
}

/**
 * Adapts a net.Socket (or any Duplex) to ByteTransport. Listeners go straight
 * onto the stream, so nothing is buffered or re-emitted in between.
 */
export function socketTransport(stream: Duplex): ByteTransport {
  return {
    write(chunks, done) {
      if (chunks.length === 0) {
        if (done) queueMicrotask(() => done());
        return !stream.writableNeedDrain;
      }
      // Corked so a record's parts leave in one segment where possible.
      stream.cork();
      for (let i = 0; i < chunks.length - 1; i++) stream.write(chunks[i]);
      const ok = stream.write(chunks[chunks.length - 1], done);
      stream.uncork();
      return ok;
    },
    end(done) {
      if (done) stream.end(() => done());
      else stream.end();
    },
    destroy(err) {
      stream.destroy(err);
    },
    pause() {
      stream.pause();
    },
    resume() {
      stream.resume();
    },
    get writableLength() {
      return stream.writableLength;
    },
    get needDrain() {
      return stream.writableNeedDrain;
    },
    get writable() {
      return !stream.destroyed && stream.writable;
    },
    get destroyed() {
      return stream.destroyed;
    },
    on(event, listener) {
      return stream.on(event, listener as (...a: unknown[]) => void);
    },
    off(event, listener) {
      return stream.off(event, listener as (...a: unknown[]) => void);
    },
  };
}
