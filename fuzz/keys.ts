/**
 * Fixed identities for the fuzz targets, so a reported input replays: an
 * Ed25519 PKCS#8 key is a constant prefix plus the 32-byte seed.
 */
import { Identity } from "../src/identity/identity.ts";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function fixedIdentity(n: number): Identity {
  const der = Buffer.concat([PKCS8_PREFIX, Buffer.alloc(32, n)]);
  const pem = `-----BEGIN PRIVATE KEY-----\n${der.toString("base64")}\n-----END PRIVATE KEY-----\n`;
  return Identity.fromPem(pem);
}

/** Small-order and non-canonical Ed25519 / X25519 encodings (issue 9 item 1): the dictionary for key fields. */
export const WEAK_KEYS: readonly Uint8Array[] = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity point
  "0000000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2 (y = -1)
  "0000000000000000000000000000000000000000000000000000000000000080",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p (non-canonical 0)
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p + 1
  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // X25519 order 8
].map((h) => new Uint8Array(Buffer.from(h, "hex")));
