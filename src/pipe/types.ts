/** The Pipe's public types: how one is made, the events it emits, its counters. */
import type { Duplex } from "node:stream";
import type { HandshakeResult, HandshakeRole } from "../session/handshake.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { ConnectAttempt } from "../util/trace.ts";
import type { PathEvent } from "./resumption.ts";
import type { Dispatcher as DeliveryDispatcher } from "./delivery.ts";
import type { Message } from "./message.ts";
import type { PipeOptions } from "./options.ts";
import type { Pipe } from "./pipe.ts";
import type { ByteTransport } from "./transport.ts";

/** Which side of the handshake this pipe was; one type for both layers. */
export type PipeRole = HandshakeRole;
/** A node callback for received messages (node.onMessage). */
export type MessageHandler = (msg: Message, pipe: Pipe) => void | Promise<void>;
/** The node's callbacks, as a pipe sees them. */
export type Dispatcher = DeliveryDispatcher<Pipe>;

/** The events a Pipe emits. */
export interface PipeEvents {
  /** A message was received (docs/pipe.md: who receives it, in which order). */
  message: [msg: Message, pipe: Pipe];
  /** The pipe has fully closed: `err` is why it failed, undefined on a clean close. */
  close: [err: Error | undefined];
  /** A resumable pipe lost its path (sends wait) or continues on a new one. */
  path: [e: PathEvent];
}

/** A relayed pipe's path (strategy "turn"): which relay carries it, and how. */
export interface RelayPath {
  /** The relayed transport address the peer dials (ip:port). */
  relayed: string;
  /** tcp: an RFC 6062 TCP allocation; udp: our reliable stream over relayed datagrams. */
  transport: "tcp" | "udp";
  /** The TURN server's URI, on the side that allocated (the other side knows only the relayed address). */
  server?: string;
}

interface PipeInitBase {
  session: HandshakeResult;
  role: PipeRole;
  /** Name of the strategy that made this pipe ("direct", "reverse", …; "inbound" if the peer did not say). */
  strategy: string;
  /** True when the peer called connect() (the node's callbacks then receive its messages). */
  inbound: boolean;
  remoteAddress?: string;
  remotePort?: number;
  relay?: RelayPath;
  /** How connect() made this pipe (the side that connected). */
  trace?: readonly ConnectAttempt[];
  options?: Partial<PipeOptions>;
  dispatch?: Dispatcher;
  logger?: Logger;
  /** Time for rtt and keepalives. @default systemClock */
  clock?: Clock;
  /** Keepalive, dead-peer, close and recv() timers. @default systemTimers */
  timers?: Timers;
}

/** What a Pipe is made of: the handshake's session and the bytes under it, as a stream or a transport. */
export type PipeInit = PipeInitBase & ({ stream: Duplex; transport?: undefined } | { transport: ByteTransport; stream?: undefined });

/** A pipe's counters: bytes and messages sent and received. */
export interface PipeStats {
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
}

/** The current path's particulars (pipe.strategy, .relay, .trace, the remote endpoint). */
export interface PathInfo {
  strategy: string;
  remoteAddress?: string;
  remotePort?: number;
  relay?: RelayPath;
  trace: readonly ConnectAttempt[];
}

/** A new path for a resumable pipe (resume()): a fresh session with the same peer, and how it was made. */
export interface NextPath {
  transport?: ByteTransport;
  stream?: Duplex;
  session: HandshakeResult;
  /** The strategy that made it. @default the pipe's current one */
  strategy?: string;
  remoteAddress?: string;
  remotePort?: number;
  relay?: RelayPath;
  /** The connect attempts that found it (appended to pipe.trace). */
  trace?: readonly ConnectAttempt[];
  /** Why the pipe moves: its path was lost, or this one is better. @default "lost" while suspended, else "better" */
  why?: "lost" | "better";
}
