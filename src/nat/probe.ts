import { AbortError, TimeoutError } from "../errors.ts";
import type { Clock, Timers } from "../util/clock.ts";
import { withDeadline } from "../util/deadline.ts";
import type { Logger } from "../util/logger.ts";
import type { FilteringObservation, MappingSample } from "./classify.ts";
import type { ServerObservation, StepTiming, Transport, TransportAddress } from "./types.ts";

/** A server from the caller's list, resolved to an address. */
export interface ResolvedServer {
  uri: string;
  addr: TransportAddress;
}

/** What a transport probe gets: resolved servers, the shared budget, a logger. */
export interface ProbeContext {
  servers: ResolvedServer[];
  family: 4 | 6;
  localAddress: string | undefined;
  /** Aborts when the whole discovery's budget is spent or the caller aborts. */
  signal: AbortSignal;
  /** Milliseconds left in the budget. */
  remaining(): number;
  logger: Logger;
  /** Measures the step timings (a clock that never jumps, or the injected one). */
  clock: Clock;
  /** Every wait of the probes (the injected timers). */
  timers: Timers;
}

/** Raw observations of one transport, turned into a TransportReport by discovery.ts. */
export interface ProbeResult {
  transport: Transport;
  local?: TransportAddress;
  /** Test I answer of each server that answered. */
  firstHits: ServerObservation[];
  /** Mapping samples from ONE local endpoint. */
  series: MappingSample[];
  /** `series` is in the order the mappings were created (valid for the port pattern). */
  ordered: boolean;
  filtering: FilteringObservation;
  timings: StepTiming[];
  warnings: string[];
  /**
   * Servers (URIs, or addresses for later steps) that refused: a TCP RST or an
   * ICMP port unreachable. The path to them is open; nothing listens there.
   */
  refused?: string[];
}

/** A TCP RST or ICMP port unreachable (ECONNREFUSED), anywhere in the cause chain. */
export function isRefused(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, n = 0; e && n < 5; e = e.cause as typeof e, n++) {
    if (e.code === "ECONNREFUSED") return true;
  }
  return false;
}

/** Notes that `server` refused (once). */
export function noteRefused(res: ProbeResult, server: string): void {
  res.refused ??= [];
  if (!res.refused.includes(server)) res.refused.push(server);
}

export function errText(e: Error): string {
  if (e instanceof AbortError) {
    const why = (e.cause as Error | undefined)?.message;
    return why === "grace period over" ? "no answer" : "stopped: discovery budget spent or aborted";
  }
  return e.message;
}

/** Runs one timed step; failures become a timing entry and a warning, never a throw. */
export async function step<T>(ctx: Pick<ProbeContext, "clock">, res: ProbeResult, name: string, server: string, fn: () => Promise<T>, detail: (t: T) => string): Promise<T | undefined> {
  const start = ctx.clock.now();
  try {
    const r = await fn();
    res.timings.push({ step: name, server, ms: Math.round(ctx.clock.now() - start), ok: true, detail: detail(r) });
    return r;
  } catch (err) {
    const e = err as Error;
    const refused = isRefused(e);
    if (refused) noteRefused(res, server);
    const text = refused ? "connection refused: server unreachable (down, or not on this port)" : e instanceof TimeoutError ? "no answer" : errText(e);
    res.timings.push({ step: name, server, ms: Math.round(ctx.clock.now() - start), ok: false, detail: text });
    res.warnings.push(`${name} (${server}): ${text}`);
    return undefined;
  }
}

/** Index of the first promise (in time) whose value passes `pred`, or -1 once all settled without one. */
export function firstIndex<T>(ps: Promise<T | undefined>[], pred: (t: T) => boolean): Promise<number> {
  return new Promise((resolve) => {
    let left = ps.length;
    if (left === 0) resolve(-1);
    ps.forEach((p, i) =>
      p.then((v) => {
        if (v !== undefined && pred(v)) resolve(i);
        if (--left === 0) resolve(-1);
      }),
    );
  });
}

/**
 * Test I answers that are still outstanding once the main tests are done get
 * this long (but at least 300 ms) before they are given up: a server that has
 * not answered in 10 RTTs of the one that did is treated as not answering.
 */
export function graceMs(rttMs: number): number {
  return Math.max(300, 10 * rttMs);
}

/** Waits for `ps` at most `ms` (on `timers`), then aborts `ctl` (their signal) and waits for them to settle. */
export async function settleWithin(ps: Promise<unknown>[], ms: number, ctl: AbortController, timers?: Timers): Promise<void> {
  await withDeadline({ timeout: ms, what: "test I grace period", timers }, () => Promise.all(ps)).catch(() => {}); // out of time: given up below
  ctl.abort(new Error("grace period over"));
  await Promise.all(ps);
}
