// Finding 1 of the security review: fresh Ed25519 identities cost nothing, so a
// sender with publish rights can send one valid, signed request from each of
// thousands of them. They must not fill the remembered-request table or the
// replay cache for the peers we already deal with: a strangers' budget, and a
// share of each cache kept for established (mid-request) and known peers.
// On FakeTime over the in-memory hub.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "../../src/identity/identity.ts";
import { FAKE_BROKER } from "./fake-transport.ts";
import { track, world } from "./fake-world.ts";

const BROKERS = [FAKE_BROKER];

/** Publishes one request from each of `n` fresh identities; returns them. */
function flood(w: ReturnType<typeof world>, victim: Parameters<ReturnType<typeof world>["request"]>[1], n: number): Identity[] {
  const strangers = Array.from({ length: n }, () => Identity.generate());
  for (const [i, s] of strangers.entries()) w.publish(s, victim, w.request(s, victim, "run", { i }));
  return strangers;
}

describe("a flood from throwaway identities", () => {
  it("beyond the strangers' budget is dropped unanswered, and a known peer is still answered", async () => {
    const w = world();
    const friend = Identity.generate();
    // Caches smaller than the flood: without the budget it fills them.
    const victim = w.node({ maxRemembered: 40, replayCacheSize: 40, isKnownPeer: (id) => id === friend.id, strangerBudget: { capacity: 10, refillPerSecond: 0 } });
    let runs = 0;
    victim.on("run", () => ++runs);
    const strangers = flood(w, victim, 200);
    await w.time.advance(20);
    const answered = strangers.filter((s) => w.hub.between(victim.id, s.id).length > 0);
    assert.equal(answered.length, 10, "only the budget's worth of strangers is admitted");
    for (const s of answered) assert.equal(w.hub.between(victim.id, s.id).length, 2, "an admitted stranger gets its ack and reply");
    assert.equal(runs, 10);

    const friendNode = w.node({ identity: friend });
    const r = track(friendNode.request(victim.id, BROKERS, "run", {}));
    await w.time.advance(20);
    assert.equal(r.value, 11, String(r.error));
    // Nothing changes for the strangers later: re-sent copies are strangers again, and the bucket is empty.
    await w.closeAll();
  });

  for (const [what, sizes] of [
    ["remembered-request table", { maxRemembered: 40, replayCacheSize: 1000 }],
    ["replay cache", { maxRemembered: 1000, replayCacheSize: 40 }],
  ] as const) {
    it(`fills at most the strangers' share of the ${what}; an established and a known peer still get through`, async () => {
      const w = world();
      const friend = Identity.generate();
      const early = Identity.generate();
      // A budget larger than the flood: here the share alone must hold.
      const victim = w.node({ ...sizes, isKnownPeer: (id) => id === friend.id, strangerBudget: { capacity: 10_000, refillPerSecond: 0 } });
      let runs = 0;
      victim.on("run", () => ++runs);
      // `early` is mid-connect when the flood starts: it has a request remembered.
      const earlyNode = w.node({ identity: early });
      const first = track(earlyNode.request(victim.id, BROKERS, "run", {}));
      await w.time.advance(20);
      assert.equal(first.value, 1);

      const strangers = flood(w, victim, 200);
      await w.time.advance(20);
      const answered = strangers.filter((s) => w.hub.between(victim.id, s.id).length > 0).length;
      // Half of 40, one slot of it taken by `early`.
      assert.equal(answered, 19, "strangers fill at most half of the cache");
      assert.equal(runs, 20);

      const next = track(earlyNode.request(victim.id, BROKERS, "run", {}));
      const friendNode = w.node({ identity: friend });
      const known = track(friendNode.request(victim.id, BROKERS, "run", {}));
      await w.time.advance(20);
      assert.equal(typeof next.value, "number", `established peer: ${String(next.error)}`);
      assert.equal(typeof known.value, "number", `known peer: ${String(known.error)}`);

      // A second flood, later (the first one's entries still live) changes nothing for them.
      flood(w, victim, 100);
      await w.time.advance(5000);
      const again = track(friendNode.request(victim.id, BROKERS, "run", {}));
      await w.time.advance(20);
      assert.equal(typeof again.value, "number", `known peer after a second flood: ${String(again.error)}`);
      await w.closeAll();
    });
  }

  it("a peer we have a request out to counts as known, without any hook", async () => {
    const w = world();
    const victim = w.node({ maxRemembered: 20, replayCacheSize: 20, strangerBudget: { capacity: 10_000, refillPerSecond: 0 } });
    victim.on("run", () => "ran");
    const peer = w.node();
    peer.on("slow", () => new Promise(() => {}));
    const out = track(victim.request(peer.id, BROKERS, "slow", {}, { timeout: 5000 }));
    flood(w, victim, 100);
    await w.time.advance(20);
    const back = track(peer.request(victim.id, BROKERS, "run", {}));
    await w.time.advance(20);
    assert.equal(back.value, "ran", String(back.error));
    assert.equal(out.done, false);
    await w.closeAll();
  });
});
