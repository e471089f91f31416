import assert from "node:assert/strict";
import { createCipheriv, hkdfSync } from "node:crypto";
import net from "node:net";
import { describe, it } from "node:test";
import { FrameError, InvalidArgumentError, MessageTooLargeError } from "../../src/errors.ts";
import { FRAME_HEADER_LENGTH, FrameType, RecordDecoder, TAG_LENGTH, decodeFrame, encodeFrameHeader } from "../../src/session/frame.ts";
import { Pipe } from "../../src/pipe/pipe.ts";
import { REKEY_BYTES, REKEY_RECORDS, SecureChannel } from "../../src/session/secure-channel.ts";
import { defaultAead, LARGE_RECORD, loadSodiumAead, nodeAead, splitAead } from "../../src/session/record-aead.ts";

const K1 = Buffer.alloc(32, 0x11);
const K2 = Buffer.alloc(32, 0x22);
/** A connected pair: a's send key is b's receive key and vice versa. */
const pair = () => ({ a: new SecureChannel(K1, K2), b: new SecureChannel(K2, K1) });
const frame = (seq: number, payload: string) => [encodeFrameHeader(FrameType.DATA, 0, seq, 0), Buffer.from(payload)];
/** The record body (what RecordDecoder yields): everything after the 4-byte length. */
const bodyOf = (record: Buffer[]) => Buffer.concat(record).subarray(4);

describe("SecureChannel", () => {
  it("sodium-native loads here, and is what records use by default", () => {
    assert.equal(loadSodiumAead()?.name, "sodium");
    assert.equal(defaultAead.name, process.env.P2PNODE_AEAD === "node" ? "node" : "sodium+node");
  });

  it("RFC 8439 §2.8.2 test vector, through both implementations", () => {
    const key = Buffer.from("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", "hex");
    const nonce = Buffer.from("070000004041424344454647", "hex");
    const aad = Buffer.from("50515253c0c1c2c3c4c5c6c7", "hex");
    const plain = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const tag = "1ae10b594f09e26a7e902ecbd0600691";
    for (const aead of [nodeAead, loadSodiumAead()!]) {
      for (const parts of [[plain], [plain.subarray(0, 7), plain.subarray(7)]]) {
        const out = Buffer.concat(aead.seal(parts, plain.length, aad, nonce, key));
        assert.equal(out.subarray(0, 16).toString("hex"), "d31a8d34648e60db7b86afbc53ef7ec2", aead.name);
        assert.equal(out.subarray(plain.length).toString("hex"), tag, aead.name);
        assert.deepEqual(aead.open(out, aad, nonce, key), plain, aead.name);
        out[0] ^= 1;
        assert.equal(aead.open(out, aad, nonce, key), undefined, `${aead.name}: a flipped bit`);
      }
    }
  });

  it("a sodium end and a node:crypto end talk, both ways, across key updates", () => {
    const sodium = loadSodiumAead()!;
    const split = splitAead(sodium, nodeAead);
    for (const [x, y] of [[sodium, nodeAead], [nodeAead, sodium], [split, sodium], [nodeAead, split]]) {
      const a = new SecureChannel(K1, K2, { aead: x, rekeyRecords: 3 });
      const b = new SecureChannel(K2, K1, { aead: y, rekeyRecords: 3 });
      for (let i = 0; i < 20; i++) {
        const payload = "z".repeat(i % 2 ? i * 13 : LARGE_RECORD + i - 10); // either side of the split
        assert.equal(decodeFrame(b.open(bodyOf(a.seal(frame(i, payload))))).payload.toString(), payload);
        assert.equal(decodeFrame(a.open(bodyOf(b.seal(frame(i, `back ${i}`))))).payload.toString(), `back ${i}`);
      }
      assert.deepEqual(a.epochs, { send: 6, recv: 6 });
    }
  });

  it("hex vector: record 0 is ChaCha20-Poly1305 with a zero nonce and the length header as AAD", () => {
    const { a } = pair();
    const rec = a.seal([Buffer.from("hi")]);
    const wire = Buffer.concat(rec);
    assert.equal(wire.subarray(0, 4).toString("hex"), "00000012"); // 2 + 16
    const c = createCipheriv("chacha20-poly1305", K1, Buffer.alloc(12), { authTagLength: 16 });
    c.setAAD(Buffer.from("00000012", "hex"), { plaintextLength: 2 });
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
      const input = Buffer.concat([c, Buffer.alloc(64)]); // trailing bytes so a longer length can complete
      const len = c.readUInt32BE(0);
      // Which refusal depends on the flipped length: each case is asserted exactly.
      if (len > 1 << 16) assert.throws(() => dec.push(input), MessageTooLargeError, `bit ${bit}: length ${len}`);
      else if (len < TAG_LENGTH + FRAME_HEADER_LENGTH) assert.throws(() => dec.push(input), FrameError, `bit ${bit}: length ${len}`);
      else {
        // Exactly the bytes this length claims (when there are that many): one record, which must not open.
        const complete = len <= input.length - 4;
        const bodies = dec.push(complete ? input.subarray(0, 4 + len) : input);
        assert.equal(bodies.length, complete ? 1 : 0, `bit ${bit}: length ${len}`);
        if (complete) assert.throws(() => new SecureChannel(K2, K1).open(bodies[0]), FrameError, `bit ${bit}`);
      }
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

describe("SecureChannel: key update before the AEAD usage limits", () => {
  const next = (k: Buffer) => Buffer.from(hkdfSync("sha256", k, Buffer.alloc(0), "p2pnode/1 key update", 32));
  const chacha = (key: Buffer, counter: number, header: string, plain: string) => {
    const iv = Buffer.alloc(12);
    iv.writeUIntBE(counter, 6, 6);
    const c = createCipheriv("chacha20-poly1305", key, iv, { authTagLength: 16 });
    c.setAAD(Buffer.from(header, "hex"), { plaintextLength: Buffer.byteLength(plain) });
    return Buffer.concat([c.update(Buffer.from(plain)), c.final(), c.getAuthTag()]).toString("hex");
  };

  it("defaults: 2^32 records or 2^40 bytes per key (far inside the 48-bit nonce counter)", () => {
    assert.equal(REKEY_RECORDS, 2 ** 32);
    assert.equal(REKEY_BYTES, 2 ** 40);
  });

  it("vector: after rekeyRecords records the key is HKDF(key, '', 'p2pnode/1 key update') and the counter restarts", () => {
    const a = new SecureChannel(K1, K2, { rekeyRecords: 2 });
    const wire = [0, 1, 2, 3, 4].map(() => Buffer.concat(a.seal([Buffer.from("hi")])).subarray(4).toString("hex"));
    const K1b = next(K1);
    assert.deepEqual(wire, [chacha(K1, 0, "00000012", "hi"), chacha(K1, 1, "00000012", "hi"), chacha(K1b, 0, "00000012", "hi"), chacha(K1b, 1, "00000012", "hi"), chacha(next(K1b), 0, "00000012", "hi")]);
    assert.deepEqual(a.epochs, { send: 2, recv: 0 });
  });

  it("records keep flowing both ways across many key updates (by count and by bytes)", () => {
    for (const opts of [{ rekeyRecords: 3 }, { rekeyBytes: 100 }, { rekeyRecords: 1 }]) {
      const a = new SecureChannel(K1, K2, opts);
      const b = new SecureChannel(K2, K1, opts);
      for (let i = 0; i < 50; i++) {
        const payload = "p".repeat(i % 9);
        assert.equal(decodeFrame(b.open(bodyOf(a.seal(frame(i, payload))))).payload.toString(), payload, `${JSON.stringify(opts)} a->b ${i}`);
        if (i % 2) assert.equal(decodeFrame(a.open(bodyOf(b.seal(frame(i, "back"))))).payload.toString(), "back");
      }
      assert.ok(a.epochs.send >= 5 && b.epochs.recv === a.epochs.send, `${JSON.stringify(opts)}: ${JSON.stringify(a.epochs)}`);
      assert.equal(a.epochs.recv, b.epochs.send);
    }
  });

  it("a record sealed under the old key after the update is rejected", () => {
    const receiver = new SecureChannel(K2, K1, { rekeyRecords: 3 });
    const stale = new SecureChannel(K1, K2, { rekeyRecords: 2 ** 48 }); // a sender that never updates
    for (let i = 0; i < 3; i++) receiver.open(bodyOf(stale.seal(frame(i, "ok"))));
    assert.throws(() => receiver.open(bodyOf(stale.seal(frame(3, "old key")))), FrameError);
    // and replaying an old-epoch record, even with the counter it had, fails too
    const r2 = new SecureChannel(K2, K1, { rekeyRecords: 1 });
    const s2 = new SecureChannel(K1, K2, { rekeyRecords: 1 });
    const first = bodyOf(s2.seal(frame(0, "epoch 0")));
    r2.open(first);
    assert.throws(() => r2.open(first), FrameError);
  });

  it("rekey limits are validated (the counter is 48 bits)", () => {
    for (const bad of [{ rekeyRecords: 0 }, { rekeyRecords: 2 ** 48 + 1 }, { rekeyRecords: 1.5 }, { rekeyBytes: 0 }, { rekeyBytes: Number.NaN }]) {
      assert.throws(() => new SecureChannel(K1, K2, bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });

  it("two pipes over real TCP with a 4-record key lifetime: 400 messages each way, in order, over many updates", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
    const c = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port });
    await new Promise((r) => c.once("connect", r));
    const s = await accepted;
    const opts = { rekeyRecords: 4 };
    const chA = new SecureChannel(K1, K2, opts);
    const chB = new SecureChannel(K2, K1, opts);
    const session = (channel: SecureChannel) => ({ remoteId: "x" as never, remoteParams: { maxMessageSize: 1 << 20 }, channel, leftover: Buffer.alloc(0), binding: Buffer.alloc(32), resumeKey: Buffer.alloc(32) });
    const a = new Pipe({ stream: c, session: session(chA), role: "initiator", strategy: "test", inbound: false });
    const b = new Pipe({ stream: s, session: session(chB), role: "responder", strategy: "test", inbound: true });
    try {
      // One record per message for the first 100 (awaited), then batches of 30 sealed together.
      for (let i = 0; i < 100; i++) await Promise.all([a.send(`a${i}`), b.send(`b${i}`)]);
      const sends: Promise<void>[] = [];
      for (let i = 100; i < 400; i++) {
        if (i % 30 === 0) await Promise.all(sends);
        sends.push(a.send(`a${i}`), b.send(`b${i}`));
      }
      await Promise.all(sends);
      for (let i = 0; i < 400; i++) {
        assert.equal((await b.recv({ timeout: 5000 })).text, `a${i}`);
        assert.equal((await a.recv({ timeout: 5000 })).text, `b${i}`);
      }
      assert.ok(chA.epochs.send >= 25 && chB.epochs.send >= 25, `updates: ${JSON.stringify(chA.epochs)}`);
      assert.deepEqual(chA.epochs, { send: chB.epochs.recv, recv: chB.epochs.send });
      await Promise.all([a.close(), b.close()]);
      assert.equal(a.error, undefined);
      assert.equal(b.error, undefined);
    } finally {
      a.destroy();
      b.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
