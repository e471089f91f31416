/**
 * The interface every connection strategy implements (direct, reverse, punch,
 * turn). A strategy produces an authenticated session; the node wraps it in a
 * Pipe. `applies` is a pure decision from both addresses, so ranking can be
 * tested with tables. Strategies that need the peer's help (reverse, punch)
 * also register `responders`: signaling request handlers run on the peer.
 */
import type { Duplex } from "node:stream";
import type { NodeAddress } from "../identity/address.ts";
import type { RelayPath } from "../pipe/types.ts";
import type { HandshakeParams, HandshakeResult, HandshakeRole } from "../session/handshake.ts";
import type { Identity, NodeId } from "../identity/identity.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { StrategyProgress } from "./progress.ts";

/** The names of the built-in strategies. */
export type StrategyName = "direct" | "reverse" | "punch" | "turn";

/** The signaling channel to one peer, as a strategy sees it. */
export interface SignalingPort {
  /** Sends a request of `type` to the peer through its brokers; resolves with the reply body. */
  request(type: string, body: unknown, opts: { timeout: number; signal: AbortSignal }): Promise<unknown>;
  /** Round trip and clock offset to the peer (NTP-style, over signaling): peerClock ≈ ourClock + offsetMs. */
  ping(opts: { timeout: number; signal: AbortSignal }): Promise<{ rttMs: number; offsetMs: number }>;
}

/** What the node lends a strategy for one connect() call. */
export interface DialContext {
  identity: Identity;
  local: NodeAddress;
  remote: NodeAddress;
  logger: Logger;
  /** The node's clock and timers (fake in tests). @default the system's */
  clock?: Clock;
  timers?: Timers;
  /** STUN servers the node is configured with (stun: URIs). */
  stun: string[];
  /** Present when both nodes share signaling (we are configured and the peer lists brokers). */
  signaling?: SignalingPort;
  /**
   * Runs the authenticated handshake on a connected stream (role from the
   * strategy); the remote identity is checked against `remote.id`.
   */
  secure(stream: Duplex, role: HandshakeRole, signal: AbortSignal, extra?: Partial<HandshakeParams>): Promise<HandshakeResult>;
  /**
   * Waits for the peer to connect to our server and complete a handshake whose
   * params carry `token` (reverse connect). Resolves with that session.
   */
  expectInbound(token: string, opts: { timeout: number; signal: AbortSignal }): Promise<DialResult>;
  /** Reports progress (for the CLI and traces): a typed event of src/strategies/progress.ts. */
  progress: StrategyProgress;
  /**
   * Set when this dial is a new path for a pipe we share with the peer: its
   * resume id. A strategy whose session the peer sets up on its own side
   * (reverse) tells it, so the peer hands that session to the pipe.
   */
  resume?: string;
  /** May we dial `host` for this peer? The responder's dial policy, applied to what the peer sends back (a punch offer). */
  mayDial(host: string): boolean;
}

/** What a strategy's dial() resolves with: the stream, the handshake's session and our role in it. */
export interface DialResult {
  stream: Duplex;
  session: HandshakeResult;
  role: HandshakeRole;
  remoteAddress?: string;
  remotePort?: number;
  /** Set by a relaying strategy: the pipe says which relay carries it. */
  relay?: RelayPath;
}

/** Whether a strategy applies to a pair of addresses, and why. */
export interface Applicability {
  /** "yes": expected to work; "maybe": worth a capped try; "no": skip. */
  verdict: "yes" | "maybe" | "no";
  reason: string;
}

/** What the node lends a strategy's responder (running on the peer that was asked). */
export interface ResponderContext {
  identity: Identity;
  /** Our current address. */
  local: NodeAddress;
  /** STUN servers the node is configured with. */
  stun: string[];
  logger: Logger;
  /** The node's clock and timers (fake in tests). @default the system's */
  clock?: Clock;
  timers?: Timers;
  /** Handshake on a stream we obtained for `peer` (its identity is checked). */
  secure(stream: Duplex, role: HandshakeRole, peer: NodeId, signal: AbortSignal, extra?: Partial<HandshakeParams>): Promise<HandshakeResult>;
  /** Turns an authenticated session into a Pipe the peer opened (node callbacks apply; 'pipe' event). */
  adopt(result: DialResult, strategy: StrategyName, resume?: string): void;
  /** May we dial these endpoints for that peer? (only its signed address's, no private ones unless on the same network) */
  mayDial(requester: NodeAddress, host: string): boolean;
  /**
   * Work the responder goes on with after its reply (a punch in the
   * background): it keeps counting as a running signaling handler until it
   * settles, so the handler limit also bounds background work. Never rejects.
   */
  background(task: Promise<unknown>): void;
}

/** A signaling request handler a strategy registers on every node. */
export interface Responder {
  /** Dialling out on a peer's behalf: rate-limited per peer and overall. */
  dialsOut: boolean;
  /** Answers one request from peer `from`; the body is untrusted and must be checked. Resolves with the reply body. */
  handle(body: unknown, from: NodeId, ctx: ResponderContext, signal: AbortSignal): Promise<unknown>;
}

/** A way to connect to a peer (direct, reverse, punch, turn): see docs/architecture.md and test/compliance/. */
export interface Strategy {
  readonly name: StrategyName;
  /** Whether this strategy can work between these two addresses, and why (decided from the addresses alone). */
  applies(local: NodeAddress, remote: NodeAddress): Applicability;
  /**
   * Connects, or rejects with a typed error naming what failed. The contract
   * every strategy passes (test/compliance/strategy.ts): on `opts.signal`'s
   * abort it frees every socket and timer and rejects with AbortError; it
   * stops itself after `opts.timeout` on `ctx.timers`; a peer proving another
   * key than `ctx.remote.id` is PeerIdentityError, never a result.
   */
  dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult>;
  /** Signaling request types this strategy answers on the peer's side. */
  readonly responders?: Readonly<Record<string, Responder>>;
  /**
   * Relay URLs (no credentials) this strategy may ask peers to dial: the node
   * lists them in its signed address, and a peer dials a relayed address only
   * when it belongs to one of them.
   */
  readonly relays?: readonly string[];
}
