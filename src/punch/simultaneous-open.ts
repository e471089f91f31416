/**
 * The simultaneous-open engine (RFC 5382 §2.2, RFC 6544 §7.2 "S-O"): at
 * `startAt`, connect from every punch port to every target at once and keep
 * each (port, target) pair dialling until the window closes or the caller
 * stops it. Rules, all from how real NATs and Linux behave:
 *
 * - Fan out across targets: two connects from one local port to the SAME
 *   remote would share a 4-tuple (EADDRNOTAVAIL), to different remotes they
 *   are independent.
 * - Re-dial a pair only after its previous attempt errored: ECONNREFUSED is
 *   normal when our SYN beats the peer's against an endpoint-independent-
 *   filtering NAT (the peer's host answers RST because its socket is not there
 *   yet).
 * - Never destroy a socket still in SYN_SENT on a timer inside the window: a
 *   late SYN-ACK would draw our RST and kill the peer's half of that tuple. The
 *   kernel's own SYN retransmits (1 s, 3 s, …) handle dropped SYNs.
 * - When stopped (abort) or when the window closes, every attempt not handed
 *   to `onConnect` is destroyed and every timer cleared.
 */
import net from "node:net";
import type { PunchTarget } from "./candidates.ts";

export interface SimultaneousOpenOptions {
  /** Local IP the punch ports are bound on. @default "0.0.0.0" */
  localAddress?: string;
  /** Local ports to dial from (shared with the STUN connections that learned their mappings). */
  localPorts: readonly number[];
  targets: readonly PunchTarget[];
  /** When to send the first SYNs, in `clock()` time (ms). */
  startAt: number;
  /** When to give up, in `clock()` time (ms). */
  windowEnd: number;
  /** Pause before re-dialling a pair whose attempt errored (ms; ±50 % jitter so two sides do not retry in lockstep). @default 15 */
  retryDelayMs?: number;
  /** Stops the punch: pending attempts are destroyed. */
  signal: AbortSignal;
  /** A connection opened; the socket now belongs to the caller. */
  onConnect(socket: net.Socket, info: ConnectInfo): void;
  /** Clock in ms since the epoch. @default performance.timeOrigin + performance.now() */
  clock?: () => number;
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
  attempts: number;
  connected: number;
  /** Socket errors by code (ECONNREFUSED, EADDRNOTAVAIL, …). */
  errors: Record<string, number>;
  /** Why it ended. */
  end: "stopped" | "window" | "no-targets";
}

/** The kind of target an accepted (passive) connection is reported as. */
export const INBOUND = "inbound";

export const defaultClock = (): number => performance.timeOrigin + performance.now();

interface Pair {
  localPort: number;
  target: PunchTarget;
  attempt: number;
  socket?: net.Socket;
  retry?: NodeJS.Timeout;
  done: boolean;
}

/** Runs one punch window. Resolves (never rejects) when stopped or when the window closes. */
export function simultaneousOpen(o: SimultaneousOpenOptions): Promise<SimultaneousOpenReport> {
  const clock = o.clock ?? defaultClock;
  const retryDelay = o.retryDelayMs ?? 15;
  const allow = o.allow ?? (() => true);
  const pairs: Pair[] = [];
  for (const t of o.targets) {
    if (!allow(t.ip)) continue;
    for (const localPort of o.localPorts) pairs.push({ localPort, target: t, attempt: 0, done: false });
  }
  const report: SimultaneousOpenReport = { startedAt: 0, lateMs: 0, pairs: pairs.length, attempts: 0, connected: 0, errors: {}, end: "stopped" };
  if (pairs.length === 0) return Promise.resolve({ ...report, end: "no-targets" });

  return new Promise((resolve) => {
    let over = false;
    let startTimer: NodeJS.Timeout | undefined;
    let endTimer: NodeJS.Timeout | undefined;
    const servers: net.Server[] = [];

    const finish = (end: SimultaneousOpenReport["end"]) => {
      if (over) return;
      over = true;
      clearTimeout(startTimer);
      clearTimeout(endTimer);
      o.signal.removeEventListener("abort", onAbort);
      for (const srv of servers) srv.close();
      for (const p of pairs) {
        clearTimeout(p.retry);
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

    const dial = (p: Pair) => {
      p.retry = undefined;
      if (over || p.done) return;
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
        if (!over && !p.done && !o.listen) p.retry = setTimeout(dial, retryDelay * (0.5 + Math.random()), p);
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
        o.onConnect(s, { localPort: p.localPort, target: p.target, attempt: p.attempt, ms: clock() - report.startedAt, startedAt: report.startedAt });
      };
      s.once("error", onError);
      s.once("connect", onConnect);
      // An explicit local address + port makes libuv set SO_REUSEADDR, so every
      // attempt shares the punch port with the STUN connection that learned its mapping.
      s.connect({ host: p.target.ip, port: p.target.port, localAddress: o.localAddress ?? "0.0.0.0", localPort: p.localPort, family: 4 });
    };

    const start = () => {
      if (over) return;
      report.startedAt = clock();
      report.lateMs = report.startedAt - o.startAt;
      for (const p of pairs) dial(p);
      if (o.listen) for (const port of new Set(o.localPorts)) accept(port);
    };

    const accept = (port: number) => {
      const srv = net.createServer((s) => {
        if (over) return void s.destroy();
        report.connected++;
        s.setNoDelay(true);
        const target = { ip: s.remoteAddress ?? "", port: s.remotePort ?? 0, kind: INBOUND } as unknown as PunchTarget;
        o.onConnect(s, { localPort: port, target, attempt: 0, ms: clock() - report.startedAt, startedAt: report.startedAt });
      });
      srv.on("error", (err: NodeJS.ErrnoException) => {
        const code = `listen ${err.code ?? "ERROR"}`;
        report.errors[code] = (report.errors[code] ?? 0) + 1;
      });
      srv.listen({ host: o.localAddress ?? "0.0.0.0", port });
      servers.push(srv);
    };

    const onAbort = () => finish("stopped");
    if (o.signal.aborted) return finish("stopped");
    o.signal.addEventListener("abort", onAbort, { once: true });
    endTimer = setTimeout(() => finish("window"), Math.max(0, o.windowEnd - clock()));
    const wait = o.startAt - clock();
    if (wait <= 0) start();
    else startTimer = setTimeout(start, wait);
  });
}
