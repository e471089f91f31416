/**
 * The MQTT transport of the signaling layer: moves opaque envelopes between
 * nodes through one or more brokers. It listens on every configured broker (a
 * topic derived from the node id), keeps working while at least one is up,
 * reconnects the others with backoff, and publishes to a peer through every
 * broker the peer lists, opening cached outbound connections where needed.
 * Authentication and replay protection are the envelope's job; the transport
 * only drops oversize and retained messages and copies it already delivered.
 */
import type { EventEmitter } from "node:events";
import { createHash } from "node:crypto";
import { type NodeId, publicKeyFromId } from "../identity/identity.ts";
import { InvalidArgumentError, SignalingError } from "../errors.ts";
import { Closable } from "../util/closable.ts";
import { type Clock, type TimerHandle, type Timers, systemClock, systemTimers } from "../util/clock.ts";
import { type Logger, silentLogger } from "../util/logger.ts";
import { BrokerLink, type LinkState } from "./broker-link.ts";
import { filterBrokerUrls, parseBrokerUrl } from "./broker-url.ts";
import { TokenBucket } from "./rate-limit.ts";

export const TOPIC_PREFIX = "p2pnode/1/";

/** The topic a node listens on: prefix + hex of the first 16 bytes of SHA-256(domain ‖ public key). */
export function topicFor(id: NodeId): string {
  const h = createHash("sha256").update("p2pnode/signaling/v1 topic\0").update(publicKeyFromId(id)).digest();
  return TOPIC_PREFIX + h.subarray(0, 16).toString("hex");
}

export interface MqttTransportOptions {
  /** Our node id (the topic we listen on is derived from it). */
  id: NodeId;
  /** Our own brokers: trusted as configured (may be loopback/private). */
  brokers: readonly string[];
  logger?: Logger;
  /** @default 5000 */
  connectTimeoutMs?: number;
  /** start() resolves when one broker is up or after this long. @default 5000 */
  startTimeoutMs?: number;
  /** @default 5000 */
  publishTimeoutMs?: number;
  /** @default 30 */
  keepaliveSec?: number;
  /** @default 500 */
  reconnectInitialMs?: number;
  /** @default 30000 */
  reconnectMaxMs?: number;
  /** Incoming messages larger than this are dropped. @default 65536 */
  maxMessageBytes?: number;
  /** How long a delivered message's hash is remembered to drop copies from other brokers. @default 120000 */
  dedupeTtlMs?: number;
  /** @default 10000 */
  dedupeMaxEntries?: number;
  /** Outbound connections (brokers only a peer uses) kept open at most. @default 8 */
  maxOutbound?: number;
  /** An unused outbound connection is closed after this long. @default 30000 */
  outboundIdleMs?: number;
  /** Most brokers taken from one peer's list. @default 4 */
  maxPeerBrokers?: number;
  /** Accept private/loopback brokers from peers (tests, labs). @default false */
  allowPrivateBrokers?: boolean;
  /** New connections to peers' brokers per minute at most (a budget against being steered to many hosts). @default 20 */
  maxNewOutboundPerMinute?: number;
  /** Dedupe expiry and the outbound budget read it. @default systemClock */
  clock?: Clock;
  /** Start, idle, reconnect and publish timers. @default systemTimers */
  timers?: Timers;
}

export const MQTT_TRANSPORT_DEFAULTS = Object.freeze({
  connectTimeoutMs: 5000,
  startTimeoutMs: 5000,
  publishTimeoutMs: 5000,
  keepaliveSec: 30,
  reconnectInitialMs: 500,
  reconnectMaxMs: 30_000,
  maxMessageBytes: 65_536,
  dedupeTtlMs: 120_000,
  dedupeMaxEntries: 10_000,
  maxOutbound: 8,
  outboundIdleMs: 30_000,
  maxPeerBrokers: 4,
  allowPrivateBrokers: false,
  maxNewOutboundPerMinute: 20,
});

type Resolved = Required<Omit<MqttTransportOptions, "logger" | "brokers" | "id" | "clock" | "timers">>;

export interface BrokerStatus {
  url: string;
  state: LinkState;
  error?: string;
}

export interface MessageInfo {
  /** The broker (normalised URL) the message arrived through. */
  broker: string;
}

export interface TransportEvents {
  message: [payload: Uint8Array, info: MessageInfo];
  brokerUp: [url: string];
  brokerDown: [url: string, err?: Error];
}

export interface SendOptions {
  timeout?: number;
  signal?: AbortSignal;
}

export interface SendResult {
  /** The broker that acknowledged first. */
  broker: string;
}

/** What the request layer needs from a transport (so another transport can be swapped in). */
export interface SignalTransport extends EventEmitter<TransportEvents> {
  readonly brokerUrls: readonly string[];
  start(opts?: { signal?: AbortSignal }): Promise<BrokerStatus[]>;
  send(peer: NodeId, brokers: readonly string[], payload: Uint8Array, opts?: SendOptions): Promise<SendResult>;
  status(): BrokerStatus[];
  close(): Promise<void>;
}

/** On the lifecycle base (src/util/closable.ts): close() and destroy() are memoized, idempotent and never reject. */
export class MqttTransport extends Closable<TransportEvents> implements SignalTransport {
  readonly id: NodeId;
  readonly topic: string;
  readonly brokerUrls: readonly string[];
  readonly #opts: Resolved;
  readonly #log: Logger;
  readonly #links = new Map<string, BrokerLink>();
  readonly #outbound = new Map<string, { link: BrokerLink; idle: TimerHandle | null }>();
  readonly #seen = new Map<string, number>();
  #newOutbound!: TokenBucket;
  readonly #clock: Clock;
  readonly #timers: Timers;
  #started = false;

  constructor(options: MqttTransportOptions) {
    super("signaling transport");
    if (!options || typeof options !== "object") throw new InvalidArgumentError("MqttTransport options are required");
    publicKeyFromId(options.id);
    const opts = { ...MQTT_TRANSPORT_DEFAULTS } as Resolved;
    for (const k of Object.keys(MQTT_TRANSPORT_DEFAULTS) as Array<keyof Resolved>) {
      const v = options[k];
      if (v === undefined) continue;
      if (k === "allowPrivateBrokers") opts[k] = Boolean(v);
      else if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`${k} must be a non-negative number`);
      else (opts as Record<string, number | boolean>)[k] = v;
    }
    this.#opts = opts;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    this.#newOutbound = new TokenBucket({ capacity: Math.max(1, opts.maxNewOutboundPerMinute), refillPerSecond: opts.maxNewOutboundPerMinute / 60 }, this.#clock.now());
    const urls: string[] = [];
    for (const u of options.brokers ?? []) {
      const v = parseBrokerUrl(u, 2048);
      if (!v.ok) throw new InvalidArgumentError(`brokers: ${JSON.stringify(String(u))} is not a broker URL (${v.reason})`);
      if (!urls.includes(v.url)) urls.push(v.url);
    }
    this.brokerUrls = Object.freeze(urls);
    this.id = options.id;
    this.topic = topicFor(options.id);
    this.#log = (options.logger ?? silentLogger).child("signaling:mqtt");
  }

  /**
   * Connects to every configured broker. Resolves once one is up or after
   * startTimeoutMs (never fails because a broker is down); returns each broker's state.
   */
  async start(opts: { signal?: AbortSignal } = {}): Promise<BrokerStatus[]> {
    if (this.closed) throw new SignalingError("transport is closed");
    if (!this.#started) {
      this.#started = true;
      for (const url of this.brokerUrls) {
        const link = this.#newLink(url, this.topic);
        link.on("up", () => this.emit("brokerUp", url));
        link.on("down", (err) => this.emit("brokerDown", url, err));
        link.on("message", (payload) => this.#onMessage(payload, url));
        this.#links.set(url, link);
      }
    }
    const links = [...this.#links.values()];
    if (links.length > 0 && !links.some((l) => l.state === "up")) await this.#firstOutcome(links, opts.signal);
    return this.status();
  }

  /**
   * Waits until one link is up, every link has failed once (nothing to wait
   * for: each keeps retrying in the background), startTimeoutMs passed or the
   * signal fired, so a node with only dead brokers starts, and says so, at once.
   */
  #firstOutcome(links: BrokerLink[], signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const failed = new Set<BrokerLink>();
      const offs: Array<() => void> = [];
      const finish = () => {
        this.#timers.clearTimeout(timer);
        signal?.removeEventListener("abort", finish);
        for (const off of offs) off();
        resolve();
      };
      const timer = this.#timers.setTimeout(finish, this.#opts.startTimeoutMs);
      signal?.addEventListener("abort", finish, { once: true });
      for (const link of links) {
        const up = () => finish();
        const down = () => {
          failed.add(link);
          if (failed.size === links.length) finish();
        };
        link.on("up", up);
        link.on("down", down);
        offs.push(() => (link.off("up", up), link.off("down", down)));
      }
      if (signal?.aborted) finish();
    });
  }

  #newLink(url: string, topic?: string, extra: { persistent?: boolean; untrusted?: boolean } = {}): BrokerLink {
    return new BrokerLink({
      url,
      topic,
      ...extra,
      logger: this.#log,
      connectTimeoutMs: this.#opts.connectTimeoutMs,
      keepaliveSec: this.#opts.keepaliveSec,
      reconnectInitialMs: this.#opts.reconnectInitialMs,
      reconnectMaxMs: this.#opts.reconnectMaxMs,
      timers: this.#timers,
    });
  }

  /** State of each configured broker. */
  status(): BrokerStatus[] {
    return this.brokerUrls.map((url) => {
      const link = this.#links.get(url);
      const state: LinkState = this.closed ? "closed" : (link?.state ?? "down");
      return link?.lastError && state !== "up" ? { url, state, error: link.lastError.message } : { url, state };
    });
  }

  #onMessage(payload: Buffer, broker: string): void {
    if (this.closed) return;
    if (payload.length > this.#opts.maxMessageBytes) {
      return this.#log.debug("dropping an oversize message", { broker, bytes: payload.length });
    }
    const now = this.#clock.now();
    const key = createHash("sha256").update(payload).digest("base64").slice(0, 22);
    const seenUntil = this.#seen.get(key);
    if (seenUntil !== undefined && seenUntil > now) return this.#log.debug("dropping a copy already delivered", { broker });
    this.#seen.delete(key);
    this.#seen.set(key, now + this.#opts.dedupeTtlMs);
    // Only an optimisation (the envelope's replay cache is the real guard): evicting the oldest is fine here.
    while (this.#seen.size > this.#opts.dedupeMaxEntries) this.#seen.delete(this.#seen.keys().next().value as string);
    this.emit("message", new Uint8Array(payload), { broker });
  }

  /**
   * Publishes `payload` to `peer`'s topic through every usable broker in
   * `brokers` (the peer's list: untrusted, filtered by the broker URL rules).
   * Resolves when the first broker acknowledged; rejects if none did.
   */
  async send(peer: NodeId, brokers: readonly string[], payload: Uint8Array, opts: SendOptions = {}): Promise<SendResult> {
    if (this.closed) throw new SignalingError("transport is closed");
    const topic = topicFor(peer);
    const { accepted, rejected } = filterBrokerUrls([...brokers], {
      maxCount: this.#opts.maxPeerBrokers,
      allowPrivate: this.#opts.allowPrivateBrokers,
      trusted: this.brokerUrls,
    });
    if (rejected.length) this.#log.debug("ignoring peer brokers", { peer, rejected });
    if (accepted.length === 0) throw new SignalingError(`no usable broker for ${peer} (${rejected.map((r) => r.reason).join(", ") || "none listed"})`);
    const timeout = opts.timeout ?? this.#opts.publishTimeoutMs;
    const attempts = accepted.map((url) => this.#publishVia(url, topic, payload, timeout, opts.signal).then(() => ({ broker: url })));
    try {
      return await Promise.any(attempts);
    } catch (err) {
      const errors = (err as AggregateError).errors ?? [err];
      throw new SignalingError(`could not publish to ${peer} through any broker: ${errors.map((e: Error) => e.message).join("; ")}`, { cause: err });
    }
  }

  async #publishVia(url: string, topic: string, payload: Uint8Array, timeout: number, signal?: AbortSignal): Promise<void> {
    const own = this.#links.get(url);
    if (own) return own.publish(topic, payload, timeout, signal);
    const link = this.#outboundLink(url);
    const deadline = this.#clock.now() + timeout;
    await link.ready(timeout, signal);
    await link.publish(topic, payload, Math.max(1, deadline - this.#clock.now()), signal);
    this.#touch(url);
  }

  #outboundLink(url: string): BrokerLink {
    const entry = this.#outbound.get(url);
    if (entry) {
      this.#outbound.delete(url);
      this.#outbound.set(url, entry); // most recently used last
      this.#touch(url);
      return entry.link;
    }
    if (!this.#newOutbound.take(this.#clock.now())) {
      throw new SignalingError(`not connecting to ${url}: more than ${this.#opts.maxNewOutboundPerMinute} new broker connections in a minute`);
    }
    while (this.#outbound.size >= this.#opts.maxOutbound) this.#dropOutbound(this.#outbound.keys().next().value as string);
    // Listening on the peer's broker too: its answers come back the way our request went.
    const link = this.#newLink(url, this.topic, { persistent: false, untrusted: !this.#opts.allowPrivateBrokers });
    link.on("message", (payload) => this.#onMessage(payload, url));
    link.on("closed", () => this.#dropOutbound(url, link));
    this.#outbound.set(url, { link, idle: null });
    this.#touch(url);
    return link;
  }

  #touch(url: string): void {
    const entry = this.#outbound.get(url);
    if (!entry) return;
    if (entry.idle) this.#timers.clearTimeout(entry.idle);
    entry.idle = this.#timers.setTimeout(() => this.#dropOutbound(url), this.#opts.outboundIdleMs);
  }

  #dropOutbound(url: string, only?: BrokerLink): void {
    const entry = this.#outbound.get(url);
    if (!entry || (only && entry.link !== only)) return;
    this.#outbound.delete(url);
    if (entry.idle) this.#timers.clearTimeout(entry.idle);
    entry.link.close();
  }

  /** Closes every connection and timer (close() and destroy(): the transport holds no state worth a graceful phase). */
  protected override async onClose(): Promise<void> {
    for (const link of this.#links.values()) link.close();
    for (const url of [...this.#outbound.keys()]) this.#dropOutbound(url);
    this.#seen.clear();
    this.removeAllListeners();
  }
}

