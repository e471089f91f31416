/**
 * The staggered race behind connect(): start the best attempt; start the next
 * when the previous fails or when its expected time passes; the first attempt
 * that succeeds wins and every other is aborted (a loser that succeeds anyway
 * is handed to `discard`). An `exclusive` attempt runs alone: it starts only
 * when nothing else is in flight, and nothing starts while it runs (a punch
 * through a symmetric-sequential NAT, whose port predictions any other new
 * connection would shift). Time comes from the injected clock and timers, so
 * the order of events is table-tested with fake time.
 */
import { AbortError } from "../errors.ts";
import type { Clock, Timers, TimerHandle } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";

export interface RaceEntry<T> {
  name: string;
  /** Start the next entry this long after this one started, if it is still running (ms). */
  expectMs: number;
  /** This attempt's own time budget (ms); undefined = the race's. */
  cap?: number;
  /** Runs alone: no other attempt overlaps it. */
  exclusive?: boolean;
  run(signal: AbortSignal, timeout: number): Promise<T>;
}

export type AttemptOutcome = "won" | "failed" | "cancelled" | "not-started";

/** One attempt as it happened (ms since the race began). */
export interface AttemptRecord {
  name: string;
  outcome: AttemptOutcome;
  startMs?: number;
  endMs?: number;
  error?: Error;
}

export interface RaceOptions<T> {
  signal: AbortSignal;
  /** The race's whole budget (ms). */
  timeout: number;
  clock: Clock;
  timers: Timers;
  onFail?(entry: RaceEntry<T>, err: Error): void;
  /** An attempt still running when the race ended (a winner, the caller's abort, a fatal error). */
  onCancel?(entry: RaceEntry<T>, why: string): void;
  /** A loser that succeeded after the winner: free it (destroy its stream). */
  discard?(value: T, entry: RaceEntry<T>): void;
  /** An error that ends the whole race at once (a peer that proved another key). */
  isFatal?(err: unknown): boolean;
}

export interface RaceResult<T> {
  value: T;
  winner: RaceEntry<T>;
  attempts: AttemptRecord[];
}

/** Thrown when every attempt failed or the race was stopped; `attempts` says what each did. */
export class RaceLost extends Error {
  readonly attempts: AttemptRecord[];
  readonly stoppedBy?: unknown;
  constructor(attempts: AttemptRecord[], stoppedBy?: unknown) {
    super(stoppedBy ? "race stopped" : "every attempt failed");
    this.attempts = attempts;
    this.stoppedBy = stoppedBy;
  }
}

export function race<T>(entries: ReadonlyArray<RaceEntry<T>>, o: RaceOptions<T>): Promise<RaceResult<T>> {
  const t0 = o.clock.now();
  const ms = () => o.clock.now() - t0;
  const records: AttemptRecord[] = entries.map((e) => ({ name: e.name, outcome: "not-started" }));
  const running = new Map<number, { ctl: AbortController; stagger?: TimerHandle }>();
  let next = 0;
  let settled = false;

  return new Promise<RaceResult<T>>((resolve, reject) => {
    const finish = (fn: () => void, why = "another strategy won the race") => {
      if (settled) return;
      settled = true;
      o.signal.removeEventListener("abort", onAbort);
      for (const [i, r] of running) {
        o.timers.clearTimeout(r.stagger);
        r.ctl.abort(new AbortError(why));
        records[i].outcome = "cancelled";
        records[i].endMs = ms();
        o.onCancel?.(entries[i], why);
      }
      running.clear();
      fn();
    };
    const onAbort = () => finish(() => reject(new RaceLost(records, o.signal.reason)), "connect() was stopped");

    const exclusiveRunning = () => [...running.keys()].some((i) => entries[i].exclusive);

    const startNext = () => {
      if (settled || next >= entries.length) return;
      const e = entries[next];
      if (exclusiveRunning() || (e.exclusive && running.size > 0)) return; // started when the way is clear
      const i = next++;
      const ctl = new AbortController();
      const left = Math.max(1, o.timeout - ms());
      const budget = e.cap !== undefined ? Math.min(e.cap, left) : left;
      // Only a cap gets a timer of its own: the race's end comes through o.signal, so that a connect()
      // that ran out of time says so instead of reporting its last attempt as failed.
      const d = deadline({ timeout: e.cap !== undefined && e.cap < left ? e.cap : undefined, signals: [o.signal, ctl.signal], what: e.name, clock: o.clock, timers: o.timers });
      const slot: { ctl: AbortController; stagger?: TimerHandle } = { ctl };
      running.set(i, slot);
      records[i] = { name: e.name, outcome: "failed", startMs: ms() };
      // Not for an exclusive attempt: nothing may overlap it, so the next waits for its end.
      if (!e.exclusive && Number.isFinite(e.expectMs)) slot.stagger = o.timers.setTimeout(() => startNext(), Math.max(0, e.expectMs));
      let p: Promise<T>;
      try {
        p = e.run(d.signal, budget);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (value) => {
          d.done();
          if (settled) return void o.discard?.(value, e);
          o.timers.clearTimeout(slot.stagger);
          running.delete(i);
          records[i].outcome = "won";
          records[i].endMs = ms();
          finish(() => resolve({ value, winner: e, attempts: records }));
        },
        (err: unknown) => {
          d.done();
          if (settled) return;
          o.timers.clearTimeout(slot.stagger);
          running.delete(i);
          records[i].endMs = ms();
          records[i].error = err instanceof Error ? err : new Error(String(err));
          o.onFail?.(e, records[i].error!);
          if (o.isFatal?.(err)) return finish(() => reject(err), `${e.name} failed for good`);
          if (next >= entries.length && running.size === 0) return finish(() => reject(new RaceLost(records)));
          startNext();
        },
      );
    };

    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener("abort", onAbort, { once: true });
    if (entries.length === 0) return finish(() => reject(new RaceLost(records)));
    startNext();
  });
}
