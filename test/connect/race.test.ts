/** The staggered race (src/connect/race.ts), event by event under fake time. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { race, RaceLost, type RaceEntry } from "../../src/connect/race.ts";
import { FakeTime } from "../../src/util/clock.ts";

/** An attempt scripted to succeed or fail at a time; it records when it started and whether it was aborted. */
function attempt(name: string, o: { expectMs: number; after?: number; fails?: boolean; exclusive?: boolean; cap?: number }, time: FakeTime, log: string[]) {
  const e: RaceEntry<string> & { aborted?: boolean } = {
    name,
    expectMs: o.expectMs,
    exclusive: o.exclusive,
    cap: o.cap,
    run(signal) {
      const t0 = time.now();
      log.push(`${time.now() - base}: start ${name}`);
      return new Promise<string>((resolve, reject) => {
        signal.addEventListener("abort", () => {
          e.aborted = true;
          log.push(`${time.now() - base}: abort ${name} (${(signal.reason as Error).name})`);
          reject(signal.reason);
        });
        if (o.after !== undefined) {
          time.setTimeout(() => {
            if (signal.aborted) return;
            if (o.fails) reject(new Error(`${name} failed`));
            else resolve(`${name} pipe`);
          }, o.after - (time.now() - t0));
        }
      });
    },
  };
  return e;
}

let base = 0;
function setup() {
  const time = new FakeTime();
  base = time.now();
  return { time, log: [] as string[], ctl: new AbortController() };
}

test("the first attempt that succeeds before its expected time is the only one started", async () => {
  const { time, log, ctl } = setup();
  const p = race([attempt("direct", { expectMs: 500, after: 50 }, time, log), attempt("punch", { expectMs: 1500, after: 10 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  await time.advance(1000);
  const r = await p;
  assert.equal(r.value, "direct pipe");
  assert.deepEqual(log, ["0: start direct"]);
  assert.deepEqual(r.attempts.map((a) => [a.name, a.outcome]), [["direct", "won"], ["punch", "not-started"]]);
  assert.equal(time.pending, 0, "no timer left behind");
});

test("stagger: the next starts when the previous's expected time passes; the first success wins and the loser is aborted", async () => {
  const { time, log, ctl } = setup();
  const slow = attempt("direct", { expectMs: 100 }, time, log); // never answers by itself
  const p = race([slow, attempt("reverse", { expectMs: 1500, after: 50 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  await time.advance(1000);
  const r = await p;
  assert.equal(r.winner.name, "reverse");
  assert.deepEqual(log, ["0: start direct", "100: start reverse", "150: abort direct (AbortError)"]);
  assert.deepEqual(r.attempts.map((a) => [a.name, a.outcome, a.startMs, a.endMs]), [["direct", "cancelled", 0, 150], ["reverse", "won", 100, 150]]);
  assert.equal(time.pending, 0);
});

test("a failure starts the next at once, without waiting for the expected time", async () => {
  const { time, log, ctl } = setup();
  const p = race([attempt("direct", { expectMs: 3000, after: 20, fails: true }, time, log), attempt("punch", { expectMs: 1500, after: 30 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  await time.advance(100);
  const r = await p;
  assert.deepEqual(log, ["0: start direct", "20: start punch"]);
  assert.equal(r.attempts[0].error?.message, "direct failed");
  assert.equal(r.winner.name, "punch");
});

test("an exclusive attempt waits for the others to end, and nothing overlaps it, whatever its expected time", async () => {
  const { time, log, ctl } = setup();
  const entries = [
    attempt("direct", { expectMs: 100, after: 500, fails: true }, time, log),
    attempt("punch", { expectMs: 200, after: 900, fails: true, exclusive: true }, time, log),
    attempt("turn", { expectMs: Infinity, after: 100 }, time, log),
  ];
  const p = race(entries, { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  await time.advance(5000);
  const r = await p;
  // punch's stagger (100 ms after direct) would have started it at 100: it waited for direct's end at 500;
  // turn did not start at punch's expected time (700) but when punch ended (1400).
  assert.deepEqual(log, ["0: start direct", "500: start punch", "1400: start turn"]);
  assert.equal(r.winner.name, "turn");
});

test("a loser that succeeds after the winner is discarded (its stream freed), not leaked", async () => {
  const { time, log, ctl } = setup();
  const discarded: string[] = [];
  // The loser ignores the abort (it was already past the point of no return) and resolves anyway.
  const stubborn: RaceEntry<string> = {
    name: "direct",
    expectMs: 10,
    run: () => new Promise((resolve) => time.setTimeout(() => resolve("late pipe"), 40)),
  };
  const p = race([stubborn, attempt("reverse", { expectMs: 100, after: 20 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time, discard: (v) => discarded.push(v) });
  await time.advance(100);
  assert.equal((await p).value, "reverse pipe");
  assert.deepEqual(discarded, ["late pipe"]);
});

test("every attempt failed: RaceLost with each attempt's error, in plan order", async () => {
  const { time, log, ctl } = setup();
  const p = race([attempt("direct", { expectMs: 50, after: 200, fails: true }, time, log), attempt("punch", { expectMs: 50, after: 100, fails: true }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  const err = p.then(() => undefined, (e) => e);
  await time.advance(1000);
  const e = await err;
  assert.ok(e instanceof RaceLost);
  assert.deepEqual(e.attempts.map((a: { name: string; outcome: string; error?: Error }) => [a.name, a.outcome, a.error?.message]), [["direct", "failed", "direct failed"], ["punch", "failed", "punch failed"]]);
  assert.equal(time.pending, 0);
});

test("the caller's abort stops every attempt at once; RaceLost says who stopped it", async () => {
  const { time, log, ctl } = setup();
  const p = race([attempt("direct", { expectMs: 50 }, time, log), attempt("reverse", { expectMs: 50 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  const err = p.then(() => undefined, (e) => e);
  await time.advance(60);
  ctl.abort(new Error("user gave up"));
  await time.advance(0);
  const e = await err;
  assert.ok(e instanceof RaceLost);
  assert.equal((e.stoppedBy as Error).message, "user gave up");
  assert.deepEqual(log, ["0: start direct", "50: start reverse", "60: abort direct (AbortError)", "60: abort reverse (AbortError)"]);
  assert.equal(time.pending, 0);
});

test("a fatal error (a peer that proved another key) ends the race at once with that error", async () => {
  const { time, log, ctl } = setup();
  const liar: RaceEntry<string> = { name: "direct", expectMs: 10, run: () => new Promise((_, reject) => time.setTimeout(() => reject(Object.assign(new Error("wrong key"), { code: "X" })), 30)) };
  const p = race([liar, attempt("reverse", { expectMs: 100 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time, isFatal: (e) => (e as Error).message === "wrong key" });
  const err = p.then(() => undefined, (e) => e);
  await time.advance(100);
  assert.equal((await err).message, "wrong key");
  assert.deepEqual(log, ["10: start reverse", "30: abort reverse (AbortError)"]);
});

test("a cap bounds one attempt (TimeoutError on its signal) and the next starts when it expires", async () => {
  const { time, log, ctl } = setup();
  const p = race([attempt("direct", { expectMs: Infinity, cap: 300 }, time, log), attempt("punch", { expectMs: 100, after: 50 }, time, log)], { signal: ctl.signal, timeout: 10_000, clock: time, timers: time });
  await time.advance(1000);
  await p;
  assert.deepEqual(log, ["0: start direct", "300: abort direct (TimeoutError)", "300: start punch"]);
});
