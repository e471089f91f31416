/** STUN: the message codec, single attribute values, the TCP framer and stun: URIs (RFC 8489, RFC 8656 framing, RFC 7064). */
import fc from "fast-check";
import { decode, decodeAttributeValue, encode, attrName, AttrType, Method, type StunAttribute, type StunMessage } from "../../src/stun/codec.ts";
import { StunFramer } from "../../src/stun/framer.ts";
import { parseStunUri } from "../../src/stun/uri.ts";
import { chunkSizes, chunked, fuzzBytes, fuzzText, type FuzzTarget } from "../harness.ts";
import { LONG_TERM_REQUEST, SAMPLE_REQUEST, SAMPLE_V4_RESPONSE, SAMPLE_V6_RESPONSE, TXID } from "../../test/stun/vectors.ts";

const MAX_FRAME = 20 + 0xffff;

/** Every known attribute once, both address families, our extensions, integrity and fingerprint. */
const rich: StunMessage = {
  method: Method.ALLOCATE,
  class: "error",
  transactionId: TXID,
  attributes: [
    { type: "ERROR-CODE", value: { code: 401, reason: "Unauthorized" } },
    { type: "XOR-MAPPED-ADDRESS", value: { family: 6, address: "2001:db8::5", port: 9 } },
    { type: "XOR-PEER-ADDRESS", value: { family: 4, address: "192.0.2.7", port: 40000 } },
    { type: "MAPPED-ADDRESS", value: { family: 4, address: "198.51.100.1", port: 1 } },
    { type: "OTHER-ADDRESS", value: { family: 4, address: "127.0.0.2", port: 3479 } },
    { type: "RESPONSE-ORIGIN", value: { family: 6, address: "::ffff:10.0.0.1", port: 3478 } },
    { type: "UNKNOWN-ATTRIBUTES", value: [1, 2, 3] },
    { type: "LIFETIME", value: 600 },
    { type: "DATA", value: new Uint8Array(7) },
    { type: "CHANGE-REQUEST", value: { changeIp: true, changePort: false } },
    { type: "NONCE", value: "abc" },
    { type: "REALM", value: "example.org" },
    { type: "RESPONSE-PORT", value: 5000 },
    { type: "CHANNEL-NUMBER", value: 0x4001 },
    { type: "REQUESTED-TRANSPORT", value: 6 },
    { type: "CONNECTION-ID", value: 77 },
    { type: "P2PNODE-DIAL-BACK", value: { token: new Uint8Array(8).fill(9), changeIp: true } },
    { type: "P2PNODE-DIAL-PORT", value: { port: 4000, result: "connected" } },
    { type: 0x7fff, value: new Uint8Array([1, 2, 3]) },
  ],
};
const binding: StunMessage = { method: Method.BINDING, class: "success", transactionId: TXID, attributes: [{ type: "XOR-MAPPED-ADDRESS", value: { family: 4, address: "203.0.113.9", port: 65535 } }] };

export const STUN_SEEDS: readonly Uint8Array[] = [
  SAMPLE_REQUEST,
  SAMPLE_V4_RESPONSE,
  SAMPLE_V6_RESPONSE,
  LONG_TERM_REQUEST,
  encode(rich),
  encode(rich, { fingerprint: true }),
  encode(rich, { integrityKey: new Uint8Array(16), fingerprint: true }),
  encode(binding),
  encode({ method: Method.BINDING, class: "request", transactionId: TXID, attributes: [] }),
];
const COOKIE = Uint8Array.of(0x21, 0x12, 0xa4, 0x42);
const DICT = [COOKIE, ...Object.values(AttrType).map((t) => Uint8Array.of(t >> 8, t & 0xff)), Uint8Array.of(0x80, 0x28, 0, 4), Uint8Array.of(0, 8, 0, 20)];

/** Random attributes behind a valid header (type, length, cookie): gets every input past the header checks (was test/stun/fuzz.test.ts). */
const validHeader = fc.record({ type: fc.nat({ max: 0x3fff }), body: fc.uint8Array({ maxLength: 120 }), tx: fc.uint8Array({ minLength: 12, maxLength: 12 }) }).map(({ type, body, tx }) => {
  const len = body.length & ~3;
  const b = new Uint8Array(20 + len);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, type);
  dv.setUint16(2, len);
  b.set(COOKIE, 4);
  b.set(tx, 8);
  b.set(body.subarray(0, len), 20);
  return b;
});

const stunDecode: FuzzTarget<Uint8Array> = {
  name: "stun.decode",
  arb: fc.oneof({ arbitrary: fuzzBytes(STUN_SEEDS, { dict: DICT }), weight: 4 }, { arbitrary: validHeader, weight: 1 }),
  run: (b) => decode(b),
  throws: "typed",
  testRuns: 2000,
};

/** One attribute value under every known type number (the decoder behind decode()). */
const KNOWN = Object.values(AttrType);
const ATTR_SEEDS = STUN_SEEDS.slice(4, 5).flatMap((m) => {
  const out: Uint8Array[] = [];
  for (let off = 20; off + 4 <= m.length; ) {
    const len = (m[off + 2] << 8) | m[off + 3];
    out.push(m.slice(off + 4, off + 4 + len));
    off += 4 + ((len + 3) & ~3);
  }
  return out;
});
const stunAttribute: FuzzTarget<{ type: number; value: Uint8Array }> = {
  name: "stun.attribute",
  arb: fc.record({ type: fc.oneof(fc.constantFrom(...KNOWN), fc.nat({ max: 0xffff })), value: fuzzBytes(ATTR_SEEDS, { maxRandom: 40 }) }),
  run: ({ type, value }) => decodeAttributeValue(type, attrName(type), value, TXID),
  throws: "typed",
  testRuns: 2000,
  show: (i) => `type 0x${i.type.toString(16)} value ${Buffer.from(i.value).toString("hex")}`,
};

/** A TCP stream of mutated messages cut into arbitrary chunks; the framer never holds more than one frame. */
const stream = fc.record({ parts: fc.array(fuzzBytes(STUN_SEEDS, { dict: DICT }), { minLength: 1, maxLength: 4 }), sizes: chunkSizes });
const stunFramer: FuzzTarget<{ parts: Uint8Array[]; sizes: number[] }> = {
  name: "stun.framer",
  arb: stream,
  run: ({ parts, sizes }) => {
    const f = new StunFramer();
    let frames = 0;
    for (const c of chunked(new Uint8Array(Buffer.concat(parts)), sizes)) {
      for (const fr of f.push(c)) {
        frames++;
        if (fr.bytes.length > MAX_FRAME) throw new Error(`frame of ${fr.bytes.length} bytes`);
        if (fr.kind === "stun") {
          try {
            decode(fr.bytes);
          } catch (err) {
            if (!(err instanceof Error && err.name === "StunError")) throw err;
          }
        }
      }
      if (f.buffered > MAX_FRAME) throw new Error(`framer buffers ${f.buffered} bytes`);
    }
    return frames;
  },
  rejected: () => false,
  throws: "typed",
  testRuns: 500,
  show: (i) => `chunks ${JSON.stringify(i.sizes)} stream ${Buffer.concat(i.parts).toString("hex")}`,
};

const stunUri: FuzzTarget<string> = {
  name: "stun.uri",
  arb: fuzzText(["stun:stun.example.org", "stun:192.0.2.1:3478", "stun:[2001:db8::1]:19302", "STUN:host-1.example:1"]),
  run: (s) => parseStunUri(s),
  throws: "typed",
  check: (_s, r) => {
    const u = r as ReturnType<typeof parseStunUri>;
    if (parseStunUri(u.uri).uri !== u.uri) throw new Error(`canonical form ${u.uri} does not parse to itself`);
  },
  testRuns: 1000,
};

/** A maximum-size message one byte per chunk: the framer's cost must stay linear (it was quadratic: seconds per message). */
const big = encode({ method: Method.BINDING, class: "request", transactionId: TXID, attributes: [{ type: "DATA", value: new Uint8Array(0xfff0) }] });
const stunTrickle: FuzzTarget<number> = {
  name: "stun.framer-trickle",
  arb: fc.integer({ min: 1, max: 8 }),
  run: (step) => {
    const f = new StunFramer();
    let n = 0;
    for (let i = 0; i < big.length; i += step) n += f.push(big.subarray(i, i + step)).length;
    if (n !== 1 || f.buffered !== 0) throw new Error(`${n} frames, ${f.buffered} bytes left`);
    return n;
  },
  throws: "typed",
  testRuns: 3,
  maxRuns: 200,
};

export const targets: FuzzTarget[] = [stunDecode, stunAttribute, stunFramer, stunUri, stunTrickle];

// ---------------------------------------------------------------- valid values, for round trips

const ipv4 = fc.ipV4();
const transport = fc.oneof(
  fc.record({ family: fc.constant(4 as const), address: ipv4, port: fc.nat({ max: 0xffff }) }),
  fc.record({ family: fc.constant(6 as const), address: fc.ipV6().filter((a) => !a.includes(".")), port: fc.nat({ max: 0xffff }) }),
);
const text = (max: number) => fc.string({ maxLength: max / 4 });
export const validAttribute: fc.Arbitrary<StunAttribute> = fc.oneof(
  transport.map((value) => ({ type: "XOR-MAPPED-ADDRESS" as const, value })),
  transport.map((value) => ({ type: "MAPPED-ADDRESS" as const, value })),
  transport.map((value) => ({ type: "OTHER-ADDRESS" as const, value })),
  fc.record({ changeIp: fc.boolean(), changePort: fc.boolean() }).map((value) => ({ type: "CHANGE-REQUEST" as const, value })),
  fc.record({ code: fc.integer({ min: 300, max: 699 }), reason: text(763) }).map((value) => ({ type: "ERROR-CODE" as const, value })),
  fc.array(fc.nat({ max: 0xffff }), { maxLength: 8 }).map((value) => ({ type: "UNKNOWN-ATTRIBUTES" as const, value })),
  text(513).map((value) => ({ type: "USERNAME" as const, value })),
  text(763).map((value) => ({ type: "SOFTWARE" as const, value })),
  fc.nat({ max: 0xffff }).map((value) => ({ type: "RESPONSE-PORT" as const, value })),
  fc.nat({ max: 0xffffffff }).map((value) => ({ type: "LIFETIME" as const, value })),
  fc.nat({ max: 255 }).map((value) => ({ type: "REQUESTED-TRANSPORT" as const, value })),
  fc.uint8Array({ maxLength: 64 }).map((value) => ({ type: "DATA" as const, value })),
  fc.record({ token: fc.uint8Array({ minLength: 8, maxLength: 8 }), changeIp: fc.boolean() }).map((value) => ({ type: "P2PNODE-DIAL-BACK" as const, value })),
  fc
    .record({ port: fc.integer({ min: 1, max: 0xffff }), result: fc.constantFrom(undefined, "connected" as const, "failed" as const) })
    .map(({ port, result }) => ({ type: "P2PNODE-DIAL-PORT" as const, value: result ? { port, result } : { port } })),
  fc.record({ type: fc.integer({ min: 0xc000, max: 0xc0d7 }), value: fc.uint8Array({ maxLength: 20 }) }),
);
export const validMessage: fc.Arbitrary<StunMessage> = fc.record({
  method: fc.nat({ max: 0xfff }),
  class: fc.constantFrom("request" as const, "indication" as const, "success" as const, "error" as const),
  transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  attributes: fc.array(validAttribute, { maxLength: 6 }),
}).map((m) => structuredClone(m)); // plain prototypes, as decode() builds them
