/**
 * Issue 9, 5(b): a peer that sends control frames (and never reads) must not make a
 * pipe hold memory for it. A raw initiator does the real handshake with a real node,
 * then writes and reads records itself through the real record layer.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { FrameError, MessageTooLargeError, WireError } from "../../src/errors.ts";
import { decodeBatch, decodeFrame, encodeFrameHeader, FrameFlags, FrameType, MAX_BATCH_FRAMES, RecordDecoder, type Frame } from "../../src/session/frame.ts";
import { handshake } from "../../src/session/handshake.ts";
import { Identity } from "../../src/identity/identity.ts";
import type { NodeOptions } from "../../src/node.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

const MiB = 1024 * 1024;

/** A node's inbound pipe, and the raw peer's socket, the frames it received (batches unpacked) and a record writer. */
async function rawPeer(nodeOpts: NodeOptions = {}) {
  const node = await loopbackNode(nodeOpts);
  const got = new Promise<Pipe>((r) => node.once("pipe", r));
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port: node.port }, () => resolve(s));
    s.once("error", reject);
  });
  socket.on("error", () => {});
  const session = await handshake(socket, { identity: Identity.generate(), role: "initiator", params: { maxMessageSize: 8 * MiB }, timeout: 5000 });
  const inbound = await got;
  const frames: Array<Frame & { record: number }> = [];
  const dec = new RecordDecoder(16 * MiB);
  let records = 0;
  const onData = (chunk: Buffer) => {
    for (const body of dec.push(chunk)) {
      const f = decodeFrame(session.channel.open(body));
      const record = records++;
      for (const g of f.type === FrameType.BATCH ? decodeBatch(f.payload) : [f]) frames.push({ ...g, record });
    }
  };
  socket.on("data", onData);
  if (session.leftover.length) onData(session.leftover);
  const write = (plain: Buffer[]) => socket.write(Buffer.concat(session.channel.seal(plain)));
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  return { node, inbound, socket, frames, write, closed };
}

const ts = () => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Date.now()));
  return b;
};
const frame = (type: FrameType, payload: Buffer = Buffer.alloc(0)) => Buffer.concat([encodeFrameHeader(type, 0, 0, 0), payload]);
const data = (text: string) => Buffer.concat([encodeFrameHeader(FrameType.DATA, FrameFlags.TEXT, 1, 0), Buffer.from(text)]);
/** One BATCH record body: (length:u32be frame)*. */
function batch(frames: Buffer[]): Buffer[] {
  const out = [encodeFrameHeader(FrameType.BATCH, 0, 0, 0)];
  for (const f of frames) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length);
    out.push(len, f);
  }
  return out;
}
const countOf = (frames: Frame[], type: FrameType) => frames.filter((f) => f.type === type).length;
const texts = (frames: Frame[]) => frames.filter((f) => f.type === FrameType.DATA && f.payload.length < 100).map((f) => f.payload.toString());

/** Resolves with the pipe's error once it closes, or "still open" after `ms` (the bug: nothing closes it). */
const closedOrOpen = (pipe: Pipe, ms = 5000) =>
  Promise.race([pipe.closed.then((e) => e ?? "closed cleanly"), new Promise<string>((r) => setTimeout(() => r("still open"), ms).unref())]);

describe("pipe: control frames from a hostile peer", () => {
  for (const [label, type, size] of [
    ["a 60 KiB PING", FrameType.PING, 60 * 1024],
    ["an empty PING", FrameType.PING, 0],
    ["a 7-byte PING", FrameType.PING, 7],
    ["a 9-byte PING", FrameType.PING, 9],
    ["a 9-byte PONG", FrameType.PONG, 9],
    ["an empty PONG", FrameType.PONG, 0],
  ] as const) {
    it(`${label} is a protocol error: FrameError closes the pipe, no PONG`, async () => {
      const peer = await rawPeer();
      peer.write([frame(type, Buffer.alloc(size, 7))]);
      const err = await closedOrOpen(peer.inbound);
      assert.ok(err instanceof FrameError, `pipe: ${String(err)}`);
      assert.match((err as Error).message, /must carry 8/);
      await peer.closed;
      assert.equal(countOf(peer.frames, FrameType.PONG), 0);
      const errors = peer.frames.filter((f) => f.type === FrameType.ERROR);
      if (errors.length) assert.equal(errors[0].payload[0], WireError.PROTOCOL); // when it got out before the socket was cut
    });
  }

  it("a 1 MiB record (here a PING) is refused from its length alone, before it is buffered: records hold at most 64 KiB", async () => {
    const peer = await rawPeer();
    peer.write([frame(FrameType.PING, Buffer.alloc(MiB, 7))]);
    const err = await closedOrOpen(peer.inbound);
    assert.ok(err instanceof MessageTooLargeError, `pipe: ${String(err)}`);
    assert.match((err as Error).message, /the maximum is 65564/);
    await peer.closed;
    assert.equal(countOf(peer.frames, FrameType.PONG), 0);
  });

  it("200 PINGs in one BATCH are answered by one PONG (one outstanding at a time)", async () => {
    const peer = await rawPeer();
    peer.node.onMessage((m, p) => p.send("echo:" + m.text));
    peer.write(batch(Array.from({ length: 200 }, () => frame(FrameType.PING, ts()))));
    peer.write([data("marker")]);
    await waitFor(() => texts(peer.frames).includes("echo:marker"), 5000, "the echo after the PINGs");
    assert.equal(countOf(peer.frames, FrameType.PONG), 1);
    // Once that PONG is written, the next PING is answered again.
    peer.write([frame(FrameType.PING, ts())]);
    await waitFor(() => countOf(peer.frames, FrameType.PONG) === 2, 5000, "the second PONG");
    assert.equal(peer.inbound.state, "open");
  });

  it("a peer that never reads: PINGs are not answered while the pipe's outbox is over its budget", async () => {
    const peer = await rawPeer({ pipe: { queueBytes: 256 * 1024 } });
    peer.socket.pause(); // never reads: the node's socket backs up
    const sends = Array.from({ length: 24 }, () => peer.inbound.send(new Uint8Array(MiB)).catch(() => {}));
    peer.write(batch(Array.from({ length: 8 }, () => frame(FrameType.PING, ts()))));
    peer.write([data("marker")]);
    assert.equal((await peer.inbound.recv({ timeout: 5000 })).text, "marker"); // the PINGs before it were handled
    peer.socket.resume();
    await Promise.all(sends);
    await peer.inbound.send("end");
    await waitFor(() => texts(peer.frames).includes("end"), 10_000, "everything the node sent");
    // Each 1 MiB message arrives as 16 fragments (FrameFlags.MORE on all but its last).
    assert.equal(peer.frames.filter((f) => f.type === FrameType.DATA && !(f.flags & FrameFlags.MORE)).length, 25);
    assert.equal(countOf(peer.frames, FrameType.PONG), 0, "no PONG was queued behind 23 MiB the peer does not read");
  });

  // "While backed up, the pipe's own keepalives do not pile up" runs on fake time over an
  // in-memory transport: pipe-memory.test.ts ("a backed-up transport gets one keepalive").

  it(`a BATCH of ${MAX_BATCH_FRAMES} frames is delivered; one of ${MAX_BATCH_FRAMES + 1} closes the pipe with FrameError before delivering any`, async () => {
    const ok = await rawPeer();
    ok.write(batch(Array.from({ length: MAX_BATCH_FRAMES }, (_, i) => data(`m${i}`))));
    for (let i = 0; i < MAX_BATCH_FRAMES; i++) assert.equal((await ok.inbound.recv({ timeout: 5000 })).text, `m${i}`);
    assert.equal(ok.inbound.state, "open");

    const bad = await rawPeer();
    let delivered = 0;
    bad.inbound.on("message", () => delivered++);
    bad.write(batch(Array.from({ length: MAX_BATCH_FRAMES + 1 }, (_, i) => data(`m${i}`))));
    const err = await closedOrOpen(bad.inbound);
    assert.ok(err instanceof FrameError, `pipe: ${String(err)}`);
    assert.match((err as Error).message, /more than 256 frames/);
    assert.equal(delivered, 0);
  });
});
