/**
 * The writer batches what is queued in one turn of the event loop, even when
 * the sends come one per microtask (a loop awaiting already-settled promises):
 * a record per message would make throughput depend on how the caller awaits.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameType } from "../../src/session/frame.ts";
import { rawPair } from "./memory-pair.ts";

test("sends made one per microtask in one turn share records (a BATCH), in order", async () => {
  const { pipe, frames, time } = rawPair();
  for (let i = 0; i < 100; i++) {
    void pipe.send(`m${i}`);
    await Promise.resolve(); // the caller awaits between sends
  }
  await time.advance(0);
  const data = frames.filter((f) => f.type === FrameType.DATA);
  assert.deepEqual(
    data.map((f) => f.payload.toString()),
    Array.from({ length: 100 }, (_, i) => `m${i}`),
  );
  assert.deepEqual(
    data.map((f) => f.seq),
    Array.from({ length: 100 }, (_, i) => i + 1),
  );
  assert.equal(new Set(data.map((f) => f.record)).size, 1, "one record for the turn, not one per microtask");
  void pipe.destroy();
});

test("20,000 queued sends drain in order through the outbox, each settling once", async () => {
  const { pipe, frames, time } = rawPair();
  let settled = 0;
  const sends = Array.from({ length: 20_000 }, (_, i) => pipe.send(new Uint8Array([i & 0xff, i >> 8])).then(() => settled++));
  while (settled < sends.length) await time.advance(0);
  const data = frames.filter((f) => f.type === FrameType.DATA);
  assert.equal(data.length, 20_000);
  assert.ok(data.every((f, i) => f.payload[0] === (i & 0xff) && f.payload[1] === i >> 8));
  assert.ok(new Set(data.map((f) => f.record)).size <= Math.ceil(20_000 / 256) + 1, "at most 256 frames a BATCH, and full ones");
  void pipe.destroy();
});
