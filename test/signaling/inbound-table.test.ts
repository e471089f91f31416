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
