/** The node's address publisher on fake time: seq and expiry from the injected clock, refresh on its timers. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAddress, UNKNOWN_NAT, type AddressInterface } from "../../src/identity/address.ts";
import { Identity } from "../../src/identity/identity.ts";
import { AddressPublisher, defaultInterfaceIndex, withMapping } from "../../src/identity/publisher.ts";
import { FakeTime } from "../../src/util/clock.ts";

const itf = (name: string, isDefault: boolean, v4: string[] = ["192.168.1.5"]): AddressInterface => ({
  name,
  isDefault,
  port: 4000,
  v4: { private: v4, public: [] },
  v6: [],
  nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } },
});

test("seq and expiry come from the injected clock; seq rises even when the clock does not", () => {
  const time = new FakeTime(Date.now()); // parseAddress checks expiry against the real clock
  const changes: string[] = [];
  const p = new AddressPublisher({ identity: Identity.generate(), ttl: 3600, signaling: [], relays: [], clock: time, timers: time, onChange: (t) => changes.push(t) });
  p.publish([itf("eth0", true)]);
  assert.equal(p.address.seq, time.now());
  assert.equal(p.address.expires, Math.floor(time.now() / 1000) + 3600);
  assert.deepEqual(changes, [], "the first signing is not a change");
  p.update(0, (i) => ({ ...i, port: 4001 }));
  assert.equal(p.address.seq, time.now() + 1, "same ms: seq + 1");
  assert.deepEqual(changes, [p.address.text]);
  assert.equal(parseAddress(p.address.text).interfaces[0].port, 4001);
  p.update(0, (i) => ({ ...i, port: 4002 }), { resign: false });
  assert.equal(changes.length, 1, "resign: false leaves the signing to the caller");
  p.stop();
});

test("the address is re-signed at 80% of its lifetime on the injected timers, and stop() ends that", async () => {
  const time = new FakeTime(Date.now());
  const changes: string[] = [];
  const p = new AddressPublisher({ identity: Identity.generate(), ttl: 100, signaling: [], relays: [], clock: time, timers: time, onChange: (t) => changes.push(t) });
  p.publish([itf("eth0", true)]);
  const first = p.address;
  await time.advance(79_999);
  assert.equal(changes.length, 0);
  await time.advance(1);
  assert.equal(changes.length, 1);
  assert.ok(p.address.seq > first.seq && p.address.expires > first.expires);
  p.stop();
  assert.equal(time.pending, 0, "no refresh timer left");
  await time.advance(1_000_000);
  assert.equal(changes.length, 1);
});

test("defaultInterfaceIndex: the default route's interface, else the first, else -1", () => {
  assert.equal(defaultInterfaceIndex([itf("a", false), itf("b", true)]), 1);
  assert.equal(defaultInterfaceIndex([itf("a", false), itf("b", false)]), 0);
  assert.equal(defaultInterfaceIndex([]), -1);
});

test("withMapping: a public external IP is added once, a private one is not; no mapping clears the port", () => {
  const base = itf("eth0", true);
  const mapped = withMapping(base, { externalIp: "203.0.113.7", externalPort: 5000, verified: true });
  assert.deepEqual([mapped.mappedPort, mapped.mappedVerified, mapped.v4.public], [5000, true, ["203.0.113.7"]]);
  assert.deepEqual(withMapping(mapped, { externalIp: "203.0.113.7", externalPort: 5000, verified: false }).v4.public, ["203.0.113.7"]);
  assert.deepEqual(withMapping(base, { externalIp: "10.0.0.1", externalPort: 5000, verified: false }).v4.public, []);
  const cleared = withMapping(mapped, undefined);
  assert.equal(cleared.mappedPort, undefined);
  assert.equal(cleared.mappedVerified, undefined);
  assert.deepEqual(base.v4.public, [], "the input is not modified");
});
