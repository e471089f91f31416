/**
 * The node's open pipes and its message callbacks: every authenticated
 * session, inbound or dialled, becomes a Pipe here, and messages on pipes
 * peers opened go to the callbacks in registration order.
 */
import { PipeClosedError } from "../errors.ts";
import type { NodeId } from "../identity/identity.ts";
import type { Message } from "../pipe/message.ts";
import { Pipe, type MessageHandler, type PipeOptions } from "../pipe/pipe.ts";
import type { DialResult } from "../strategies/strategy.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { ConnectAttempt } from "../util/trace.ts";

export interface PipeSetOptions {
  pipeOptions: PipeOptions;
  logger: Logger;
  clock?: Clock;
  timers?: Timers;
  /** Every new pipe's peer and remote address (the dial policy learns LAN peers from it). */
  onPipe?: (peer: NodeId, remoteAddress: string | undefined) => void;
}

export class PipeSet {
  readonly #o: PipeSetOptions;
  readonly #pipes = new Set<Pipe>();
  /**
   * Pipes that ended but may still be flushing their last frames (close()
   * resolves once the transport let go, at most the pipe's linger): the
   * node's close() waits for them, so a process that exits right after it
   * does not drop a CLOSE still in a reliable-UDP send queue.
   */
  readonly #releasing = new Set<Promise<void>>();
  readonly #handlers: MessageHandler[] = [];

  constructor(o: PipeSetOptions) {
    this.#o = o;
  }

  get pipes(): ReadonlySet<Pipe> {
    return this.#pipes;
  }

  /** Adds a message callback; returns a function that removes it. */
  onMessage(handler: (msg: Message, pipe: Pipe) => void | Promise<void>): () => void {
    this.#handlers.push(handler);
    return () => {
      const i = this.#handlers.indexOf(handler);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  /**
   * A session whose handshake names a pipe to continue (`resume`): handed to
   * that pipe as its new path. true: resumed; false: no such pipe (or it
   * refused), the stream is closed; undefined: an ordinary new session.
   */
  resumeWith(res: DialResult, strategy: string, asked?: string): boolean | undefined {
    // The id the peer's handshake names, or (a reverse dial-back we made) the one its signed request named.
    const id = asked ?? res.session.remoteParams.resume;
    if (!id) return undefined;
    const pipe = [...this.#pipes].find((p) => p.resumeId === id && p.remoteId === res.session.remoteId);
    try {
      if (!pipe) throw new PipeClosedError("no pipe to resume");
      pipe.resume({ stream: res.stream, session: res.session, strategy, remoteAddress: res.remoteAddress, remotePort: res.remotePort, relay: res.relay });
      return true;
    } catch (err) {
      this.#o.logger.debug("a new path for a pipe we cannot resume; closing it", { remoteId: res.session.remoteId, error: (err as Error).message });
      res.stream.destroy();
      return false;
    }
  }

  /** Wraps an authenticated session in a Pipe; `inbound` when the peer asked for it (callbacks apply). */
  adopt(res: DialResult, strategy: string, inbound: boolean, trace?: readonly ConnectAttempt[]): Pipe {
    const o = this.#o;
    const pipe = new Pipe({
      stream: res.stream,
      session: res.session,
      role: res.role,
      strategy,
      inbound,
      remoteAddress: res.remoteAddress,
      remotePort: res.remotePort,
      relay: res.relay,
      trace,
      options: o.pipeOptions,
      dispatch: { active: () => this.#handlers.length > 0, dispatch: this.#dispatch },
      logger: o.logger,
      clock: o.clock,
      timers: o.timers,
    });
    this.#pipes.add(pipe);
    o.onPipe?.(res.session.remoteId, res.remoteAddress);
    void pipe.closed.then(() => {
      this.#pipes.delete(pipe);
      const released = pipe.close();
      this.#releasing.add(released);
      void released.then(() => this.#releasing.delete(released));
    });
    return pipe;
  }

  /** Closes every pipe gracefully (each bounded by its closeTimeout). */
  async closeAll(): Promise<void> {
    await Promise.all([...[...this.#pipes].map((p) => p.close()), ...this.#releasing]);
  }

  #dispatch: MessageHandler = async (msg, pipe) => {
    for (const h of [...this.#handlers]) {
      try {
        await h(msg, pipe);
      } catch (err) {
        // One callback's failure must not starve the others or kill the pipe.
        this.#o.logger.warn("a message callback threw", { remoteId: pipe.remoteId, error: (err as Error).message });
      }
    }
  };
}
