import dgram from "node:dgram";
import net from "node:net";
import { InvalidArgumentError } from "../errors.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { decode, encode, encodingLength, getAttribute, Method, unknownRequiredAttributes, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "./codec.ts";
import { StunFramer } from "./framer.ts";
import { toTransportAddress } from "./ip.ts";
import { checkBucket, SourceLimiter, sourceKey, type BucketOptions } from "./rate-limit.ts";
import { fitAnswer, fitError, type Candidate } from "./reply-size.ts";

/**
 * An embedded STUN server for demos and tests (RFC 8489 Binding over UDP and
 * TCP). With an alternate address and/or port it is RFC 5780 capable: it sends
 * OTHER-ADDRESS and RESPONSE-ORIGIN and honours CHANGE-REQUEST by answering
 * from the matching socket. Over TCP it also serves p2pnode's dial-back
 * extension (docs/stun.md), so a client can measure TCP filtering, and its
 * dial-port extension, so a client can verify a port mapping.
 *
 * It is not meant to be exposed to the open internet without its per-source
 * limits (docs/stun.md "Exposure"): UDP answers are capped at the request's
 * size and rate limited per source, and the outbound connects it makes on a
 * requester's behalf are rate limited and at most one per source at a time.
 */
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
  /** Monotonic clock in ms for the rate limits (tests inject one). @default performance.now */
  now?: () => number;
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

/** RFC 5780 §7.6 PADDING: understood (so not a 420) and ignored, except that it counts towards the request's size. */
const PADDING = 0x0026;

/** Counters, for tests and the CLI. */
export interface StunServerStats {
  udpRequests: number;
  tcpRequests: number;
  malformed: number;
  dialBacks: number;
  dialBacksConnected: number;
  /** UDP requests dropped by the per-source limit. */
  udpRateLimited: number;
  /** UDP answers that left out optional attributes to stay within the request's size. */
  udpTrimmed: number;
  /** UDP requests too small for any answer (strictUdpSize, or an unpadded RESPONSE-PORT error that does not fit). */
  udpTooSmall: number;
  /** Dial-back/dial-port requests answered without the attribute (per-source rate, one in flight, or maxDialBacks). */
  dialsRefused: number;
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

/** One outbound connect made for a source; `release` is idempotent. */
type Dial = { kind: "dial-back" | "dial-port"; socket?: net.Socket; cancelled: boolean; release: () => void };

export class StunServer {
  readonly stats: StunServerStats = { udpRequests: 0, tcpRequests: 0, malformed: 0, dialBacks: 0, dialBacksConnected: 0, udpRateLimited: 0, udpTrimmed: 0, udpTooSmall: 0, dialsRefused: 0 };
  #opts: Required<Omit<StunServerOptions, "altHost" | "altPort" | "logger" | "limits" | "now">> & { altHost?: string; altPort?: number };
  #now: () => number;
  #udpLimit: SourceLimiter;
  #dialLimit: SourceLimiter;
  /** The dial in flight per source key: never more than one. */
  #inflight = new Map<string, Dial>();
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
    for (const k of ["dialBackTimeout", "idleTimeout", "maxDialBacks"] as const) {
      const v = o[k];
      if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${k} must be an integer >= 1, got ${v}`);
    }
    if (typeof o.strictUdpSize !== "boolean") throw new InvalidArgumentError(`strictUdpSize must be a boolean, got ${o.strictUdpSize}`);
    if (opts.now !== undefined && typeof opts.now !== "function") throw new InvalidArgumentError("now must be a function returning milliseconds");
    const limits = opts.limits === undefined ? {} : opts.limits;
    if (typeof limits !== "object" || limits === null) throw new InvalidArgumentError("limits must be an object");
    const d = STUN_SERVER_DEFAULTS.limits;
    const maxSources = limits.maxSources ?? d.maxSources;
    if (!Number.isInteger(maxSources) || maxSources < 1) throw new InvalidArgumentError(`limits.maxSources must be an integer >= 1, got ${maxSources}`);
    this.#udpLimit = new SourceLimiter(checkBucket("limits.udp", limits.udp ?? d.udp), maxSources);
    this.#dialLimit = new SourceLimiter(checkBucket("limits.dial", limits.dial ?? d.dial), maxSources);
    this.#now = opts.now ?? (() => performance.now());
    const { limits: _l, now: _n, ...rest } = o;
    this.#opts = rest;
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

  /**
   * Builds the answer to one decoded request, or undefined to stay silent.
   * `budget` is the most bytes it may have: the request's own size on UDP
   * (docs/stun.md "Exposure"), Infinity on TCP, whose handshake proved that
   * the source receives. With `strict`, an answer whose essential part is
   * over the budget is not sent at all.
   */
  #answer(req: DecodedStunMessage, from: TransportAddress, origin: TransportAddress, opts: { budget: number; strict: boolean; extra?: StunAttribute[] }): Uint8Array | undefined {
    if (req.class !== "request") return undefined;
    const base = { method: req.method, transactionId: req.transactionId };
    const onTcp = opts.budget === Infinity;
    const fail = (code: number, reason: string, attrs: StunAttribute[] = []) =>
      fitError(base, code, reason, [...attrs, ...(onTcp ? [{ type: "SOFTWARE" as const, value: this.#opts.software }] : [])], { budget: opts.budget, fingerprint: true });
    if (req.method !== Method.BINDING) return fail(400, "Bad Request: only Binding is served");
    const unknown = unknownRequiredAttributes(req).filter((t) => t !== PADDING);
    if (unknown.length) return fail(420, "Unknown Attribute", [{ type: "UNKNOWN-ATTRIBUTES", value: unknown }]);
    const other = this.addresses.other;
    // Wire order as always; `rank` decides what stays when a UDP budget is short.
    // Essential (0): the mapped address is the point of a Binding, and without
    // OTHER-ADDRESS an RFC 5780 client cannot run its tests. The rest it can do without.
    const candidates: Candidate[] = [
      { attr: { type: "XOR-MAPPED-ADDRESS", value: from }, rank: 0 },
      { attr: { type: "MAPPED-ADDRESS", value: from }, rank: 2 },
      { attr: { type: "RESPONSE-ORIGIN", value: origin }, rank: 1 },
      ...(other ? [{ attr: { type: "OTHER-ADDRESS" as const, value: other }, rank: 0 }] : []),
      ...(opts.extra ?? []).map((attr) => ({ attr, rank: 0 })),
      { attr: { type: "SOFTWARE", value: this.#opts.software }, rank: 3 },
    ];
    const out = fitAnswer({ ...base, class: "success" }, candidates, { budget: opts.budget, strict: opts.strict, fingerprint: true });
    if (out && !onTcp && out.length < encodingLength({ ...base, class: "success", attributes: candidates.map((c) => c.attr) }, { fingerprint: true })) this.stats.udpTrimmed++;
    return out;
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
    // Whatever we send back may be aimed at a spoofed source: the limit comes before any answer, errors included.
    if (!this.#udpLimit.take(rinfo.address, this.#now())) {
      this.stats.udpRateLimited++;
      return;
    }
    const from = toTransportAddress(rinfo.address, rinfo.port);
    const budget = msg.length;
    const base = { method: req.method, transactionId: req.transactionId };
    const send = (sock: dgram.Socket | undefined, buf: Uint8Array | undefined, port: number) => {
      if (!buf) this.stats.udpTooSmall++;
      else sock?.send(buf, port, rinfo.address);
    };
    const change = getAttribute(req, "CHANGE-REQUEST");
    let out = slot;
    if (change && (change.changeIp || change.changePort)) {
      const target = this.#slot(change.changeIp ? slot.ip ^ 1 : slot.ip, change.changePort ? slot.port ^ 1 : slot.port);
      if (!target?.udp) {
        // RFC 5780 §6.1: a server that cannot honour CHANGE-REQUEST answers 420.
        send(slot.udp, fitError(base, 420, "Unknown Attribute: no alternate address", [{ type: "UNKNOWN-ATTRIBUTES", value: [0x0003] }], { budget, fingerprint: true }), rinfo.port);
        return;
      }
      out = target;
    }
    const responsePort = getAttribute(req, "RESPONSE-PORT");
    if (responsePort !== undefined && responsePort !== rinfo.port) {
      // That port never sent us anything: no byte over the request's size goes there,
      // not even the essential part. Too small: a 400 (never bigger than the request) to the port that asked.
      const answer = this.#answer(req, from, out.addr, { budget, strict: true });
      if (answer) out.udp?.send(answer, responsePort, rinfo.address);
      else send(slot.udp, fitError(base, 400, "Bad Request: pad a RESPONSE-PORT request to the size of the answer", [], { budget, fingerprint: true }), rinfo.port);
      return;
    }
    send(out.udp, this.#answer(req, from, out.addr, { budget, strict: this.#opts.strictUdpSize }), rinfo.port);
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
    const source = sourceKey(from.address);
    const tcp = { budget: Infinity, strict: false };
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
        const portJob = dialPort && this.#admitDial(source, "dial-port", false);
        if (dialPort && portJob) {
          // Answered once the connect has an outcome; only ever the requester's own IP is dialed.
          void this.#dialPort(portJob, from, dialPort.port, slot).then((ok) => {
            if (c.destroyed) return;
            const answer = this.#answer(req, from, slot.addr, { ...tcp, extra: [{ type: "P2PNODE-DIAL-PORT", value: { port: dialPort.port, result: ok ? "connected" : "failed" } }] });
            if (answer) c.write(answer);
          });
          continue;
        }
        const dial = getAttribute(req, "P2PNODE-DIAL-BACK");
        const extra: StunAttribute[] = [];
        const backJob = dial && this.#admitDial(source, "dial-back", dial.changeIp);
        if (dial && backJob) {
          extra.push({ type: "P2PNODE-DIAL-BACK", value: dial });
          setImmediate(() => this.#dialBack(backJob, from, dial.token, dial.changeIp, slot));
        }
        const answer = this.#answer(req, from, slot.addr, { ...tcp, extra });
        if (answer) c.write(answer);
      }
    });
  }

  #active = 0;

  /**
   * Decides whether a source may have one more outbound connect (docs/stun.md
   * "Exposure"): at most one dial-back and one dial-port in flight per source
   * (a node runs NAT discovery and port-mapping verification at once),
   * `maxDialBacks` in all, and the per-source rate. A new dial-back replaces
   * the source's dial-back in flight instead of being refused: its client asks
   * for the next one only after it stopped waiting for the first (a filtered
   * connect would otherwise hold the slot for the whole dial-back timeout). A
   * dial-port is awaited by its client, so it is never replaced.
   */
  #admitDial(source: string, kind: Dial["kind"], changeIp: boolean): Dial | undefined {
    if (this.#closing || !this.#opts.tcp) return undefined;
    if (changeIp && this.#ips.length < 2) return undefined;
    const slotKey = `${kind} ${source}`;
    const prev = this.#inflight.get(slotKey);
    const replace = prev !== undefined && kind === "dial-back";
    const refuse = (why: string) => {
      this.stats.dialsRefused++;
      this.#log.debug(`${kind} refused`, { source, why });
      return undefined;
    };
    if (prev && !replace) return refuse(`one ${kind} already in flight for this source`);
    if (this.#active - (replace ? 1 : 0) >= this.#opts.maxDialBacks) return refuse("maxDialBacks reached");
    if (!this.#dialLimit.take(source, this.#now())) return refuse("per-source rate limit");
    if (prev) {
      prev.cancelled = true;
      prev.socket?.destroy();
      prev.release();
    }
    this.#active++;
    this.stats.dialBacks++;
    let released = false;
    const job: Dial = {
      kind,
      cancelled: false,
      release: () => {
        if (released) return;
        released = true;
        this.#active--;
        if (this.#inflight.get(slotKey) === job) this.#inflight.delete(slotKey);
      },
    };
    this.#inflight.set(slotKey, job);
    return job;
  }

  /**
   * Dials the requester's mapped address from the alternate IP (changeIp) or
   * from the primary IP on a fresh port, and sends a Binding indication that
   * carries the token. Ports the server listens on cannot be dialed from.
   */
  #dialBack(job: Dial, to: TransportAddress, token: Uint8Array, changeIp: boolean, slot: Slot): void {
    if (this.#closing || job.cancelled) {
      job.release();
      return;
    }
    const localAddress = this.#ips[changeIp ? slot.ip ^ 1 : slot.ip];
    const s = net.connect({ host: to.address, port: to.port, localAddress });
    job.socket = s;
    this.#conns.add(s);
    s.once("close", () => {
      job.release();
      this.#conns.delete(s);
    });
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
  #dialPort(job: Dial, to: TransportAddress, port: number, slot: Slot): Promise<boolean> {
    if (this.#closing) {
      job.release();
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const s = net.connect({ host: to.address, port, localAddress: this.#ips[slot.ip] });
      job.socket = s;
      this.#conns.add(s);
      let ok = false;
      s.once("close", () => {
        job.release();
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

