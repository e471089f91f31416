// The transfer codec: every message round-trips; everything out of shape from a peer is a ProtocolError.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProtocolError } from "../../src/errors.ts";
import { decode, encode, TRANSFER_LIMITS, type TransferMessage } from "../../src/transfer/codec.ts";

const H = "ab".repeat(32);
const json = (kind: number, body: unknown) => Buffer.concat([Buffer.from([kind]), Buffer.from(typeof body === "string" ? body : JSON.stringify(body))]);

test("every message round-trips", () => {
  const msgs: TransferMessage[] = [
    { type: "offer", files: [{ name: "a.bin", size: 0, sha256: H }, { name: "ü b", size: 2 ** 40, sha256: H }] },
    { type: "answer", files: [{ offset: 0 }, { offset: 10, prefix: H }, { offset: 7, complete: true }] },
    { type: "start", index: 1, offset: 10 },
    { type: "chunk", index: 999, offset: 2 ** 50 - 1, data: new Uint8Array([1, 2, 3]) },
    { type: "verified", index: 0, sha256: H },
    { type: "error", code: "disk-full", message: "no space", index: 3 },
    { type: "error", code: "refused", message: "no" },
  ];
  for (const m of msgs) {
    const back = decode(encode(m));
    if (m.type === "chunk" && back.type === "chunk") assert.deepEqual({ ...back, data: [...back.data] }, { ...m, data: [...m.data] });
    else assert.deepEqual(back, m);
  }
});

test("hostile or malformed input is a ProtocolError, never a crash (table)", () => {
  const chunkHeader = (index: number, offset: bigint, data = 1) => {
    const b = Buffer.alloc(13 + data);
    b[0] = 4;
    b.writeUInt32BE(index, 1);
    b.writeBigUInt64BE(offset, 5);
    return b;
  };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["empty", new Uint8Array(), /empty/],
    ["unknown kind", new Uint8Array([9, 1]), /unknown message kind 9/],
    ["not JSON", json(1, "{nope"), /not UTF-8 JSON/],
    ["bad UTF-8", Buffer.from([1, 0xff, 0xfe]), /not UTF-8 JSON/],
    ["array body", json(1, [1]), /JSON object/],
    ["wrong version", json(1, { v: 2, files: [] }), /version 2/],
    ["no files", json(1, { v: 1, files: [] }), /1 to 1000 entries/],
    ["too many files", json(1, { v: 1, files: Array.from({ length: TRANSFER_LIMITS.maxFiles + 1 }, () => ({ name: "a", size: 1, sha256: H })) }), /1 to 1000/],
    ["negative size", json(1, { v: 1, files: [{ name: "a", size: -1, sha256: H }] }), /size must be a whole number/],
    ["fractional size", json(1, { v: 1, files: [{ name: "a", size: 1.5, sha256: H }] }), /size/],
    ["size over the limit", json(1, { v: 1, files: [{ name: "a", size: 2 ** 51, sha256: H }] }), /size/],
    ["size as a string", json(1, { v: 1, files: [{ name: "a", size: "1", sha256: H }] }), /size/],
    ["uppercase hash", json(1, { v: 1, files: [{ name: "a", size: 1, sha256: H.toUpperCase() }] }), /SHA-256/],
    ["short hash", json(1, { v: 1, files: [{ name: "a", size: 1, sha256: "ab" }] }), /SHA-256/],
    ["name not a string", json(1, { v: 1, files: [{ name: 5, size: 1, sha256: H }] }), /name/],
    ["huge name", json(1, { v: 1, files: [{ name: "a".repeat(2000), size: 1, sha256: H }] }), /name/],
    ["control message too large", json(2, { v: 1, pad: "x".repeat(TRANSFER_LIMITS.maxControlBytes) }), /over/],
    ["answer offset negative", json(2, { v: 1, files: [{ offset: -5 }] }), /offset/],
    ["answer bad prefix", json(2, { v: 1, files: [{ offset: 5, prefix: "zz" }] }), /prefix/],
    ["answer complete not true", json(2, { v: 1, files: [{ offset: 5, complete: false }] }), /complete must be true/],
    ["answer complete and partial", json(2, { v: 1, files: [{ offset: 5, complete: true, prefix: "ab".repeat(32) }] }), /complete and partial/],
    ["start index too big", json(3, { v: 1, index: 1000, offset: 0 }), /index/],
    ["error unknown code", json(6, { v: 1, code: "rm -rf", message: "x" }), /error.code/],
    ["error message not text", json(6, { v: 1, code: "refused", message: 5 }), /message/],
    ["chunk without data", chunkHeader(0, 0n, 0), /without data/],
    ["chunk index too big", chunkHeader(5000, 0n), /index/],
    ["chunk offset too big", chunkHeader(0, 2n ** 60n), /offset/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => decode(bytes), (e: unknown) => e instanceof ProtocolError && re.test((e as Error).message), what);
  }
});

test("an error text from a peer is cut and loses its control characters (no terminal escapes)", () => {
  const m = decode(json(6, { v: 1, code: "refused", message: "\u001b[2Jgone\n" + "x".repeat(900) }));
  assert.equal(m.type, "error");
  if (m.type !== "error") return;
  assert.ok(m.message.startsWith("?[2Jgone?"));
  assert.equal(m.message.length, TRANSFER_LIMITS.maxErrorText);
});
