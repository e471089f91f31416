/**
 * Transfer messages over a Pipe: encode/decode, a timeout on every wait (a
 * receive and the peer taking a send), the peer's ERROR and a lost pipe as
 * typed errors, and our own failure told to the peer before we stop.
 */
import { AbortError, ChecksumError, DiskFullError, isP2PError, PeerTimeoutError, PermissionDeniedError, PipeClosedError, ProtocolError, RefusedError, TimeoutError, type P2PError } from "../errors.ts";
import type { Pipe } from "../pipe/pipe.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import type { Timers } from "../util/clock.ts";
import { decode, encode, type TransferErrorCode, type TransferMessage } from "./codec.ts";

/** What a transfer needs of a pipe. */
export type TransferPipe = Pick<Pipe, "send" | "recv" | "maxSendSize" | "destroy">;

type Of<T extends TransferMessage["type"]> = Extract<TransferMessage, { type: T }>;

/** Our error as the code the peer is told. */
export function errorCode(err: unknown): TransferErrorCode {
  if (err instanceof DiskFullError) return "disk-full";
  if (err instanceof PermissionDeniedError) return "permission";
  if (err instanceof ChecksumError) return "checksum";
  if (err instanceof RefusedError) return /exists/.test((err as Error).message) ? "exists" : "refused";
  if (err instanceof TimeoutError) return "timeout";
  if (err instanceof AbortError) return "aborted";
  return "protocol";
}

/** The peer's ERROR as a typed error, worded from our side. */
export function peerError(m: Of<"error">, peer: string): P2PError {
  const text = `${peer}: ${m.message}`;
  switch (m.code) {
    case "disk-full":
      return new DiskFullError(`${text} (its disk is full: it must free space, then send again to resume)`);
    case "permission":
      return new PermissionDeniedError(`${text} (it cannot write there: it must fix its --out directory)`);
    case "checksum":
      return new ChecksumError(`${text} (send again: that file restarts)`);
    case "exists":
    case "refused":
      return new RefusedError(text);
    case "timeout":
      return new TimeoutError(text);
    case "aborted":
      return new PipeClosedError(`${peer} stopped the transfer: ${m.message}`);
    default:
      return new ProtocolError(text);
  }
}

export class Link {
  readonly #pipe: TransferPipe;
  readonly #timeout: number;
  readonly #signal?: AbortSignal;
  readonly #timers?: Timers;
  /** Who is at the other end, for messages ("the receiver"). */
  readonly peer: string;
  #peerFailed = false;
  /** Why we cut the pipe (a send that timed out): what every later wait reports. */
  #cut?: Error;

  constructor(pipe: TransferPipe, o: { timeout: number; signal?: AbortSignal; timers?: Timers; peer: string }) {
    this.#pipe = pipe;
    this.#timeout = o.timeout;
    this.#signal = o.signal;
    this.#timers = o.timers;
    this.peer = o.peer;
  }

  get maxSendSize(): number {
    return this.#pipe.maxSendSize;
  }

  /** Sends one message; rejects when the peer takes nothing for `timeout` ms (the pipe is then cut). */
  async send(msg: TransferMessage, signal?: AbortSignal): Promise<void> {
    const d = deadline({ timeout: this.#timeout, signals: [this.#signal, signal], what: `sending to ${this.peer}`, timers: this.#timers });
    try {
      await raceSignal(this.#pipe.send(encode(msg)), d.signal);
    } catch (err) {
      if (err instanceof TimeoutError) {
        const e = new TimeoutError(`${this.peer} took no data for ${this.#timeout} ms: it is stalled or gone; run the command again to resume`, { cause: err });
        this.#cut ??= e;
        void this.#pipe.destroy(e);
        throw e;
      }
      throw this.#gone(err);
    } finally {
      d.done();
    }
  }

  /** The next message, which must be of one of `types`; the peer's ERROR rejects as a typed error. */
  async recv<T extends TransferMessage["type"]>(types: readonly T[], o: { timeout?: number; signal?: AbortSignal } = {}): Promise<Of<T>> {
    const timeout = o.timeout ?? this.#timeout;
    const signals = [this.#signal, o.signal].filter((s): s is AbortSignal => !!s);
    let raw;
    try {
      raw = await this.#pipe.recv({ timeout, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0] });
    } catch (err) {
      if (this.#cut) throw this.#cut;
      if (err instanceof TimeoutError) throw new TimeoutError(`nothing from ${this.peer} for ${timeout} ms while waiting for ${types.join(" or ")}: it is stalled or gone; run the command again to resume`, { cause: err });
      throw this.#gone(err);
    }
    if (raw.isText) throw new ProtocolError(`${this.peer} sent text where a transfer message was expected (is it a p2pnode receive/send?)`);
    const msg = decode(raw.data);
    if (msg.type === "error") {
      this.#peerFailed = true;
      throw peerError(msg, this.peer);
    }
    if (!(types as readonly string[]).includes(msg.type)) throw new ProtocolError(`${this.peer} sent ${msg.type} where ${types.join(" or ")} was expected`);
    return msg as Of<T>;
  }

  /** Tells the peer why we stop (best effort, briefly), unless it was the peer that failed or left. */
  async fail(err: unknown, index?: number): Promise<void> {
    if (this.#peerFailed || err instanceof PipeClosedError || err instanceof PeerTimeoutError) return;
    const message = isP2PError(err) ? err.message : String((err as Error)?.message ?? err);
    const d = deadline({ timeout: 2000, what: "telling the peer", timers: this.#timers });
    try {
      await raceSignal(this.#pipe.send(encode({ type: "error", code: errorCode(err), message: message.slice(0, 400), ...(index === undefined ? {} : { index }) })), d.signal);
    } catch {
      // the peer may be gone already
    } finally {
      d.done();
    }
  }

  #gone(err: unknown): unknown {
    // A pipe destroyed with any error (a plain Error from the application too) means the peer is gone for us.
    if (err instanceof PipeClosedError || err instanceof PeerTimeoutError || !isP2PError(err)) {
      return new PipeClosedError(`${this.peer} went away (${(err as Error).message}); run the same command again: the transfer resumes where it stopped`, { cause: err });
    }
    return err;
  }
}
