/**
 * One connection to one MQTT broker, owned by the transport. A "listening"
 * link subscribes to our own topic and reconnects with exponential backoff
 * when the broker drops; an "outbound" link (a broker only a peer uses)
 * publishes, also subscribes to our topic so that the peer can answer through
 * the broker we reached it by, and is discarded when it fails. An outbound
 * link's host name is resolved first and refused if any address it resolves to
 * is not public: a peer's broker URL must not lead us into our own network.
 *
 * The MQTT client id is random on every connection: a client id anyone can
 * derive (such as the node id) would let anyone kick the node off a broker
 * (MQTT 3.1.1 §3.1.4: the server disconnects an existing client with the same id).
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import dns from "node:dns";
import net from "node:net";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { isPrivateOrLocal } from "../util/ip.ts";
import { AbortError, SignalingError } from "../errors.ts";
import type { Logger } from "../util/logger.ts";
import { systemTimers, type TimerHandle, type Timers } from "../util/clock.ts";
import { withDeadline } from "../util/deadline.ts";

export type LinkState = "connecting" | "up" | "down" | "closed";

export interface BrokerLinkOptions {
  url: string;
  /** Subscribe to this topic (and deliver what arrives on it). */
  topic?: string;
  /** Reconnect forever (our own brokers); otherwise the link closes when it fails. @default true when topic is set */
  persistent?: boolean;
  /** A peer's broker: resolve its name first and refuse non-public addresses. @default false */
  untrusted?: boolean;
  logger: Logger;
  connectTimeoutMs: number;
  keepaliveSec: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Reconnect backoff and wait timers. @default systemTimers */
  timers?: Timers;
}

interface LinkEvents {
  up: [];
  down: [err?: Error];
  message: [payload: Buffer];
  closed: [];
}

export class BrokerLink extends EventEmitter<LinkEvents> {
  readonly url: string;
  #opts: BrokerLinkOptions;
  #client: MqttClient | null = null;
  #state: LinkState = "connecting";
  #attempt = 0;
  #timer: TimerHandle | null = null;
  #lastError: Error | undefined;

  constructor(opts: BrokerLinkOptions) {
    super();
    this.url = opts.url;
    this.#opts = opts;
    this.#connect();
  }

  get state(): LinkState {
    return this.#state;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  get #timers(): Timers {
    return this.#opts.timers ?? systemTimers;
  }

  get #persistent(): boolean {
    return this.#opts.persistent ?? this.#opts.topic !== undefined;
  }

  #connect(): void {
    this.#timer = null;
    if (this.#state === "closed") return;
    this.#state = "connecting";
    if (!this.#opts.untrusted) return this.#open(this.url);
    pinHost(this.url).then(
      (pinned) => this.#state === "connecting" && this.#open(pinned.url, pinned.lookup),
      (err) => this.#fail(err as Error),
    );
  }

  #open(url: string, lookup?: PinnedLookup): void {
    if (this.#state === "closed") return;
    const options: IClientOptions = {
      clientId: "p2pnode-" + randomBytes(12).toString("hex"),
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0, // our own backoff below
      connectTimeout: this.#opts.connectTimeoutMs,
      keepalive: this.#opts.keepaliveSec,
      resubscribe: false,
      queueQoSZero: false,
      // MQTT.js rebuilds ws URLs from parts and loses the brackets of an IPv6 host.
      transformWsUrl: () => url,
    };
    if (lookup) Object.assign(options, { lookup, wsOptions: { lookup } }); // TLS and WebSocket connect through our resolution
    const client = mqtt.connect(url, options);
    this.#client = client;
    client.on("connect", () => {
      if (client !== this.#client) return;
      // Small latency-bound messages: do not let Nagle hold them back (TCP streams only).
      (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
      if (!this.#opts.topic) return this.#setUp();
      client.subscribe(this.#opts.topic, { qos: 0 }, (err, granted) => {
        if (client !== this.#client) return;
        if (err || !granted || granted.some((g) => g.qos === 128)) return this.#fail(new SignalingError(`subscribe refused by ${url}`, { cause: err }));
        this.#setUp();
      });
    });
    client.on("message", (_topic, payload, packet) => {
      if (client !== this.#client) return;
      // A retained message is stale by definition: whoever left it is not talking to us now.
      if (packet.retain) return this.#opts.logger.debug("dropping a retained message", { broker: url });
      if (_topic !== this.#opts.topic) return;
      this.emit("message", payload);
    });
    client.on("error", (err) => {
      if (client === this.#client) this.#lastError = err;
    });
    client.on("close", () => {
      if (client === this.#client) this.#fail(this.#lastError ?? new SignalingError(`connection to ${url} closed`));
    });
  }

  #setUp(): void {
    this.#attempt = 0;
    this.#lastError = undefined;
    this.#state = "up";
    this.#opts.logger.debug("broker up", { broker: this.url });
    this.emit("up");
  }

  #fail(err: Error): void {
    if (this.#state === "closed" || this.#state === "down") return;
    const wasUp = this.#state === "up";
    this.#state = "down";
    this.#lastError = err;
    const client = this.#client;
    this.#client = null;
    client?.removeAllListeners();
    client?.on("error", () => {}); // late socket errors after end() must not crash the process
    client?.end(true);
    this.#opts.logger.debug("broker down", { broker: this.url, error: err.message, wasUp });
    this.emit("down", err);
    if (!this.#persistent) return void this.close();
    const base = Math.min(this.#opts.reconnectMaxMs, this.#opts.reconnectInitialMs * 2 ** Math.min(this.#attempt++, 20));
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.#timer = this.#timers.setTimeout(() => this.#connect(), delay);
  }

  /** Resolves when the link is up; rejects on timeout, abort, or (outbound links) failure. */
  ready(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#state === "up") return Promise.resolve();
    if (this.#state === "closed") return Promise.reject(new SignalingError(`link to ${this.url} is closed`, { cause: this.#lastError }));
    let off = () => {};
    const p = new Promise<void>((resolve, reject) => {
      const up = () => (off(), resolve());
      const gone = () => (off(), reject(new SignalingError(`could not connect to ${this.url}`, { cause: this.#lastError })));
      const down = () => {
        if (!this.#persistent) gone();
      };
      off = () => {
        this.off("up", up);
        this.off("down", down);
        this.off("closed", gone);
      };
      this.on("up", up);
      this.on("down", down);
      this.on("closed", gone);
    });
    return withDeadline({ timeout: timeoutMs, signals: [signal], what: `connecting to ${this.url}`, timers: this.#timers }, () => p).finally(() => off());
  }

  /** Publishes (QoS 1, never retained); resolves when the broker acknowledged it. */
  publish(topic: string, payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const client = this.#client;
    if (this.#state !== "up" || !client) return Promise.reject(new SignalingError(`broker ${this.url} is not connected`));
    if (signal?.aborted) return Promise.reject(new AbortError("publish aborted"));
    const p = new Promise<void>((resolve, reject) => {
      client.publish(topic, Buffer.from(payload), { qos: 1, retain: false }, (err) =>
        err ? reject(new SignalingError(`publish to ${this.url} failed: ${err.message}`, { cause: err })) : resolve(),
      );
    });
    return withDeadline({ timeout: timeoutMs, signals: [signal], what: `publishing to ${this.url}`, timers: this.#timers }, () => p);
  }

  /** Ends the connection and every timer. Idempotent. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    if (this.#timer) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    if (client) {
      client.removeAllListeners();
      client.on("error", () => {});
      client.end(true);
    }
    this.emit("closed");
    this.removeAllListeners();
  }
}

type PinnedLookup = (hostname: string, options: unknown, cb: (err: Error | null, address: string, family: number) => void) => void;

/**
 * Resolves an untrusted broker URL's host name once, refuses it if any address
 * is not public (a public name may point into a LAN), and pins the connection
 * to the checked address: plain MQTT by rewriting the URL (MQTT carries no
 * host name), TLS and WebSocket through a lookup that answers only that
 * address, so certificate checks and the Host header keep the name and a
 * second DNS answer cannot differ from the first.
 */
async function pinHost(url: string): Promise<{ url: string; lookup?: PinnedLookup }> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host)) {
    if (isPrivateOrLocal(host)) throw new SignalingError(`broker ${url} is not a public address`);
    return { url };
  }
  let addrs: dns.LookupAddress[];
  try {
    addrs = await dns.promises.lookup(host, { all: true });
  } catch (err) {
    throw new SignalingError(`broker ${url}: cannot resolve ${host}: ${(err as Error).message}`, { cause: err });
  }
  const bad = addrs.find((a) => isPrivateOrLocal(a.address));
  if (!addrs.length || bad) throw new SignalingError(`broker ${url} resolves to a non-public address${bad ? ` (${bad.address})` : ""}; refused`);
  const pick = addrs[0];
  if (u.protocol === "mqtt:") {
    u.hostname = pick.family === 6 ? `[${pick.address}]` : pick.address;
    return { url: u.toString() };
  }
  return { url, lookup: (_h, _o, cb) => cb(null, pick.address, pick.family) };
}
