// start() must not sit out its whole startTimeoutMs when every broker has already failed:
// the CLI would print its address (and the user wait) for nothing (issue 13 item 4).
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { Identity } from "../../src/identity/identity.ts";
import { MqttTransport } from "../../src/signaling/mqtt-transport.ts";

test("start() returns once every broker has failed once, with each one's state", { timeout: 30_000 }, async (t) => {
  // A port with nothing listening: connects are refused at once.
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const tr = new MqttTransport({ id: Identity.generate().id, brokers: [`mqtt://127.0.0.1:${port}`], startTimeoutMs: 600_000, reconnectInitialMs: 60_000 });
  t.after(() => tr.close());
  const status = await tr.start(); // with the old wait this would take the full 600 s and the test would time out
  assert.equal(status.length, 1);
  assert.notEqual(status[0].state, "up");
  assert.ok(status[0].error, "the failure is reported");
});
