/**
 * Pipe: an authenticated, encrypted, message-framed duplex over any byte
 * transport (transport.ts). Every strategy (direct, reverse, punch, turn) ends
 * in one. This file is the façade that wires the parts:
 *   record-writer.ts (batching, sealing, write backpressure) ·
 *   frame-reader.ts (bytes to frames) · delivery.ts (who gets a message, read
 *   backpressure) · liveness.ts (keepalive, rtt, dead peer) · closing.ts (the
 *   close handshake and the pipe's state) · subscription.ts · types.ts.
 *
 * Who receives a message (docs/pipe.md), in this order:
 *   1. every subscription (`subscribe(filter)`) whose filter matches gets a copy;
 *   2. every 'message' event listener;
 *   3. the node's onMessage callbacks, on pipes the peer opened (awaited in order);
 *   4. if none of the above took it, the pipe's own queue, read by recv() / for await.
 * Queues are bounded; over the limit the pipe stops reading the transport
 * (backpressure on the sender). Nothing is dropped.
 */
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { FrameError, InvalidArgumentError, isP2PError, MessageTooLargeError, PeerIdentityError, PipeClosedError, WireError } from "../errors.ts";
import type { HandshakeResult } from "../session/handshake.ts";
import { Resumption } from "./resumption.ts";
import { FrameFlags, FrameType, type Frame } from "../session/frame.ts";
import type { NodeId } from "../identity/identity.ts";
import { systemClock, systemTimers, type Timers } from "../util/clock.ts";
import { LifecycleState } from "../util/closable.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import type { ConnectAttempt } from "../util/trace.ts";
import { Delivery } from "./delivery.ts";
import { FrameReader, peerError } from "./frame-reader.ts";
import { Closing, type PipeState } from "./closing.ts";
import { Liveness } from "./liveness.ts";
import { Message, outgoing, type MessageFilter } from "./message.ts";
import type { TakeOptions } from "./message-queue.ts";
import { resolvePipeOptions, type PipeOptions } from "./options.ts";
import type { NextPath, PathInfo, PipeEvents, PipeInit, PipeRole, PipeStats, RelayPath } from "./types.ts";
import { RecordWriter } from "./record-writer.ts";
import type { Subscription, SubscriptionOwner } from "./subscription.ts";
import { socketTransport, type ByteTransport } from "./transport.ts";

export { PIPE_DEFAULTS, resolvePipeOptions, type PipeOptions } from "./options.ts";
export type { Dispatcher, MessageHandler, NextPath, PipeEvents, PipeInit, PipeRole, PipeStats, RelayPath } from "./types.ts";
export { Subscription } from "./subscription.ts";
export type { ByteTransport } from "./transport.ts";

/**
 * One authenticated, encrypted session with a peer: send(), recv(), subscribe(),
 * 'message' events, close() / destroy() (both memoized promises) and `closed`.
 */
export class Pipe extends EventEmitter<PipeEvents> implements SubscriptionOwner {
  readonly remoteId: NodeId;
  readonly role: PipeRole;
  readonly inbound: boolean;
  readonly options: PipeOptions;
  /** Resolves when the pipe has fully closed (never rejects). */
  readonly closed: Promise<Error | undefined>;

  readonly #stats: PipeStats = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0 };
  readonly #t: ByteTransport;
  readonly #timers: Timers;
  readonly #sendLimit: number;
  readonly #writer: RecordWriter;
  #reader: FrameReader;
  /** Set when both sides said the pipe is resumable (handshake) and resumeWindow > 0. */
  readonly #resumption?: Resumption;
  readonly #delivery: Delivery<Pipe>;
  readonly #liveness: Liveness;
  readonly #life: LifecycleState;
  readonly #log: Logger;
  readonly #closing: Closing;
  #error?: Error;
  /** The current path's particulars (a resumable pipe can move: see resume()). */
  #path: PathInfo;
  #resolveClosed!: (e: Error | undefined) => void;

  constructor(init: PipeInit) {
    super();
    this.options = resolvePipeOptions(init.options);
    const o = this.options;
    const first = init.transport ?? socketTransport(init.stream);
    if (o.resumeWindow > 0 && init.session.remoteParams.resumable) {
      this.#resumption = new Resumption({
        first,
        session: init.session,
        role: init.role,
        window: o.resumeWindow,
        timers: init.timers ?? systemTimers,
        open: () => this.#closing.state === "open",
        onPath: (e) => this.emit("path", e),
        onExpired: (err) => void this.destroy(err),
      });
    }
    this.#t = this.#resumption?.path ?? first;
    const clock = init.clock ?? systemClock;
    this.#timers = init.timers ?? systemTimers;
    this.remoteId = init.session.remoteId;
    this.role = init.role;
    this.inbound = init.inbound;
    this.#path = { strategy: init.strategy, remoteAddress: init.remoteAddress, remotePort: init.remotePort, relay: init.relay, trace: Object.freeze([...(init.trace ?? [])]) };
    this.#log = (init.logger ?? silentLogger).child("pipe");
    this.#sendLimit = Math.min(o.maxMessageSize, init.session.remoteParams.maxMessageSize);
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#life = new LifecycleState("pipe", () => this.#gracefulClose(), (err) => this.#forcedClose(err));

    this.#writer = new RecordWriter({
      transport: this.#t,
      channel: init.session.channel,
      sendLimit: this.#sendLimit,
      clock,
      counters: this.#stats,
      closedError: (cause) => this.#closedError(cause),
      failed: () => this.#error !== undefined,
      resend: this.#resumption?.resend,
      resendLimit: o.queueBytes,
      ackOut: this.#resumption && (() => this.#resumption!.delivered),
    });
    this.#resumption?.bind(this.#writer);
    this.#reader = new FrameReader(init.session.channel, o.maxMessageSize);
    this.#delivery = new Delivery<Pipe>({
      pipe: this,
      transport: this.#t,
      queueMessages: o.queueMessages,
      queueBytes: o.queueBytes,
      dispatch: init.inbound ? init.dispatch : undefined,
      timers: this.#timers,
      log: this.#log,
      onResume: () => this.#liveness.heard(), // we were not reading: do not blame the peer for the silence
      onIdle: () => this.#closing.idle(),
    });
    this.#liveness = new Liveness({
      writer: this.#writer,
      clock,
      timers: this.#timers,
      keepaliveInterval: o.keepaliveInterval,
      deadPeerTimeout: o.deadPeerTimeout,
      role: init.role,
      sendBudget: o.queueBytes,
      paused: () => this.#delivery.paused,
      closed: () => this.#closing.state === "closed",
      // A resumable pipe whose path went silent drops that path and waits for a new one.
      onDead: (err) => (this.#resumption && this.#closing.state === "open" ? this.#resumption.path.drop(err) : void this.destroy(err)),
    });
    this.#closing = new Closing({
      transport: this.#t,
      writer: this.#writer,
      timers: this.#timers,
      closeTimeout: o.closeTimeout,
      busy: () => this.#delivery.busy,
      close: () => void this.close(),
      destroy: (err) => void this.destroy(err),
      onFinish: (err) => this.#teardown(err),
    });

    this.#t.on("data", this.#onData);
    this.#t.on("end", this.#closing.onEnd);
    this.#t.on("error", this.#onError);
    this.#t.on("close", this.#closing.onTransportClose);
    if (init.session.leftover.length) this.#onData(init.session.leftover);
  }

  /** The strategy that made the current path ("direct", "punch", "turn", …); changes when the pipe moves. */
  get strategy(): string {
    return this.#path.strategy;
  }
  get remoteAddress(): string | undefined {
    return this.#path.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#path.remotePort;
  }
  /** Set when a TURN relay carries the current path: the relay and its transport. */
  get relay(): RelayPath | undefined {
    return this.#path.relay;
  }
  /**
   * On the side that called connect(): every strategy considered, with its
   * outcome and times, then the attempts of every move to a new path. Empty on
   * inbound pipes.
   */
  get trace(): readonly ConnectAttempt[] {
    return this.#path.trace;
  }

  get stats(): Readonly<PipeStats> {
    return { ...this.#stats };
  }
  get bytesSent(): number {
    return this.#stats.bytesSent;
  }
  get bytesReceived(): number {
    return this.#stats.bytesReceived;
  }
  /** "open", "closing" (close() called or the peer closed), or "closed". */
  get state(): PipeState {
    return this.#closing.state;
  }
  /** Why the pipe failed, if it did. */
  get error(): Error | undefined {
    return this.#error;
  }
  /** Largest message send() accepts: the smaller of ours and the peer's maximum. */
  get maxSendSize(): number {
    return this.#sendLimit;
  }
  /** Last measured round-trip time (ms), from keepalives. */
  get rtt(): number | undefined {
    return this.#liveness.rtt;
  }
  /** Aborts when close() or destroy() begins: link per-call signals to it. */
  get lifetime(): AbortSignal {
    return this.#life.lifetime;
  }

  // ---- sending ---------------------------------------------------------

  /**
   * Sends one message. Resolves when it has been handed to the transport (the
   * OS, for a socket); waits while the connection is backed up. Rejects with
   * MessageTooLargeError (the pipe stays open) or the pipe's error.
   */
  send(data: Uint8Array | string): Promise<void> {
    const out = outgoing(data, this.#sendLimit);
    if (out instanceof InvalidArgumentError) return Promise.reject(out);
    if (this.#closing.state !== "open") return Promise.reject(this.#closedError());
    if (out instanceof Error) return Promise.reject(out);
    return this.#writer.enqueue(FrameType.DATA, out.flags, out.bytes);
  }

  // ---- receiving -------------------------------------------------------

  /**
   * The next message from the pipe's queue (messages no subscription, listener
   * or node callback took), optionally the next matching `filter`.
   */
  recv(opts: TakeOptions = {}): Promise<Message> {
    return this.#delivery.queue.take({ ...opts, timeout: opts.timeout ?? this.options.recvTimeout });
  }

  /**
   * A separate stream of the messages matching `filter` (see the delivery order above).
   * `signal` ends it when aborted, like `sub.close()`: a `for await` over it ends quietly.
   */
  subscribe(filter?: MessageFilter, opts: { signal?: AbortSignal } = {}): Subscription {
    return this.#delivery.subscribe(filter, this.#closing.state === "closed" ? this.#closedError() : undefined, opts.signal);
  }

  unsubscribe(sub: Subscription): void {
    this.#delivery.unsubscribe(sub);
  }

  /** Iterates the pipe's queue until the pipe closes (quietly on a graceful close). */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.#delivery.queue.iterate();
  }

  #onData = (chunk: Uint8Array) => {
    this.#stats.bytesReceived += chunk.length;
    this.#liveness.heard();
    try {
      this.#reader.push(chunk, this.#onFrame, () => this.#closing.state === "closed");
    } catch (err) {
      if (err instanceof MessageTooLargeError) this.#sendError(WireError.TOO_LARGE, "message over the receiver's maximum");
      else if (err instanceof FrameError) this.#sendError(WireError.PROTOCOL, "bad frame");
      void this.destroy(isP2PError(err) ? err : new FrameError(`could not read a frame: ${(err as Error).message}`, { cause: err }));
    }
  };

  #onFrame = (frame: Frame): void => {
    if (this.#resumption && !this.#resumption.onFrame(frame)) return;
    switch (frame.type) {
      case FrameType.DATA:
        this.#stats.messagesReceived++;
        this.#delivery.deliver(new Message(frame.payload, (frame.flags & FrameFlags.TEXT) !== 0, frame.seq));
        break;
      case FrameType.PING:
        this.#liveness.onPing(frame.payload);
        break;
      case FrameType.PONG:
        this.#liveness.onPong(frame.payload);
        break;
      case FrameType.CLOSE:
        this.#log.debug("peer closed the pipe", { remoteId: this.remoteId });
        this.#closing.peerClosed();
        break;
      case FrameType.ERROR:
        void this.destroy(peerError(frame.payload));
        break;
      case FrameType.ACK:
        break; // its `ack` was read above (resumable pipes); others ignore it
      default:
        throw new FrameError(`unexpected frame type ${frame.type} on an open pipe`);
    }
  };

  // ---- moving to a new path ---------------------------------------------

  /** A resumable pipe's session name, which a new path's handshake carries (`resume`); undefined otherwise. */
  get resumeId(): string | undefined {
    return this.#resumption?.id;
  }

  /** True while a resumable pipe has no usable path (lost, or the new one's RESUME is pending). */
  get suspended(): boolean {
    return this.#resumption?.suspended ?? false;
  }

  /**
   * Continues this pipe over a new path: `session` is a fresh handshake with the
   * same peer over `transport`. Both sides call it (the one that dialled and the
   * one that accepted); each proves the session and says what it delivered, and
   * each writes again what the other lacks, so no message is lost or doubled.
   * Throws unless the pipe is resumable and open. `strategy`, `relay`, the
   * remote endpoint and `trace` (attempts appended) describe the new path; the
   * 'path' event that says "resumed" names the old and the new strategy.
   */
  resume(next: NextPath): void {
    const r = this.#resumption;
    if (!r) throw new InvalidArgumentError("this pipe is not resumable (both sides need resumeWindow > 0)");
    if (this.#closing.state !== "open") throw this.#closedError();
    if (next.session.remoteId !== this.remoteId) throw new PeerIdentityError(`a new path from ${next.session.remoteId} cannot continue a pipe with ${this.remoteId}`);
    const t = next.transport ?? socketTransport(next.stream!);
    this.#reader = new FrameReader(next.session.channel, this.options.maxMessageSize);
    const from = this.#path.strategy;
    this.#path = {
      strategy: next.strategy ?? from,
      remoteAddress: next.remoteAddress,
      remotePort: next.remotePort,
      relay: next.relay,
      trace: Object.freeze([...this.#path.trace, ...(next.trace ?? [])]),
    };
    r.attach(t, next.session, this.#writer, { from, to: this.#path.strategy, why: next.why ?? (r.suspended ? "lost" : "better") });
    this.#liveness.heard();
    if (next.session.leftover.length) this.#onData(next.session.leftover);
  }

  // ---- closing ---------------------------------------------------------

  /**
   * Graceful close: everything sent before is delivered, then the peer is told
   * and we wait (up to closeTimeout) for it to finish. Memoized and idempotent;
   * never rejects.
   */
  close(): Promise<void> {
    return this.#life.close();
  }

  /**
   * Forceful close: the connection is cut at once; pending sends and receives
   * fail with `err`. Memoized and idempotent (the first error wins); never rejects.
   */
  destroy(err?: Error): Promise<void> {
    return this.#life.destroy(err);
  }

  async #gracefulClose(): Promise<void> {
    await this.#closing.begin();
    await this.closed;
    await this.#closing.released;
  }

  async #forcedClose(err?: Error): Promise<void> {
    // A resumable peer would otherwise take the cut for a lost path and wait out its window.
    if (this.#resumption && !this.#resumption.suspended) this.#sendError(WireError.SHUTDOWN, "the pipe was destroyed");
    this.#closing.finish(err ?? new PipeClosedError("the pipe was destroyed"));
    await this.closed;
  }

  /** The one teardown, when the state becomes "closed": every timer, queue and listener is freed here. */
  #teardown(err: Error | undefined): void {
    this.#error = err;
    this.#liveness.stop();
    this.#resumption?.stop();
    const endErr = this.#closedError();
    this.#writer.rejectAll(endErr);
    this.#delivery.end(endErr);
    this.#closing.releaseTransport(err);
    this.#t.off("data", this.#onData);
    this.#writer.detach();
    if (err) this.#log.debug("pipe failed", { remoteId: this.remoteId, error: err.message });
    this.emit("close", err);
    this.#resolveClosed(err);
  }

  #sendError(code: WireError, reason: string): void {
    if (this.#closing.state === "closed") return;
    // Written at once, ahead of anything queued: the pipe is about to be destroyed.
    this.#writer.writeNow(FrameType.ERROR, Buffer.concat([Buffer.from([code]), Buffer.from(reason)]));
  }

  #closedError(cause?: Error): Error {
    if (this.#error) return this.#error;
    return new PipeClosedError("the pipe is closed", cause ? { cause } : undefined);
  }

  #onError = (err: Error) => {
    const code = (err as NodeJS.ErrnoException).code;
    void this.destroy(new PipeClosedError(`connection error${code ? ` (${code})` : ""}: ${err.message}`, { cause: err }));
  };
}
