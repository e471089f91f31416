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
 * This module is the connection: the ByteTransport face, the datagrams in,
 * the receiving half (acks, the receive window, the peer's FIN) and the
 * close. What to send and when is the sender's (sender.ts).
 *
 * It implements the Pipe's ByteTransport, so a Pipe runs over it unchanged.
 */
import { EventEmitter } from "node:events";
import { PeerTimeoutError, PipeClosedError } from "../errors.ts";
import type { ByteTransport, TransportEvents } from "../pipe/transport.ts";
import { systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from "../util/clock.ts";
import type { Bbr } from "./bbr.ts";
import type { CongestionOptions, NewReno } from "./congestion.ts";
import { decodePacket, encodePacket, FLAG_DATA, FLAG_FIN, FLAG_RST, MAX_ACK_SACK, type Packet } from "./packet.ts";
import { Receiver } from "./receiver.ts";
import type { RtoEstimator, RtoOptions } from "./rto.ts";
import { concat } from "./send-queue.ts";
import { Sender } from "./sender.ts";

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
  readonly #o: Required<Pick<RudpOptions, "connId" | "key" | "send" | "receiveWindow" | "highWaterMark" | "maxTimeouts" | "ackDelayMs">>;
  readonly #clock: Clock;
  readonly #timers: Timers;
  // Sending.
  readonly #tx: Sender;
  #lingerTimer?: TimerHandle;
  #closed = false;
  #endDone?: () => void;
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
    this.#tx = new Sender(
      {
        clock: this.#clock,
        timers: this.#timers,
        highWaterMark: this.#o.highWaterMark,
        maxTimeouts: this.#o.maxTimeouts,
        stats: this.stats,
        transmit: (flags, seq, payload) => this.#transmit(flags, seq, payload),
        drain: () => this.emit("drain"),
        finAcked: () => {
          const done = this.#endDone;
          this.#endDone = undefined;
          done?.();
        },
        silent: () => this.#onSilent(),
      },
      o,
    );
    this.#rx = new Receiver(this.#o.receiveWindow, (b) => this.emit("data", b));
  }

  /** The congestion controller (BBR or NewReno). */
  get cc(): NewReno | Bbr {
    return this.#tx.cc;
  }

  /** The round-trip estimate and retransmission timeout. */
  get rtt(): RtoEstimator {
    return this.#tx.rtt;
  }

  // ── ByteTransport ──────────────────────────────────────────────────────

  write(chunks: readonly Uint8Array[], done?: (err?: Error | null) => void): boolean {
    if (!this.writable) {
      const err = new PipeClosedError("write after end or destroy");
      if (done) queueMicrotask(() => done(err));
      return false;
    }
    return this.#tx.write(chunks.length === 1 ? chunks[0] : concat(chunks), done);
  }

  end(done?: () => void): void {
    if (this.#tx.ending || this.#destroyed) {
      if (done) queueMicrotask(done);
      return;
    }
    this.#endDone = done;
    this.#tx.end();
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
    this.#stopTimers(err ?? new PipeClosedError("connection destroyed"));
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
    return this.#tx.writableLength;
  }

  get needDrain(): boolean {
    return this.#tx.needDrain;
  }

  get writable(): boolean {
    return !this.#destroyed && !this.#tx.ending;
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
    this.#tx.peerAlive();
    if (p.flags & FLAG_RST) {
      if (!this.#closed) this.destroy(new PipeClosedError("the peer reset the connection"));
      return;
    }
    if (this.#closed) {
      // Lingering after an orderly close: our last ack may have been lost, so answer again.
      if (p.flags & (FLAG_DATA | FLAG_FIN)) this.#sendAck(true);
      return;
    }
    this.#tx.onAck(p);
    if (p.flags & (FLAG_DATA | FLAG_FIN)) this.#onData(p);
    this.#tx.pump();
    this.#maybeClose();
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

  /** One packet of the sender's, with our ack, window and SACK ranges. */
  #transmit(flags: number, seq: number, payload?: Uint8Array): void {
    this.#o.send(encodePacket({ flags, connId: this.#o.connId, seq, ack: this.#rx.next, window: this.#rx.window(), sack: this.#rx.sackRanges(), payload }, this.#o.key));
    this.#ackSent();
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

  /** The peer stopped acknowledging (the sender's timeouts ran out). */
  #onSilent(): void {
    if (this.#endEmitted && this.#tx.onlyFinInFlight) {
      // Everything was delivered both ways; only the ack of our FIN is missing (the peer
      // closed and stopped lingering). That is an orderly end, not a failure.
      this.#closeQuietly();
      return;
    }
    this.destroy(new PeerTimeoutError(`the peer stopped acknowledging (${this.#o.maxTimeouts} timeouts in a row)`));
  }

  // ── Close ──────────────────────────────────────────────────────────────

  #maybeClose(): void {
    if (this.#tx.finAcked && this.#endEmitted && !this.#destroyed) this.#closeQuietly();
  }

  #closeQuietly(): void {
    this.#destroyed = true;
    this.#closed = true;
    this.#stopTimers();
    // Linger (like TCP's TIME-WAIT, shorter) to re-ack a FIN the peer resends.
    this.#lingerTimer = this.#timers.setTimeout(() => (this.#lingerTimer = undefined), LINGER_MS);
    this.#emitClose();
  }

  /** Every timer freed, the sender's too; `err` fails the writes still queued. */
  #stopTimers(err?: Error): void {
    this.#tx.stop(err);
    this.#timers.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    queueMicrotask(() => this.emit("close"));
  }
}
