/** The node's listening servers on the lifecycle base: close() and destroy() memoized, idempotent, never rejecting; after close nothing is accepted. */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { NodeClosedError } from "../../src/errors.ts";
import { listenAll } from "../../src/server/listener.ts";
import { silentLogger } from "../../src/util/logger.ts";

const connect = (port: number) =>
  new Promise<"connected" | "refused">((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve("connected")));
    s.once("error", () => resolve("refused"));
  });

test("close(): one promise for every call; the servers stop accepting; destroy() afterwards is memoized too", async () => {
  const accepted: net.Socket[] = [];
  const l = await listenAll({ hosts: ["127.0.0.1"], port: 0, maxConnections: 16, logger: silentLogger, onConnection: (s) => void accepted.push(s) });
  assert.equal(await connect(l.port), "connected");
  for (const s of accepted) s.destroy(); // accepted sockets are the caller's: close() waits for them
  assert.equal(l.closed, false);
  const first = l.close();
  assert.equal(l.close(), first, "a second close() returns the first one's promise");
  assert.ok(l.closed && l.lifetime.reason instanceof NodeClosedError);
  await first;
  assert.equal(l.servers.every((s) => !s.listening), true);
  assert.equal(await connect(l.port), "refused");
  const destroyed = l.destroy();
  assert.equal(l.destroy(), destroyed);
  await destroyed; // never rejects, though the servers are long closed
});

test("destroy(err) first: the lifetime carries err, the servers close, close() returns destroy()'s promise", async () => {
  const l = await listenAll({ hosts: ["127.0.0.1"], port: 0, maxConnections: 16, logger: silentLogger, onConnection: (s) => void s.destroy() });
  const err = new Error("stop");
  const destroyed = l.destroy(err);
  assert.equal(l.lifetime.reason, err);
  assert.equal(l.close(), destroyed);
  await destroyed;
  assert.equal(l.servers.every((s) => !s.listening), true);
});
