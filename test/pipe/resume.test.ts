/**
 * A resumable pipe moves to a new path without losing or doubling a message
 * (src/pipe/resumption.ts), over in-memory transports on fake time: the path
 * is cut mid-transfer, sends wait, both sides resume on a fresh session, and
 * every message arrives exactly once, in order. A forged proof, a window that
 * passes, and a pipe that is not resumable fail as they should.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { PipeClosedError } from "../../src/errors.ts";
import { memoryTransportPair } from "../../src/pipe/memory-transport.ts";
import { Pipe } from "../../src/pipe/pipe.ts";
import type { HandshakeResult } from "../../src/session/handshake.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { sessionPair, track } from "./memory-pair.ts";

const WINDOW = 30_000;

/** Two resumable pipes over memory; `next()` makes the sessions of a fresh handshake over a new path. */
function resumablePair(o: { window?: number; bSaidResumable?: boolean; bKey?: Buffer } = {}) {
  const time = new FakeTime();
  const [ta, tb] = memoryTransportPair();
  const [sa, sb] = sessionPair();
  // What each side learnt of the other in the handshake (sa.remoteParams are b's): both resumable.
  sa.remoteParams.resumable = o.bSaidResumable ?? true;
  sb.remoteParams.resumable = true;
  if (o.bKey) sb.resumeKey = o.bKey; // b holds another session key than a: its proofs cannot match
  const opts = { resumeWindow: o.window ?? WINDOW, keepaliveInterval: 1000, deadPeerTimeout: 5000 };
  const common = { strategy: "memory", clock: time, timers: time };
  const a = new Pipe({ ...common, transport: ta, session: sa, role: "initiator", inbound: false, options: opts });
  const b = new Pipe({ ...common, transport: tb, session: sb, role: "responder", inbound: true, options: opts });
  const next = () => {
    const [na, nb] = sessionPair();
    const binding = randomBytes(32); // the new handshake's transcript, the same on both sides
    const pa: HandshakeResult = { ...na, binding };
    const pb: HandshakeResult = { ...nb, binding };
    const [xa, xb] = memoryTransportPair();
    return { a: { transport: xa, session: pa }, b: { transport: xb, session: pb }, xa, xb };
  };
  return { time, a, b, ta, tb, next };
}

async function drain(time: FakeTime, ms = 200) {
  await time.advance(ms);
}

test("a path cut mid-transfer: sends wait, both sides resume on a new path, every message arrives once and in order", async () => {
  const { time, a, b, ta, next } = resumablePair();
  const got: string[] = [];
  b.on("message", (m) => void got.push(m.text));
  const paths: string[] = [];
  a.on("path", (e) => paths.push(`a ${e.state}`));
  b.on("path", (e) => paths.push(`b ${e.state}`));
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < 100; i++) sends.push(a.send(`m${i}`));
  await drain(time, 5);
  ta.destroy(); // the path dies (a NAT flushed its table): b's end sees it go too
  for (let i = 100; i < 150; i++) sends.push(a.send(`m${i}`)); // while there is no path
  await drain(time, 50);
  assert.deepEqual(paths.sort(), ["a lost", "b lost"]);
  assert.equal(a.state, "open");
  const n = next();
  a.resume(n.a);
  b.resume(n.b);
  await Promise.all(sends);
  await drain(time, 500);
  assert.deepEqual(got, Array.from({ length: 150 }, (_, i) => `m${i}`), "all of them, once, in order");
  assert.ok(paths.includes("a resumed") && paths.includes("b resumed"), paths.join(", "));
  // The new path carries on both ways.
  const back = track(b.send("over the new path"));
  const reply = a.recv({ timeout: 1000 });
  await drain(time);
  assert.equal((await reply).text, "over the new path");
  assert.ok(back.settled);
  await Promise.all([a.close(), b.close(), drain(time, 1000)]);
});

test("messages the peer had already delivered are not delivered twice when the new path resends what was unacknowledged", async () => {
  const { time, a, b, next } = resumablePair();
  const got: string[] = [];
  b.on("message", (m) => void got.push(m.text));
  for (let i = 0; i < 10; i++) await Promise.all([a.send(`x${i}`), drain(time, 1)]);
  // b delivered all ten, but its ACK has not reached a yet: the path is replaced right now.
  const n = next();
  a.resume(n.a);
  b.resume(n.b);
  await drain(time, 200);
  await Promise.all([a.send("after"), drain(time, 50)]);
  assert.deepEqual(got, [...Array.from({ length: 10 }, (_, i) => `x${i}`), "after"]);
});

test("no new path within the resume window: the pipe fails with PipeClosedError, sends waiting meanwhile fail too", async () => {
  const { time, a, ta } = resumablePair({ window: 3000 });
  ta.destroy();
  await drain(time, 10);
  const waiting = a.send("never").then(() => undefined, (e) => e);
  await drain(time, 2900);
  assert.equal(a.state, "open", "still waiting inside the window");
  await drain(time, 200);
  const err = await waiting;
  assert.ok(err instanceof PipeClosedError, String(err));
  assert.match(String(a.error?.message), /no new one came within 3000 ms/);
});

test("a new path whose RESUME does not prove the session (another key) is refused; nothing from it is delivered", async () => {
  const { time, a, b, ta, next } = resumablePair({ bKey: randomBytes(32) });
  const got: string[] = [];
  a.on("message", (m) => void got.push(m.text));
  ta.destroy();
  await drain(time, 10);
  const n = next();
  a.resume(n.a);
  b.resume(n.b);
  b.send("injected?").catch(() => {});
  await drain(time, 200);
  // The side that checks a proof made under another key refuses the path and fails (here b, which
  // read a's RESUME first); a never gets a valid RESUME, so nothing from the new path reaches it.
  assert.equal(b.state, "closed");
  assert.match(String(b.error?.message), /does not prove this session/);
  assert.deepEqual(got, []);
  assert.equal(a.state, "open", "a still waits inside its window for a path that proves the session");
});

test("a pipe is resumable only when both sides said so: otherwise a lost path ends it, and resume() is refused", async () => {
  const { time, a, ta } = resumablePair({ bSaidResumable: false });
  void time;
  // a's peer (b) did not say resumable in the handshake: a is a plain pipe.
  assert.throws(() => a.resume({ transport: memoryTransportPair()[0], session: sessionPair()[0] }), /not resumable/);
  ta.destroy();
  await drain(time, 50);
  assert.equal(a.state, "closed");
});

test("what waits for acknowledgement is bounded by queueBytes: the sender stops until the peer's ACKs come", async () => {
  const time = new FakeTime();
  const [ta, tb] = memoryTransportPair();
  const [sa, sb] = sessionPair();
  sa.remoteParams.resumable = sb.remoteParams.resumable = true;
  const opts = { resumeWindow: WINDOW, queueBytes: 64 * 1024 };
  const common = { strategy: "memory", clock: time, timers: time };
  const a = new Pipe({ ...common, transport: ta, session: sa, role: "initiator", inbound: false, options: opts });
  const b = new Pipe({ ...common, transport: tb, session: sb, role: "responder", inbound: true, options: opts });
  let received = 0;
  b.on("message", () => void received++);
  const sends = Array.from({ length: 64 }, () => a.send(Buffer.alloc(8 * 1024)));
  await drain(time, 1000);
  await Promise.all(sends);
  assert.equal(received, 64, "the delayed ACKs let every send through");
  await Promise.all([a.close(), b.close(), drain(time, 1000)]);
});

test("hostile frames on a resumable pipe: an ack of messages never sent, or RESUME on a path that is not new, fail the pipe", async () => {
  const { encodeFrameHeader, FrameType } = await import("../../src/session/frame.ts");
  for (const [what, header] of [
    ["ack beyond what was sent", encodeFrameHeader(FrameType.ACK, 0, 0, 999)],
    ["RESUME on the first path", encodeFrameHeader(FrameType.RESUME, 0, 0, 0)],
  ] as const) {
    const time = new FakeTime();
    const [ta, tb] = memoryTransportPair();
    const [sa, sb] = sessionPair();
    sa.remoteParams.resumable = true;
    const a = new Pipe({ strategy: "memory", clock: time, timers: time, transport: ta, session: sa, role: "initiator", inbound: false, options: { resumeWindow: WINDOW } });
    await a.send("one"); // seq 1 sent
    tb.on("error", () => {});
    tb.write(sb.channel.seal([header]));
    await drain(time, 50);
    assert.equal(a.state, "closed", what);
    assert.match(String(a.error?.message), what.startsWith("ack") ? /acknowledged message 999, but only 1 were sent/ : /RESUME on a path that is not new/, what);
  }
});

/** Two resumable pipes with a small resend budget (queueBytes). */
function smallBudgetPair(queueBytes: number) {
  const time = new FakeTime();
  const [ta, tb] = memoryTransportPair();
  const [sa, sb] = sessionPair();
  sa.remoteParams.resumable = sb.remoteParams.resumable = true;
  const opts = { resumeWindow: WINDOW, keepaliveInterval: 1000, deadPeerTimeout: 5000, queueBytes };
  const common = { strategy: "memory", clock: time, timers: time };
  const a = new Pipe({ ...common, transport: ta, session: sa, role: "initiator", inbound: false, options: opts });
  const b = new Pipe({ ...common, transport: tb, session: sb, role: "responder", inbound: true, options: opts });
  return { time, a, b, ta, tb, sa, sb };
}

test("both sides at their resend budget on a healthy path: ACKs and keepalives still go out, nothing stalls or is suspended", async () => {
  const { time, a, b } = smallBudgetPair(4000);
  let ga = 0;
  let gb = 0;
  a.on("message", () => void ga++);
  b.on("message", () => void gb++);
  for (let i = 0; i < 200; i++) void (a.send("x".repeat(100)).catch(() => {}), b.send("y".repeat(100)).catch(() => {}));
  await drain(time, 20_000);
  assert.deepEqual([ga, gb, a.state, b.state, a.suspended, b.suspended], [200, 200, "open", "open", false, false]);
});

test("a path lost with the resend budget full: after the resume the held messages go out again and everything arrives", async () => {
  const { time, a, b, ta, tb, sa, sb } = smallBudgetPair(2000);
  const got: string[] = [];
  b.on("message", (m) => void got.push(m.text));
  tb.pause(); // b reads nothing: a's messages are in flight, unacknowledged, the budget full
  for (let i = 0; i < 30; i++) void a.send(`${"x".repeat(100)}${i}`).catch(() => {});
  await drain(time, 5);
  ta.destroy();
  await drain(time, 50);
  const [na, nb] = sessionPair();
  const binding = randomBytes(32);
  const [xa, xb] = memoryTransportPair();
  a.resume({ transport: xa, session: { ...na, binding, resumeKey: sa.resumeKey } });
  b.resume({ transport: xb, session: { ...nb, binding, resumeKey: sb.resumeKey } });
  await drain(time, 3000);
  assert.equal(got.length, 30);
  assert.deepEqual(got.map((t) => Number(t.slice(100))), Array.from({ length: 30 }, (_, i) => i));
});
