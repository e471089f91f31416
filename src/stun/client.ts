import dgram from "node:dgram";
import net from "node:net";
import { InvalidArgumentError, StunError } from "../errors.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { decode, encode, Method, newTransactionId, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "./codec.ts";
import { formatAddress, toTransportAddress } from "./ip.ts";
import { systemTimers, type Timers } from "../util/clock.ts";
import { LifecycleState, type Lifecycle } from "../util/closable.ts";
import { deadline, raceSignal } from "../util/deadline.ts";

export * from "./client-tcp.ts";
export * from "./binding.ts";
import { bindingResult, type BindingResult, type StunClientStats } from "./binding.ts";

/**
 * STUN Binding client over UDP (RFC 8489 §6.2.1) with our own short
 * retransmission schedule (docs/stun.md): send at 0, 100, 300 and 700 ms and
 * give up on a server after 1500 ms. One socket serves many concurrent
 * transactions, matched by transaction id; anything else that arrives is
 * counted and dropped, never thrown.
 */
export const RETRANSMIT_SCHEDULE_MS: readonly number[] = Object.freeze([0, 100, 300, 700]);
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 1500;

export interface StunRequestOptions {
  signal?: AbortSignal;
  /** Give up after this many ms. @default 1500 */
  timeout?: number;
  /** Send offsets in ms from the start. @default RETRANSMIT_SCHEDULE_MS */
  retransmit?: readonly number[];
}

export interface BindingRequestOptions extends StunRequestOptions {
  /** RFC 5780 CHANGE-REQUEST flags. */
  changeIp?: boolean;
  changePort?: boolean;
  /** Extra attributes for the request. */
  attributes?: StunAttribute[];
}

export interface StunUdpClientOptions {
  /** Local IP to bind. @default "0.0.0.0" (or "::" with family 6) */
  localAddress?: string;
  /** Local port. @default 0 */
  localPort?: number;
  /** Used when localAddress is not given. @default 4 */
  family?: 4 | 6;
  logger?: Logger;
  /** Retransmission and timeout timers (tests inject FakeTime). @default systemTimers */
  timers?: Timers;
}

type Pending = { resolve: (m: { msg: DecodedStunMessage; from: TransportAddress }) => void; reject: (e: Error) => void };

const hexId = (b: Uint8Array) => Buffer.from(b).toString("hex");

export class StunUdpClient implements Lifecycle {
  readonly stats: StunClientStats = { sent: 0, answered: 0, wrongTransaction: 0, garbage: 0 };
  #sock: dgram.Socket;
  #log: Logger;
  #pending = new Map<string, Pending>();
  #local: TransportAddress;
  readonly #timers: Timers;
  // close() and destroy() share one teardown (a destroy during a close waits for the same socket close).
  readonly #life = new LifecycleState("STUN client", () => (this.#down ??= this.#teardown()));
  #down?: Promise<void>;

  private constructor(sock: dgram.Socket, log: Logger, timers: Timers) {
    this.#sock = sock;
    this.#log = log;
    this.#timers = timers;
    const a = sock.address();
    this.#local = toTransportAddress(a.address, a.port);
    sock.on("message", (buf, rinfo) => this.#onMessage(buf, rinfo));
    sock.on("error", (err) => this.#log.debug("udp socket error", { err: err.message }));
  }

  /** Opens a UDP socket for STUN transactions. */
  static async open(opts: StunUdpClientOptions = {}): Promise<StunUdpClient> {
    const family = opts.localAddress ? (net.isIPv6(opts.localAddress) ? 6 : 4) : (opts.family ?? 4);
    if (opts.localAddress !== undefined && net.isIP(opts.localAddress) === 0) throw new InvalidArgumentError(`localAddress must be an IP literal, got ${opts.localAddress}`);
    const sock = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind({ address: opts.localAddress ?? (family === 6 ? "::" : "0.0.0.0"), port: opts.localPort ?? 0 }, () => {
        sock.off("error", reject);
        resolve();
      });
    }).catch((err) => {
      try { sock.close(); } catch {}
      throw err;
    });
    return new StunUdpClient(sock, (opts.logger ?? silentLogger).child("stun-client"), opts.timers ?? systemTimers);
  }

  /** The bound local address (may be a wildcard IP). */
  get local(): TransportAddress {
    return this.#local;
  }

  #onMessage(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    let msg: DecodedStunMessage;
    try {
      msg = decode(buf);
    } catch (err) {
      this.stats.garbage++;
      this.#log.debug("ignoring undecodable datagram", { from: rinfo.address, port: rinfo.port, err: (err as Error).message });
      return;
    }
    const p = msg.class === "success" || msg.class === "error" ? this.#pending.get(hexId(msg.transactionId)) : undefined;
    if (!p) {
      this.stats.wrongTransaction++;
      this.#log.debug("ignoring STUN message with unknown transaction id", { from: rinfo.address, port: rinfo.port });
      return;
    }
    this.stats.answered++;
    p.resolve({ msg, from: toTransportAddress(rinfo.address, rinfo.port) });
  }

  /** Sends one request and waits for its answer (success or error response). */
  async request(server: TransportAddress, method: number, attributes: StunAttribute[], opts: StunRequestOptions = {}): Promise<{ msg: DecodedStunMessage; from: TransportAddress; rttMs: number; sends: number }> {
    if (this.#life.closed) throw new StunError("STUN client is closed");
    const timeout = opts.timeout ?? DEFAULT_TRANSACTION_TIMEOUT_MS;
    const schedule = opts.retransmit ?? RETRANSMIT_SCHEDULE_MS;
    const txid = newTransactionId();
    const bytes = encode({ method, class: "request", transactionId: txid, attributes }, { fingerprint: true });
    const key = hexId(txid);
    const d = deadline({ timeout, signals: [opts.signal], what: `STUN request to ${formatAddress(server)}`, timers: this.#timers });
    const timers: Array<ReturnType<Timers["setTimeout"]>> = [];
    const start = performance.now();
    let sends = 0;
    try {
      const answer = new Promise<{ msg: DecodedStunMessage; from: TransportAddress }>((resolve, reject) => this.#pending.set(key, { resolve, reject }));
      const send = () => {
        if (this.#life.closed) return;
        sends++;
        this.stats.sent++;
        this.#sock.send(bytes, server.port, server.address, (err) => {
          if (err) this.#log.debug("send failed", { to: formatAddress(server), err: err.message });
        });
      };
      for (const at of schedule) {
        if (at >= timeout) break;
        if (at <= 0) send();
        else timers.push(this.#timers.setTimeout(send, at));
      }
      const got = await raceSignal(answer, d.signal);
      return { ...got, rttMs: performance.now() - start, sends };
    } finally {
      d.done();
      for (const t of timers) this.#timers.clearTimeout(t);
      this.#pending.delete(key);
    }
  }

  /** A Binding transaction, optionally with RFC 5780 CHANGE-REQUEST. */
  async binding(server: TransportAddress, opts: BindingRequestOptions = {}): Promise<BindingResult> {
    const attrs: StunAttribute[] = [...(opts.attributes ?? [])];
    if (opts.changeIp || opts.changePort) attrs.push({ type: "CHANGE-REQUEST", value: { changeIp: !!opts.changeIp, changePort: !!opts.changePort } });
    attrs.push({ type: "SOFTWARE", value: "p2pnode" });
    const r = await this.request(server, Method.BINDING, attrs, opts);
    return bindingResult(r.msg, { local: this.#local, server, from: r.from, rttMs: r.rttMs, sends: r.sends });
  }

  /** Aborts when close() or destroy() begins. */
  get lifetime(): AbortSignal {
    return this.#life.lifetime;
  }

  get closed(): boolean {
    return this.#life.closed;
  }

  /** Frees the socket (resolves once it is closed); pending requests fail with StunError. Memoized and idempotent; never rejects. */
  close(): Promise<void> {
    return this.#life.close();
  }

  /** Same as close(). Memoized; never rejects. */
  destroy(err?: Error): Promise<void> {
    return this.#life.destroy(err);
  }

  #teardown(): Promise<void> {
    for (const p of this.#pending.values()) p.reject(new StunError("STUN client closed"));
    this.#pending.clear();
    return new Promise((r) => {
      try {
        this.#sock.close(() => r());
      } catch {
        r();
      }
    });
  }
}

/** One-shot UDP Binding: opens a socket, asks `server`, closes. */
export async function stunBinding(server: TransportAddress, opts: BindingRequestOptions & StunUdpClientOptions = {}): Promise<BindingResult> {
  const client = await StunUdpClient.open({ ...opts, family: opts.family ?? server.family });
  try {
    return await client.binding(server, opts);
  } finally {
    await client.close();
  }
}
