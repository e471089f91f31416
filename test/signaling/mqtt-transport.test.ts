/** MqttTransport on the lifecycle base: close() and destroy() are memoized, idempotent, never reject, and free every broker connection. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeClosedError, SignalingError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { MqttTransport } from "../../src/signaling/mqtt-transport.ts";

test("close(): one promise for every call, the lifetime aborted, the broker link closed, and nothing works after it", async (t) => {
  const broker = await startBroker({ host: "127.0.0.1", port: 0 });
  t.after(() => broker.close());
  const tr = new MqttTransport({ id: Identity.generate().id, brokers: [broker.url], allowPrivateBrokers: true });
  const status = await tr.start();
  assert.equal(status[0].state, "up");
  assert.equal(tr.closed, false);
  const first = tr.close();
  assert.equal(tr.close(), first, "a second close() returns the first one's promise");
  assert.equal(tr.closed, true, "closed as soon as close() begins");
  assert.ok(tr.lifetime.aborted && tr.lifetime.reason instanceof NodeClosedError, "the lifetime says why");
  await first;
  assert.deepEqual(tr.status(), [{ url: broker.url, state: "closed" }]);
  await assert.rejects(tr.start(), SignalingError);
  await assert.rejects(tr.send(Identity.generate().id, [broker.url], new Uint8Array(1)), SignalingError);
  const destroyed = tr.destroy();
  assert.equal(tr.destroy(), destroyed, "destroy() is memoized too");
  await destroyed; // never rejects
});

test("destroy(err) before any start: the lifetime carries err, close() afterwards returns destroy()'s promise", async () => {
  const tr = new MqttTransport({ id: Identity.generate().id, brokers: [] });
  const err = new Error("gone");
  const destroyed = tr.destroy(err);
  assert.equal(tr.lifetime.reason, err);
  assert.equal(tr.close(), destroyed);
  await destroyed;
});
