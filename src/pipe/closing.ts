/**
 * The close handshake (docs/protocol.md#liveness-and-closing) and the pipe's
 * state. Each side sends CLOSE after everything it queued, and FIN once both
 * sides said CLOSE; a pipe is closed once both sides said CLOSE and every received message was handed
 * on (callbacks may still reply to the messages before the peer's CLOSE).
 * close() gives the peer closeTimeout to finish; after a clean finish the
 * transport gets LINGER_MS to flush our FIN before it is cut.
 */
import { PipeClosedError, TimeoutError } from "../errors.ts";
import { FrameType } from "../session/frame.ts";
import type { TimerHandle, Timers } from "../util/clock.ts";
import { unref } from "./liveness.ts";
import type { RecordWriter } from "./record-writer.ts";
import type { ByteTransport } from "./transport.ts";

/** "open", "closing" (close() called or the peer closed), or "closed". */
export type PipeState = "open" | "closing" | "closed";

/** After a graceful finish, how long the transport may take to flush our FIN before it is cut. */
const LINGER_MS = 1000;

export interface ClosingInit {
  transport: ByteTransport;
  writer: RecordWriter;
  timers: Timers;
  closeTimeout: number;
  /** True while received messages are still being handed on. */
  busy: () => boolean;
  /** Starts the pipe's graceful close (its memoized close()). */
  close: () => void;
  /** Fails the pipe (its memoized destroy()). */
  destroy: (err: Error) => void;
  /** The pipe's teardown, run once when the state becomes "closed"; it calls releaseTransport(). */
  onFinish: (err: Error | undefined) => void;
}

export class Closing {
  #state: PipeState = "open";
  #remoteClosed = false;
  #closeTimer?: TimerHandle;
  #lingerTimer?: TimerHandle;
  readonly #init: ClosingInit;
  #onReleased!: () => void;
  /**
   * Resolves once the transport is let go: at once after a failure; after a
   * clean finish, once our FIN was flushed (acknowledged, for a reliable-UDP
   * stream) or LINGER_MS passed. close() waits for it, so a process that exits
   * after close() does not take its last bytes with it.
   */
  readonly released = new Promise<void>((r) => (this.#onReleased = r));

  constructor(init: ClosingInit) {
    this.#init = init;
  }

  get state(): PipeState {
    return this.#state;
  }

  /** Our side of a graceful close: CLOSE after everything queued, then FIN. Resolves once that was written (or failed). */
  async begin(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "closing";
    const { closeTimeout, timers, writer } = this.#init;
    this.#closeTimer = timers.setTimeout(() => this.#init.destroy(new TimeoutError(`the peer did not finish closing within ${closeTimeout} ms`)), closeTimeout);
    unref(this.#closeTimer);
    // No FIN yet: it goes once both sides said CLOSE (releaseTransport). A relay that does not
    // half-close (coturn's TCP relay) would otherwise cut the peer off before its CLOSE came back.
    await writer.enqueue(FrameType.CLOSE, 0).catch(() => {});
    this.#maybeFinish();
  }

  /** The peer's CLOSE arrived. */
  peerClosed(): void {
    this.#remoteClosed = true;
    // Answer with our own close only after the messages that came before it were
    // dispatched: callbacks may still reply to them (the peer reads until our CLOSE).
    if (!this.#init.busy()) this.idle();
  }

  /** Every received message was handed on. */
  idle(): void {
    if (this.#remoteClosed && this.#state === "open") this.#init.close();
    else this.#maybeFinish();
  }

  /** Ends the pipe now: cleanly (`err` undefined, both sides said CLOSE) or failed. Runs once. */
  finish(err: Error | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#init.timers.clearTimeout(this.#closeTimer);
    this.#init.onFinish(err);
  }

  /** Frees the transport: cut at once on failure; after a clean finish, once our FIN was flushed. */
  releaseTransport(err: Error | undefined): void {
    const { transport: t, timers } = this.#init;
    const cut = () => {
      timers.clearTimeout(this.#lingerTimer);
      t.destroy();
      this.#onReleased();
    };
    if (err || t.destroyed) return cut();
    this.#lingerTimer = timers.setTimeout(cut, LINGER_MS);
    unref(this.#lingerTimer);
    t.end(cut);
  }

  /** The transport's 'end': a FIN without a CLOSE frame first means the peer vanished mid-stream. */
  onEnd = (): void => {
    if (!this.#remoteClosed) this.#init.destroy(new PipeClosedError("the peer closed the connection without a graceful close"));
  };

  /** The transport's 'close'. */
  onTransportClose = (): void => {
    this.#init.timers.clearTimeout(this.#lingerTimer);
    if (this.#state === "open") this.#init.destroy(new PipeClosedError("the connection closed"));
    else if (this.#state === "closing") {
      // We asked to close and nothing more can arrive: finish once the inbox is dispatched.
      this.#remoteClosed = true;
      this.#maybeFinish();
    }
  };

  #maybeFinish(): void {
    if (this.#state === "closing" && this.#remoteClosed && !this.#init.busy()) this.finish(undefined);
  }
}
