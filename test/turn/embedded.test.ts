/**
 * The embedded relay (node-turn with our workarounds): our TURN client against
 * it, one test per node-turn bug we work around (src/turn/embedded.ts).
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { test } from "node:test";
import { decode, encode, getAttribute, longTermKey, Method, newTransactionId, Protocol } from "../../src/stun/codec.ts";
import { TurnClient } from "../../src/turn/client.ts";
import { startEmbeddedRelay, type EmbeddedRelayOptions } from "../../src/turn/embedded.ts";
import { parseTurnServers } from "../../src/turn/uri.ts";
import { FakeTime } from "../../src/util/clock.ts";

const USER = { alice: "relay-test-secret" };

async function relay(o: Partial<EmbeddedRelayOptions> = {}) {
  return startEmbeddedRelay({ port: 0, users: USER, ...o });
}
const server = (url: string) => parseTurnServers([{ urls: url, username: "alice", credential: USER.alice }])[0];

async function udpPeer() {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { sock, addr: { family: 4 as const, address: "127.0.0.1", port: sock.address().port } };
}

test("our client on the embedded relay: allocate, data both ways by indications and by channel (client→peer ChannelData is relayed: workaround 4)", async () => {
  const r = await relay();
  const c = await TurnClient.allocate({ server: server(r.url) });
  const peer = await udpPeer();
  try {
    await c.permit("127.0.0.1");
    const m1 = once(peer.sock, "message");
    c.send(peer.addr, Buffer.from("indication"));
    assert.equal(String((await m1)[0]), "indication");
    const d1 = once(c, "data");
    peer.sock.send("back", c.relayed.port, c.relayed.address);
    assert.equal(Buffer.from((await d1)[1]).toString(), "back");
    await c.bindChannel(peer.addr);
    const m2 = once(peer.sock, "message");
    c.send(peer.addr, Buffer.from("over the channel"));
    assert.equal(String((await m2)[0]), "over the channel");
    const d2 = once(c, "data");
    peer.sock.send("channel back", c.relayed.port, c.relayed.address);
    assert.equal(Buffer.from((await d2)[1]).toString(), "channel back");
  } finally {
    peer.sock.close();
    await c.close();
    await r.close();
  }
});

/** Event-loop turns until `cond` holds (real answers arrive; fake time stands still meanwhile). */
async function until(cond: () => boolean, what: string, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((res) => setImmediate(res));
  assert.ok(cond(), what);
}

test("workarounds 1 and 2: the requested LIFETIME is granted, and the allocation outlives several Refreshes", async () => {
  // The relay's expiry and the client's refreshes both run on fake time.
  const time = new FakeTime();
  const r = await relay({ defaultLifetime: 1, clock: time, timers: time });
  // Asking for 2 s: node-turn alone grants its default (1 s) and the first Refresh deletes the allocation.
  const c = await TurnClient.allocate({ server: server(r.url), lifetime: 2, timers: time });
  const peer = await udpPeer();
  try {
    assert.equal(c.lifetime, 2, "the requested lifetime");
    await c.permit("127.0.0.1");
    // Refreshes at 1, 2 and 3 s (half the lifetime): each one answered before time moves on.
    for (let n = 1; n <= 3; n++) {
      await time.advance(1000);
      await until(() => c.stats.refreshes >= n, `refresh ${n} answered`);
    }
    await time.advance(600); // past the lifetime the first grant had
    assert.equal(c.stats.refreshes, 3);
    assert.equal(c.closed, false);
    assert.equal(r.allocations(), 1);
    const m = once(peer.sock, "message");
    c.send(peer.addr, Buffer.from("still relayed"));
    assert.equal(String((await m)[0]), "still relayed");
  } finally {
    peer.sock.close();
    await c.close();
    await r.close();
  }
});

test("workaround 3: an Allocate retransmitted while the first is still opening its socket does not leak a second relay socket", async () => {
  const range = { minPort: 41000 + (process.pid % 50) * 20, maxPort: 41000 + (process.pid % 50) * 20 + 19 };
  const r = await relay(range);
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", () => res()));
  try {
    const ask = async (attrs: Parameters<typeof encode>[0]["attributes"], key?: Uint8Array, txid = newTransactionId(), times = 1) => {
      const bytes = encode({ method: Method.ALLOCATE, class: "request", transactionId: txid, attributes: attrs }, { integrityKey: key, fingerprint: true });
      const answer = once(sock, "message");
      for (let i = 0; i < times; i++) sock.send(bytes, r.port, r.host);
      return decode(new Uint8Array((await answer)[0]));
    };
    const base = [{ type: "REQUESTED-TRANSPORT" as const, value: Protocol.UDP }];
    const challenge = await ask(base);
    const realm = getAttribute(challenge, "REALM")!;
    const nonce = getAttribute(challenge, "NONCE")!;
    const key = longTermKey("alice", realm, USER.alice);
    const authed = [...base, { type: "USERNAME" as const, value: "alice" }, { type: "REALM" as const, value: realm }, { type: "NONCE" as const, value: nonce }];
    const ok = await ask(authed, key, newTransactionId(), 3); // the same request three times at once
    assert.equal(ok.class, "success");
    // Once a Binding sent after them is answered, the relay has handled the three copies (event order, no sleep).
    const pong = once(sock, "message");
    sock.send(encode({ method: Method.BINDING, class: "request", transactionId: newTransactionId(), attributes: [] }), r.port, r.host);
    await pong;
    assert.equal(r.allocations(), 1);
    assert.equal(udpSocketsIn(range.minPort, range.maxPort), 1, "exactly one relay socket");
  } finally {
    sock.close();
    await r.close();
  }
});

test("workaround 5: close() frees every relay socket and expiry timer (nothing keeps the process alive)", async () => {
  const before = timerHandles();
  const range = { minPort: 42000 + (process.pid % 50) * 20, maxPort: 42000 + (process.pid % 50) * 20 + 19 };
  const r = await relay(range);
  const clients = await Promise.all([1, 2, 3].map(() => TurnClient.allocate({ server: server(r.url) })));
  assert.ok(r.allocations() >= 3);
  assert.ok(udpSocketsIn(range.minPort, range.maxPort) >= 3, "relay sockets are open (node-turn opens one or more per allocation)");
  for (const c of clients) await c.destroy(); // no deallocation: the relay must clean up itself
  await r.close();
  await r.close();
  await new Promise((res) => setImmediate(res));
  assert.equal(udpSocketsIn(range.minPort, range.maxPort), 0, "no relay socket left");
  assert.equal(udpSocketsIn(r.port, r.port), 0, "nor the listener");
  assert.equal(timerHandles(), before, "no timer left");
});

test("close() and destroy() are one memoized teardown: the second call returns the first's promise; nothing is left", async () => {
  const range = { minPort: 43000 + (process.pid % 50) * 20, maxPort: 43000 + (process.pid % 50) * 20 + 19 };
  const r = await relay(range);
  const c = await TurnClient.allocate({ server: server(r.url) });
  assert.equal(r.allocations(), 1);
  const destroying = r.destroy(new Error("test"));
  assert.equal(r.closed, true);
  assert.equal(r.lifetime.aborted, true);
  assert.equal(r.destroy(), destroying, "destroy twice: one promise");
  assert.equal(r.close(), destroying, "close after destroy: the destroy's promise");
  await destroying;
  assert.equal(r.allocations(), 0);
  assert.equal(udpSocketsIn(range.minPort, range.maxPort), 0, "no relay socket left");
  assert.equal(udpSocketsIn(r.port, r.port), 0, "nor the listener");
  await c.destroy();
  const r2 = await relay();
  const closing = r2.close();
  assert.equal(r2.close(), closing, "close twice: one promise");
  await Promise.all([closing, r2.destroy()]); // a destroy during the close waits for the same teardown
  assert.equal(udpSocketsIn(r2.port, r2.port), 0);
});

/** UDP sockets bound on this host with a local port in [min, max] (from /proc/net/udp). */
function udpSocketsIn(min: number, max: number): number {
  return readFileSync("/proc/net/udp", "utf8")
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[1])
    .filter((a) => a && a.includes(":"))
    .map((a) => parseInt(a.split(":")[1], 16))
    .filter((p) => p >= min && p <= max).length;
}
function timerHandles(): number {
  return process.getActiveResourcesInfo().filter((x) => x === "Timeout").length;
}
