/**
 * The shared liveness ticker: one timer for the keepalive and dead-peer checks
 * of every pipe on the same Timers, and one PING + one PONG per interval on an
 * idle pipe (the responder answers instead of pinging too). Fake time only.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ticker } from "../../src/pipe/ticker.ts";
import type { ByteTransport } from "../../src/pipe/transport.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { pipePair } from "./memory-pair.ts";

describe("ticker", () => {
  it("runs every check on one timer at the smallest period, and leaves no timer once the last check is gone", async () => {
    const time = new FakeTime();
    const t = new Ticker(time);
    const calls = { a: 0, b: 0 };
    const offA = t.add(() => calls.a++, 1000);
    assert.equal(time.pending, 1);
    const offB = t.add(() => calls.b++, 250); // a smaller period re-arms the one timer
    assert.equal(time.pending, 1);
    await time.advance(1000);
    assert.deepEqual(calls, { a: 4, b: 4 }, "both run at the smallest period (a check compares times itself)");
    offB();
    offB(); // idempotent
    await time.advance(1000);
    assert.equal(calls.b, 4);
    assert.equal(calls.a, 5, "back to the remaining check's period once the smaller one left");
    assert.equal(time.pending, 1);
    offA();
    assert.equal(time.pending, 0);
    assert.equal(t.size, 0);
  });

  it("a check that removes itself (a pipe failing) does not disturb the others", async () => {
    const time = new FakeTime();
    const t = new Ticker(time);
    const seen: string[] = [];
    const off1 = t.add(() => (seen.push("1"), off1()), 100);
    t.add(() => seen.push("2"), 100);
    await time.advance(200);
    assert.deepEqual(seen, ["1", "2", "2"]);
  });
});

function countWrites(t: ByteTransport): { n: number } {
  const c = { n: 0 };
  const write = t.write.bind(t);
  t.write = (chunks, done) => (c.n++, write(chunks, done));
  return c;
}

describe("liveness on the shared ticker", () => {
  it("100 idle pipes on one Timers hold one timer between them, and none after they close", async () => {
    const time = new FakeTime();
    const pairs = Array.from({ length: 50 }, () => pipePair({ time }));
    await time.advance(0);
    assert.equal(time.pending, 1, "one ticker for 100 pipe ends");
    await Promise.all(pairs.map((p) => p.a.close()));
    await time.advance(0);
    assert.equal(time.pending, 0);
  });

  it("an idle pipe costs one PING (initiator) and one PONG (responder) per keepaliveInterval, and stays open", async () => {
    const live = { keepaliveInterval: 1000, deadPeerTimeout: 3000 };
    const { a, b, ta, tb, time } = pipePair({ a: live, b: live });
    const wa = countWrites(ta);
    const wb = countWrites(tb);
    for (let i = 0; i < 20; i++) await time.advance(500);
    // The checks run every min(keepaliveInterval, deadPeerTimeout / 4) = 750 ms: a PING goes at the
    // first check 1000 ms or more after the last one, i.e. every 1500 ms here.
    assert.equal(wa.n, 6, "the initiator PINGs");
    assert.equal(wb.n, wa.n, "the responder only answers: one PONG per PING");
    assert.equal(a.state, "open");
    assert.equal(b.state, "open");
    assert.equal(typeof a.rtt, "number");
    await a.close();
  });

  it("a responder whose initiator went quiet PINGs itself before declaring it dead", async () => {
    const live = { keepaliveInterval: 1000, deadPeerTimeout: 3000 };
    const { a, b, tb, time } = pipePair({ a: { ...live, keepaliveInterval: 60_000, deadPeerTimeout: 240_000 }, b: live });
    const wb = countWrites(tb);
    await time.advance(1500);
    assert.equal(wb.n, 0, "b hears nothing yet does not PING while the initiator may still");
    await time.advance(1000);
    assert.equal(wb.n, 1, "b pinged after more than 2 intervals of hearing nothing");
    assert.equal(b.state, "open", "a answered, so b hears it");
    await a.close();
  });
});
