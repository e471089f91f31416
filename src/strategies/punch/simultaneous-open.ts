/**
 * The simultaneous-open engine (RFC 5382 §2.2, RFC 6544 §7.2 "S-O"): at
 * `startAt`, connect from every punch port to every target at once and re-dial
 * a refused (port, target) pair a few times, until the window closes, the
 * caller stops it or the caps are reached. Rules, from how real NATs and Linux
 * behave and from who chooses the targets (the peer):
 *
 * - Fan out across targets: two connects from one local port to the SAME
 *   remote would share a 4-tuple (EADDRNOTAVAIL), to different remotes they
 *   are independent.
 * - Re-dial a pair only after its previous attempt errored: ECONNREFUSED is
 *   normal when our SYN beats the peer's against an endpoint-independent-
 *   filtering NAT (the peer's host answers RST because its socket is not there
 *   yet).
 * - Few SYNs, whatever the window: the endpoints come from a peer, so a punch
 *   must not become a SYN flood at whoever they name. Each pair gets at most
 *   `maxAttemptsPerTarget` SYNs with a pause that doubles after every refusal,
 *   the whole punch at most `maxAttempts`, and `take` (a budget per
 *   destination IP shared by every punch) is asked before each one. Once no
 *   attempt is pending or due and nothing has opened, the punch ends at once
 *   ("exhausted") instead of idling to the window's end.
 * - Never destroy a socket still in SYN_SENT on a timer inside the window: a
 *   late SYN-ACK would draw our RST and kill the peer's half of that tuple. The
 *   kernel's own SYN retransmits (1 s, 3 s, …) handle dropped SYNs.
 * - When stopped (abort) or when the window closes, every attempt not handed
 *   to `onConnect` is destroyed and every timer cleared.
 */
import net from "node:net";
import { systemTimers, type Clock, type TimerHandle, type Timers } from "../../util/clock.ts";
import { deadline } from "../../util/deadline.ts";
import type { PunchTarget } from "./candidates.ts";

export interface SimultaneousOpenOptions {
  /** Local IP the punch ports are bound on. @default "0.0.0.0" */
  localAddress?: string;
  /** Local ports to dial from (shared with the STUN connections that learned their mappings). */
  localPorts: readonly number[];
  targets: readonly PunchTarget[];
  /** When to send the first SYNs, in `clock.now()` time (ms). */
  startAt: number;
  /** When to give up, in `clock.now()` time (ms). */
  windowEnd: number;
  /** Pause before the first re-dial of a pair whose attempt errored (ms; ±50 % jitter so two sides do not retry in lockstep). @default 15 */
  retryDelayMs?: number;
  /** Each further re-dial of a pair waits this many times longer than the one before. @default 2 */
  retryBackoff?: number;
  /** SYN attempts per (punch port, target) pair, the first one included. @default 4 */
  maxAttemptsPerTarget?: number;
  /** SYN attempts in this punch in all. @default 64 */
  maxAttempts?: number;
  /**
   * Asked before every SYN with its destination IP (a budget shared across
   * punches); false: that SYN is not sent and its pair stops. @default always true
   */
  take?: (host: string) => boolean;
  /** Stops the punch: pending attempts are destroyed. */
  signal: AbortSignal;
  /** A connection opened; the socket now belongs to the caller. */
  onConnect(socket: net.Socket, info: ConnectInfo): void;
  /** Clock in ms since the epoch. @default punchClock (sub-ms: the start is aimed to a few ms) */
  clock?: Clock;
  /** Timers for the start, the window's end and the re-dial pauses. @default the system's */
  timers?: Timers;
  /** Only dial targets this allows (the responder's access control). @default all */
  allow?: (host: string) => boolean;
  /**
   * Also accept on the punch ports once the first SYNs are out (a "passive"
   * candidate, RFC 6544 §4.5). For peers on the same LAN: without a NAT in
   * between, SYNs never cross in flight, each one meets a host with no
   * matching socket and is refused. A listening port cannot dial again, so
   * failed attempts are not retried. @default false
   */
  listen?: boolean;
}

export interface ConnectInfo {
  localPort: number;
  target: PunchTarget;
  /** Which attempt of this pair opened (1 = first SYN). */
  attempt: number;
  /** ms from the first SYN to the connect. */
  ms: number;
  /** When the first SYNs left (clock ms). */
  startedAt: number;
}

export interface SimultaneousOpenReport {
  /** When the first connect() was issued (clock ms). */
  startedAt: number;
  /** startedAt − startAt: how late our timer fired (ms). */
  lateMs: number;
  pairs: number;
  /** SYN attempts made (connect() calls). */
  attempts: number;
  /** SYNs not sent because `take` refused them (the destination's budget was spent). */
  denied: number;
  /** Re-dials not made because a pair or the punch reached its cap. */
  capped: number;
  connected: number;
  /** Socket errors by code (ECONNREFUSED, EADDRNOTAVAIL, …). */
  errors: Record<string, number>;
  /** Why it ended: stopped by the caller, window closed, every pair out of attempts with nothing opened, nothing to dial. */
  end: "stopped" | "window" | "exhausted" | "no-targets";
}

/** The kind of target an accepted (passive) connection is reported as. */
export const INBOUND = "inbound";

/**
 * The system clock a punch falls back to: epoch ms with sub-millisecond
 * precision (Date.now() rounds to whole ms, and both sides aim their first
 * SYNs at the same instant to within a few ms).
 */
export const punchClock: Clock = Object.freeze({ now: (): number => performance.timeOrigin + performance.now() });

/** The engine's caps when the caller passes none (PunchStrategy passes its own options). */
export const ENGINE_DEFAULTS = Object.freeze({ retryDelayMs: 15, retryBackoff: 2, maxAttemptsPerTarget: 4, maxAttempts: 64 });

interface Pair {
  localPort: number;
  target: PunchTarget;
  attempt: number;
  socket?: net.Socket;
  retry?: TimerHandle;
  /** Connected (handed to the caller) or out of attempts: never dialled again. */
  done: boolean;
}

/** Runs one punch window. Resolves (never rejects) when stopped, when the window closes or when every pair is out of attempts. */
export function simultaneousOpen(o: SimultaneousOpenOptions): Promise<SimultaneousOpenReport> {
  const clock = o.clock ?? punchClock;
  const timers = o.timers ?? systemTimers;
  const retryDelay = o.retryDelayMs ?? ENGINE_DEFAULTS.retryDelayMs;
  const backoff = o.retryBackoff ?? ENGINE_DEFAULTS.retryBackoff;
  const perPair = o.maxAttemptsPerTarget ?? ENGINE_DEFAULTS.maxAttemptsPerTarget;
  const total = o.maxAttempts ?? ENGINE_DEFAULTS.maxAttempts;
  const allow = o.allow ?? (() => true);
  const take = o.take ?? (() => true);
  const pairs: Pair[] = [];
  for (const t of o.targets) {
    if (!allow(t.ip)) continue;
    for (const localPort of o.localPorts) pairs.push({ localPort, target: t, attempt: 0, done: false });
  }
  const report: SimultaneousOpenReport = { startedAt: 0, lateMs: 0, pairs: pairs.length, attempts: 0, denied: 0, capped: 0, connected: 0, errors: {}, end: "stopped" };
  if (pairs.length === 0) return Promise.resolve({ ...report, end: "no-targets" });

  return new Promise((resolve) => {
    let over = false;
    let startTimer: TimerHandle | undefined;
    const servers: net.Server[] = [];
    // The caller's stop and the window's end as one signal: a TimeoutError reason is the window closing.
    const window = deadline({ timeout: Math.max(0, o.windowEnd - clock.now()), signals: [o.signal], what: "punch window", clock, timers });

    const finish = (end: SimultaneousOpenReport["end"]) => {
      if (over) return;
      over = true;
      timers.clearTimeout(startTimer);
      window.done();
      window.signal.removeEventListener("abort", onAbort);
      for (const srv of servers) srv.close();
      for (const p of pairs) {
        timers.clearTimeout(p.retry);
        if (p.socket) {
          p.socket.removeAllListeners("connect");
          p.socket.on("error", () => {});
          p.socket.destroy();
          p.socket = undefined;
        }
      }
      report.end = end;
      resolve(report);
    };

    // Nothing pending, nothing due, nothing handed out: no SYN will ever leave again.
    const idle = () => !o.listen && report.connected === 0 && pairs.every((q) => q.done && !q.socket && !q.retry);

    const dial = (p: Pair) => {
      p.retry = undefined;
      if (over || p.done) return;
      if (p.attempt >= perPair || report.attempts >= total || !take(p.target.ip)) {
        // Out of attempts (a cap) or of budget (the destination's): this pair is over.
        if (p.attempt >= perPair || report.attempts >= total) report.capped++;
        else report.denied++;
        p.done = true;
        if (idle()) finish("exhausted");
        return;
      }
      p.attempt++;
      report.attempts++;
      const s = new net.Socket();
      p.socket = s;
      const onError = (err: NodeJS.ErrnoException) => {
        s.off("connect", onConnect);
        s.destroy();
        if (p.socket === s) p.socket = undefined;
        const code = err.code ?? "ERROR";
        report.errors[code] = (report.errors[code] ?? 0) + 1;
        if (over || p.done) return;
        if (o.listen) p.done = true; // a listening port cannot dial again
        else if (p.attempt >= perPair || report.attempts >= total) {
          report.capped++;
          p.done = true;
        } else p.retry = timers.setTimeout(() => dial(p), retryDelay * backoff ** (p.attempt - 1) * (0.5 + Math.random()));
        if (idle()) finish("exhausted");
      };
      const onConnect = () => {
        s.off("error", onError);
        p.socket = undefined;
        p.done = true;
        report.connected++;
        if (over) {
          s.destroy();
          return;
        }
        s.setNoDelay(true);
        o.onConnect(s, { localPort: p.localPort, target: p.target, attempt: p.attempt, ms: clock.now() - report.startedAt, startedAt: report.startedAt });
      };
      s.once("error", onError);
      s.once("connect", onConnect);
      // An explicit local address + port makes libuv set SO_REUSEADDR, so every
      // attempt shares the punch port with the STUN connection that learned its mapping.
      // An IPv6 target leaves from the same port on "::" (no NAT there: the port is what the peer was offered).
      const v6 = net.isIPv6(p.target.ip);
      s.connect({ host: p.target.ip, port: p.target.port, localAddress: v6 ? "::" : (o.localAddress ?? "0.0.0.0"), localPort: p.localPort, family: v6 ? 6 : 4 });
    };

    const start = () => {
      if (over) return;
      report.startedAt = clock.now();
      report.lateMs = report.startedAt - o.startAt;
      for (const p of pairs) dial(p); // ends the punch at once when the budget refuses every first SYN
      if (over) return;
      if (o.listen) for (const port of new Set(o.localPorts)) accept(port);
    };

    const accept = (port: number) => {
      const srv = net.createServer((s) => {
        if (over) return void s.destroy();
        report.connected++;
        s.setNoDelay(true);
        const target = { ip: s.remoteAddress ?? "", port: s.remotePort ?? 0, kind: INBOUND } as unknown as PunchTarget;
        o.onConnect(s, { localPort: port, target, attempt: 0, ms: clock.now() - report.startedAt, startedAt: report.startedAt });
      });
      srv.on("error", (err: NodeJS.ErrnoException) => {
        const code = `listen ${err.code ?? "ERROR"}`;
        report.errors[code] = (report.errors[code] ?? 0) + 1;
      });
      srv.listen({ host: o.localAddress ?? "0.0.0.0", port });
      servers.push(srv);
    };

    // Stopped by the caller, or else the window's own timer ran out.
    const onAbort = () => finish(o.signal.aborted ? "stopped" : "window");
    if (window.signal.aborted) return onAbort();
    window.signal.addEventListener("abort", onAbort, { once: true });
    const wait = o.startAt - clock.now();
    if (wait <= 0) start();
    else startTimer = timers.setTimeout(start, wait);
  });
}
