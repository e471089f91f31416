// The responder's memory of requests: both limits, lazy pruning, exact counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InboundTable } from "../../src/signaling/inbound-table.ts";
import type { NodeId } from "../../src/identity/identity.ts";

const A = "a".repeat(52) as NodeId;
const B = "b".repeat(52) as NodeId;
const entry = (from: NodeId, expires: number) => ({ from, replyTo: [], expires });

test("inbound table: per-sender quota, then the global limit; expired entries make room only when asked", () => {
  const t = new InboundTable({ maxRemembered: 3, maxPerSender: 2 });
  t.add("1", entry(A, 100));
  assert.equal(t.check(A), undefined);
  t.add("2", entry(A, 200));
  assert.equal(t.check(A), "quota", "A has used its 2");
  assert.equal(t.check(B), undefined, "B has its own quota");
  t.add("3", entry(B, 300));
  assert.equal(t.check(B), "full", "3 remembered in all");
  assert.equal(t.makeRoom(B, 99), "full", "nothing expired yet");
  assert.equal(t.size, 3);
  assert.equal(t.makeRoom(B, 100), undefined, "the entry expiring at 100 is forgotten at 100");
  assert.equal(t.size, 2);
  assert.equal(t.has(A, "1"), false);
  assert.equal(t.check(A), undefined, "A's quota is back to 1 used");
  assert.deepEqual(t.get(A, "2"), entry(A, 200));
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.check(A), undefined);
});

test("inbound table: a lower limit (a sender's share) caps the table for that request only; holds() sees live entries", () => {
  const t = new InboundTable({ maxRemembered: 4, maxPerSender: 4 });
  t.add("1", entry(A, 100));
  t.add("2", entry(A, 50));
  assert.equal(t.check(B, 2), "full", "a share of 2 is used up");
  assert.equal(t.check(B, 3), undefined);
  assert.equal(t.check(B, 99), undefined, "never past maxRemembered…");
  t.add("3", entry(B, 100));
  t.add("4", entry(B, 100));
  assert.equal(t.check(B, 99), "full", "…which still holds");
  assert.equal(t.holds(A, 99), true, "A's last entry expires at 100");
  assert.equal(t.holds(A, 100), false);
  assert.equal(t.holds(B, 0) && !t.holds("c".repeat(52) as NodeId, 0), true);
});
