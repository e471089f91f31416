import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import zlib from "node:zlib";
import { StunError } from "../errors.ts";
import { decodeAttributeValue, encodeAttributeValue, attrTypeNumber, type AttributeValues, type StunAttribute } from "./attributes.ts";
import {
  AttrType,
  CLASS_BITS,
  CLASS_NAMES,
  FINGERPRINT_XOR,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  MAX_BODY_LENGTH,
  attrName,
  isComprehensionRequired,
  type KnownAttrName,
  type StunClass,
} from "./constants.ts";

export * from "./attributes.ts";
export * from "./constants.ts";

/**
 * STUN message codec (RFC 8489 §5, §14), pure: no sockets, no clock.
 * `encode` builds bytes (optionally appending MESSAGE-INTEGRITY and
 * FINGERPRINT); `decode` parses and validates and throws only StunError.
 */
export interface StunMessage {
  /** 12-bit method, e.g. Method.BINDING. */
  method: number;
  class: StunClass;
  /** 96-bit transaction id (12 bytes). */
  transactionId: Uint8Array;
  attributes: StunAttribute[];
  /**
   * RFC 3489 (pre-RFC 5389) message: the 4 bytes that stand where the magic
   * cookie goes, the first 32 bits of its 128-bit transaction id. Only
   * `decode(…, { legacy: true })` produces it; `encode` writes it back so the
   * answer carries the client's whole transaction id (RFC 8489 §12.2).
   */
  legacyCookie?: Uint8Array;
}

export interface EncodeOptions {
  /** Appends MESSAGE-INTEGRITY keyed with this (shortTermKey / longTermKey). */
  integrityKey?: Uint8Array;
  /** Appends MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6) keyed with this, after MESSAGE-INTEGRITY when both are asked for. */
  integritySha256Key?: Uint8Array;
  /** Appends FINGERPRINT. @default false */
  fingerprint?: boolean;
  /** Byte used for attribute padding (RFC 5769 vectors pad with 0x20). @default 0 */
  padding?: number;
}

/** A decoded message; `raw` and `integrityOffset` let verifyIntegrity() check it later. */
export interface DecodedStunMessage extends StunMessage {
  raw: Uint8Array;
  /** Offset of the MESSAGE-INTEGRITY attribute header in `raw`, when present. */
  integrityOffset?: number;
  /** Offset of the MESSAGE-INTEGRITY-SHA256 attribute header in `raw`, when present. */
  integritySha256Offset?: number;
  /** True when a FINGERPRINT was present (it was verified, or decode would have thrown). */
  hasFingerprint: boolean;
}

const FINGERPRINT_TYPE = AttrType.FINGERPRINT;
const INTEGRITY_TYPE = AttrType["MESSAGE-INTEGRITY"];
const INTEGRITY_SHA256_TYPE = AttrType["MESSAGE-INTEGRITY-SHA256"];

/** A fresh random 96-bit transaction id. */
export function newTransactionId(): Uint8Array {
  return new Uint8Array(randomBytes(12));
}

/** Packs method and class into the 14-bit message type (RFC 8489 §5, Figure 3). */
export function messageType(method: number, cls: StunClass): number {
  const c = CLASS_BITS[cls];
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7);
}

function splitType(t: number): { method: number; cls: StunClass } {
  const method = (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2);
  const c = ((t >> 4) & 1) | ((t >> 7) & 2);
  return { method, cls: CLASS_NAMES[c] };
}

/** Short-term credential key: the password's UTF-8 bytes (OpaqueString profile not applied). */
export function shortTermKey(password: string): Uint8Array {
  return new TextEncoder().encode(password);
}

/**
 * Long-term credential key (RFC 8489 §9.2.2): MD5, or with PASSWORD-ALGORITHM
 * SHA-256 the SHA-256, of username ":" realm ":" password (OpaqueString/SASLprep not applied).
 */
export function longTermKey(username: string, realm: string, password: string, algorithm: "md5" | "sha256" = "md5"): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(`${username}:${realm}:${password}`, "utf8").digest());
}

function crc32(b: Uint8Array): number {
  return zlib.crc32(b) >>> 0;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** The encoded size in bytes of `msg` with `opts`. */
export function encodingLength(msg: StunMessage, opts: EncodeOptions = {}): number {
  let n = HEADER_LENGTH;
  for (const a of msg.attributes) n += 4 + pad4(encodeAttributeValue(a, msg.transactionId).length);
  if (opts.integrityKey) n += 24;
  if (opts.integritySha256Key) n += 36;
  if (opts.fingerprint) n += 8;
  return n;
}

/** Encodes a message. Throws StunError for values that cannot be encoded (bad address, oversize). */
export function encode(msg: StunMessage, opts: EncodeOptions = {}): Uint8Array {
  const tx = msg.transactionId;
  if (!(tx instanceof Uint8Array) || tx.length !== 12) throw new StunError("transaction id must be 12 bytes");
  if (!Number.isInteger(msg.method) || msg.method < 0 || msg.method > 0xfff) throw new StunError(`method ${msg.method} is not a 12-bit number`);
  const parts = msg.attributes.map((a) => ({ type: attrTypeNumber(a.type), value: encodeAttributeValue(a, tx) }));
  for (const p of parts) if (p.value.length > 0xffff) throw new StunError(`attribute 0x${p.type.toString(16)} value exceeds 65535 bytes`);
  const legacy = msg.legacyCookie;
  if (legacy !== undefined && (!(legacy instanceof Uint8Array) || legacy.length !== 4)) throw new StunError("legacy cookie must be 4 bytes");
  // An X-Address is XORed with the magic cookie, which an RFC 3489 peer does not know.
  if (legacy && msg.attributes.some((a) => typeof a.type === "string" && a.type.startsWith("XOR-"))) throw new StunError("an RFC 3489 message cannot carry XOR-* addresses");
  const total = HEADER_LENGTH + parts.reduce((s, p) => s + 4 + pad4(p.value.length), 0) + (opts.integrityKey ? 24 : 0) + (opts.integritySha256Key ? 36 : 0) + (opts.fingerprint ? 8 : 0);
  if (total - HEADER_LENGTH > MAX_BODY_LENGTH) throw new StunError(`message body of ${total - HEADER_LENGTH} bytes exceeds ${MAX_BODY_LENGTH}`);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, messageType(msg.method, msg.class));
  if (legacy) out.set(legacy, 4);
  else dv.setUint32(4, MAGIC_COOKIE);
  out.set(tx, 8);
  let off = HEADER_LENGTH;
  for (const p of parts) {
    dv.setUint16(off, p.type);
    dv.setUint16(off + 2, p.value.length);
    out.set(p.value, off + 4);
    out.fill(opts.padding ?? 0, off + 4 + p.value.length, off + 4 + pad4(p.value.length));
    off += 4 + pad4(p.value.length);
  }
  // The length field covers everything up to and including the integrity attribute (§14.5, §14.6).
  const integrity = (type: number, algorithm: "sha1" | "sha256", key: Uint8Array, size: number) => {
    dv.setUint16(2, off + 4 + size - HEADER_LENGTH);
    const mac = createHmac(algorithm, key).update(out.subarray(0, off)).digest();
    dv.setUint16(off, type);
    dv.setUint16(off + 2, size);
    out.set(mac, off + 4);
    off += 4 + size;
  };
  if (opts.integrityKey) integrity(INTEGRITY_TYPE, "sha1", opts.integrityKey, 20);
  if (opts.integritySha256Key) integrity(INTEGRITY_SHA256_TYPE, "sha256", opts.integritySha256Key, 32);
  if (opts.fingerprint) {
    dv.setUint16(2, off + 8 - HEADER_LENGTH);
    const crc = (crc32(out.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0;
    dv.setUint16(off, FINGERPRINT_TYPE);
    dv.setUint16(off + 2, 4);
    dv.setUint32(off + 4, crc);
    off += 8;
  }
  dv.setUint16(2, off - HEADER_LENGTH);
  return out;
}

/**
 * Quick demultiplexing check (RFC 8489 §5, RFC 7983): top two bits zero, magic
 * cookie present, length a multiple of 4. Never throws.
 */
export function looksLikeStun(buf: Uint8Array): boolean {
  if (buf.length < HEADER_LENGTH || (buf[0] & 0xc0) !== 0) return false;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return dv.getUint32(4) === MAGIC_COOKIE && (dv.getUint16(2) & 3) === 0;
}

export interface DecodeOptions {
  /**
   * Also accept an RFC 3489 Binding request (no magic cookie; RFC 8489 §12):
   * type 0x0001 exactly, everything else held to the same checks. The
   * embedded server's UDP path sets it; clients never do, so an answer
   * without the cookie is still refused. @default false
   */
  legacy?: boolean;
}

/**
 * Decodes one STUN message that fills `buf` exactly. Validates the header, every
 * attribute's length and padding, known attribute values and the FINGERPRINT.
 * Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT, and after MESSAGE-INTEGRITY-SHA256 other than FINGERPRINT, are
 * dropped (§14.5, §14.6). Any malformed input throws StunError, and nothing else.
 */
export function decode(input: Uint8Array, opts: DecodeOptions = {}): DecodedStunMessage {
  if (!(input instanceof Uint8Array)) throw new StunError("STUN input must be a Uint8Array");
  // A plain Uint8Array view: Buffer#slice would share memory, and we rely on slice() copying.
  const buf = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < HEADER_LENGTH) throw new StunError(`truncated STUN header: ${buf.length} of ${HEADER_LENGTH} bytes`);
  if (buf.length > HEADER_LENGTH + MAX_BODY_LENGTH) throw new StunError(`oversize STUN message: ${buf.length} bytes`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = dv.getUint16(0);
  if ((type & 0xc000) !== 0) throw new StunError("not a STUN message: the two leading bits are not zero");
  let legacyCookie: Uint8Array | undefined;
  if (dv.getUint32(4) !== MAGIC_COOKIE) {
    // RFC 3489 had no cookie, so the only such message we take is its Binding request.
    if (!opts.legacy || type !== 0x0001) throw new StunError("not a STUN message: bad magic cookie");
    legacyCookie = buf.slice(4, 8);
  }
  const length = dv.getUint16(2);
  if (length % 4 !== 0) throw new StunError(`STUN length ${length} is not a multiple of 4`);
  if (HEADER_LENGTH + length !== buf.length) {
    throw new StunError(`STUN length field says ${length} body bytes but ${buf.length - HEADER_LENGTH} were given`);
  }
  const { method, cls } = splitType(type);
  const transactionId = buf.slice(8, 20);
  const attributes: StunAttribute[] = [];
  let integrityOffset: number | undefined;
  let integritySha256Offset: number | undefined;
  let hasFingerprint = false;
  let off = HEADER_LENGTH;
  while (off < buf.length) {
    if (hasFingerprint) throw new StunError("attribute after FINGERPRINT");
    if (buf.length - off < 4) throw new StunError(`truncated attribute header at offset ${off}`);
    const atype = dv.getUint16(off);
    const alen = dv.getUint16(off + 2);
    if (off + 4 + pad4(alen) > buf.length) {
      throw new StunError(`attribute 0x${atype.toString(16).padStart(4, "0")} of ${alen} bytes (+padding) overruns the message at offset ${off}`);
    }
    const value = buf.subarray(off + 4, off + 4 + alen);
    if (atype === FINGERPRINT_TYPE) {
      if (alen !== 4) throw new StunError(`FINGERPRINT: value is ${alen} bytes, expected 4`);
      const copy = buf.slice(0, off);
      new DataView(copy.buffer).setUint16(2, off + 8 - HEADER_LENGTH);
      const want = (crc32(copy) ^ FINGERPRINT_XOR) >>> 0;
      if (dv.getUint32(off + 4) !== want) throw new StunError("FINGERPRINT mismatch");
      hasFingerprint = true;
      attributes.push({ type: "FINGERPRINT", value: want });
    } else if (integritySha256Offset === undefined && (integrityOffset === undefined || atype === INTEGRITY_SHA256_TYPE)) {
      if (atype === INTEGRITY_TYPE) integrityOffset = off;
      if (atype === INTEGRITY_SHA256_TYPE) integritySha256Offset = off;
      attributes.push(decodeAttributeValue(atype, attrName(atype), value, transactionId));
    }
    off += 4 + pad4(alen);
  }
  const msg: DecodedStunMessage = { method, class: cls, transactionId, attributes, raw: buf, integrityOffset, hasFingerprint };
  if (integritySha256Offset !== undefined) msg.integritySha256Offset = integritySha256Offset;
  if (legacyCookie) msg.legacyCookie = legacyCookie;
  return msg;
}

/** True when `msg` carries a MESSAGE-INTEGRITY that matches `key`. */
export function verifyIntegrity(msg: DecodedStunMessage, key: Uint8Array): boolean {
  const off = msg.integrityOffset;
  if (off === undefined) return false;
  const head = msg.raw.slice(0, off);
  new DataView(head.buffer).setUint16(2, off + 24 - HEADER_LENGTH);
  const mac = createHmac("sha1", key).update(head).digest();
  return timingSafeEqual(mac, msg.raw.subarray(off + 4, off + 24));
}

/**
 * True when `msg` carries a MESSAGE-INTEGRITY-SHA256 that matches `key`
 * (RFC 8489 §14.6). A value truncated to 16-31 bytes (the RFC allows it) is
 * compared over its own length; the decoder already refused anything shorter.
 */
export function verifyIntegritySha256(msg: DecodedStunMessage, key: Uint8Array): boolean {
  const off = msg.integritySha256Offset;
  if (off === undefined) return false;
  const dv = new DataView(msg.raw.buffer, msg.raw.byteOffset, msg.raw.byteLength);
  const len = dv.getUint16(off + 2);
  const head = msg.raw.slice(0, off);
  new DataView(head.buffer).setUint16(2, off + 4 + len - HEADER_LENGTH);
  const mac = createHmac("sha256", key).update(head).digest().subarray(0, len);
  return timingSafeEqual(mac, msg.raw.subarray(off + 4, off + 4 + len));
}

/** The first attribute named `name`, decoded, or undefined. */
export function getAttribute<K extends KnownAttrName>(msg: StunMessage, name: K): AttributeValues[K] | undefined {
  for (const a of msg.attributes) if (a.type === name) return a.value as AttributeValues[K];
  return undefined;
}

/** Comprehension-required attribute types the decoder did not know (for a 420 answer). */
export function unknownRequiredAttributes(msg: StunMessage): number[] {
  return msg.attributes.filter((a) => typeof a.type === "number" && isComprehensionRequired(a.type)).map((a) => a.type as number);
}

/** True when the two transaction ids are the same 12 bytes. */
export function sameTransaction(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
