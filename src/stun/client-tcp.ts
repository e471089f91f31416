import { randomBytes } from "node:crypto";
import net from "node:net";
import { InvalidArgumentError, StunError } from "../errors.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { decode, encode, getAttribute, Method, newTransactionId, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "./codec.ts";
import { StunFramer } from "./framer.ts";
import { formatAddress, toTransportAddress } from "./ip.ts";
import { systemTimers, type Timers } from "../util/clock.ts";
import { LifecycleState, type Lifecycle } from "../util/closable.ts";
import { deadline, raceSignal, withDeadline } from "../util/deadline.ts";
import { bindingResult, type BindingResult, type StunClientStats } from "./binding.ts";

/**
 * STUN over TCP (RFC 8489 §6.2.2): one connection, requests framed back to
 * back, answers matched by transaction id. A fixed `localPort` may be shared
 * by several outgoing connections (Node binds with SO_REUSEADDR), which is how
 * TCP mapping is measured from ONE local port. A port that a server already
 * listens on cannot be dialed from; the reverse (listen on a port after
 * connecting from it) works on Linux, and the dial-back uses that.
 */
export interface StunTcpOptions {
  /** Local IP to bind. @default any */
  localAddress?: string;
  /** Local port (shared with other outgoing connections). @default 0 */
  localPort?: number;
  signal?: AbortSignal;
  /** Connect timeout in ms. @default 1500 */
  timeout?: number;
  logger?: Logger;
  /** Connect, request and dial-back timers (tests inject FakeTime). @default systemTimers */
  timers?: Timers;
}

export interface DialBackOptions {
  /** Ask the server to dial from its alternate IP (true) or from its primary IP and another port (false). */
  changeIp: boolean;
  /** How long to wait for the dial-back to arrive after the server agreed. @default 500 */
  wait?: number;
  signal?: AbortSignal;
  /** Timeout for the request itself. @default 1500 */
  timeout?: number;
}

export interface DialBackResult {
  /** The server understood the request (it echoed P2PNODE-DIAL-BACK). */
  supported: boolean;
  /** A connection carrying our token arrived at our local port. */
  arrived: boolean;
  /** Where the dial-back came from. */
  from?: TransportAddress;
  /** Why the test could not be made (listen failed, …). */
  error?: string;
}

type Pending = { resolve: (m: DecodedStunMessage) => void; reject: (e: Error) => void };
const hexId = (b: Uint8Array) => Buffer.from(b).toString("hex");

export class StunTcpConnection implements Lifecycle {
  readonly stats: StunClientStats = { sent: 0, answered: 0, wrongTransaction: 0, garbage: 0 };
  readonly server: TransportAddress;
  #sock: net.Socket;
  #log: Logger;
  #framer = new StunFramer();
  #pending = new Map<string, Pending>();
  #local: TransportAddress;
  readonly #timers: Timers;
  // close() and destroy() share one teardown (a destroy during a close waits for the same socket close).
  readonly #life = new LifecycleState("STUN TCP connection", () => (this.#down ??= this.#teardown()));
  #down?: Promise<void>;

  private constructor(sock: net.Socket, server: TransportAddress, log: Logger, timers: Timers) {
    this.#sock = sock;
    this.#timers = timers;
    this.server = server;
    this.#log = log;
    this.#local = toTransportAddress(sock.localAddress ?? "", sock.localPort ?? 0);
    sock.on("data", (c) => this.#onData(c));
    sock.on("error", (err) => this.#log.debug("tcp error", { err: err.message }));
    sock.on("close", () => this.#fail(new StunError(`STUN TCP connection to ${formatAddress(server)} closed`)));
  }

  /** Connects to `server`; rejects with TimeoutError, AbortError or the socket error. */
  static async connect(server: TransportAddress, opts: StunTcpOptions = {}): Promise<StunTcpConnection> {
    if (opts.localAddress !== undefined && net.isIP(opts.localAddress) === 0) throw new InvalidArgumentError(`localAddress must be an IP literal, got ${opts.localAddress}`);
    // Always bind explicitly: only an explicit bind sets SO_REUSEADDR (libuv), which a
    // later connection or dial-back listener on the same port needs.
    const localAddress = opts.localAddress ?? (server.family === 6 ? "::" : "0.0.0.0");
    const sock = net.connect({ host: server.address, port: server.port, localAddress, localPort: opts.localPort || undefined, family: server.family });
    sock.on("error", () => {});
    try {
      await withDeadline(
        { timeout: opts.timeout ?? 1500, signals: [opts.signal], what: `STUN TCP connect to ${formatAddress(server)}`, timers: opts.timers },
        () =>
          new Promise<void>((resolve, reject) => {
            sock.once("connect", resolve);
            sock.once("error", reject);
          }),
      );
    } catch (err) {
      sock.destroy();
      throw err;
    }
    sock.setNoDelay(true);
    return new StunTcpConnection(sock, server, (opts.logger ?? silentLogger).child("stun-tcp"), opts.timers ?? systemTimers);
  }

  get local(): TransportAddress {
    return this.#local;
  }

  #onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.#framer.push(chunk);
    } catch (err) {
      this.stats.garbage++;
      this.#log.debug("garbage on STUN TCP stream", { err: (err as Error).message });
      this.#fail(new StunError(`garbage from ${formatAddress(this.server)}: ${(err as Error).message}`));
      this.#sock.destroy();
      return;
    }
    for (const f of frames) {
      if (f.kind !== "stun") continue;
      let msg: DecodedStunMessage;
      try {
        msg = decode(f.bytes);
      } catch (err) {
        this.stats.garbage++;
        this.#log.debug("ignoring undecodable STUN frame", { err: (err as Error).message });
        continue;
      }
      const p = this.#pending.get(hexId(msg.transactionId));
      if (!p || (msg.class !== "success" && msg.class !== "error")) {
        this.stats.wrongTransaction++;
        this.#log.debug("ignoring STUN message with unknown transaction id");
        continue;
      }
      this.stats.answered++;
      p.resolve(msg);
    }
  }

  #fail(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  /** Sends a request and waits for its answer. */
  async request(method: number, attributes: StunAttribute[], opts: { signal?: AbortSignal; timeout?: number } = {}): Promise<{ msg: DecodedStunMessage; rttMs: number }> {
    if (this.#life.closed || this.#sock.destroyed) throw new StunError("STUN TCP connection is closed");
    const txid = newTransactionId();
    const key = hexId(txid);
    const d = deadline({ timeout: opts.timeout ?? 1500, signals: [opts.signal], what: `STUN TCP request to ${formatAddress(this.server)}`, timers: this.#timers });
    const start = performance.now();
    try {
      const answer = new Promise<DecodedStunMessage>((resolve, reject) => this.#pending.set(key, { resolve, reject }));
      this.stats.sent++;
      this.#sock.write(encode({ method, class: "request", transactionId: txid, attributes }, { fingerprint: true }));
      const msg = await raceSignal(answer, d.signal);
      return { msg, rttMs: performance.now() - start };
    } finally {
      d.done();
      this.#pending.delete(key);
    }
  }

  /** A Binding transaction on this connection. */
  async binding(opts: { signal?: AbortSignal; timeout?: number; attributes?: StunAttribute[] } = {}): Promise<BindingResult> {
    const r = await this.request(Method.BINDING, [...(opts.attributes ?? []), { type: "SOFTWARE", value: "p2pnode" }], opts);
    return bindingResult(r.msg, { local: this.#local, server: this.server, from: this.server, rttMs: r.rttMs, sends: 1 });
  }

  /**
   * Asks the server to connect back to our mapped address (p2pnode extension,
   * docs/stun.md) and listens on this connection's local port to see whether
   * that connection gets through. Never throws for a missing dial-back.
   */
  async dialBack(opts: DialBackOptions): Promise<DialBackResult> {
    const token = new Uint8Array(randomBytes(8));
    const listener = net.createServer();
    const accepted = new Set<net.Socket>();
    let arrivedFrom: TransportAddress | undefined;
    let onArrive: (() => void) | undefined;
    const arrived = new Promise<void>((r) => (onArrive = r));
    listener.on("connection", (s) => {
      accepted.add(s);
      s.on("error", () => {});
      s.setTimeout(3000, () => s.destroy());
      const framer = new StunFramer();
      s.on("data", (chunk) => {
        try {
          for (const f of framer.push(chunk)) {
            if (f.kind !== "stun") continue;
            const m = decode(f.bytes);
            const d = getAttribute(m, "P2PNODE-DIAL-BACK");
            if (d && Buffer.from(d.token).equals(token)) {
              arrivedFrom = toTransportAddress(s.remoteAddress ?? "", s.remotePort ?? 0);
              onArrive?.();
            }
          }
        } catch {
          s.destroy();
        }
      });
    });
    try {
      try {
        await new Promise<void>((resolve, reject) => {
          listener.once("error", reject);
          listener.listen({ host: this.#local.address, port: this.#local.port }, () => resolve());
        });
      } catch (err) {
        return { supported: false, arrived: false, error: `cannot listen on ${formatAddress(this.#local)}: ${(err as Error).message}` };
      }
      let res: BindingResult;
      try {
        res = await this.binding({ ...opts, attributes: [{ type: "P2PNODE-DIAL-BACK", value: { token, changeIp: opts.changeIp } }] });
      } catch (err) {
        return { supported: false, arrived: false, error: (err as Error).message };
      }
      if (!getAttribute(res.response, "P2PNODE-DIAL-BACK")) return { supported: false, arrived: false };
      try {
        await withDeadline({ timeout: opts.wait ?? 500, signals: [opts.signal], what: "dial-back", timers: this.#timers }, () => arrived);
        return { supported: true, arrived: true, from: arrivedFrom };
      } catch {
        return { supported: true, arrived: false };
      }
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => (listener.listening ? listener.close(() => r()) : r()));
    }
  }

  /**
   * Asks the server to open a TCP connection to our observed public IP at
   * `port` (p2pnode dial-port extension, docs/stun.md) and reports the
   * outcome. `supported` is false when the server ignored the attribute.
   */
  async dialPort(port: number, opts: { signal?: AbortSignal; timeout?: number } = {}): Promise<{ supported: boolean; connected: boolean; mapped?: TransportAddress }> {
    const res = await this.binding({ ...opts, timeout: opts.timeout ?? 3000, attributes: [{ type: "P2PNODE-DIAL-PORT", value: { port } }] });
    const d = getAttribute(res.response, "P2PNODE-DIAL-PORT");
    if (!d || d.result === undefined) return { supported: false, connected: false, mapped: res.mapped };
    return { supported: true, connected: d.result === "connected" && d.port === port, mapped: res.mapped };
  }

  /** Aborts when close() or destroy() begins. */
  get lifetime(): AbortSignal {
    return this.#life.lifetime;
  }

  get closed(): boolean {
    return this.#life.closed;
  }

  /** Closes the connection; resolves once the socket is gone. Memoized and idempotent; never rejects. */
  close(): Promise<void> {
    return this.#life.close();
  }

  /** Same as close() (a STUN connection has nothing to flush). Memoized; never rejects. */
  destroy(err?: Error): Promise<void> {
    return this.#life.destroy(err);
  }

  async #teardown(): Promise<void> {
    this.#fail(new StunError("STUN TCP connection closed"));
    if (this.#sock.closed) return;
    await new Promise<void>((r) => {
      this.#sock.once("close", () => r());
      this.#sock.destroy();
    });
  }
}

/** One-shot TCP Binding: connect, ask, close. */
export async function stunBindingTcp(server: TransportAddress, opts: StunTcpOptions = {}): Promise<BindingResult> {
  const d = deadline({ timeout: opts.timeout ?? 1500, signals: [opts.signal], what: `STUN TCP binding to ${formatAddress(server)}`, timers: opts.timers });
  let conn: StunTcpConnection | undefined;
  try {
    conn = await StunTcpConnection.connect(server, { ...opts, timeout: d.remaining() });
    return await conn.binding({ signal: opts.signal, timeout: Math.max(1, d.remaining()) });
  } finally {
    d.done();
    await conn?.close();
  }
}
