import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { ed25519, edwardsToMontgomeryPriv, edwardsToMontgomeryPub } from "@noble/curves/ed25519";
import { base32Decode, base32Encode } from "../util/encoding.ts";
import { IdentityError, InvalidArgumentError } from "../errors.ts";

/** A node id: the node's raw Ed25519 public key, base32 (52 characters). */
export type NodeId = string;

const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

// Keys already judged, so a busy node decompresses each peer's key once (bounded; cleared when full).
const keyVerdicts = new Map<string, boolean>();
const KEY_VERDICTS_MAX = 4096;

/**
 * Whether 32 bytes are an Ed25519 public key a node may have: a canonical
 * encoding (y < p, no "negative zero" x) of a point that is not of small order.
 * Small-order keys (the identity point `01 00…00` among them) let anyone forge
 * a signature that verifies for every message (R = A, S = 0), and they have no
 * X25519 counterpart to encrypt to; a real key pair never produces one.
 * Every key that enters from outside (node ids, addresses, signaling envelopes,
 * handshakes) goes through here.
 */
export function isValidPublicKey(raw: Uint8Array): boolean {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) return false;
  const hex = Buffer.from(raw.buffer, raw.byteOffset, 32).toString("hex");
  const known = keyVerdicts.get(hex);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    ok = !ed25519.ExtendedPoint.fromHex(hex, false).isSmallOrder();
  } catch {
    ok = false; // not on the curve, or a non-canonical encoding
  }
  if (keyVerdicts.size >= KEY_VERDICTS_MAX) keyVerdicts.clear();
  keyVerdicts.set(hex, ok);
  return ok;
}

/** Encodes a raw 32-byte Ed25519 public key as a node id; throws InvalidArgumentError for a key no node can have. */
export function idFromPublicKey(raw: Uint8Array): NodeId {
  if (raw.length !== 32) throw new InvalidArgumentError("an Ed25519 public key is 32 bytes");
  if (!isValidPublicKey(raw)) throw new InvalidArgumentError("not a valid Ed25519 public key (small order or non-canonical)");
  return base32Encode(raw);
}

/** Decodes a node id to its raw public key; throws InvalidArgumentError if it is not one (bad text, or a key no node can have). */
export function publicKeyFromId(id: string): Uint8Array {
  const raw = typeof id === "string" && id.length === 52 ? base32Decode(id) : null;
  if (!raw || raw.length !== 32) throw new InvalidArgumentError(`not a node id: ${JSON.stringify(String(id).slice(0, 60))}`);
  if (!isValidPublicKey(raw)) {
    throw new InvalidArgumentError(`not a node id: ${JSON.stringify(id.slice(0, 60))} is not a valid Ed25519 public key (corrupted or forged)`);
  }
  return raw;
}

/** True when `id` is a node id: 52 base32 characters that decode to a valid Ed25519 public key. */
export function isNodeId(id: unknown): id is NodeId {
  if (typeof id !== "string" || id.length !== 52) return false;
  const raw = base32Decode(id);
  return raw !== null && raw.length === 32 && isValidPublicKey(raw);
}

// Raw keys go in as JWK: OpenSSL 3's DER path cost 130–250 µs a key here, the
// JWK one 9–50 µs, and a connect verifies three signatures (bench/RESULTS.md).
function edPublicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
}

/** Verifies an Ed25519 signature by the node whose id (or raw key) is given. Never throws. */
export function verifySignature(id: NodeId | Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    const raw = typeof id === "string" ? publicKeyFromId(id) : id;
    return isValidPublicKey(raw) && signature.length === 64 && verify(null, data, edPublicKeyObject(raw), signature);
  } catch {
    return false;
  }
}

/** X25519 public key (KeyObject) of a node id, for encrypting to the node (signaling). */
export function x25519KeyFromId(id: NodeId): KeyObject {
  const mont = edwardsToMontgomeryPub(publicKeyFromId(id));
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(mont).toString("base64url") }, format: "jwk" });
}

/** A node's long-term identity: an Ed25519 key pair. */
export class Identity {
  readonly id: NodeId;
  readonly publicKey: Uint8Array;
  readonly #privateKey: KeyObject;
  #x25519?: KeyObject;

  private constructor(privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== "ed25519") throw new IdentityError("the identity key is not an Ed25519 key");
    this.#privateKey = privateKey;
    const der = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    this.publicKey = new Uint8Array(der.subarray(der.length - 32));
    this.id = idFromPublicKey(this.publicKey);
  }

  /** A new random identity. */
  static generate(): Identity {
    return new Identity(generateKeyPairSync("ed25519").privateKey);
  }

  /** Reads an Ed25519 private key in PEM; IdentityError when it is not one. */
  static fromPem(pem: string): Identity {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (err) {
      throw new IdentityError("could not read the identity key: not a PEM private key", { cause: err });
    }
    return new Identity(key);
  }

  /** Loads the key from `path`, or, if the file does not exist, generates one and saves it (mode 0600). */
  static async loadOrCreate(path: string): Promise<Identity> {
    let pem: string | undefined;
    try {
      pem = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new IdentityError(`could not read the identity file ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (pem !== undefined) return Identity.fromPem(pem);
    const identity = Identity.generate();
    await identity.save(path);
    return identity;
  }

  /** Saves the private key as PKCS#8 PEM with mode 0600; refuses to overwrite an existing file. */
  async save(path: string): Promise<void> {
    try {
      await writeFile(path, this.toPem(), { mode: 0o600, flag: "wx" });
      await chmod(path, 0o600);
    } catch (err) {
      throw new IdentityError(`could not save the identity file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The private key as PKCS#8 PEM (keep it secret). */
  toPem(): string {
    return this.#privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  }

  /** An Ed25519 signature of `data` by this identity. */
  sign(data: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, data, this.#privateKey));
  }

  /** The X25519 private key derived from this identity (to decrypt what others encrypt to our id). */
  x25519PrivateKey(): KeyObject {
    if (!this.#x25519) {
      const der = this.#privateKey.export({ format: "der", type: "pkcs8" });
      const seed = der.subarray(der.length - 32);
      const mont = edwardsToMontgomeryPriv(seed);
      this.#x25519 = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(mont)]), format: "der", type: "pkcs8" });
    }
    return this.#x25519;
  }
}
