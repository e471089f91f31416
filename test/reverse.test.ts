import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { encodeAddress } from "../src/address.ts";
import { ConnectError, DialError, PeerIdentityError, RefusedError } from "../src/errors.ts";
import { Identity } from "../src/identity.ts";
import type { Pipe } from "../src/pipe.ts";
import { startBroker } from "../src/signaling/broker.ts";
import { Signaling } from "../src/signaling/signaling.ts";
import { loopbackNode } from "./support/nodes.ts";

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
    await assert.rejects(sig.request(victim.id, [broker.url], "reverse-connect", { address: own, token: "B".repeat(24) }, { timeout: 5000 }), DialError);
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
