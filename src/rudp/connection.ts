/**
 * A reliable, ordered, flow- and congestion-controlled byte stream over
 * datagrams that may be lost, reordered or duplicated (a TURN UDP channel).
 * Packet numbers with cumulative acks and SACK ranges, retransmission on an
 * RFC 6298 timer (Karn's rule) and on three SACKed packets past a hole (fast
 * retransmit), NewReno windows, a receive window that closes while the reader
 * is paused, delayed acks, an orderly FIN in each direction and RST. Every
 * datagram is authenticated (packet.ts). Time comes from the injected clock
 * and timers, so the whole machine runs on FakeTime in tests.
 *
 * It implements the Pipe's ByteTransport, so a Pipe runs over it unchanged.
 */
import { EventEmitter } from "node:events";
import { PeerTimeoutError, PipeClosedError } from "../errors.ts";
import type { ByteTransport, TransportEvents } from "../pipe/transport.ts";
import { systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from "../util/clock.ts";
import { Bbr } from "./bbr.ts";
import { NewReno, type CongestionOptions } from "./congestion.ts";
import { decodePacket, encodePacket, FLAG_DATA, FLAG_FIN, FLAG_RST, MAX_ACK_SACK, MAX_PAYLOAD, type Packet } from "./packet.ts";
import { Receiver } from "./receiver.ts";
import { Scoreboard, type Sent } from "./scoreboard.ts";
import { concat, SendQueue } from "./send-queue.ts";
import { Pacer } from "./pacer.ts";
import { RtoEstimator, type RtoOptions } from "./rto.ts";

export interface RudpOptions {
  /** Both ends use the same id; packets with another are dropped. */
  connId: number;
  /** The shared datagram key (≥ 16 bytes), agreed out of band. */
  key: Uint8Array;
  /** Sends one datagram towards the peer (best effort). */
  send: (datagram: Uint8Array) => void;
  clock?: Clock;
  timers?: Timers;
  /** Packets we buffer beyond the cumulative ack (the receive window). @default 2048 */
  receiveWindow?: number;
  /** write() returns false above this many unsent + unacknowledged bytes. @default 1 MiB */
  highWaterMark?: number;
  /** Consecutive timeouts before the peer counts as gone. @default 10 */
  maxTimeouts?: number;
  /** Delayed-ack timer; every second in-order packet is acked at once. @default 10 */
  ackDelayMs?: number;
  /** Congestion control: "bbr" (model-based, keeps its rate under random loss) or "newreno" (loss-based). @default "bbr" */
  controller?: "bbr" | "newreno";
  /** NewReno's options. */
  congestion?: CongestionOptions;
  rto?: RtoOptions;
}


/** How long a closed connection still answers a resent FIN. */
export const LINGER_MS = 30_000;

export interface RudpStats {
  sent: number;
  retransmitted: number;
  received: number;
  duplicates: number;
  /** Datagrams dropped: bad tag, other connection, malformed. */
  forged: number;
  timeouts: number;
}


export class RudpConnection extends EventEmitter<TransportEvents> implements ByteTransport {
  readonly stats: RudpStats = { sent: 0, retransmitted: 0, received: 0, duplicates: 0, forged: 0, timeouts: 0 };
  readonly cc: NewReno | Bbr;
  readonly rtt: RtoEstimator;
  readonly #o: Required<Pick<RudpOptions, "connId" | "key" | "send" | "receiveWindow" | "highWaterMark" | "maxTimeouts" | "ackDelayMs">>;
  readonly #clock: Clock;
  readonly #timers: Timers;
  // Sending.
  readonly #queue = new SendQueue();
  readonly #sb = new Scoreboard();
  #peerAck = 1;
  #peerWindow = 16;
  #silentTimeouts = 0;
  #reorderTimer?: TimerHandle;
  #paceTimer?: TimerHandle;
  readonly #pacer = new Pacer();
  #lingerTimer?: TimerHandle;
  #closed = false;
  #endRequested = false;
  #endDone?: () => void;
  #finSeq?: number;
  #needDrain = false;
  #rtoTimer?: TimerHandle;
  // Receiving.
  readonly #rx: Receiver;
  #endEmitted = false;
  #unackedIn = 0;
  #ackTimer?: TimerHandle;
  #advertised = 0;
  // Lifecycle.
  #destroyed = false;
  #closeEmitted = false;

  constructor(o: RudpOptions) {
    super();
    if (!(o.key instanceof Uint8Array) || o.key.length < 16) throw new RangeError("the datagram key must be at least 16 bytes");
    this.#o = { receiveWindow: 2048, highWaterMark: 1 << 20, maxTimeouts: 10, ackDelayMs: 10, ...o };
    this.#clock = o.clock ?? systemClock;
    this.#timers = o.timers ?? systemTimers;
    this.cc = o.controller === "newreno" ? new NewReno(o.congestion) : new Bbr(o.congestion?.initialWindow);
    this.rtt = new RtoEstimator(o.rto);
    this.#rx = new Receiver(this.#o.receiveWindow, (b) => this.emit("data", b));
  }

  // ── ByteTransport ──────────────────────────────────────────────────────

  write(chunks: readonly Uint8Array[], done?: (err?: Error | null) => void): boolean {
    if (!this.writable) {
      const err = new PipeClosedError("write after end or destroy");
      if (done) queueMicrotask(() => done(err));
      return false;
    }
    const bytes = chunks.length === 1 ? chunks[0] : concat(chunks);
    this.#queue.push(bytes, done);
    this.#pump();
    if (this.writableLength >= this.#o.highWaterMark) this.#needDrain = true;
    return !this.#needDrain;
  }

  end(done?: () => void): void {
    if (this.#endRequested || this.#destroyed) {
      if (done) queueMicrotask(done);
      return;
    }
    this.#endRequested = true;
    this.#endDone = done;
    this.#pump();
  }

  destroy(err?: Error): void {
    if (this.#closed) {
      this.#timers.clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
      return;
    }
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#o.send(encodePacket({ flags: FLAG_RST, connId: this.#o.connId, seq: 0, ack: this.#rx.next, window: 0, sack: [] }, this.#o.key));
    this.#stopTimers();
    const failed = err ?? new PipeClosedError("connection destroyed");
    this.#queue.fail(failed);
    if (err) this.emit("error", err);
    this.#emitClose();
  }

  pause(): void {
    this.#rx.pause();
  }

  resume(): void {
    if (!this.#rx.paused) return;
    for (const b of this.#rx.resume()) this.emit("data", b);
    this.#maybeEmitEnd();
    // The window reopened: tell the sender, or it waits for a probe.
    if (this.#rx.window() > this.#advertised) this.#sendAck();
  }

  get writableLength(): number {
    return this.#queue.bytes + this.#sb.unackedBytes;
  }

  get needDrain(): boolean {
    return this.#needDrain;
  }

  get writable(): boolean {
    return !this.#destroyed && !this.#endRequested;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  // ── Input ──────────────────────────────────────────────────────────────

  /** One datagram from the link. Hostile input is counted and dropped, never thrown. */
  input(datagram: Uint8Array): void {
    if (this.#destroyed && !this.#closed) return;
    if (this.#closed && this.#lingerTimer === undefined) return;
    const r = decodePacket(datagram, this.#o.key, this.#o.connId);
    if (!r.ok) {
      this.stats.forged++;
      return;
    }
    const p = r.packet;
    this.stats.received++;
    // Any authentic packet proves the peer is there (a zero-window probe's answer included).
    this.#silentTimeouts = 0;
    if (p.flags & FLAG_RST) {
      if (!this.#closed) this.destroy(new PipeClosedError("the peer reset the connection"));
      return;
    }
    if (this.#closed) {
      // Lingering after an orderly close: our last ack may have been lost, so answer again.
      if (p.flags & (FLAG_DATA | FLAG_FIN)) this.#sendAck(true);
      return;
    }
    this.#onAck(p);
    if (p.flags & (FLAG_DATA | FLAG_FIN)) this.#onData(p);
    this.#pump();
    this.#maybeClose();
  }

  #onAck(p: Packet): void {
    if (p.ack > this.#sb.nextSeq) return; // acks for packets never sent: forged or corrupt
    this.#peerWindow = p.window;
    this.#peerAck = Math.max(this.#peerAck, p.ack);
    const r = this.#sb.ack(p, this.#clock.now());
    if (r.sample !== undefined) this.rtt.sample(r.sample);
    if (r.newly > 0) {
      if (this.cc instanceof Bbr) {
        if (r.rate) this.cc.onSample(r.rate, this.#sb.pipe, this.#clock.now(), r.newly);
      } else this.cc.onAck(r.newly, this.#sb.una);
      this.#restartRto();
    }
    if (r.finAcked) {
      const done = this.#endDone;
      this.#endDone = undefined;
      done?.();
    }
    this.#detectLoss();
    if (this.#needDrain && this.writableLength < this.#o.highWaterMark / 2) {
      this.#needDrain = false;
      this.emit("drain");
    }
  }

  #detectLoss(): void {
    const { lost, waitMs } = this.#sb.detectLoss(this.#clock.now());
    if (lost > 0) {
      if (this.cc instanceof NewReno) this.cc.onLoss(this.#sb.pipe + lost, this.#sb.nextSeq - 1);
      else this.cc.onLoss(lost);
    }
    this.#timers.clearTimeout(this.#reorderTimer);
    this.#reorderTimer = undefined;
    if (Number.isFinite(waitMs)) {
      this.#reorderTimer = this.#timers.setTimeout(() => {
        this.#reorderTimer = undefined;
        this.#detectLoss();
        this.#pump();
      }, Math.ceil(waitMs));
    }
  }

  #onData(p: Packet): void {
    const fin = (p.flags & FLAG_FIN) !== 0;
    const r = this.#rx.accept(p, fin);
    if (r === "duplicate") this.stats.duplicates++;
    this.#maybeEmitEnd();
    // Acks at once for anything unusual (a gap, a duplicate, a FIN, a full window); else every second packet or after the delay.
    if (r !== "in-order" || fin) this.#sendAck();
    else if (++this.#unackedIn >= 2) this.#sendAck();
    else this.#ackTimer ??= this.#timers.setTimeout(() => this.#sendAck(), this.#o.ackDelayMs);
  }

  #maybeEmitEnd(): void {
    if (this.#endEmitted || !this.#rx.ended) return;
    this.#endEmitted = true;
    this.emit("end");
  }

  // ── Output ─────────────────────────────────────────────────────────────

  /** Pacing (BBR's rate; NewReno sends its window at once). */
  #paceOk(): boolean {
    const wait = this.#pacer.wait(this.cc instanceof Bbr ? this.cc.pacingRate : Infinity, this.#clock.now());
    if (wait === 0) return true;
    this.#paceTimer ??= this.#timers.setTimeout(() => {
      this.#paceTimer = undefined;
      this.#pump();
    }, wait);
    return false;
  }

  #pump(): void {
    if (this.#destroyed) return;
    for (;;) {
      if (!this.cc.canSend(this.#sb.pipe)) break;
      if (!this.#hasWork() || !this.#paceOk()) break;
      const lost = this.#sb.firstLost();
      if (lost !== undefined) {
        this.#transmit(lost, this.#sb.get(lost)!, true);
        continue;
      }
      // Flow control: the peer takes packets below peerAck + window; one probe while it is shut.
      const shut = this.#sb.nextSeq >= this.#peerAck + this.#peerWindow;
      if (shut && (this.#sb.size > 0 || this.#peerWindow > 0)) break;
      const e = this.#nextPacket();
      if (!e) break;
      this.#transmit(this.#sb.add(e), e, false);
      if (shut) break;
    }
  }

  /** Something to send: a lost packet, queued bytes, or the FIN (window checks come after). */
  #hasWork(): boolean {
    return this.#sb.firstLost() !== undefined || !this.#queue.empty || (this.#endRequested && this.#finSeq === undefined);
  }

  /** The next packet from the queue (up to MAX_PAYLOAD bytes), or the FIN once the queue is empty. */
  #nextPacket(): Sent | undefined {
    const now = this.#clock.now();
    const payload = this.#queue.take(MAX_PAYLOAD);
    if (payload) return { payload, fin: false, sentAt: now, retransmitted: false, sacked: false, lost: false };
    if (this.#endRequested && this.#finSeq === undefined) {
      this.#finSeq = this.#sb.nextSeq;
      return { fin: true, sentAt: now, retransmitted: false, sacked: false, lost: false };
    }
    return undefined;
  }

  #transmit(seq: number, e: Sent, retransmission: boolean): void {
    if (retransmission) {
      this.#sb.resent(seq, this.#clock.now());
      this.stats.retransmitted++;
    }
    const flags = (e.payload ? FLAG_DATA : 0) | (e.fin ? FLAG_FIN : 0);
    this.#o.send(encodePacket({ flags, connId: this.#o.connId, seq, ack: this.#rx.next, window: this.#rx.window(), sack: this.#rx.sackRanges(), payload: e.payload }, this.#o.key));
    this.stats.sent++;
    this.#ackSent();
    this.#rtoTimer ??= this.#timers.setTimeout(() => this.#onRto(), this.rtt.rto);
  }

  #sendAck(lingering = false): void {
    if (this.#destroyed && !lingering) return;
    this.#o.send(encodePacket({ flags: 0, connId: this.#o.connId, seq: 0, ack: this.#rx.next, window: this.#rx.window(), sack: this.#rx.sackRanges(MAX_ACK_SACK) }, this.#o.key));
    this.#ackSent();
  }

  #ackSent(): void {
    this.#unackedIn = 0;
    this.#advertised = this.#rx.window();
    this.#timers.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
  }

  #restartRto(): void {
    this.#timers.clearTimeout(this.#rtoTimer);
    this.#rtoTimer = undefined;
    if (this.#sb.size > 0) this.#rtoTimer = this.#timers.setTimeout(() => this.#onRto(), this.rtt.rto);
  }

  #onRto(): void {
    this.#rtoTimer = undefined;
    if (this.#destroyed || this.#sb.size === 0) return;
    this.stats.timeouts++;
    this.rtt.backoff();
    if (++this.#silentTimeouts > this.#o.maxTimeouts) {
      if (this.#endEmitted && this.#finSeq !== undefined && this.#sb.size === 1 && this.#sb.get(this.#finSeq) !== undefined) {
        // Everything was delivered both ways; only the ack of our FIN is missing (the peer
        // closed and stopped lingering). That is an orderly end, not a failure.
        this.#closeQuietly();
        return;
      }
      this.destroy(new PeerTimeoutError(`the peer stopped acknowledging (${this.#o.maxTimeouts} timeouts in a row)`));
      return;
    }
    if (this.cc instanceof NewReno) this.cc.onTimeout(this.#sb.pipe);
    else this.cc.onTimeout();
    // After a timeout everything unSACKed is presumed lost; resend from the oldest.
    this.#sb.markAllLost();
    const first = this.#sb.firstLost();
    if (first !== undefined) this.#transmit(first, this.#sb.get(first)!, true);
    this.#pump();
  }

  // ── Close ──────────────────────────────────────────────────────────────

  #maybeClose(): void {
    const ourFinAcked = this.#finSeq !== undefined && this.#sb.una > this.#finSeq;
    if (ourFinAcked && this.#endEmitted && !this.#destroyed) this.#closeQuietly();
  }

  #closeQuietly(): void {
    this.#destroyed = true;
    this.#closed = true;
    this.#stopTimers();
    // Linger (like TCP's TIME-WAIT, shorter) to re-ack a FIN the peer resends.
    this.#lingerTimer = this.#timers.setTimeout(() => (this.#lingerTimer = undefined), LINGER_MS);
    this.#emitClose();
  }

  #stopTimers(): void {
    this.#timers.clearTimeout(this.#rtoTimer);
    this.#timers.clearTimeout(this.#ackTimer);
    this.#timers.clearTimeout(this.#reorderTimer);
    this.#timers.clearTimeout(this.#paceTimer);
    this.#rtoTimer = this.#ackTimer = this.#reorderTimer = this.#paceTimer = undefined;
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    queueMicrotask(() => this.emit("close"));
  }
}
