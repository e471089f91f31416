import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ADDRESS_PREFIX, MAX_ADDRESS_LENGTH, UNKNOWN_NAT, encodeAddress, newerAddress, parseAddress, type AddressFields, type AddressInterface, type NatSummary } from "../../src/identity/address.ts";
import { base32Decode, base32Encode } from "../../src/util/encoding.ts";
import { AddressError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { FakeTime } from "../../src/util/clock.ts";

// A fixed key: Ed25519 signatures are deterministic, so addresses built from it are fixed vectors.
const PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIG3CKuInTgsL5ivJrj/DTQNSptocFGAMqxxZTIrbiBmM\n-----END PRIVATE KEY-----\n";
const me = Identity.fromPem(PEM);
const PUB_HEX = "4af3ac8f5f6cd1dc16e96747988d2a356d4c2a356bafedf526b1832dc3c71503";
const EXPIRES = 2_000_000_000; // 2033-05-18
const NOW = 1_700_000_000_000; // ms

// ---- hand-written TLV builder (the layout of docs/address.md, independent of src/identity/address.ts) ----
const u16 = (v: number) => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
function tlv(type: number, value: Uint8Array | string | number[]): Buffer {
  const v = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  return Buffer.concat([Buffer.from([type]), u16(v.length), v]);
}
const header = (id: Identity = me, seq = 7n, expires = EXPIRES) => [Buffer.from([1]), tlv(0x01, id.publicKey), tlv(0x02, u64(seq)), tlv(0x03, u32(expires))];
const natHex = (type: number, mapping: number, filtering: number, delta: number, step: number) => {
  const b = Buffer.from([type, mapping, filtering, delta, 0, 0]);
  b.writeInt16BE(step, 4);
  return b;
};
/**
 * One interface TLV in the documented field order (ascending types): the defaults, where an
 * `extra` field of a single-valued type (name, flags, port, mapped port, NAT) replaces the
 * default one; list fields and unknown types are added. See "out of order" below for the rest.
 */
function itfBytes(extra: Buffer[] = [], port = 4000): Buffer {
  const single = new Set([0x01, 0x02, 0x03, 0x07, 0x08, 0x09]);
  const given = new Set(extra.map((b) => b[0]));
  const defaults = [tlv(0x01, "eth0"), tlv(0x02, [1]), tlv(0x03, u16(port)), tlv(0x08, natHex(0, 0, 0, 0, 0)), tlv(0x09, natHex(0, 0, 0, 0, 0))].filter((b) => !(single.has(b[0]) && given.has(b[0])));
  return tlv(0x10, Buffer.concat([...defaults, ...extra].sort((a, b) => a[0] - b[0])));
}
/** Signs `unsigned` (version + fields) the way an address is signed and returns the text. */
function seal(unsigned: Buffer, id: Identity = me, after: Buffer = Buffer.alloc(0)): string {
  const sig = id.sign(Buffer.concat([Buffer.from("p2pnode/1 address"), unsigned]));
  return ADDRESS_PREFIX + base32Encode(Buffer.concat([unsigned, tlv(0xff, sig), after]));
}
const body = (text: string) => Buffer.from(base32Decode(text.slice(ADDRESS_PREFIX.length))!);
const text = (b: Uint8Array) => ADDRESS_PREFIX + base32Encode(b);

function throwsAddress(fn: () => unknown, message?: RegExp, label?: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof AddressError, `${label ?? ""}: expected AddressError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
      assert.equal(err.code, "P2P_ERR_ADDRESS");
      if (message) assert.match(err.message, message, label);
      return true;
    },
    label,
  );
}

const nat = (type: NatSummary["type"], mapping: NatSummary["mapping"], filtering: NatSummary["filtering"], kind: NatSummary["delta"]["kind"], step: number): NatSummary => ({
  type,
  mapping,
  filtering,
  delta: { kind, step },
});
const itf = (over: Partial<AddressInterface> = {}): AddressInterface => ({
  name: "eth0",
  isDefault: true,
  port: 4000,
  v4: { private: [], public: [] },
  v6: [],
  nat: { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } },
  ...over,
});
const fields = (over: Partial<AddressFields> = {}): AddressFields => ({ seq: 7, expires: EXPIRES, interfaces: [itf()], signaling: [], relays: [], ...over });

const RICH: AddressFields = {
  seq: 123456789012,
  expires: EXPIRES,
  interfaces: [
    itf({
      name: "eth0",
      isDefault: true,
      port: 40000,
      v4: { private: ["192.168.1.20", "10.0.0.5"], public: ["203.0.113.7"] },
      v6: ["2001:db8::1", "fd00::abcd"],
      mappedPort: 50123,
      mappedVerified: true,
      nat: { tcp: nat("port-restricted", "endpoint-independent", "address-and-port-dependent", "preserving", 0), udp: nat("symmetric", "address-and-port-dependent", "address-dependent", "sequential", -2) },
    }),
    itf({ name: "wlan0", isDefault: false, port: 40001, v4: { private: ["172.16.4.4"], public: [] }, v6: [], nat: { tcp: nat("full-cone", "endpoint-independent", "endpoint-independent", "random", 32767), udp: { ...UNKNOWN_NAT } } }),
    itf({ name: "wg-ünïcode✓", isDefault: false, port: 1, v4: { private: [], public: ["198.51.100.1"] }, v6: ["::ffff:192.0.2.9", "2606:4700:4700::1111"], mappedPort: 65535 }),
  ],
  signaling: ["mqtts://broker.example.org:8883", "wss://signal.example.net/mqtt"],
  relays: ["turn:turn.example.com:3478?transport=tcp", "turns:relay.example.org:5349"],
};

describe("address: encode / parse", () => {
  it("hex vector: a minimal address is exactly the documented bytes", () => {
    const a = encodeAddress(me, fields({ interfaces: [itf()] }));
    const unsigned = Buffer.concat([...header(), itfBytes()]);
    assert.equal(a, seal(unsigned));
    const b = body(a);
    // pinned prefix: version, ID, SEQ=7, EXPIRES
    assert.equal(b.subarray(0, 1 + 35 + 11 + 7).toString("hex"), "01" + "010020" + PUB_HEX + "020008" + "0000000000000007" + "030004" + "77359400");
    // signature TLV at the end
    assert.equal(b.subarray(b.length - 67, b.length - 64).toString("hex"), "ff0040");
    const p = parseAddress(a, { now: NOW });
    assert.equal(p.id, me.id);
    assert.equal(p.text, a);
  });

  it("round-trips several interfaces (v4 private/public, v6, mapped port, NAT summaries), signaling and relays", () => {
    const a = encodeAddress(me, RICH);
    assert.ok(a.startsWith(ADDRESS_PREFIX));
    assert.match(a.slice(ADDRESS_PREFIX.length), /^[a-z2-7]+$/);
    const p = parseAddress(a, { now: NOW });
    const { id, text: t, ...rest } = p;
    assert.equal(id, me.id);
    assert.equal(t, a);
    const expected = structuredClone(RICH);
    delete expected.interfaces[1].mappedVerified;
    assert.deepEqual(rest, expected);
  });

  it("interface flags: isDefault and mappedVerified bits", () => {
    for (const [isDefault, mappedVerified] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const p = parseAddress(encodeAddress(me, fields({ interfaces: [itf({ isDefault, mappedVerified, mappedPort: 9 })] })), { now: NOW });
      assert.equal(p.interfaces[0].isDefault, isDefault);
      assert.equal(p.interfaces[0].mappedVerified, mappedVerified ? true : undefined);
    }
  });

  it("an address with no interfaces, signaling or relays round-trips", () => {
    const p = parseAddress(encodeAddress(me, fields({ interfaces: [] })), { now: NOW });
    assert.deepEqual(p.interfaces, []);
    assert.equal(p.seq, 7);
  });

  it("accepts uppercase and surrounding whitespace, and returns the canonical text", () => {
    const a = encodeAddress(me, RICH);
    for (const variant of [a.toUpperCase(), `  ${a}\n`, `\t${a.toUpperCase()} `, a.slice(0, 20).toUpperCase() + a.slice(20)]) {
      const p = parseAddress(variant, { now: NOW });
      assert.equal(p.text, a);
      assert.equal(p.id, me.id);
    }
  });

  it("encode refuses fields it could not represent or that the parser would refuse", () => {
    const cases: Array<[string, AddressFields]> = [
      ["negative seq", fields({ seq: -1 })],
      ["fractional seq", fields({ seq: 1.5 })],
      ["expires past u32", fields({ expires: 2 ** 32 })],
      ["17 interfaces", fields({ interfaces: Array.from({ length: 17 }, () => itf()) })],
      ["9 signaling", fields({ signaling: Array.from({ length: 9 }, (_, i) => `mqtt://b${i}.example:1883`) })],
      ["9 relays", fields({ relays: Array.from({ length: 9 }, (_, i) => `turn:r${i}.example`) })],
      ["bad v4", fields({ interfaces: [itf({ v4: { private: ["300.1.1.1"], public: [] } })] })],
      ["v6 in v4 list", fields({ interfaces: [itf({ v4: { private: [], public: ["::1"] } })] })],
      ["bad v6", fields({ interfaces: [itf({ v6: ["1.2.3.4"] })] })],
      ["unknown NAT type", fields({ interfaces: [itf({ nat: { tcp: nat("weird" as "open", "unknown", "unknown", "unknown", 0), udp: { ...UNKNOWN_NAT } } })] })],
      ["port 0", fields({ interfaces: [itf({ port: 0 })] })],
      ["port 65536", fields({ interfaces: [itf({ port: 65536 })] })],
      ["port -1", fields({ interfaces: [itf({ port: -1 })] })],
      ["mapped port 70000", fields({ interfaces: [itf({ mappedPort: 70000 })] })],
      ["too long overall", fields({ interfaces: Array.from({ length: 16 }, () => itf({ v6: Array.from({ length: 8 }, (_, i) => `2001:db8::${i + 1}`), v4: { private: Array(8).fill("10.0.0.1"), public: Array(8).fill("192.0.2.1") } })) })],
    ];
    for (const [label, f] of cases) throwsAddress(() => encodeAddress(me, f), undefined, label);
  });

  it("encode refuses a signaling or relay URL longer than the parser accepts instead of truncating it", () => {
    const long = "wss://" + "a".repeat(300) + ".example/mqtt";
    throwsAddress(() => encodeAddress(me, fields({ signaling: [long] })), /signaling/);
    throwsAddress(() => encodeAddress(me, fields({ relays: ["turn:" + "r".repeat(300)] })), /relay/);
  });
});

describe("address: parse rejects", () => {
  const good = encodeAddress(me, RICH);

  it("a wrong prefix, non-strings, and characters outside the alphabet", () => {
    throwsAddress(() => parseAddress("p2pn2" + good.slice(5)), /start with "p2pn1"/);
    throwsAddress(() => parseAddress(good.slice(5)), /start with "p2pn1"/);
    throwsAddress(() => parseAddress(""), /start with/);
    throwsAddress(() => parseAddress(42 as unknown as string), /string/);
    throwsAddress(() => parseAddress(null as unknown as string), /string/);
    for (const bad of ["0", "1", "8", "9", "=", "-", " ", "é", "\u00e0"]) {
      throwsAddress(() => parseAddress(good.slice(0, 30) + bad + good.slice(31)), /alphabet/, JSON.stringify(bad));
    }
    throwsAddress(() => parseAddress(good.slice(0, 30) + " " + good.slice(30)), /alphabet/, "inner space");
  });

  it("the string cut at every length (all AddressError, no other error type)", () => {
    for (let n = 0; n < good.length; n++) throwsAddress(() => parseAddress(good.slice(0, n), { now: NOW }), undefined, `cut at ${n}`);
  });

  it("any changed byte of the body (each byte xor 0x01, 0x80, 0xff)", () => {
    const b = body(good);
    for (let i = 0; i < b.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const c = Buffer.from(b);
        c[i] ^= x;
        throwsAddress(() => parseAddress(text(c), { now: NOW }), undefined, `byte ${i} ^ 0x${x.toString(16)}`);
      }
    }
  });

  it("oversize input", () => {
    throwsAddress(() => parseAddress(ADDRESS_PREFIX + "a".repeat(MAX_ADDRESS_LENGTH)), /maximum/);
    throwsAddress(() => parseAddress(good + "a".repeat(MAX_ADDRESS_LENGTH)), /maximum/);
  });

  it("an expired address (now option), unless allowExpired", () => {
    const a = encodeAddress(me, fields({ expires: 1_000_000 }));
    assert.equal(parseAddress(a, { now: 1_000_000_000 }).expires, 1_000_000, "valid up to and including the expiry second");
    throwsAddress(() => parseAddress(a, { now: 1_000_000_001 }), /expired at 1970-01-12T13:46:40.000Z/);
    throwsAddress(() => parseAddress(a), /expired/);
    assert.equal(parseAddress(a, { allowExpired: true }).id, me.id);
  });

  it("expiry read from an injected clock (the node's), and `now` wins over it", async () => {
    const time = new FakeTime(1_000_000_000);
    const a = encodeAddress(me, fields({ expires: 1_000_000 }));
    assert.equal(parseAddress(a, { clock: time }).expires, 1_000_000, "valid at the expiry second");
    await time.advance(1);
    throwsAddress(() => parseAddress(a, { clock: time }), /expired/);
    assert.equal(parseAddress(a, { clock: time, now: 1_000_000_000 }).id, me.id);
  });

  it("a wrong version", () => {
    const unsigned = Buffer.concat(header());
    unsigned[0] = 2;
    throwsAddress(() => parseAddress(seal(unsigned), { now: NOW }), /version 2 is not supported/);
    throwsAddress(() => parseAddress(text(Buffer.alloc(0))), /empty/);
  });

  it("missing identity, sequence number, expiry, or signature", () => {
    const [v, id, seq, exp] = header();
    throwsAddress(() => parseAddress(seal(Buffer.concat([v, seq, exp])), { now: NOW }), /no identity key/);
    throwsAddress(() => parseAddress(seal(Buffer.concat([v, id, exp])), { now: NOW }), /sequence number or expiry/);
    throwsAddress(() => parseAddress(seal(Buffer.concat([v, id, seq])), { now: NOW }), /sequence number or expiry/);
    throwsAddress(() => parseAddress(text(Buffer.concat([v, id, seq, exp])), { now: NOW }), /not signed/);
  });

  it("a signature by another key (the listed id is not the signer)", () => {
    const other = Identity.generate();
    throwsAddress(() => parseAddress(seal(Buffer.concat([...header(me), itfBytes()]), other), { now: NOW }), /does not verify/);
  });

  it("skips an unknown non-critical field (top level and inside an interface)", () => {
    const top = seal(Buffer.concat([...header(), tlv(0x42, "future"), itfBytes(), tlv(0x7f, [])]));
    const p = parseAddress(top, { now: NOW });
    assert.equal(p.id, me.id);
    assert.equal(p.interfaces.length, 1);
    assert.equal(p.interfaces[0].port, 4000);
    assert.equal(p.text, top, "the canonical text keeps the unknown field (it is signed)");
    const inner = seal(Buffer.concat([...header(), itfBytes([tlv(0x60, [1, 2, 3])])]));
    assert.equal(parseAddress(inner, { now: NOW }).interfaces[0].name, "eth0");
  });

  it("refuses an unknown critical field (>= 0x80), top level and inside an interface", () => {
    for (const type of [0x80, 0x9a, 0xfe]) {
      throwsAddress(() => parseAddress(seal(Buffer.concat([...header(), tlv(type, "x")])), { now: NOW }), /critical field 0x[0-9a-f]+ .*: the address is corrupted \(copy it whole\) or from a newer p2pnode/, `0x${type.toString(16)}`);
      throwsAddress(() => parseAddress(seal(Buffer.concat([...header(), itfBytes([tlv(type, [])])])), { now: NOW }), /critical field .* in an interface/);
    }
  });

  it("refuses data after the signature", () => {
    const unsigned = Buffer.concat([...header(), itfBytes()]);
    throwsAddress(() => parseAddress(seal(unsigned, me, tlv(0x42, "tail")), { now: NOW }), /after its signature/);
    throwsAddress(() => parseAddress(seal(unsigned, me, tlv(0x01, me.publicKey)), { now: NOW }), /after its signature/);
    throwsAddress(() => parseAddress(seal(unsigned, me, Buffer.from([0x42, 0])), { now: NOW }), /truncated/);
    // a second signature TLV
    const once = body(seal(unsigned));
    throwsAddress(() => parseAddress(text(Buffer.concat([once, once.subarray(once.length - 67)])), { now: NOW }), /after its signature/);
  });

  it("fields of the wrong length, bad UTF-8, out-of-range sequence numbers", () => {
    const [v, id, seq, exp] = header();
    const cases: Array<[string, Buffer, RegExp]> = [
      ["short id", Buffer.concat([v, tlv(0x01, me.publicKey.subarray(0, 31)), seq, exp]), /identity key has the wrong length \(31, expected 32\)/],
      ["seq 4 bytes", Buffer.concat([v, id, tlv(0x02, u32(1)), exp]), /sequence number has the wrong length/],
      ["expiry 8 bytes", Buffer.concat([v, id, seq, tlv(0x03, u64(1n))]), /expiry has the wrong length/],
      ["seq > 2^53", Buffer.concat([v, id, tlv(0x02, u64(2n ** 53n)), exp]), /sequence number is out of range/],
      ["bad UTF-8 signaling", Buffer.concat([v, id, seq, exp, tlv(0x20, [0xc3, 0x28])]), /signaling URL is not valid UTF-8/],
      ["long relay", Buffer.concat([v, id, seq, exp, tlv(0x21, "turn:" + "x".repeat(252))]), /relay URI is too long/],
      ["interface without port", Buffer.concat([v, id, seq, exp, tlv(0x10, tlv(0x01, "eth0"))]), /no port/],
      ["port 3 bytes", Buffer.concat([v, id, seq, exp, tlv(0x10, tlv(0x03, [0, 1, 2]))]), /port has the wrong length/],
      ["v4 5 bytes", Buffer.concat([v, id, seq, exp, itfBytes([tlv(0x04, [1, 2, 3, 4, 5])])]), /IPv4 address has the wrong length/],
      ["v6 4 bytes", Buffer.concat([v, id, seq, exp, itfBytes([tlv(0x06, [1, 2, 3, 4])])]), /IPv6 address has the wrong length/],
      ["nat 5 bytes", Buffer.concat([v, id, seq, exp, itfBytes([tlv(0x08, [0, 0, 0, 0, 0])])]), /NAT field has the wrong length/],
      ["flags 2 bytes", Buffer.concat([v, id, seq, exp, itfBytes([tlv(0x02, [1, 0])])]), /flags has the wrong length/],
      ["long name", Buffer.concat([v, id, seq, exp, itfBytes([tlv(0x01, "n".repeat(33))])]), /interface name is too long/],
      ["bad UTF-8 name", Buffer.concat([v, id, seq, exp, itfBytes([tlv(0x01, [0xff])])]), /interface name is not valid UTF-8/],
      ["truncated interface TLV", Buffer.concat([v, id, seq, exp, tlv(0x10, [0x03, 0x00])]), /truncated \(inside an interface\)/],
      ["interface TLV value cut", Buffer.concat([v, id, seq, exp, tlv(0x10, [0x03, 0x00, 0x02, 0x01])]), /truncated \(field 0x3 in an interface\)/],
    ];
    for (const [label, unsigned, re] of cases) throwsAddress(() => parseAddress(seal(unsigned), { now: NOW }), re, label);
  });

  it("limits: interfaces, addresses per kind, signaling servers, relays", () => {
    const many = (n: number, make: (i: number) => Buffer) => Array.from({ length: n }, (_, i) => make(i));
    const [v, id, seq, exp] = header();
    const base = [v, id, seq, exp];
    // at the limit: accepted
    const atLimit = Buffer.concat([
      ...base,
      ...many(16, () => itfBytes()),
      ...many(8, (i) => tlv(0x20, `mqtt://b${i}`)),
      ...many(8, (i) => tlv(0x21, `turn:r${i}`)),
    ]);
    const p = parseAddress(seal(atLimit), { now: NOW });
    assert.equal(p.interfaces.length, 16);
    assert.equal(p.signaling.length, 8);
    assert.equal(p.relays.length, 8);
    const ips = (type: number, len: number, n: number) => many(n, (i) => tlv(type, Buffer.alloc(len, i + 1)));
    assert.equal(parseAddress(seal(Buffer.concat([...base, itfBytes([...ips(0x04, 4, 8), ...ips(0x05, 4, 8), ...ips(0x06, 16, 8)])])), { now: NOW }).interfaces[0].v6.length, 8);
    // one past: refused
    const cases: Array<[string, Buffer[], RegExp]> = [
      ["17 interfaces", many(17, () => itfBytes()), /too many interfaces/],
      ["9 signaling", many(9, (i) => tlv(0x20, `mqtt://b${i}`)), /too many signaling/],
      ["9 relays", many(9, (i) => tlv(0x21, `turn:r${i}`)), /too many relays/],
      ["9 private v4", [itfBytes(ips(0x04, 4, 9))], /too many IPv4/],
      ["9 public v4", [itfBytes(ips(0x05, 4, 9))], /too many IPv4/],
      ["9 v6", [itfBytes(ips(0x06, 16, 9))], /too many IPv6/],
    ];
    for (const [label, extra, re] of cases) throwsAddress(() => parseAddress(seal(Buffer.concat([...base, ...extra])), { now: NOW }), re, label);
  });

  it("an unknown NAT enum value from a newer peer reads as unknown, not an error", () => {
    const a = seal(Buffer.concat([...header(), itfBytes([tlv(0x08, natHex(200, 9, 9, 9, -5))])]));
    const p = parseAddress(a, { now: NOW });
    assert.deepEqual(p.interfaces[0].nat.tcp, { type: "unknown", mapping: "unknown", filtering: "unknown", delta: { kind: "unknown", step: -5 } });
  });
});

describe("address: repeated or out-of-order fields (issue 9, item 6)", () => {
  const [v, id, seq, exp] = header();
  const nat0 = natHex(0, 0, 0, 0, 0);
  const itfRaw = (...fields: Buffer[]) => tlv(0x10, Buffer.concat(fields));
  const name = tlv(0x01, "eth0");
  const flags = tlv(0x02, [1]);
  const port = tlv(0x03, u16(4000));
  const ntcp = tlv(0x08, nat0);
  const nudp = tlv(0x09, nat0);
  const itfOk = itfRaw(name, flags, port, ntcp, nudp);

  it("refuses a repeated single-valued field, top level and in an interface (the signature is valid: the order check refuses)", () => {
    const cases: Array<[string, Buffer[], RegExp]> = [
      ["ID twice", [v, id, id, seq, exp], /repeated ID \(0x01\) field in the address/],
      ["SEQ twice", [v, id, seq, tlv(0x02, u64(8n)), exp], /repeated SEQ \(0x02\)/],
      ["EXPIRES twice", [v, id, seq, exp, tlv(0x03, u32(EXPIRES + 1))], /repeated EXPIRES \(0x03\)/],
      ["NAME twice", [v, id, seq, exp, itfRaw(name, name, flags, port, ntcp, nudp)], /repeated NAME \(0x01\) field in an interface/],
      ["FLAGS twice", [v, id, seq, exp, itfRaw(name, flags, flags, port, ntcp, nudp)], /repeated FLAGS/],
      ["PORT twice", [v, id, seq, exp, itfRaw(name, flags, port, tlv(0x03, u16(22)), ntcp, nudp)], /repeated PORT \(0x03\)/],
      ["MAPPED_PORT twice", [v, id, seq, exp, itfRaw(name, flags, port, tlv(0x07, u16(1)), tlv(0x07, u16(2)), ntcp, nudp)], /repeated MAPPED_PORT/],
      ["NAT_TCP twice", [v, id, seq, exp, itfRaw(name, flags, port, ntcp, ntcp, nudp)], /repeated NAT_TCP/],
      ["NAT_UDP twice", [v, id, seq, exp, itfRaw(name, flags, port, ntcp, nudp, nudp)], /repeated NAT_UDP/],
    ];
    for (const [label, parts, re] of cases) throwsAddress(() => parseAddress(seal(Buffer.concat(parts)), { now: NOW }), re, label);
  });

  it("refuses known fields out of ascending type order, top level and in an interface", () => {
    const sig = tlv(0x20, "mqtt://b");
    const relay = tlv(0x21, "turn:r");
    const v4a = tlv(0x04, [10, 0, 0, 1]);
    const v4p = tlv(0x05, [192, 0, 2, 1]);
    const v6 = tlv(0x06, Buffer.alloc(16, 1));
    const cases: Array<[string, Buffer[], RegExp]> = [
      ["SEQ before ID", [v, seq, id, exp], /ID \(0x01\) in the address comes after SEQ \(0x02\): fields must be in ascending type order/],
      ["EXPIRES before SEQ", [v, id, exp, seq], /SEQ \(0x02\) in the address comes after EXPIRES/],
      ["an interface before EXPIRES", [v, id, seq, itfOk, exp], /EXPIRES \(0x03\) in the address comes after INTERFACE/],
      ["SIGNALING before INTERFACE", [v, id, seq, exp, sig, itfOk], /INTERFACE \(0x10\) in the address comes after SIGNALING/],
      ["RELAY before SIGNALING", [v, id, seq, exp, relay, sig], /SIGNALING \(0x20\) in the address comes after RELAY/],
      ["ID last", [v, seq, exp, id], /ID \(0x01\) in the address comes after EXPIRES/],
      ["PORT before FLAGS", [v, id, seq, exp, itfRaw(name, port, flags, ntcp, nudp)], /FLAGS \(0x02\) in an interface comes after PORT/],
      ["NAME last", [v, id, seq, exp, itfRaw(flags, port, ntcp, nudp, name)], /NAME \(0x01\) in an interface comes after NAT_UDP/],
      ["public v4 before private v4", [v, id, seq, exp, itfRaw(name, flags, port, v4p, v4a, ntcp, nudp)], /V4_PRIVATE \(0x04\) in an interface comes after V4_PUBLIC/],
      ["v6 before v4", [v, id, seq, exp, itfRaw(name, flags, port, v6, v4a, ntcp, nudp)], /V4_PRIVATE .* comes after V6/],
      ["NAT_UDP before NAT_TCP", [v, id, seq, exp, itfRaw(name, flags, port, nudp, ntcp)], /NAT_TCP \(0x08\) in an interface comes after NAT_UDP/],
      ["a v4 address between the NAT fields", [v, id, seq, exp, itfRaw(name, flags, port, ntcp, v4a, nudp)], /V4_PRIVATE .* comes after NAT_TCP/],
    ];
    for (const [label, parts, re] of cases) throwsAddress(() => parseAddress(seal(Buffer.concat(parts)), { now: NOW }), re, label);
  });

  it("still accepts repeated list fields in order, optional fields left out, and unknown non-critical fields anywhere", () => {
    const v4a = (i: number) => tlv(0x04, [10, 0, 0, i]);
    const ok = [
      [v, id, seq, exp],
      [v, id, seq, exp, itfOk, itfOk, tlv(0x20, "mqtt://a"), tlv(0x20, "mqtt://b"), tlv(0x21, "turn:a"), tlv(0x21, "turn:b")],
      [v, id, seq, exp, itfRaw(port)],
      [v, id, seq, exp, itfRaw(name, flags, port, v4a(1), v4a(2), tlv(0x05, [192, 0, 2, 1]), tlv(0x06, Buffer.alloc(16, 1)), tlv(0x07, u16(5)), ntcp, nudp)],
      [v, tlv(0x7e, "before the id"), id, tlv(0x05, "between"), seq, exp, tlv(0x11, []), itfRaw(tlv(0x60, "first"), name, port, tlv(0x5a, "x")), tlv(0x7f, [])],
    ];
    for (const [i, parts] of ok.entries()) assert.equal(parseAddress(seal(Buffer.concat(parts)), { now: NOW }).id, me.id, `case ${i}`);
    // and every address the encoder writes
    for (const f of [RICH, fields(), fields({ interfaces: [] })]) assert.equal(parseAddress(encodeAddress(me, f), { now: NOW }).id, me.id);
  });
});

describe("newerAddress: the one to keep (issue 9, item 6: 'a newer address wins')", () => {
  const other = Identity.fromPem("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU\n-----END PRIVATE KEY-----\n");
  const addr = (seq: number, expires: number, who: Identity = me) => parseAddress(encodeAddress(who, fields({ seq, expires })), { now: NOW });
  // [current (seq, expires), candidate (seq, expires), which is kept]
  const rows: Array<[[number, number], [number, number], "current" | "candidate"]> = [
    [[1, EXPIRES], [2, EXPIRES], "candidate"], // higher seq wins
    [[2, EXPIRES], [1, EXPIRES], "current"], // an older (replayed) address never replaces a newer one
    [[2, EXPIRES], [1, EXPIRES + 999], "current"], // ... not even with a later expiry
    [[5, EXPIRES + 999], [6, EXPIRES], "candidate"], // seq first, expiry only breaks ties
    [[3, EXPIRES], [3, EXPIRES + 1], "candidate"], // tie on seq: later expiry
    [[3, EXPIRES + 1], [3, EXPIRES], "current"],
    [[3, EXPIRES], [3, EXPIRES], "current"], // full tie: keep what we have
    [[0, EXPIRES], [Number.MAX_SAFE_INTEGER, EXPIRES], "candidate"],
  ];
  for (const [[cs, ce], [ns, ne], want] of rows) {
    it(`current seq ${cs} exp +${ce - EXPIRES}, candidate seq ${ns} exp +${ne - EXPIRES} -> ${want}`, () => {
      const current = addr(cs, ce);
      const candidate = addr(ns, ne);
      assert.equal(newerAddress(current, candidate), want === "current" ? current : candidate);
    });
  }
  it("refuses to compare two nodes' addresses (AddressError)", () => {
    throwsAddress(() => newerAddress(addr(1, EXPIRES), addr(2, EXPIRES, other)), /two nodes/);
  });
});
