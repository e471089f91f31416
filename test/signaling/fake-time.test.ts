// The request layer on FakeTime over an in-memory transport: re-send schedule,
// deadlines, clock estimates, the replay window and close(), asserted to the
// millisecond, with no broker and no sleeping.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "../../src/identity/identity.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { AbortError, SignalingError, TimeoutError } from "../../src/errors.ts";
import { Signaling, type SignalingOptions } from "../../src/signaling/signaling.ts";
import { FAKE_BROKER, FakeHub } from "./fake-transport.ts";

const BROKERS = [FAKE_BROKER];

function world(delayMs = 10) {
  const time = new FakeTime();
  const hub = new FakeHub(time, delayMs);
  const node = (over: Partial<SignalingOptions> & { skew?: number } = {}) => {
    const identity = Identity.generate();
    const skew = over.skew ?? 0;
    return new Signaling({
      identity,
      transport: hub.transport(identity.id),
      clock: { now: () => time.now() + skew },
      timers: time,
      allowPrivateBrokers: true,
      retryIntervalMs: 300,
      ackedRetryIntervalMs: 600,
      ...over,
    });
  };
  return { time, hub, node };
}

/** Tracks a promise's outcome without awaiting it. */
function track<T>(p: Promise<T>) {
  const s: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (v) => Object.assign(s, { done: true, value: v }),
    (e) => Object.assign(s, { done: true, error: e }),
  );
  return s;
}

describe("signaling on fake time", () => {
  it("re-sends every retryIntervalMs and fails with 'no acknowledgement' exactly at the deadline", async () => {
    const { time, hub, node } = world();
    const alice = node();
    const nobody = Identity.generate().id;
    const r = track(alice.request(nobody, BROKERS, "echo", {}, { timeout: 1000 }));
    await time.advance(999);
    assert.equal(r.done, false, "still waiting 1 ms before the deadline");
    assert.deepEqual(hub.between(alice.id, nobody).map((s) => s.at), [0, 300, 600, 900]);
    await time.advance(1);
    assert.ok(r.error instanceof TimeoutError, String(r.error));
    assert.match((r.error as Error).message, /no acknowledgement within 1000 ms/);
    assert.equal(time.pending, 0, "no timer left behind");
    await alice.close();
  });

  it("after the ack, re-sends slow to ackedRetryIntervalMs; a silent handler ends in 'acknowledged but no reply'", async () => {
    const { time, hub, node } = world();
    const alice = node();
    const bob = node();
    let runs = 0;
    bob.on("hang", () => (runs++, new Promise(() => {})));
    const r = track(alice.request(bob.id, BROKERS, "hang", {}, { timeout: 2000 }));
    await time.advance(1999);
    assert.equal(r.done, false);
    // The ack lands at 20 ms, after the first re-send was scheduled at the fast interval.
    assert.deepEqual(hub.between(alice.id, bob.id).map((s) => s.at), [0, 300, 900, 1500]);
    assert.equal(runs, 1, "copies are re-acked, never run again");
    assert.equal(hub.between(bob.id, alice.id).length, 4, "one ack per copy");
    await time.advance(1);
    assert.ok(r.error instanceof TimeoutError);
    assert.match((r.error as Error).message, /acknowledged but no reply within 2000 ms/);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a transport that cannot send shows in the timeout's message", async () => {
    const { time, hub, node } = world();
    const alice = node();
    hub.failSends = new Error("broker down");
    const r = track(alice.request(Identity.generate().id, BROKERS, "echo", {}, { timeout: 500 }));
    await time.advance(500);
    assert.ok(r.error instanceof TimeoutError);
    assert.match((r.error as Error).message, /not delivered \(broker down\) within 500 ms/);
    assert.equal(((r.error as Error).cause as Error).message, "broker down");
    await alice.close();
  });

  it("ping: exact round trip and clock offset from two skewed clocks", async () => {
    const { time, node } = world(10);
    const alice = node();
    const bob = node({ skew: 5000 });
    const r = track(alice.ping(bob.id, BROKERS));
    await time.advance(20);
    assert.deepEqual(r.value, { rttMs: 20, offsetMs: 5000 });
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a replayed request inside the validity window gets the cached reply; after it, nothing", async () => {
    const { time, hub, node } = world();
    const alice = node();
    const bob = node();
    let n = 0;
    bob.on("count", () => ++n);
    const r = track(alice.request(bob.id, BROKERS, "count", {}));
    await time.advance(20);
    assert.equal(r.value, 1);
    const [original] = hub.between(alice.id, bob.id);
    const answers = () => hub.between(bob.id, alice.id).length;
    assert.equal(answers(), 2, "ack + reply");

    await time.advance(10_000);
    hub.deliver(alice.id, bob.id, original.bytes);
    await time.advance(10);
    assert.equal(n, 1, "the handler does not run again");
    assert.equal(answers(), 4, "ack + cached reply re-sent");

    await time.advance(20_000); // the copy is now more than maxAgeMs (30 s) old
    hub.deliver(alice.id, bob.id, original.bytes);
    await time.advance(10);
    assert.equal(n, 1);
    assert.equal(answers(), 4, "too old: dropped without an answer");
    await Promise.all([alice.close(), bob.close()]);
  });

  it("close() is memoized, rejects a pending request with AbortError, frees its timers and leaves a caller's transport open", async () => {
    const { time, node } = world();
    const alice = node();
    const bob = node();
    bob.on("hang", () => new Promise(() => {}));
    const r = track(alice.request(bob.id, BROKERS, "hang", {}, { timeout: 5000 }));
    await time.advance(20); // acked
    const first = alice.close();
    assert.equal(alice.close(), first, "the second call returns the first call's promise");
    assert.equal(alice.lifetime.aborted, true);
    await first;
    await time.advance(0);
    assert.ok(r.error instanceof AbortError, String(r.error));
    assert.equal(time.pending, 0, "deadline and re-send timers freed");
    await assert.rejects(alice.request(bob.id, BROKERS, "hang", {}), SignalingError);
    assert.equal((alice.transport as unknown as { closed: number }).closed, 0, "a transport passed in is the caller's to close");
    await bob.close();
  });

  it("the caller's signal aborts a request at once", async () => {
    const { time, node } = world();
    const alice = node();
    const ac = new AbortController();
    const r = track(alice.request(Identity.generate().id, BROKERS, "echo", {}, { signal: ac.signal, timeout: 5000 }));
    await time.advance(100);
    ac.abort();
    await time.advance(0);
    assert.ok(r.error instanceof AbortError, String(r.error));
    assert.equal(time.pending, 0);
    await alice.close();
  });
});
