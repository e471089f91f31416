/**
 * Inbound connections: handshake admission (how many pending, per source),
 * the responder side of the handshake, then either the reverse-connect waiter
 * whose token the session carries or a new inbound pipe.
 */
import type net from "node:net";
import type { Identity, NodeId } from "../identity/identity.ts";
import { handshake, type HandshakeParams } from "../session/handshake.ts";
import type { DialResult } from "../strategies/strategy.ts";
import type { Logger } from "../util/logger.ts";
import { HandshakeAdmission } from "./handshake-admission.ts";
import type { InboundWaiters } from "./inbound-waiters.ts";

export interface InboundOptions {
  identity: Identity;
  maxPending: number;
  maxPerSource: number;
  handshakeTimeout: number;
  firstMessageTimeout: number;
  /** Our handshake parameters (message size limit). */
  params: () => HandshakeParams;
  accept?: (peerId: NodeId, info: { strategy?: string; remoteAddress?: string }) => boolean | Promise<boolean>;
  waiters: InboundWaiters;
  /** An authenticated inbound session no waiter claimed: the node makes it a pipe. */
  onSession: (res: DialResult, strategy: string) => void;
  /** The owner's lifetime: once aborted, connections are dropped. */
  lifetime: AbortSignal;
  logger: Logger;
}

export class InboundAcceptor {
  readonly #o: InboundOptions;
  readonly #admission: HandshakeAdmission<net.Socket>;
  readonly #pending = new Set<net.Socket>();

  constructor(o: InboundOptions) {
    this.#o = o;
    // One admission for all of the node's servers, so listening on several hosts does not multiply the limits.
    this.#admission = new HandshakeAdmission({ maxPending: o.maxPending, maxPerSource: o.maxPerSource });
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#pending.size;
  }

  /** A server's 'connection' listener. */
  readonly handle = (socket: net.Socket): void => {
    const o = this.#o;
    const admission = this.#admission;
    if (o.lifetime.aborted) return void socket.destroy();
    const remoteAddress = socket.remoteAddress;
    const decision = admission.admit(socket, remoteAddress);
    if (!decision.admit) {
      // Once per 1,000 refusals: a flood must not also flood the log.
      if (admission.refused % 1000 === 1) {
        o.logger.warn("refusing inbound handshakes (too many pending)", { remote: remoteAddress, reason: decision.reason, refused: admission.refused });
      }
      return void socket.destroy();
    }
    if (decision.shed) {
      // The oldest connection that never sent a handshake message makes room; its handshake fails and cleans up.
      this.#pending.delete(decision.shed);
      decision.shed.destroy();
    }
    socket.on("error", () => {}); // errors surface through the handshake or the pipe
    this.#pending.add(socket);
    const accept = o.accept;
    handshake(socket, {
      identity: o.identity,
      role: "responder",
      params: o.params(),
      timeout: o.handshakeTimeout,
      firstMessageTimeout: o.firstMessageTimeout,
      onFirstMessage: () => admission.firstMessage(socket),
      accept: accept ? (id, p) => accept(id, { strategy: p.strategy, remoteAddress }) : undefined,
    }).then(
      (session) => {
        admission.release(socket);
        this.#pending.delete(socket);
        if (o.lifetime.aborted) return void socket.destroy();
        const token = session.remoteParams.token;
        // A connection we asked for (reverse) goes to the waiting connect(), if the right peer made it.
        const waiter = token !== undefined ? o.waiters.claim(token, session.remoteId) : undefined;
        if (waiter === "wrong-peer") {
          o.logger.warn("a reverse-connect token arrived from the wrong peer; dropping it", { from: session.remoteId });
          return void socket.destroy();
        }
        const res: DialResult = { stream: socket, session, role: "responder", remoteAddress, remotePort: socket.remotePort };
        if (waiter) return waiter(res);
        if (token !== undefined) {
          // A dial-back for a connect() that no longer waits (another strategy won the race, or it
          // gave up): not a pipe anyone asked for.
          o.logger.debug("a dial-back nobody waits for any more; closing it", { from: session.remoteId });
          return void socket.destroy();
        }
        o.onSession(res, session.remoteParams.strategy ?? "inbound");
      },
      (err) => {
        admission.release(socket);
        this.#pending.delete(socket);
        socket.destroy();
        o.logger.debug("inbound handshake failed", { remote: remoteAddress, error: (err as Error).message });
      },
    );
  };

  /** Drops every handshake in progress (close()). */
  destroyPending(): void {
    for (const s of this.#pending) s.destroy();
    this.#pending.clear();
  }
}
