import assert from "node:assert/strict";
import { test } from "node:test";
import { AbortError, TimeoutError } from "../../src/errors.ts";
import { FakeTime, sleep } from "../../src/util/clock.ts";
import { deadline, raceSignal, withDeadline } from "../../src/util/deadline.ts";

test("deadline: the timeout aborts with TimeoutError on fake time, and only when due", async () => {
  const t = new FakeTime();
  const d = deadline({ timeout: 1000, what: "probe", clock: t, timers: t });
  await t.advance(999);
  assert.equal(d.signal.aborted, false);
  assert.equal(d.remaining(), 1);
  await t.advance(1);
  assert.ok(d.signal.reason instanceof TimeoutError);
  assert.match(d.signal.reason.message, /probe timed out after 1000 ms/);
  assert.equal(t.pending, 0, "the timer fired once and is gone");
});

test("deadline: a parent's abort wins, becomes an AbortError, and frees the timer", async () => {
  const t = new FakeTime();
  const parent = new AbortController();
  const d = deadline({ timeout: 1000, signals: [undefined, parent.signal], what: "dial", clock: t, timers: t });
  parent.abort(new Error("user"));
  assert.ok(d.signal.reason instanceof AbortError);
  assert.equal((d.signal.reason as AbortError).cause instanceof Error, true);
  assert.equal(t.pending, 0);
});

test("deadline: an already aborted parent aborts at once and sets no timer", () => {
  const t = new FakeTime();
  const d = deadline({ timeout: 50, signals: [AbortSignal.abort()], what: "x", clock: t, timers: t });
  assert.ok(d.signal.aborted);
  assert.throws(() => d.throwIfAborted(), AbortError);
  assert.equal(t.pending, 0);
});

test("deadline: a parent's TimeoutError passes through unchanged (an outer budget ran out)", () => {
  const outer = new AbortController();
  const reason = new TimeoutError("connect timed out");
  const d = deadline({ timeout: 50, signals: [outer.signal], what: "inner" });
  outer.abort(reason);
  assert.equal(d.signal.reason, reason);
});

test("deadline: done() frees the timer and the parent listener; the signal never aborts after", async () => {
  const t = new FakeTime();
  const parent = new AbortController();
  const d = deadline({ timeout: 10, signals: [parent.signal], what: "x", clock: t, timers: t });
  d.done();
  d.done();
  assert.equal(t.pending, 0);
  parent.abort();
  await t.advance(100);
  assert.equal(d.signal.aborted, false);
});

test("withDeadline: resolves with the work's value, or rejects with the reason when time runs out", async () => {
  const t = new FakeTime();
  assert.equal(await withDeadline({ timeout: 10, what: "w", clock: t, timers: t }, async () => 7), 7);
  const p = withDeadline({ timeout: 10, what: "w", clock: t, timers: t }, (d) => sleep(1000, d.signal, t).then(() => "late"));
  const caught = p.catch((e) => e);
  await t.advance(10);
  assert.ok((await caught) instanceof TimeoutError);
  await t.advance(1000);
  assert.equal(t.pending, 0, "the sleep stopped on the deadline's signal");
});

test("raceSignal: an abort rejects with the signal's reason; a settled promise detaches its listener", async () => {
  const c = new AbortController();
  const never = new Promise<never>(() => {});
  const p = raceSignal(never, c.signal);
  c.abort(new AbortError("stop"));
  await assert.rejects(p, AbortError);
  const c2 = new AbortController();
  assert.equal(await raceSignal(Promise.resolve(1), c2.signal), 1);
  await assert.rejects(raceSignal(Promise.resolve(1), AbortSignal.abort(new TimeoutError("t"))), TimeoutError);
});

test("FakeTime: timers fire in deadline order, ties in creation order, and timers set while firing fire too", async () => {
  const t = new FakeTime(0);
  const order: string[] = [];
  t.setTimeout(() => order.push("b20"), 20);
  t.setTimeout(() => order.push("a10"), 10);
  t.setTimeout(() => order.push("c10"), 10);
  t.setTimeout(() => t.setTimeout(() => order.push("nested@25"), 15), 10);
  const cancelled = t.setTimeout(() => order.push("cancelled"), 5);
  t.clearTimeout(cancelled);
  await t.advance(30);
  assert.deepEqual(order, ["a10", "c10", "b20", "nested@25"]);
  assert.equal(t.now(), 30);
});
