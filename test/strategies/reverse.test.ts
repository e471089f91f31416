import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { encodeAddress } from "../../src/identity/address.ts";
import { ConnectError, DialError, PeerIdentityError, ProtocolError, RefusedError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { Signaling } from "../../src/signaling/signaling.ts";
import net from "node:net";
import { parseAddress, UNKNOWN_NAT, type NodeAddress } from "../../src/identity/address.ts";
import { mayDialFor } from "../../src/strategies/dial-policy.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { ReverseStrategy } from "../../src/strategies/reverse.ts";
import { DirectStrategy } from "../../src/strategies/direct.ts";
import type { ResponderContext } from "../../src/strategies/strategy.ts";
import { FakeTime, type Timers } from "../../src/util/clock.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

let broker: Awaited<ReturnType<typeof startBroker>>;
before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await broker.close();
});

const opts = () => ({ signaling: [broker.url], allowPrivate: true });

test("reverse: the peer dials us back; matched by identity and token; the pipe works both ways", async () => {
  const a = await loopbackNode(opts());
  const b = await loopbackNode(opts());
  b.onMessage((m, p) => p.send("b:" + m.text));
  const bPipe = new Promise<Pipe>((r) => b.once("pipe", r));
  const pipe = await a.connect(b.addr, { strategies: ["reverse"], timeout: 10_000 });
  assert.equal(pipe.strategy, "reverse");
  assert.equal(pipe.remoteId, b.id);
  const inbound = await bPipe;
  assert.equal(inbound.strategy, "reverse");
  assert.equal(inbound.remoteId, a.id);
  await pipe.send("hi");
  assert.equal((await pipe.recv({ timeout: 5000 })).text, "b:hi", "b's callbacks answer: a opened the session");
  await pipe.close();
});

test("connect by node id alone: the address is fetched over signaling first", async () => {
  const a = await loopbackNode(opts());
  const b = await loopbackNode(opts());
  b.onMessage((m, p) => p.send(m.text));
  const fetched = await a.fetchAddress(b.id, [broker.url]);
  assert.equal(fetched.id, b.id);
  assert.equal(fetched.text, b.addr);
  const pipe = await a.connect(b.id, { brokers: [broker.url] });
  await pipe.send("x");
  assert.equal((await pipe.recv({ timeout: 5000 })).text, "x");
  await pipe.close();
});

test("a third party cannot make a node dial an address outside the requester's own signed address", async () => {
  const victim = await loopbackNode({ signaling: [broker.url] }); // allowPrivate off: like a real deployment
  const target = await loopbackNode(opts()); // someone the attacker would like flooded
  const attacker = Identity.generate();
  const sig = new Signaling({ identity: attacker, brokers: [broker.url], allowPrivateBrokers: true });
  await sig.start();
  try {
    // 1. An address that belongs to another node (target's, validly signed by target).
    await assert.rejects(sig.request(victim.id, [broker.url], "reverse-connect", { address: target.addr, token: "A".repeat(24) }, { timeout: 5000 }), RefusedError);
    // 2. The attacker's own signed address listing the target's endpoint: private → never dialled.
    const own = encodeAddress(attacker, { ...target.address, seq: 1 });
    let accepted = 0;
    target.on("pipe", () => accepted++);
    await assert.rejects(sig.request(victim.id, [broker.url], "reverse-connect", { address: own, token: "B".repeat(24) }, { timeout: 9000 }), DialError);
    assert.equal(accepted, 0);
  } finally {
    await sig.close();
  }
});

test("reverse fails cleanly when the peer cannot reach us, and connect() reports every strategy", async () => {
  const a = await loopbackNode(opts());
  const b = await loopbackNode({ signaling: [broker.url] }); // b refuses to dial private endpoints
  await assert.rejects(a.connect(b.addr, { strategies: ["reverse"], timeout: 8000 }), (e: Error) => e instanceof ConnectError && /reverse: the peer could not connect to us/.test(e.message));
});

test("an address signed by another key than the server's: PeerIdentityError (the reverse impostor: test/compliance)", async () => {
  const a = await loopbackNode(opts());
  const b = await loopbackNode(opts());
  const impostor = encodeAddress(Identity.generate(), { ...b.address, seq: 5 });
  // The impostor's address points at b's endpoints and brokers, but b's key answers.
  await assert.rejects(a.connect(impostor, { strategies: ["direct"], timeout: 5000 }), PeerIdentityError);
});

/** A signed address of `who` with one interface (public and private IPv4s, a port). */
function signedAddress(who: Identity, pub: string[], priv: string[], port: number): string {
  const nat = { tcp: UNKNOWN_NAT, udp: UNKNOWN_NAT };
  const itf = { name: "e", isDefault: true, port, v4: { public: pub, private: priv }, v6: [], nat };
  return encodeAddress(who, { seq: 1, expires: Math.floor(Date.now() / 1000) + 600, interfaces: [itf], signaling: [], relays: [] });
}

/**
 * The responder side of reverse connect, alone: fake time in its context (the
 * clock can be skewed by hand, to stand for time a dial takes) and a context
 * that must not handshake. `sleeps` records every timer the responder sets.
 */
function responder(me: Identity, local: string, mayDial: (requester: NodeAddress, host: string) => boolean) {
  const time = new FakeTime();
  let skew = 0;
  const clock = { now: () => time.now() + skew };
  const sleeps: number[] = [];
  const timers: Timers = {
    setTimeout: (fn, ms) => (sleeps.push(ms), time.setTimeout(fn, ms)),
    clearTimeout: (h) => time.clearTimeout(h),
  };
  const reverse = new ReverseStrategy({ dialTimeout: 5000, }, new DirectStrategy({ attemptTimeout: 5000 }));
  const ctx: ResponderContext = {
    identity: me,
    local: parseAddress(local),
    stun: [],
    logger: silentLogger,
    clock,
    timers,
    secure: () => Promise.reject(new Error("no handshake expected")),
    adopt: () => assert.fail("nothing may be adopted"),
    mayDial,
    background: () => {},
  };
  const handle = (body: unknown, from: string) => reverse.responders["reverse-connect"].handle(body, from, ctx, new AbortController().signal);
  const handleWith = (over: Partial<ResponderContext>, body: unknown, from: string) => reverse.responders["reverse-connect"].handle(body, from, { ...ctx, ...over }, new AbortController().signal);
  return { time, sleeps, handle, handleWith, skew: (ms: number) => void (skew += ms) };
}

/** Settles to "pending" unless `p` has settled by now (after I/O had a turn). */
async function state(p: Promise<unknown>): Promise<"pending" | "settled"> {
  const mark = {};
  const r = await Promise.race([p.then(() => "settled" as const, () => "settled" as const), new Promise((res) => setImmediate(() => res(mark)))]);
  return r === mark ? "pending" : (r as "settled");
}

test("reverse responder: the LAN-scanner request (our public IP claimed, loopback/LAN endpoints listed) dials nothing", async () => {
  // A trap the attacker would like probed (think 127.0.0.1:6379).
  let probes = 0;
  const trap = net.createServer((s) => (probes++, s.destroy()));
  await new Promise<void>((r) => trap.listen(0, "127.0.0.1", r));
  const trapPort = (trap.address() as net.AddressInfo).port;
  const victim = Identity.generate();
  const r = responder(victim, signedAddress(victim, ["203.0.113.5"], ["10.0.0.2"], 4000), (requester, host) => mayDialFor({ requester, host, allowPrivate: false, seenOnLan: false }));
  const attacker = Identity.generate();
  const claim = signedAddress(attacker, ["203.0.113.5"], ["127.0.0.1", "10.0.0.5", "169.254.169.254"], trapPort);
  try {
    const p = r.handle({ address: claim, token: "C".repeat(24) }, attacker.id);
    const rejected = assert.rejects(p, DialError);
    assert.deepEqual(r.sleeps, [5000], "the only timer: the answer is due dialTimeout after the request, like every other failure");
    await r.time.advance(4999);
    assert.equal(await state(p), "pending", "not answered before dialTimeout");
    await r.time.advance(1);
    await rejected;
    assert.equal(probes, 0, "nothing was dialled");
    assert.equal(r.time.pending, 0, "no timer left behind");
  } finally {
    trap.close();
  }
});

test("reverse responder: one request dials at most 4 of the requester's endpoints, however many it lists", async () => {
  // Six listening endpoints the requester lists (allowPrivate here: the cap must hold even when every one may be dialled).
  const ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"];
  const reached = new Set<string>();
  const servers: net.Server[] = [];
  let port = 0;
  for (const ip of ips) {
    const srv = net.createServer((s) => (reached.add(ip), s.on("error", () => {})));
    await new Promise<void>((r) => srv.listen(port, ip, r));
    port = (srv.address() as net.AddressInfo).port;
    servers.push(srv);
  }
  const me = Identity.generate();
  const r = responder(me, signedAddress(me, [], ["127.0.0.1"], 4000), () => true);
  let handshakes = 0;
  const peer = Identity.generate();
  try {
    const p = r.handleWith({ secure: () => (handshakes++, Promise.reject(new Error("not this one"))) }, { address: signedAddress(peer, [], ips, port), token: "E".repeat(24) }, peer.id);
    const rejected = assert.rejects(p, DialError);
    await waitFor(() => handshakes >= 4, 5000, "four dials");
    for (let i = 0; i < 20 && (await state(p)) === "pending"; i++) await r.time.advance(5000);
    await rejected;
    assert.equal(handshakes, 4, "four endpoints dialled, not six");
    await waitFor(() => reached.size >= 4, 2000, "the connections to arrive");
    assert.equal(reached.size, 4, `reached ${[...reached].join(", ")}`);
  } finally {
    for (const srv of servers) srv.close();
  }
});

test("reverse responder: a refused dial is answered at the same moment as a filtered one (constant time)", async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r())); // nothing listens there now: ECONNREFUSED at once
  const me = Identity.generate();
  const r = responder(me, signedAddress(me, [], ["127.0.0.1"], 4000), () => true); // allowPrivate: the refusal must be reached
  const peer = Identity.generate();
  const p = r.handle({ address: signedAddress(peer, [], ["127.0.0.1"], port), token: "D".repeat(24) }, peer.id);
  const rejected = assert.rejects(p, DialError);
  r.skew(7); // the refusal takes 7 ms on this clock
  // The attempt's deadline and its TCP connect's (5000 each) first, then, once refused, the wait for the common answer time.
  await waitFor(() => r.sleeps.length === 3, 5000, "the refusal");
  assert.deepEqual(r.sleeps, [5000, 5000, 4993], "answered exactly dialTimeout after the request");
  assert.equal(r.time.pending, 1, "the attempt's timer was freed on the refusal");
  await r.time.advance(4992);
  assert.equal(await state(p), "pending");
  await r.time.advance(1);
  await rejected;
  assert.equal(r.time.pending, 0);
});

test("reverse responder: a body that is not a reverse-connect request is a ProtocolError; someone else's address is refused", async () => {
  const me = Identity.generate();
  const r = responder(me, signedAddress(me, [], ["127.0.0.1"], 4000), () => assert.fail("nothing may be dialled"));
  const peer = Identity.generate();
  const other = Identity.generate();
  await assert.rejects(r.handle({ address: 5, token: "E".repeat(24) }, peer.id), ProtocolError);
  await assert.rejects(r.handle({ address: signedAddress(peer, [], ["127.0.0.1"], 1), token: "short" }, peer.id), ProtocolError);
  await assert.rejects(r.handle({ address: "p2p1garbage", token: "E".repeat(24) }, peer.id), (e: Error) => e instanceof RefusedError && /address is invalid/.test(e.message));
  await assert.rejects(r.handle({ address: signedAddress(other, [], ["127.0.0.1"], 1), token: "E".repeat(24) }, peer.id), (e: Error) => e instanceof RefusedError && /belongs to another node/.test(e.message));
  assert.deepEqual(r.sleeps, [], "refused before any dial or wait");
});
