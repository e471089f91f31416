/**
 * The embedded STUN server's options and defaults, validated once
 * (InvalidArgumentError naming the option) into a resolved object the server
 * never shares with its caller.
 */
import net from "node:net";
import { InvalidArgumentError } from "../errors.ts";
import { systemTimers, type Clock, type Timers } from "../util/clock.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { checkBucket, SourceLimiter, type BucketOptions } from "./rate-limit.ts";

export interface StunLimits {
  /**
   * UDP requests answered per source (IPv4 address, IPv6 /64). Over the limit
   * a request is dropped without an answer (an answer would be the reflection).
   * @default { capacity: 100, refillPerSecond: 50 }
   */
  udp?: BucketOptions;
  /**
   * Dial-backs and dial-ports per source: each one makes us open a TCP
   * connection to the requester's IP. Over the limit the request is answered
   * without the extension attribute.
   * @default { capacity: 20, refillPerSecond: 1 / 3 } (a burst of 20, then 20 a minute)
   */
  dial?: BucketOptions;
  /** Sources each limiter tracks at once; a new source is refused while all are busy. @default 10000 */
  maxSources?: number;
}

export interface StunServerOptions {
  /** Primary IP to bind. @default "127.0.0.1" */
  host?: string;
  /** Primary port; 0 picks a free one. @default 3478 */
  port?: number;
  /** Alternate IP (same family), e.g. "127.0.0.2" on Linux loopback. @default undefined */
  altHost?: string;
  /** Alternate port; 0 picks a free one. @default 0 when altHost is set, else undefined */
  altPort?: number;
  /** Serve UDP. @default true */
  udp?: boolean;
  /** Serve TCP. @default true */
  tcp?: boolean;
  /** SOFTWARE attribute in responses. @default "p2pnode" */
  software?: string;
  /** How long a dial-back connect may take. @default 2000 */
  dialBackTimeout?: number;
  /** Close idle TCP connections after this many ms. @default 10000 */
  idleTimeout?: number;
  /** At most this many dial-backs and dial-ports at once (all sources together; one per source). @default 16 */
  maxDialBacks?: number;
  /** Per-source rate limits (docs/stun.md "Exposure"). Each field defaults on its own. */
  limits?: StunLimits;
  /**
   * Never send a UDP answer larger than its request, not even the essential
   * XOR-MAPPED-ADDRESS (+ OTHER-ADDRESS): a request too small for it gets no
   * answer, so clients must pad (PADDING, RFC 5780 §7.6). When false, only
   * that essential part may exceed the request. @default false
   */
  strictUdpSize?: boolean;
  /** Clock in ms for the rate limits (tests inject FakeTime). @default a monotonic clock (performance.now) */
  clock?: Clock;
  /** Monotonic clock in ms for the rate limits; the older spelling of `clock`, which wins when both are given. @default performance.now */
  now?: () => number;
  /** Timers for the idle and dial-back timeouts (tests inject FakeTime). @default systemTimers */
  timers?: Timers;
  logger?: Logger;
}

export const STUN_SERVER_DEFAULTS = Object.freeze({
  host: "127.0.0.1",
  port: 3478,
  udp: true,
  tcp: true,
  software: "p2pnode",
  dialBackTimeout: 2000,
  idleTimeout: 10_000,
  maxDialBacks: 16,
  strictUdpSize: false,
  limits: Object.freeze({
    udp: Object.freeze({ capacity: 100, refillPerSecond: 50 }),
    dial: Object.freeze({ capacity: 20, refillPerSecond: 1 / 3 }),
    maxSources: 10_000,
  }),
});

/** The options after defaults and validation, plus what they build. */
export interface ResolvedStunServerOptions {
  host: string;
  port: number;
  altHost?: string;
  altPort?: number;
  udp: boolean;
  tcp: boolean;
  software: string;
  dialBackTimeout: number;
  idleTimeout: number;
  maxDialBacks: number;
  strictUdpSize: boolean;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  udpLimit: SourceLimiter;
  dialLimit: SourceLimiter;
}

const monotonic: Clock = Object.freeze({ now: () => performance.now() });

/** Fills in STUN_SERVER_DEFAULTS and validates; throws InvalidArgumentError naming the option. */
export function resolveStunServerOptions(opts: StunServerOptions): ResolvedStunServerOptions {
  const o = { ...STUN_SERVER_DEFAULTS, ...stripUndefined(opts) };
  if (net.isIP(o.host) === 0) throw new InvalidArgumentError(`host must be an IP literal, got ${JSON.stringify(o.host)}`);
  if (o.altHost !== undefined && net.isIP(o.altHost) !== net.isIP(o.host)) {
    throw new InvalidArgumentError(`altHost ${o.altHost} must be an IP literal of the same family as host ${o.host}`);
  }
  for (const k of ["port", "altPort"] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 65535)) throw new InvalidArgumentError(`${k} must be 0-65535, got ${v}`);
  }
  if (!o.udp && !o.tcp) throw new InvalidArgumentError("at least one of udp, tcp must be enabled");
  for (const k of ["dialBackTimeout", "idleTimeout", "maxDialBacks"] as const) {
    const v = o[k];
    if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${k} must be an integer >= 1, got ${v}`);
  }
  if (typeof o.strictUdpSize !== "boolean") throw new InvalidArgumentError(`strictUdpSize must be a boolean, got ${o.strictUdpSize}`);
  if (opts.now !== undefined && typeof opts.now !== "function") throw new InvalidArgumentError("now must be a function returning milliseconds");
  if (opts.clock !== undefined && typeof opts.clock?.now !== "function") throw new InvalidArgumentError("clock must be { now(): number }");
  const limits = opts.limits === undefined ? {} : opts.limits;
  if (typeof limits !== "object" || limits === null) throw new InvalidArgumentError("limits must be an object");
  const d = STUN_SERVER_DEFAULTS.limits;
  const maxSources = limits.maxSources ?? d.maxSources;
  if (!Number.isInteger(maxSources) || maxSources < 1) throw new InvalidArgumentError(`limits.maxSources must be an integer >= 1, got ${maxSources}`);
  const now = opts.now;
  return {
    host: o.host,
    port: o.port,
    altHost: o.altHost,
    altPort: o.altPort,
    udp: o.udp,
    tcp: o.tcp,
    software: o.software,
    dialBackTimeout: o.dialBackTimeout,
    idleTimeout: o.idleTimeout,
    maxDialBacks: o.maxDialBacks,
    strictUdpSize: o.strictUdpSize,
    clock: now ? { now } : (opts.clock ?? monotonic),
    timers: opts.timers ?? systemTimers,
    logger: (opts.logger ?? silentLogger).child("stun-server"),
    udpLimit: new SourceLimiter(checkBucket("limits.udp", limits.udp ?? d.udp), maxSources),
    dialLimit: new SourceLimiter(checkBucket("limits.dial", limits.dial ?? d.dial), maxSources),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
