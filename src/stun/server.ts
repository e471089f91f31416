import dgram from "node:dgram";
import net from "node:net";
import { InvalidArgumentError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import { decode, encode, getAttribute, Method, unknownRequiredAttributes, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "./codec.ts";
import { StunFramer } from "./framer.ts";
import { toTransportAddress } from "./ip.ts";

/**
 * An embedded STUN server for demos and tests (RFC 8489 Binding over UDP and
 * TCP). With an alternate address and/or port it is RFC 5780 capable: it sends
 * OTHER-ADDRESS and RESPONSE-ORIGIN and honours CHANGE-REQUEST by answering
 * from the matching socket. Over TCP it also serves p2pnode's dial-back
 * extension (docs/stun.md), so a client can measure TCP filtering, and its
 * dial-port extension, so a client can verify a port mapping.
 */
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
  /** At most this many dial-backs at once. @default 16 */
  maxDialBacks?: number;
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
});

/** Counters, for tests and the CLI. */
export interface StunServerStats {
  udpRequests: number;
  tcpRequests: number;
  malformed: number;
  dialBacks: number;
  dialBacksConnected: number;
}

/** The addresses a running server answers on. */
export interface StunServerAddresses {
  primary: TransportAddress;
  /** RFC 5780 OTHER-ADDRESS (alternate IP and port), when both exist. */
  other?: TransportAddress;
  /** Every (ip, port) pair bound, primary first. */
  all: TransportAddress[];
}

type Slot = { ip: number; port: number; addr: TransportAddress; udp?: dgram.Socket; tcp?: net.Server };

export class StunServer {
  readonly stats: StunServerStats = { udpRequests: 0, tcpRequests: 0, malformed: 0, dialBacks: 0, dialBacksConnected: 0 };
  #opts: Required<Omit<StunServerOptions, "altHost" | "altPort" | "logger">> & { altHost?: string; altPort?: number };
  #log: Logger;
  #slots: Slot[] = [];
  #ips: string[] = [];
  #ports: number[] = [];
  #conns = new Set<net.Socket>();
  #closing: Promise<void> | undefined;

  private constructor(opts: StunServerOptions) {
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
    this.#opts = o;
    this.#log = (opts.logger ?? silentLogger).child("stun-server");
  }

  /** Starts a server; resolves once every socket is bound. */
  static async listen(opts: StunServerOptions = {}): Promise<StunServer> {
    const s = new StunServer(opts);
    await s.#bindAll();
    return s;
  }

  get addresses(): StunServerAddresses {
    const primary = this.#slots[0].addr;
    const other = this.#ips.length > 1 && this.#ports.length > 1 ? toTransportAddress(this.#ips[1], this.#ports[1]) : undefined;
    return { primary, other, all: this.#slots.map((s) => s.addr) };
  }

  async #bindAll(): Promise<void> {
    const o = this.#opts;
    this.#ips = o.altHost !== undefined ? [o.host, o.altHost] : [o.host];
    const wantAltPort = o.altPort !== undefined || o.altHost !== undefined;
    // With port 0 we need one number free on every IP for UDP and TCP alike; retry a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        const p1 = await this.#bindPort(o.port, 0);
        this.#ports = [p1];
        if (wantAltPort) this.#ports.push(await this.#bindPort(o.altPort ?? 0, 1));
        return;
      } catch (err) {
        await this.#release();
        this.#slots = [];
        const retry = (err as NodeJS.ErrnoException).code === "EADDRINUSE" && (o.port === 0 || (o.altPort ?? 0) === 0) && attempt < 8;
        if (!retry) throw err;
      }
    }
  }

  async #bindPort(port: number, portIndex: number): Promise<number> {
    let chosen = port;
    for (let ipIndex = 0; ipIndex < this.#ips.length; ipIndex++) {
      const ip = this.#ips[ipIndex];
      const slot: Slot = { ip: ipIndex, port: portIndex, addr: toTransportAddress(ip, chosen) };
      this.#slots.push(slot);
      if (this.#opts.udp) {
        const sock = dgram.createSocket({ type: net.isIPv6(ip) ? "udp6" : "udp4" });
        slot.udp = sock;
        sock.on("message", (msg, rinfo) => this.#onUdp(slot, msg, rinfo));
        sock.on("error", (err) => this.#log.debug("udp socket error", { err: String(err) }));
        await new Promise<void>((resolve, reject) => {
          sock.once("error", reject);
          sock.bind({ address: ip, port: chosen, exclusive: true }, () => {
            sock.off("error", reject);
            resolve();
          });
        });
        chosen = sock.address().port;
      }
      if (this.#opts.tcp) {
        const srv = net.createServer((c) => this.#onTcp(slot, c));
        slot.tcp = srv;
        await new Promise<void>((resolve, reject) => {
          srv.once("error", reject);
          srv.listen({ host: ip, port: chosen, exclusive: true }, () => {
            srv.off("error", reject);
            resolve();
          });
        });
        chosen = (srv.address() as net.AddressInfo).port;
      }
      slot.addr = toTransportAddress(ip, chosen);
    }
    return chosen;
  }

  #slot(ip: number, port: number): Slot | undefined {
    return this.#slots.find((s) => s.ip === ip && s.port === port);
  }

  /** Builds the answer to one decoded request, or undefined to stay silent. */
  #answer(req: DecodedStunMessage, from: TransportAddress, origin: TransportAddress, extra: StunAttribute[] = []): Uint8Array | undefined {
    if (req.class !== "request") return undefined;
    const base = { method: req.method, transactionId: req.transactionId };
    const fail = (code: number, reason: string, attrs: StunAttribute[] = []) =>
      encode({ ...base, class: "error", attributes: [{ type: "ERROR-CODE", value: { code, reason } }, ...attrs, { type: "SOFTWARE", value: this.#opts.software }] }, { fingerprint: true });
    if (req.method !== Method.BINDING) return fail(400, "Bad Request: only Binding is served");
    const unknown = unknownRequiredAttributes(req);
    if (unknown.length) return fail(420, "Unknown Attribute", [{ type: "UNKNOWN-ATTRIBUTES", value: unknown }]);
    const other = this.addresses.other;
    const attributes: StunAttribute[] = [
      { type: "XOR-MAPPED-ADDRESS", value: from },
      { type: "MAPPED-ADDRESS", value: from },
      { type: "RESPONSE-ORIGIN", value: origin },
      ...(other ? [{ type: "OTHER-ADDRESS" as const, value: other }] : []),
      ...extra,
      { type: "SOFTWARE", value: this.#opts.software },
    ];
    return encode({ ...base, class: "success", attributes }, { fingerprint: true });
  }

  #onUdp(slot: Slot, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let req: DecodedStunMessage;
    try {
      req = decode(msg);
    } catch (err) {
      this.stats.malformed++;
      this.#log.debug("dropping malformed datagram", { from: rinfo.address, err: (err as Error).message });
      return;
    }
    if (req.class !== "request") return;
    this.stats.udpRequests++;
    const from = toTransportAddress(rinfo.address, rinfo.port);
    const change = getAttribute(req, "CHANGE-REQUEST");
    let out = slot;
    if (change && (change.changeIp || change.changePort)) {
      const target = this.#slot(change.changeIp ? slot.ip ^ 1 : slot.ip, change.changePort ? slot.port ^ 1 : slot.port);
      if (!target?.udp) {
        // RFC 5780 §6.1: a server that cannot honour CHANGE-REQUEST answers 420.
        const buf = encode(
          { method: req.method, class: "error", transactionId: req.transactionId, attributes: [{ type: "ERROR-CODE", value: { code: 420, reason: "Unknown Attribute: no alternate address" } }, { type: "UNKNOWN-ATTRIBUTES", value: [0x0003] }] },
          { fingerprint: true },
        );
        slot.udp?.send(buf, rinfo.port, rinfo.address);
        return;
      }
      out = target;
    }
    const answer = this.#answer(req, from, out.addr);
    if (!answer) return;
    const responsePort = getAttribute(req, "RESPONSE-PORT");
    out.udp?.send(answer, responsePort ?? rinfo.port, rinfo.address);
  }

  #onTcp(slot: Slot, c: net.Socket): void {
    if (this.#closing) {
      c.destroy();
      return;
    }
    this.#conns.add(c);
    c.setTimeout(this.#opts.idleTimeout, () => c.destroy());
    c.on("close", () => this.#conns.delete(c));
    c.on("error", () => {});
    const framer = new StunFramer();
    const from = toTransportAddress(c.remoteAddress ?? "", c.remotePort ?? 0);
    c.on("data", (chunk) => {
      let frames;
      try {
        frames = framer.push(chunk);
      } catch {
        this.stats.malformed++;
        c.destroy();
        return;
      }
      for (const f of frames) {
        if (f.kind !== "stun") continue;
        let req: DecodedStunMessage;
        try {
          req = decode(f.bytes);
        } catch {
          this.stats.malformed++;
          c.destroy();
          return;
        }
        if (req.class !== "request") continue;
        this.stats.tcpRequests++;
        const change = getAttribute(req, "CHANGE-REQUEST");
        if (change && (change.changeIp || change.changePort)) {
          // A TCP answer can only travel on the connection it was asked on.
          c.write(encode({ method: req.method, class: "error", transactionId: req.transactionId, attributes: [{ type: "ERROR-CODE", value: { code: 420, reason: "CHANGE-REQUEST needs UDP" } }, { type: "UNKNOWN-ATTRIBUTES", value: [0x0003] }] }, { fingerprint: true }));
          continue;
        }
        const dialPort = getAttribute(req, "P2PNODE-DIAL-PORT");
        if (dialPort && this.#canDialBack(false)) {
          // Answered once the connect has an outcome; only ever the requester's own IP is dialed.
          void this.#dialPort(from, dialPort.port, slot).then((ok) => {
            if (c.destroyed) return;
            const answer = this.#answer(req, from, slot.addr, [{ type: "P2PNODE-DIAL-PORT", value: { port: dialPort.port, result: ok ? "connected" : "failed" } }]);
            if (answer) c.write(answer);
          });
          continue;
        }
        const dial = getAttribute(req, "P2PNODE-DIAL-BACK");
        const extra: StunAttribute[] = [];
        if (dial && this.#canDialBack(dial.changeIp)) {
          extra.push({ type: "P2PNODE-DIAL-BACK", value: dial });
          setImmediate(() => this.#dialBack(from, dial.token, dial.changeIp, slot));
        }
        const answer = this.#answer(req, from, slot.addr, extra);
        if (answer) c.write(answer);
      }
    });
  }

  #canDialBack(changeIp: boolean): boolean {
    if (this.#closing || !this.#opts.tcp) return false;
    if (changeIp && this.#ips.length < 2) return false;
    return this.#active < this.#opts.maxDialBacks;
  }

  #active = 0;

  /**
   * Dials the requester's mapped address from the alternate IP (changeIp) or
   * from the primary IP on a fresh port, and sends a Binding indication that
   * carries the token. Ports the server listens on cannot be dialed from.
   */
  #dialBack(to: TransportAddress, token: Uint8Array, changeIp: boolean, slot: Slot): void {
    if (this.#closing) return;
    this.stats.dialBacks++;
    this.#active++;
    const localAddress = this.#ips[changeIp ? slot.ip ^ 1 : slot.ip];
    const s = net.connect({ host: to.address, port: to.port, localAddress });
    this.#conns.add(s);
    const done = () => {
      this.#active--;
      this.#conns.delete(s);
    };
    s.once("close", done);
    s.on("error", (err) => this.#log.debug("dial-back failed", { to: to.address, port: to.port, err: err.message }));
    s.setTimeout(this.#opts.dialBackTimeout, () => s.destroy());
    s.on("connect", () => {
      this.stats.dialBacksConnected++;
      const tid = new Uint8Array(12);
      tid.set(token, 0);
      s.end(encode({ method: Method.BINDING, class: "indication", transactionId: tid, attributes: [{ type: "P2PNODE-DIAL-BACK", value: { token, changeIp } }] }, { fingerprint: true }));
    });
  }

  /**
   * Dial-port (docs/stun.md): a TCP connect from the primary IP to the
   * requester's mapped IP at `port`; true when the handshake completed. The
   * connection is closed at once, without sending anything.
   */
  #dialPort(to: TransportAddress, port: number, slot: Slot): Promise<boolean> {
    if (this.#closing) return Promise.resolve(false);
    this.stats.dialBacks++;
    this.#active++;
    return new Promise<boolean>((resolve) => {
      const s = net.connect({ host: to.address, port, localAddress: this.#ips[slot.ip] });
      this.#conns.add(s);
      let ok = false;
      s.once("close", () => {
        this.#active--;
        this.#conns.delete(s);
        resolve(ok);
      });
      s.on("error", (err) => this.#log.debug("dial-port failed", { to: to.address, port, err: err.message }));
      s.setTimeout(this.#opts.dialBackTimeout, () => s.destroy());
      s.on("connect", () => {
        ok = true;
        this.stats.dialBacksConnected++;
        s.end();
        s.destroy();
      });
    });
  }

  async #release(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const s of this.#slots) {
      if (s.udp) waits.push(new Promise<void>((r) => { try { s.udp!.close(() => r()); } catch { r(); } }));
      if (s.tcp) waits.push(new Promise<void>((r) => (s.tcp!.listening ? s.tcp!.close(() => r()) : r())));
    }
    for (const c of this.#conns) c.destroy();
    this.#conns.clear();
    await Promise.all(waits);
  }

  /** Stops answering and frees every socket. Idempotent; never throws. */
  close(): Promise<void> {
    this.#closing ??= this.#release().catch(() => {});
    return this.#closing;
  }

  /** Same as close(): a STUN server has nothing to flush. */
  destroy(): Promise<void> {
    return this.close();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

