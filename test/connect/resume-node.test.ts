/**
 * A resumable pipe between two real nodes survives the death of its TCP
 * connection: the connecting side connects again (the same race, its
 * handshake naming the pipe), the other side finds the pipe by its resume id,
 * and every message sent before, during and after arrives exactly once, in
 * order. The path runs through a loopback TCP relay the test can cut, as a
 * NAT that flushes its table would.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { encodeAddress } from "../../src/identity/address.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { loopbackNode } from "../support/nodes.ts";

/** A TCP relay on 127.0.0.1 to `port`; cut() kills every connection through it (new ones still work). */
async function cuttableRelay(port: number) {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port });
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    for (const s of pair) s.on("error", () => {}).on("close", () => pairs.delete(pair));
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => pairs.size,
    cut: () => {
      for (const [a, b] of pairs) (a.destroy(), b.destroy());
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("the TCP connection under a resumable pipe dies mid-transfer: a new one carries it on, no message lost or doubled", async () => {
  const pipeOptions = { resumeWindow: 10_000 };
  const b = await loopbackNode({ pipe: pipeOptions });
  const a = await loopbackNode({ pipe: pipeOptions });
  const relay = await cuttableRelay(b.port);
  let inbound = 0;
  b.on("pipe", () => inbound++);
  b.onMessage((m, p) => p.send(`echo ${m.text}`));
  // b's address, but reached through the relay.
  const addr = encodeAddress(b.identity, { ...b.address, seq: b.address.seq + 1, interfaces: b.address.interfaces.map((i) => ({ ...i, port: relay.port })) });
  const pipe: Pipe = await a.connect(addr);
  assert.ok(pipe.resumeId, "both sides said resumable in the handshake");
  const paths: string[] = [];
  pipe.on("path", (e) => paths.push(e.state));
  const echoes: string[] = [];
  const reading = (async () => {
    for await (const m of pipe) if (echoes.push(m.text) === 300) return;
  })();
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < 100; i++) sends.push(pipe.send(`m${i}`));
  await Promise.all(sends);
  relay.cut(); // both TCP legs die at once
  for (let i = 100; i < 300; i++) sends.push(pipe.send(`m${i}`)); // these wait for the new path
  await Promise.all(sends);
  await reading;
  assert.deepEqual(echoes, Array.from({ length: 300 }, (_, i) => `echo m${i}`), "every echo once, in order");
  assert.deepEqual(paths, ["lost", "resumed"]);
  assert.equal(inbound, 1, "b saw one pipe: the new connection continued it");
  assert.equal(b.pipes.size, 1);
  assert.equal(relay.connections(), 1, "the new path is a new connection through the relay");
  await pipe.close();
  await relay.close();
});

test("a node that is not resumable keeps the old behaviour: the pipe ends when its connection dies", async () => {
  const b = await loopbackNode({ pipe: { resumeWindow: 0 } });
  const a = await loopbackNode({ pipe: { resumeWindow: 10_000 } }); // only one side: not resumable
  const relay = await cuttableRelay(b.port);
  const addr = encodeAddress(b.identity, { ...b.address, seq: b.address.seq + 1, interfaces: b.address.interfaces.map((i) => ({ ...i, port: relay.port })) });
  const pipe = await a.connect(addr);
  assert.equal(pipe.resumeId, undefined);
  relay.cut();
  const err = await pipe.closed;
  assert.ok(err, "the pipe failed");
  await relay.close();
});
