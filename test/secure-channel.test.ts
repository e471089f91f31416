import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import { describe, it } from "node:test";
import { FrameError, MessageTooLargeError } from "../src/errors.ts";
import { FRAME_HEADER_LENGTH, FrameType, RecordDecoder, TAG_LENGTH, decodeFrame, encodeFrameHeader } from "../src/frame.ts";
import { SecureChannel } from "../src/secure-channel.ts";

const K1 = Buffer.alloc(32, 0x11);
const K2 = Buffer.alloc(32, 0x22);
/** A connected pair: a's send key is b's receive key and vice versa. */
const pair = () => ({ a: new SecureChannel(K1, K2), b: new SecureChannel(K2, K1) });
const frame = (seq: number, payload: string) => [encodeFrameHeader(FrameType.DATA, 0, seq, 0), Buffer.from(payload)];
/** The record body (what RecordDecoder yields): everything after the 4-byte length. */
const bodyOf = (record: Buffer[]) => Buffer.concat(record).subarray(4);

describe("SecureChannel", () => {
  it("hex vector: record 0 is AES-256-GCM with a zero nonce and the length header as AAD", () => {
    const { a } = pair();
    const rec = a.seal([Buffer.from("hi")]);
    const wire = Buffer.concat(rec);
    assert.equal(wire.subarray(0, 4).toString("hex"), "00000012"); // 2 + 16
    const c = createCipheriv("aes-256-gcm", K1, Buffer.alloc(12), { authTagLength: 16 });
    c.setAAD(Buffer.from("00000012", "hex"));
    const expected = Buffer.concat([c.update(Buffer.from("hi")), c.final(), c.getAuthTag()]);
    assert.equal(wire.subarray(4).toString("hex"), expected.toString("hex"));
    // record 1 uses nonce 1 (counter in the last 6 bytes): a different ciphertext for the same plaintext
    assert.notEqual(Buffer.concat(a.seal([Buffer.from("hi")])).subarray(4).toString("hex"), expected.toString("hex"));
  });

  it("seal/open round trip in both directions, many records, parts of any size", () => {
    const { a, b } = pair();
    for (let i = 0; i < 50; i++) {
      const payload = "x".repeat(i * 7);
      const r = a.seal(frame(i, payload));
      assert.equal(r[0].readUInt32BE(0), FRAME_HEADER_LENGTH + payload.length + TAG_LENGTH);
      const f = decodeFrame(b.open(bodyOf(r)));
      assert.equal(f.seq, i);
      assert.equal(f.payload.toString(), payload);
      const back = decodeFrame(a.open(bodyOf(b.seal(frame(1000 + i, `reply ${i}`)))));
      assert.equal(back.payload.toString(), `reply ${i}`);
    }
    // no parts / empty parts
    assert.equal(b.open(bodyOf(a.seal([]))).length, 0);
    assert.equal(b.open(bodyOf(a.seal([Buffer.alloc(0), Buffer.from("ab"), Buffer.alloc(0)]))).toString(), "ab");
  });

  it("through a RecordDecoder fed one byte at a time", () => {
    const { a, b } = pair();
    const wire = Buffer.concat([...a.seal(frame(1, "one")), ...a.seal(frame(2, "two")), ...a.seal(frame(3, ""))]);
    const dec = new RecordDecoder(1000);
    const got: string[] = [];
    for (let i = 0; i < wire.length; i++) for (const body of dec.push(wire.subarray(i, i + 1))) got.push(decodeFrame(b.open(body)).payload.toString());
    assert.deepEqual(got, ["one", "two", ""]);
  });

  it("any flipped bit in the record body -> FrameError", () => {
    const { a } = pair();
    const body = bodyOf(a.seal(frame(5, "secret payload")));
    for (let bit = 0; bit < body.length * 8; bit++) {
      const c = Buffer.from(body);
      c[bit >> 3] ^= 1 << (bit & 7);
      const fresh = new SecureChannel(K2, K1); // counter 0, like the intended receiver
      assert.throws(() => fresh.open(c), FrameError, `bit ${bit}`);
    }
    assert.equal(decodeFrame(new SecureChannel(K2, K1).open(body)).payload.toString(), "secret payload");
  });

  it("any flipped bit in the length header never yields an opened record", () => {
    const { a } = pair();
    const wire = Buffer.concat(a.seal(frame(5, "secret payload")));
    for (let bit = 0; bit < 32; bit++) {
      const c = Buffer.from(wire);
      c[bit >> 3] ^= 1 << (bit & 7);
      const dec = new RecordDecoder(1 << 16);
      let bodies: Buffer[] = [];
      try {
        bodies = dec.push(Buffer.concat([c, Buffer.alloc(64)])); // trailing bytes so a longer length can complete
      } catch (err) {
        assert.ok(err instanceof FrameError || err instanceof MessageTooLargeError, `bit ${bit}: ${(err as Error).name}`);
        continue;
      }
      if (bodies.length) assert.throws(() => new SecureChannel(K2, K1).open(bodies[0]), FrameError, `bit ${bit}`);
    }
  });

  it("a body shorter than a tag, empty, or a wrong key -> FrameError", () => {
    for (const n of [0, 1, 15, 16]) assert.throws(() => new SecureChannel(K2, K1).open(Buffer.alloc(n)), FrameError, `${n} bytes`);
    const body = bodyOf(new SecureChannel(K1, K2).seal(frame(1, "x")));
    assert.throws(() => new SecureChannel(K1, K2).open(body), FrameError, "the sender's own receive key is not the one it sealed with");
  });

  it("records opened out of order, replayed or skipped fail (nonce counter)", () => {
    const { a, b } = pair();
    const r0 = bodyOf(a.seal(frame(0, "zero")));
    const r1 = bodyOf(a.seal(frame(1, "one")));
    const r2 = bodyOf(a.seal(frame(2, "two")));
    assert.throws(() => b.open(r1), FrameError, "r1 before r0");

    const { b: b2 } = pair();
    assert.equal(decodeFrame(b2.open(r0)).seq, 0);
    assert.throws(() => b2.open(r0), FrameError, "replay of r0");

    const { b: b3 } = pair();
    b3.open(r0);
    assert.throws(() => b3.open(r2), FrameError, "r1 skipped");

    // the other direction's records cannot be reflected back
    const { a: a4, b: b4 } = pair();
    const fromB = bodyOf(b4.seal(frame(0, "b")));
    assert.throws(() => b4.open(fromB), FrameError, "reflection");
    assert.equal(decodeFrame(a4.open(fromB)).payload.toString(), "b");
  });
});
