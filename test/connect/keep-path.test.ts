/**
 * The path keeper's decisions, on fake time with a stand-in pipe: when it
 * tries to upgrade a relayed pipe and when it stops, that a lost path cuts an
 * upgrade attempt short, and the backoff of a lost path's retries.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { keepPath, UPGRADE_AFTER, wantsUpgrade, type KeepPathDeps, type PathFound, type UpgradeChoice } from "../../src/connect/keep-path.ts";
import type { NextPath, Pipe } from "../../src/pipe/pipe.ts";
import type { PathEvent } from "../../src/pipe/resumption.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { silentLogger } from "../../src/util/logger.ts";

/** Just what the keeper reads of a Pipe: state, suspended, strategy, lifetime, 'path', resume(), closed. */
class StandInPipe extends EventEmitter {
  state: "open" | "closing" | "closed" = "open";
  suspended = false;
  strategy: string;
  readonly life = new AbortController();
  readonly closed = new Promise<undefined>(() => {});
  readonly moves: NextPath[] = [];
  remoteId = "peer";
  constructor(strategy: string) {
    super();
    this.strategy = strategy;
  }
  get lifetime(): AbortSignal {
    return this.life.signal;
  }
  lose(): void {
    this.suspended = true;
    this.emit("path", { state: "lost", error: new Error("cut") } satisfies PathEvent);
  }
  resume(next: NextPath): void {
    this.moves.push(next);
    const from = this.strategy;
    this.strategy = next.strategy ?? from;
    // The peer's RESUME comes back on the next turn.
    queueMicrotask(() => {
      this.suspended = false;
      this.emit("path", { state: "resumed", resent: 0, from, to: this.strategy, why: "better" } satisfies PathEvent);
    });
  }
}

interface Call {
  better: boolean;
  signal: AbortSignal;
  settle: (r: { strategy: string } | Error) => void;
}

function setup(strategy: string, mayUpgrade = true) {
  const time = new FakeTime();
  const pipe = new StandInPipe(strategy);
  const calls: Call[] = [];
  const deps: KeepPathDeps = {
    connect: (signal, better) =>
      new Promise<PathFound>((resolve, reject) => {
        const settle = (r: { strategy: string } | Error) =>
          r instanceof Error ? reject(r) : resolve({ res: { stream: { destroy() {} }, session: {} } as never, strategy: r.strategy, trace: [] });
        signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        calls.push({ better, signal, settle });
      }),
    mayUpgrade: () => mayUpgrade,
    closed: () => false,
    logger: silentLogger,
    timers: time,
  };
  const keeper = keepPath(pipe as unknown as Pipe, deps, { upgrade: true });
  return { time, pipe, calls, keeper };
}

test("a relayed pipe tries a better path after UPGRADE_AFTER[0], and moves to it", async () => {
  const { time, pipe, calls } = setup("turn");
  await time.advance(UPGRADE_AFTER[0]! - 1);
  assert.equal(calls.length, 0, "not before its time");
  await time.advance(1);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.better, true);
  calls[0]!.settle({ strategy: "punch" });
  await time.advance(0);
  assert.equal(pipe.strategy, "punch");
  await time.advance(10 * 60_000);
  assert.equal(calls.length, 1, "off the relay: nothing more to try");
});

test("an upgrade that keeps failing is tried UPGRADE_AFTER.length times, at the scheduled gaps, then never again", async () => {
  const { time, calls, keeper } = setup("turn");
  const at: number[] = [];
  const t0 = time.now();
  for (let i = 0; i < UPGRADE_AFTER.length; i++) {
    await time.advance(UPGRADE_AFTER[i]!);
    assert.equal(calls.length, i + 1, `try ${i + 1}`);
    at.push(time.now() - t0);
    calls[i]!.settle(new Error("no punch"));
  }
  await time.advance(24 * 3600_000);
  assert.equal(calls.length, UPGRADE_AFTER.length);
  assert.equal(keeper.upgradesLeft, 0);
  assert.deepEqual(at, UPGRADE_AFTER.map((_, i) => UPGRADE_AFTER.slice(0, i + 1).reduce((a, b) => a + b, 0)));
});

test("a pipe not on a relay, or a pair for which nothing better applies, never tries to upgrade", async () => {
  for (const [strategy, may] of [["direct", true], ["punch", true], ["turn", false]] as const) {
    const { time, calls } = setup(strategy, may);
    await time.advance(10 * 60_000);
    assert.equal(calls.length, 0, `${strategy}, mayUpgrade ${may}`);
  }
});

test("a path lost while an upgrade is connecting aborts that attempt and starts a full reconnect at once", async () => {
  const { time, pipe, calls } = setup("turn");
  await time.advance(UPGRADE_AFTER[0]!);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.better, true);
  pipe.lose();
  await time.advance(0);
  assert.equal(calls[0]!.signal.aborted, true, "the upgrade's connect is cancelled");
  assert.equal(calls.length, 2, "a reconnect with every strategy starts without waiting");
  assert.equal(calls[1]!.better, false);
  calls[1]!.settle({ strategy: "turn" });
  await time.advance(0);
  assert.equal(pipe.suspended, false);
  assert.equal(pipe.moves.length, 1);
});

test("a lost path is retried with doubling backoff until one connects", async () => {
  const { time, pipe, calls } = setup("direct");
  pipe.lose();
  await time.advance(0);
  const gaps: number[] = [];
  let last = time.now();
  for (let i = 0; i < 6; i++) {
    assert.equal(calls.length, i + 1);
    calls[i]!.settle(new Error("refused"));
    while (calls.length === i + 1) await time.advance(50);
    gaps.push(time.now() - last);
    last = time.now();
  }
  assert.deepEqual(gaps, [250, 500, 1000, 2000, 4000, 4000]);
  calls[6]!.settle({ strategy: "direct" });
  await time.advance(0);
  assert.equal(pipe.suspended, false);
});

test("wantsUpgrade: the caller's upgrade when given, else only when the caller did not choose the strategies", () => {
  const table: Array<[UpgradeChoice, boolean]> = [
    [{}, true],
    [{ strategies: ["turn"] }, false],
    [{ strategies: ["turn", "direct"] }, false],
    [{ strategies: [] }, false],
    [{ upgrade: true }, true],
    [{ upgrade: false }, false],
    [{ upgrade: true, strategies: ["turn"] }, true],
    [{ upgrade: false, strategies: undefined }, false],
  ];
  for (const [opts, want] of table) assert.equal(wantsUpgrade(opts), want, JSON.stringify(opts));
});
