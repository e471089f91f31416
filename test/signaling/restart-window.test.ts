// Finding 3 of the security review: a restarted node has an empty replay cache,
// so it refuses messages dated too long before its start. The line used to be
// the start itself, which refused honest peers whose clocks are behind ours;
// it is now maxFutureMs before the start (notBeforeAfterStart in envelope.ts,
// which says which replay window that leaves and why it is safe). On FakeTime.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "../../src/identity/identity.ts";
import { notBeforeAfterStart } from "../../src/signaling/envelope.ts";
import { FAKE_BROKER } from "./fake-transport.ts";
import { track, world } from "./fake-world.ts";

const BROKERS = [FAKE_BROKER];

describe("after a (re)start", () => {
  it("a peer whose clock is 20 s behind is answered right away, both ways", async () => {
    const w = world();
    const bob = w.node();
    const alice = w.node({ skew: -20_000 });
    bob.on("run", () => "ran");
    alice.on("run", () => "ran too");
    const r = track(alice.request(bob.id, BROKERS, "run", {}));
    // Bob's own first request after his start goes to the lagging peer, whose answers look 20 s old to him.
    const back = track(bob.request(alice.id, BROKERS, "run", {}));
    await w.time.advance(20);
    assert.equal(r.value, "ran", String(r.error));
    assert.equal(back.value, "ran too", String(back.error));
    await w.closeAll();
  });

  it("a replay of a request the last run accepted is refused once it is dated more than maxFutureMs before the start", async () => {
    // maxAgeMs longer than maxFutureMs: here the start line, not the age check, must refuse the old copy.
    const envelope = { maxAgeMs: 60_000, maxFutureMs: 30_000 };
    const w = world();
    const bobId = Identity.generate();
    let runs = 0;
    const count = () => ++runs;
    const bob1 = w.node({ identity: bobId, envelope });
    bob1.on("count", count);
    const alice = w.node({ envelope });
    const a = track(alice.request(bob1.id, BROKERS, "count", {}));
    await w.time.advance(20);
    assert.equal(a.value, 1);
    const [old] = w.hub.between(alice.id, bobId.id); // captured by the broker at t ≈ 0

    await w.time.advance(25_000);
    const b = track(alice.request(bob1.id, BROKERS, "count", {}));
    await w.time.advance(20);
    assert.equal(b.value, 2);
    const recent = w.hub.between(alice.id, bobId.id).at(-1)!; // captured at t ≈ 25 s

    await w.time.advance(10_000);
    await bob1.close();
    const bob2 = w.node({ identity: bobId, envelope }); // restarts at t ≈ 35 s, empty caches
    bob2.on("count", count);
    const answers = () => w.hub.between(bobId.id, alice.id).length;
    const before = answers();

    await w.time.advance(1000);
    w.hub.deliver(alice.id, bobId.id, old.bytes); // 36 s old: inside maxAgeMs, but dated before start − maxFutureMs
    await w.time.advance(20);
    assert.equal(runs, 2, "the old copy is not run again");
    assert.equal(answers(), before, "nor answered");

    // The documented window: dated within maxFutureMs before the start, so it is run once more; a second copy is a duplicate.
    w.hub.deliver(alice.id, bobId.id, recent.bytes);
    await w.time.advance(20);
    w.hub.deliver(alice.id, bobId.id, recent.bytes);
    await w.time.advance(20);
    assert.equal(runs, 3, "once, not twice");
    await w.closeAll();
  });

  it("the start line is maxFutureMs before the start", () => {
    assert.equal(notBeforeAfterStart(100_000, { maxFutureMs: 30_000 }), 70_000);
    assert.equal(notBeforeAfterStart(100_000), 70_000, "the default window");
  });
});
