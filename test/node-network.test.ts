/**
 * NodeNetwork on the lifecycle base (src/util/closable.ts): its own close()
 * stops NAT discovery (no waiting for the budget), is memoized, and leaves no
 * socket behind. Discovery runs on fake time against a silent loopback STUN
 * server, so only the close can end it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Identity } from "../src/identity/identity.ts";
import { publishedInterfaces } from "../src/identity/interfaces.ts";
import { AddressPublisher } from "../src/identity/publisher.ts";
import { NodeNetwork } from "../src/node-network.ts";
import { FakeTime } from "../src/util/clock.ts";
import { silentLogger } from "../src/util/logger.ts";
import { badServer } from "./nat/bad-servers.ts";

const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "UDPWRAP" || r === "TCPWRAP" || r === "TCPSocketWrap").length;

/** Event-loop turns until `cond` holds (fake time stands still meanwhile). */
async function until(cond: () => boolean, what: string, turns = 2000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((res) => setImmediate(res));
  assert.ok(cond(), what);
}

function network(stun: string, time: FakeTime, lifetime = new AbortController().signal) {
  const publisher = new AddressPublisher({ identity: Identity.generate(), ttl: 3600, signaling: [], relays: [], clock: time, timers: time, onChange: () => {} });
  publisher.publish(publishedInterfaces([{ name: "lo", v4: ["127.0.0.1"], v6: [], internal: true, isDefault: false }], { hosts: ["127.0.0.1"], port: 1 }));
  return new NodeNetwork({ publisher, stun: [stun], hosts: ["127.0.0.1"], discoveryTimeout: 2000, lifetime, logger: silentLogger, clock: time, timers: time, onNat: () => {} });
}

test("close() on its own stops a discovery that would run to its budget, frees its sockets, and is memoized", async () => {
  const silent = await badServer("silent");
  const time = new FakeTime(Date.now()); // the address parser checks expiry against the real date
  const before = sockets();
  try {
    const n = network(silent.uri, time);
    const timers = time.pending; // the publisher's re-sign timer
    n.startDiscovery();
    await until(() => sockets() > before, "discovery opened its sockets");
    let closed = false;
    const closing = n.close();
    void closing.then(() => (closed = true));
    assert.equal(n.close(), closing, "close twice: one promise");
    assert.equal(n.closed, true);
    assert.equal(n.lifetime.aborted, true, "its lifetime ended with the close");
    await until(() => closed, "close() resolved with no fake time passing: it stopped the discovery");
    assert.equal(await n.natReady(), undefined, "a stopped discovery reports nothing");
    await until(() => sockets() === before, "no discovery socket left (a destroyed socket's handle goes on a later turn)", 20);
    assert.equal(time.pending, timers, "no discovery timer left");
    await n.destroy(); // after close: resolves, runs no second teardown
    n.startDiscovery(); // after close: nothing starts
    assert.equal(sockets(), before);
  } finally {
    await silent.close();
  }
});

test("destroy() first: close() after it returns the destroy's promise; the node's lifetime still stops it too", async () => {
  const silent = await badServer("silent");
  const time = new FakeTime(Date.now()); // the address parser checks expiry against the real date
  try {
    const n = network(silent.uri, time);
    const destroying = n.destroy(new Error("test"));
    assert.equal(n.close(), destroying);
    await destroying;
    const node = new AbortController();
    const m = network(silent.uri, time, node.signal);
    m.startDiscovery();
    node.abort(); // the node closing, as Node.onClose does before it calls close()
    assert.equal(m.lifetime.aborted, true);
    let closed = false;
    void m.close().then(() => (closed = true));
    await until(() => closed, "close() after the node's lifetime ended resolves with no fake time passing");
  } finally {
    await silent.close();
  }
});
