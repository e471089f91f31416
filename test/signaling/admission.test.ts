// Who may take room in the responder's caches: classes, shares and the strangers' budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Admission, CACHE_SHARES, shareOf } from "../../src/signaling/admission.ts";
import { ReplayCache } from "../../src/signaling/replay-cache.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { silentLogger } from "../../src/util/logger.ts";
import type { NodeId } from "../../src/identity/identity.ts";

const A = "a".repeat(52) as NodeId;
const B = "b".repeat(52) as NodeId;

test("admission: known beats established beats stranger; a throwing hook means not known", () => {
  const ad = new Admission({ isKnownPeer: (id) => (id === A ? true : (() => { throw new Error("boom"); })()), now: 0, logger: silentLogger });
  assert.equal(ad.classify(A, { contacted: false, inTable: false }), "known");
  assert.equal(ad.classify(B, { contacted: true, inTable: false }), "known", "we have a request out to it");
  assert.equal(ad.classify(B, { contacted: false, inTable: true }), "established");
  assert.equal(ad.classify(B, { contacted: false, inTable: false }), "stranger");
});

test("admission: the strangers' budget is one bucket for all of them", () => {
  const ad = new Admission({ strangerBudget: { capacity: 2, refillPerSecond: 1 }, now: 0, logger: silentLogger });
  assert.deepEqual([ad.admitStranger(0), ad.admitStranger(0), ad.admitStranger(0), ad.admitStranger(999), ad.admitStranger(1000)], [true, true, false, false, true]);
  assert.throws(() => new Admission({ strangerBudget: { capacity: 0, refillPerSecond: 1 }, now: 0, logger: silentLogger }), InvalidArgumentError);
});

test("shares: half, three quarters, all; never below one slot", () => {
  assert.deepEqual(CACHE_SHARES, { known: 1, established: 0.75, stranger: 0.5 });
  assert.deepEqual([shareOf("stranger", 10_000), shareOf("established", 10_000), shareOf("known", 10_000)], [5000, 7500, 10_000]);
  assert.equal(shareOf("stranger", 1), 1);
});

test("replay cache: a limit below capacity refuses that message only", () => {
  const c = new ReplayCache({ capacity: 4 });
  assert.equal(c.add("a", 100, 0, 2), "added");
  assert.equal(c.add("b", 100, 0, 2), "added");
  assert.equal(c.add("c", 100, 0, 2), "full", "the share of 2 is used");
  assert.equal(c.add("c", 100, 0), "added", "the whole cache is not");
  assert.equal(c.add("a", 100, 0, 2), "duplicate", "a duplicate is still seen as one");
  assert.equal(c.add("d", 100, 100, 2), "added", "expired entries make room");
});
