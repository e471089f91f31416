/**
 * The address TLV codec (docs/address.md): field types, a writer, a reader
 * that refuses truncation, the field-order rule and the small value codecs
 * (IPs, NAT summaries, UTF-8). Every error is an AddressError: an address
 * comes from a user's paste or from a peer, never from our own options.
 */
import { AddressError } from "../errors.ts";
import { ipv4ToBytes, ipv6ToBytes } from "../util/ip.ts";
import { BEHAVIOURS, DELTA_KINDS, NAT_TYPES, type NatSummary } from "./address-types.ts";

/** Top-level TLV types (docs/address.md). */
export enum T {
  ID = 0x01,
  SEQ = 0x02,
  EXPIRES = 0x03,
  INTERFACE = 0x10,
  SIGNALING = 0x20,
  RELAY = 0x21,
  SIGNATURE = 0xff,
}
/** TLV types inside an INTERFACE field. */
export enum I {
  NAME = 0x01,
  FLAGS = 0x02,
  PORT = 0x03,
  V4_PRIVATE = 0x04,
  V4_PUBLIC = 0x05,
  V6 = 0x06,
  MAPPED_PORT = 0x07,
  NAT_TCP = 0x08,
  NAT_UDP = 0x09,
  /** NAT discovery over the interface's IPv6 address (optional; older parsers skip it). */
  NAT6_TCP = 0x0a,
  NAT6_UDP = 0x0b,
}

/** Appends TLVs (type:u8 length:u16be value). */
export class Writer {
  parts: Buffer[] = [];
  tlv(type: number, value: Uint8Array): void {
    if (value.length > 0xffff) throw new AddressError("address field too large");
    const h = Buffer.allocUnsafe(3);
    h[0] = type;
    h.writeUInt16BE(value.length, 1);
    this.parts.push(h, Buffer.from(value));
  }
  u16(type: number, v: number): void {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(v);
    this.tlv(type, b);
  }
  str(type: number, v: string): void {
    this.tlv(type, Buffer.from(v, "utf8"));
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** An IP literal as 4 or 16 bytes; AddressError when it is not one of that family. */
export function ipBytes(ip: string, family: 4 | 6): Buffer {
  const b = family === 4 ? ipv4ToBytes(ip) : ipv6ToBytes(ip);
  if (!b) throw new AddressError(`not an IPv${family} address: ${ip}`);
  return b;
}

/** A NatSummary as its 6-byte field. */
export function natBytes(n: NatSummary): Buffer {
  const b = Buffer.alloc(6);
  b[0] = NAT_TYPES.indexOf(n.type);
  b[1] = BEHAVIOURS.indexOf(n.mapping);
  b[2] = BEHAVIOURS.indexOf(n.filtering);
  b[3] = DELTA_KINDS.indexOf(n.delta.kind);
  b.writeInt16BE(Math.max(-32768, Math.min(32767, n.delta.step | 0)), 4);
  if (b[0] === 255 || b[1] === 255 || b[2] === 255 || b[3] === 255) throw new AddressError("unknown NAT description in address fields");
  return b;
}

/** A 6-byte NAT field back to a NatSummary (unknown enum values read as "unknown"). */
export function natFrom(b: Buffer): NatSummary {
  if (b.length !== 6) throw new AddressError("address NAT field has the wrong length");
  const pick = <T>(list: readonly T[], i: number): T => list[i] ?? list[0];
  return {
    type: pick(NAT_TYPES, b[0]),
    mapping: pick(BEHAVIOURS, b[1]),
    filtering: pick(BEHAVIOURS, b[2]),
    delta: { kind: pick(DELTA_KINDS, b[3]), step: b.readInt16BE(4) },
  };
}

/** Walks the TLVs of `buf`; AddressError when one runs past the end. */
export function* tlvs(buf: Buffer, where: string): Generator<[number, Buffer]> {
  let off = 0;
  while (off < buf.length) {
    if (off + 3 > buf.length) throw new AddressError(`address is truncated (inside ${where})`);
    const type = buf[off];
    const len = buf.readUInt16BE(off + 1);
    if (off + 3 + len > buf.length) throw new AddressError(`address is truncated (field 0x${type.toString(16)} in ${where})`);
    yield [type, buf.subarray(off + 3, off + 3 + len)];
    off += 3 + len;
  }
}

/** Strict UTF-8 of at most `max` characters. */
export function utf8(b: Buffer, what: string, max: number): string {
  const s = new TextDecoder("utf-8", { fatal: true });
  let text: string;
  try {
    text = s.decode(b);
  } catch {
    throw new AddressError(`address ${what} is not valid UTF-8`);
  }
  if (text.length > max) throw new AddressError(`address ${what} is too long`);
  return text;
}

/** `b`, which must be exactly `n` bytes long. */
export function need(b: Buffer, n: number, what: string): Buffer {
  if (b.length !== n) throw new AddressError(`address ${what} has the wrong length (${b.length}, expected ${n})`);
  return b;
}

/** Field names for error messages. */
export const TOP_NAMES: Record<number, string> = { [T.ID]: "ID", [T.SEQ]: "SEQ", [T.EXPIRES]: "EXPIRES", [T.INTERFACE]: "INTERFACE", [T.SIGNALING]: "SIGNALING", [T.RELAY]: "RELAY", [T.SIGNATURE]: "SIGNATURE" };
export const ITF_NAMES: Record<number, string> = {
  [I.NAME]: "NAME",
  [I.FLAGS]: "FLAGS",
  [I.PORT]: "PORT",
  [I.V4_PRIVATE]: "V4_PRIVATE",
  [I.V4_PUBLIC]: "V4_PUBLIC",
  [I.V6]: "V6",
  [I.MAPPED_PORT]: "MAPPED_PORT",
  [I.NAT_TCP]: "NAT_TCP",
  [I.NAT_UDP]: "NAT_UDP",
  [I.NAT6_TCP]: "NAT6_TCP",
  [I.NAT6_UDP]: "NAT6_UDP",
};
/** The list fields; every other known field may appear once. */
export const TOP_REPEATABLE = new Set<number>([T.INTERFACE, T.SIGNALING, T.RELAY]);
export const ITF_REPEATABLE = new Set<number>([I.V4_PRIVATE, I.V4_PUBLIC, I.V6]);

/**
 * Known fields must come in ascending type order (the order encodeAddress
 * writes, docs/address.md), and a non-list field at most once. Otherwise two
 * parsers could read one signed address differently (first vs last SEQ wins,
 * an ID after the fields it is meant to vouch for). Unknown fields are left
 * out of the check: where a future field goes is the future writer's business.
 */
export class FieldOrder {
  #last = -1;
  constructor(
    readonly names: Record<number, string>,
    readonly repeatable: Set<number>,
    readonly where: string,
  ) {}
  check(type: number): void {
    const name = this.names[type];
    if (name === undefined) return;
    const label = `${name} (0x${type.toString(16).padStart(2, "0")})`;
    if (type === this.#last && !this.repeatable.has(type)) throw new AddressError(`address has a repeated ${label} field in ${this.where}; each appears once`);
    if (type < this.#last) {
      throw new AddressError(`address field ${label} in ${this.where} comes after ${this.names[this.#last]} (0x${this.#last.toString(16).padStart(2, "0")}): fields must be in ascending type order`);
    }
    this.#last = type;
  }
}

/** An unknown field is skipped unless it is critical (type >= 0x80): then the address is refused. */
export function unknownField(type: number, where: string): void {
  if (type >= 0x80) throw new AddressError(`address has a critical field 0x${type.toString(16)} in ${where} that this version does not understand: the address is corrupted (copy it whole) or from a newer p2pnode (then upgrade)`);
}
