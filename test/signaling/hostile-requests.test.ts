// Issue 9, items 4 and 5(c): what an unauthenticated sender on the broker can
// make a node do. Real brokers (aedes on 127.0.0.1:0), real nodes.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { Identity } from "../../src/identity/identity.ts";
import { seal } from "../../src/signaling/envelope.ts";
import { MqttTransport, topicFor } from "../../src/signaling/mqtt-transport.ts";
import { ReplayCache } from "../../src/signaling/replay-cache.ts";
import { open } from "../../src/signaling/envelope.ts";
import { broker, node, rawClient, until } from "./helpers.ts";

/** A TCP listener that counts who connects to it (the host an attacker wants probed). */
async function trap(t: import("node:test").TestContext): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const srv = net.createServer((s) => (hits++, s.destroy()));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  return { url: `mqtt://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, hits: () => hits };
}

test("replyTo cannot steer a node: acks and replies go back through the broker the request came by", async (t) => {
  const b = await broker(t);
  const victim = await node(t, [b.url], { allowPrivateBrokers: true }); // even with private brokers allowed
  victim.on("run", () => "done");
  const target = await trap(t);
  const attacker = Identity.generate();
  const listen = await rawClient(t, b.url);
  const answers: Buffer[] = [];
  await listen.subscribeAsync(topicFor(attacker.id));
  listen.on("message", (_t, p) => answers.push(p));
  const raw = await rawClient(t, b.url);
  for (const type of ["run", "ping", "get-addr"]) {
    const wire = { replyTo: [target.url, "ws://127.0.0.1:9/admin?x=1"], body: type === "ping" ? { t0: 1 } : {} };
    await raw.publishAsync(topicFor(victim.id), Buffer.from(seal(attacker, victim.id, { type, body: wire, timestamp: Date.now() })), { qos: 1 });
  }
  // Every request is acked and answered on the broker it arrived through…
  await until(() => answers.length >= 6, "acks and replies on the attacker's topic of the shared broker");
  // …and the host the attacker named was never contacted.
  assert.equal(target.hits(), 0);
});

test("a requester hears answers on a broker only the responder lists (it listens where it sends)", async (t) => {
  const mine = await broker(t);
  const theirs = await broker(t);
  const a = await node(t, [mine.url], { allowPrivateBrokers: true });
  const b = await node(t, [theirs.url], { allowPrivateBrokers: true });
  b.on("run", (body) => ({ echo: body }));
  assert.deepEqual(await a.request(b.id, [theirs.url], "run", { n: 7 }, { timeout: 8000 }), { echo: { n: 7 } });
});

test("a flood from throwaway identities that accept() refuses neither fills the replay cache nor blocks a known peer", async (t) => {
  const b = await broker(t);
  const friend = Identity.generate();
  const victim = await node(t, [b.url], { replayCacheSize: 20, maxRemembered: 20, accept: (id) => id === friend.id });
  let runs = 0;
  victim.on("run", () => ++runs);
  const raw = await rawClient(t, b.url);
  for (let i = 0; i < 60; i++) {
    const stranger = Identity.generate();
    await raw.publishAsync(topicFor(victim.id), Buffer.from(seal(stranger, victim.id, { type: "run", body: { replyTo: [b.url], body: i }, timestamp: Date.now() })), { qos: 1 });
  }
  const friendNode = await node(t, [b.url], { identity: friend });
  assert.equal(await friendNode.request(victim.id, [b.url], "run", {}, { timeout: 8000 }), 1);
  assert.equal(runs, 1, "no stranger's request ran");
});

test("a full request cache does not stop the node's own requests (answers are recorded apart)", async (t) => {
  const b = await broker(t);
  const victim = await node(t, [b.url], { replayCacheSize: 10, maxRemembered: 1000 });
  victim.on("run", () => "ok");
  const raw = await rawClient(t, b.url);
  for (let i = 0; i < 30; i++) {
    const stranger = Identity.generate();
    await raw.publishAsync(topicFor(victim.id), Buffer.from(seal(stranger, victim.id, { type: "run", body: { replyTo: [b.url], body: i }, timestamp: Date.now() })), { qos: 1 });
  }
  const peer = await node(t, [b.url]);
  peer.on("run", () => "pong");
  // Give the flood time to land: the peer's own request to the victim goes after it on the same broker.
  await new Promise((r) => setImmediate(r));
  assert.equal(await victim.request(peer.id, [b.url], "run", {}, { timeout: 8000 }), "pong");
});

test("one sender gets at most maxPerSender requests remembered at once", async (t) => {
  const b = await broker(t);
  const victim = await node(t, [b.url], { maxPerSender: 3 });
  let started = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  victim.on("run", async () => {
    started++;
    await gate;
    return "late";
  });
  t.after(() => release());
  const sender = Identity.generate();
  const raw = await rawClient(t, b.url);
  for (let i = 0; i < 6; i++) {
    await raw.publishAsync(topicFor(victim.id), Buffer.from(seal(sender, victim.id, { type: "run", body: { replyTo: [b.url], body: i }, timestamp: Date.now() })), { qos: 1 });
  }
  const other = await node(t, [b.url]);
  // A request of someone else's, sent after the six, shows they have all been handled.
  victim.on("probe", () => "seen");
  assert.equal(await other.request(victim.id, [b.url], "probe", {}, { timeout: 8000 }), "seen");
  assert.equal(started, 3);
});

test("envelope: a message dated before the node started is refused (the replay cache cannot know it)", () => {
  const alice = Identity.generate();
  const bob = Identity.generate();
  const now = 1_700_000_000_000;
  const bytes = seal(alice, bob.id, { type: "ping", body: {}, timestamp: now - 1 });
  const r = open(bob, bytes, { now, notBefore: now, replay: new ReplayCache() });
  assert.equal(r.ok ? "ok" : r.reason, "expired");
  const fresh = open(bob, seal(alice, bob.id, { type: "ping", body: {}, timestamp: now }), { now, notBefore: now, replay: new ReplayCache() });
  assert.equal(fresh.ok, true);
});

test("a node opens at most maxNewOutboundPerMinute new connections to peers' brokers", async (t) => {
  const brokers = [await broker(t), await broker(t), await broker(t)];
  const own = await broker(t);
  const tr = new MqttTransport({ id: Identity.generate().id, brokers: [own.url], allowPrivateBrokers: true, maxNewOutboundPerMinute: 2 });
  t.after(() => tr.close());
  await tr.start();
  const peer = Identity.generate().id;
  await tr.send(peer, [brokers[0].url], new Uint8Array(8));
  await tr.send(peer, [brokers[1].url], new Uint8Array(8));
  await assert.rejects(tr.send(peer, [brokers[2].url], new Uint8Array(8)), /new broker connections in a minute/);
  await tr.send(peer, [brokers[0].url], new Uint8Array(8)); // an open one is reused freely
});
