/**
 * The signaling request/response layer over a SignalTransport (MQTT by default).
 *
 *   requester                              responder
 *   request(type, body) ── req (id) ──────▶ open() → dedupe by (from, id)
 *        ◀──────────────── ack (re: id) ─── (sent at once, and again for each copy)
 *        │ re-sends (fresh seal, same id)    accept() → rate limit → handler
 *        ◀──────────────── reply (re: id) ─ (cached; re-sent for a late copy)
 *
 * Re-sends go through every broker the peer lists, faster until the ack
 * arrives, until the deadline. Wire format: docs/signaling.md §Requests.
 */
import { type Identity, type NodeId, isNodeId } from "../identity/identity.ts";
import {
  AbortError,
  DialError,
  InvalidArgumentError,
  MessageTooLargeError,
  RefusedError,
  SignalingError,
  TimeoutError,
  WireError,
  isP2PError,
} from "../errors.ts";
import { type Logger, silentLogger } from "../util/logger.ts";
import { ENVELOPE_DEFAULTS, type EnvelopeOptions, type SignalMessage, newMessageId, open, recordOpened, seal } from "./envelope.ts";
import { ReplayCache } from "./replay-cache.ts";
import { RateLimiter, type RateLimitOptions } from "./rate-limit.ts";
import { filterBrokerUrls } from "./broker-url.ts";
import { type BrokerStatus, type MessageInfo, MqttTransport, type MqttTransportOptions, type SignalTransport } from "./mqtt-transport.ts";
import {
  ACK,
  GET_ADDR,
  PING,
  REPLY,
  RESERVED_TYPES,
  type ReplyWire,
  type WireErrorBody,
  clockEstimate,
  parseAckWire,
  parsePing,
  parsePong,
  parseReplyWire,
  parseRequestWire,
} from "./messages.ts";
import { sleeper, withTimeout } from "./wait.ts";

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

export interface Clock {
  now(): number;
}

export interface SignalingOptions {
  identity: Identity;
  /** Our own brokers (trusted as configured). Ignored when `transport` is given. */
  brokers?: readonly string[];
  /** A transport to use instead of building an MqttTransport (its close() is then the caller's job). */
  transport?: SignalTransport;
  /** Options for the MqttTransport we build (id and brokers are filled in). */
  mqtt?: Omit<MqttTransportOptions, "id" | "brokers" | "logger">;
  logger?: Logger;
  /** @default Date */
  clock?: Clock;
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

type Tunables = {
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

interface Pending {
  peer: NodeId;
  acked: boolean;
  resolve(body: unknown): void;
  reject(err: Error): void;
}

interface Inbound {
  from: NodeId;
  replyTo: string[];
  expires: number;
  reply?: ReplyWire;
}

/** Maps a reply's wire error to the error request() rejects with. */
export function errorFromWire(e: WireErrorBody, peer: string): Error {
  const msg = `peer ${peer.slice(0, 12)}…: ${e.message}`;
  if (e.code === WireError.REFUSED) return new RefusedError(msg);
  if (e.code === WireError.DIAL_FAILED) return new DialError(msg);
  if (e.code === WireError.TOO_LARGE) return new MessageTooLargeError(msg);
  return new SignalingError(msg);
}

/** Maps a handler's error to the wire; only our own errors' messages cross the wire. */
export function errorToWire(err: unknown): WireErrorBody {
  if (err instanceof RefusedError) return { code: WireError.REFUSED, message: err.message };
  if (err instanceof DialError) return { code: WireError.DIAL_FAILED, message: err.message };
  if (err instanceof MessageTooLargeError) return { code: WireError.TOO_LARGE, message: err.message };
  if (isP2PError(err)) return { code: WireError.PROTOCOL, message: err.message };
  return { code: WireError.PROTOCOL, message: "handler failed" };
}

export class Signaling {
  readonly id: NodeId;
  readonly transport: SignalTransport;
  readonly #identity: Identity;
  readonly #ownsTransport: boolean;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #env: Required<EnvelopeOptions>;
  readonly #replay: ReplayCache;
  /** Replays of acks and replies to our own requests: bounded by our pending requests, apart from #replay so a flood of requests cannot block our connects. */
  readonly #answerReplay: ReplayCache;
  /** Requests remembered per sender (the per-sender quota). */
  readonly #perSender = new Map<NodeId, number>();
  /** Messages dated before this were sent before we started: the replay cache cannot know them. */
  readonly #startedAt: number;
  readonly #limiter: RateLimiter;
  readonly #accept: AcceptHook;
  readonly #opts: Readonly<Tunables>;
  readonly #handlers = new Map<string, { fn: RequestHandler; dialsOut: boolean }>();
  readonly #pending = new Map<string, Pending>();
  readonly #inbound = new Map<string, Inbound>();
  readonly #closers = new Set<AbortController>();
  #running = 0;
  #closed = false;
  readonly #onMessage = (bytes: Uint8Array, info: MessageInfo) => this.#receive(bytes, info);

  constructor(options: SignalingOptions) {
    if (!options?.identity) throw new InvalidArgumentError("identity is required");
    this.#identity = options.identity;
    this.id = options.identity.id;
    this.#log = (options.logger ?? silentLogger).child("signaling");
    this.#clock = options.clock ?? Date;
    const opts: Tunables = { ...SIGNALING_DEFAULTS };
    for (const k of Object.keys(SIGNALING_DEFAULTS) as Array<keyof Tunables>) {
      const v = options[k];
      if (v === undefined) continue;
      if (k === "allowPrivateBrokers") opts[k] = Boolean(v);
      else if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`${k} must be a positive number`);
      else (opts as Record<string, unknown>)[k] = v;
    }
    this.#opts = Object.freeze(opts);
    this.#env = { ...ENVELOPE_DEFAULTS, ...options.envelope };
    this.#replay = new ReplayCache({ capacity: opts.replayCacheSize });
    this.#answerReplay = new ReplayCache({ capacity: opts.replayCacheSize });
    this.#startedAt = this.#clock.now();
    this.#limiter = new RateLimiter(options.rateLimit, this.#clock.now());
    this.#accept = options.accept ?? (() => true);
    if (options.transport) {
      this.transport = options.transport;
      this.#ownsTransport = false;
    } else {
      this.transport = new MqttTransport({
        maxMessageBytes: this.#env.maxBytes,
        allowPrivateBrokers: opts.allowPrivateBrokers,
        ...options.mqtt,
        id: this.id,
        brokers: options.brokers ?? [],
        logger: options.logger,
      });
      this.#ownsTransport = true;
    }
    this.transport.on("message", this.#onMessage);
    this.on(PING, (body, _from, ctx) => {
      const { t0 } = parsePing(body);
      return { t0, t1: ctx.receivedAt, t2: this.#clock.now() };
    });
    const getAddress = options.getAddress;
    this.on(GET_ADDR, async () => {
      if (!getAddress) throw new SignalingError("this node does not publish an address");
      return { address: await getAddress() };
    });
  }

  /** Connects the transport; resolves once a broker is up or the start timeout passed. */
  start(opts: { signal?: AbortSignal } = {}): Promise<BrokerStatus[]> {
    if (this.#closed) return Promise.reject(new SignalingError("signaling is closed"));
    return this.transport.start(opts);
  }

  /** Registers the handler for request `type` (replacing any earlier one). */
  on(type: string, handler: RequestHandler, options: HandlerOptions = {}): this {
    if (RESERVED_TYPES.has(type) || !/^[a-z0-9][a-z0-9.-]{0,63}$/.test(type)) throw new InvalidArgumentError(`cannot handle type ${JSON.stringify(type)}`);
    if (typeof handler !== "function") throw new InvalidArgumentError("handler must be a function");
    this.#handlers.set(type, { fn: handler, dialsOut: options.dialsOut === true });
    return this;
  }

  off(type: string): this {
    this.#handlers.delete(type);
    return this;
  }

  // ------------------------------------------------------------ requester side

  /**
   * Sends request `type` to `peerId` through the brokers it lists and resolves
   * with the reply body. Rejects with TimeoutError, AbortError, RefusedError,
   * DialError, MessageTooLargeError or SignalingError.
   */
  async request(peerId: NodeId, peerBrokers: readonly string[], type: string, body: unknown, opts: RequestOptions = {}): Promise<unknown> {
    if (this.#closed) throw new SignalingError("signaling is closed");
    if (!isNodeId(peerId)) throw new InvalidArgumentError("peerId is not a node id");
    if (RESERVED_TYPES.has(type)) throw new InvalidArgumentError(`${type} is reserved`);
    const timeout = opts.timeout ?? this.#opts.requestTimeoutMs;
    if (!(timeout > 0)) throw new InvalidArgumentError("timeout must be positive");
    const { accepted } = filterBrokerUrls([...peerBrokers], {
      allowPrivate: this.#opts.allowPrivateBrokers,
      trusted: this.transport.brokerUrls,
    });
    if (accepted.length === 0) throw new SignalingError(`no usable broker for ${peerId}`);
    const id = newMessageId();
    const wire = { replyTo: [...this.transport.brokerUrls], body };
    // Sealing once up front reports a too-large body or bad type before anything is sent.
    this.#sealChecked(peerId, type, wire, id);

    const stop = new AbortController();
    this.#closers.add(stop);
    let pending!: Pending;
    const result = new Promise<unknown>((resolve, reject) => {
      pending = { peer: peerId, acked: false, resolve, reject };
    });
    this.#pending.set(id, pending);
    let lastSendError: Error | undefined;
    const nap = sleeper();
    const loop = (async () => {
      const deadline = Date.now() + timeout;
      while (!stop.signal.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        try {
          const bytes = this.#sealChecked(peerId, type, wire, id);
          await this.transport.send(peerId, accepted, bytes, { timeout: left, signal: stop.signal });
          lastSendError = undefined;
        } catch (err) {
          lastSendError = err as Error;
          this.#log.debug("request send failed", { type, id, error: (err as Error).message });
        }
        const wait = pending.acked ? this.#opts.ackedRetryIntervalMs : this.#opts.retryIntervalMs;
        await nap.sleep(Math.min(wait, deadline - Date.now()), stop.signal);
      }
    })();
    const closed = new Promise<never>((_, reject) => stop.signal.addEventListener("abort", () => reject(new AbortError("signaling closed")), { once: true }));
    try {
      return await withTimeout(Promise.race([result, closed]), timeout, `${type} request to ${peerId.slice(0, 12)}…`, opts.signal);
    } catch (err) {
      if (err instanceof TimeoutError) {
        const why = pending.acked ? "acknowledged but no reply" : lastSendError ? `not delivered (${lastSendError.message})` : "no acknowledgement";
        throw new TimeoutError(`${type} request to ${peerId.slice(0, 12)}…: ${why} within ${timeout} ms`, { cause: lastSendError });
      }
      throw err;
    } finally {
      this.#pending.delete(id);
      this.#closers.delete(stop);
      stop.abort();
      await loop;
    }
  }

  /** Round trip and clock offset (peer minus us, ms) from one ping, NTP-style. */
  async ping(peerId: NodeId, peerBrokers: readonly string[], opts: RequestOptions = {}): Promise<{ rttMs: number; offsetMs: number }> {
    const t0 = this.#clock.now();
    const pong = parsePong(await this.request(peerId, peerBrokers, PING, { t0 }, opts));
    if (pong.t0 !== t0) throw new SignalingError("pong does not echo our t0");
    return clockEstimate(pong, this.#clock.now());
  }

  #sealChecked(to: NodeId, type: string, body: unknown, id?: string): Uint8Array {
    const bytes = seal(this.#identity, to, { type, body, id, timestamp: this.#clock.now() });
    if (bytes.length > this.#env.maxBytes) throw new MessageTooLargeError(`${type} message is ${bytes.length} bytes, more than ${this.#env.maxBytes}`);
    return bytes;
  }

  // ------------------------------------------------------------ receiving

  /** Everything a broker delivers is hostile until opened; nothing here may throw into the transport. */
  #receive(bytes: Uint8Array, info: MessageInfo): void {
    if (this.#closed) return;
    try {
      const now = this.#clock.now();
      const r = open(this.#identity, bytes, { ...this.#env, now, notBefore: this.#startedAt, record: false, replay: this.#replay, logger: this.#log });
      if (!r.ok) {
        if (r.reason === "bad-key") this.#log.warn("dropping a signaling message signed with an invalid key (forged)", { broker: info.broker });
        // An authentic copy we already opened: treat like a re-sent request (re-ack, re-send the reply).
        else if (r.reason === "replayed" && r.message && !RESERVED_TYPES.has(r.message.type)) this.#onDuplicate(r.message);
        return;
      }
      const msg = r.message;
      if (msg.type === ACK) return this.#onAck(msg, now);
      if (msg.type === REPLY) return this.#onReply(msg, now);
      this.#onRequest(msg, info).catch((err) => this.#log.warn("a signaling request handler failed", { from: msg.from, type: msg.type, error: (err as Error)?.message }));
    } catch (err) {
      this.#log.warn("dropping a signaling message that could not be handled", { broker: info.broker, error: (err as Error)?.message });
    }
  }

  /** Acks and replies are recorded against replays only when they answer one of our own requests. */
  #answers(msg: SignalMessage, re: string | undefined, now: number): Pending | undefined {
    const p = re === undefined ? undefined : this.#pending.get(re);
    if (!p || p.peer !== msg.from) return undefined;
    return recordOpened(this.#answerReplay, msg, { now, maxAgeMs: this.#env.maxAgeMs }) === "added" ? p : undefined;
  }

  #onAck(msg: SignalMessage, now: number): void {
    const p = this.#answers(msg, parseAckWire(msg.body)?.re, now);
    if (p) p.acked = true;
  }

  #onReply(msg: SignalMessage, now: number): void {
    const reply = parseReplyWire(msg.body);
    const p = reply ? this.#answers(msg, reply.re, now) : undefined;
    if (!reply || !p) return this.#log.debug("dropping an unmatched reply", { from: msg.from });
    p.acked = true;
    if (reply.ok) p.resolve(reply.body);
    else p.reject(errorFromWire(reply.error, msg.from));
  }

  #onDuplicate(msg: SignalMessage): void {
    const state = this.#inbound.get(`${msg.from}:${msg.id}`);
    if (!state) return;
    this.#log.debug("duplicate request: re-acknowledging", { from: msg.from, id: msg.id });
    this.#send(msg.from, state.replyTo, ACK, { re: msg.id });
    if (state.reply) this.#send(msg.from, state.replyTo, REPLY, state.reply);
  }

  /**
   * Where acks and replies go: the broker the request came through, and any of
   * our own brokers the requester also lists. Never a broker only the request
   * names: that would let any sender make us connect wherever it likes (a
   * requester listens on the brokers it sends through, so this reaches it).
   */
  #replyRoute(replyTo: readonly unknown[], broker: string): string[] {
    const own = this.transport.brokerUrls;
    const listed = filterBrokerUrls([...replyTo], { allowPrivate: true, maxCount: 16 }).accepted.filter((u) => own.includes(u));
    return [...new Set([broker, ...listed])];
  }

  async #onRequest(msg: SignalMessage, info: MessageInfo): Promise<void> {
    const wire = parseRequestWire(msg.body);
    if (!wire) return this.#log.debug("dropping a request without a valid body", { from: msg.from, type: msg.type });
    const key = `${msg.from}:${msg.id}`;
    if (this.#inbound.has(key)) return this.#onDuplicate(msg);
    const now = this.#clock.now();
    const overQuota = () => (this.#perSender.get(msg.from) ?? 0) >= this.#opts.maxPerSender;
    if (this.#inbound.size >= this.#opts.maxRemembered || overQuota()) {
      for (const [k, s] of this.#inbound) if (s.expires <= now) this.#inboundDelete(k, s);
      if (this.#inbound.size >= this.#opts.maxRemembered) return this.#log.debug("too many requests remembered; dropping", { from: msg.from });
      if (overQuota()) return this.#log.debug("sender over its request quota; dropping", { from: msg.from });
    }
    const replyTo = this.#replyRoute(wire.replyTo, info.broker);
    // accept() first: what it refuses is answered but neither remembered nor recorded against
    // replays, so a flood from throwaway identities cannot fill either for everyone else.
    if (!(await this.#accepts(msg, info))) return this.#send(msg.from, replyTo, REPLY, { re: msg.id, ok: false, error: { code: WireError.REFUSED, message: "not accepted" } });
    if (this.#closed) return;
    if (this.#inbound.has(key)) return this.#onDuplicate(msg); // a copy arrived while accept() ran
    // Checked again: other requests may have taken the last slots while accept() ran.
    if (this.#inbound.size >= this.#opts.maxRemembered || overQuota()) return this.#log.debug("request limits reached while accept() ran; dropping", { from: msg.from });
    const verdict = recordOpened(this.#replay, msg, { now: this.#clock.now(), maxAgeMs: this.#env.maxAgeMs });
    if (verdict === "duplicate") return;
    if (verdict === "full") return this.#log.warn("signaling replay cache is full of live entries; refusing new requests until they expire", { from: msg.from });
    // Remembered as long as a copy could still be accepted, plus the longest a requester waits by default.
    const state: Inbound = { from: msg.from, replyTo, expires: now + this.#env.maxAgeMs + this.#env.maxFutureMs + this.#opts.requestTimeoutMs };
    this.#inbound.set(key, state);
    this.#perSender.set(msg.from, (this.#perSender.get(msg.from) ?? 0) + 1);
    this.#send(msg.from, replyTo, ACK, { re: msg.id });
    const reply = await this.#handle(msg, wire.body, info);
    state.reply = reply;
    this.#send(msg.from, replyTo, REPLY, reply);
  }

  #inboundDelete(key: string, s: Inbound): void {
    this.#inbound.delete(key);
    const n = (this.#perSender.get(s.from) ?? 1) - 1;
    if (n > 0) this.#perSender.set(s.from, n);
    else this.#perSender.delete(s.from);
  }

  async #accepts(msg: SignalMessage, info: MessageInfo): Promise<boolean> {
    try {
      return (await this.#accept(msg.from, { type: msg.type, id: msg.id, broker: info.broker })) === true;
    } catch (err) {
      this.#log.warn("accept hook threw; refusing", { error: (err as Error).message });
      return false;
    }
  }

  async #handle(msg: SignalMessage, body: unknown, info: MessageInfo): Promise<ReplyWire> {
    const re = msg.id;
    const fail = (code: WireError, message: string): ReplyWire => ({ re, ok: false, error: { code, message } });
    if (this.#running >= this.#opts.maxConcurrentHandlers) return fail(WireError.REFUSED, "busy");
    this.#running++;
    try {
      const h = this.#handlers.get(msg.type);
      if (!h) return fail(WireError.PROTOCOL, `unknown request type ${msg.type}`);
      if (h.dialsOut && !this.#limiter.take(msg.from, this.#clock.now())) {
        this.#log.debug("dial-out rate limit", { from: msg.from, type: msg.type });
        return fail(WireError.REFUSED, "rate limited");
      }
      const ctx: RequestContext = { from: msg.from, type: msg.type, id: msg.id, sentAt: msg.timestamp, receivedAt: this.#clock.now(), broker: info.broker };
      try {
        const result = await h.fn(body, msg.from, ctx);
        return { re, ok: true, body: result === undefined ? null : result };
      } catch (err) {
        this.#log.debug("handler failed", { type: msg.type, error: (err as Error)?.message });
        return { re, ok: false, error: errorToWire(err) };
      }
    } finally {
      this.#running--;
    }
  }

  /**
   * Counts `task` as a running handler until it settles: work a handler goes
   * on with after its reply (a background punch) stays inside maxConcurrentHandlers.
   */
  hold(task: Promise<unknown>): void {
    this.#running++;
    void task.then(
      () => this.#running--,
      () => this.#running--,
    );
  }

  /** Running handlers, background work included (tests, diagnostics). */
  get running(): number {
    return this.#running;
  }

  /** Seals and sends one ack/reply; failures are logged (the requester re-sends). Never throws. */
  #send(to: NodeId, brokers: string[], type: string, body: unknown): void {
    if (this.#closed) return;
    try {
      let bytes: Uint8Array;
      try {
        bytes = this.#sealChecked(to, type, body);
      } catch (err) {
        if (type !== REPLY) throw err;
        // A reply too large to seal goes back as an error reply; if even that fails, the outer catch drops it.
        bytes = this.#sealChecked(to, type, { re: (body as ReplyWire).re, ok: false, error: errorToWire(err) });
      }
      this.transport.send(to, brokers, bytes).catch((err) => this.#log.debug(`could not send ${type}`, { to, error: (err as Error).message }));
    } catch (err) {
      this.#log.warn(`could not seal a signaling ${type}; dropped`, { to, error: (err as Error)?.message });
    }
  }

  /** Rejects pending requests, stops re-sends, closes the transport if we built it. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.off("message", this.#onMessage);
    for (const c of this.#closers) c.abort();
    this.#inbound.clear();
    this.#perSender.clear();
    this.#replay.clear();
    this.#answerReplay.clear();
    if (this.#ownsTransport) await this.transport.close().catch(() => {});
  }

  destroy(): Promise<void> {
    return this.close();
  }
}
