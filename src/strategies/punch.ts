/**
 * TCP hole punching by simultaneous open (RFC 5382 §2.2, RFC 6544 §7.2),
 * coordinated over signaling, in-process, with every candidate port at once.
 *
 *   A (connect, initiator)                  broker                  B (responder)
 *   punch port(s) ← TCP STUN mapping         │
 *   ping ×3 ─────────────────────────────────┼──────────────────────▶ pong  (rtt, offset)
 *   punch { address, token, offer_A, startAt (B's clock), rtt } ─────▶ punch port(s) ← TCP STUN
 *        ◀──────────────────── { offer_B, startAt (agreed), windowEnd } ───
 *   at startAt: SYNs from A's ports to every B target   │   at startAt: SYNs to every A target
 *        ◀═════════════ connection(s) open (simultaneous open / one side's SYN lands) ═════════════▶
 *        ◀──────── HELLO(token, B's start) on each ───── │
 *        NOMINATE(token) on the first ─────────────────▶ │ drop the others
 *        handshake (A initiator) ══════════════════════▶ │ handshake (B responder) → adopt "punch"
 *
 * docs/punch.md has the timing, the candidate rules and the lab results.
 */
import { randomBytes } from "node:crypto";
import { parseAddress, type NatSummary, type NodeAddress } from "../identity/address.ts";
import { base64urlDecode, base64urlEncode } from "../util/encoding.ts";
import { DialError, InvalidArgumentError, PunchError, PunchUnsupportedError, RefusedError, TimeoutError } from "../errors.ts";
import { natKindName, punchApplicability } from "./punch/applicability.ts";
import { buildOffer, parseOffer, punchTargets, type PunchOffer } from "./punch/candidates.ts";
import { openPunchPorts, type PunchPorts } from "./punch/mappings.ts";
import { describeReport, runPunch, type RunPunchOptions } from "./punch/session.ts";
import { defaultClock, type SimultaneousOpenReport } from "./punch/simultaneous-open.ts";
import { SynBudget } from "./punch/syn-budget.ts";
import { agreeStart, bestClockSample, proposeStart, toLocalClock, type ClockSample } from "./punch/timing.ts";
import type { Applicability, DialContext, DialResult, Responder, ResponderContext, Strategy } from "./strategy.ts";

/** Signaling request type (and the responder's key). */
export const PUNCH = "punch";

export interface PunchOptions {
  /** Total deadline of one punch, from dial() to the nominated socket (ms); room for the kernel's SYN retransmits (+1 s, +3 s, +7 s) on lossy paths. @default 10000 */
  timeout: number;
  /** Punch ports per side (each learns its mapping over TCP STUN). @default 1 */
  ports: number;
  /** Ports predicted after the last mapping of a sequential NAT. @default 6 */
  predict: number;
  /** Ping/pong rounds over signaling to estimate offset and round trip. @default 3 */
  pings: number;
  /** Slack added to the proposed start for jitter and event-loop delays (ms). @default 40 */
  marginMs: number;
  /** Pause before the first re-dial of a refused SYN (ms, ±50 % jitter); each later one waits `retryBackoff` times longer. @default 15 */
  retryDelayMs: number;
  /** Growth factor of the re-dial pause (1-10). @default 2 */
  retryBackoff: number;
  /**
   * SYN attempts per (punch port, target) pair, the first included (1-16). Re-dials only
   * answer a refusal (our SYN beat the peer's); dropped SYNs are retransmitted by the kernel. @default 4
   */
  maxAttemptsPerTarget: number;
  /** SYN attempts in one punch, over every pair (1-1024): what one request can make us send. @default 64 */
  maxSynsPerPunch: number;
  /** SYNs one destination IP may get at once, over every punch of this node and every requester. @default 64 */
  synBudgetBurst: number;
  /** SYNs per second that budget refills with, per destination IP. @default 2 */
  synBudgetPerSecond: number;
  /** Destination IPs the budget tracks at most (memory bound). @default 4096 */
  synBudgetIps: number;
}

export const PUNCH_DEFAULTS: Readonly<PunchOptions> = Object.freeze({
  timeout: 10_000,
  ports: 1,
  predict: 6,
  pings: 3,
  marginMs: 40,
  retryDelayMs: 15,
  retryBackoff: 2,
  maxAttemptsPerTarget: 4,
  maxSynsPerPunch: 64,
  synBudgetBurst: 64,
  synBudgetPerSecond: 2,
  synBudgetIps: 4096,
});

/** Integer options and their ranges (the rest are any non-negative number). */
const INTEGER_RANGES: Partial<Record<keyof PunchOptions, [number, number]>> = {
  ports: [1, 4],
  predict: [0, 16],
  pings: [1, 10],
  maxAttemptsPerTarget: [1, 16],
  maxSynsPerPunch: [1, 1024],
  synBudgetBurst: [1, 100_000],
  synBudgetIps: [1, 1_000_000],
};

/** What this node's punches sent, over its lifetime (diagnostics, tests). */
export interface PunchStats {
  /** Punch windows run (initiator and responder). */
  punches: number;
  /** SYN attempts made. */
  synAttempts: number;
  /** SYNs not sent: the destination IP's budget was spent. */
  synsDenied: number;
  /** Re-dials not made: a pair or the punch reached its cap. */
  capped: number;
}

/** Request body of `punch`. */
export interface PunchRequest {
  /** The initiator's signed address (the responder dials only endpoints it lists). */
  address: string;
  /** 16 bytes, base64url: binds the punched connection to this request. */
  token: string;
  offer: PunchOffer;
  /** Proposed start, in the RESPONDER's clock (ms since the epoch). */
  startAt: number;
  /** Signaling round trip the initiator measured (ms). */
  rttMs: number;
  /** How long the SYN window stays open after the start (ms). */
  windowMs: number;
}

/** Reply body of `punch`. */
export interface PunchReply {
  offer: PunchOffer;
  /** Agreed start, responder's clock. */
  startAt: number;
}

/** The NAT summary a punch goes by: the default interface's TCP NAT (else the first one's). */
export function tcpNat(a: NodeAddress): NatSummary | undefined {
  return (a.interfaces.find((i) => i.isDefault) ?? a.interfaces[0])?.nat.tcp;
}

const publicIps = (a: NodeAddress): string[] => a.interfaces.flatMap((i) => i.v4.public);
const lanIps = (a: NodeAddress): string[] => a.interfaces.flatMap((i) => i.v4.private).filter((ip) => !ip.startsWith("127."));
const num = (v: unknown, what: string): number => {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new InvalidArgumentError(`punch ${what} must be a number`);
  return v;
};

/** Validates a punch request body from the wire; throws InvalidArgumentError. */
export function parseRequest(v: unknown): PunchRequest {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null) throw new InvalidArgumentError("punch request must be an object");
  if (typeof o.address !== "string" || o.address.length > 4096) throw new InvalidArgumentError("punch request needs the requester's address");
  const token = typeof o.token === "string" ? base64urlDecode(o.token) : null;
  if (!token || token.length !== 16) throw new InvalidArgumentError("punch token must be 16 bytes of base64url");
  const windowMs = num(o.windowMs, "windowMs");
  if (windowMs < 100 || windowMs > 30_000) throw new InvalidArgumentError("punch windowMs must be 100-30000");
  const rttMs = num(o.rttMs, "rttMs");
  if (rttMs > 30_000) throw new InvalidArgumentError("punch rttMs must be at most 30000");
  return { address: o.address, token: o.token as string, offer: parseOffer(o.offer), startAt: num(o.startAt, "startAt"), rttMs: Math.max(0, rttMs), windowMs };
}

/** Validates the responder's punch reply; throws PunchError. */
export function parseReply(v: unknown): PunchReply {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null) throw new PunchError("the peer's punch reply is not an object");
  try {
    return { offer: parseOffer(o.offer), startAt: num(o.startAt, "startAt") };
  } catch (err) {
    throw new PunchError(`the peer's punch reply is unusable: ${(err as Error).message}`);
  }
}

/** An AbortSignal that fires on `outer` or after `ms` (with a TimeoutError reason); `done()` frees it. */
function bounded(outer: AbortSignal, ms: number): { signal: AbortSignal; done(): void } {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new TimeoutError(`punch deadline of ${ms} ms passed`)), ms);
  const onAbort = () => ctrl.abort(outer.reason);
  if (outer.aborted) onAbort();
  else outer.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ctrl.signal,
    done: () => {
      clearTimeout(timer);
      outer.removeEventListener("abort", onAbort);
    },
  };
}

export class PunchStrategy implements Strategy {
  readonly name = "punch" as const;
  readonly options: PunchOptions;
  readonly responders: Readonly<Record<string, Responder>>;
  /** One budget for every punch of this node, so many requesters cannot add up against one IP. */
  readonly #budget: SynBudget;
  #stats: PunchStats = { punches: 0, synAttempts: 0, synsDenied: 0, capped: 0 };

  constructor(options: Partial<PunchOptions> = {}) {
    const o = { ...PUNCH_DEFAULTS, ...options };
    for (const [k, v] of Object.entries(o)) {
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(`punch.${k} must be a non-negative number`);
      const range = INTEGER_RANGES[k as keyof PunchOptions];
      if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) throw new InvalidArgumentError(`punch.${k} must be an integer ${range[0]}-${range[1]}`);
    }
    if (o.timeout < 500 || o.timeout > 30_000) throw new InvalidArgumentError("punch.timeout must be 500-30000 ms");
    if (o.retryBackoff < 1 || o.retryBackoff > 10) throw new InvalidArgumentError("punch.retryBackoff must be 1-10");
    if (o.synBudgetPerSecond <= 0) throw new InvalidArgumentError("punch.synBudgetPerSecond must be positive");
    this.options = Object.freeze(o);
    this.#budget = new SynBudget({ burst: o.synBudgetBurst, perSecond: o.synBudgetPerSecond, maxIps: o.synBudgetIps });
    this.responders = Object.freeze({ [PUNCH]: { dialsOut: true, handle: (body: unknown, from: string, ctx: ResponderContext, signal: AbortSignal) => this.#respond(body, from, ctx, signal) } });
  }

  /** SYNs sent and held back so far (a copy). */
  get stats(): PunchStats {
    return { ...this.#stats };
  }

  /** The dial limits every punch of this node runs with, initiator and responder alike. */
  #limits(): Pick<RunPunchOptions, "retryDelayMs" | "retryBackoff" | "maxAttemptsPerTarget" | "maxAttempts" | "take" | "onReport"> {
    return {
      retryDelayMs: this.options.retryDelayMs,
      retryBackoff: this.options.retryBackoff,
      maxAttemptsPerTarget: this.options.maxAttemptsPerTarget,
      maxAttempts: this.options.maxSynsPerPunch,
      take: (ip) => this.#budget.take(ip, defaultClock()),
      onReport: (r: SimultaneousOpenReport) => {
        this.#stats.punches++;
        this.#stats.synAttempts += r.attempts;
        this.#stats.synsDenied += r.denied;
        this.#stats.capped += r.capped;
      },
    };
  }

  applies(local: NodeAddress, remote: NodeAddress): Applicability {
    if (!remote.signaling.length) return { verdict: "no", reason: "the peer lists no signaling server" };
    if (!local.signaling.length) return { verdict: "no", reason: "this node has no signaling server" };
    const [ours, theirs] = [tcpNat(local), tcpNat(remote)];
    if (!ours || !theirs) return { verdict: "maybe", reason: "an address lists no interface" };
    return punchApplicability(ours, theirs);
  }

  async dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult> {
    const total = Math.min(opts.timeout, this.options.timeout);
    const [ours, theirs] = [tcpNat(ctx.local), tcpNat(ctx.remote)];
    if (ours && theirs) {
      const fit = punchApplicability(ours, theirs);
      if (fit.verdict === "no") throw new PunchUnsupportedError(`punch: ${fit.reason}`);
    }
    const sig = ctx.signaling;
    if (!sig) throw new DialError("punch: no signaling channel to the peer");
    if (!ctx.stun.length) throw new PunchError("punch: no STUN server configured (a punch needs fresh TCP mappings)");
    const clock = defaultClock;
    const t0 = clock();
    const end = t0 + total;
    const left = () => Math.max(1, end - clock());
    const b = bounded(opts.signal, total);
    let ports: PunchPorts | undefined;
    try {
      // Mappings and clock estimate in parallel: neither needs the other.
      const portsP = openPunchPorts({ stun: ctx.stun, count: this.options.ports, signal: b.signal, timeout: Math.min(left(), 2000), logger: ctx.logger });
      portsP.then((p) => (ports = p), () => {});
      const samples: ClockSample[] = [];
      for (let i = 0; i < this.options.pings; i++) {
        try {
          samples.push(await sig.ping({ timeout: Math.min(left(), 1500), signal: b.signal }));
        } catch (err) {
          if (b.signal.aborted) throw err;
          ctx.logger.debug("punch ping failed", { error: (err as Error).message });
        }
      }
      const clockEst = bestClockSample(samples);
      if (!clockEst) throw new PunchError("punch: the peer did not answer any ping over signaling");
      ports = await portsP;
      const offer = buildOffer({ mappings: ports.mappings, nat: ours ?? UNKNOWN, lanIps: lanIps(ctx.local), predict: this.options.predict });
      const token = randomBytes(16);
      const startPeer = proposeStart({ now: clock(), clock: clockEst, responderPrepMs: ports.ms + 20, marginMs: this.options.marginMs });
      const windowMs = Math.max(100, Math.round(end - toLocalClock(startPeer, clockEst)));
      ctx.progress("punch-request", { offer, rttMs: round(clockEst.rttMs), offsetMs: round(clockEst.offsetMs), startInMs: round(toLocalClock(startPeer, clockEst) - clock()) });
      const body: PunchRequest = { address: ctx.local.text, token: base64urlEncode(token), offer, startAt: startPeer, rttMs: clockEst.rttMs, windowMs };
      const reply = parseReply(await sig.request(PUNCH, body, { timeout: left(), signal: b.signal }));
      const startAt = toLocalClock(reply.startAt, clockEst);
      // The reply's offer is the peer's word: the same dial policy as for a request applies.
      const offered = punchTargets(reply.offer, [...publicIps(ctx.local), ...ports.mappings.map((m) => m.mapped.ip)]);
      const targets = offered.filter((t) => ctx.mayDial(t.ip));
      if (targets.length < offered.length) ctx.logger.debug("punch: skipping endpoints of the reply the peer's address does not allow", { skipped: offered.length - targets.length });
      ctx.progress("punch-start", { targets, localPorts: ports.localPorts, startInMs: round(startAt - clock()) });
      let res;
      try {
        res = await runPunch({ ...this.#limits(), role: "initiator", token, localPorts: ports.localPorts, targets, startAt, windowEnd: end, signal: b.signal });
      } catch (err) {
        if (err instanceof PunchError) {
          throw new PunchError(`punch ${natKindName(ours ?? UNKNOWN)} (here) × ${natKindName(theirs ?? UNKNOWN)} (peer): ${err.message}`);
        }
        throw err;
      }
      // The peer's first SYN, in our clock, against ours: how well the two starts lined up.
      const skewMs = toLocalClock(res.peerStartedAt, clockEst) - res.info.startedAt;
      ctx.progress("punch-connected", {
        target: `${res.info.target.kind} ${res.info.target.ip}:${res.info.target.port}`,
        localPort: res.info.localPort,
        attempt: res.info.attempt,
        synToOpenMs: round(res.info.ms),
        skewMs: round(skewMs),
        lateMs: round(res.report.lateMs),
        totalMs: round(clock() - t0),
        report: describeReport(res.report),
      });
      await ports.release();
      try {
        const session = await ctx.secure(res.socket, "initiator", b.signal, { strategy: "punch" });
        return { stream: res.socket, session, role: "initiator", remoteAddress: res.socket.remoteAddress, remotePort: res.socket.remotePort };
      } catch (err) {
        res.socket.destroy();
        throw err;
      }
    } catch (err) {
      if (b.signal.aborted && !opts.signal.aborted && !(err instanceof PunchError)) {
        throw new PunchError(`punch ${natKindName(ours ?? UNKNOWN)} (here) × ${natKindName(theirs ?? UNKNOWN)} (peer): no connection within its deadline of ${total} ms`, { cause: err });
      }
      throw err;
    } finally {
      b.done();
      await ports?.release();
    }
  }

  /**
   * On the peer that was asked: learn our own fresh mappings, reply with them
   * and the agreed start, then punch in the background and adopt the pipe.
   */
  async #respond(body: unknown, from: string, ctx: ResponderContext, lifetime: AbortSignal): Promise<unknown> {
    const req = parseRequest(body);
    let requester: NodeAddress;
    try {
      requester = parseAddress(req.address);
    } catch (err) {
      throw new RefusedError(`punch: the requester's address is invalid: ${(err as Error).message}`);
    }
    if (requester.id !== from) throw new RefusedError("punch: the address belongs to another node");
    const [ours, theirs] = [tcpNat(ctx.local), tcpNat(requester)];
    if (ours && theirs) {
      const fit = punchApplicability(ours, theirs);
      if (fit.verdict === "no") throw new PunchUnsupportedError(`punch: ${fit.reason}`);
    }
    const clock = defaultClock;
    const timeout = this.options.timeout;
    // The requester picks the start and the window; both stay within our own punch deadline.
    if (req.startAt - clock() > timeout) throw new RefusedError(`punch: the proposed start is more than the punch deadline (${timeout} ms) away`);
    // The requester's window plus its HELLO's way back (rtt), no longer than our deadline.
    const spanMs = Math.min(timeout, req.windowMs + Math.max(200, req.rttMs));
    const b = bounded(lifetime, Math.max(0, req.startAt - clock()) + spanMs + 3000);
    let ports: PunchPorts;
    try {
      ports = await openPunchPorts({ stun: ctx.stun, count: this.options.ports, signal: b.signal, timeout: 2000, logger: ctx.logger });
    } catch (err) {
      b.done();
      throw err instanceof PunchError ? err : new PunchError(`punch: ${(err as Error).message}`);
    }
    const offer = buildOffer({ mappings: ports.mappings, nat: ours ?? UNKNOWN, lanIps: lanIps(ctx.local), predict: this.options.predict });
    const startAt = agreeStart(req.startAt, clock(), Math.min(req.rttMs, timeout), this.options.marginMs);
    const targets = punchTargets(req.offer, [...publicIps(ctx.local), ...ports.mappings.map((m) => m.mapped.ip)]);
    const allowed = targets.filter((t) => ctx.mayDial(requester, t.ip));
    if (allowed.length < targets.length) ctx.logger.debug("punch: skipping endpoints the requester's address does not list", { skipped: targets.length - allowed.length });
    const token = Buffer.from(base64urlDecode(req.token) as Uint8Array);
    // Punch after the reply is on its way (the requester needs our offer to start). It
    // counts as a running signaling handler until it settles: the handler limit bounds it too.
    ctx.background((async () => {
      try {
        // Same NAT: SYNs over a LAN never cross in flight, so also accept on the punch port.
        const listen = allowed.some((t) => t.kind === "lan");
        const res = await runPunch({ ...this.#limits(), role: "responder", token, localPorts: ports.localPorts, targets: allowed, listen, startAt, windowEnd: startAt + spanMs, signal: b.signal });
        await ports.release();
        ctx.logger.debug("punch: connected", { peer: from, target: res.info.target, attempt: res.info.attempt, lateMs: round(res.report.lateMs) });
        try {
          const session = await ctx.secure(res.socket, "responder", from, b.signal, { strategy: "punch" });
          ctx.adopt({ stream: res.socket, session, role: "responder", remoteAddress: res.socket.remoteAddress, remotePort: res.socket.remotePort }, "punch");
        } catch (err) {
          res.socket.destroy();
          throw err;
        }
      } catch (err) {
        ctx.logger.debug("punch failed", { peer: from, error: (err as Error).message });
      } finally {
        b.done();
        await ports.release();
      }
    })());
    const reply: PunchReply = { offer, startAt };
    return reply;
  }
}

const UNKNOWN: NatSummary = { type: "unknown", mapping: "unknown", filtering: "unknown", delta: { kind: "unknown", step: 0 } };
const round = (x: number) => Math.round(x * 10) / 10;

