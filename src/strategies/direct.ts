/**
 * Direct strategy: dial every endpoint in the peer's address that can be
 * reachable from here, Happy Eyeballs v2 (RFC 8305): the families interleaved
 * starting with IPv6, staggered starts (IPv6 gets one Connection Attempt Delay
 * of head start), the next attempt starts early when one fails, first
 * authenticated session wins, losers are aborted and their sockets freed.
 */
import net from "node:net";
import type { NodeAddress } from "../identity/address.ts";
import { AbortError, DialError, PeerIdentityError, RefusedError, TimeoutError } from "../errors.ts";
import { systemTimers, type TimerHandle, type Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";
import { classifyIp } from "../util/ip.ts";
import type { Applicability, DialContext, DialResult, Strategy } from "./strategy.ts";

export interface DirectOptions {
  /**
   * RFC 8305's Connection Attempt Delay: how long the next candidate waits while the
   * previous one is still pending (ms), so also IPv6's head start over IPv4. Clamped to
   * 100–2000 ms (RFC 8305 §8's recommended minimum — its hard floor is 10 ms — and its
   * maximum). @default 250 (§8's recommended value)
   */
  staggerMs: number;
  /** Timeout of one TCP connect + handshake attempt (ms). @default 5000 */
  attemptTimeout: number;
}

export const DIRECT_DEFAULTS: Readonly<DirectOptions> = Object.freeze({ staggerMs: 250, attemptTimeout: 5000 });

/** RFC 8305 §8: the Connection Attempt Delay's recommended minimum and its maximum (ms). */
export const MIN_ATTEMPT_DELAY_MS = 100;
export const MAX_ATTEMPT_DELAY_MS = 2000;

/** The stagger the race really uses (pure): `ms` within RFC 8305's bounds, the default when not a number. */
export function attemptDelay(ms: number): number {
  if (!Number.isFinite(ms)) return DIRECT_DEFAULTS.staggerMs;
  return Math.min(MAX_ATTEMPT_DELAY_MS, Math.max(MIN_ATTEMPT_DELAY_MS, ms));
}

export interface Candidate {
  host: string;
  port: number;
  kind: "loopback" | "lan" | "public" | "ipv6";
}

function v4Prefix24(ip: string): string {
  return ip.split(".").slice(0, 3).join(".");
}

/** Preference within one family: same machine, then same LAN, then the rest (the peer's order breaks ties). */
const KIND_RANK: Readonly<Record<Candidate["kind"], number>> = { loopback: 0, lan: 1, ipv6: 2, public: 2 };

/**
 * Happy Eyeballs v2 order (RFC 8305 §4, pure): duplicates (same host and port) dropped,
 * each family sorted by preference (stable), then the families interleaved starting
 * with IPv6 — v6, v4, v6, v4, … and the rest of the longer one. The race starts them
 * one Connection Attempt Delay apart, so IPv6 gets that head start and IPv4 is the
 * second attempt: a broken IPv6 path costs one delay, not one connect timeout.
 */
export function happyEyeballsOrder<T extends Pick<Candidate, "host" | "port" | "kind">>(list: readonly T[]): T[] {
  const unique = new Map<string, T>();
  for (const c of list) if (!unique.has(`${c.host}|${c.port}`)) unique.set(`${c.host}|${c.port}`, c);
  const sorted = [...unique.values()].sort((a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind]);
  const v6 = sorted.filter((c) => c.host.includes(":"));
  const v4 = sorted.filter((c) => !c.host.includes(":"));
  const out: T[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) out.push(v6[i]);
    if (i < v4.length) out.push(v4[i]);
  }
  return out;
}

/** Endpoints connect() dials for one address at most, and ports per IP (a mapped port and the listening one). */
export const MAX_DIRECT_CANDIDATES = 8;
const MAX_PORTS_PER_IP = 2;

/**
 * The endpoints worth dialing, best first (pure). An address is untrusted
 * input even when the user chose to connect to it, so (docs/security.md):
 * loopback endpoints only when the peer lists nothing else (a node on this
 * host listening on loopback alone); private ones only when we share a public
 * IP or a /24 with the peer; link-local, reserved and multicast never; IPv6
 * when we have IPv6 ourselves; at most 8 endpoints and 2 ports per IP; in
 * Happy Eyeballs order (happyEyeballsOrder: IPv6 first, families interleaved).
 */
export function directCandidates(local: NodeAddress, remote: NodeAddress): Candidate[] {
  const localV4 = local.interfaces.flatMap((i) => i.v4.private);
  const localPublic = new Set(local.interfaces.flatMap((i) => i.v4.public));
  const localHasV6 = local.interfaces.some((i) => i.v6.some((ip) => classifyIp(ip) === "public" || classifyIp(ip) === "private"));
  const sharesPublic = remote.interfaces.some((i) => i.v4.public.some((ip) => localPublic.has(ip)));
  const listed = remote.interfaces.flatMap((i) => [...i.v4.private, ...i.v4.public, ...i.v6]);
  const onlyLoopback = listed.length > 0 && listed.every((ip) => classifyIp(ip) === "loopback");
  const out: Candidate[] = [];
  for (const itf of remote.interfaces) {
    for (const ip of [...itf.v6, ...itf.v4.private, ...itf.v4.public]) {
      const kind = classifyIp(ip);
      const v6 = ip.includes(":");
      if (kind === "loopback") {
        if (onlyLoopback) out.push({ host: ip, port: itf.port, kind: "loopback" });
      } else if (v6) {
        if (localHasV6 && (kind === "public" || kind === "private")) out.push({ host: ip, port: itf.port, kind: "ipv6" });
      } else if (kind === "private") {
        if (sharesPublic || localV4.some((l) => v4Prefix24(l) === v4Prefix24(ip))) out.push({ host: ip, port: itf.port, kind: "lan" });
      } else if (kind === "public") {
        if (itf.mappedPort) out.push({ host: ip, port: itf.mappedPort, kind: "public" });
        out.push({ host: ip, port: itf.port, kind: "public" });
      }
    }
  }
  const perIp = new Map<string, number>();
  return happyEyeballsOrder(out)
    .filter((c) => {
      const n = (perIp.get(c.host) ?? 0) + 1;
      perIp.set(c.host, n);
      return n <= MAX_PORTS_PER_IP;
    })
    .slice(0, MAX_DIRECT_CANDIDATES);
}

/** Opens a TCP connection, honouring an AbortSignal and a timeout (on `timers`). */
export function dialTcp(host: string, port: number, signal: AbortSignal, timeout: number, localPort?: number, timers: Timers = systemTimers): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortError("dial aborted"));
    let socket: net.Socket;
    try {
      socket = net.connect({ host, port, allowHalfOpen: true, localPort, noDelay: true });
    } catch (err) {
      return reject(err);
    }
    const timer = timers.setTimeout(() => done(new TimeoutError(`TCP connect to ${host}:${port} timed out after ${timeout} ms`)), timeout);
    const onAbort = () => done(new AbortError("dial aborted"));
    const onError = (err: Error) => done(err);
    const done = (err?: Error) => {
      timers.clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      socket.off("connect", onConnect);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(socket);
    };
    const onConnect = () => done();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", onError);
    socket.once("connect", onConnect);
  });
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

export class DirectStrategy implements Strategy {
  readonly name = "direct" as const;
  readonly options: DirectOptions;

  constructor(options: Partial<DirectOptions> = {}) {
    const merged = { ...DIRECT_DEFAULTS, ...options };
    this.options = { ...merged, staggerMs: attemptDelay(merged.staggerMs) };
  }

  applies(local: NodeAddress, remote: NodeAddress): Applicability {
    const c = directCandidates(local, remote);
    if (c.length === 0) return { verdict: "no", reason: "the peer lists no endpoint reachable from here" };
    return { verdict: "yes", reason: `${c.length} candidate endpoint(s)` };
  }

  dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult> {
    return this.race(directCandidates(ctx.local, ctx.remote), ctx, opts);
  }

  /** Races the given endpoints (also used by reverse connect on the peer's side). */
  async race(
    candidates: Candidate[],
    ctx: Pick<DialContext, "secure" | "progress" | "timers">,
    opts: { signal: AbortSignal; timeout: number },
  ): Promise<DialResult> {
    if (candidates.length === 0) throw new DialError("direct: the peer lists no endpoint reachable from here");
    const timers = ctx.timers ?? systemTimers;
    // Aborted once a winner is in (the losers stop); the caller's signal stops every attempt too.
    const won = new AbortController();
    const failures: Array<{ c: Candidate; err: unknown }> = [];
    const attemptTimeout = Math.min(this.options.attemptTimeout, opts.timeout);

    const attempt = async (c: Candidate): Promise<DialResult> => {
      const d = deadline({ timeout: attemptTimeout, signals: [opts.signal, won.signal], what: `attempt to ${c.host}:${c.port}`, timers });
      let socket: net.Socket | undefined;
      try {
        ctx.progress("dial", { host: c.host, port: c.port, kind: c.kind });
        socket = await dialTcp(c.host, c.port, d.signal, attemptTimeout, undefined, timers);
        const session = await ctx.secure(socket, "initiator", d.signal);
        return { stream: socket, session, role: "initiator", remoteAddress: c.host, remotePort: c.port };
      } catch (err) {
        socket?.destroy();
        // Our own budget ran out (not the caller's, not a lost race): say so, unless the peer proved another key.
        throw d.signal.reason instanceof TimeoutError && !opts.signal.aborted && !won.signal.aborted && !(err instanceof PeerIdentityError)
          ? new TimeoutError(`no answer from ${c.host}:${c.port} within ${attemptTimeout} ms`, { cause: err })
          : err;
      } finally {
        d.done();
      }
    };

    return new Promise<DialResult>((resolve, reject) => {
      let next = 0;
      let pending = 0;
      let settled = false;
      let staggerTimer: TimerHandle | undefined;
      // Once the caller aborts, no further candidate starts and the stagger timer goes at once.
      const onAbort = () => {
        next = candidates.length;
        launch();
      };
      const settle = () => {
        settled = true;
        timers.clearTimeout(staggerTimer);
        opts.signal.removeEventListener("abort", onAbort);
      };
      const finishIfDone = () => {
        if (!settled && pending === 0 && next >= candidates.length) {
          settle();
          const identity = failures.find((f) => f.err instanceof PeerIdentityError);
          if (identity) return reject(identity.err);
          if (opts.signal.aborted) return reject(new AbortError("connect aborted"));
          const list = failures.map((f) => `${f.c.host}:${f.c.port} (${describe(f.err)})`).join("; ");
          // The cause is the most telling failure: a refusal by the peer (its
          // accept() said no) over a timeout, so callers can test `cause`.
          const cause = (failures.find((f) => f.err instanceof RefusedError) ?? failures[0])?.err;
          reject(new DialError(`direct: could not reach the peer at any of its ${candidates.length} endpoint(s): ${list}`, { cause }));
        }
      };
      const launch = () => {
        timers.clearTimeout(staggerTimer);
        staggerTimer = undefined;
        if (settled || next >= candidates.length) return finishIfDone();
        const c = candidates[next++];
        pending++;
        attempt(c).then(
          (res) => {
            pending--;
            if (settled) {
              res.stream.destroy(); // a loser that finished late
              return;
            }
            settle();
            won.abort();
            resolve(res);
          },
          (err) => {
            pending--;
            failures.push({ c, err });
            ctx.progress("dial-failed", { host: c.host, port: c.port, error: describe(err) });
            if (!settled) launch(); // a failure starts the next candidate at once
          },
        );
        if (next < candidates.length) staggerTimer = timers.setTimeout(launch, this.options.staggerMs);
      };
      if (opts.signal.aborted) next = candidates.length;
      else opts.signal.addEventListener("abort", onAbort, { once: true });
      launch();
    });
  }
}
