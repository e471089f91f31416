// Progress for people: bytes, rate and ETA from counts and an injected clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes, formatEta, Meter, progressText } from "../../src/transfer/meter.ts";

test("bytes and times read like people write them (table)", () => {
  for (const [n, s] of [[0, "0 B"], [1023, "1023 B"], [1536, "1.5 KiB"], [100 * 1024 * 1024, "100 MiB"], [5 * 2 ** 40, "5.0 TiB"]] as const) assert.equal(formatBytes(n), s);
  for (const [n, s] of [[0, "0 s"], [59.4, "59 s"], [65, "1 min 05 s"], [7800, "2 h 10 min"], [Infinity, "?"], [-1, "?"]] as const) assert.equal(formatEta(n), s);
});

test("rate over a sliding window, ETA from it; a stall shows as a falling rate", () => {
  let t = 0;
  const m = new Meter({ now: () => t }, 3000);
  assert.deepEqual(m.update(0, 100 << 20), { done: 0, total: 100 << 20, rate: 0, eta: Infinity });
  t = 1000;
  let r = m.update(10 << 20, 100 << 20);
  assert.equal(r.rate, 10 << 20);
  assert.equal(r.eta, 9);
  assert.equal(progressText(r), "10.0 MiB / 100 MiB  10%  10.0 MiB/s  ETA 9 s");
  t = 2000;
  m.update(20 << 20, 100 << 20);
  // nothing for 4 s: the old samples leave the window and the rate falls
  t = 6000;
  r = m.update(20 << 20, 100 << 20);
  assert.ok(r.rate < 3 << 20, `rate ${r.rate}`);
  t = 7000;
  r = m.update(100 << 20, 100 << 20);
  assert.equal(r.eta, 0);
});
