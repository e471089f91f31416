/**
 * The connecting side of a resumable pipe keeps it on a path:
 *  - when its path is lost, it connects again (the same race as connect(),
 *    its handshake naming the pipe) with backoff until a new path carries the
 *    pipe or the pipe ends (its resume window passes, or it is closed);
 *  - while a relay carries it and a better strategy may work for this pair,
 *    it tries that strategy now and then (UPGRADE_AFTER) and moves the pipe
 *    to the first one that connects: the relay is then let go.
 * The side that accepted the pipe only waits: the peer's new session finds
 * its pipe by the resume id (PipeSet.resumeWith).
 */
import type { NextPath, Pipe } from "../pipe/pipe.ts";
import type { PathEvent } from "../pipe/resumption.ts";
import type { DialResult } from "../strategies/strategy.ts";
import { sleep, type Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { ConnectAttempt } from "../util/trace.ts";

/** A connect that continues a pipe: the session, the strategy that won and the attempts. */
export interface PathFound {
  res: DialResult;
  strategy: string;
  trace: readonly ConnectAttempt[];
}

export interface KeepPathDeps {
  /**
   * One connect to the pipe's peer whose session continues the pipe; aborts
   * with `signal`. `better`: only strategies better than a relay.
   */
  connect(signal: AbortSignal, better: boolean): Promise<PathFound>;
  /** True when a strategy better than the relay may work for this pair (worth trying to upgrade). */
  mayUpgrade(): boolean;
  closed(): boolean;
  logger: Logger;
  timers: Timers;
}

/** First retry of a lost path after this long, doubling up to the cap (ms). */
export const KEEP_PATH_BACKOFF = Object.freeze({ first: 250, max: 4000 });
/**
 * When a relayed pipe tries to move to a better path: this long after it
 * connected, then after each failed try (ms). Four tries, then it stays on
 * the relay: a pair whose punch failed four times will not punch soon.
 */
export const UPGRADE_AFTER = Object.freeze([500, 5_000, 30_000, 120_000]);
/** How long a new path may take to prove the session before we look again (ms); the window bounds it too. */
const PROVE_WAIT = 10_000;

const keepers = new WeakMap<Pipe, PathKeeper>();

/** What connect() was asked that decides the upgrade (ConnectOptions' `upgrade` and `strategies`). */
export interface UpgradeChoice {
  upgrade?: boolean;
  strategies?: readonly unknown[];
}

/**
 * Whether a relayed pipe looks for a better path (pure): `upgrade` when the
 * caller said, else yes unless the caller chose the strategies (a caller who
 * asked for the relay alone keeps it).
 */
export function wantsUpgrade(opts: UpgradeChoice): boolean {
  return opts.upgrade ?? !opts.strategies;
}

/** Starts keeping `pipe` on a path (once per pipe); it tries better paths while a relay carries it when wantsUpgrade(opts). */
export function keepPath(pipe: Pipe, deps: KeepPathDeps, opts: UpgradeChoice): PathKeeper {
  let k = keepers.get(pipe);
  if (!k) keepers.set(pipe, (k = new PathKeeper(pipe, deps, wantsUpgrade(opts))));
  return k;
}

/** The keeper of `pipe`, if keepPath() started one (tests read its upgradesLeft). */
export function keeperOf(pipe: Pipe): PathKeeper | undefined {
  return keepers.get(pipe);
}

export class PathKeeper {
  readonly #pipe: Pipe;
  readonly #deps: KeepPathDeps;
  #upgrades: number;
  #running = false;
  /** Cuts a wait short (a path was lost meanwhile). */
  #wake?: AbortController;
  /** Stops an upgrade's connect when the path is lost meanwhile: the loss needs every strategy, now. */
  #upgrading?: AbortController;

  constructor(pipe: Pipe, deps: KeepPathDeps, upgrade: boolean) {
    this.#pipe = pipe;
    this.#deps = deps;
    this.#upgrades = upgrade ? UPGRADE_AFTER.length : 0;
    pipe.on("path", (e) => e.state === "lost" && this.#kick());
    this.#kick();
  }

  /** Tries to upgrade left (0 once the pipe left the relay or gave up). */
  get upgradesLeft(): number {
    return this.#upgrades;
  }

  #live(): boolean {
    return this.#pipe.state === "open" && !this.#deps.closed();
  }

  #kick(): void {
    this.#wake?.abort();
    this.#upgrading?.abort();
    if (!this.#running) void this.#run();
  }

  async #run(): Promise<void> {
    this.#running = true;
    let delay = 0;
    try {
      while (this.#live()) {
        if (this.#pipe.suspended) {
          if (await this.#move(false)) delay = 0;
          else await this.#pause((delay = delay ? Math.min(KEEP_PATH_BACKOFF.max, delay * 2) : KEEP_PATH_BACKOFF.first));
          continue;
        }
        if (!this.#wantsUpgrade()) return;
        const wait = UPGRADE_AFTER[UPGRADE_AFTER.length - this.#upgrades]!;
        await this.#pause(wait);
        if (!this.#live() || this.#pipe.suspended || !this.#wantsUpgrade()) continue;
        this.#upgrades--;
        if (await this.#move(true)) this.#upgrades = 0;
      }
    } finally {
      this.#running = false;
    }
  }

  #wantsUpgrade(): boolean {
    return this.#upgrades > 0 && this.#pipe.strategy === "turn" && this.#deps.mayUpgrade();
  }

  /** One connect, its session handed to the pipe; true once the new path proved itself. */
  async #move(better: boolean): Promise<boolean> {
    const pipe = this.#pipe;
    let found: PathFound;
    const attempt = better ? (this.#upgrading = new AbortController()) : undefined;
    try {
      found = await this.#deps.connect(attempt ? AbortSignal.any([pipe.lifetime, attempt.signal]) : pipe.lifetime, better);
    } catch (err) {
      if (!pipe.lifetime.aborted) this.#deps.logger.debug(better ? "no better path yet" : "no new path yet", { remoteId: pipe.remoteId, error: (err as Error).message });
      return false;
    } finally {
      if (attempt && this.#upgrading === attempt) this.#upgrading = undefined;
    }
    // A pipe that closed meanwhile, or (upgrading) one whose path is fine but no longer relayed, keeps its path.
    if (!this.#live() || (better && pipe.strategy !== "turn" && !pipe.suspended)) {
      found.res.stream.destroy();
      return false;
    }
    const { res } = found;
    const next: NextPath = { stream: res.stream, session: res.session, strategy: found.strategy, remoteAddress: res.remoteAddress, remotePort: res.remotePort, relay: res.relay, trace: found.trace };
    const proven = this.#proven();
    try {
      pipe.resume(next);
    } catch (err) {
      proven.cancel();
      res.stream.destroy();
      this.#deps.logger.debug("the pipe refused its new path", { remoteId: pipe.remoteId, error: (err as Error).message });
      return false;
    }
    const ok = await proven.result;
    this.#deps.logger.debug(ok ? "pipe moved to a new path" : "the new path was lost before it was proven", { remoteId: pipe.remoteId, strategy: found.strategy });
    return ok;
  }

  /** Waits for the pipe's next path event: resumed (true), lost or closed or too slow (false). */
  #proven(): { result: Promise<boolean>; cancel: () => void } {
    const pipe = this.#pipe;
    const stop = new AbortController();
    let done!: (ok: boolean) => void;
    const result = new Promise<boolean>((r) => (done = r));
    const onPath = (e: PathEvent) => done(e.state === "resumed");
    pipe.on("path", onPath);
    void pipe.closed.then(() => done(false));
    sleep(PROVE_WAIT, stop.signal, this.#deps.timers).then(() => done(false), () => {});
    const cancel = () => done(false);
    void result.then(() => {
      pipe.off("path", onPath);
      stop.abort();
    });
    return { result, cancel };
  }

  /** Sleeps `ms`, cut short by a lost path or the pipe's end. */
  async #pause(ms: number): Promise<void> {
    const wake = (this.#wake = new AbortController());
    const onEnd = () => wake.abort();
    this.#pipe.lifetime.addEventListener("abort", onEnd, { once: true });
    try {
      await sleep(ms, wake.signal, this.#deps.timers).catch(() => {});
    } finally {
      this.#pipe.lifetime.removeEventListener("abort", onEnd);
      if (this.#wake === wake) this.#wake = undefined;
    }
  }
}
