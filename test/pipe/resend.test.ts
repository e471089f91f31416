import assert from "node:assert/strict";
import { test } from "node:test";
import { ResendBuffer } from "../../src/pipe/resend.ts";

const item = (seq: number, n = 10) => ({ seq, flags: 0, payload: new Uint8Array(n) });

test("resend buffer: acks drop what the peer delivered, `after` gives the rest in order, bytes are counted", () => {
  const b = new ResendBuffer();
  for (let s = 1; s <= 5; s++) b.add(item(s, s));
  assert.equal(b.bytes, 15);
  assert.equal(b.ack(2), 2);
  assert.equal(b.bytes, 12);
  assert.deepEqual(b.after(3).map((x) => x.seq), [4, 5]);
  assert.deepEqual(b.after(0).map((x) => x.seq), [3, 4, 5], "an ack older than what was dropped resends only what is held");
  assert.equal(b.ack(2), 0, "a repeated ack drops nothing");
  assert.equal(b.ack(9), 3);
  assert.equal(b.size, 0);
  assert.equal(b.last(7), 7);
});

test("resend buffer: seqs must increase; compaction keeps order over many acks", () => {
  const b = new ResendBuffer();
  b.add(item(1));
  assert.throws(() => b.add(item(1)), RangeError);
  for (let s = 2; s <= 5000; s++) b.add(item(s, 1));
  for (let s = 1; s <= 4989; s += 7) b.ack(s);
  b.ack(4989);
  assert.deepEqual(b.after(0).map((x) => x.seq)[0], 4990);
  assert.equal(b.last(0), 5000);
});
