/**
 * The interface every connection strategy implements (direct, reverse, punch,
 * turn). A strategy produces an authenticated session; the node wraps it in a
 * Pipe. `applies` is a pure decision from both addresses, so ranking can be
 * tested with tables.
 */
import type { Duplex } from "node:stream";
import type { NodeAddress } from "./address.ts";
import type { HandshakeResult, HandshakeRole } from "./handshake.ts";
import type { Identity } from "./identity.ts";
import type { Logger } from "./logger.ts";

export type StrategyName = "direct" | "reverse" | "punch" | "turn";

/** What the node lends a strategy for one connect() call. */
export interface DialContext {
  identity: Identity;
  local: NodeAddress;
  remote: NodeAddress;
  logger: Logger;
  /** Runs the authenticated handshake on a connected stream (role from the strategy). */
  secure(stream: Duplex, role: HandshakeRole, signal: AbortSignal): Promise<HandshakeResult>;
  /** Reports progress (for the CLI and traces). */
  progress(event: string, detail?: Record<string, unknown>): void;
}

export interface DialResult {
  stream: Duplex;
  session: HandshakeResult;
  role: HandshakeRole;
  remoteAddress?: string;
  remotePort?: number;
}

export interface Applicability {
  /** "yes": expected to work; "maybe": worth a capped try; "no": skip. */
  verdict: "yes" | "maybe" | "no";
  reason: string;
}

export interface Strategy {
  readonly name: StrategyName;
  applies(local: NodeAddress, remote: NodeAddress): Applicability;
  /** Connects, or rejects with a typed error. Must free every socket and timer on abort. */
  dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult>;
}
