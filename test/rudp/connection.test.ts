import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { LINGER_MS, RudpConnection, type RudpOptions } from "../../src/rudp/connection.ts";
import { encodePacket, FLAG_DATA } from "../../src/rudp/packet.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { direction, rng, type LinkOptions } from "./lossy-link.ts";

const KEY = new Uint8Array(32).fill(7);

function pair(t: FakeTime, link: LinkOptions, extra: Partial<RudpOptions> = {}) {
  let a!: RudpConnection;
  let b!: RudpConnection;
  const ab = direction(t, { ...link, seed: link.seed ?? 1 }, (d) => b.input(d));
  const ba = direction(t, { ...link, seed: (link.seed ?? 1) + 1000 }, (d) => a.input(d));
  a = new RudpConnection({ connId: 42, key: KEY, send: (d) => ab.send(d), clock: t, timers: t, ...extra });
  b = new RudpConnection({ connId: 42, key: KEY, send: (d) => ba.send(d), clock: t, timers: t, ...extra });
  return { a, b, ab, ba };
}

/** Collects what `c` receives, and whether 'end' and 'close' came (in that order). */
function sink(c: RudpConnection) {
  const chunks: Uint8Array[] = [];
  const events: string[] = [];
  c.on("data", (d) => chunks.push(d));
  c.on("end", () => events.push("end"));
  c.on("close", () => events.push("close"));
  c.on("error", (e) => events.push(`error: ${e.message}`));
  return { chunks, events, bytes: () => Buffer.concat(chunks) };
}

/** Writes `data` in random-sized chunks, respecting backpressure, then ends. */
async function writeAll(t: FakeTime, c: RudpConnection, data: Buffer, seed = 3): Promise<void> {
  const rand = rng(seed);
  let off = 0;
  while (off < data.length) {
    const n = Math.min(data.length - off, 1 + Math.floor(rand() * 20000));
    const ok = c.write([data.subarray(off, off + n)]);
    off += n;
    if (!ok) while (c.needDrain) await t.advance(5);
  }
  c.end();
}

async function runUntil(t: FakeTime, done: () => boolean, limitMs: number): Promise<number> {
  const start = t.now();
  while (!done()) {
    if (t.now() - start > limitMs) throw new Error(`not done after ${limitMs} ms of simulated time`);
    await t.advance(10);
  }
  return t.now() - start;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("reliable UDP over a lossy in-memory link (fake time)", () => {
  // The last column bounds retransmissions (share of packets sent): no flooding. With a
  // bottleneck, slow start overshoots the queue once per direction, as TCP's does.
  const cases: Array<[string, LinkOptions, number]> = [
    ["clean, 20 ms", { delayMs: 20 }, 0],
    ["5 % loss, 20 ms ± 10 ms jitter (reorders), 1 % duplicates", { lossPct: 5, delayMs: 20, jitterMs: 10, dupPct: 1 }, 0.125],
    ["20 % loss, 50 ms ± 20 ms", { lossPct: 20, delayMs: 50, jitterMs: 20 }, 0.5],
    ["2 MB/s bottleneck, 32 KiB queue, 20 ms", { delayMs: 20, rateBps: 2_000_000, queueBytes: 32768 }, 0.3],
  ];
  for (const controller of ["bbr", "newreno"] as const)
  for (const [name, link, maxResent] of cases) {
    test(`${controller}, ${name}: 1 MiB arrives intact and in order both ways, then end, then close`, async () => {
      const t = new FakeTime();
      const { a, b } = pair(t, link, { controller });
      const sa = sink(a);
      const sb = sink(b);
      const d1 = randomBytes(1 << 20);
      const d2 = randomBytes(300_000);
      await Promise.all([writeAll(t, a, d1, 5), writeAll(t, b, d2, 6)]);
      await runUntil(t, () => sa.events.includes("close") && sb.events.includes("close"), 600_000);
      assert.equal(sha(sb.bytes()), sha(d1));
      assert.equal(sha(sa.bytes()), sha(d2));
      assert.deepEqual(sa.events, ["end", "close"]);
      assert.deepEqual(sb.events, ["end", "close"]);
      for (const [who, c] of [["a", a], ["b", b]] as const) {
        assert.ok(c.stats.retransmitted <= c.stats.sent * maxResent, `${who} resent ${c.stats.retransmitted} of ${c.stats.sent}`);
      }
      await t.advance(LINGER_MS);
      assert.equal(t.pending, 0, "every timer is gone after close (the linger too)");
    });
  }

  test("forged datagrams (random bytes, a wrong key, another connection id) are dropped and counted; the stream is untouched", async () => {
    const t = new FakeTime();
    const { a, b } = pair(t, { delayMs: 5 });
    const sb = sink(b);
    const data = randomBytes(50_000);
    await writeAll(t, a, data);
    b.input(randomBytes(100));
    b.input(encodePacket({ flags: FLAG_DATA, connId: 42, seq: 1, ack: 1, window: 10, sack: [], payload: Buffer.from("injected") }, new Uint8Array(32).fill(9)));
    b.input(encodePacket({ flags: FLAG_DATA, connId: 43, seq: 1, ack: 1, window: 10, sack: [], payload: Buffer.from("injected") }, KEY));
    // A forged ack for packets never sent must not release anything.
    a.input(encodePacket({ flags: 0, connId: 42, seq: 0, ack: 1_000_000, window: 10, sack: [], }, KEY));
    await runUntil(t, () => sb.events.includes("end"), 60_000);
    assert.equal(b.stats.forged, 3);
    assert.equal(sha(sb.bytes()), sha(data));
  });

  test("a paused reader closes the window: the sender stops, holds its data, survives a long pause, and finishes after resume", async () => {
    const t = new FakeTime();
    const { a, b } = pair(t, { delayMs: 10 }, { receiveWindow: 64, highWaterMark: 256 * 1024 });
    const sb = sink(b);
    b.pause();
    const data = randomBytes(1 << 20);
    let off = 0;
    while (off < data.length && a.write([data.subarray(off, off + 16384)])) off += 16384;
    off += 16384;
    assert.equal(a.needDrain, true, "write() said stop");
    await t.advance(600_000); // ten minutes paused
    assert.equal(sb.chunks.length, 0, "nothing delivered while paused");
    assert.ok(a.writableLength > 0 && !a.destroyed, "the sender kept its data and its connection");
    const drained = new Promise<void>((r) => a.once("drain", () => r()));
    b.resume();
    await runUntil(t, () => !a.needDrain, 60_000);
    await drained;
    while (off < data.length) {
      if (!a.write([data.subarray(off, off + 16384)])) await runUntil(t, () => !a.needDrain, 60_000);
      off += 16384;
    }
    a.end();
    await runUntil(t, () => sb.events.includes("end"), 120_000);
    assert.equal(sha(sb.bytes()), sha(data));
  });

  test("a peer that vanishes: an error after the timeouts, then close; no timer left", async () => {
    const t = new FakeTime();
    const { a, ab, ba } = pair(t, { delayMs: 10 }, { maxTimeouts: 4 });
    const sa = sink(a);
    a.write([randomBytes(10_000)]);
    ab.cut();
    ba.cut();
    await runUntil(t, () => sa.events.includes("close"), 600_000);
    assert.equal(sa.events.length, 2);
    assert.match(sa.events[0], /^error: the peer stopped acknowledging/);
    assert.equal(sa.events[1], "close");
    assert.equal(t.pending, 0);
  });

  test("destroy() resets the peer: it gets an error and closes; writes after end fail", async () => {
    const t = new FakeTime();
    const { a, b } = pair(t, { delayMs: 10 });
    const sb = sink(b);
    a.write([Buffer.from("hello")]);
    await t.advance(50);
    a.destroy();
    await t.advance(50);
    assert.deepEqual(sb.events, ["error: the peer reset the connection", "close"]);
    const c = pair(t, {}).a;
    c.end();
    let err: Error | null | undefined;
    assert.equal(c.write([Buffer.from("x")], (e) => (err = e)), false);
    await t.advance(1);
    assert.match(String(err), /write after end/);
  });
});
