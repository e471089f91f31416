/**
 * A TURN client (RFC 8656) on our STUN codec: one allocation on one server.
 * Allocate with long-term credentials (401 → realm + nonce, 438 → fresh
 * nonce; a SHA-256 key and MESSAGE-INTEGRITY-SHA256 when the server offers
 * them, RFC 8489 §9.2, with its bid-down check: stun/credentials.ts), Refresh
 * before the lifetime ends, CreatePermission every 4 min, ChannelBind every
 * 9 min, ChannelData on bound channels and Send/Data indications otherwise,
 * deallocation on close. Time runs on injected timers. Answers from the
 * server are checked before use: the integrity of answers to authenticated
 * requests when present, every address and number.
 */
import { lookup } from "node:dns/promises";
import { EventEmitter } from "node:events";
import type net from "node:net";
import { TurnError, type TurnFailure } from "../errors.ts";
import { getAttribute, Method, Protocol, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "../stun/codec.ts";
import { LongTermAuth } from "../stun/credentials.ts";
import { formatAddress } from "../stun/ip.ts";
import { systemTimers, type TimerHandle, type Timers } from "../util/clock.ts";
import { LifecycleState } from "../util/closable.ts";
import { deadline } from "../util/deadline.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { decodeChannelData, encodeChannelData, looksLikeChannelData, MAX_CHANNEL, MIN_CHANNEL } from "./channel-data.ts";
import { openLink, type TurnLink } from "./link.ts";
import { bindConnection } from "./tcp-relay.ts";
import { Transactions, tryDecode } from "./transactions.ts";
import type { TurnServer, TurnUri } from "./uri.ts";

/** RFC 8656: permissions last 300 s, channel bindings 600 s; we refresh a minute early. */
export const PERMISSION_REFRESH_MS = 240_000;
export const CHANNEL_REFRESH_MS = 540_000;
/** Asked-for allocation lifetime (s); servers may grant less. @default 600 */
export const DEFAULT_LIFETIME_S = 600;

export interface TurnClientOptions {
  server: TurnServer;
  /** Which of the server's URIs to use. @default its first */
  uri?: TurnUri;
  /** The relayed transport asked for: udp (every server) or tcp (RFC 6062). @default "udp" */
  relay?: "udp" | "tcp";
  /** Allocation lifetime to ask for, in seconds. @default 600 */
  lifetime?: number;
  signal?: AbortSignal;
  /** Budget for connecting and allocating (ms). @default 10000 */
  timeout?: number;
  timers?: Timers;
  logger?: Logger;
}

export interface TurnClientEvents {
  /** Data relayed from `peer` (ChannelData or a Data indication). */
  data: [peer: TransportAddress, data: Uint8Array];
  /** A peer connected to our TCP relayed address (RFC 6062): acceptConnection(id) takes it. */
  connection: [attempt: { connectionId: number; peer: TransportAddress }];
  /** The allocation ended: closed by us, lost (refresh failed) or the link broke. */
  close: [err?: Error];
}

interface Channel {
  number: number;
  peer: TransportAddress;
  timer?: TimerHandle;
}

const key = (a: TransportAddress) => `${a.address}|${a.port}`;

export class TurnClient extends EventEmitter<TurnClientEvents> {
  /** The server's URI (no credentials). */
  readonly label: string;
  relayed!: TransportAddress;
  mapped?: TransportAddress;
  /** Granted lifetime (s). */
  lifetime = 0;
  readonly stats = { allocateRequests: 0, refreshes: 0, unmatched: 0, garbage: 0 };
  readonly #server: TurnServer;
  readonly #uri: TurnUri;
  readonly #serverAddr: TransportAddress;
  readonly #link: TurnLink;
  readonly #tx: Transactions;
  readonly #timers: Timers;
  readonly #log: Logger;
  readonly #life: LifecycleState;
  readonly #auth: LongTermAuth;
  #refreshTimer?: TimerHandle;
  readonly #permissions = new Map<string, TimerHandle>();
  readonly #channels = new Map<string, Channel>();
  readonly #byNumber = new Map<number, Channel>();
  #nextChannel = MIN_CHANNEL;
  #ended = false;

  private constructor(server: TurnServer, uri: TurnUri, serverAddr: TransportAddress, link: TurnLink, label: string, timers: Timers, log: Logger) {
    super();
    this.#server = server;
    this.#auth = new LongTermAuth(server.username, server.credential);
    this.#uri = uri;
    this.#serverAddr = serverAddr;
    this.#link = link;
    this.label = label;
    this.#timers = timers;
    this.#log = log;
    this.#tx = new Transactions(link, label, timers);
    this.#life = new LifecycleState(`TURN allocation on ${label}`, () => this.#teardown(true), () => this.#teardown(false));
    link.on("frame", (b) => this.#onFrame(b));
    link.on("close", (err) => {
      const e = err ?? new TurnError(`TURN ${label}: connection closed`, { server: label, reason: "closed" });
      this.#tx.failAll(e);
      if (!this.#life.closed) this.#end(e);
    });
  }

  /** Connects to the server and allocates a relayed address. Rejects with TurnError or the deadline's reason. */
  static async allocate(o: TurnClientOptions): Promise<TurnClient> {
    const uri = o.uri ?? o.server.uris[0];
    const timers = o.timers ?? systemTimers;
    const d = deadline({ timeout: o.timeout ?? 10_000, signals: [o.signal], what: `TURN allocation on ${uri.uri}`, timers });
    let client: TurnClient | undefined;
    try {
      const address = uri.family === 0 ? (await lookup(uri.host, { family: 0 })).address : uri.host;
      const server = { family: (address.includes(":") ? 6 : 4) as 4 | 6, address, port: uri.port };
      const link = await openLink({ server, transport: uri.transport, servername: uri.family === 0 ? uri.host : undefined, label: uri.uri, signal: d.signal, timeout: d.remaining() });
      client = new TurnClient(o.server, uri, server, link, uri.uri, timers, (o.logger ?? silentLogger).child("turn"));
      if (o.relay === "tcp" && !link.reliable) throw new TurnError(`TURN ${uri.uri}: a TCP allocation needs a TCP or TLS connection to the server (RFC 6062); use ?transport=tcp or turns:`, { server: uri.uri, reason: "unsupported-transport" });
      await client.#allocate(o.relay ?? "udp", o.lifetime ?? DEFAULT_LIFETIME_S, d.signal);
      return client;
    } catch (err) {
      await client?.destroy();
      throw err;
    } finally {
      d.done();
    }
  }

  get closed(): boolean {
    return this.#life.closed;
  }

  async #allocate(relay: "udp" | "tcp", lifetime: number, signal: AbortSignal): Promise<void> {
    const res = await this.#request(Method.ALLOCATE, [
      { type: "REQUESTED-TRANSPORT", value: relay === "tcp" ? Protocol.TCP : Protocol.UDP },
      { type: "LIFETIME", value: lifetime },
    ], signal, "allocate");
    const relayed = getAttribute(res, "XOR-RELAYED-ADDRESS");
    if (!relayed) throw this.#fail("protocol", "answered Allocate without a relayed address");
    this.relayed = relayed;
    this.mapped = getAttribute(res, "XOR-MAPPED-ADDRESS");
    this.lifetime = getAttribute(res, "LIFETIME") ?? lifetime;
    this.#scheduleRefresh();
    this.#log.debug("allocated", { server: this.label, relayed: formatAddress(relayed), lifetime: this.lifetime });
  }

  #scheduleRefresh(): void {
    // A minute before the end, or halfway through a short lifetime.
    const ms = this.lifetime > 120 ? (this.lifetime - 60) * 1000 : Math.max(1, this.lifetime) * 500;
    this.#timers.clearTimeout(this.#refreshTimer);
    this.#refreshTimer = this.#timers.setTimeout(() => void this.#refresh(), ms);
  }

  async #refresh(): Promise<void> {
    if (this.#life.closed) return;
    try {
      const res = await this.#request(Method.REFRESH, [{ type: "LIFETIME", value: Math.max(this.lifetime, 1) }], this.#life.lifetime, "refresh");
      this.stats.refreshes++;
      this.lifetime = getAttribute(res, "LIFETIME") ?? this.lifetime;
      this.#scheduleRefresh();
    } catch (err) {
      if (this.#life.closed) return;
      this.#log.warn("TURN allocation lost: refresh failed", { server: this.label, err: (err as Error).message });
      this.#end(err as Error);
    }
  }

  /** Lets `ip` send to our relayed address (and us to it); refreshed every 4 min until close. */
  async permit(ip: string, signal?: AbortSignal): Promise<void> {
    await this.#request(Method.CREATE_PERMISSION, [{ type: "XOR-PEER-ADDRESS", value: { family: ip.includes(":") ? 6 : 4, address: ip, port: 0 } }], signal ?? this.#life.lifetime, "permission");
    this.#timers.clearTimeout(this.#permissions.get(ip));
    this.#permissions.set(ip, this.#timers.setTimeout(() => void this.permit(ip).catch((err) => this.#log.debug("permission refresh failed", { ip, err: (err as Error).message })), PERMISSION_REFRESH_MS));
  }

  /** Binds a channel to `peer` (which also permits its IP); data to it then goes as ChannelData. */
  async bindChannel(peer: TransportAddress, signal?: AbortSignal): Promise<number> {
    let ch = this.#channels.get(key(peer));
    if (!ch) {
      if (this.#nextChannel > MAX_CHANNEL) throw this.#fail("error", "has no channel numbers left on this allocation");
      ch = { number: this.#nextChannel++, peer };
    }
    await this.#request(Method.CHANNEL_BIND, [
      { type: "CHANNEL-NUMBER", value: ch.number },
      { type: "XOR-PEER-ADDRESS", value: peer },
    ], signal ?? this.#life.lifetime, "channel bind");
    this.#channels.set(key(peer), ch);
    this.#byNumber.set(ch.number, ch);
    this.#timers.clearTimeout(ch.timer);
    const bound = ch;
    ch.timer = this.#timers.setTimeout(() => void this.bindChannel(bound.peer).catch((err) => this.#log.debug("channel refresh failed", { err: (err as Error).message })), CHANNEL_REFRESH_MS);
    return ch.number;
  }

  /** Relays `data` to `peer`: on its channel when bound, else in a Send indication. Dropped after close. */
  send(peer: TransportAddress, data: Uint8Array): void {
    if (this.#life.closed) return;
    const ch = this.#channels.get(key(peer));
    if (ch) this.#link.send(encodeChannelData(ch.number, data, this.#link.reliable));
    else this.#tx.indication(Method.SEND, [{ type: "XOR-PEER-ADDRESS", value: peer }, { type: "DATA", value: data }]);
  }

  /**
   * Takes the peer connection a "connection" event announced (RFC 6062
   * ConnectionBind on a new connection to the server) and returns it as a
   * plain socket to that peer. Must follow within 30 s of the event.
   */
  acceptConnection(connectionId: number, o: { signal?: AbortSignal; timeout?: number } = {}): Promise<net.Socket> {
    const auth = this.#auth.state;
    if (!auth) return Promise.reject(this.#fail("protocol", "has no credentials state for ConnectionBind"));
    // tcp-relay.ts signs ConnectionBind with MESSAGE-INTEGRITY and sends no PASSWORD-ALGORITHM(S).
    if (this.#auth.algorithm === "sha256") return Promise.reject(this.#fail("protocol", "cannot yet send ConnectionBind with SHA-256 credentials (RFC 8489 §9.2)"));
    return bindConnection({
      server: this.#serverAddr,
      transport: this.#uri.transport === "tls" ? "tls" : "tcp",
      servername: this.#uri.family === 0 ? this.#uri.host : undefined,
      label: this.label,
      connectionId,
      auth: () => ({ username: this.#server.username, ...(this.#auth.state ?? auth) }),
      onNonce: (n) => (this.#auth.nonce = n),
      signal: o.signal ? AbortSignal.any([o.signal, this.#life.lifetime]) : this.#life.lifetime,
      timeout: o.timeout ?? 10_000,
      timers: this.#timers,
    });
  }

  /** Deallocates (Refresh with lifetime 0, best effort) and closes the link. Memoized; never rejects. */
  close(): Promise<void> {
    return this.#life.close();
  }

  /** Closes the link without deallocating. */
  destroy(err?: Error): Promise<void> {
    return this.#life.destroy(err);
  }

  async #teardown(deallocate: boolean): Promise<void> {
    this.#timers.clearTimeout(this.#refreshTimer);
    for (const t of this.#permissions.values()) this.#timers.clearTimeout(t);
    for (const c of this.#channels.values()) this.#timers.clearTimeout(c.timer);
    this.#permissions.clear();
    if (deallocate && this.relayed) {
      const d = deadline({ timeout: 1000, what: "TURN deallocation", timers: this.#timers });
      try {
        await this.#request(Method.REFRESH, [{ type: "LIFETIME", value: 0 }], d.signal, "deallocate");
      } catch {
        // The server forgets the allocation when its lifetime ends anyway.
      } finally {
        d.done();
      }
    }
    this.#tx.failAll(new TurnError(`TURN allocation on ${this.label} closed`, { server: this.label, reason: "closed" }));
    this.#link.close();
    this.#emitClose();
  }

  /** The allocation is gone underneath us: tear down and say why. */
  #end(err: Error): void {
    this.#emitClose(err);
    void this.#life.destroy(err);
  }

  #emitClose(err?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit("close", err);
  }

  /**
   * An authenticated request: learns realm, nonce and password algorithm from
   * a 401, follows 438 with the new nonce; refuses a challenge that looks
   * tampered with (RFC 8489 §9.2.5) and answers with bad integrity.
   */
  async #request(method: number, attrs: StunAttribute[], signal: AbortSignal, what: string): Promise<DecodedStunMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const sentCredentials = this.#auth.ready;
      if (method === Method.ALLOCATE) this.stats.allocateRequests++;
      const res = await this.#tx.request(method, [...attrs, ...this.#auth.attributes()], { ...this.#auth.encodeOptions(), signal });
      const bad = this.#auth.verify(res);
      if (bad) throw this.#fail("protocol", `answered ${what} with ${bad}`);
      if (res.class === "success") return res;
      const e = getAttribute(res, "ERROR-CODE");
      const code = e?.code ?? 0;
      if (code === 401 || code === 438) {
        const next = this.#auth.challenge(code, res);
        if (next.retry) continue;
        if (next.error) throw this.#fail("protocol", `refused ${what}: ${next.error}`, code);
      }
      throw this.#fail(failureOf(code, sentCredentials), `refused ${what}: ${code} ${e?.reason ?? ""}`.trim(), code);
    }
    throw this.#fail("protocol", `kept challenging ${what} (401/438 three times)`);
  }

  #fail(reason: TurnFailure, text: string, status?: number): TurnError {
    return new TurnError(`TURN ${this.label} ${text}`, { server: this.label, reason, status });
  }

  #onFrame(bytes: Uint8Array): void {
    if (looksLikeChannelData(bytes)) {
      let cd;
      try {
        cd = decodeChannelData(bytes);
      } catch {
        this.stats.garbage++;
        return;
      }
      const ch = this.#byNumber.get(cd.channel);
      if (ch) this.emit("data", ch.peer, cd.data);
      else this.stats.unmatched++;
      return;
    }
    const msg = tryDecode(bytes);
    if (!msg) {
      this.stats.garbage++;
      return;
    }
    if (this.#tx.settle(msg)) return;
    if (msg.class === "indication" && msg.method === Method.CONNECTION_ATTEMPT) {
      const connectionId = getAttribute(msg, "CONNECTION-ID");
      const peer = getAttribute(msg, "XOR-PEER-ADDRESS");
      if (connectionId !== undefined && peer) this.emit("connection", { connectionId, peer });
      else this.stats.garbage++;
      return;
    }
    if (msg.class === "indication" && msg.method === Method.DATA) {
      const peer = getAttribute(msg, "XOR-PEER-ADDRESS");
      const data = getAttribute(msg, "DATA");
      if (peer && data) this.emit("data", peer, data);
      else this.stats.garbage++;
      return;
    }
    this.stats.unmatched++;
  }
}

/** What a TURN error code means for the caller. */
export function failureOf(code: number, sentCredentials: boolean): TurnFailure {
  switch (code) {
    case 401:
      return sentCredentials ? "wrong-credentials" : "protocol";
    case 403:
      return "forbidden";
    case 437:
      return "allocation-mismatch";
    case 441:
      return "wrong-credentials-for-allocation";
    case 442:
      return "unsupported-transport";
    case 486:
      return "quota";
    case 508:
      return "capacity";
    default:
      return "error";
  }
}
