/**
 * Messages larger than one record's room (64 KiB of plaintext) travel as DATA
 * fragments with one seq, each but the last flagged MORE (docs/protocol.md,
 * Records). The receiver reassembles them and enforces maxMessageSize as the
 * fragments arrive, so a hostile peer cannot make it buffer more.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameError, MessageTooLargeError } from "../../src/errors.ts";
import { FRAGMENT_PAYLOAD, FRAME_HEADER_LENGTH, FrameFlags, FrameType, MAX_RECORD_PLAINTEXT, encodeFrameHeader, type Frame } from "../../src/session/frame.ts";
import { Reassembly } from "../../src/pipe/frame-reader.ts";
import { pipePair, rawPair } from "./memory-pair.ts";

const dataFrame = (seq: number, flags: number, payload: Buffer): Frame => ({ type: FrameType.DATA, flags, seq, ack: 0, payload });

describe("Reassembly (pure)", () => {
  it("a frame without MORE passes through unchanged; fragments come back as one message", () => {
    const r = new Reassembly(100, 2);
    const whole = dataFrame(1, FrameFlags.TEXT, Buffer.from("hi"));
    assert.equal(r.push(whole), whole);
    assert.equal(r.push(dataFrame(2, FrameFlags.TEXT | FrameFlags.MORE, Buffer.from("ab"))), undefined);
    assert.equal(r.push(dataFrame(2, FrameFlags.TEXT | FrameFlags.MORE, Buffer.from("cd"))), undefined);
    assert.equal(r.buffered, 4);
    const m = r.push(dataFrame(2, FrameFlags.TEXT, Buffer.from("e")))!;
    assert.deepEqual([m.seq, m.flags, m.payload.toString()], [2, FrameFlags.TEXT, "abcde"]);
    assert.equal(r.buffered, 0);
  });

  it("the size limit is checked as fragments arrive, before the one that would pass it is kept", () => {
    const r = new Reassembly(10, 4);
    r.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(4)));
    r.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(4)));
    assert.throws(() => r.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(4))), MessageTooLargeError);
    assert.equal(r.buffered, 8);
    const exact = new Reassembly(10, 4);
    exact.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(4)));
    exact.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(4)));
    assert.equal(exact.push(dataFrame(1, 0, Buffer.alloc(2)))!.payload.length, 10);
  });

  for (const [label, next] of [
    ["another seq", dataFrame(3, FrameFlags.MORE, Buffer.from("x"))],
    ["another seq, last fragment", dataFrame(3, 0, Buffer.from("x"))],
    ["other flags (TEXT changed)", dataFrame(2, FrameFlags.TEXT, Buffer.from("x"))],
  ] as const) {
    it(`${label} inside a fragmented message is a FrameError`, () => {
      const r = new Reassembly(100, 1);
      r.push(dataFrame(2, FrameFlags.MORE, Buffer.from("a")));
      assert.throws(() => r.push(next), FrameError);
    });
  }

  it("a non-final fragment of any other size is a FrameError: empty fragments cannot pile up", () => {
    const r = new Reassembly(1 << 20);
    assert.throws(() => r.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(0))), FrameError);
    assert.throws(() => r.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(FRAGMENT_PAYLOAD - 1))), FrameError);
    assert.equal(r.buffered, 0);
    assert.equal(r.push(dataFrame(1, FrameFlags.MORE, Buffer.alloc(FRAGMENT_PAYLOAD))), undefined);
    assert.equal(r.push(dataFrame(1, 0, Buffer.alloc(0)))!.payload.length, FRAGMENT_PAYLOAD);
  });
});

describe("pipe: large messages as fragments", () => {
  it("a 1 MiB message goes as 17 records of at most 64 KiB and arrives whole, between small ones, in order", async () => {
    const { pipe, frames, time } = rawPair();
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i * 7;
    const sends = [pipe.send("before"), pipe.send(big), pipe.send("after")];
    await time.advance(0);
    await Promise.all(sends);
    const data = frames.filter((f) => f.type === FrameType.DATA);
    const parts = data.filter((f) => f.seq === 2);
    assert.equal(parts.length, Math.ceil(big.length / FRAGMENT_PAYLOAD));
    assert.ok(parts.slice(0, -1).every((f) => f.flags & FrameFlags.MORE) && !(parts.at(-1)!.flags & FrameFlags.MORE));
    assert.ok(parts.every((f) => f.payload.length + FRAME_HEADER_LENGTH <= MAX_RECORD_PLAINTEXT));
    assert.deepEqual(Buffer.concat(parts.map((f) => f.payload)), big);
    assert.deepEqual(data.map((f) => f.seq), [1, ...parts.map(() => 2), 3]);
    void pipe.destroy();
  });

  it("between two pipes: messages of every size around the fragment boundary arrive intact", async () => {
    const { a, b, time } = pipePair();
    const sizes = [0, 1, FRAGMENT_PAYLOAD - 1, FRAGMENT_PAYLOAD, FRAGMENT_PAYLOAD + 1, 2 * FRAGMENT_PAYLOAD, 3 * FRAGMENT_PAYLOAD + 5, 4 * 1024 * 1024];
    const msgs = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    const sends = msgs.map((m) => a.send(m));
    for (let i = 0; i < msgs.length; i++) {
      const got = b.recv({ timeout: 0 });
      await time.advance(0);
      const m = await got;
      assert.equal(m.data.length, sizes[i]);
      assert.ok(Buffer.from(m.data).equals(msgs[i]), `message ${i} (${sizes[i]} bytes)`);
      assert.equal(m.seq, i + 1);
    }
    await Promise.all(sends);
    void a.destroy();
    void b.destroy();
  });

  it("a hostile peer's fragments past maxMessageSize close the pipe with MessageTooLargeError before more is held", async () => {
    const { pipe, write, time } = rawPair({ pipe: { maxMessageSize: 100 * 1024 } });
    const frag = (flags: number) => [encodeFrameHeader(FrameType.DATA, flags, 1, 0), Buffer.alloc(FRAGMENT_PAYLOAD)];
    write(frag(FrameFlags.MORE)); // 64 KiB: under the limit
    write(frag(FrameFlags.MORE)); // 128 KiB: over it
    for (let i = 0; i < 5; i++) write(frag(FrameFlags.MORE)); // never held
    await time.advance(0);
    const err = await pipe.closed;
    assert.ok(err instanceof MessageTooLargeError, String(err));
  });

  it("a fragment of another seq inside a message is a FrameError", async () => {
    const { pipe, write, time } = rawPair();
    write([encodeFrameHeader(FrameType.DATA, FrameFlags.MORE, 1, 0), Buffer.from("part")]);
    write([encodeFrameHeader(FrameType.DATA, 0, 2, 0), Buffer.from("other")]);
    await time.advance(0);
    assert.ok((await pipe.closed) instanceof FrameError);
  });
});
