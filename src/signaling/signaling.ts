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
 * Every time read goes through the injected clock and every wait through the
 * injected timers, so tests run the retry and expiry logic on FakeTime.
 */
import { type Identity, type NodeId, isNodeId } from "../identity/identity.ts";
import { InvalidArgumentError, MessageTooLargeError, SignalingError, TimeoutError, WireError } from "../errors.ts";
import { type Clock, type Timers, sleep, systemClock, systemTimers } from "../util/clock.ts";
import { LifecycleState } from "../util/closable.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import { type Logger, silentLogger } from "../util/logger.ts";
import { ENVELOPE_DEFAULTS, type EnvelopeOptions, type SignalMessage, newMessageId, notBeforeAfterStart, open, recordOpened, seal } from "./envelope.ts";
import { ReplayCache } from "./replay-cache.ts";
import { RateLimiter } from "./rate-limit.ts";
import { filterBrokerUrls } from "./broker-url.ts";
import { type BrokerStatus, type MessageInfo, MqttTransport, type SignalTransport } from "./mqtt-transport.ts";
import { ACK, GET_ADDR, PING, REPLY, RESERVED_TYPES, type ReplyWire, clockEstimate, parseAckWire, parsePing, parsePong, parseReplyWire, parseRequestWire } from "./messages.ts";
import { type AcceptHook, type HandlerOptions, type RequestHandler, type RequestOptions, type SignalingOptions, type Tunables, resolveTunables } from "./signaling-options.ts";
import { InboundTable, type Inbound } from "./inbound-table.ts";
import { HandlerRunner } from "./handlers.ts";
import { Admission, shareOf } from "./admission.ts";
import { Refusals } from "./refusals.ts";
import { errorFromWire, errorToWire } from "./wire-error.ts";

// Kept importable from here: other layers and tests import them by this path.
export { SIGNALING_DEFAULTS, type AcceptHook, type HandlerOptions, type RequestContext, type RequestHandler, type RequestOptions, type SignalingOptions } from "./signaling-options.ts";
export { errorFromWire, errorToWire } from "./wire-error.ts";
/** The clock Signaling reads (an alias of util/clock's, kept for compatibility). */
export type { Clock } from "../util/clock.ts";

interface Pending {
  peer: NodeId;
  acked: boolean;
  resolve(body: unknown): void;
  reject(err: Error): void;
}

export class Signaling {
  readonly id: NodeId;
  readonly transport: SignalTransport;
  readonly #identity: Identity;
  readonly #ownsTransport: boolean;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #env: Required<EnvelopeOptions>;
  readonly #replay: ReplayCache;
  /** Replays of acks and replies to our own requests: bounded by our pending requests, apart from #replay so a flood of requests cannot block our connects. */
  readonly #answerReplay: ReplayCache;
  /** Older messages are refused: the replay cache cannot know what the last run accepted (notBeforeAfterStart). */
  readonly #notBefore: number;
  readonly #admission: Admission;
  readonly #refusals: Refusals;
  readonly #accept: AcceptHook;
  readonly #opts: Readonly<Tunables>;
  readonly #handlers: HandlerRunner;
  readonly #pending = new Map<string, Pending>();
  readonly #inbound: InboundTable;
  // close() and destroy() share one teardown (a destroy during close joins it).
  readonly #state = new LifecycleState("signaling", () => (this.#teardownDone ??= this.#teardown()));
  #teardownDone: Promise<void> | undefined;
  readonly #onMessage = (bytes: Uint8Array, info: MessageInfo) => this.#receive(bytes, info);

  constructor(options: SignalingOptions) {
    if (!options?.identity) throw new InvalidArgumentError("identity is required");
    this.#identity = options.identity;
    this.id = options.identity.id;
    this.#log = (options.logger ?? silentLogger).child("signaling");
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? systemTimers;
    const opts = resolveTunables(options);
    this.#opts = opts;
    this.#env = { ...ENVELOPE_DEFAULTS, ...options.envelope };
    this.#replay = new ReplayCache({ capacity: opts.replayCacheSize });
    this.#answerReplay = new ReplayCache({ capacity: opts.replayCacheSize });
    this.#inbound = new InboundTable(opts);
    const startedAt = this.#clock.now();
    this.#notBefore = notBeforeAfterStart(startedAt, this.#env);
    this.#admission = new Admission({ isKnownPeer: options.isKnownPeer, strangerBudget: options.strangerBudget, now: startedAt, logger: this.#log });
    this.#refusals = new Refusals({ limit: options.refusalLimit, keepMs: opts.requestTimeoutMs, now: startedAt });
    this.#handlers = new HandlerRunner(new RateLimiter(options.rateLimit, this.#clock.now()), opts.maxConcurrentHandlers, this.#clock, this.#log);
    this.#accept = options.accept ?? (() => true);
    if (options.transport) {
      this.transport = options.transport;
      this.#ownsTransport = false;
    } else {
      this.transport = new MqttTransport({
        maxMessageBytes: this.#env.maxBytes,
        allowPrivateBrokers: opts.allowPrivateBrokers,
        clock: this.#clock,
        timers: this.#timers,
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

  /** Aborts when close() or destroy() begins; every request's deadline is linked to it. */
  get lifetime(): AbortSignal {
    return this.#state.lifetime;
  }

  /** Connects the transport; resolves once a broker is up or the start timeout passed. */
  start(opts: { signal?: AbortSignal } = {}): Promise<BrokerStatus[]> {
    if (this.#state.closed) return Promise.reject(new SignalingError("signaling is closed"));
    return this.transport.start(opts);
  }

  /** Registers the handler for request `type` (replacing any earlier one). */
  on(type: string, handler: RequestHandler, options: HandlerOptions = {}): this {
    this.#handlers.set(type, handler, options);
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
    if (this.#state.closed) throw new SignalingError("signaling is closed");
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

    const what = `${type} request to ${peerId.slice(0, 12)}…`;
    // `settled` stops the re-send loop once the request has an outcome; the deadline folds in the caller and close().
    const settled = new AbortController();
    const d = deadline({ timeout, signals: [opts.signal, this.#state.lifetime, settled.signal], what, clock: this.#clock, timers: this.#timers });
    let pending!: Pending;
    const result = new Promise<unknown>((resolve, reject) => {
      pending = { peer: peerId, acked: false, resolve, reject };
    });
    this.#pending.set(id, pending);
    let lastSendError: Error | undefined;
    const loop = (async () => {
      while (!d.signal.aborted && d.remaining() > 0) {
        try {
          const bytes = this.#sealChecked(peerId, type, wire, id);
          await this.transport.send(peerId, accepted, bytes, { timeout: d.remaining(), signal: d.signal });
          lastSendError = undefined;
        } catch (err) {
          lastSendError = err as Error;
          this.#log.debug("request send failed", { type, id, error: (err as Error).message });
        }
        const wait = pending.acked ? this.#opts.ackedRetryIntervalMs : this.#opts.retryIntervalMs;
        await sleep(Math.min(wait, d.remaining()), d.signal, this.#timers);
      }
    })();
    try {
      return await raceSignal(result, d.signal);
    } catch (err) {
      if (err instanceof TimeoutError) {
        const why = pending.acked ? "acknowledged but no reply" : lastSendError ? `not delivered (${lastSendError.message})` : "no acknowledgement";
        throw new TimeoutError(`${what}: ${why} within ${timeout} ms`, { cause: lastSendError });
      }
      throw err;
    } finally {
      this.#pending.delete(id);
      settled.abort();
      d.done();
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
    if (this.#state.closed) return;
    try {
      const now = this.#clock.now();
      const r = open(this.#identity, bytes, { ...this.#env, now, notBefore: this.#notBefore, record: false, replay: this.#replay, logger: this.#log });
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
    const state = this.#inbound.get(msg.from, msg.id);
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
    if (this.#inbound.has(msg.from, msg.id)) return this.#onDuplicate(msg);
    const now = this.#clock.now();
    const refused = this.#refusals.get(msg.from, msg.id, now);
    if (refused) return this.#resendRefusal(msg.from, refused.brokers, refused.bytes, now);
    // Each class may fill the caches only up to its share (admission.ts): a flood of fresh identities cannot lock out peers we know.
    const cls = this.#admission.classify(msg.from, { contacted: this.#contacted(msg.from), inTable: this.#inbound.holds(msg.from, now) });
    const tableLimit = shareOf(cls, this.#opts.maxRemembered);
    const noRoom = this.#inbound.makeRoom(msg.from, now, tableLimit);
    if (noRoom === "full") return this.#log.debug("too many requests remembered; dropping", { from: msg.from, class: cls });
    if (noRoom === "quota") return this.#log.debug("sender over its request quota; dropping", { from: msg.from });
    // Before accept(): a flood of strangers beyond the budget costs neither accept() nor an answer.
    if (cls === "stranger" && !this.#admission.admitStranger(now)) return this.#log.debug("strangers' budget spent; dropping unanswered", { from: msg.from });
    const replyTo = this.#replyRoute(wire.replyTo, info.broker);
    // accept() first: what it refuses is answered (within the refusal limit) but neither remembered
    // nor recorded against replays, so refused senders cannot fill either for everyone else.
    if (!(await this.#accepts(msg, info))) return this.#refuse(msg, replyTo);
    if (this.#state.closed) return;
    if (this.#inbound.has(msg.from, msg.id)) return this.#onDuplicate(msg); // a copy arrived while accept() ran
    // Checked again: other requests may have taken the last slots while accept() ran.
    if (this.#inbound.check(msg.from, tableLimit) !== undefined) return this.#log.debug("request limits reached while accept() ran; dropping", { from: msg.from });
    const limit = shareOf(cls, this.#opts.replayCacheSize);
    const verdict = recordOpened(this.#replay, msg, { now: this.#clock.now(), maxAgeMs: this.#env.maxAgeMs, limit });
    if (verdict === "duplicate") return;
    if (verdict === "full") return this.#log.warn("signaling replay cache is full of live entries; refusing new requests until they expire", { from: msg.from });
    // Remembered as long as a copy could still be accepted, plus the longest a requester waits by default.
    const state: Inbound = { from: msg.from, replyTo, expires: now + this.#env.maxAgeMs + this.#env.maxFutureMs + this.#opts.requestTimeoutMs };
    this.#inbound.add(msg.id, state);
    this.#send(msg.from, replyTo, ACK, { re: msg.id });
    const reply = await this.#handlers.handle(msg, wire.body, info);
    state.reply = reply;
    this.#send(msg.from, replyTo, REPLY, reply);
  }

  /** Whether we have a request out to `peer`: we chose to talk to it, so it counts as known. */
  #contacted(peer: NodeId): boolean {
    return [...this.#pending.values()].some((p) => p.peer === peer);
  }

  /** Answers a request accept() refused, within the refusal limit, and keeps the sealed answer for its re-sent copies (refusals.ts). */
  #refuse(msg: SignalMessage, replyTo: string[]): void {
    if (this.#state.closed) return;
    if (!this.#refusals.mayReply(msg.from, this.#clock.now())) return this.#log.debug("refusal limit reached; refusing silently", { from: msg.from });
    // A fixed, small body: sealing it cannot fail on size or type.
    const bytes = this.#sealChecked(msg.from, REPLY, { re: msg.id, ok: false, error: { code: WireError.REFUSED, message: "not accepted" } });
    this.#refusals.keep(msg.from, msg.id, bytes, replyTo, this.#clock.now());
    this.transport.send(msg.from, replyTo, bytes).catch((err) => this.#log.debug("could not send a refusal", { to: msg.from, error: (err as Error).message }));
  }

  /** A copy of a refused request: the kept bytes again (no new seal), within the same limit. */
  #resendRefusal(to: NodeId, brokers: string[], bytes: Uint8Array, now: number): void {
    if (!this.#refusals.mayReply(to, now)) return this.#log.debug("refusal limit reached; not re-sending a refusal", { from: to });
    this.transport.send(to, brokers, bytes).catch((err) => this.#log.debug("could not re-send a refusal", { to, error: (err as Error).message }));
  }

  async #accepts(msg: SignalMessage, info: MessageInfo): Promise<boolean> {
    try {
      return (await this.#accept(msg.from, { type: msg.type, id: msg.id, broker: info.broker })) === true;
    } catch (err) {
      this.#log.warn("accept hook threw; refusing", { error: (err as Error).message });
      return false;
    }
  }

  /**
   * Counts `task` as a running handler until it settles: work a handler goes
   * on with after its reply (a background punch) stays inside maxConcurrentHandlers.
   */
  hold(task: Promise<unknown>): void {
    this.#handlers.hold(task);
  }

  /** Running handlers, background work included (tests, diagnostics). */
  get running(): number {
    return this.#handlers.running;
  }

  /** Seals and sends one ack/reply; failures are logged (the requester re-sends). Never throws. */
  #send(to: NodeId, brokers: string[], type: string, body: unknown): void {
    if (this.#state.closed) return;
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

  /** Rejects pending requests (the lifetime aborts first), stops re-sends, closes the transport if we built it. */
  async #teardown(): Promise<void> {
    this.transport.off("message", this.#onMessage);
    this.#inbound.clear();
    this.#replay.clear();
    this.#answerReplay.clear();
    this.#refusals.clear();
    if (this.#ownsTransport) await this.transport.close().catch(() => {});
  }

  /** Graceful stop. Memoized and idempotent: every call returns the first call's promise, which never rejects. */
  close(): Promise<void> {
    return this.#state.close();
  }

  /** Same teardown as close() (nothing to flush); memoized, never rejects. */
  destroy(err?: Error): Promise<void> {
    return this.#state.destroy(err);
  }
}
