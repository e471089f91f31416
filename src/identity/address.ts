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
import { systemClock, type Clock } from "../util/clock.ts";
import { ipv6FromBytes } from "../util/ip.ts";
import { idFromPublicKey, isValidPublicKey, verifySignature, type Identity, type NodeId } from "./identity.ts";
import { ADDRESS_PREFIX, ADDRESS_VERSION, ADDRESS_LIMITS, MAX_ADDRESS_LENGTH, UNKNOWN_NAT, type AddressFields, type AddressInterface, type NodeAddress } from "./address-types.ts";
import { FieldOrder, I, ITF_NAMES, ITF_REPEATABLE, ipBytes, natBytes, natFrom, need, T, TOP_NAMES, TOP_REPEATABLE, tlvs, unknownField, utf8, Writer } from "./address-fields.ts";

// The types and constants live in address-types.ts; every name stays importable from here.
export {
  ADDRESS_PREFIX,
  ADDRESS_VERSION,
  BEHAVIOURS,
  DELTA_KINDS,
  MAX_ADDRESS_LENGTH,
  NAT_TYPES,
  UNKNOWN_NAT,
  type AddressFields,
  type AddressInterface,
  type Behaviour,
  type DeltaKind,
  type NatSummary,
  type NatTypeName,
  type NodeAddress,
} from "./address-types.ts";

const SIG_DOMAIN = Buffer.from("p2pnode/1 address");

function checkFields(f: AddressFields): void {
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) throw new AddressError("address seq must be a non-negative integer");
  if (!Number.isSafeInteger(f.expires) || f.expires < 0 || f.expires > 0xffffffff) throw new AddressError("address expires must be unix seconds");
  if (f.interfaces.length > ADDRESS_LIMITS.interfaces) throw new AddressError(`an address lists at most ${ADDRESS_LIMITS.interfaces} interfaces`);
  if (f.signaling.length > ADDRESS_LIMITS.signaling) throw new AddressError(`an address lists at most ${ADDRESS_LIMITS.signaling} signaling servers`);
  if (f.relays.length > ADDRESS_LIMITS.relays) throw new AddressError(`an address lists at most ${ADDRESS_LIMITS.relays} relays`);
  // Whatever the parser would refuse must fail here, not produce an address nobody can read.
  for (const itf of f.interfaces) {
    if (!Number.isInteger(itf.port) || itf.port < 1 || itf.port > 0xffff) throw new AddressError(`address interface ${itf.name} has an invalid port ${itf.port}`);
    if (itf.mappedPort !== undefined && (!Number.isInteger(itf.mappedPort) || itf.mappedPort < 0 || itf.mappedPort > 0xffff)) {
      throw new AddressError(`address interface ${itf.name} has an invalid mapped port ${itf.mappedPort}`);
    }
  }
  // A cut URL would point somewhere else: refuse instead of truncating.
  for (const url of f.signaling) if (url.length > ADDRESS_LIMITS.url) throw new AddressError(`address signaling URL is longer than ${ADDRESS_LIMITS.url} characters`);
  for (const url of f.relays) if (url.length > ADDRESS_LIMITS.url) throw new AddressError(`address relay URI is longer than ${ADDRESS_LIMITS.url} characters`);
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
    iw.str(I.NAME, itf.name.slice(0, ADDRESS_LIMITS.name));
    iw.tlv(I.FLAGS, Buffer.from([(itf.isDefault ? 1 : 0) | (itf.mappedVerified ? 2 : 0)]));
    iw.u16(I.PORT, itf.port);
    for (const ip of itf.v4.private.slice(0, ADDRESS_LIMITS.ipsPerKind)) iw.tlv(I.V4_PRIVATE, ipBytes(ip, 4));
    for (const ip of itf.v4.public.slice(0, ADDRESS_LIMITS.ipsPerKind)) iw.tlv(I.V4_PUBLIC, ipBytes(ip, 4));
    for (const ip of itf.v6.slice(0, ADDRESS_LIMITS.ipsPerKind)) iw.tlv(I.V6, ipBytes(ip, 6));
    if (itf.mappedPort) iw.u16(I.MAPPED_PORT, itf.mappedPort);
    iw.tlv(I.NAT_TCP, natBytes(itf.nat.tcp));
    iw.tlv(I.NAT_UDP, natBytes(itf.nat.udp));
    if (itf.nat6) {
      iw.tlv(I.NAT6_TCP, natBytes(itf.nat6.tcp));
      iw.tlv(I.NAT6_UDP, natBytes(itf.nat6.udp));
    }
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

function parseInterface(buf: Buffer): AddressInterface {
  const itf: AddressInterface = { name: "", isDefault: false, port: 0, v4: { private: [], public: [] }, v6: [], nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } } };
  const order = new FieldOrder(ITF_NAMES, ITF_REPEATABLE, "an interface");
  for (const [type, v] of tlvs(buf, "an interface")) {
    order.check(type);
    switch (type) {
      case I.NAME:
        itf.name = utf8(v, "interface name", ADDRESS_LIMITS.name);
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
        if (list.length >= ADDRESS_LIMITS.ipsPerKind) throw new AddressError("address lists too many IPv4 addresses on one interface");
        list.push([...need(v, 4, "IPv4 address")].join("."));
        break;
      }
      case I.V6:
        if (itf.v6.length >= ADDRESS_LIMITS.ipsPerKind) throw new AddressError("address lists too many IPv6 addresses on one interface");
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
      case I.NAT6_TCP:
      case I.NAT6_UDP:
        itf.nat6 ??= { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } };
        itf.nat6[type === I.NAT6_TCP ? "tcp" : "udp"] = natFrom(v);
        break;
      default:
        unknownField(type, "an interface");
    }
  }
  if (itf.port === 0) throw new AddressError("address interface has no port");
  return itf;
}

export interface ParseAddressOptions {
  /** Current time in ms; wins over `clock`. @default clock.now() */
  now?: number;
  /** Where the current time comes from when `now` is not given (the node passes its own). @default systemClock */
  clock?: Clock;
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
        if (fields.interfaces.length >= ADDRESS_LIMITS.interfaces) throw new AddressError("address lists too many interfaces");
        fields.interfaces.push(parseInterface(v));
        break;
      case T.SIGNALING:
        if (fields.signaling.length >= ADDRESS_LIMITS.signaling) throw new AddressError("address lists too many signaling servers");
        fields.signaling.push(utf8(v, "signaling URL", ADDRESS_LIMITS.url));
        break;
      case T.RELAY:
        if (fields.relays.length >= ADDRESS_LIMITS.relays) throw new AddressError("address lists too many relays");
        fields.relays.push(utf8(v, "relay URI", ADDRESS_LIMITS.url));
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
  const now = opts.now ?? (opts.clock ?? systemClock).now();
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
