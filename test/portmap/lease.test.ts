// Lease renewal schedule on FakeTime (src/util/clock.ts): no network, no real timers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeTime } from "../../src/util/clock.ts";
import { LeaseKeeper, MIN_RETRY_MS, PERMANENT_RECHECK_S, renewDelayMs, retryDelayMs, type RenewOutcome } from "../../src/portmap/lease.ts";
import { ActivePortMapping, type MappingDriver } from "../../src/portmap/mapping.ts";
import { silentLogger } from "../../src/util/logger.ts";

/** A renew function that records when (ms since `time` started) it was called and answers from `outcomes` in turn. */
function recorder(time: FakeTime, outcomes: Array<RenewOutcome | Error | Promise<RenewOutcome>>) {
  const start = time.now();
  const at: number[] = [];
  const renew = async (): Promise<RenewOutcome> => {
    at.push(time.now() - start);
    const o = outcomes.shift();
    if (o === undefined) throw new Error("no outcome left");
    if (o instanceof Error) throw o;
    return o;
  };
  return { at, renew };
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
  it("renews at half the lease, not a millisecond earlier, again and again, until stopped", async () => {
    const time = new FakeTime();
    const renewed: number[] = [];
    const r = recorder(time, [{ ok: true, leaseSeconds: 180 }, { ok: true, leaseSeconds: 240 }]);
    const k = new LeaseKeeper(120, r.renew, { renewed: (s) => renewed.push(s), lost: () => assert.fail("lost") }, { clock: time, timers: time });
    await time.advance(59_999);
    assert.deepEqual(r.at, [], "not before half the lease");
    await time.advance(1);
    assert.deepEqual(r.at, [60_000]);
    await time.advance(90_000); // half of the new 180 s lease
    assert.deepEqual(r.at, [60_000, 150_000]);
    assert.deepEqual(renewed, [180, 240]);
    assert.equal(k.expiresAt, time.now() + 240_000);
    k.stop();
    assert.equal(time.pending, 0, "stop() frees the timer");
    k.stop();
  });

  it("retries failures at half the time left, then reports the mapping lost exactly once at expiry", async () => {
    const time = new FakeTime();
    const lost: unknown[] = [];
    const r = recorder(time, [new Error("no answer"), new Error("no answer"), new Error("no answer"), new Error("no answer")]);
    new LeaseKeeper(8, r.renew, { renewed: () => assert.fail("renewed"), lost: (e) => lost.push(e) }, { clock: time, timers: time });
    await time.advance(7_999);
    assert.deepEqual(r.at, [4000, 6000, 7000]);
    assert.equal(lost.length, 0, "not lost before the expiry");
    await time.advance(1);
    assert.deepEqual(r.at, [4000, 6000, 7000, 8000], "the last attempt lands on the expiry");
    assert.equal(lost.length, 1);
    assert.equal((lost[0] as Error).message, "no answer");
    assert.equal(time.pending, 0, "nothing scheduled once lost");
  });

  it("a success after failures resets the schedule; a throwing renew counts as a failure", async () => {
    const time = new FakeTime();
    const renewed: number[] = [];
    const r = recorder(time, [new Error("boom"), { ok: true, leaseSeconds: 100 }, { ok: true, leaseSeconds: 100 }]);
    new LeaseKeeper(100, r.renew, { renewed: (s) => renewed.push(s), lost: () => assert.fail("lost") }, { clock: time, timers: time });
    await time.advance(124_999);
    assert.deepEqual(r.at, [50_000, 75_000]);
    assert.deepEqual(renewed, [100]);
    await time.advance(1);
    assert.deepEqual(r.at, [50_000, 75_000, 125_000], "back to half the new lease");
  });

  it("stop() during a renewal: nothing is scheduled afterwards", async () => {
    const time = new FakeTime();
    let release: (o: RenewOutcome) => void = () => {};
    const k = new LeaseKeeper(10, () => new Promise<RenewOutcome>((res) => (release = res)), { renewed: () => assert.fail("renewed"), lost: () => assert.fail("lost") }, { clock: time, timers: time });
    await time.advance(5000);
    assert.equal(time.pending, 0, "the renewal is in flight");
    k.stop();
    release({ ok: true, leaseSeconds: 10 });
    await time.advance(60_000);
    assert.equal(time.pending, 0);
  });
});

describe("ActivePortMapping", () => {
  function driver(calls: string[]): MappingDriver {
    return {
      method: "nat-pmp",
      gateway: "192.0.2.1",
      renew: async (cur) => (calls.push(`renew ${cur.externalPort}`), { externalIp: "198.51.100.1", externalPort: 4000, leaseSeconds: 60 }),
      remove: async (cur) => void calls.push(`remove ${cur.externalPort}`),
    };
  }
  const granted = { externalIp: "198.51.100.1", externalPort: 4000, internalHost: "10.0.0.2", internalPort: 4000, leaseSeconds: 60, elapsedMs: 1 };

  it("renews on the injected timers; close() is memoized, removes the port once and stops renewing", async () => {
    const time = new FakeTime();
    const calls: string[] = [];
    const m = new ActivePortMapping(driver(calls), granted, { logger: silentLogger, requestTimeout: 100, clock: time, timers: time });
    const events: string[] = [];
    m.on("renewed", (r) => events.push(`renewed ${r.externalPort} changed=${r.changed}`));
    await time.advance(30_000);
    assert.deepEqual(calls, ["renew 4000"]);
    assert.deepEqual(events, ["renewed 4000 changed=false"]);
    const first = m.close();
    assert.equal(m.close(), first, "a second close() returns the first call's promise");
    const destroyed = m.destroy();
    assert.equal(m.destroy(), destroyed, "destroy() is memoized too");
    await Promise.all([first, destroyed]);
    assert.deepEqual(calls, ["renew 4000", "remove 4000"], "destroy() during close() joins its teardown: the port is removed once");
    assert.equal(time.pending, 0, "no renewal left scheduled");
    await time.advance(120_000);
    assert.deepEqual(calls, ["renew 4000", "remove 4000"]);
  });

  it("a mapping whose lease was lost is not removed on close()", async () => {
    const time = new FakeTime();
    const calls: string[] = [];
    const d: MappingDriver = { ...driver(calls), renew: async () => { calls.push("renew"); throw new Error("gateway gone"); } };
    const m = new ActivePortMapping(d, { ...granted, leaseSeconds: 4 }, { logger: silentLogger, requestTimeout: 100, clock: time, timers: time });
    const lost: unknown[] = [];
    m.on("lost", (e) => lost.push(e));
    await time.advance(4000);
    assert.equal(lost.length, 1);
    await m.close();
    assert.ok(!calls.includes("remove 4000"), JSON.stringify(calls));
  });
});
