/**
 * The sending half of a pipe: queues frames, batches the ones queued in the
 * same tick into one record (one AEAD operation, one write), seals and writes
 * them, and holds everything unsealed while the transport is backed up — so
 * memory holds only what callers queued.
 */
import { encodeFrameHeader, FRAGMENT_PAYLOAD, FRAME_HEADER_LENGTH, FrameFlags, FrameType, MAX_BATCH_FRAMES, MAX_RECORD_PLAINTEXT, writeFrameHeader } from "../session/frame.ts";
import type { SecureChannel } from "../session/secure-channel.ts";
import type { Clock } from "../util/clock.ts";
import { Deque } from "./deque.ts";
import type { ResendBuffer, Unacked } from "./resend.ts";
import type { ByteTransport } from "./transport.ts";

/** Small frames queued together are sealed as one record up to this size (plaintext bytes). */
const BATCH_BYTES = MAX_RECORD_PLAINTEXT;
const BATCH_FRAMES = MAX_BATCH_FRAMES; // the receiver refuses more (frame.ts)
/** Per frame inside a BATCH: its u32 length. */
const LENGTH_PREFIX = 4;

/** A frame waiting to be sealed; its promise settles when its record is written. */
interface Outgoing {
  type: FrameType;
  flags: number;
  payload?: Uint8Array;
  /** A DATA frame written again on a new path keeps its seq. */
  seq?: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Byte and message counters the writer keeps (the pipe's stats). */
export interface SendCounters {
  bytesSent: number;
  messagesSent: number;
}

export interface RecordWriterInit {
  transport: ByteTransport;
  channel: SecureChannel;
  /** Largest payload we send (the smaller of both sides' maxima). */
  sendLimit: number;
  clock: Clock;
  counters: SendCounters;
  /** The error queued frames fail with once the pipe can no longer write (its failure, or "closed"). */
  closedError: (cause?: Error) => Error;
  /** True once the pipe failed: nothing more is written. */
  failed: () => boolean;
  /** Resumable pipes: written DATA frames are kept here until the peer acknowledges them. */
  resend?: ResendBuffer;
  /** Most bytes the resend buffer may hold before writing waits for acknowledgements. */
  resendLimit?: number;
  /** The `ack` every frame header carries: the last DATA seq this side delivered. */
  ackOut?: () => number;
}

/** May this frame go out while the resend buffer is full? Everything but new messages, and CLOSE (which stays behind them). */
function passesFullResend(o: Outgoing): boolean {
  return o.type !== FrameType.CLOSE && (o.type !== FrameType.DATA || o.seq !== undefined);
}

export class RecordWriter {
  readonly #t: ByteTransport;
  readonly #init: RecordWriterInit;
  #channel: SecureChannel;
  readonly #outbox = new Deque<Outgoing>();
  /** Frame bytes (header + payload) in #outbox, not yet sealed. */
  #outboxBytes = 0;
  /** Frames in #outbox that may pass while the resend buffer is full (see #flush): 0 means wait for ACKs without a scan. */
  #passQueued = 0;
  /** Records written and not yet called back. */
  readonly #written = new Set<Outgoing[]>();
  #sendSeq = 0;
  #flushScheduled = false;
  #waitingDrain = false;
  /** When a record was last written (clock ms): keepalives go out after a quiet spell. */
  lastSend: number;

  constructor(init: RecordWriterInit) {
    this.#init = init;
    this.#t = init.transport;
    this.#channel = init.channel;
    this.lastSend = init.clock.now();
    this.#t.on("drain", this.#onDrain);
  }

  /** Bytes waiting to be written: frames not yet sealed plus the transport's queue. */
  get pendingBytes(): number {
    return this.#outboxBytes + this.#t.writableLength;
  }

  /**
   * Queues a frame. Frames queued in the same tick are sealed together; while
   * the transport is backed up nothing is sealed.
   */
  enqueue(type: FrameType, flags: number, payload?: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const o: Outgoing = { type, flags, payload, resolve, reject };
      this.#outbox.push(o);
      if (passesFullResend(o)) this.#passQueued++;
      this.#outboxBytes += FRAME_HEADER_LENGTH + (payload?.length ?? 0);
      if (!this.#flushScheduled && !this.#waitingDrain) {
        this.#flushScheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** The last DATA seq written (what the peer may acknowledge at most). */
  get sentSeq(): number {
    return this.#sendSeq;
  }

  /** Seals from now on with `channel` (the pipe moved to a new path, with its own keys). */
  setChannel(channel: SecureChannel): void {
    this.#channel = channel;
  }

  /** The peer lacks `items` (it delivered everything before): they go out first, in order, with their seqs. */
  requeue(items: readonly Unacked[]): void {
    const done = () => {};
    const again: Outgoing[] = items.map((x) => ({ type: FrameType.DATA, flags: x.flags, payload: x.payload, seq: x.seq, resolve: done, reject: done }));
    for (const o of again) this.#outboxBytes += FRAME_HEADER_LENGTH + (o.payload?.length ?? 0);
    this.#outbox.unshiftAll(again);
    this.#passQueued += again.length;
    this.kick();
  }

  /** Flushes again if frames wait (acknowledgements freed room, or a path became ready). */
  kick(): void {
    if (this.#outbox.length && !this.#flushScheduled && !this.#waitingDrain) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Writes one frame at once, ahead of anything queued (an ERROR before the pipe is destroyed; RESUME on a new path). */
  writeNow(type: FrameType, payload: Uint8Array): void {
    if (!this.#t.writable) return;
    const done = () => {};
    this.#writeRecord([{ type, flags: 0, payload, resolve: done, reject: done }]);
  }

  /** Fails every queued frame with `err` (the pipe is finished). */
  rejectAll(err: Error): void {
    this.#outboxBytes = 0;
    this.#passQueued = 0;
    for (const o of this.#outbox.takeAll()) o.reject(err);
    // Records handed to the transport whose write never called back (a transport cut
    // mid-write need not): their sends fail too, or they would wait forever.
    for (const batch of this.#written) for (const o of batch) o.reject(err);
    this.#written.clear();
  }

  /** Stops listening to the transport. */
  detach(): void {
    this.#t.off("drain", this.#onDrain);
  }

  #flush = () => {
    this.#flushScheduled = false;
    const limit = Math.min(BATCH_BYTES, this.#init.sendLimit + FRAME_HEADER_LENGTH);
    while (this.#outbox.length) {
      if (this.#init.failed() || !this.#t.writable) return this.rejectAll(this.#init.closedError());
      if (this.#t.needDrain) {
        this.#waitingDrain = true; // #onDrain flushes again
        return;
      }
      // What the peer has not acknowledged is bounded: new messages wait for its ACKs (kick()
      // flushes again). Our own ACKs, keepalives and messages written again must still go out,
      // or two full buffers would wait on each other for ever; CLOSE stays behind the messages.
      const { resend, resendLimit } = this.#init;
      if (resend && resendLimit !== undefined && resend.bytes >= resendLimit) {
        if (!this.#passQueued) return; // nothing but new messages (or CLOSE behind them): no scan per ACK
        const pass = this.#outbox.extract(passesFullResend);
        this.#passQueued = 0;
        for (const o of pass) this.#outboxBytes -= FRAME_HEADER_LENGTH + (o.payload?.length ?? 0);
        for (const o of pass) this.#writeRecord([o]);
        continue;
      }
      // A BATCH record costs one more header and a length prefix per frame.
      const batch = [this.#take()];
      let size = FRAME_HEADER_LENGTH + (batch[0].payload?.length ?? 0);
      let frameBytes = size;
      while (batch.length < BATCH_FRAMES && this.#outbox.length) {
        const next = LENGTH_PREFIX + FRAME_HEADER_LENGTH + (this.#outbox.peek()!.payload?.length ?? 0);
        const extra = batch.length === 1 ? LENGTH_PREFIX + FRAME_HEADER_LENGTH : 0;
        if (size + next + extra > limit) break;
        size += next + extra;
        frameBytes += next - LENGTH_PREFIX;
        batch.push(this.#take());
      }
      this.#outboxBytes -= frameBytes;
      this.#writeRecord(batch);
    }
  };

  #take(): Outgoing {
    const o = this.#outbox.shift()!;
    if (passesFullResend(o)) this.#passQueued--;
    return o;
  }

  #onDrain = () => {
    this.#waitingDrain = false;
    if (this.#outbox.length && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  };

  /** Seals one record (a frame, or a BATCH of frames) and writes it; settles every frame's promise. */
  #writeRecord(batch: Outgoing[]): void {
    const ack = this.#init.ackOut?.() ?? 0;
    const seqs = batch.map((o) => {
      if (o.type !== FrameType.DATA) return this.#sendSeq;
      if (o.seq !== undefined) return o.seq; // written again on a new path: already counted and kept
      this.#init.counters.messagesSent++;
      const seq = ++this.#sendSeq;
      this.#init.resend?.add({ seq, flags: o.flags, payload: o.payload ?? new Uint8Array(0) });
      return seq;
    });
    let plain: Uint8Array[];
    if (batch.length === 1) {
      const [o] = batch;
      const n = o.payload?.length ?? 0;
      if (n > FRAGMENT_PAYLOAD) return this.#writeFragments(o, seqs[0], ack);
      const header = encodeFrameHeader(o.type, o.flags, seqs[0], ack);
      plain = n ? [header, o.payload!] : [header]; // not copied together: the AEAD takes parts
    } else {
      // One buffer for the whole BATCH (it is at most BATCH_BYTES): one copy of each small
      // payload here is far cheaper than one cipher.update() call per part.
      let size = FRAME_HEADER_LENGTH;
      for (const o of batch) size += LENGTH_PREFIX + FRAME_HEADER_LENGTH + (o.payload?.length ?? 0);
      const buf = Buffer.allocUnsafe(size);
      writeFrameHeader(buf, 0, FrameType.BATCH, 0, this.#sendSeq, ack);
      let off = FRAME_HEADER_LENGTH;
      batch.forEach((o, i) => {
        const n = o.payload?.length ?? 0;
        buf.writeUInt32BE(FRAME_HEADER_LENGTH + n, off);
        writeFrameHeader(buf, off + LENGTH_PREFIX, o.type, o.flags, seqs[i], ack);
        off += LENGTH_PREFIX + FRAME_HEADER_LENGTH;
        if (n) buf.set(o.payload!, off);
        off += n;
      });
      plain = [buf];
    }
    this.#sealAndWrite(plain, batch);
  }

  /**
   * A message over one record's room goes as DATA fragments with one seq, each but the
   * last flagged MORE, each its own record (the receiver reassembles; docs/protocol.md).
   */
  #writeFragments(o: Outgoing, seq: number, ack: number): void {
    const payload = o.payload!;
    for (let off = 0; off < payload.length; off += FRAGMENT_PAYLOAD) {
      const end = Math.min(off + FRAGMENT_PAYLOAD, payload.length);
      const last = end === payload.length;
      const header = encodeFrameHeader(FrameType.DATA, last ? o.flags : o.flags | FrameFlags.MORE, seq, ack);
      this.#sealAndWrite([header, payload.subarray(off, end)], last ? [o] : []); // the send settles with its last fragment
    }
  }

  /** Seals one record and writes it; the frames in `batch` settle when the write calls back. */
  #sealAndWrite(plain: Uint8Array[], batch: Outgoing[]): void {
    const parts = this.#channel.seal(plain);
    this.lastSend = this.#init.clock.now();
    this.#written.add(batch);
    this.#t.write(parts, (err) => {
      if (!this.#written.delete(batch)) return; // already failed by rejectAll
      if (err) {
        const e = this.#init.closedError(err);
        for (const o of batch) o.reject(e);
      } else for (const o of batch) o.resolve();
    });
    for (const p of parts) this.#init.counters.bytesSent += p.length;
  }
}
