/**
 * The sending half of a reliable-UDP connection: what to send and when. It
 * holds the send queue, the scoreboard of packets in flight, congestion
 * control (BBR or NewReno) and pacing, the peer's flow-control window, loss
 * detection (RACK's reorder timer, three SACKs past a hole) and the
 * retransmission timer (RFC 6298, Karn's rule). The connection
 * (connection.ts) puts each packet on the wire with its current ack fields,
 * and owns the receiving half and the close.
 */
import type { Clock, TimerHandle, Timers } from "../util/clock.ts";
import { Bbr } from "./bbr.ts";
import { NewReno, type CongestionOptions } from "./congestion.ts";
import { FLAG_DATA, FLAG_FIN, MAX_PAYLOAD, type Packet } from "./packet.ts";
import { Pacer } from "./pacer.ts";
import { RtoEstimator, type RtoOptions } from "./rto.ts";
import { Scoreboard, type Sent } from "./scoreboard.ts";
import { SendQueue } from "./send-queue.ts";

/** What the sender asks of its connection. */
export interface SenderHost {
  clock: Clock;
  timers: Timers;
  /** write() returns false above this many unsent + unacknowledged bytes. */
  highWaterMark: number;
  /** Consecutive timeouts before the peer counts as gone. */
  maxTimeouts: number;
  /** The counters the sender keeps (the connection's stats). */
  stats: { sent: number; retransmitted: number; timeouts: number };
  /** Puts one packet on the wire; the connection adds the ack, window and SACK fields. */
  transmit(flags: number, seq: number, payload?: Uint8Array): void;
  /** The buffered bytes fell below half the high-water mark after write() had returned false. */
  drain(): void;
  /** The peer acknowledged our FIN. */
  finAcked(): void;
  /** More than maxTimeouts retransmission timeouts in a row without an authentic packet from the peer. */
  silent(): void;
}

export interface SenderOptions {
  controller?: "bbr" | "newreno";
  congestion?: CongestionOptions;
  rto?: RtoOptions;
}

export class Sender {
  readonly cc: NewReno | Bbr;
  readonly rtt: RtoEstimator;
  readonly #h: SenderHost;
  readonly #queue = new SendQueue();
  readonly #sb = new Scoreboard();
  readonly #pacer = new Pacer();
  #peerAck = 1;
  #peerWindow = 16;
  #silentTimeouts = 0;
  #reorderTimer?: TimerHandle;
  #paceTimer?: TimerHandle;
  #rtoTimer?: TimerHandle;
  #ending = false;
  #finSeq?: number;
  #needDrain = false;
  #stopped = false;

  constructor(host: SenderHost, o: SenderOptions) {
    this.#h = host;
    this.cc = o.controller === "newreno" ? new NewReno(o.congestion) : new Bbr(o.congestion?.initialWindow);
    this.rtt = new RtoEstimator(o.rto);
  }

  /** Queues `bytes` (`done` once they are acknowledged); false once the buffer is above the high-water mark. */
  write(bytes: Uint8Array, done?: (err?: Error | null) => void): boolean {
    this.#queue.push(bytes, done);
    this.pump();
    if (this.writableLength >= this.#h.highWaterMark) this.#needDrain = true;
    return !this.#needDrain;
  }

  /** Sends a FIN after the queued bytes. */
  end(): void {
    this.#ending = true;
    this.pump();
  }

  get ending(): boolean {
    return this.#ending;
  }

  get writableLength(): number {
    return this.#queue.bytes + this.#sb.unackedBytes;
  }

  get needDrain(): boolean {
    return this.#needDrain;
  }

  /** Our FIN was sent and acknowledged. */
  get finAcked(): boolean {
    return this.#finSeq !== undefined && this.#sb.una > this.#finSeq;
  }

  /** Only our FIN is still unacknowledged (everything else was delivered). */
  get onlyFinInFlight(): boolean {
    return this.#finSeq !== undefined && this.#sb.size === 1 && this.#sb.get(this.#finSeq) !== undefined;
  }

  /** An authentic packet came from the peer: it is there. */
  peerAlive(): void {
    this.#silentTimeouts = 0;
  }

  /** The ack fields of an authentic packet from the peer. */
  onAck(p: Packet): void {
    if (p.ack > this.#sb.nextSeq) return; // acks for packets never sent: forged or corrupt
    this.#peerWindow = p.window;
    this.#peerAck = Math.max(this.#peerAck, p.ack);
    const r = this.#sb.ack(p, this.#h.clock.now());
    if (r.sample !== undefined) this.rtt.sample(r.sample);
    if (r.newly > 0) {
      if (this.cc instanceof Bbr) {
        if (r.rate) this.cc.onSample(r.rate, this.#sb.pipe, this.#h.clock.now(), r.newly);
      } else this.cc.onAck(r.newly, this.#sb.una);
      this.#restartRto();
    }
    if (r.finAcked) this.#h.finAcked();
    this.#detectLoss();
    if (this.#needDrain && this.writableLength < this.#h.highWaterMark / 2) {
      this.#needDrain = false;
      this.#h.drain();
    }
  }

  /** Sends what the windows and the pacer allow: lost packets first, then new ones, then the FIN. */
  pump(): void {
    if (this.#stopped) return;
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

  /** Stops for good: no more sends, every timer freed; `err` fails the writes still queued. */
  stop(err?: Error): void {
    this.#stopped = true;
    this.#h.timers.clearTimeout(this.#rtoTimer);
    this.#h.timers.clearTimeout(this.#reorderTimer);
    this.#h.timers.clearTimeout(this.#paceTimer);
    this.#rtoTimer = this.#reorderTimer = this.#paceTimer = undefined;
    if (err) this.#queue.fail(err);
  }

  #detectLoss(): void {
    const { lost, waitMs } = this.#sb.detectLoss(this.#h.clock.now());
    if (lost > 0) {
      if (this.cc instanceof NewReno) this.cc.onLoss(this.#sb.pipe + lost, this.#sb.nextSeq - 1);
      else this.cc.onLoss(lost);
    }
    this.#h.timers.clearTimeout(this.#reorderTimer);
    this.#reorderTimer = undefined;
    if (Number.isFinite(waitMs)) {
      this.#reorderTimer = this.#h.timers.setTimeout(() => {
        this.#reorderTimer = undefined;
        this.#detectLoss();
        this.pump();
      }, Math.ceil(waitMs));
    }
  }

  /** Pacing (BBR's rate; NewReno sends its window at once). */
  #paceOk(): boolean {
    const wait = this.#pacer.wait(this.cc instanceof Bbr ? this.cc.pacingRate : Infinity, this.#h.clock.now());
    if (wait === 0) return true;
    this.#paceTimer ??= this.#h.timers.setTimeout(() => {
      this.#paceTimer = undefined;
      this.pump();
    }, wait);
    return false;
  }

  /** Something to send: a lost packet, queued bytes, or the FIN (window checks come after). */
  #hasWork(): boolean {
    return this.#sb.firstLost() !== undefined || !this.#queue.empty || (this.#ending && this.#finSeq === undefined);
  }

  /** The next packet from the queue (up to MAX_PAYLOAD bytes), or the FIN once the queue is empty. */
  #nextPacket(): Sent | undefined {
    const now = this.#h.clock.now();
    const payload = this.#queue.take(MAX_PAYLOAD);
    if (payload) return { payload, fin: false, sentAt: now, retransmitted: false, sacked: false, lost: false };
    if (this.#ending && this.#finSeq === undefined) {
      this.#finSeq = this.#sb.nextSeq;
      return { fin: true, sentAt: now, retransmitted: false, sacked: false, lost: false };
    }
    return undefined;
  }

  #transmit(seq: number, e: Sent, retransmission: boolean): void {
    if (retransmission) {
      this.#sb.resent(seq, this.#h.clock.now());
      this.#h.stats.retransmitted++;
    }
    this.#h.transmit((e.payload ? FLAG_DATA : 0) | (e.fin ? FLAG_FIN : 0), seq, e.payload);
    this.#h.stats.sent++;
    this.#rtoTimer ??= this.#h.timers.setTimeout(() => this.#onRto(), this.rtt.rto);
  }

  #restartRto(): void {
    this.#h.timers.clearTimeout(this.#rtoTimer);
    this.#rtoTimer = undefined;
    if (this.#sb.size > 0) this.#rtoTimer = this.#h.timers.setTimeout(() => this.#onRto(), this.rtt.rto);
  }

  #onRto(): void {
    this.#rtoTimer = undefined;
    if (this.#stopped || this.#sb.size === 0) return;
    this.#h.stats.timeouts++;
    this.rtt.backoff();
    if (++this.#silentTimeouts > this.#h.maxTimeouts) return this.#h.silent();
    if (this.cc instanceof NewReno) this.cc.onTimeout(this.#sb.pipe);
    else this.cc.onTimeout();
    // After a timeout everything unSACKed is presumed lost; resend from the oldest.
    this.#sb.markAllLost();
    const first = this.#sb.firstLost();
    if (first !== undefined) this.#transmit(first, this.#sb.get(first)!, true);
    this.pump();
  }
}
