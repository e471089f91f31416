import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { StunError } from "../../src/errors.ts";
import { decode, encode, Method, type StunMessage } from "../../src/stun/codec.ts";
import { StunFramer } from "../../src/stun/framer.ts";
import { LONG_TERM_REQUEST, SAMPLE_REQUEST, SAMPLE_V4_RESPONSE, SAMPLE_V6_RESPONSE, TXID } from "./vectors.ts";

// Deterministic PRNG so a failure can be replayed (mulberry32).
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rich: StunMessage = {
  method: Method.ALLOCATE,
  class: "error",
  transactionId: TXID,
  attributes: [
    { type: "ERROR-CODE", value: { code: 401, reason: "Unauthorized" } },
    { type: "XOR-MAPPED-ADDRESS", value: { family: 6, address: "2001:db8::5", port: 9 } },
    { type: "OTHER-ADDRESS", value: { family: 4, address: "127.0.0.2", port: 3479 } },
    { type: "UNKNOWN-ATTRIBUTES", value: [1, 2, 3] },
    { type: "LIFETIME", value: 600 },
    { type: "DATA", value: new Uint8Array(7) },
    { type: "CHANGE-REQUEST", value: { changeIp: true, changePort: false } },
    { type: "NONCE", value: "abc" },
  ],
};
const SEEDS = [SAMPLE_REQUEST, SAMPLE_V4_RESPONSE, SAMPLE_V6_RESPONSE, LONG_TERM_REQUEST, encode(rich), encode(rich, { fingerprint: true })];

function onlyStunError(input: Uint8Array): void {
  try {
    decode(input);
  } catch (e) {
    if (!(e instanceof StunError)) assert.fail(`non-StunError ${String(e)} for ${Buffer.from(input).toString("hex")}`);
  }
}

describe("decoder fuzz: only ever StunError", () => {
  it("5000 random buffers (some with a valid header)", () => {
    const r = rng(1);
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(r() * 120);
      const b = new Uint8Array(randomBytes(len));
      if (len >= 20 && r() < 0.7) {
        b[0] &= 0x3f;
        b.set([0x21, 0x12, 0xa4, 0x42], 4);
        const body = (len - 20) & ~3;
        b[2] = body >> 8;
        b[3] = body & 0xff;
        onlyStunError(b.subarray(0, 20 + body));
      } else onlyStunError(b);
    }
  });

  it("20000 mutations of valid messages (flips, truncations, length edits)", () => {
    const r = rng(2);
    for (let i = 0; i < 20000; i++) {
      const seed = SEEDS[i % SEEDS.length];
      let b = seed.slice();
      const op = Math.floor(r() * 5);
      const pos = Math.floor(r() * b.length);
      if (op === 0) b[pos] ^= 1 << Math.floor(r() * 8);
      else if (op === 1) b[pos] = Math.floor(r() * 256);
      else if (op === 2) b = b.slice(0, pos);
      else if (op === 3) {
        // Rewrite an attribute length field (offsets 22, 23 of the first attribute or further).
        const at = 20 + 4 * Math.floor(r() * ((b.length - 20) / 4));
        if (at + 3 < b.length) b[at + 2 + Math.floor(r() * 2)] = Math.floor(r() * 256);
      } else b[2 + Math.floor(r() * 2)] = Math.floor(r() * 256);
      onlyStunError(b);
    }
  });

  it("framer: random chunks of a mutated stream only ever throw StunError", () => {
    const r = rng(3);
    for (let i = 0; i < 2000; i++) {
      const f = new StunFramer();
      const s = Uint8Array.from(Buffer.concat(SEEDS));
      s[Math.floor(r() * s.length)] ^= 0xff;
      let off = 0;
      try {
        while (off < s.length) {
          const n = 1 + Math.floor(r() * 40);
          for (const fr of f.push(s.subarray(off, off + n))) if (fr.kind === "stun") onlyStunError(fr.bytes);
          off += n;
        }
      } catch (e) {
        if (!(e instanceof StunError)) assert.fail(`non-StunError from framer: ${String(e)}`);
      }
    }
  });
});
