import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageTooLargeError, PipeClosedError, TimeoutError } from "../../src/errors.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

async function pair(serverOpts = {}, clientOpts = {}) {
  const server = await loopbackNode(serverOpts);
  const client = await loopbackNode(clientOpts);
  const inbound = new Promise<Pipe>((r) => server.once("pipe", r));
  const pipe = await client.connect(server.addr);
  return { server, client, pipe, inbound: await inbound };
}

test("send/recv text and binary; the pipe reports its strategy, peer and counters", async () => {
  const { server, client, pipe, inbound } = await pair();
  assert.equal(pipe.strategy, "direct");
  assert.equal(pipe.remoteId, server.id);
  assert.equal(inbound.remoteId, client.id);
  assert.equal(inbound.strategy, "direct"); // the initiator tells the responder
  assert.equal(pipe.remoteAddress, "127.0.0.1");
  await pipe.send("hello");
  const m = await inbound.recv({ timeout: 2000 });
  assert.equal(m.text, "hello");
  assert.equal(m.isText, true);
  await inbound.send(new Uint8Array([0, 1, 2, 255]));
  const b = await pipe.recv({ timeout: 2000 });
  assert.equal(b.isText, false);
  assert.deepEqual([...b.data], [0, 1, 2, 255]);
  assert.ok(pipe.bytesSent > 5 && pipe.bytesReceived > 4);
  assert.equal(pipe.stats.messagesSent, 1);
  assert.equal(pipe.stats.messagesReceived, 1);
  await pipe.close();
});

test("node callbacks get messages on pipes the peer opened, not on our own", async () => {
  const { server, client, pipe } = await pair();
  server.onMessage((msg, p) => p.send("echo:" + msg.text));
  let clientCallbacks = 0;
  client.onMessage(() => void clientCallbacks++);
  await pipe.send("ping");
  assert.equal((await pipe.recv({ timeout: 2000 })).text, "echo:ping");
  assert.equal(clientCallbacks, 0);
  await pipe.close();
});

test("a throwing callback does not stop the other callbacks or the pipe", async () => {
  const { server, pipe } = await pair();
  server.onMessage(() => {
    throw new Error("boom");
  });
  server.onMessage((msg, p) => p.send("ok:" + msg.text));
  await pipe.send("x");
  assert.equal((await pipe.recv({ timeout: 2000 })).text, "ok:x");
  await pipe.send("y");
  assert.equal((await pipe.recv({ timeout: 2000 })).text, "ok:y");
  await pipe.close();
});

test("recv with a filter leaves other messages queued; recv times out with TimeoutError", async () => {
  const { pipe, inbound } = await pair();
  await pipe.send("a:1");
  await pipe.send("b:2");
  await pipe.send("a:3");
  assert.equal((await inbound.recv({ filter: "b:", timeout: 2000 })).text, "b:2");
  assert.equal((await inbound.recv({ filter: /^a/, timeout: 2000 })).text, "a:1");
  assert.equal((await inbound.recv({ filter: (m) => m.text.endsWith("3"), timeout: 2000 })).text, "a:3");
  await assert.rejects(inbound.recv({ timeout: 50 }), TimeoutError);
  await pipe.close();
});

test("subscriptions get their own copy; 'message' listeners take messages from the queue", async () => {
  const { pipe, inbound } = await pair();
  const subA = inbound.subscribe("a");
  const seen: string[] = [];
  const onMessage = (m: { text: string }) => seen.push(m.text);
  inbound.on("message", onMessage);
  await pipe.send("a1");
  await pipe.send("b1");
  assert.equal((await subA.next({ timeout: 2000 })).text, "a1");
  await waitFor(() => seen.length === 2, 2000, "listener");
  assert.deepEqual(seen, ["a1", "b1"]);
  inbound.off("message", onMessage);
  subA.close();
  await pipe.send("c1");
  assert.equal((await inbound.recv({ timeout: 2000 })).text, "c1"); // nobody else took it
  await pipe.close();
});

test("for await iterates until the peer closes gracefully, in order", async () => {
  const { pipe, inbound } = await pair();
  for (let i = 0; i < 20; i++) void pipe.send(String(i));
  const closing = pipe.close();
  const got: string[] = [];
  for await (const m of inbound) got.push(m.text);
  await closing;
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => String(i)));
  assert.equal(pipe.state, "closed");
  assert.equal(pipe.error, undefined);
});

test("1,000 sends then close(): the peer receives all 1,000, in order", async () => {
  const { pipe, inbound } = await pair();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) sends.push(pipe.send(`msg ${i}`));
  await pipe.close();
  await Promise.all(sends);
  const got: string[] = [];
  for await (const m of inbound) got.push(m.text);
  assert.equal(got.length, 1000);
  got.forEach((t, i) => assert.equal(t, `msg ${i}`));
  await assert.rejects(pipe.send("late"), PipeClosedError);
  // Sent in one tick, they shared records: far less than a 32-byte record overhead each.
  const payload = got.reduce((n, t) => n + t.length, 0);
  assert.ok(pipe.bytesSent < payload + 1000 * 20, `batched: ${pipe.bytesSent} bytes for ${payload} payload bytes`);
});

test("an oversize message is refused with a clear error and the pipe stays open", async () => {
  const { pipe, inbound } = await pair({ pipe: { maxMessageSize: 1024 } });
  assert.equal(pipe.maxSendSize, 1024); // the peer's smaller limit applies
  await assert.rejects(pipe.send(new Uint8Array(1025)), (err: Error) => err instanceof MessageTooLargeError && /1025 bytes exceeds/.test(err.message));
  await pipe.send(new Uint8Array(1024));
  assert.equal((await inbound.recv({ timeout: 2000 })).data.length, 1024);
  await pipe.close();
});

test("close() is idempotent and pending recv() on a closed pipe rejects with PipeClosedError", async () => {
  const { pipe, inbound } = await pair();
  const waiting = assert.rejects(inbound.recv({ timeout: 5000 }), PipeClosedError);
  await Promise.all([pipe.close(), pipe.close()]);
  await pipe.close();
  await waiting;
  await assert.rejects(inbound.recv(), PipeClosedError);
});

test("destroy() fails pending operations at once with the given error", async () => {
  const { pipe, inbound } = await pair();
  const waiting = assert.rejects(pipe.recv({ timeout: 5000 }), TimeoutError);
  pipe.destroy(new TimeoutError("test"));
  await waiting;
  const err = await inbound.closed;
  assert.ok(err instanceof PipeClosedError, `peer sees the cut: ${err}`);
});

test("keepalives measure round-trip time over TCP (exact values: pipe-memory.test.ts on fake time)", async () => {
  const { pipe } = await pair({}, { pipe: { keepaliveInterval: 20 } });
  assert.equal(pipe.rtt, undefined, "nothing measured before the first keepalive");
  await waitFor(() => pipe.rtt !== undefined, 3000, "rtt");
  assert.equal(typeof pipe.rtt, "number");
  assert.ok(Number.isInteger(pipe.rtt), `whole ms from the echoed timestamp: ${pipe.rtt}`);
  await pipe.close();
});

test("replies to messages that came before the peer's close are still delivered", async () => {
  const { server, pipe } = await pair();
  server.onMessage((m, p) => p.send("re:" + m.text));
  void pipe.send("a");
  void pipe.send("b");
  await pipe.close(); // a, b and CLOSE travel together; the server answers both before closing
  const got: string[] = [];
  for await (const m of pipe) got.push(m.text);
  assert.deepEqual(got, ["re:a", "re:b"]);
  assert.equal(pipe.error, undefined);
});
