// Lease renewal schedule with an injected clock; no network, no real timers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LeaseKeeper, MIN_RETRY_MS, PERMANENT_RECHECK_S, renewDelayMs, retryDelayMs, type Clock, type RenewOutcome } from "../../src/portmap/lease.ts";

class FakeClock implements Clock {
  t = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.#id;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  /** Runs the next timer (advancing time to it); returns its delay from the previous time. */
  async next(): Promise<number | undefined> {
    const [id, tm] = [...this.timers].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
    if (id === undefined || !tm) return undefined;
    const d = tm.at - this.t;
    this.t = tm.at;
    this.timers.delete(id);
    tm.fn();
    await new Promise((r) => setImmediate(r));
    return d;
  }
}

describe("lease schedule (pure)", () => {
  for (const [lease, want] of [[3600, 1_800_000], [120, 60_000], [1, MIN_RETRY_MS], [0, PERMANENT_RECHECK_S * 1000]] as const) {
    it(`renews a ${lease} s lease after ${want} ms`, () => assert.equal(renewDelayMs(lease), want));
  }
  const retries: Array<[string, number | undefined, number, number | undefined]> = [
    ["half of what is left", 100_000, 20_000, 40_000],
    ["at least 1 s apart", 10_000, 9_000, 1000],
    ["the last sliver", 10_000, 9_700, 300],
    ["expired: lost", 10_000, 10_000, undefined],
    ["permanent lease: recheck later", undefined, 5, PERMANENT_RECHECK_S * 1000],
  ];
  for (const [name, exp, now, want] of retries) it(`retry: ${name}`, () => assert.equal(retryDelayMs(exp, now), want));
});

describe("LeaseKeeper", () => {
  it("renews at half the lease, again and again, until stopped", async () => {
    const clock = new FakeClock();
    const renewed: number[] = [];
    let calls = 0;
    const k = new LeaseKeeper(120, async () => ({ ok: true, leaseSeconds: 120 + 60 * ++calls }), { renewed: (s) => renewed.push(s), lost: () => assert.fail("lost") }, clock);
    assert.equal(await clock.next(), 60_000);
    assert.equal(await clock.next(), 90_000); // the new lease is 180 s
    assert.deepEqual(renewed, [180, 240]);
    k.stop();
    assert.equal(clock.timers.size, 0);
    k.stop();
  });

  it("retries failures at half the time left, then reports the mapping lost exactly once at expiry", async () => {
    const clock = new FakeClock();
    const lost: unknown[] = [];
    new LeaseKeeper(8, async (): Promise<RenewOutcome> => ({ ok: false, error: new Error("no answer") }), { renewed: () => assert.fail("renewed"), lost: (e) => lost.push(e) }, clock);
    const delays: number[] = [];
    for (let d = await clock.next(); d !== undefined; d = await clock.next()) delays.push(d);
    assert.equal(delays[0], 4000);
    assert.equal(delays.reduce((a, b) => a + b, 0), 8000, "the last attempt lands on the expiry");
    assert.ok(delays.slice(1).every((d) => d <= 2000));
    assert.equal(lost.length, 1);
    assert.equal((lost[0] as Error).message, "no answer");
  });

  it("a success after failures resets the schedule; a throwing renew counts as a failure", async () => {
    const clock = new FakeClock();
    const outcomes: Array<() => Promise<RenewOutcome>> = [async () => { throw new Error("boom"); }, async () => ({ ok: true, leaseSeconds: 100 })];
    const renewed: number[] = [];
    new LeaseKeeper(100, () => (outcomes.shift() as () => Promise<RenewOutcome>)(), { renewed: (s) => renewed.push(s), lost: () => assert.fail("lost") }, clock);
    assert.equal(await clock.next(), 50_000);
    assert.equal(await clock.next(), 25_000);
    assert.deepEqual(renewed, [100]);
    assert.equal(await clock.next(), 50_000, "back to half the new lease");
  });

  it("stop() during a renewal: nothing is scheduled afterwards", async () => {
    const clock = new FakeClock();
    let release: (o: RenewOutcome) => void = () => {};
    const k = new LeaseKeeper(10, () => new Promise<RenewOutcome>((r) => (release = r)), { renewed: () => assert.fail("renewed"), lost: () => assert.fail("lost") }, clock);
    await clock.next();
    k.stop();
    release({ ok: true, leaseSeconds: 10 });
    await new Promise((r) => setImmediate(r));
    assert.equal(clock.timers.size, 0);
  });
});
