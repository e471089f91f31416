/**
 * Keepalive and dead-peer detection (docs/protocol.md#liveness-and-closing):
 * a PING when nothing was sent for keepaliveInterval, the PONG's echo gives
 * the round-trip time, and silence longer than deadPeerTimeout fails the pipe
 * with PeerTimeoutError. What the peer makes us send is bounded: one PONG
 * outstanding, none while the outbox is over its budget.
 */
import { FrameError, PeerTimeoutError } from "../errors.ts";
import { FrameType, PING_PAYLOAD_LENGTH } from "../session/frame.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { RecordWriter } from "./record-writer.ts";
import { tickerFor, type Untick } from "./ticker.ts";

export interface LivenessInit {
  writer: RecordWriter;
  clock: Clock;
  timers: Timers;
  keepaliveInterval: number;
  deadPeerTimeout: number;
  /**
   * "initiator": PING after keepaliveInterval without sending. "responder": answers the
   * initiator's PINGs, and PINGs itself only while it is not reading or when it also heard
   * nothing for over 2 × keepaliveInterval (the initiator's PINGs stopped coming; a PING is
   * at most one check period late, and a period is at most one interval), so an idle pipe
   * costs one PING and one PONG per interval, not two of each.
   */
  role: "initiator" | "responder";
  /** PINGs go unanswered while more than this waits to be written. */
  sendBudget: number;
  /** True while the pipe is not reading (its silence is ours, not the peer's). */
  paused: () => boolean;
  /** True once the pipe is closed: nothing more is sent. */
  closed: () => boolean;
  /** The peer is gone. */
  onDead: (err: PeerTimeoutError) => void;
}

export { unref } from "./ticker.ts";

export class Liveness {
  readonly #init: LivenessInit;
  readonly #tick: number;
  #untick?: Untick;
  #lastRecv: number;
  /** A PONG is queued or being written: further PINGs are not answered again (one outstanding). */
  #pongPending = false;
  /** Our own keepalive is queued or being written: the next tick does not add another. */
  #pingPending = false;
  /** Last measured round-trip time (ms). */
  rtt?: number;

  constructor(init: LivenessInit) {
    this.#init = init;
    this.#lastRecv = init.clock.now();
    this.#tick = Math.max(5, Math.min(init.keepaliveInterval, init.deadPeerTimeout / 4));
    this.#untick = tickerFor(init.timers).add(this.#onTick, this.#tick);
  }

  /** Bytes arrived (or reading resumed): the peer is alive. */
  heard(): void {
    this.#lastRecv = this.#init.clock.now();
  }

  /** Leaves the shared ticker. Idempotent. */
  stop(): void {
    this.#untick?.();
    this.#untick = undefined;
  }

  onPing(payload: Buffer): void {
    if (payload.length !== PING_PAYLOAD_LENGTH) throw new FrameError(`a PING carries ${payload.length} bytes; it must carry ${PING_PAYLOAD_LENGTH}`);
    // A peer that sends PINGs and never reads must not make us hold its answers:
    // one PONG at a time, and none while what waits to be written is over budget.
    const { writer } = this.#init;
    if (this.#init.closed() || this.#pongPending || writer.pendingBytes > this.#init.sendBudget) return;
    this.#pongPending = true;
    const done = () => void (this.#pongPending = false);
    // A copy: the payload is a view that would keep the whole decrypted record alive.
    writer.enqueue(FrameType.PONG, 0, Buffer.from(payload)).then(done, done);
  }

  onPong(payload: Buffer): void {
    if (payload.length !== PING_PAYLOAD_LENGTH) throw new FrameError(`a PONG carries ${payload.length} bytes; it must carry ${PING_PAYLOAD_LENGTH}`);
    // Our own timestamp, echoed; a clock stepped back must not give a negative time.
    this.rtt = Math.max(0, this.#init.clock.now() - Number(payload.readBigUInt64BE(0)));
  }

  #onTick = () => {
    const { clock, writer, deadPeerTimeout, keepaliveInterval, role } = this.#init;
    const now = clock.now();
    const paused = this.#init.paused();
    if (paused) this.#lastRecv = now;
    if (now - this.#lastRecv > deadPeerTimeout) {
      this.stop();
      this.#init.onDead(new PeerTimeoutError(`the peer sent nothing for ${deadPeerTimeout} ms; assuming it is gone`));
      return;
    }
    // lastSend does not move while the transport is backed up: without #pingPending every tick would queue one more.
    // A responder that is not reading cannot see the initiator's PINGs: it must keep the initiator hearing from it.
    const pings = role === "initiator" || paused || now - this.#lastRecv > 2 * keepaliveInterval;
    const quiet = now - writer.lastSend >= keepaliveInterval && pings;
    if (!this.#init.closed() && !this.#pingPending && quiet) {
      const ts = Buffer.allocUnsafe(PING_PAYLOAD_LENGTH);
      ts.writeBigUInt64BE(BigInt(Math.floor(now)));
      this.#pingPending = true;
      const done = () => void (this.#pingPending = false);
      writer.enqueue(FrameType.PING, 0, ts).then(done, done);
    }
    if (this.#init.closed()) this.stop();
  };
}
