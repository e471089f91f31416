import { StunError } from "../errors.ts";
import { AttrType, MAGIC_COOKIE, type KnownAttrName } from "./constants.ts";
import { bytesToIp, ipToBytes } from "./ip.ts";

/** A transport address as carried by the STUN address attributes. */
export interface TransportAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

/** RFC 5780 §7.2: which source the response should come from. */
export interface ChangeRequest {
  changeIp: boolean;
  changePort: boolean;
}

/** RFC 8489 §14.8: code 300-699 and a reason phrase. */
export interface ErrorCode {
  code: number;
  reason: string;
}

/** p2pnode's dial-back request/echo (docs/stun.md). */
export interface DialBack {
  /** 8 random bytes echoed on the dial-back connection so the client can tell it apart. */
  token: Uint8Array;
  /** Dial from the alternate IP (true) or from the primary IP and another port (false). */
  changeIp: boolean;
}

/** p2pnode's dial-port request/answer (docs/stun.md): connect to the requester's IP at `port`. */
export interface DialPort {
  /** Port to dial on the requester's observed (mapped) IP. */
  port: number;
  /** Set by the server in its answer: it tried and this is the outcome. */
  result?: "connected" | "failed";
}

/** RFC 8489 §14.11/§14.12: an algorithm number and its parameters (none for MD5 and SHA-256). */
export interface PasswordAlgorithmValue {
  algorithm: number;
  parameters: Uint8Array;
}

/** Decoded value of each known attribute. */
export interface AttributeValues {
  "MAPPED-ADDRESS": TransportAddress;
  "XOR-MAPPED-ADDRESS": TransportAddress;
  "OTHER-ADDRESS": TransportAddress;
  "SOURCE-ADDRESS": TransportAddress;
  "CHANGED-ADDRESS": TransportAddress;
  "RESPONSE-ORIGIN": TransportAddress;
  "ALTERNATE-SERVER": TransportAddress;
  "XOR-PEER-ADDRESS": TransportAddress;
  "XOR-RELAYED-ADDRESS": TransportAddress;
  "CHANGE-REQUEST": ChangeRequest;
  "ERROR-CODE": ErrorCode;
  "UNKNOWN-ATTRIBUTES": number[];
  USERNAME: string;
  REALM: string;
  NONCE: string;
  SOFTWARE: string;
  "RESPONSE-PORT": number;
  LIFETIME: number;
  "CHANNEL-NUMBER": number;
  "REQUESTED-TRANSPORT": number;
  "CONNECTION-ID": number;
  FINGERPRINT: number;
  "MESSAGE-INTEGRITY": Uint8Array;
  "MESSAGE-INTEGRITY-SHA256": Uint8Array;
  "PASSWORD-ALGORITHM": PasswordAlgorithmValue;
  "PASSWORD-ALGORITHMS": PasswordAlgorithmValue[];
  DATA: Uint8Array;
  "P2PNODE-DIAL-BACK": DialBack;
  "P2PNODE-DIAL-PORT": DialPort;
}

/** One attribute: a known one with its decoded value, or any other type kept raw. */
export type StunAttribute =
  | { [K in KnownAttrName]: { type: K; value: AttributeValues[K] } }[KnownAttrName]
  | { type: number; value: Uint8Array };

const XOR_ADDRS = new Set<string>(["XOR-MAPPED-ADDRESS", "XOR-PEER-ADDRESS", "XOR-RELAYED-ADDRESS"]);
const ADDRS = new Set<string>(["MAPPED-ADDRESS", "OTHER-ADDRESS", "RESPONSE-ORIGIN", "ALTERNATE-SERVER", "SOURCE-ADDRESS", "CHANGED-ADDRESS"]);
// RFC 8489 §14.3/14.9/14.10 and RFC 8656: byte limits for the text attributes.
const TEXT_MAX: Record<string, number> = { USERNAME: 513, REALM: 763, NONCE: 763, SOFTWARE: 763 };
const U32 = new Set<string>(["LIFETIME", "CONNECTION-ID", "FINGERPRINT"]);

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: false });

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

function encodeAddress(a: TransportAddress, xor: boolean, txid: Uint8Array): Uint8Array {
  const ip = ipToBytes(a.address);
  if (!ip || (ip.length === 4 ? 4 : 6) !== a.family) throw new StunError(`invalid address ${a.address} for family ${a.family}`);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffff) throw new StunError(`invalid port ${a.port}`);
  const out = new Uint8Array(4 + ip.length);
  const dv = new DataView(out.buffer);
  out[1] = a.family === 4 ? 0x01 : 0x02;
  dv.setUint16(2, xor ? a.port ^ (MAGIC_COOKIE >>> 16) : a.port);
  out.set(ip, 4);
  if (xor) xorIp(out.subarray(4), txid);
  return out;
}

// X-Address: XOR with the magic cookie, then (IPv6) the transaction id (RFC 8489 §14.2).
function xorIp(ip: Uint8Array, txid: Uint8Array): void {
  const key = new Uint8Array(16);
  new DataView(key.buffer).setUint32(0, MAGIC_COOKIE);
  key.set(txid, 4);
  for (let i = 0; i < ip.length; i++) ip[i] ^= key[i];
}

function decodeAddress(name: string, v: Uint8Array, xor: boolean, txid: Uint8Array): TransportAddress {
  if (v.length < 4) throw new StunError(`${name}: value of ${v.length} bytes is too short`);
  const fam = v[1];
  const want = fam === 0x01 ? 8 : fam === 0x02 ? 20 : -1;
  if (want < 0) throw new StunError(`${name}: unknown address family 0x${fam.toString(16).padStart(2, "0")}`);
  if (v.length !== want) throw new StunError(`${name}: ${v.length} bytes, expected ${want} for IPv${fam === 1 ? 4 : 6}`);
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  let port = dv.getUint16(2);
  const ip = v.slice(4);
  if (xor) {
    port ^= MAGIC_COOKIE >>> 16;
    xorIp(ip, txid);
  }
  return { family: fam === 0x01 ? 4 : 6, address: bytesToIp(ip), port };
}

/** Encodes one attribute's value (without the TLV header). Throws StunError on values that do not fit. */
export function encodeAttributeValue(attr: StunAttribute, txid: Uint8Array): Uint8Array {
  if (typeof attr.type === "number") return attr.value as Uint8Array;
  const name: string = attr.type;
  const val: unknown = attr.value;
  if (XOR_ADDRS.has(name)) return encodeAddress(val as TransportAddress, true, txid);
  if (ADDRS.has(name)) return encodeAddress(val as TransportAddress, false, txid);
  if (name in TEXT_MAX) {
    const b = utf8.encode(val as string);
    if (b.length > TEXT_MAX[name]) throw new StunError(`${name} is ${b.length} bytes, at most ${TEXT_MAX[name]} allowed`);
    return b;
  }
  if (U32.has(name)) return u32(val as number);
  switch (name) {
    case "CHANGE-REQUEST": {
      const c = val as ChangeRequest;
      return u32((c.changeIp ? 4 : 0) | (c.changePort ? 2 : 0));
    }
    case "ERROR-CODE": {
      const e = val as ErrorCode;
      if (!Number.isInteger(e.code) || e.code < 300 || e.code > 699) throw new StunError(`ERROR-CODE ${e.code} is outside 300-699`);
      const reason = utf8.encode(e.reason);
      const out = new Uint8Array(4 + reason.length);
      out[2] = Math.floor(e.code / 100);
      out[3] = e.code % 100;
      out.set(reason, 4);
      return out;
    }
    case "UNKNOWN-ATTRIBUTES": {
      const list = val as number[];
      const out = new Uint8Array(list.length * 2);
      list.forEach((t, i) => new DataView(out.buffer).setUint16(i * 2, t));
      return out;
    }
    case "RESPONSE-PORT":
    case "CHANNEL-NUMBER":
      return Uint8Array.of((val as number) >> 8, (val as number) & 0xff, 0, 0);
    case "REQUESTED-TRANSPORT":
      return Uint8Array.of(val as number, 0, 0, 0);
    case "MESSAGE-INTEGRITY":
    case "MESSAGE-INTEGRITY-SHA256":
    case "DATA":
      return val as Uint8Array;
    case "PASSWORD-ALGORITHM":
      return encodeAlgorithm(name, val as PasswordAlgorithmValue);
    case "PASSWORD-ALGORITHMS": {
      const parts = (val as PasswordAlgorithmValue[]).map((a) => encodeAlgorithm(name, a));
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((off, p) => (out.set(p, off), off + p.length), 0);
      return out;
    }
    case "P2PNODE-DIAL-BACK": {
      const d = val as DialBack;
      if (d.token.length !== 8) throw new StunError("P2PNODE-DIAL-BACK token must be 8 bytes");
      const out = new Uint8Array(12);
      out.set(d.token, 0);
      out[8] = d.changeIp ? 1 : 0;
      return out;
    }
    case "P2PNODE-DIAL-PORT": {
      const d = val as DialPort;
      if (!Number.isInteger(d.port) || d.port < 1 || d.port > 0xffff) throw new StunError(`P2PNODE-DIAL-PORT port must be 1-65535, got ${d.port}`);
      // port (2), flags (bit 0: answered, bit 1: connected), reserved (1)
      return Uint8Array.of(d.port >> 8, d.port & 0xff, d.result === undefined ? 0 : d.result === "connected" ? 3 : 1, 0);
    }
  }
  throw new StunError(`no encoder for attribute ${name}`);
}

// One algorithm entry: number (2), parameters length (2), parameters padded to 4 (RFC 8489 §14.11).
function encodeAlgorithm(name: string, a: PasswordAlgorithmValue): Uint8Array {
  if (!Number.isInteger(a.algorithm) || a.algorithm < 0 || a.algorithm > 0xffff) throw new StunError(`${name}: algorithm ${a.algorithm} is not a 16-bit number`);
  if (a.parameters.length > 0xffff) throw new StunError(`${name}: parameters too long`);
  const out = new Uint8Array(4 + ((a.parameters.length + 3) & ~3));
  new DataView(out.buffer).setUint16(0, a.algorithm);
  new DataView(out.buffer).setUint16(2, a.parameters.length);
  out.set(a.parameters, 4);
  return out;
}

function decodeAlgorithms(name: string, v: Uint8Array): PasswordAlgorithmValue[] {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const list: PasswordAlgorithmValue[] = [];
  for (let off = 0; off < v.length; ) {
    if (v.length - off < 4) throw new StunError(`${name}: truncated algorithm at offset ${off}`);
    const algorithm = dv.getUint16(off);
    const len = dv.getUint16(off + 2);
    const end = off + 4 + ((len + 3) & ~3);
    if (end > v.length) throw new StunError(`${name}: algorithm parameters of ${len} bytes overrun the value`);
    list.push({ algorithm, parameters: v.slice(off + 4, off + 4 + len) });
    off = end;
  }
  return list;
}

function need(name: string, v: Uint8Array, n: number): void {
  if (v.length !== n) throw new StunError(`${name}: value is ${v.length} bytes, expected ${n}`);
}

/** Decodes one attribute value. Unknown types come back raw. Throws StunError on malformed values. */
export function decodeAttributeValue(type: number, name: KnownAttrName | undefined, v: Uint8Array, txid: Uint8Array): StunAttribute {
  if (!name) return { type, value: v.slice() };
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (XOR_ADDRS.has(name)) return { type: name, value: decodeAddress(name, v, true, txid) } as StunAttribute;
  if (ADDRS.has(name)) return { type: name, value: decodeAddress(name, v, false, txid) } as StunAttribute;
  if (name in TEXT_MAX) {
    if (v.length > TEXT_MAX[name]) throw new StunError(`${name}: ${v.length} bytes, at most ${TEXT_MAX[name]} allowed`);
    return { type: name, value: utf8d.decode(v) } as StunAttribute;
  }
  if (U32.has(name)) {
    need(name, v, 4);
    return { type: name, value: dv.getUint32(0) } as StunAttribute;
  }
  switch (name) {
    case "CHANGE-REQUEST": {
      need(name, v, 4);
      const f = dv.getUint32(0);
      return { type: name, value: { changeIp: (f & 4) !== 0, changePort: (f & 2) !== 0 } };
    }
    case "ERROR-CODE": {
      if (v.length < 4) throw new StunError(`ERROR-CODE: value of ${v.length} bytes is too short`);
      const cls = v[2] & 0x07;
      const num = v[3];
      if (cls < 3 || cls > 6 || num > 99) throw new StunError(`ERROR-CODE: class ${cls} number ${num} is not a valid code`);
      if (v.length - 4 > 763) throw new StunError("ERROR-CODE: reason phrase too long");
      return { type: name, value: { code: cls * 100 + num, reason: utf8d.decode(v.subarray(4)) } };
    }
    case "UNKNOWN-ATTRIBUTES": {
      if (v.length % 2 !== 0) throw new StunError("UNKNOWN-ATTRIBUTES: odd length");
      const list: number[] = [];
      for (let i = 0; i < v.length; i += 2) list.push(dv.getUint16(i));
      return { type: name, value: list };
    }
    case "RESPONSE-PORT":
    case "CHANNEL-NUMBER":
      need(name, v, 4);
      return { type: name, value: dv.getUint16(0) };
    case "REQUESTED-TRANSPORT":
      need(name, v, 4);
      return { type: name, value: v[0] };
    case "MESSAGE-INTEGRITY":
      need(name, v, 20);
      return { type: name, value: v.slice() };
    case "MESSAGE-INTEGRITY-SHA256":
      // §14.6: at least 16 bytes, at most 32, a multiple of 4 (it may be truncated).
      if (v.length < 16 || v.length > 32 || v.length % 4 !== 0) throw new StunError(`${name}: value is ${v.length} bytes, expected 16-32 in steps of 4`);
      return { type: name, value: v.slice() };
    case "PASSWORD-ALGORITHM": {
      const list = decodeAlgorithms(name, v);
      if (list.length !== 1) throw new StunError(`${name}: ${list.length} algorithms, expected exactly one`);
      return { type: name, value: list[0] };
    }
    case "PASSWORD-ALGORITHMS": {
      const list = decodeAlgorithms(name, v);
      if (list.length === 0) throw new StunError(`${name}: empty list`);
      return { type: name, value: list };
    }
    case "DATA":
      return { type: name, value: v.slice() };
    case "P2PNODE-DIAL-BACK":
      need(name, v, 12);
      return { type: name, value: { token: v.slice(0, 8), changeIp: (v[8] & 1) !== 0 } };
    case "P2PNODE-DIAL-PORT": {
      need(name, v, 4);
      const port = dv.getUint16(0);
      if (port === 0) throw new StunError("P2PNODE-DIAL-PORT: port 0");
      return { type: name, value: (v[2] & 1) === 0 ? { port } : { port, result: (v[2] & 2) !== 0 ? "connected" : "failed" } };
    }
  }
  return { type, value: v.slice() };
}

/** Checks that a known attribute name is spelled right at compile time and gives its number. */
export function attrTypeNumber(type: StunAttribute["type"]): number {
  return typeof type === "number" ? type : AttrType[type];
}
