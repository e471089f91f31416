// The embedded broker's lifecycle: memoized close()/destroy(), one teardown, the port freed.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { startBroker } from "../../src/signaling/broker.ts";

test("broker: close() is memoized, destroy() joins it, the listener is gone and clients are dropped", async () => {
  const b = await startBroker({ host: "127.0.0.1", port: 0 });
  const client = net.connect({ host: "127.0.0.1", port: b.port });
  const dropped = once(client, "close");
  client.on("error", () => {});
  await once(client, "connect");
  const first = b.close();
  assert.equal(b.close(), first, "a second close() returns the first call's promise");
  const d = b.destroy();
  assert.equal(b.destroy(), d);
  await Promise.all([first, d]);
  await dropped;
  const again = net.connect({ host: "127.0.0.1", port: b.port });
  const [err] = (await once(again, "error")) as [NodeJS.ErrnoException];
  assert.equal(err.code, "ECONNREFUSED");
});
