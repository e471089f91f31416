/**
 * The connecting side of a resumable pipe, once its path is lost: connect
 * again (the same race as connect(), its handshake naming the pipe) with
 * backoff until a new path carries the pipe or the pipe ends (its resume
 * window passes, or it is closed). The side that accepted the pipe only
 * waits: the peer's new session finds its pipe by the resume id.
 */
import type { Pipe } from "../pipe/pipe.ts";
import type { DialResult } from "../strategies/strategy.ts";
import { sleep, type Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";

export interface KeepPathDeps {
  /** One connect to the pipe's peer whose session continues the pipe; aborts with `signal`. */
  connect(signal: AbortSignal): Promise<DialResult>;
  closed(): boolean;
  logger: Logger;
  timers: Timers;
}

/** First retry after this long, doubling up to the cap (ms). */
export const KEEP_PATH_BACKOFF = Object.freeze({ first: 250, max: 4000 });

const busy = new WeakSet<Pipe>();

export async function keepPath(pipe: Pipe, deps: KeepPathDeps): Promise<void> {
  if (busy.has(pipe)) return; // one loop per pipe: a second loss while it runs is its business
  busy.add(pipe);
  let delay = 0;
  try {
    while (pipe.suspended && pipe.state === "open" && !deps.closed()) {
      try {
        const res = await deps.connect(pipe.lifetime);
        if (!pipe.suspended || pipe.state !== "open") {
          res.stream.destroy();
          return;
        }
        pipe.resume({ stream: res.stream, session: res.session });
        deps.logger.debug("pipe resumed on a new path", { remoteId: pipe.remoteId });
        return;
      } catch (err) {
        if (pipe.lifetime.aborted) return;
        deps.logger.debug("no new path yet", { remoteId: pipe.remoteId, error: (err as Error).message });
        delay = delay ? Math.min(KEEP_PATH_BACKOFF.max, delay * 2) : KEEP_PATH_BACKOFF.first;
        await sleep(delay, pipe.lifetime, deps.timers).catch(() => {});
      }
    }
  } finally {
    busy.delete(pipe);
  }
}
