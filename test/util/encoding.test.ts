import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { base32Decode, base32Encode, base64urlDecode, base64urlEncode } from "../../src/util/encoding.ts";

/** Deterministic pseudo-random bytes (no Math.random: failures must reproduce). */
function bytes(n: number, seed = n): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("hex"));

describe("base32 (RFC 4648, lowercase, no padding)", () => {
  // RFC 4648 §10 test vectors, lowercased and without "=" padding.
  const vectors: Array<[string, string]> = [
    ["", ""],
    ["f", "my"],
    ["fo", "mzxq"],
    ["foo", "mzxw6"],
    ["foob", "mzxw6yq"],
    ["fooba", "mzxw6ytb"],
    ["foobar", "mzxw6ytboi"],
  ];
  for (const [plain, enc] of vectors) {
    it(`RFC 4648 vector ${JSON.stringify(plain)} <-> ${JSON.stringify(enc)}`, () => {
      assert.equal(base32Encode(Buffer.from(plain)), enc);
      assert.equal(hex(base32Decode(enc)), Buffer.from(plain).toString("hex"));
    });
  }

  it("hex vectors: all-zero, all-one and boundary bytes", () => {
    const table: Array<[string, string]> = [
      ["00", "aa"],
      ["ff", "74"],
      ["0000000000", "aaaaaaaa"],
      ["ffffffffff", "77777777"],
      ["0842108421", "bbbbbbbb"], // every 5-bit group = 1
      ["ffffffffffff", "7777777774"],
    ];
    for (const [h, enc] of table) {
      assert.equal(base32Encode(Buffer.from(h, "hex")), enc, h);
      assert.equal(hex(base32Decode(enc)), h, enc);
    }
  });

  it("round-trips every length 0..70 and produces ceil(8n/5) lowercase alphabet characters", () => {
    for (let n = 0; n <= 70; n++) {
      for (const seed of [n, n + 1000, n + 7777]) {
        const b = bytes(n, seed);
        const enc = base32Encode(b);
        assert.equal(enc.length, Math.ceil((n * 8) / 5), `length ${n}`);
        assert.match(enc, /^[a-z2-7]*$/);
        assert.equal(hex(base32Decode(enc)), hex(b), `length ${n}`);
      }
      assert.equal(hex(base32Decode(base32Encode(new Uint8Array(n).fill(0xff)))), hex(new Uint8Array(n).fill(0xff)));
    }
  });

  it("rejects characters outside the lowercase alphabet", () => {
    const good = base32Encode(bytes(10));
    for (const bad of ["A", "Z", "0", "1", "8", "9", "=", " ", "-", "_", "\n", "é", "\u212a" /* Kelvin sign */]) {
      for (const pos of [0, 5, good.length - 1]) {
        const s = good.slice(0, pos) + bad + good.slice(pos + 1);
        assert.equal(base32Decode(s), null, `${JSON.stringify(bad)} at ${pos}`);
      }
    }
    assert.equal(base32Decode(good.toUpperCase()), null, "uppercase is not canonical");
    assert.equal(base32Decode(good + "="), null, "padding is not accepted");
  });

  it("rejects impossible lengths (1, 3 or 6 characters mod 8)", () => {
    for (let len = 0; len <= 40; len++) {
      const s = "a".repeat(len);
      const valid = [0, 2, 4, 5, 7].includes(len % 8);
      assert.equal(base32Decode(s) !== null, valid, `length ${len}`);
    }
  });

  it("rejects non-zero tail bits (two strings must never decode to the same bytes)", () => {
    for (let n = 1; n <= 12; n++) {
      const b = bytes(n, 42);
      const enc = base32Encode(b);
      const unused = (5 - ((n * 8) % 5)) % 5;
      const last = "abcdefghijklmnopqrstuvwxyz234567".indexOf(enc[enc.length - 1]);
      for (let v = 0; v < 32; v++) {
        const s = enc.slice(0, -1) + "abcdefghijklmnopqrstuvwxyz234567"[v];
        const decoded = base32Decode(s);
        if (v === last) assert.equal(hex(decoded), hex(b));
        else if ((v & ((1 << unused) - 1)) !== 0) assert.equal(decoded, null, `n=${n} tail ${v}`);
        else assert.notEqual(hex(decoded), hex(b), `n=${n} tail ${v} must decode to other bytes`);
      }
    }
  });
});

describe("base64url (strict)", () => {
  it("RFC 4648 vectors without padding", () => {
    const table: Array<[string, string]> = [
      ["", ""],
      ["f", "Zg"],
      ["fo", "Zm8"],
      ["foo", "Zm9v"],
      ["foob", "Zm9vYg"],
      ["fooba", "Zm9vYmE"],
      ["foobar", "Zm9vYmFy"],
    ];
    for (const [plain, enc] of table) {
      assert.equal(base64urlEncode(Buffer.from(plain)), enc);
      assert.equal(Buffer.from(base64urlDecode(enc)!).toString(), plain);
    }
    // The url-safe characters: 0xfb 0xff -> "-_8"
    assert.equal(base64urlEncode(Buffer.from("fbff", "hex")), "-_8");
    assert.equal(hex(base64urlDecode("-_8")), "fbff");
  });

  it("round-trips every length 0..70, also for a subarray with an offset", () => {
    for (let n = 0; n <= 70; n++) {
      const b = bytes(n, n + 3);
      const enc = base64urlEncode(b);
      assert.match(enc, /^[A-Za-z0-9_-]*$/);
      assert.equal(hex(base64urlDecode(enc)), hex(b));
      const big = new Uint8Array(n + 10);
      big.set(b, 5);
      assert.equal(base64urlEncode(big.subarray(5, 5 + n)), enc);
    }
  });

  it("rejects padding, standard-alphabet characters, whitespace and impossible lengths", () => {
    for (const bad of ["Zg==", "Zm8=", "a+b/", "ab/c", "Zm9 v", " Zm9v", "Zm9v\n", "A", "AAAAA", "Zm9v!", "é"]) {
      assert.equal(base64urlDecode(bad), null, JSON.stringify(bad));
    }
  });

  it("rejects non-zero tail bits", () => {
    // "Zg" = 0x66; "Zh".."Zv" carry the same first byte with junk in the unused 4 bits.
    assert.equal(hex(base64urlDecode("Zg")), "66");
    for (const s of ["Zh", "Zi", "Zv", "Z_"]) assert.equal(base64urlDecode(s), null, s);
    // two bytes: 2 unused bits
    assert.equal(hex(base64urlDecode("Zm8")), "666f");
    for (const s of ["Zm9", "Zm-", "Zm_"]) assert.equal(base64urlDecode(s), null, s);
  });
});
