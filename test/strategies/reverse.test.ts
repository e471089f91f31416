import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { encodeAddress } from "../../src/identity/address.ts";
import { ConnectError, DialError, PeerIdentityError, RefusedError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { Signaling } from "../../src/signaling/signaling.ts";
import net from "node:net";
import { parseAddress, UNKNOWN_NAT, type NodeAddress } from "../../src/identity/address.ts";
import { mayDialFor } from "../../src/connect/dial-policy.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { ReverseStrategy } from "../../src/strategies/reverse.ts";
import { loopbackNode } from "../support/nodes.ts";

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

test("a reverse token answered by the wrong identity does not complete connect()", async () => {
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

/** The responder side of reverse connect, alone: a fake clock and sleep, and a context that must not handshake. */
function responder(me: Identity, local: string, mayDial: (requester: NodeAddress, host: string) => boolean) {
  const clock = { now: 50_000 };
  const sleeps: number[] = [];
  const reverse = new ReverseStrategy({ dialTimeout: 5000 }, undefined, { clock: () => clock.now, sleep: async (ms) => void sleeps.push(ms) });
  const ctx = {
    identity: me,
    local: parseAddress(local),
    stun: [],
    logger: silentLogger,
    secure: () => Promise.reject(new Error("no handshake expected")),
    adopt: () => assert.fail("nothing may be adopted"),
    mayDial,
    background: () => {},
  };
  const handle = (body: unknown, from: string) => reverse.responders["reverse-connect"].handle(body, from, ctx as never, new AbortController().signal);
  return { clock, sleeps, handle };
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
    await assert.rejects(r.handle({ address: claim, token: "C".repeat(24) }, attacker.id), DialError);
    assert.equal(probes, 0, "nothing was dialled");
    assert.deepEqual(r.sleeps, [5000], "the failure is answered dialTimeout after the request, like every other failure");
  } finally {
    trap.close();
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
  r.clock.now += 7; // the refusal takes 7 ms on this clock
  await assert.rejects(p, DialError);
  assert.deepEqual(r.sleeps, [4993], "answered exactly dialTimeout after the request");
});
