/**
 * The node address (docs/address.md): everything a peer needs to choose a
 * strategy, signed by the node's identity, as one copy-pasteable string:
 *
 *   "p2pn1" + base32(body)        body = version:u8 TLV* SIGNATURE-TLV
 *   TLV = type:u8 length:u16be value       (types ≥ 0x80 are critical)
 *
 * Unknown non-critical fields are skipped (old parsers keep working); unknown
 * critical ones are refused. Every byte is covered by the signature.
 */
import { base32Decode, base32Encode } from "../util/encoding.ts";
import { AddressError } from "../errors.ts";
import { ipv4ToBytes, ipv6FromBytes, ipv6ToBytes } from "../util/ip.ts";
import { idFromPublicKey, isValidPublicKey, verifySignature, type Identity, type NodeId } from "./identity.ts";

export const ADDRESS_PREFIX = "p2pn1";
export const ADDRESS_VERSION = 1;
export const MAX_ADDRESS_LENGTH = 4096;
const SIG_DOMAIN = Buffer.from("p2pnode/1 address");
const LIMITS = { interfaces: 16, ipsPerKind: 8, signaling: 8, relays: 8, url: 256, name: 32 } as const;

export const NAT_TYPES = ["unknown", "open", "firewall", "full-cone", "restricted", "port-restricted", "symmetric", "blocked"] as const;
export const BEHAVIOURS = ["unknown", "endpoint-independent", "address-dependent", "address-and-port-dependent"] as const;
export const DELTA_KINDS = ["unknown", "preserving", "sequential", "random", "independent"] as const;
export type NatTypeName = (typeof NAT_TYPES)[number];
export type Behaviour = (typeof BEHAVIOURS)[number];
export type DeltaKind = (typeof DELTA_KINDS)[number];

/** What discovery learned about the NAT in front of an interface, for one transport. */
export interface NatSummary {
  type: NatTypeName;
  mapping: Behaviour;
  filtering: Behaviour;
  delta: { kind: DeltaKind; step: number };
}

export const UNKNOWN_NAT: Readonly<NatSummary> = Object.freeze({
  type: "unknown",
  mapping: "unknown",
  filtering: "unknown",
  delta: Object.freeze({ kind: "unknown", step: 0 }),
}) as NatSummary;

export interface AddressInterface {
  name: string;
  /** This interface carries the default route. */
  isDefault: boolean;
  /** The node's listening port on this interface. */
  port: number;
  v4: { private: string[]; public: string[] };
  v6: string[];
  /** External port of a port mapping (UPnP / NAT-PMP), if any. */
  mappedPort?: number;
  /** The mapping was verified by an inbound connection from outside. */
  mappedVerified?: boolean;
  nat: { tcp: NatSummary; udp: NatSummary };
}

export interface AddressFields {
  /** Increases every time the node re-signs its address. */
  seq: number;
  /** Unix time (seconds) after which the address is refused. */
  expires: number;
  interfaces: AddressInterface[];
  /** Signaling brokers the node listens on (mqtt://, mqtts://, ws://, wss://). */
  signaling: string[];
  /** Relay hints (turn: URIs). */
  relays: string[];
}

export interface NodeAddress extends AddressFields {
  id: NodeId;
  /** The canonical text form. */
  text: string;
}

enum T {
  ID = 0x01,
  SEQ = 0x02,
  EXPIRES = 0x03,
  INTERFACE = 0x10,
  SIGNALING = 0x20,
  RELAY = 0x21,
  SIGNATURE = 0xff,
}
enum I {
  NAME = 0x01,
  FLAGS = 0x02,
  PORT = 0x03,
  V4_PRIVATE = 0x04,
  V4_PUBLIC = 0x05,
  V6 = 0x06,
  MAPPED_PORT = 0x07,
  NAT_TCP = 0x08,
  NAT_UDP = 0x09,
}

class Writer {
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

function ipBytes(ip: string, family: 4 | 6): Buffer {
  const b = family === 4 ? ipv4ToBytes(ip) : ipv6ToBytes(ip);
  if (!b) throw new AddressError(`not an IPv${family} address: ${ip}`);
  return b;
}

function natBytes(n: NatSummary): Buffer {
  const b = Buffer.alloc(6);
  b[0] = NAT_TYPES.indexOf(n.type);
  b[1] = BEHAVIOURS.indexOf(n.mapping);
  b[2] = BEHAVIOURS.indexOf(n.filtering);
  b[3] = DELTA_KINDS.indexOf(n.delta.kind);
  b.writeInt16BE(Math.max(-32768, Math.min(32767, n.delta.step | 0)), 4);
  if (b[0] === 255 || b[1] === 255 || b[2] === 255 || b[3] === 255) throw new AddressError("unknown NAT description in address fields");
  return b;
}

function natFrom(b: Buffer): NatSummary {
  if (b.length !== 6) throw new AddressError("address NAT field has the wrong length");
  const pick = <T>(list: readonly T[], i: number): T => list[i] ?? list[0];
  return {
    type: pick(NAT_TYPES, b[0]),
    mapping: pick(BEHAVIOURS, b[1]),
    filtering: pick(BEHAVIOURS, b[2]),
    delta: { kind: pick(DELTA_KINDS, b[3]), step: b.readInt16BE(4) },
  };
}

function checkFields(f: AddressFields): void {
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) throw new AddressError("address seq must be a non-negative integer");
  if (!Number.isSafeInteger(f.expires) || f.expires < 0 || f.expires > 0xffffffff) throw new AddressError("address expires must be unix seconds");
  if (f.interfaces.length > LIMITS.interfaces) throw new AddressError(`an address lists at most ${LIMITS.interfaces} interfaces`);
  if (f.signaling.length > LIMITS.signaling) throw new AddressError(`an address lists at most ${LIMITS.signaling} signaling servers`);
  if (f.relays.length > LIMITS.relays) throw new AddressError(`an address lists at most ${LIMITS.relays} relays`);
  // Whatever the parser would refuse must fail here, not produce an address nobody can read.
  for (const itf of f.interfaces) {
    if (!Number.isInteger(itf.port) || itf.port < 1 || itf.port > 0xffff) throw new AddressError(`address interface ${itf.name} has an invalid port ${itf.port}`);
    if (itf.mappedPort !== undefined && (!Number.isInteger(itf.mappedPort) || itf.mappedPort < 0 || itf.mappedPort > 0xffff)) {
      throw new AddressError(`address interface ${itf.name} has an invalid mapped port ${itf.mappedPort}`);
    }
  }
  // A cut URL would point somewhere else: refuse instead of truncating.
  for (const url of f.signaling) if (url.length > LIMITS.url) throw new AddressError(`address signaling URL is longer than ${LIMITS.url} characters`);
  for (const url of f.relays) if (url.length > LIMITS.url) throw new AddressError(`address relay URI is longer than ${LIMITS.url} characters`);
}

/** Signs and encodes an address for `identity`. */
export function encodeAddress(identity: Identity, fields: AddressFields): string {
  checkFields(fields);
  const w = new Writer();
  w.parts.push(Buffer.from([ADDRESS_VERSION]));
  w.tlv(T.ID, identity.publicKey);
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(BigInt(fields.seq));
  w.tlv(T.SEQ, seq);
  const exp = Buffer.alloc(4);
  exp.writeUInt32BE(fields.expires);
  w.tlv(T.EXPIRES, exp);
  for (const itf of fields.interfaces) {
    const iw = new Writer();
    iw.str(I.NAME, itf.name.slice(0, LIMITS.name));
    iw.tlv(I.FLAGS, Buffer.from([(itf.isDefault ? 1 : 0) | (itf.mappedVerified ? 2 : 0)]));
    iw.u16(I.PORT, itf.port);
    for (const ip of itf.v4.private.slice(0, LIMITS.ipsPerKind)) iw.tlv(I.V4_PRIVATE, ipBytes(ip, 4));
    for (const ip of itf.v4.public.slice(0, LIMITS.ipsPerKind)) iw.tlv(I.V4_PUBLIC, ipBytes(ip, 4));
    for (const ip of itf.v6.slice(0, LIMITS.ipsPerKind)) iw.tlv(I.V6, ipBytes(ip, 6));
    if (itf.mappedPort) iw.u16(I.MAPPED_PORT, itf.mappedPort);
    iw.tlv(I.NAT_TCP, natBytes(itf.nat.tcp));
    iw.tlv(I.NAT_UDP, natBytes(itf.nat.udp));
    w.tlv(T.INTERFACE, iw.bytes());
  }
  for (const url of fields.signaling) w.str(T.SIGNALING, url);
  for (const url of fields.relays) w.str(T.RELAY, url);
  const unsigned = w.bytes();
  const sig = identity.sign(Buffer.concat([SIG_DOMAIN, unsigned]));
  w.tlv(T.SIGNATURE, sig);
  const text = ADDRESS_PREFIX + base32Encode(w.bytes());
  if (text.length > MAX_ADDRESS_LENGTH) throw new AddressError(`the address would be ${text.length} characters; the maximum is ${MAX_ADDRESS_LENGTH}`);
  return text;
}

function* tlvs(buf: Buffer, where: string): Generator<[number, Buffer]> {
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

function utf8(b: Buffer, what: string, max: number): string {
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

function need(b: Buffer, n: number, what: string): Buffer {
  if (b.length !== n) throw new AddressError(`address ${what} has the wrong length (${b.length}, expected ${n})`);
  return b;
}

/** Field names for error messages. */
const TOP_NAMES: Record<number, string> = { [T.ID]: "ID", [T.SEQ]: "SEQ", [T.EXPIRES]: "EXPIRES", [T.INTERFACE]: "INTERFACE", [T.SIGNALING]: "SIGNALING", [T.RELAY]: "RELAY", [T.SIGNATURE]: "SIGNATURE" };
const ITF_NAMES: Record<number, string> = {
  [I.NAME]: "NAME",
  [I.FLAGS]: "FLAGS",
  [I.PORT]: "PORT",
  [I.V4_PRIVATE]: "V4_PRIVATE",
  [I.V4_PUBLIC]: "V4_PUBLIC",
  [I.V6]: "V6",
  [I.MAPPED_PORT]: "MAPPED_PORT",
  [I.NAT_TCP]: "NAT_TCP",
  [I.NAT_UDP]: "NAT_UDP",
};
/** The list fields; every other known field may appear once. */
const TOP_REPEATABLE = new Set<number>([T.INTERFACE, T.SIGNALING, T.RELAY]);
const ITF_REPEATABLE = new Set<number>([I.V4_PRIVATE, I.V4_PUBLIC, I.V6]);

/**
 * Known fields must come in ascending type order (the order encodeAddress
 * writes, docs/address.md), and a non-list field at most once. Otherwise two
 * parsers could read one signed address differently (first vs last SEQ wins,
 * an ID after the fields it is meant to vouch for). Unknown fields are left
 * out of the check: where a future field goes is the future writer's business.
 */
class FieldOrder {
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

function unknownField(type: number, where: string): void {
  if (type >= 0x80) throw new AddressError(`address has a critical field 0x${type.toString(16)} in ${where} that this version does not understand: the address is corrupted (copy it whole) or from a newer p2pnode (then upgrade)`);
}

function parseInterface(buf: Buffer): AddressInterface {
  const itf: AddressInterface = { name: "", isDefault: false, port: 0, v4: { private: [], public: [] }, v6: [], nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } } };
  const order = new FieldOrder(ITF_NAMES, ITF_REPEATABLE, "an interface");
  for (const [type, v] of tlvs(buf, "an interface")) {
    order.check(type);
    switch (type) {
      case I.NAME:
        itf.name = utf8(v, "interface name", LIMITS.name);
        break;
      case I.FLAGS:
        itf.isDefault = (need(v, 1, "interface flags")[0] & 1) !== 0;
        if (v[0] & 2) itf.mappedVerified = true;
        break;
      case I.PORT:
        itf.port = need(v, 2, "port").readUInt16BE(0);
        break;
      case I.V4_PRIVATE:
      case I.V4_PUBLIC: {
        const list = type === I.V4_PRIVATE ? itf.v4.private : itf.v4.public;
        if (list.length >= LIMITS.ipsPerKind) throw new AddressError("address lists too many IPv4 addresses on one interface");
        list.push([...need(v, 4, "IPv4 address")].join("."));
        break;
      }
      case I.V6:
        if (itf.v6.length >= LIMITS.ipsPerKind) throw new AddressError("address lists too many IPv6 addresses on one interface");
        itf.v6.push(ipv6FromBytes(need(v, 16, "IPv6 address")));
        break;
      case I.MAPPED_PORT:
        itf.mappedPort = need(v, 2, "mapped port").readUInt16BE(0);
        break;
      case I.NAT_TCP:
        itf.nat.tcp = natFrom(v);
        break;
      case I.NAT_UDP:
        itf.nat.udp = natFrom(v);
        break;
      default:
        unknownField(type, "an interface");
    }
  }
  if (itf.port === 0) throw new AddressError("address interface has no port");
  return itf;
}

export interface ParseAddressOptions {
  /** Current time in ms (for tests). @default Date.now() */
  now?: number;
  /** Accept an address past its expiry (for display only; never dial with it). @default false */
  allowExpired?: boolean;
}

/**
 * Parses and verifies an address string. Throws AddressError saying what is
 * wrong: not an address, truncated, too long, tampered with, or expired.
 */
export function parseAddress(input: string, opts: ParseAddressOptions = {}): NodeAddress {
  if (typeof input !== "string") throw new AddressError("an address must be a string");
  const text = input.trim().toLowerCase();
  if (text.length > MAX_ADDRESS_LENGTH) throw new AddressError(`address is ${text.length} characters; the maximum is ${MAX_ADDRESS_LENGTH}`);
  if (!text.startsWith(ADDRESS_PREFIX)) throw new AddressError(`not a p2pnode address (it should start with "${ADDRESS_PREFIX}")`);
  const raw = base32Decode(text.slice(ADDRESS_PREFIX.length));
  if (!raw) throw new AddressError("address contains characters outside its alphabet (a-z, 2-7) or was cut off");
  const body = Buffer.from(raw);
  if (body.length < 1) throw new AddressError("address is empty");
  if (body[0] !== ADDRESS_VERSION) throw new AddressError(`address version ${body[0]} is not supported (this p2pnode reads version ${ADDRESS_VERSION}): the address is corrupted (copy it whole) or from a newer p2pnode (then upgrade)`);
  let id: NodeId | undefined;
  let seq: number | undefined;
  let expires: number | undefined;
  let signature: Buffer | undefined;
  let signedLength = 0;
  const fields: AddressFields = { seq: 0, expires: 0, interfaces: [], signaling: [], relays: [] };
  let off = 1;
  const order = new FieldOrder(TOP_NAMES, TOP_REPEATABLE, "the address");
  for (const [type, v] of tlvs(body.subarray(1), "the address")) {
    if (signature) throw new AddressError("address has data after its signature");
    order.check(type);
    switch (type) {
      case T.ID:
        if (!isValidPublicKey(need(v, 32, "identity key"))) throw new AddressError("address identity key is not a valid Ed25519 public key (corrupted or forged)");
        id = idFromPublicKey(new Uint8Array(v));
        break;
      case T.SEQ: {
        const big = need(v, 8, "sequence number").readBigUInt64BE(0);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new AddressError("address sequence number is out of range");
        seq = Number(big);
        break;
      }
      case T.EXPIRES:
        expires = need(v, 4, "expiry").readUInt32BE(0);
        break;
      case T.INTERFACE:
        if (fields.interfaces.length >= LIMITS.interfaces) throw new AddressError("address lists too many interfaces");
        fields.interfaces.push(parseInterface(v));
        break;
      case T.SIGNALING:
        if (fields.signaling.length >= LIMITS.signaling) throw new AddressError("address lists too many signaling servers");
        fields.signaling.push(utf8(v, "signaling URL", LIMITS.url));
        break;
      case T.RELAY:
        if (fields.relays.length >= LIMITS.relays) throw new AddressError("address lists too many relays");
        fields.relays.push(utf8(v, "relay URI", LIMITS.url));
        break;
      case T.SIGNATURE:
        signature = need(v, 64, "signature");
        signedLength = off;
        break;
      default:
        unknownField(type, "the address");
    }
    off += 3 + v.length;
  }
  if (!id) throw new AddressError("address has no identity key");
  if (seq === undefined || expires === undefined) throw new AddressError("address lacks its sequence number or expiry");
  if (!signature) throw new AddressError("address is not signed (truncated?)");
  if (!verifySignature(id, Buffer.concat([SIG_DOMAIN, body.subarray(0, signedLength)]), signature)) {
    throw new AddressError("address signature does not verify: it was altered or corrupted");
  }
  const now = opts.now ?? Date.now();
  if (!opts.allowExpired && expires * 1000 < now) {
    throw new AddressError(`address expired at ${new Date(expires * 1000).toISOString()}; ask the peer for a fresh one`);
  }
  return { ...fields, id, seq, expires, text: ADDRESS_PREFIX + base32Encode(body) };
}

/**
 * Of two addresses of the same node, the one to keep: the higher `seq` (the
 * node increases it every time it re-signs), on equal seq the later expiry,
 * and on a full tie `current` (no churn). Pure. A replayed older address
 * therefore never replaces a newer one. Throws AddressError when the two
 * belong to different nodes: that is never a replacement.
 */
export function newerAddress<A extends Pick<NodeAddress, "id" | "seq" | "expires">>(current: A, candidate: A): A {
  if (current.id !== candidate.id) throw new AddressError(`cannot compare addresses of two nodes (${current.id} and ${candidate.id})`);
  if (candidate.seq !== current.seq) return candidate.seq > current.seq ? candidate : current;
  return candidate.expires > current.expires ? candidate : current;
}

/** A readable, JSON-friendly view of an address (for `--json` output and logs). */
export function describeAddress(a: NodeAddress): Record<string, unknown> {
  return {
    id: a.id,
    seq: a.seq,
    expires: new Date(a.expires * 1000).toISOString(),
    interfaces: a.interfaces,
    signaling: a.signaling,
    relays: a.relays,
  };
}
