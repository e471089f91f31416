/**
 * The record AEAD: ChaCha20-Poly1305 (RFC 8439, IETF variant: 96-bit nonce,
 * 16-byte tag), one-shot. Two implementations of the same function, so a
 * record sealed by one opens with the other:
 *   - `sodium-native` (libsodium, prebuilt binary in its npm package), when it
 *     loads, for records under LARGE_RECORD: one native call per record, no
 *     cipher object (measured 7-8× cheaper per small record than node:crypto here);
 *   - node:crypto's "chacha20-poly1305" (createCipheriv) for larger records, and
 *     for all of them when libsodium does not load (no prebuild for the platform,
 *     or P2PNODE_AEAD=node).
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { createRequire } from "node:module";

/** The tag length of ChaCha20-Poly1305. */
export const AEAD_TAG_LENGTH = 16;

/** One-shot AEAD over a record: what SecureChannel needs. */
export interface RecordAead {
  /** "sodium", "node" or "sodium+node": which implementation seals (diagnostics, tests, bench). */
  readonly name: "sodium" | "node" | "sodium+node";
  /** Encrypts the concatenation of `parts` (`length` bytes); returns the ciphertext then the 16-byte tag, as one or more buffers. */
  seal(parts: readonly Uint8Array[], length: number, aad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer[];
  /** Decrypts `body` (ciphertext then tag); undefined if the tag does not verify. */
  open(body: Uint8Array, aad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer | undefined;
}

/** The libsodium calls we use (sodium-native ships no type declarations). */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

/** node:crypto's ChaCha20-Poly1305: a cipher object per record, each part encrypted in place of a copy. */
export const nodeAead: RecordAead = {
  name: "node",
  seal(parts, length, aad, nonce, key) {
    const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: AEAD_TAG_LENGTH });
    c.setAAD(aad, { plaintextLength: length });
    const out: Buffer[] = [];
    for (const p of parts) if (p.length) out.push(c.update(p));
    c.final(); // empty for a stream cipher
    out.push(c.getAuthTag());
    return out;
  },
  open(body, aad, nonce, key) {
    const n = body.length - AEAD_TAG_LENGTH;
    const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: AEAD_TAG_LENGTH });
    d.setAAD(aad, { plaintextLength: n });
    d.setAuthTag(body.subarray(n));
    const plain = d.update(body.subarray(0, n));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return plain;
  },
};

/** libsodium's one-shot ChaCha20-Poly1305 (IETF), or undefined when sodium-native does not load. */
export function loadSodiumAead(): RecordAead | undefined {
  let s: Sodium;
  try {
    s = createRequire(import.meta.url)("sodium-native") as Sodium;
    if (typeof s.crypto_aead_chacha20poly1305_ietf_encrypt !== "function") return undefined;
  } catch {
    return undefined; // not installed, or no prebuild for this platform
  }
  return {
    name: "sodium",
    seal(parts, length, aad, nonce, key) {
      const plain = parts.length === 1 ? parts[0] : Buffer.concat(parts, length);
      const out = Buffer.allocUnsafe(length + AEAD_TAG_LENGTH);
      s.crypto_aead_chacha20poly1305_ietf_encrypt(out, plain, aad, null, nonce, key);
      return [out];
    },
    open(body, aad, nonce, key) {
      const out = Buffer.allocUnsafe(body.length - AEAD_TAG_LENGTH);
      try {
        s.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, body, aad, nonce, key);
        return out;
      } catch {
        return undefined; // libsodium: "could not verify data"
      }
    },
  };
}

/**
 * Records of at least this many bytes go through node:crypto even when libsodium
 * loaded: OpenSSL's vectorised ChaCha20 costs ~12 µs to set up but is ~2× faster per
 * byte (measured here: 16 KiB 12.9 vs 18.9 µs, 64 KiB 36 vs 64 µs; 1 KiB 18.8 vs 2.3 µs).
 */
export const LARGE_RECORD = 8 * 1024;

/** Small records through `small`, large ones through `large`: the same function, so the same bytes. */
export function splitAead(small: RecordAead, large: RecordAead): RecordAead {
  return {
    name: "sodium+node",
    seal: (parts, length, aad, nonce, key) => (length < LARGE_RECORD ? small : large).seal(parts, length, aad, nonce, key),
    open: (body, aad, nonce, key) => (body.length < LARGE_RECORD ? small : large).open(body, aad, nonce, key),
  };
}

/** What records use: libsodium for small records and node:crypto for large ones, or node:crypto alone (no sodium-native, or P2PNODE_AEAD=node). */
function chooseAead(): RecordAead {
  const sodium = process.env.P2PNODE_AEAD === "node" ? undefined : loadSodiumAead();
  return sodium ? splitAead(sodium, nodeAead) : nodeAead;
}

/** The implementation records use (see chooseAead). */
export const defaultAead: RecordAead = chooseAead();
