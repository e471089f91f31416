/**
 * Signaling's options, defaults and the handler-facing types, resolved once
 * (style habit 4): the constructor hands the caller's object to
 * resolveTunables() and never reads it again.
 */
import type { Identity, NodeId } from "../identity/identity.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { EnvelopeOptions } from "./envelope.ts";
import type { MqttTransportOptions, SignalTransport } from "./mqtt-transport.ts";
import type { RateLimitOptions } from "./rate-limit.ts";
import type { BucketOptions } from "../util/token-bucket.ts";
import type { KnownPeerHook } from "./admission.ts";

/** What a handler learns about the request besides its body. */
export interface RequestContext {
  from: NodeId;
  type: string;
  /** Request id (hex). */
  id: string;
  /** Sender's timestamp (its clock, ms). */
  sentAt: number;
  /** When we opened it (our clock, ms). */
  receivedAt: number;
  /** Broker it arrived through. */
  broker: string;
}

export type RequestHandler = (body: unknown, from: NodeId, ctx: RequestContext) => unknown | Promise<unknown>;

export interface HandlerOptions {
  /** The handler makes us dial out (reverse-connect): the dial-out rate limits apply. @default false */
  dialsOut?: boolean;
}

/** Consulted before any handler runs; false → the request is refused (REFUSED). */
export type AcceptHook = (peerId: NodeId, info: { type: string; id: string; broker: string }) => boolean | Promise<boolean>;

export interface SignalingOptions {
  identity: Identity;
  /** Our own brokers (trusted as configured). Ignored when `transport` is given. */
  brokers?: readonly string[];
  /** A transport to use instead of building an MqttTransport (its close() is then the caller's job). */
  transport?: SignalTransport;
  /** Options for the MqttTransport we build (id and brokers are filled in). */
  mqtt?: Omit<MqttTransportOptions, "id" | "brokers" | "logger">;
  logger?: Logger;
  /** Every time read (timestamps, validity window, rate limits, deadlines). @default systemClock */
  clock?: Clock;
  /** Re-send and deadline timers. @default systemTimers */
  timers?: Timers;
  /** Envelope limits: maxBytes, maxAgeMs, maxFutureMs (the validity window). */
  envelope?: EnvelopeOptions;
  /** Live replay-cache entries at most (then new messages are refused). @default 20000 */
  replayCacheSize?: number;
  /** Default timeout of request(). @default 10000 */
  requestTimeoutMs?: number;
  /** Re-send interval until the ack arrives. @default 1000 */
  retryIntervalMs?: number;
  /** Re-send interval after the ack (the reply may have been lost). @default 3000 */
  ackedRetryIntervalMs?: number;
  /** Dial-out rate limits (handlers registered with dialsOut). */
  rateLimit?: RateLimitOptions;
  /** @default accept every peer */
  accept?: AcceptHook;
  /**
   * Peers the node already deals with (e.g. it has a pipe with them): their
   * requests skip the strangers' budget and may use the whole of each cache,
   * whatever a flood of other identities holds. Called for each new request;
   * keep it cheap and synchronous. A throw counts as "not known".
   * @default nobody (peers we have a request out to still count as known)
   */
  isKnownPeer?: KnownPeerHook;
  /**
   * Requests admitted from senders we hold nothing about (no live remembered
   * request, not known): beyond it they are dropped unanswered (docs/security.md).
   * @default { capacity: 50, refillPerSecond: 5 }
   */
  strangerBudget?: BucketOptions;
  /** Replies to requests accept() refused, per sender and in all; beyond it refused silently. @default perPeer { 4, 0.1/s }, global { 32, 4/s } */
  refusalLimit?: RateLimitOptions;
  /** Serves `get-addr`: returns our current signed address string. */
  getAddress?: () => string | Promise<string>;
  /** Handlers running at once at most; more → REFUSED. @default 64 */
  maxConcurrentHandlers?: number;
  /** Requests remembered for duplicate detection at most. @default 10000 */
  maxRemembered?: number;
  /** Requests remembered from one sender at most (its quota; each is remembered ~70 s, a connect sends ~4); more are dropped. @default 512 */
  maxPerSender?: number;
  /** Accept private/loopback brokers from peers (tests, labs). @default false */
  allowPrivateBrokers?: boolean;
}

/** The numeric and boolean knobs, after defaults. */
export type Tunables = {
  requestTimeoutMs: number;
  retryIntervalMs: number;
  ackedRetryIntervalMs: number;
  replayCacheSize: number;
  maxConcurrentHandlers: number;
  maxRemembered: number;
  maxPerSender: number;
  allowPrivateBrokers: boolean;
};

export const SIGNALING_DEFAULTS: Readonly<Tunables> = Object.freeze({
  requestTimeoutMs: 10_000,
  retryIntervalMs: 1000,
  ackedRetryIntervalMs: 3000,
  replayCacheSize: 20_000,
  maxConcurrentHandlers: 64,
  maxRemembered: 10_000,
  maxPerSender: 512,
  allowPrivateBrokers: false,
});

export interface RequestOptions {
  /** @default requestTimeoutMs */
  timeout?: number;
  signal?: AbortSignal;
}

/** Fills in SIGNALING_DEFAULTS and validates each knob; throws InvalidArgumentError naming the option. */
export function resolveTunables(options: SignalingOptions): Readonly<Tunables> {
  const opts: Tunables = { ...SIGNALING_DEFAULTS };
  for (const k of Object.keys(SIGNALING_DEFAULTS) as Array<keyof Tunables>) {
    const v = options[k];
    if (v === undefined) continue;
    if (k === "allowPrivateBrokers") opts[k] = Boolean(v);
    else if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`${k} must be a positive number`);
    else (opts as Record<string, unknown>)[k] = v;
  }
  return Object.freeze(opts);
}
