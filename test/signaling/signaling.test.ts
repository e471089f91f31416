import { test } from "node:test";
import assert from "node:assert/strict";
import { AbortError, DialError, RefusedError, SignalingError } from "../../src/errors.ts";
import { GET_ADDR, REVERSE_CONNECT, parseReverseConnect } from "../../src/signaling/messages.ts";
import { broker, node, until } from "./helpers.ts";

test("signaling: request/reply between two nodes through one aedes broker", async (t) => {
  const b = await broker(t);
  const alice = await node(t, [b.url]);
  const bob = await node(t, [b.url], { getAddress: () => "p2p1:bob-address" });
  const seen: string[] = [];
  bob.on("echo", (body, from) => {
    seen.push(from);
    return { echo: body };
  });

  assert.deepEqual(await alice.request(bob.id, [b.url], "echo", { hi: 1 }), { echo: { hi: 1 } });
  assert.deepEqual(seen, [alice.id]);
  assert.deepEqual(await alice.request(bob.id, [b.url], GET_ADDR, {}), { address: "p2p1:bob-address" });
  await assert.rejects(alice.request(bob.id, [b.url], "nope", {}), (e) => e instanceof SignalingError && /unknown request type/.test(e.message));
  // get-addr on a node without an address callback is a protocol error, not a crash.
  await assert.rejects(bob.request(alice.id, [b.url], GET_ADDR, {}), SignalingError);

  // Round trip on loopback (reported, not asserted).
  const rtts: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await alice.request(bob.id, [b.url], "echo", i);
    rtts.push(performance.now() - t0);
  }
  rtts.sort((x, y) => x - y);
  t.diagnostic(`request round trip via aedes on loopback: median ${rtts[5].toFixed(2)} ms, min ${rtts[0].toFixed(2)} ms`);
  const p = await alice.ping(bob.id, [b.url]);
  // One machine, one clock: the estimate must find (almost) no offset. Exact values: fake-time.test.ts.
  assert.ok(Math.abs(p.offsetMs) < 1000, JSON.stringify(p));
  t.diagnostic(`ping: rtt ${p.rttMs} ms, offset ${p.offsetMs} ms`);
});

test("signaling: reverse-connect message shape, its reply and its errors", async (t) => {
  const b = await broker(t);
  const alice = await node(t, [b.url]);
  const bob = await node(t, [b.url]);
  const token = Buffer.alloc(16, 7).toString("base64url");
  bob.on(
    REVERSE_CONNECT,
    (body) => {
      const req = parseReverseConnect(body);
      if (req.address === "p2p1:unreachable") throw new DialError("connect ECONNREFUSED");
      return { connected: true };
    },
    { dialsOut: true },
  );
  assert.deepEqual(await alice.request(bob.id, [b.url], REVERSE_CONNECT, { address: "p2p1:alice", token }), { connected: true });
  await assert.rejects(alice.request(bob.id, [b.url], REVERSE_CONNECT, { address: "p2p1:unreachable", token }), (e) => e instanceof DialError && /ECONNREFUSED/.test(e.message));
  await assert.rejects(alice.request(bob.id, [b.url], REVERSE_CONNECT, { address: "x", token: "short" }), (e) => e instanceof SignalingError && /token/.test(e.message));
});

test("signaling: access control and the dial-out rate limit refuse with RefusedError", async (t) => {
  const b = await broker(t);
  const alice = await node(t, [b.url]);
  const carol = await node(t, [b.url]);
  let dials = 0;
  let other = 0;
  const bob = await node(t, [b.url], {
    accept: (peer) => peer !== carol.id,
    rateLimit: { perPeer: { capacity: 2, refillPerSecond: 0 }, global: { capacity: 100, refillPerSecond: 0 } },
  });
  bob.on("dial-me", () => ++dials, { dialsOut: true });
  bob.on("plain", () => ++other);

  await assert.rejects(carol.request(bob.id, [b.url], "plain", {}), (e) => e instanceof RefusedError && /not accepted/.test(e.message));
  assert.equal(other, 0, "a refused peer's handler never runs");
  assert.equal(await alice.request(bob.id, [b.url], "dial-me", {}), 1);
  assert.equal(await alice.request(bob.id, [b.url], "dial-me", {}), 2);
  await assert.rejects(alice.request(bob.id, [b.url], "dial-me", {}), (e) => e instanceof RefusedError && /rate limited/.test(e.message));
  assert.equal(dials, 2);
  // Requests that do not dial out are not limited.
  for (let i = 0; i < 4; i++) await alice.request(bob.id, [b.url], "plain", {});
  assert.equal(other, 4);
});

test("signaling: two brokers, one killed mid-run, then restarted on the same port", async (t) => {
  const b1 = await broker(t);
  const b2 = await broker(t);
  const urls = [b1.url, b2.url];
  const alice = await node(t, urls);
  const bob = await node(t, urls);
  await until(() => [alice, bob].every((n) => n.transport.status().every((s) => s.state === "up")), "both brokers up");
  const downs: string[] = [];
  const ups: string[] = [];
  alice.transport.on("brokerDown", (u) => downs.push(u));
  alice.transport.on("brokerUp", (u) => ups.push(u));
  let n = 0;
  bob.on("count", () => ++n);

  assert.equal(await alice.request(bob.id, urls, "count", {}), 1);
  await b1.close();
  await until(() => downs.includes(b1.url), "brokerDown for b1");
  assert.equal(alice.transport.status().find((s) => s.url === b1.url)?.state !== "up", true);
  assert.equal(await alice.request(bob.id, urls, "count", {}), 2, "signaling goes on through b2");

  const again = await broker(t, b1.port);
  assert.equal(again.url, b1.url);
  await until(() => ups.includes(b1.url) && bob.transport.status().every((s) => s.state === "up"), "brokerUp for b1 on both nodes");
  await b2.close();
  await until(() => alice.transport.status().find((s) => s.url === b2.url)?.state !== "up", "b2 down");
  assert.equal(await alice.request(bob.id, [b1.url], "count", {}), 3, "a request through the restarted broker alone");
});

test("signaling: a request delivered through two brokers is processed once", async (t) => {
  const b1 = await broker(t);
  const b2 = await broker(t);
  const urls = [b1.url, b2.url];
  // dedupeTtlMs 0 on bob: the transport does not drop the second copy, the envelope/request layer must.
  const alice = await node(t, urls);
  const bob = await node(t, urls, { mqtt: { dedupeTtlMs: 0, reconnectInitialMs: 100 } });
  const carol = await node(t, urls);
  await until(() => [alice, bob, carol].every((x) => x.transport.status().every((s) => s.state === "up")), "all up");
  let n = 0;
  bob.on("count", () => ++n);
  carol.on("count", () => ++n);
  let copies = 0;
  bob.transport.on("message", () => copies++);
  for (let i = 1; i <= 3; i++) assert.equal(await alice.request(bob.id, urls, "count", {}), i);
  await until(() => copies >= 6, "both copies of each request to arrive");
  assert.equal(n, 3);
  // Carol keeps the transport's own dedupe: copies never even reach the envelope layer.
  let carolCopies = 0;
  carol.transport.on("message", () => carolCopies++);
  assert.equal(await alice.request(carol.id, urls, "count", {}), 4);
  assert.equal(carolCopies, 1);
});

test("signaling: close is idempotent, rejects pending requests, and request after close fails", async (t) => {
  const b = await broker(t);
  const alice = await node(t, [b.url]);
  const bob = await node(t, [b.url]);
  let started = 0;
  bob.on("slow", () => (started++, new Promise(() => {})));
  const pending = alice.request(bob.id, [b.url], "slow", {}, { timeout: 5000 });
  await until(() => started === 1, "bob's handler to start");
  const first = alice.close();
  assert.equal(alice.close(), first, "memoized: the second call returns the first call's promise");
  await first;
  await assert.rejects(pending, AbortError);
  await assert.rejects(alice.request(bob.id, [b.url], "slow", {}), SignalingError);
  const ac = new AbortController();
  const p2 = bob.request(alice.id, [b.url], "slow", {}, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p2, AbortError);
});
