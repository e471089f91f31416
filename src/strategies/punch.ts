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
import { UNKNOWN_NAT, type NatSummary, type NodeAddress } from "../identity/address.ts";
import { defaultInterfaceIndex } from "../identity/publisher.ts";
import { base64urlDecode, base64urlEncode } from "../util/encoding.ts";
import { systemClock, systemTimers, type Clock, type Timers } from "../util/clock.ts";
import { asAbortError, deadline } from "../util/deadline.ts";
import { DialError, PunchError, PunchUnsupportedError, RefusedError } from "../errors.ts";
import { globalV6, natKindName, punchApplicabilityFor } from "./punch/applicability.ts";
import { buildOffer, punchTargets } from "./punch/candidates.ts";
import { openPunchPorts, type PunchPorts } from "./punch/mappings.ts";
import { parseReply, parseRequest, PUNCH, type PunchReply, type PunchRequest } from "./punch/messages.ts";
import { resolvePunchOptions, type PunchOptions } from "./punch/options.ts";
import { describeReport, runPunch, type RunPunchOptions } from "./punch/session.ts";
import { punchClock, type SimultaneousOpenReport } from "./punch/simultaneous-open.ts";
import { SynBudget } from "./punch/syn-budget.ts";
import { agreeStart, bestClockSample, proposeStart, toLocalClock, type ClockSample } from "./punch/timing.ts";
import { admitRequest } from "./responder.ts";
import type { Applicability, DialContext, DialResult, Responder, ResponderContext, Strategy } from "./strategy.ts";

export { PUNCH, parseReply, parseRequest, type PunchReply, type PunchRequest } from "./punch/messages.ts";
export { PUNCH_DEFAULTS, type PunchOptions } from "./punch/options.ts";

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

/** The NAT summary a punch goes by: the default interface's TCP NAT (else the first one's). */
export function tcpNat(a: NodeAddress): NatSummary | undefined {
  return a.interfaces[defaultInterfaceIndex(a.interfaces)]?.nat.tcp;
}

const publicIps = (a: NodeAddress): string[] => a.interfaces.flatMap((i) => i.v4.public);
const lanIps = (a: NodeAddress): string[] => a.interfaces.flatMap((i) => i.v4.private).filter((ip) => !ip.startsWith("127."));
export class PunchStrategy implements Strategy {
  readonly name = "punch" as const;
  readonly options: PunchOptions;
  readonly responders: Readonly<Record<string, Responder>>;
  /** One budget for every punch of this node, so many requesters cannot add up against one IP. */
  readonly #budget: SynBudget;
  #stats: PunchStats = { punches: 0, synAttempts: 0, synsDenied: 0, capped: 0 };

  constructor(options: Partial<PunchOptions> = {}) {
    const o = resolvePunchOptions(options);
    this.options = o;
    this.#budget = new SynBudget({ burst: o.synBudgetBurst, perSecond: o.synBudgetPerSecond, maxIps: o.synBudgetIps });
    this.responders = Object.freeze({ [PUNCH]: { dialsOut: true, handle: (body: unknown, from: string, ctx: ResponderContext, signal: AbortSignal) => this.#respond(body, from, ctx, signal) } });
  }

  /** SYNs sent and held back so far (a copy). */
  get stats(): PunchStats {
    return { ...this.#stats };
  }

  /** The dial limits every punch of this node runs with, initiator and responder alike, on the node's clock and timers. */
  #limits(time: Time): Pick<RunPunchOptions, "retryDelayMs" | "retryBackoff" | "maxAttemptsPerTarget" | "maxAttempts" | "take" | "onReport" | "clock" | "timers"> {
    return {
      ...time,
      retryDelayMs: this.options.retryDelayMs,
      retryBackoff: this.options.retryBackoff,
      maxAttemptsPerTarget: this.options.maxAttemptsPerTarget,
      maxAttempts: this.options.maxSynsPerPunch,
      take: (ip) => this.#budget.take(ip, time.clock.now()),
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
    return punchApplicabilityFor(local, remote, ours, theirs);
  }

  async dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult> {
    const total = Math.min(opts.timeout, this.options.timeout);
    const [ours, theirs] = [tcpNat(ctx.local), tcpNat(ctx.remote)];
    if (ours && theirs) {
      const fit = punchApplicabilityFor(ctx.local, ctx.remote, ours, theirs);
      if (fit.verdict === "no") throw new PunchUnsupportedError(`punch: ${fit.reason}`);
    }
    const sig = ctx.signaling;
    if (!sig) throw new DialError("punch: no signaling channel to the peer");
    if (!ctx.stun.length) throw new PunchError("punch: no STUN server configured (a punch needs fresh TCP mappings)");
    const time = timeOf(ctx);
    const { clock } = time;
    const t0 = clock.now();
    const end = t0 + total;
    const left = () => Math.max(1, end - clock.now());
    const b = deadline({ timeout: total, signals: [opts.signal], what: "punch", ...time });
    let ports: PunchPorts | undefined;
    try {
      // Mappings and clock estimate in parallel: neither needs the other.
      const portsP = openPunchPorts({ stun: ctx.stun, count: this.options.ports, signal: b.signal, timeout: Math.min(left(), 2000), logger: ctx.logger, clock });
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
      const offer = buildOffer({ mappings: ports.mappings, nat: ours ?? UNKNOWN, lanIps: lanIps(ctx.local), v6Ips: globalV6(ctx.local), predict: this.options.predict });
      const token = randomBytes(16);
      const startPeer = proposeStart({ now: clock.now(), clock: clockEst, responderPrepMs: ports.ms + 20, marginMs: this.options.marginMs });
      const windowMs = Math.max(100, Math.round(end - toLocalClock(startPeer, clockEst)));
      ctx.progress("punch-request", { offer, rttMs: round(clockEst.rttMs), offsetMs: round(clockEst.offsetMs), startInMs: round(toLocalClock(startPeer, clockEst) - clock.now()) });
      const body: PunchRequest = { address: ctx.local.text, token: base64urlEncode(token), offer, startAt: startPeer, rttMs: clockEst.rttMs, windowMs };
      const reply = parseReply(await sig.request(PUNCH, body, { timeout: left(), signal: b.signal }));
      const startAt = toLocalClock(reply.startAt, clockEst);
      // The reply's offer is the peer's word: the same dial policy as for a request applies.
      const offered = punchTargets(reply.offer, [...publicIps(ctx.local), ...ports.mappings.map((m) => m.mapped.ip)], { v6: globalV6(ctx.local).length > 0 });
      const targets = offered.filter((t) => ctx.mayDial(t.ip));
      if (targets.length < offered.length) ctx.logger.debug("punch: skipping endpoints of the reply the peer's address does not allow", { skipped: offered.length - targets.length });
      ctx.progress("punch-start", { targets, localPorts: ports.localPorts, startInMs: round(startAt - clock.now()) });
      let res;
      try {
        res = await runPunch({ ...this.#limits(time), role: "initiator", token, localPorts: ports.localPorts, targets, startAt, windowEnd: end, signal: b.signal });
      } catch (err) {
        if (err instanceof PunchError) {
          throw new PunchError(`punch ${natKindName(ours ?? UNKNOWN)} (here) × ${natKindName(theirs ?? UNKNOWN)} (peer): ${err.message}`, { cause: err });
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
        totalMs: round(clock.now() - t0),
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
      if (opts.signal.aborted) throw asAbortError(opts.signal.reason, "punch");
      if (b.signal.aborted && !(err instanceof PunchError)) {
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
    const { req, requester } = admitRequest(PUNCH, body, from, parseRequest);
    const [ours, theirs] = [tcpNat(ctx.local), tcpNat(requester)];
    if (ours && theirs) {
      const fit = punchApplicabilityFor(ctx.local, requester, ours, theirs);
      if (fit.verdict === "no") throw new PunchUnsupportedError(`punch: ${fit.reason}`);
    }
    const time = timeOf(ctx);
    const { clock } = time;
    const timeout = this.options.timeout;
    // The requester picks the start and the window; both stay within our own punch deadline.
    if (req.startAt - clock.now() > timeout) throw new RefusedError(`punch: the proposed start is more than the punch deadline (${timeout} ms) away`);
    // The requester's window plus its HELLO's way back (rtt), no longer than our deadline.
    const spanMs = Math.min(timeout, req.windowMs + Math.max(200, req.rttMs));
    const b = deadline({ timeout: Math.max(0, req.startAt - clock.now()) + spanMs + 3000, signals: [lifetime], what: `punch for ${from}`, ...time });
    let ports: PunchPorts;
    try {
      ports = await openPunchPorts({ stun: ctx.stun, count: this.options.ports, signal: b.signal, timeout: 2000, logger: ctx.logger, clock });
    } catch (err) {
      b.done();
      throw err instanceof PunchError ? err : new PunchError(`punch: ${(err as Error).message}`, { cause: err });
    }
    const offer = buildOffer({ mappings: ports.mappings, nat: ours ?? UNKNOWN, lanIps: lanIps(ctx.local), v6Ips: globalV6(ctx.local), predict: this.options.predict });
    const startAt = agreeStart(req.startAt, clock.now(), Math.min(req.rttMs, timeout), this.options.marginMs);
    const targets = punchTargets(req.offer, [...publicIps(ctx.local), ...ports.mappings.map((m) => m.mapped.ip)], { v6: globalV6(ctx.local).length > 0 });
    const allowed = targets.filter((t) => ctx.mayDial(requester, t.ip));
    if (allowed.length < targets.length) ctx.logger.debug("punch: skipping endpoints the requester's address does not list", { skipped: targets.length - allowed.length });
    const token = Buffer.from(base64urlDecode(req.token) as Uint8Array);
    // Punch after the reply is on its way (the requester needs our offer to start). It
    // counts as a running signaling handler until it settles: the handler limit bounds it too.
    ctx.background((async () => {
      try {
        // Same NAT: SYNs over a LAN never cross in flight, so also accept on the punch port.
        const listen = allowed.some((t) => t.kind === "lan");
        const res = await runPunch({ ...this.#limits(time), role: "responder", token, localPorts: ports.localPorts, targets: allowed, listen, startAt, windowEnd: startAt + spanMs, signal: b.signal });
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

/**
 * The clock and timers a punch runs on: the node's when it lends them (fake in
 * tests), else the system's. The system clock is read through punchClock: the
 * same time, with the sub-ms precision the start needs.
 */
interface Time {
  clock: Clock;
  timers: Timers;
}
const timeOf = (ctx: { clock?: Clock; timers?: Timers }): Time => ({
  clock: !ctx.clock || ctx.clock === systemClock ? punchClock : ctx.clock,
  timers: ctx.timers ?? systemTimers,
});

const UNKNOWN: NatSummary = UNKNOWN_NAT;
const round = (x: number) => Math.round(x * 10) / 10;

