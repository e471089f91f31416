import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { test } from "node:test";
import { encodeAddress } from "../src/identity/address.ts";
import { ConnectError, DialError, FrameError, MessageTooLargeError, PeerIdentityError, PeerTimeoutError, PipeClosedError, RefusedError, TimeoutError } from "../src/errors.ts";
import { encodeFrameHeader, FrameType } from "../src/session/frame.ts";
import { handshake } from "../src/session/handshake.ts";
import { Identity } from "../src/identity/identity.ts";
import { Pipe } from "../src/pipe/pipe.ts";
import { FakeTime } from "../src/util/clock.ts";
import { loopbackNode, waitFor } from "./support/nodes.ts";

const root = new URL("..", import.meta.url).pathname;

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => resolve(s));
    s.once("error", reject);
  });
}

function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    // A FIN ('end') or a reset ('close') both mean the node dropped us.
    const done = () => {
      clearTimeout(t);
      resolve(true);
    };
    socket.once("end", done);
    socket.once("close", done);
    socket.on("error", () => {});
    socket.resume();
  });
}

/** Handshakes with `node` as a raw initiator, so the test controls every byte after it. */
async function rawSession(port: number, maxMessageSize = 4 * 1024 * 1024) {
  const socket = await rawConnect(port);
  const session = await handshake(socket, { identity: Identity.generate(), role: "initiator", params: { maxMessageSize }, timeout: 2000 });
  return { socket, session };
}

test("garbage bytes to the node's port: connection dropped, node keeps serving", async () => {
  const server = await loopbackNode({ handshakeTimeout: 2000 });
  server.onMessage((m, p) => p.send(m.text));
  const junk = await rawConnect(server.port);
  junk.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.ok(await closedWithin(junk, 8000), "garbage connection is closed");
  const client = await loopbackNode();
  const pipe = await client.connect(server.addr);
  await pipe.send("still here");
  assert.equal((await pipe.recv({ timeout: 2000 })).text, "still here");
  await pipe.close();
});

test("a peer whose key differs from the address: PeerIdentityError, socket closed", async () => {
  const server = await loopbackNode();
  const impostorId = Identity.generate();
  // An address naming another identity but pointing at this server's port.
  const forged = encodeAddress(impostorId, { ...server.address, seq: 1 });
  const client = await loopbackNode();
  const inbound: Pipe[] = [];
  server.on("pipe", (p) => inbound.push(p));
  await assert.rejects(client.connect(forged, { timeout: 3000 }), PeerIdentityError);
  assert.equal(client.pipes.size, 0);
  // The forged attempt can never authenticate on the server (the client left before its last
  // handshake message): after a genuine round trip, the genuine pipe is the server's only one.
  server.onMessage((m, p) => p.send(m.text));
  const genuine = await client.connect(server.addr);
  await genuine.send("ping");
  assert.equal((await genuine.recv({ timeout: 2000 })).text, "ping");
  assert.deepEqual(inbound.map((p) => p.remoteId), [client.id], "the server never got a pipe from the forged attempt");
  await genuine.close();
});

test("a peer that stops mid-handshake is cut off after the handshake timeout", async () => {
  const server = await loopbackNode({ handshakeTimeout: 300 });
  const s = await rawConnect(server.port);
  s.write(Buffer.from([0, 34, 1, 1])); // a hello header, then nothing
  assert.ok(await closedWithin(s, 8000), "server closed the stalled handshake");
});

test("connect() to a silent server: the handshake times out, so direct fails and connect() rejects with ConnectError", async () => {
  const silent = net.createServer((s) => s.resume()); // accepts TCP, reads, never answers
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as net.AddressInfo).port;
  const target = await loopbackNode();
  const addr = encodeAddress(target.identity, { ...target.address, seq: 9, interfaces: target.address.interfaces.map((i) => ({ ...i, port })) });
  // connect()'s own deadline is on fake time that never moves: only the (real) handshake timeout can end this.
  const time = new FakeTime(Date.now());
  const client = await loopbackNode({ handshakeTimeout: 400, clock: time, timers: time });
  const steps: string[] = [];
  const err = await client.connect(addr, { timeout: 1500, onProgress: (e) => steps.push(e) }).then(
    () => assert.fail("connected to a silent server"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConnectError, String(err));
  assert.equal(err.code, "P2P_ERR_CONNECT");
  assert.equal(err.errors.length, 1, "one strategy (direct) was tried");
  assert.ok(err.errors[0] instanceof DialError, String(err.errors[0]));
  assert.match(err.errors[0].message, /P2P_ERR_TIMEOUT: handshake did not complete within 400 ms/);
  assert.deepEqual(steps, ["strategy", "dial", "dial-failed", "strategy-failed"]);
  await new Promise<void>((r) => silent.close(() => r()));
});

test("connect() where nothing listens: ConnectError naming the refused endpoint", async () => {
  const gone = await loopbackNode();
  const addr = gone.addr;
  await gone.close();
  const client = await loopbackNode();
  await assert.rejects(client.connect(addr, { timeout: 3000 }), (e: Error) => e instanceof ConnectError && /ECONNREFUSED/.test(e.message));
});

test("truncated frame then FIN: the pipe fails with PipeClosedError, no hang", async () => {
  const server = await loopbackNode();
  const got = new Promise<Pipe>((r) => server.once("pipe", r));
  const { socket, session } = await rawSession(server.port);
  const inbound = await got;
  const record = Buffer.concat(session.channel.seal([encodeFrameHeader(FrameType.DATA, 0, 1, 0), Buffer.from("hello world")]));
  socket.end(record.subarray(0, record.length - 5));
  const err = await inbound.closed;
  assert.ok(err instanceof PipeClosedError, String(err));
  await assert.rejects(inbound.recv({ timeout: 1000 }), PipeClosedError);
});

test("a forged frame closes the pipe with FrameError", async () => {
  const server = await loopbackNode();
  const got = new Promise<Pipe>((r) => server.once("pipe", r));
  const { socket, session } = await rawSession(server.port);
  const inbound = await got;
  const record = Buffer.concat(session.channel.seal([encodeFrameHeader(FrameType.DATA, 0, 1, 0), Buffer.from("hello")]));
  record[record.length - 1] ^= 1; // flip one bit of the tag
  socket.write(record);
  assert.ok((await inbound.closed) instanceof FrameError);
  assert.ok(await closedWithin(socket, 2000));
});

test("a peer that ignores our size limit: MessageTooLargeError on both sides", async () => {
  const server = await loopbackNode({ pipe: { maxMessageSize: 1000 } });
  const got = new Promise<Pipe>((r) => server.once("pipe", r));
  const { socket, session } = await rawSession(server.port);
  const inbound = await got;
  // The misbehaving sender pretends the limit is larger than the server said.
  const liar = new Pipe({ stream: socket, session: { ...session, remoteParams: { maxMessageSize: 1 << 20 } }, role: "initiator", strategy: "direct", inbound: false });
  await liar.send(new Uint8Array(5000)).catch(() => {});
  assert.ok((await inbound.closed) instanceof MessageTooLargeError);
  assert.ok((await liar.closed) instanceof MessageTooLargeError, "the sender is told why");
});

test("500 concurrent connects to one node all succeed", async () => {
  const server = await loopbackNode();
  server.onMessage((m, p) => p.send(m.text));
  const client = await loopbackNode();
  const pipes = await Promise.all(Array.from({ length: 500 }, () => client.connect(server.addr, { timeout: 60_000 })));
  assert.equal(pipes.length, 500);
  await Promise.all(pipes.map(async (p, i) => {
    await p.send(`n${i}`);
    assert.equal((await p.recv({ timeout: 30_000 })).text, `n${i}`);
  }));
  await waitFor(() => server.pipes.size === 500, 5000, "500 inbound pipes");
  await Promise.all(pipes.map((p) => p.close()));
});

test("a receiver that does not read: send() waits, the sender stays a bounded number of messages ahead, nothing is lost", async () => {
  const server = await loopbackNode();
  const got = new Promise<Pipe>((r) => server.once("pipe", r));
  const client = await loopbackNode();
  const pipe = await client.connect(server.addr);
  const inbound = await got;
  const chunk = new Uint8Array(1024 * 1024);
  let sent = 0;
  const sender = (async () => {
    for (let i = 0; i < 100; i++) {
      chunk[0] = i;
      await pipe.send(chunk);
      sent++;
    }
  })();
  // The receiver's queue fills first (it holds up to 16 MiB unread)…
  await waitFor(() => inbound.stats.messagesReceived >= 8, 10_000, "the receiver's queue to fill");
  // …and from then on, at every read, the sender is at most the queue, the socket buffers and
  // what is in flight ahead (48 MiB, far below 100): send() waited for the reader. If it did
  // not wait, all 100 sends would have resolved at once.
  const ahead: number[] = [];
  for (let n = 0; n < 100; n++) {
    ahead.push(sent - n);
    const m = await inbound.recv({ timeout: 10_000 });
    assert.equal(m.data[0], n, "in order, none lost");
  }
  await sender;
  assert.equal(sent, 100);
  assert.ok(Math.max(...ahead) <= 48, `the sender ran ${Math.max(...ahead)} messages ahead of the reader`);
  await pipe.close();
});

test("a peer that freezes without a FIN: recv() and send() fail with PeerTimeoutError", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/peer.ts", "listen"], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.once("data", (d) => resolve(String(d)));
      child.once("exit", () => reject(new Error("peer exited")));
    });
    // Not resumable: a resumable pipe would take the silence for a lost path and wait out its window.
    const client = await loopbackNode({ pipe: { keepaliveInterval: 100, deadPeerTimeout: 800, resumeWindow: 0 } });
    const pipe = await client.connect(JSON.parse(line).addr);
    await pipe.send("alive?");
    assert.equal((await pipe.recv({ timeout: 5000 })).text, "alive?");
    child.kill("SIGSTOP"); // the kernel still ACKs; the peer's process says nothing more
    // Not a TimeoutError of recv() itself: the dead-peer timeout (800 ms) ends it long before.
    await assert.rejects(pipe.recv({ timeout: 10_000 }), PeerTimeoutError);
    await assert.rejects(pipe.send("anyone?"), PeerTimeoutError);
  } finally {
    child.kill("SIGKILL");
  }
});

test("a process that called close() exits on its own", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/peer.ts", "roundtrip"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      resolve(-1);
    }, 15_000);
    child.once("exit", (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.equal(out.trim(), "closed");
  assert.equal(code, 0, "exited by itself (not killed)");
});

test("a node can connect to itself, and close() twice is fine", async () => {
  const node = await loopbackNode();
  node.onMessage((m, p) => p.send("self:" + m.text));
  const pipe = await node.connect(node.addr);
  await pipe.send("hi");
  assert.equal((await pipe.recv({ timeout: 2000 })).text, "self:hi");
  await Promise.all([node.close(), node.close()]);
  await assert.rejects(node.connect(node.addr), /closed/);
});

test("a dial-back carrying a reverse token nobody waits for (a cancelled race attempt) is closed, not made an inbound pipe", async () => {
  const node = await loopbackNode();
  let pipes = 0;
  node.on("pipe", () => pipes++);
  try {
    const socket = await rawConnect(node.port);
    await handshake(socket, { identity: Identity.generate(), role: "initiator", params: { maxMessageSize: 1 << 20, strategy: "reverse", token: "a-token-no-connect-waits-for" }, timeout: 2000 });
    assert.ok(await closedWithin(socket, 5000), "the node closed the stray dial-back");
    assert.equal(pipes, 0);
    assert.equal(node.pipes.size, 0);
    // A plain inbound connection still becomes a pipe.
    const plain = await rawSession(node.port);
    await waitFor(() => node.pipes.size === 1, 5000);
    plain.socket.destroy();
  } finally {
    await node.close();
  }
});

test("a peer whose accept() says no: the ConnectError's direct failure has the RefusedError as its cause", async () => {
  const a = await loopbackNode({ accept: () => false });
  const b = await loopbackNode();
  const err = await b.connect(a.addr).then(
    () => assert.fail("connected to a peer that refuses"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConnectError);
  const dial = err.errors.find((e) => e instanceof DialError);
  assert.ok(dial, `no DialError in ${err.errors.map(String)}`);
  assert.ok(dial.cause instanceof RefusedError, `cause: ${String(dial.cause)}`);
  await b.close();
  await a.close();
});
