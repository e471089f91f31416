import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameError, MessageTooLargeError } from "../../src/errors.ts";
import { FRAME_HEADER_LENGTH, FrameType, MAX_BATCH_FRAMES, RecordDecoder, TAG_LENGTH, decodeBatch, decodeFrame, encodeFrameHeader } from "../../src/session/frame.ts";

const MIN = TAG_LENGTH + FRAME_HEADER_LENGTH; // 28: the shortest legal record body
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const hex = (bufs: Buffer[]) => bufs.map((b) => b.toString("hex"));

/** A record = u32be length + body; bodies filled with a recognisable pattern. */
function record(len: number, fill: number): Buffer {
  const b = Buffer.alloc(4 + len, fill);
  b.writeUInt32BE(len, 0);
  return b;
}

function feed(dec: RecordDecoder, chunks: Uint8Array[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...dec.push(c));
  return out;
}

describe("frame header", () => {
  it("hex vector: encodeFrameHeader", () => {
    assert.equal(encodeFrameHeader(FrameType.DATA, 1, 2, 0x01020304).toString("hex"), "01010100" + "00000002" + "01020304");
    assert.equal(encodeFrameHeader(FrameType.READY, 0, 0xffffffff, 0).toString("hex"), "01070000" + "ffffffff" + "00000000");
    // seq/ack wrap as u32
    assert.equal(encodeFrameHeader(FrameType.PING, 0, 2 ** 32 + 5, -1).toString("hex"), "01020000" + "00000005" + "ffffffff");
  });

  it("decodeFrame reads every field and the payload", () => {
    const f = decodeFrame(h("01 06 01 00 0000002a 00000007 04 6279 65"));
    assert.deepEqual({ ...f, payload: f.payload.toString("hex") }, { type: FrameType.ERROR, flags: 1, seq: 42, ack: 7, payload: "04627965" });
    for (let t = FrameType.DATA; t <= FrameType.READY; t++) assert.equal(decodeFrame(encodeFrameHeader(t, 0, 0, 0)).type, t);
    assert.equal(decodeFrame(encodeFrameHeader(FrameType.DATA, 0, 0, 0)).payload.length, 0);
  });

  it("decodeFrame: bad version, unknown type, too short -> FrameError", () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ["version 0", h("00 01 00 00 00000000 00000000"), /version 0/],
      ["version 2", h("02 01 00 00 00000000 00000000"), /version 2/],
      ["type 0", h("01 00 00 00 00000000 00000000"), /unknown frame type 0/],
      ["type 10", h("01 0a 00 00 00000000 00000000"), /unknown frame type 10/],
      ["type 255", h("01 ff 00 00 00000000 00000000"), /unknown frame type 255/],
      ["empty", Buffer.alloc(0), /too short: 0/],
      ["11 bytes", h("01 01 00 00 00000000 000000"), /too short: 11/],
    ];
    for (const [label, buf, re] of cases) assert.throws(() => decodeFrame(buf), (e: unknown) => e instanceof FrameError && re.test(e.message), label);
    // every prefix of a valid header is too short
    const full = encodeFrameHeader(FrameType.DATA, 0, 1, 1);
    for (let n = 0; n < FRAME_HEADER_LENGTH; n++) assert.throws(() => decodeFrame(full.subarray(0, n)), FrameError);
  });
});

describe("RecordDecoder", () => {
  // Three records: minimal (28), 40 bytes, 28 again.
  const stream = Buffer.concat([record(MIN, 0xaa), record(40, 0xbb), record(MIN, 0xcc)]);
  const expected = [Buffer.alloc(MIN, 0xaa), Buffer.alloc(40, 0xbb), Buffer.alloc(MIN, 0xcc)].map((b) => b.toString("hex"));

  it("hex vector: one minimal record in one push", () => {
    const dec = new RecordDecoder(1000);
    const out = dec.push(h("0000001c" + "11".repeat(28)));
    assert.deepEqual(hex(out), ["11".repeat(28)]);
    assert.equal(dec.buffered, 0);
  });

  it("all records in one push; nothing from an empty push", () => {
    const dec = new RecordDecoder(1000);
    assert.deepEqual(dec.push(new Uint8Array(0)), []);
    assert.deepEqual(hex(dec.push(stream)), expected);
    assert.equal(dec.buffered, 0);
  });

  it("fed one byte at a time", () => {
    const dec = new RecordDecoder(1000);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      out.push(...dec.push(stream.subarray(i, i + 1)));
      // records come out exactly when their last byte arrives
      const done = [4 + MIN, 4 + MIN + 4 + 40, stream.length].filter((end) => end <= i + 1).length;
      assert.equal(out.length, done, `after byte ${i}`);
    }
    assert.deepEqual(hex(out), expected);
    assert.equal(dec.buffered, 0);
  });

  it("every split point of a 2-record buffer, and every pair of split points of 3 records", () => {
    const two = Buffer.concat([record(MIN, 0x01), record(33, 0x02)]);
    const twoExpected = [Buffer.alloc(MIN, 1), Buffer.alloc(33, 2)].map((b) => b.toString("hex"));
    for (let i = 0; i <= two.length; i++) {
      const dec = new RecordDecoder(100);
      assert.deepEqual(hex(feed(dec, [two.subarray(0, i), two.subarray(i)])), twoExpected, `split at ${i}`);
      assert.equal(dec.buffered, 0);
    }
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const dec = new RecordDecoder(100);
        assert.deepEqual(hex(feed(dec, [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)])), expected, `split at ${i},${j}`);
      }
    }
  });

  it("accepts plain Uint8Arrays (not Buffers), including views with an offset", () => {
    const backing = new Uint8Array(stream.length + 8);
    backing.set(stream, 3);
    const view = backing.subarray(3, 3 + stream.length);
    const dec = new RecordDecoder(100);
    assert.deepEqual(hex(feed(dec, [view.subarray(0, 10), view.subarray(10, 50), view.subarray(50)])), expected);
  });

  it("buffered counts the bytes held", () => {
    const dec = new RecordDecoder(100);
    dec.push(stream.subarray(0, 3));
    assert.equal(dec.buffered, 3);
    dec.push(stream.subarray(3, 10));
    assert.equal(dec.buffered, 6, "header consumed, 6 body bytes held");
    dec.push(stream.subarray(10, 4 + MIN + 2));
    assert.equal(dec.buffered, 2);
  });

  it("a length over the maximum -> MessageTooLargeError (at the limit is fine)", () => {
    assert.deepEqual(hex(new RecordDecoder(40).push(record(40, 7))), [Buffer.alloc(40, 7).toString("hex")]);
    for (const len of [41, 0x10000, 0xffffffff]) {
      const dec = new RecordDecoder(40);
      // the header alone is enough to refuse: no need to wait for (or buffer) the body
      assert.throws(() => dec.push(h(len.toString(16).padStart(8, "0"))), MessageTooLargeError, `len ${len}`);
    }
    // also when the header is split and follows a good record
    const dec = new RecordDecoder(40);
    assert.equal(dec.push(Buffer.concat([record(MIN, 1), h("0000")])).length, 1);
    assert.throws(() => dec.push(h("ffff")), MessageTooLargeError);
  });

  it("a length below the minimum -> FrameError", () => {
    for (const len of [0, 1, 16, MIN - 1]) {
      const dec = new RecordDecoder(1000);
      assert.throws(() => dec.push(h(len.toString(16).padStart(8, "0"))), (e: unknown) => e instanceof FrameError && /record too short/.test((e as Error).message), `len ${len}`);
    }
  });
});

describe("BATCH frames", () => {
  const entry = (frame: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(frame.length);
    return Buffer.concat([len, frame]);
  };
  const data = (seq: number, text: string) => Buffer.concat([encodeFrameHeader(FrameType.DATA, 1, seq, 0), Buffer.from(text)]);

  it("decodeBatch returns the inner frames in order", () => {
    const frames = decodeBatch(Buffer.concat([entry(data(1, "a")), entry(data(2, "")), entry(encodeFrameHeader(FrameType.PING, 0, 2, 0))]));
    assert.deepEqual(frames.map((f) => [f.type, f.seq, f.payload.toString()]), [[FrameType.DATA, 1, "a"], [FrameType.DATA, 2, ""], [FrameType.PING, 2, ""]]);
  });

  it("decodeBatch refuses empty, truncated, bad lengths and nested batches/READY", () => {
    const good = entry(data(1, "abc"));
    const cases: Array<[string, Buffer]> = [
      ["empty", Buffer.alloc(0)],
      ["length cut", good.subarray(0, 3)],
      ["entry cut", good.subarray(0, good.length - 1)],
      ["length below a header", Buffer.concat([Buffer.from("0000000b", "hex"), Buffer.alloc(11)])],
      ["nested batch", entry(Buffer.concat([encodeFrameHeader(FrameType.BATCH, 0, 0, 0), good]))],
      ["READY inside", entry(encodeFrameHeader(FrameType.READY, 0, 0, 0))],
    ];
    for (const [label, buf] of cases) assert.throws(() => decodeBatch(buf), FrameError, label);
    for (let n = 1; n < good.length; n++) assert.throws(() => decodeBatch(good.subarray(0, n)), FrameError, `cut at ${n}`);
  });

  it(`decodeBatch refuses more than MAX_BATCH_FRAMES (${MAX_BATCH_FRAMES}) frames, or more than the cap it is given`, () => {
    const of = (n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => entry(data(i, ""))));
    assert.equal(MAX_BATCH_FRAMES, 256);
    const cases: Array<[number, number | undefined, number | "FrameError"]> = [
      [1, undefined, 1],
      [MAX_BATCH_FRAMES, undefined, MAX_BATCH_FRAMES],
      [MAX_BATCH_FRAMES + 1, undefined, "FrameError"],
      [20_000, undefined, "FrameError"],
      [3, 3, 3],
      [4, 3, "FrameError"],
    ];
    for (const [n, cap, want] of cases) {
      const label = `${n} frames, cap ${cap ?? "default"}`;
      if (want === "FrameError") assert.throws(() => decodeBatch(of(n), cap), (e: unknown) => e instanceof FrameError && /more than \d+ frames/.test(e.message), label);
      else assert.equal(decodeBatch(of(n), cap).length, want, label);
    }
  });
});

