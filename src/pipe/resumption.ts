/**
 * What makes a pipe resumable (docs/protocol.md, "Moving a pipe to a new
 * path"): written DATA frames are kept until the peer acknowledges them (the
 * `ack` of every frame header, and an ACK frame when we have little to send);
 * received DATA seqs at or below the last one delivered are dropped; a lost
 * path starts the resume window; a new path begins with a RESUME frame that
 * proves, under a key only this session's two peers hold, that the new path
 * belongs to this session, and says what was delivered, so each side writes
 * again exactly what the other lacks.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { FrameError, PipeClosedError } from "../errors.ts";
import { FrameType, type Frame } from "../session/frame.ts";
import type { HandshakeResult } from "../session/handshake.ts";
import type { TimerHandle, Timers } from "../util/clock.ts";
import { PathTransport, retire } from "./path-transport.ts";
import type { RecordWriter } from "./record-writer.ts";
import { ResendBuffer } from "./resend.ts";
import type { ByteTransport } from "./transport.ts";

/** ACK after this many DATA frames or bytes received since the last one… */
const ACK_EVERY_FRAMES = 32;
const ACK_EVERY_BYTES = 256 * 1024;
/** …or this long after the first unacknowledged one (a sender waiting at its limit needs it). */
const ACK_DELAY_MS = 20;

/** How a pipe moved: from the strategy of the old path to that of the new, because the old was lost or the new is better. */
export interface PathMove {
  from: string;
  to: string;
  why: "lost" | "better";
}

/**
 * A resumable pipe's path: "lost" (sends wait; said again if a new path dies
 * before it is proven), "resumed" on a new path (`resent`: messages written
 * again because the peer lacked them).
 */
export type PathEvent = { state: "lost"; error: Error } | ({ state: "resumed"; resent: number } & PathMove);

export interface ResumptionInit {
  first: ByteTransport;
  session: HandshakeResult;
  /** Our role in the session the pipe started with (the proof says who sends it). */
  role: "initiator" | "responder";
  window: number;
  timers: Timers;
  /** The pipe is open (a lost path is resumed, not the end). */
  open: () => boolean;
  onPath: (e: PathEvent) => void;
  /** The window passed without a new path. */
  onExpired: (err: Error) => void;
}

export class Resumption {
  readonly path: PathTransport;
  readonly resend = new ResendBuffer();
  readonly #init: ResumptionInit;
  readonly #key: Buffer;
  #writer?: RecordWriter;
  /** Highest DATA seq delivered. */
  delivered = 0;
  #sinceAckFrames = 0;
  #sinceAckBytes = 0;
  #ackTimer?: TimerHandle;
  #windowTimer?: TimerHandle;
  /** The binding of the new path whose RESUME we wait for, and what the move is. */
  #awaiting?: Buffer;
  #move?: PathMove;
  /**
   * The path a move replaces, kept (unread) until the new one is proven: the
   * peer may still be about to take the new path, and cutting the old one
   * first would look to it like a loss.
   */
  #old?: ByteTransport;

  constructor(init: ResumptionInit) {
    this.#init = init;
    this.#key = init.session.resumeKey;
    this.path = new PathTransport(init.first, { resumable: () => init.open(), onLost: (err) => this.#lost(err) });
  }

  /** The writer, once the pipe has one (it sends our ACKs and RESUME). */
  bind(writer: RecordWriter): void {
    this.#writer = writer;
  }

  /** Names this session on a new path's handshake (not secret: the RESUME proof is what counts). */
  get id(): string {
    return createHmac("sha256", this.#key).update("p2pnode/1 resume id").digest("hex").slice(0, 32);
  }

  get suspended(): boolean {
    return this.#windowTimer !== undefined || this.#awaiting !== undefined;
  }

  /**
   * Every frame from the peer, before the pipe handles it. Returns false for
   * one to drop (a DATA frame delivered before); handles RESUME itself.
   */
  onFrame(frame: Frame): boolean {
    if (this.#awaiting) {
      if (frame.type !== FrameType.RESUME) throw new FrameError(`a new path must begin with RESUME, got frame type ${frame.type}`);
      this.#resumed(frame);
      return false;
    }
    if (frame.type === FrameType.RESUME) throw new FrameError("RESUME on a path that is not new");
    this.#checkAck(frame.ack);
    if (frame.ack && this.resend.ack(frame.ack)) this.#writer?.kick();
    if (frame.type !== FrameType.DATA) return true;
    if (frame.seq <= this.delivered) return false; // written again on the new path, but we had it
    this.delivered = frame.seq;
    this.#sinceAckFrames++;
    this.#sinceAckBytes += frame.payload.length;
    if (this.#sinceAckFrames >= ACK_EVERY_FRAMES || this.#sinceAckBytes >= ACK_EVERY_BYTES) this.#sendAck();
    else this.#ackTimer ??= this.#init.timers.setTimeout(() => this.#sendAck(), ACK_DELAY_MS);
    return true;
  }

  /** Takes `session` over `transport` as the new path; the peer must answer with its RESUME. */
  attach(transport: ByteTransport, session: HandshakeResult, writer: RecordWriter, move: PathMove): void {
    const old = this.path.attach(transport, false);
    if (old) {
      if (this.#old) retire(this.#old);
      this.#old = old;
    }
    this.#awaiting = session.binding;
    this.#move = move;
    // A new path that never proves itself must not hold the pipe forever: the window bounds it.
    this.#startWindow(new PipeClosedError("the new path did not prove the session"));
    writer.setChannel(session.channel);
    writer.writeNow(FrameType.RESUME, this.#proof(this.#init.role, session.binding));
  }

  /** Frees the timers. Idempotent. */
  stop(): void {
    this.#init.timers.clearTimeout(this.#ackTimer);
    this.#init.timers.clearTimeout(this.#windowTimer);
    this.#ackTimer = this.#windowTimer = undefined;
    this.resend.clear();
    this.#retireOld();
  }

  #retireOld(): void {
    if (this.#old) retire(this.#old);
    this.#old = undefined;
  }

  #sendAck(): void {
    this.#init.timers.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#sinceAckFrames = this.#sinceAckBytes = 0;
    if (this.#init.open() && !this.suspended) this.#writer?.enqueue(FrameType.ACK, 0).catch(() => {});
  }

  #lost(err: Error): void {
    this.#awaiting = undefined;
    this.#retireOld();
    this.#startWindow(err);
    // Said on every loss, also of a new path not yet proven: whoever finds paths tries again.
    this.#init.onPath({ state: "lost", error: err });
  }

  /** Starts the resume window unless it runs: at its end without a proven path, the pipe fails. */
  #startWindow(err: Error): void {
    if (this.#windowTimer) return;
    this.#windowTimer = this.#init.timers.setTimeout(() => {
      this.#windowTimer = undefined;
      this.#init.onExpired(new PipeClosedError(`the path was lost (${err.message}) and no new one came within ${this.#init.window} ms`, { cause: err }));
    }, this.#init.window);
  }

  #resumed(frame: Frame): void {
    const binding = this.#awaiting!;
    const want = this.#proof(this.#init.role === "initiator" ? "responder" : "initiator", binding);
    if (frame.payload.length !== want.length || !timingSafeEqual(frame.payload, want)) {
      throw new FrameError("the new path's RESUME does not prove this session (wrong key or replayed)");
    }
    this.#checkAck(frame.ack);
    this.#awaiting = undefined;
    this.#retireOld();
    this.#init.timers.clearTimeout(this.#windowTimer);
    this.#windowTimer = undefined;
    this.resend.ack(frame.ack);
    const again = this.resend.after(frame.ack);
    this.#writer?.requeue(again);
    this.path.markReady();
    const move = this.#move ?? { from: "?", to: "?", why: "lost" as const };
    this.#move = undefined;
    this.#init.onPath({ state: "resumed", resent: again.length, ...move });
  }

  /** An acknowledgement of messages never sent would make us drop ones the peer lacks. */
  #checkAck(ack: number): void {
    const sent = this.#writer?.sentSeq ?? 0;
    if (ack > sent) throw new FrameError(`the peer acknowledged message ${ack}, but only ${sent} were sent`);
  }

  /** HMAC under the session's resume key over who sends it and the new path's transcript. */
  #proof(role: string, binding: Buffer): Buffer {
    return createHmac("sha256", this.#key).update(`p2pnode/1 resume ${role}`).update(binding).digest();
  }
}
