/**
 * connect() under the node's lifetime and its deadline, on fake time: nothing
 * here waits on the wall clock, so a connect() that is not stopped hangs and
 * fails the test instead of passing late.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { AbortError, NodeClosedError, TimeoutError } from "../../src/errors.ts";
import { encodeAddress } from "../../src/identity/address.ts";
import { Identity } from "../../src/identity/identity.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { loopbackNode } from "../support/nodes.ts";

/** A connect() nothing stops hangs on fake time; this turns the hang into a failure (a guard, not a timing assertion). */
const HANG = { timeout: 60_000 };

/** A TCP server that accepts and reads but never says a word; `connections` counts what it accepted. */
async function silentServer(t: { after(fn: () => unknown): void }) {
  const sockets = new Set<net.Socket>();
  let onConnection: () => void = () => {};
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.resume();
    onConnection();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { port, connected: () => new Promise<void>((r) => (sockets.size ? r() : (onConnection = r))) };
}

/** A signed address of a fresh identity that points at `port` (so the handshake meets a silent peer). */
async function addressAt(port: number): Promise<string> {
  const target = await loopbackNode();
  return encodeAddress(target.identity, { ...target.address, seq: 9, interfaces: target.address.interfaces.map((i) => ({ ...i, port })) });
}

test("close() during a connect() to a peer that never answers: connect rejects with NodeClosedError, then close resolves", HANG, async (t) => {
  const silent = await silentServer(t);
  const addr = await addressAt(silent.port);
  const time = new FakeTime(Date.now());
  const node = await loopbackNode({ clock: time, timers: time, handshakeTimeout: 3_600_000, connectTimeout: 3_600_000 });
  const order: string[] = [];
  const steps: string[] = [];
  const call = node.connect(addr, { onProgress: (event) => steps.push(event) }).then(
    () => order.push("connect resolved"),
    (err: Error) => order.push(`connect rejected: ${err.constructor.name} ${(err as NodeClosedError).code}`),
  );
  await silent.connected(); // the dial is through; the handshake now waits for ever
  assert.deepEqual(steps, ["strategy", "dial"]);
  const closing = node.close().then(() => order.push("close resolved"));
  await Promise.all([call, closing]);
  assert.deepEqual(order, ["connect rejected: NodeClosedError P2P_ERR_NODE_CLOSED", "close resolved"]);
  assert.equal(steps.at(-1), "strategy-cancelled", "the strategy was stopped, not left running (and said nothing after)");
  assert.equal(node.pipes.size, 0);
});

test("connect() after close(): NodeClosedError, and close() twice returns the same settled promise", async () => {
  const node = await loopbackNode();
  const first = node.close();
  assert.equal(node.close(), first, "memoized");
  await first;
  await assert.rejects(node.connect(node.addr), NodeClosedError);
});

test("the caller's signal aborting a connect(): AbortError (not NodeClosedError, not TimeoutError)", HANG, async (t) => {
  const silent = await silentServer(t);
  const addr = await addressAt(silent.port);
  const time = new FakeTime(Date.now());
  const node = await loopbackNode({ clock: time, timers: time, handshakeTimeout: 3_600_000 });
  const ctrl = new AbortController();
  const call = node.connect(addr, { signal: ctrl.signal, timeout: 3_600_000 });
  await silent.connected();
  ctrl.abort();
  await assert.rejects(call, (e: Error) => e instanceof AbortError && !(e instanceof TimeoutError) && (e as AbortError).code === "P2P_ERR_ABORTED");
  assert.equal(node.closed, false, "only the call was stopped");
});

test("connect()'s own deadline on the node's timers: TimeoutError once fake time passes it, not before", HANG, async (t) => {
  const silent = await silentServer(t);
  const addr = await addressAt(silent.port);
  const time = new FakeTime(Date.now());
  const node = await loopbackNode({ clock: time, timers: time, handshakeTimeout: 3_600_000 });
  let settled: unknown = "pending";
  const call = node.connect(addr, { timeout: 5000 }).then(
    () => (settled = "resolved"),
    (err: unknown) => (settled = err as Error),
  );
  await silent.connected();
  await time.advance(4999);
  assert.equal(settled, "pending", "1 ms before the deadline it still waits");
  await time.advance(1);
  await call;
  assert.ok((settled as unknown) instanceof TimeoutError, String(settled));
  assert.match(((settled as unknown) as Error).message, /within 5000 ms/);
});

test("close() while connect() by id waits for the peer's address: NodeClosedError, after the fetch-address step", HANG, async (t) => {
  const broker = await startBroker({ host: "127.0.0.1", port: 0 });
  t.after(() => broker.close());
  const time = new FakeTime(Date.now());
  const node = await loopbackNode({ clock: time, timers: time, signaling: [broker.url], allowPrivate: true });
  const nobody = Identity.generate().id; // no node answers for it; on fake time the request never times out
  const order: string[] = [];
  const call = node.connect(nobody, { brokers: [broker.url], onProgress: (event) => order.push(event) }).then(
    () => order.push("connect resolved"),
    (err: Error) => order.push(`connect rejected: ${err.constructor.name}`),
  );
  const closing = node.close().then(() => order.push("close resolved"));
  await Promise.all([call, closing]);
  assert.deepEqual(order, ["fetch-address", "connect rejected: NodeClosedError", "close resolved"]);
});

test("destroy() is close() for a node: lifetime aborted, 'close' emitted once, and a later close() is the same settled teardown", async () => {
  const node = await loopbackNode();
  let closes = 0;
  node.on("close", () => closes++);
  assert.equal(node.lifetime.aborted, false);
  const destroying = node.destroy(new Error("test"));
  assert.equal(node.lifetime.aborted, true, "aborted as soon as destroy() begins");
  await destroying;
  await node.close();
  assert.equal(closes, 1);
  assert.equal(node.closed, true);
});
