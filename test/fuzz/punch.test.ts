// Punch preamble, candidate offer and the punch request body under mutated input; encode → decode round trips.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodePreamble, encodePreamble, verifyPreamble } from "../../src/strategies/punch/preamble.ts";
import { OFFER_LIMITS, parseOffer } from "../../src/strategies/punch/candidates.ts";
import { targets } from "../../fuzz/targets/punch.ts";
import { fuzzTargets } from "./targets.ts";

const o = { noNullPrototype: true } as const;
const endpoints = (max: number) => fc.array(fc.record({ ip: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }) }, o), { maxLength: max });

describe("fuzz: punch messages", () => {
  fuzzTargets(targets);

  it("round trip: a preamble decodes to its kind and start, and its proof verifies only for its kind", () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.double(), (kind, token, startedAt) => {
        const t = Buffer.from(token);
        const p = decodePreamble(encodePreamble({ kind, token: t, startedAt }));
        assert.equal(p.kind, kind);
        assert.ok(Object.is(p.startedAt, startedAt));
        assert.ok(verifyPreamble(p, t, kind));
        assert.ok(!verifyPreamble(p, t, kind === 1 ? 2 : 1));
      }),
      { numRuns: 300 },
    );
  });

  it("round trip: a valid offer parses to itself", () => {
    const offer = fc.record({ mapped: endpoints(OFFER_LIMITS.mapped), predicted: endpoints(OFFER_LIMITS.predicted), lan: endpoints(OFFER_LIMITS.lan) }, o);
    fc.assert(fc.property(offer, (x) => assert.deepEqual(parseOffer(x), x)), { numRuns: 300 });
  });
});
