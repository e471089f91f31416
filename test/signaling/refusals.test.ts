// Finding 2 of the security review: each request accept() refuses used to be
// answered with a fresh seal and a publish, without limit. Now a refusal is
// sealed once per request (its re-sent and replayed copies get the same bytes)
// and refusal replies are rate limited per sender and in all. On FakeTime.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "../../src/identity/identity.ts";
import { RefusedError } from "../../src/errors.ts";
import { FAKE_BROKER } from "./fake-transport.ts";
import { track, world } from "./fake-world.ts";

// Strangers' budget out of the way: these tests are about refusals alone.
const OPEN = { strangerBudget: { capacity: 100_000, refillPerSecond: 0 } };

describe("refused requests", () => {
  it("one sender's flood of refused requests gets at most the per-sender burst of replies", async () => {
    const w = world();
    let asked = 0;
    const victim = w.node({ ...OPEN, accept: () => (asked++, false) });
    const sender = Identity.generate();
    for (let i = 0; i < 50; i++) w.publish(sender, victim, w.request(sender, victim, "run", { i }));
    await w.time.advance(20);
    assert.equal(asked, 50, "each distinct request is put to accept()");
    assert.equal(w.hub.between(victim.id, sender.id).length, 4, "the rest are refused silently");
    // One per 10 s afterwards.
    await w.time.advance(10_000);
    for (let i = 0; i < 5; i++) w.publish(sender, victim, w.request(sender, victim, "run", { i }));
    await w.time.advance(20);
    assert.equal(w.hub.between(victim.id, sender.id).length, 5);
    await w.closeAll();
  });

  it("many senders' refused requests get at most the global burst of replies", async () => {
    const w = world();
    const victim = w.node({ ...OPEN, accept: () => false });
    const senders = Array.from({ length: 100 }, () => Identity.generate());
    for (const s of senders) w.publish(s, victim, w.request(s, victim, "run", {}));
    await w.time.advance(20);
    const replies = senders.reduce((n, s) => n + w.hub.between(victim.id, s.id).length, 0);
    assert.equal(replies, 32);
    await w.closeAll();
  });

  it("a re-sent or replayed copy of a refused request gets the same sealed refusal: no new seal, no second accept()", async () => {
    const w = world();
    let asked = 0;
    const victim = w.node({ ...OPEN, accept: () => (asked++, false) });
    const sender = Identity.generate();
    const id = "0123456789abcdef0123456789abcdef";
    const first = w.request(sender, victim, "run", {}, { id });
    w.publish(sender, victim, first);
    await w.time.advance(20);
    const [refusal] = w.hub.between(victim.id, sender.id);
    assert.ok(refusal, "the first copy is refused out loud");
    await w.time.advance(1000);
    w.publish(sender, victim, w.request(sender, victim, "run", {}, { id })); // re-sent: fresh seal, same id
    w.publish(sender, victim, first); // replayed: the same bytes
    await w.time.advance(20);
    const sent = w.hub.between(victim.id, sender.id);
    assert.equal(sent.length, 3);
    for (const s of sent) assert.ok(Buffer.from(s.bytes).equals(Buffer.from(refusal.bytes)), "the kept refusal, byte for byte");
    assert.equal(asked, 1, "accept() ran once for the three copies");
    // Re-publishing the kept refusal counts against the limit too (4 per sender): one more, then silence.
    for (let i = 0; i < 3; i++) w.publish(sender, victim, first);
    await w.time.advance(20);
    assert.equal(w.hub.between(victim.id, sender.id).length, 4);
    await w.closeAll();
  });

  it("an honest refused requester still gets RefusedError", async () => {
    const w = world();
    const victim = w.node({ accept: () => false });
    const peer = w.node();
    const r = track(peer.request(victim.id, [FAKE_BROKER], "run", {}));
    await w.time.advance(20);
    assert.ok(r.error instanceof RefusedError, String(r.error));
    await w.closeAll();
  });
});
