// Signaling envelope under mutated input (wire bytes, plaintext layout, re-encrypted and re-signed plaintexts); seal → open round trip.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { open, seal } from "../../src/signaling/envelope.ts";
import { ReplayCache } from "../../src/signaling/replay-cache.ts";
import { ALICE, BOB, NOW, targets } from "../../fuzz/targets/signaling.ts";
import { fuzzTargets } from "./targets.ts";

describe("fuzz: signaling envelope", () => {
  fuzzTargets(targets);

  it("round trip: open(seal(m)) gives back type, id, timestamp and body", () => {
    const body = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.uint8Array({ maxLength: 100 }));
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,63}$/), fc.uint8Array({ minLength: 16, maxLength: 16 }), body, fc.integer({ min: -20_000, max: 20_000 }), (type, id, b, skew) => {
        const hex = Buffer.from(id).toString("hex");
        const r = open(BOB, seal(ALICE, BOB.id, { type, id: hex, body: b, timestamp: NOW + skew }), { now: NOW, replay: new ReplayCache() });
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.message.from, ALICE.id);
        assert.equal(r.message.type, type);
        assert.equal(r.message.id, hex);
        assert.equal(r.message.timestamp, NOW + skew);
        // JSON bodies come back as JSON.parse(JSON.stringify(b)) (-0 → 0 and the like).
        assert.deepEqual(r.message.body, b instanceof Uint8Array ? b : JSON.parse(JSON.stringify(b)));
      }),
      { numRuns: 150 },
    );
  });
});
