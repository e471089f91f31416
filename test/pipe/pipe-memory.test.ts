/**
 * The Pipe over an in-memory transport pair on FakeTime: frame and close
 * ordering, backpressure, transport errors, keepalive, dead-peer and close
 * deadlines — no TCP, no sleeping, no wall clock.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PeerTimeoutError, PipeClosedError, TimeoutError } from "../../src/errors.ts";
import { FrameFlags, FrameType, encodeFrameHeader } from "../../src/session/frame.ts";
import type { Message } from "../../src/pipe/message.ts";
import { pipePair, rawPair, track } from "./memory-pair.ts";

const texts = (msgs: Message[]) => msgs.map((m) => m.text);

async function drain(pipe: AsyncIterable<Message>): Promise<string[]> {
  const got: Message[] = [];
  for await (const m of pipe) got.push(m);
  return texts(got);
}

describe("pipe over memory: closing", () => {
  it("a graceful close delivers every message sent before it, in order, then both sides close cleanly", async () => {
    const { a, b, ta, tb, time } = pipePair();
    const sends = Array.from({ length: 500 }, (_, i) => a.send(`m${i}`));
    const closing = a.close();
    const got = await drain(b);
    await closing;
    await Promise.all(sends);
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => `m${i}`));
    assert.equal(await a.closed, undefined);
    assert.equal(await b.closed, undefined);
    assert.equal(a.state, "closed");
    assert.equal(b.state, "closed");
    await time.advance(0);
    assert.ok(ta.destroyed && tb.destroyed, "both transports are freed");
    assert.equal(time.pending, 0, "no timer left after close");
  });

  it("replies to messages that came before the peer's CLOSE are delivered before the pipe answers it", async () => {
    const order: string[] = [];
    const { a, b } = pipePair({
      dispatch: { active: () => true, dispatch: async (m, p) => void (await p.send("re:" + m.text), order.push("replied " + m.text)) },
    });
    b.on("close", () => order.push("b closed"));
    void a.send("x");
    void a.send("y");
    const closing = a.close();
    assert.deepEqual(await drain(a), ["re:x", "re:y"]);
    await closing;
    assert.deepEqual(order, ["replied x", "replied y", "b closed"]);
    assert.equal(a.error, undefined);
  });

  it("close() and destroy() are memoized, return promises and never reject; 'close' is emitted once", async () => {
    const { a, b, time } = pipePair();
    let events = 0;
    a.on("close", () => events++);
    assert.equal(a.lifetime.aborted, false);
    const c1 = a.close();
    assert.equal(a.lifetime.aborted, true, "lifetime aborts as soon as close() begins");
    assert.equal(a.close(), c1, "the second close() is the first one's promise");
    assert.equal(a.state, "closing");
    await c1;
    await a.destroy(new Error("late"));
    await a.close();
    assert.equal(a.error, undefined, "a destroy after a clean close changes nothing");
    assert.equal(events, 1);
    await b.closed;
    await time.advance(0);
    assert.equal(time.pending, 0);
  });

  it("destroy drops what was queued: the sends fail with its error and the peer gets nothing", async () => {
    const { a, b, time } = pipePair();
    const boom = new TimeoutError("test");
    const sends = Array.from({ length: 50 }, (_, i) => a.send(`m${i}`));
    const d1 = a.destroy(boom);
    assert.equal(a.destroy(new Error("second")), d1, "memoized: the first error wins");
    for (const s of sends) await assert.rejects(s, (e) => e === boom);
    await d1;
    assert.equal(await a.closed, boom);
    assert.equal(a.error, boom);
    const peerErr = await b.closed;
    assert.ok(peerErr instanceof PipeClosedError, String(peerErr));
    assert.match(peerErr.message, /without a graceful close/);
    assert.equal(b.stats.messagesReceived, 0);
    await assert.rejects(b.recv(), PipeClosedError);
    await time.advance(0);
    assert.equal(time.pending, 0, "no timer left after destroy");
  });

  it("an error on the transport closes the pipe with that error as the cause; pending sends and receives fail with it", async () => {
    const { a, b, ta, time } = pipePair();
    const waiting = a.recv({ timeout: 0 });
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    ta.destroy(reset);
    const err = await a.closed;
    assert.ok(err instanceof PipeClosedError);
    assert.equal(err.cause, reset);
    assert.match(err.message, /connection error \(ECONNRESET\)/);
    await assert.rejects(waiting, (e) => e === err);
    await assert.rejects(a.send("late"), (e) => e === err);
    assert.ok((await b.closed) instanceof PipeClosedError, "the peer sees the cut too");
    await time.advance(0);
    assert.equal(time.pending, 0);
  });

  it("close() waits closeTimeout for a peer that never answers, then fails with TimeoutError", async () => {
    const { a, b, tb, time } = pipePair({ a: { closeTimeout: 5000, keepaliveInterval: 60_000, deadPeerTimeout: 240_000 } });
    tb.pause(); // b never reads our CLOSE
    const closing = track(a.close());
    await time.advance(4999);
    assert.equal(closing.settled, false);
    assert.equal(a.state, "closing");
    await time.advance(1);
    assert.equal(closing.settled, true);
    const err = await a.closed;
    assert.ok(err instanceof TimeoutError, String(err));
    assert.match(err.message, /within 5000 ms/);
    await b.closed;
    await time.advance(0);
    assert.equal(time.pending, 0);
  });
});

describe("pipe over memory: backpressure", () => {
  it("a reader over its queue limit pauses the transport; the sender stops sealing until it drains; nothing is lost", async () => {
    const size = 10_000;
    const count = 200;
    const { a, b, ta, tb, time } = pipePair({ b: { queueMessages: 8 } });
    const sends = Array.from({ length: count }, (_, i) => track(a.send(Buffer.alloc(size, i % 256))));
    // Until it settles: the writer flushes on setImmediate, and each drain b's reading allows starts one more flush.
    for (let i = 0; i < 5; i++) await time.advance(0);
    assert.equal(tb.isPaused, true, "b stopped reading");
    assert.ok(ta.needDrain, "a's transport is backed up");
    const sealed = a.bytesSent;
    assert.ok(sealed < (count * size) / 4, `a held the rest unsealed: ${sealed} bytes written of ${count * size}`);
    assert.ok(sends.filter((s) => s.settled).length < count / 4, "the sends that were not written are still pending");
    await time.advance(10_000); // time alone changes nothing while b does not read
    assert.equal(a.bytesSent, sealed);
    const got: number[] = [];
    for (let i = 0; i < count; i++) got.push((await b.recv({ timeout: 0 })).data[0]);
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => i % 256));
    await time.advance(0);
    assert.ok(sends.every((s) => s.settled && s.error === undefined));
    assert.equal(tb.isPaused, false);
    await a.close();
  });

  it("records cut into 1-byte chunks are decoded whole", async () => {
    const { a, b } = pipePair({ transport: { maxChunk: 1 } });
    await a.send("hello");
    await a.send(new Uint8Array([1, 2, 3]));
    assert.equal((await b.recv({ timeout: 0 })).text, "hello");
    assert.deepEqual([...(await b.recv({ timeout: 0 })).data], [1, 2, 3]);
    await a.close();
  });
});

describe("pipe over memory: time", () => {
  it("recv() times out on the pipe's timers, not before", async () => {
    const { a, b, time } = pipePair();
    const r = track(b.recv({ timeout: 500 }));
    await time.advance(499);
    assert.equal(r.settled, false);
    await time.advance(1);
    assert.ok(r.error instanceof TimeoutError, String(r.error));
    await a.close();
  });

  it("a keepalive goes out after keepaliveInterval of silence, and its PONG gives the exact round-trip time", async () => {
    const { a, tb, time } = pipePair({ a: { keepaliveInterval: 1000 } });
    assert.equal(a.rtt, undefined);
    tb.pause(); // hold a's PING on the way for 250 ms
    await time.advance(1000);
    assert.equal(a.rtt, undefined);
    await time.advance(250);
    tb.resume();
    await time.advance(0);
    assert.equal(a.rtt, 250);
    await a.close();
  });

  it("a peer that sends nothing for deadPeerTimeout fails the pipe with PeerTimeoutError (one tick later at most)", async () => {
    const { a, b, ta, time } = pipePair({ a: { keepaliveInterval: 1000, deadPeerTimeout: 3000 } });
    ta.pause(); // a hears nothing from b from now on
    await time.advance(3000);
    assert.equal(a.state, "open", "silence of exactly deadPeerTimeout is tolerated");
    await time.advance(750); // the check runs every min(keepaliveInterval, deadPeerTimeout / 4)
    const err = await a.closed;
    assert.ok(err instanceof PeerTimeoutError, String(err));
    await b.closed;
    await time.advance(0);
    assert.equal(time.pending, 0);
  });

  it("a pipe that stopped reading (its own backpressure) does not blame the peer for the silence", async () => {
    const live = { keepaliveInterval: 1000, deadPeerTimeout: 3000 };
    const { a, b, tb, time } = pipePair({ a: live, b: { ...live, queueMessages: 2 } });
    for (let i = 0; i < 10; i++) void a.send(`m${i}`);
    await time.advance(0);
    assert.equal(tb.isPaused, true, "b stopped reading");
    for (let i = 0; i < 20; i++) await time.advance(500); // 10 s: more than three deadPeerTimeouts of hearing nothing
    assert.equal(b.state, "open");
    const got: string[] = [];
    for (let i = 0; i < 10; i++) got.push((await b.recv({ timeout: 0 })).text);
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    await a.close();
    assert.equal(await b.closed, undefined);
  });

  it("keepalives keep an idle pipe open far past deadPeerTimeout", async () => {
    const { a, b, time } = pipePair({ a: { keepaliveInterval: 1000, deadPeerTimeout: 3000 }, b: { keepaliveInterval: 1000, deadPeerTimeout: 3000 } });
    for (let i = 0; i < 60; i++) await time.advance(500);
    assert.equal(a.state, "open");
    assert.equal(b.state, "open");
    await a.close();
    assert.equal(await b.closed, undefined);
  });

  it("a backed-up transport gets one keepalive, not one per tick", async () => {
    const { pipe, peer, frames, time } = rawPair({ pipe: { keepaliveInterval: 20 } });
    peer.pause();
    const sends = Array.from({ length: 8 }, () => pipe.send(new Uint8Array(64 * 1024)).catch(() => {}));
    await time.advance(0);
    const before = frames.length;
    await time.advance(400); // 20 keepalive ticks while nothing can be written
    peer.resume();
    await Promise.all(sends);
    await time.advance(0);
    const after = frames.slice(before);
    // A 64 KiB message is two fragments (a record holds 64 KiB with its header): count the last ones.
    assert.equal(after.filter((f) => f.type === FrameType.DATA && !(f.flags & FrameFlags.MORE)).length, 8);
    assert.equal(after.filter((f) => f.type === FrameType.PING).length, 1, after.map((f) => FrameType[f.type]).join(" "));
    void pipe.destroy();
  });

  it("a PING is answered with its own payload; a second PING while a PONG is pending is not", async () => {
    const { pipe, peer, frames, write, time } = rawPair();
    const ping = (n: number) => [encodeFrameHeader(FrameType.PING, 0, 0, 0), Buffer.from([0, 0, 0, 0, 0, 0, 0, n])];
    write(ping(1));
    await time.advance(0);
    peer.pause(); // our reading stops: the next PONG stays queued on the pipe's side
    write(ping(2));
    write(ping(3));
    await time.advance(0);
    peer.resume();
    await time.advance(0);
    const pongs = frames.filter((f) => f.type === FrameType.PONG).map((f) => f.payload[7]);
    assert.deepEqual(pongs, [1, 2], "PING 3 arrived while the PONG to 2 was still unwritten");
    void pipe.destroy();
  });
});
