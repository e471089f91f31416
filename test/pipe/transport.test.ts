/**
 * The ByteTransport contract (transport-contract.ts), run against both
 * implementations: socketTransport over a real loopback TCP pair, and
 * memoryTransportPair; then what only the memory pair promises.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, it } from "node:test";
import { memoryTransportPair } from "../../src/pipe/memory-transport.ts";
import { socketTransport, type ByteTransport } from "../../src/pipe/transport.ts";
import { recorder, transportContract, written } from "./transport-contract.ts";

const servers = new Set<net.Server>();
const sockets = new Set<net.Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([...servers].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
});

async function tcpPair(): Promise<[ByteTransport, ByteTransport]> {
  const server = net.createServer({ allowHalfOpen: true });
  servers.add(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, allowHalfOpen: true });
  await new Promise<void>((r, j) => client.once("connect", r).once("error", j));
  const peer = await accepted;
  sockets.add(client).add(peer);
  return [socketTransport(client), socketTransport(peer)];
}

transportContract("memory", async () => memoryTransportPair());
transportContract("socket", tcpPair);

describe("memoryTransportPair specifics", () => {
  it("a paused reader holds the writer's callbacks (no kernel buffer): writes complete only as it reads", async () => {
    const [a, b] = memoryTransportPair({ highWaterMark: 100 });
    b.pause();
    let done = 0;
    a.write([Buffer.alloc(10)], () => void done++);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, 0);
    assert.equal(a.writableLength, 10);
    b.resume();
    await new Promise((r) => setImmediate(r));
    assert.equal(done, 1);
    assert.equal(a.bytesDelivered, 10);
  });

  it("maxChunk splits deliveries; the write's callback runs after its last piece", async () => {
    const [a, b] = memoryTransportPair({ maxChunk: 3 });
    const pieces: number[] = [];
    b.on("data", (c) => pieces.push(c.length));
    await written(a, ["abcdefgh"]);
    assert.deepEqual(pieces, [3, 3, 2]);
  });

  it("writes still queued when the peer is destroyed fail, and the writer resets (ECONNRESET)", async () => {
    const [a, b] = memoryTransportPair();
    const ra = recorder(a);
    b.pause();
    const w = written(a, ["never read"]);
    b.destroy();
    await assert.rejects(w);
    await ra.next("close");
    assert.deepEqual(ra.events, ["error:read ECONNRESET", "close"]);
  });
});
