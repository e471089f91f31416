import { test } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter, TokenBucket } from "../../src/signaling/rate-limit.ts";

test("rate limit: token bucket burst and refill", () => {
  const b = new TokenBucket({ capacity: 2, refillPerSecond: 1 }, 0);
  const steps: Array<[number, boolean]> = [
    [0, true],
    [0, true],
    [0, false],
    [500, false],
    [1000, true],
    [1000, false],
    [10_000, true],
    [10_000, true],
    [10_000, false],
  ];
  for (const [now, want] of steps) assert.equal(b.take(now), want, `t=${now}`);
});

test("rate limit: per-peer and global buckets, scenario table", () => {
  const rl = new RateLimiter({ perPeer: { capacity: 2, refillPerSecond: 0 }, global: { capacity: 3, refillPerSecond: 0 } });
  const steps: Array<[string, boolean]> = [
    ["a", true],
    ["a", true],
    ["a", false], // a's own bucket is empty
    ["b", true], // global has one left
    ["c", false], // global is empty
    ["b", false],
  ];
  for (const [peer, want] of steps) assert.equal(rl.take(peer, 0), want, peer);
});

test("rate limit: a refused request does not spend a token from the other bucket", () => {
  const rl = new RateLimiter({ perPeer: { capacity: 1, refillPerSecond: 0 }, global: { capacity: 2, refillPerSecond: 0 } });
  assert.equal(rl.take("a", 0), true);
  assert.equal(rl.take("a", 0), false); // refused by a's bucket; global keeps its token
  assert.equal(rl.take("b", 0), true);
});

test("rate limit: bounded peer table forgets refilled buckets, refuses when all are in use", () => {
  const rl = new RateLimiter({ perPeer: { capacity: 1, refillPerSecond: 1 }, global: { capacity: 100, refillPerSecond: 100 }, maxPeers: 2 });
  assert.equal(rl.take("a", 0), true);
  assert.equal(rl.take("b", 0), true);
  assert.equal(rl.take("c", 0), false); // a and b are still drained
  assert.equal(rl.take("c", 1000), true); // a and b refilled and were forgotten
});

test("rate limit: invalid options throw InvalidArgumentError", () => {
  assert.throws(() => new RateLimiter({ perPeer: { capacity: 0, refillPerSecond: 1 } }), { code: "P2P_ERR_INVALID_ARGUMENT" });
  assert.throws(() => new RateLimiter({ global: { capacity: 1, refillPerSecond: -1 } }), { code: "P2P_ERR_INVALID_ARGUMENT" });
});
