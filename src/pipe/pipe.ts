/**
 * Pipe: an authenticated, encrypted, message-framed duplex over any byte
 * stream. Every strategy (direct, reverse, punch, turn) ends in one.
 *
 * Who receives a message (docs/pipe.md), in this order:
 *   1. every subscription (`subscribe(filter)`) whose filter matches gets a copy;
 *   2. every 'message' event listener;
 *   3. the node's onMessage callbacks, on pipes the peer opened (awaited in order);
 *   4. if none of the above took it, the pipe's own queue, read by recv() / for await.
 * Queues are bounded; over the limit the pipe stops reading the socket (TCP
 * backpressure on the sender). Nothing is dropped.
 */
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import {
  FrameError,
  InvalidArgumentError,
  isP2PError,
  MessageTooLargeError,
  PeerTimeoutError,
  PipeClosedError,
  TimeoutError,
  WireError,
} from "../errors.ts";
import {
  decodeBatch,
  decodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_LENGTH,
  FrameFlags,
  FrameType,
  MAX_BATCH_FRAMES,
  PING_PAYLOAD_LENGTH,
  RecordDecoder,
  TAG_LENGTH,
  type Frame,
} from "../session/frame.ts";
import type { HandshakeResult } from "../session/handshake.ts";
import type { NodeId } from "../identity/identity.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { matches, Message, type MessageFilter } from "./message.ts";
import { MessageQueue, type TakeOptions } from "./message-queue.ts";

export interface PipeOptions {
  /** Largest message accepted or sent, in bytes. @default 4 MiB */
  maxMessageSize: number;
  /** Send a keepalive when nothing was sent for this long (ms). @default 10000 */
  keepaliveInterval: number;
  /** Fail the pipe with PeerTimeoutError when nothing arrives for this long (ms). @default 30000 */
  deadPeerTimeout: number;
  /** How long close() waits for the peer to finish (ms) before cutting the connection. @default 5000 */
  closeTimeout: number;
  /** Default timeout of recv() (ms); 0 = wait until a message or the pipe closes. @default 30000 */
  recvTimeout: number;
  /** Messages held unread before the pipe stops reading the socket. @default 1024 */
  queueMessages: number;
  /**
   * Bytes held unread before the pipe stops reading the socket. Also the send-side
   * budget for frames the peer makes us send (PONG): while more than this waits to be
   * written, a PING is not answered. @default 16 MiB
   */
  queueBytes: number;
}

export const PIPE_DEFAULTS: Readonly<PipeOptions> = Object.freeze({
  maxMessageSize: 4 * 1024 * 1024,
  keepaliveInterval: 10_000,
  deadPeerTimeout: 30_000,
  closeTimeout: 5_000,
  recvTimeout: 30_000,
  queueMessages: 1024,
  queueBytes: 16 * 1024 * 1024,
});

export function resolvePipeOptions(opts: Partial<PipeOptions> = {}): PipeOptions {
  const o = { ...PIPE_DEFAULTS, ...opts };
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== "number" || !(v >= 0) || (k !== "recvTimeout" && v === 0)) {
      throw new InvalidArgumentError(`pipe option ${k} must be a positive number, got ${String(v)}`);
    }
  }
  return o;
}

export type PipeRole = "initiator" | "responder";
export type MessageHandler = (msg: Message, pipe: Pipe) => void | Promise<void>;

/** The node's callbacks, as a pipe sees them. */
export interface Dispatcher {
  /** True while at least one callback is registered. */
  active(): boolean;
  dispatch: MessageHandler;
}

export interface PipeInit {
  stream: Duplex;
  session: HandshakeResult;
  role: PipeRole;
  /** Name of the strategy that made this pipe ("direct", "reverse", …; "inbound" if the peer did not say). */
  strategy: string;
  /** True when the peer called connect() (the node's callbacks then receive its messages). */
  inbound: boolean;
  remoteAddress?: string;
  remotePort?: number;
  options?: Partial<PipeOptions>;
  dispatch?: Dispatcher;
  logger?: Logger;
}

/** A frame waiting to be sealed; its promise settles when its record is written. */
interface Outgoing {
  type: FrameType;
  flags: number;
  payload?: Uint8Array;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Small frames queued together are sealed as one record up to this size (plaintext bytes). */
const BATCH_BYTES = 64 * 1024;
const BATCH_FRAMES = MAX_BATCH_FRAMES; // the receiver refuses more (frame.ts)

export interface PipeStats {
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
}

/** A stream of messages matching a filter, read by `for await` or `next()`. */
export class Subscription implements AsyncIterable<Message> {
  readonly filter?: MessageFilter;
  readonly queue: MessageQueue;
  readonly #pipe: Pipe;

  constructor(pipe: Pipe, filter: MessageFilter | undefined, queue: MessageQueue) {
    this.#pipe = pipe;
    this.filter = filter;
    this.queue = queue;
  }

  /** The next matching message (same options as recv). */
  next(opts: Omit<TakeOptions, "filter"> = {}): Promise<Message> {
    return this.queue.take(opts);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.queue.iterate();
  }

  /** Stops the subscription; unread messages in it are released. */
  close(): void {
    this.#pipe.unsubscribe(this);
  }
}

export class Pipe extends EventEmitter {
  readonly remoteId: NodeId;
  readonly strategy: string;
  readonly role: PipeRole;
  readonly inbound: boolean;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly options: PipeOptions;
  /** Resolves when the pipe has fully closed (never rejects). */
  readonly closed: Promise<Error | undefined>;
  /** Last measured round-trip time (ms), from keepalives. */
  rtt?: number;

  readonly #stats: PipeStats = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0 };
  readonly #stream: Duplex;
  readonly #session: HandshakeResult;
  readonly #decoder: RecordDecoder;
  readonly #sendLimit: number;
  readonly #queue: MessageQueue;
  readonly #subs = new Set<Subscription>();
  readonly #dispatch?: Dispatcher;
  readonly #log: Logger;
  #inbox: Message[] = [];
  #pumping = false;
  #bufferedBytes = 0;
  #bufferedCount = 0;
  #paused = false;
  #sendSeq = 0;
  #outbox: Outgoing[] = [];
  /** Frame bytes (header + payload) in #outbox, not yet sealed. */
  #outboxBytes = 0;
  /** A PONG is queued or being written: further PINGs are not answered again (one outstanding). */
  #pongPending = false;
  /** Our own keepalive is queued or being written: the next tick does not add another. */
  #pingPending = false;
  #flushScheduled = false;
  #waitingDrain = false;
  #state: "open" | "closing" | "closed" = "open";
  #remoteClosed = false;
  #error?: Error;
  #lastRecv = Date.now();
  #lastSend = Date.now();
  #timer: NodeJS.Timeout;
  #closeTimer?: NodeJS.Timeout;
  #resolveClosed!: (e: Error | undefined) => void;

  constructor(init: PipeInit) {
    super();
    this.options = resolvePipeOptions(init.options);
    this.#stream = init.stream;
    this.#session = init.session;
    this.remoteId = init.session.remoteId;
    this.strategy = init.strategy;
    this.role = init.role;
    this.inbound = init.inbound;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.#dispatch = init.dispatch;
    this.#log = (init.logger ?? silentLogger).child("pipe");
    this.#sendLimit = Math.min(this.options.maxMessageSize, init.session.remoteParams.maxMessageSize);
    this.#decoder = new RecordDecoder(this.options.maxMessageSize + FRAME_HEADER_LENGTH + TAG_LENGTH);
    this.#queue = new MessageQueue(this.#released);
    this.closed = new Promise((r) => (this.#resolveClosed = r));

    const tick = Math.max(5, Math.min(this.options.keepaliveInterval, this.options.deadPeerTimeout / 4));
    this.#timer = setInterval(this.#onTick, tick);
    this.#timer.unref();

    this.#stream.on("data", this.#onData);
    this.#stream.on("end", this.#onEnd);
    this.#stream.on("error", this.#onError);
    this.#stream.on("close", this.#onStreamClose);
    this.#stream.on("drain", this.#onDrain);
    if (init.session.leftover.length) this.#onData(init.session.leftover);
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
  get state(): "open" | "closing" | "closed" {
    return this.#state;
  }
  /** Why the pipe failed, if it did. */
  get error(): Error | undefined {
    return this.#error;
  }
  /** Largest message send() accepts: the smaller of ours and the peer's maximum. */
  get maxSendSize(): number {
    return this.#sendLimit;
  }

  // ---- sending ---------------------------------------------------------

  /**
   * Sends one message. Resolves when it has been handed to the OS; waits while
   * the connection is backed up. Rejects with MessageTooLargeError (the pipe
   * stays open) or the pipe's error.
   */
  send(data: Uint8Array | string): Promise<void> {
    let bytes: Uint8Array;
    let flags = 0;
    if (typeof data === "string") {
      bytes = Buffer.from(data, "utf8");
      flags = FrameFlags.TEXT;
    } else if (data instanceof Uint8Array) {
      bytes = data;
    } else {
      return Promise.reject(new InvalidArgumentError("send() takes a string or a Uint8Array"));
    }
    if (this.#state !== "open") return Promise.reject(this.#closedError());
    if (bytes.length > this.#sendLimit) {
      return Promise.reject(
        new MessageTooLargeError(`message of ${bytes.length} bytes exceeds the pipe's maximum of ${this.#sendLimit} bytes (the smaller of ours and the peer's)`),
      );
    }
    return this.#enqueue(FrameType.DATA, flags, bytes);
  }

  /**
   * Queues a frame. Frames queued in the same tick are sealed together (one
   * AEAD operation and one write for many small messages); while the socket is
   * backed up nothing is sealed, so memory holds only what callers queued.
   */
  #enqueue(type: FrameType, flags: number, payload?: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#outbox.push({ type, flags, payload, resolve, reject });
      this.#outboxBytes += FRAME_HEADER_LENGTH + (payload?.length ?? 0);
      if (!this.#flushScheduled && !this.#waitingDrain) {
        this.#flushScheduled = true;
        queueMicrotask(this.#flush);
      }
    });
  }

  #flush = () => {
    this.#flushScheduled = false;
    const limit = Math.min(BATCH_BYTES, this.#sendLimit + FRAME_HEADER_LENGTH);
    while (this.#outbox.length) {
      if (this.#error || this.#stream.destroyed || !this.#stream.writable) {
        const err = this.#closedError();
        this.#outboxBytes = 0;
        for (const o of this.#outbox.splice(0)) o.reject(err);
        return;
      }
      if (this.#stream.writableNeedDrain) {
        this.#waitingDrain = true; // #onDrain flushes again
        return;
      }
      const batch = [this.#outbox.shift()!];
      let size = FRAME_HEADER_LENGTH + (batch[0].payload?.length ?? 0);
      let frameBytes = size;
      while (batch.length < BATCH_FRAMES && this.#outbox.length) {
        const next = 4 + FRAME_HEADER_LENGTH + (this.#outbox[0].payload?.length ?? 0);
        if (size + next + (batch.length === 1 ? 4 + FRAME_HEADER_LENGTH : 0) > limit) break;
        size += next + (batch.length === 1 ? 4 + FRAME_HEADER_LENGTH : 0);
        frameBytes += next - 4;
        batch.push(this.#outbox.shift()!);
      }
      this.#outboxBytes -= frameBytes;
      this.#writeRecord(batch);
    }
  };

  #onDrain = () => {
    this.#waitingDrain = false;
    if (this.#outbox.length && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  };

  /** Seals one record (a frame, or a BATCH of frames) and writes it; settles every frame's promise. */
  #writeRecord(batch: Outgoing[]): void {
    const frames: Uint8Array[][] = batch.map((o) => {
      if (o.type === FrameType.DATA) this.#stats.messagesSent++;
      const header = encodeFrameHeader(o.type, o.flags, o.type === FrameType.DATA ? ++this.#sendSeq : this.#sendSeq, 0);
      return o.payload && o.payload.length ? [header, o.payload] : [header];
    });
    let plain: Uint8Array[];
    if (frames.length === 1) plain = frames[0];
    else {
      plain = [encodeFrameHeader(FrameType.BATCH, 0, this.#sendSeq, 0)];
      for (const f of frames) {
        const len = Buffer.allocUnsafe(4);
        len.writeUInt32BE(f.reduce((n, p) => n + p.length, 0));
        plain.push(len, ...f);
      }
    }
    const parts = this.#session.channel.seal(plain);
    this.#lastSend = Date.now();
    const s = this.#stream;
    s.cork();
    for (let i = 0; i < parts.length - 1; i++) s.write(parts[i]);
    s.write(parts[parts.length - 1], (err) => {
      if (err) {
        const e = this.#closedError(err);
        for (const o of batch) o.reject(e);
      } else for (const o of batch) o.resolve();
    });
    s.uncork();
    for (const p of parts) this.#stats.bytesSent += p.length;
  }

  // ---- receiving -------------------------------------------------------

  /**
   * The next message from the pipe's queue (messages no subscription, listener
   * or node callback took), optionally the next matching `filter`.
   */
  recv(opts: TakeOptions = {}): Promise<Message> {
    return this.#queue.take({ ...opts, timeout: opts.timeout ?? this.options.recvTimeout });
  }

  /** A separate stream of the messages matching `filter` (see the delivery order above). */
  subscribe(filter?: MessageFilter): Subscription {
    const sub = new Subscription(this, filter, new MessageQueue(this.#released));
    if (this.#state === "closed") sub.queue.end(this.#closedError());
    this.#subs.add(sub);
    return sub;
  }

  unsubscribe(sub: Subscription): void {
    if (!this.#subs.delete(sub)) return;
    sub.queue.clear();
    sub.queue.end(new PipeClosedError("the subscription was closed"));
  }

  /** Iterates the pipe's queue until the pipe closes (quietly on a graceful close). */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.#queue.iterate();
  }

  #released = (m: Message) => {
    this.#bufferedBytes -= m.data.length;
    this.#bufferedCount--;
    this.#maybeResume();
  };

  #hold(m: Message): void {
    this.#bufferedBytes += m.data.length;
    this.#bufferedCount++;
    if (!this.#paused && (this.#bufferedBytes > this.options.queueBytes || this.#bufferedCount > this.options.queueMessages)) {
      this.#paused = true;
      this.#stream.pause();
    }
  }

  #maybeResume(): void {
    if (this.#paused && this.#bufferedBytes <= this.options.queueBytes / 2 && this.#bufferedCount <= this.options.queueMessages / 2) {
      this.#paused = false;
      this.#lastRecv = Date.now(); // we were not reading: do not blame the peer for the silence
      this.#stream.resume();
    }
  }

  #onData = (chunk: Buffer) => {
    this.#stats.bytesReceived += chunk.length;
    this.#lastRecv = Date.now();
    let records: Buffer[];
    try {
      records = this.#decoder.push(chunk);
      for (const r of records) {
        if (this.#state === "closed") return;
        this.#onRecord(r);
      }
    } catch (err) {
      if (err instanceof MessageTooLargeError) {
        this.#sendError(WireError.TOO_LARGE, "message over the receiver's maximum");
      } else if (err instanceof FrameError) {
        this.#sendError(WireError.PROTOCOL, "bad frame");
      }
      this.destroy(isP2PError(err) ? err : new FrameError(`could not read a frame: ${(err as Error).message}`, { cause: err }));
    }
  };

  #onRecord(record: Buffer): void {
    const frame = decodeFrame(this.#session.channel.open(record));
    if (frame.type === FrameType.BATCH) {
      for (const f of decodeBatch(frame.payload)) if (this.#state !== "closed") this.#onFrame(f);
    } else this.#onFrame(frame);
  }

  #onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.DATA: {
        this.#stats.messagesReceived++;
        const msg = new Message(frame.payload, (frame.flags & FrameFlags.TEXT) !== 0, frame.seq);
        this.#hold(msg);
        this.#inbox.push(msg);
        if (!this.#pumping) void this.#pump();
        break;
      }
      case FrameType.PING: {
        if (frame.payload.length !== PING_PAYLOAD_LENGTH) throw new FrameError(`a PING carries ${frame.payload.length} bytes; it must carry ${PING_PAYLOAD_LENGTH}`);
        // A peer that sends PINGs and never reads must not make us hold its answers:
        // one PONG at a time, and none while what waits to be written is over budget.
        if (this.#state === "closed" || this.#pongPending || this.#outboxBytes + this.#stream.writableLength > this.options.queueBytes) break;
        this.#pongPending = true;
        const done = () => void (this.#pongPending = false);
        // A copy: the payload is a view that would keep the whole decrypted record alive.
        this.#enqueue(FrameType.PONG, 0, Buffer.from(frame.payload)).then(done, done);
        break;
      }
      case FrameType.PONG: {
        if (frame.payload.length !== PING_PAYLOAD_LENGTH) throw new FrameError(`a PONG carries ${frame.payload.length} bytes; it must carry ${PING_PAYLOAD_LENGTH}`);
        this.rtt = Math.max(0, Date.now() - Number(frame.payload.readBigUInt64BE(0)));
        break;
      }
      case FrameType.CLOSE:
        this.#remoteClosed = true;
        this.#log.debug("peer closed the pipe", { remoteId: this.remoteId });
        // Answer with our own close only after the messages that came before it were
        // dispatched: callbacks may still reply to them (the peer reads until our CLOSE).
        if (this.#pumping || this.#inbox.length) break;
        if (this.#state === "open") void this.close();
        else this.#maybeFinish();
        break;
      case FrameType.ERROR: {
        const code = frame.payload[0];
        const reason = frame.payload.subarray(1).toString("utf8").slice(0, 200);
        this.destroy(
          code === WireError.TOO_LARGE
            ? new MessageTooLargeError(`the peer refused a message over its maximum size and closed the pipe (${reason})`)
            : new PipeClosedError(`the peer closed the pipe with an error: ${reason || `code ${code}`}`),
        );
        break;
      }
      case FrameType.ACK:
        break; // reserved for path migration
      default:
        throw new FrameError(`unexpected frame type ${frame.type} on an open pipe`);
    }
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#inbox.length) {
        const msg = this.#inbox.shift()!;
        let taken = false;
        for (const sub of this.#subs) {
          if (matches(sub.filter, msg)) {
            taken = true;
            if (sub.queue.push(msg)) this.#hold(msg);
          }
        }
        if (this.listenerCount("message") > 0) {
          taken = true;
          try {
            this.emit("message", msg, this);
          } catch (err) {
            this.#log.warn("a 'message' listener threw", { error: (err as Error).message });
          }
        }
        if (this.#dispatch && this.inbound && this.#dispatch.active()) {
          taken = true;
          try {
            await this.#dispatch.dispatch(msg, this);
          } catch (err) {
            this.#log.warn("a message callback threw", { error: (err as Error).message });
          }
        }
        if (!taken && this.#queue.push(msg)) this.#hold(msg);
        this.#released(msg); // it left the inbox
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#remoteClosed && this.#state === "open") void this.close();
    else this.#maybeFinish();
  }

  // ---- liveness --------------------------------------------------------

  #onTick = () => {
    const now = Date.now();
    if (this.#paused) this.#lastRecv = now;
    if (now - this.#lastRecv > this.options.deadPeerTimeout) {
      this.destroy(new PeerTimeoutError(`the peer sent nothing for ${this.options.deadPeerTimeout} ms; assuming it is gone`));
      return;
    }
    // #lastSend does not move while the socket is backed up: without #pingPending every tick would queue one more.
    if (this.#state !== "closed" && !this.#pingPending && now - this.#lastSend >= this.options.keepaliveInterval) {
      const ts = Buffer.allocUnsafe(PING_PAYLOAD_LENGTH);
      ts.writeBigUInt64BE(BigInt(now));
      this.#pingPending = true;
      const done = () => void (this.#pingPending = false);
      this.#enqueue(FrameType.PING, 0, ts).then(done, done);
    }
  };

  // ---- closing ---------------------------------------------------------

  /**
   * Graceful close: everything sent before is delivered, then the peer is told
   * and we wait (up to closeTimeout) for it to finish. Idempotent; never throws.
   */
  async close(): Promise<void> {
    if (this.#state !== "open") {
      await this.closed;
      return;
    }
    this.#state = "closing";
    this.#closeTimer = setTimeout(() => this.destroy(new TimeoutError(`the peer did not finish closing within ${this.options.closeTimeout} ms`)), this.options.closeTimeout);
    this.#closeTimer.unref();
    // CLOSE goes after everything already queued; FIN after CLOSE is written.
    await this.#enqueue(FrameType.CLOSE, 0).then(() => this.#stream.end(), () => {});
    this.#maybeFinish();
    await this.closed;
  }

  #maybeFinish(): void {
    // Done when both sides said CLOSE and every received message was dispatched.
    if (this.#state === "closing" && this.#remoteClosed && !this.#pumping && this.#inbox.length === 0) {
      this.#finish(undefined);
    }
  }

  /** Forceful close: the connection is cut at once; pending sends and receives fail with `err`. */
  destroy(err?: Error): void {
    if (this.#state === "closed") return;
    this.#finish(err ?? new PipeClosedError("the pipe was destroyed"));
  }

  #finish(err: Error | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#error = err;
    clearInterval(this.#timer);
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    const endErr = this.#closedError();
    this.#outboxBytes = 0;
    for (const o of this.#outbox.splice(0)) o.reject(endErr);
    this.#queue.end(endErr);
    for (const s of this.#subs) s.queue.end(endErr);
    if (err) this.#stream.destroy();
    else if (!this.#stream.destroyed) {
      // Graceful: our CLOSE and FIN are queued; let them flush, then free the socket.
      this.#stream.end(() => this.#stream.destroy());
      setTimeout(() => this.#stream.destroy(), 1000).unref();
    }
    this.#stream.off("data", this.#onData);
    if (err) this.#log.debug("pipe failed", { remoteId: this.remoteId, error: err.message });
    this.emit("close", err);
    this.#resolveClosed(err);
  }

  #sendError(code: WireError, reason: string): void {
    if (this.#state === "closed") return;
    if (this.#stream.destroyed || !this.#stream.writable) return;
    // Written at once, ahead of anything queued: the pipe is about to be destroyed.
    const done = () => {};
    this.#writeRecord([{ type: FrameType.ERROR, flags: 0, payload: Buffer.concat([Buffer.from([code]), Buffer.from(reason)]), resolve: done, reject: done }]);
  }

  #closedError(cause?: Error): Error {
    if (this.#error) return this.#error;
    return new PipeClosedError("the pipe is closed", cause ? { cause } : undefined);
  }

  #onEnd = () => {
    // A FIN without a CLOSE frame first means the peer vanished mid-stream.
    if (!this.#remoteClosed) this.destroy(new PipeClosedError("the peer closed the connection without a graceful close"));
  };

  #onError = (err: Error) => {
    const code = (err as NodeJS.ErrnoException).code;
    this.destroy(new PipeClosedError(`connection error${code ? ` (${code})` : ""}: ${err.message}`, { cause: err }));
  };

  #onStreamClose = () => {
    if (this.#state === "open") this.destroy(new PipeClosedError("the connection closed"));
    else if (this.#state === "closing") {
      // We asked to close and nothing more can arrive: finish once the inbox is dispatched.
      this.#remoteClosed = true;
      this.#maybeFinish();
    }
  };
}

