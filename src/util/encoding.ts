/** Text encodings used for ids and addresses. Pure functions. */

const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const B32_INDEX = new Map([...B32].map((c, i) => [c, i]));

/** RFC 4648 base32, lowercase, no padding (ids are typed and read aloud; no ambiguous case). */
export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** Inverse of base32Encode; returns null on any invalid character or non-canonical tail. */
export function base32Decode(text: string): Uint8Array | null {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let j = 0;
  for (const c of text) {
    const v = B32_INDEX.get(c);
    if (v === undefined) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[j++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // Leftover bits must be zero, or two strings would decode to the same bytes.
  if (bits >= 5 || (value & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

export function base64urlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Strict base64url decode: null on characters outside the alphabet or a non-canonical length. */
export function base64urlDecode(text: string): Uint8Array | null {
  if (!B64URL.test(text) || text.length % 4 === 1) return null;
  const buf = Buffer.from(text, "base64url");
  if (buf.toString("base64url") !== text) return null;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
