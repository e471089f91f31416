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
 *
 * Parts: server-options.ts (defaults, validation), answer.ts (what an answer
 * holds), dial-admission.ts (which connects it makes), dial-out.ts (the
 * connects). This file binds the sockets and routes requests.
 */
import dgram from "node:dgram";
import net from "node:net";
import { LifecycleState } from "../util/closable.ts";
import { decode, encode, getAttribute, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "./codec.ts";
import { StunFramer } from "./framer.ts";
import { toTransportAddress } from "./ip.ts";
import { sourceKey } from "./rate-limit.ts";
import { fitError } from "./reply-size.ts";
import { buildAnswer } from "./answer.ts";
import { DialAdmission, type Dial } from "./dial-admission.ts";
import { dialBack, dialPort, idleTimer, type DialOutContext } from "./dial-out.ts";
import { resolveStunServerOptions, type ResolvedStunServerOptions, type StunServerOptions } from "./server-options.ts";

// Kept importable from here (the CLI, tests and demos import them by this path).
export { STUN_SERVER_DEFAULTS, type StunLimits, type StunServerOptions } from "./server-options.ts";

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
type AnswerOpts = { budget: number; strict: boolean; extra?: StunAttribute[]; redirected?: boolean };

export class StunServer {
  readonly stats: StunServerStats = { udpRequests: 0, tcpRequests: 0, malformed: 0, dialBacks: 0, dialBacksConnected: 0, udpRateLimited: 0, udpTrimmed: 0, udpTooSmall: 0, dialsRefused: 0 };
  readonly #o: ResolvedStunServerOptions;
  readonly #dials: DialAdmission;
  readonly #dialOut: DialOutContext;
  #slots: Slot[] = [];
  #ips: string[] = [];
  #ports: number[] = [];
  readonly #conns = new Set<net.Socket>();
  // close() and destroy() share one teardown (a destroy during close joins it).
  readonly #state = new LifecycleState("STUN server", () => (this.#releaseDone ??= this.#release()));
  #releaseDone: Promise<void> | undefined;

  private constructor(opts: StunServerOptions) {
    this.#o = resolveStunServerOptions(opts);
    const o = this.#o;
    this.#dials = new DialAdmission(o.dialLimit, o.maxDialBacks, o.clock, this.stats, o.logger);
    this.#dialOut = { conns: this.#conns, timers: o.timers, timeoutMs: o.dialBackTimeout, log: o.logger, stats: this.stats };
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
    const o = this.#o;
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
      if (this.#o.udp) {
        const sock = dgram.createSocket({ type: net.isIPv6(ip) ? "udp6" : "udp4" });
        slot.udp = sock;
        sock.on("message", (msg, rinfo) => this.#onUdp(slot, msg, rinfo));
        sock.on("error", (err) => this.#o.logger.debug("udp socket error", { err: String(err) }));
        await new Promise<void>((resolve, reject) => {
          sock.once("error", reject);
          sock.bind({ address: ip, port: chosen, exclusive: true }, () => {
            sock.off("error", reject);
            resolve();
          });
        });
        chosen = sock.address().port;
      }
      if (this.#o.tcp) {
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

  /** The answer to one request (undefined: stay silent); counts a trimmed UDP answer. */
  #answer(req: DecodedStunMessage, from: TransportAddress, origin: TransportAddress, opts: AnswerOpts): Uint8Array | undefined {
    const a = buildAnswer({ req, from, origin, other: this.addresses.other, software: this.#o.software, ...opts });
    if (a.trimmed) this.stats.udpTrimmed++;
    return a.bytes;
  }

  #onUdp(slot: Slot, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let req: DecodedStunMessage;
    try {
      // RFC 3489 requests too (RFC 8489 §12.2): classic NAT-type clients send no magic cookie.
      req = decode(msg, { legacy: true });
    } catch (err) {
      this.stats.malformed++;
      this.#o.logger.debug("dropping malformed datagram", { from: rinfo.address, err: (err as Error).message });
      return;
    }
    if (req.class !== "request") return;
    this.stats.udpRequests++;
    // Whatever we send back may be aimed at a spoofed source: the limit comes before any answer, errors included.
    if (!this.#o.udpLimit.take(rinfo.address, this.#o.clock.now())) {
      this.stats.udpRateLimited++;
      return;
    }
    const from = toTransportAddress(rinfo.address, rinfo.port);
    const budget = msg.length;
    const legacy = req.legacyCookie;
    const base = { method: req.method, transactionId: req.transactionId, ...(legacy ? { legacyCookie: legacy } : {}) };
    // An RFC 3489 client knows no FINGERPRINT.
    const fingerprint = !legacy;
    const send = (sock: dgram.Socket | undefined, buf: Uint8Array | undefined, port: number) => {
      if (!buf) this.stats.udpTooSmall++;
      else sock?.send(buf, port, rinfo.address);
    };
    const change = getAttribute(req, "CHANGE-REQUEST");
    const responsePort = getAttribute(req, "RESPONSE-PORT");
    let out = slot;
    if (change && (change.changeIp || change.changePort)) {
      const target = this.#slot(change.changeIp ? slot.ip ^ 1 : slot.ip, change.changePort ? slot.port ^ 1 : slot.port);
      if (!target?.udp) {
        // RFC 5780 §6.1: a server that cannot honour CHANGE-REQUEST answers 420, to
        // RESPONSE-PORT when there is one (coturn's client listens only there); it
        // never exceeds the request, so it may go to a port that sent nothing.
        send(slot.udp, fitError(base, 420, "Unknown Attribute: no alternate address", [{ type: "UNKNOWN-ATTRIBUTES", value: [0x0003] }], { budget, fingerprint }), responsePort || rinfo.port);
        return;
      }
      out = target;
    }
    if (responsePort !== undefined && responsePort !== rinfo.port) {
      // RFC 5780 §7.5: the answer goes to that port. It never sent us anything, so no
      // byte over the request's size goes there, not even OTHER-ADDRESS (the client
      // learnt it from its first test; coturn's client sends 36 bytes, room for the
      // mapped address alone). Too small even for that, or port 0 (nowhere to send):
      // a 400, never bigger than the request, to the port that asked.
      const answer = responsePort === 0 ? undefined : this.#answer(req, from, out.addr, { budget, strict: true, redirected: true });
      if (answer) out.udp?.send(answer, responsePort, rinfo.address);
      else send(slot.udp, fitError(base, 400, responsePort === 0 ? "Bad Request: RESPONSE-PORT 0" : "Bad Request: pad a RESPONSE-PORT request to the size of the answer", [], { budget, fingerprint }), rinfo.port);
      return;
    }
    send(out.udp, this.#answer(req, from, out.addr, { budget, strict: this.#o.strictUdpSize }), rinfo.port);
  }

  #onTcp(slot: Slot, c: net.Socket): void {
    if (this.#state.closed) {
      c.destroy();
      return;
    }
    this.#conns.add(c);
    const idle = idleTimer(this.#o.timers, this.#o.idleTimeout, () => c.destroy());
    const write = (bytes: Uint8Array) => {
      idle.touch();
      c.write(bytes);
    };
    c.on("close", () => {
      idle.stop();
      this.#conns.delete(c);
    });
    c.on("error", () => {});
    const framer = new StunFramer();
    const from = toTransportAddress(c.remoteAddress ?? "", c.remotePort ?? 0);
    const source = sourceKey(from.address);
    const tcp = { budget: Infinity, strict: false };
    c.on("data", (chunk) => {
      idle.touch();
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
          write(encode({ method: req.method, class: "error", transactionId: req.transactionId, attributes: [{ type: "ERROR-CODE", value: { code: 420, reason: "CHANGE-REQUEST needs UDP" } }, { type: "UNKNOWN-ATTRIBUTES", value: [0x0003] }] }, { fingerprint: true }));
          continue;
        }
        const wantPort = getAttribute(req, "P2PNODE-DIAL-PORT");
        const portJob = wantPort && this.#admitDial(source, "dial-port", false);
        if (wantPort && portJob) {
          // Answered once the connect has an outcome; only ever the requester's own IP is dialed.
          void this.#dialPort(portJob, from, wantPort.port, slot).then((ok) => {
            if (c.destroyed) return;
            const answer = this.#answer(req, from, slot.addr, { ...tcp, extra: [{ type: "P2PNODE-DIAL-PORT", value: { port: wantPort.port, result: ok ? "connected" : "failed" } }] });
            if (answer) write(answer);
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
        if (answer) write(answer);
      }
    });
  }

  /** One more outbound connect for `source`, or undefined (closed, no TCP, no alternate IP, or refused by admission). */
  #admitDial(source: string, kind: Dial["kind"], changeIp: boolean): Dial | undefined {
    if (this.#state.closed || !this.#o.tcp) return undefined;
    if (changeIp && this.#ips.length < 2) return undefined;
    return this.#dials.admit(source, kind);
  }

  #dialBack(job: Dial, to: TransportAddress, token: Uint8Array, changeIp: boolean, slot: Slot): void {
    if (this.#state.closed || job.cancelled) return job.release();
    dialBack(this.#dialOut, job, to, this.#ips[changeIp ? slot.ip ^ 1 : slot.ip], token, changeIp);
  }

  #dialPort(job: Dial, to: TransportAddress, port: number, slot: Slot): Promise<boolean> {
    if (this.#state.closed) {
      job.release();
      return Promise.resolve(false);
    }
    return dialPort(this.#dialOut, job, to, port, this.#ips[slot.ip]);
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

  /** Stops answering and frees every socket. Memoized and idempotent; never rejects. */
  close(): Promise<void> {
    return this.#state.close();
  }

  /** Same as close(): a STUN server has nothing to flush. */
  destroy(err?: Error): Promise<void> {
    return this.#state.destroy(err);
  }
}
