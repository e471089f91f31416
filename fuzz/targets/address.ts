/** The node address (src/identity/address.ts): the text form, the TLV body, and TLV bodies re-signed so parsing reaches the end. */
import fc from "fast-check";
import { ADDRESS_PREFIX, encodeAddress, parseAddress, UNKNOWN_NAT, type AddressFields } from "../../src/identity/address.ts";
import { base32Decode, base32Encode } from "../../src/util/encoding.ts";
import { fuzzBytes, fuzzText, type FuzzTarget } from "../harness.ts";
import { fixedIdentity, WEAK_KEYS } from "../keys.ts";

const ID = fixedIdentity(1);
/** Mirrors address.ts SIG_DOMAIN: the re-signing target signs exactly what parseAddress verifies. */
const SIG_DOMAIN = Buffer.from("p2pnode/1 address");
const NOW = 1_700_000_000_000;
const EXPIRES = 1_900_000_000;

const itf = (name: string, port: number, extra: Partial<AddressFields["interfaces"][number]> = {}) => ({
  name,
  isDefault: true,
  port,
  v4: { private: ["192.168.1.5", "10.0.0.9"], public: ["203.0.113.7"] },
  v6: ["2001:db8::1", "::ffff:1.2.3.4"],
  nat: { tcp: { type: "port-restricted", mapping: "endpoint-independent", filtering: "address-and-port-dependent", delta: { kind: "sequential", step: 2 } }, udp: { ...UNKNOWN_NAT } },
  ...extra,
}) as AddressFields["interfaces"][number];

export const ADDRESS_SEEDS: readonly string[] = [
  encodeAddress(ID, { seq: 1, expires: EXPIRES, interfaces: [itf("eth0", 4001)], signaling: ["mqtt://broker.example:1883"], relays: [] }),
  encodeAddress(ID, { seq: 2 ** 40, expires: EXPIRES, interfaces: [itf("eth0", 1, { mappedPort: 65535, mappedVerified: true }), itf("wlan0", 65535, { isDefault: false })], signaling: ["wss://b.example/mqtt", "mqtts://c.example"], relays: ["turn:relay.example:3478"] }),
  encodeAddress(ID, { seq: 0, expires: 0, interfaces: [], signaling: [], relays: [] }),
];
const bodyOf = (text: string) => base32Decode(text.slice(ADDRESS_PREFIX.length)) as Uint8Array;
const BODY_SEEDS = ADDRESS_SEEDS.map(bodyOf);
/** Body without its trailing signature TLV (3 + 64 bytes). */
const UNSIGNED_SEEDS = BODY_SEEDS.map((b) => b.slice(0, b.length - 67));
const DICT = [...WEAK_KEYS, Uint8Array.of(0xff, 0, 64), Uint8Array.of(0x10, 0xff, 0xff), Uint8Array.of(0x80, 0, 0), Uint8Array.of(0x01, 0, 32)];

const parse = (text: string) => parseAddress(text, { now: NOW });
const sameOnReparse = (_i: unknown, r: unknown) => {
  const a = r as ReturnType<typeof parseAddress>;
  if (parseAddress(a.text, { now: NOW, allowExpired: true }).text !== a.text) throw new Error("canonical text does not reparse to itself");
};

const addressText: FuzzTarget<string> = {
  name: "address.text",
  arb: fuzzText(ADDRESS_SEEDS, { maxLength: 400 }),
  run: parse,
  throws: "typed",
  testRuns: 1000,
};

const addressBody: FuzzTarget<Uint8Array> = {
  name: "address.body",
  arb: fuzzBytes(BODY_SEEDS, { dict: DICT }),
  run: (b) => parse(ADDRESS_PREFIX + base32Encode(b)),
  throws: "typed",
  testRuns: 1000,
};

/** The mutated TLVs get a valid signature appended: the only way past verification, as a malicious node would do. */
const addressResigned: FuzzTarget<{ body: Uint8Array; expired: boolean }> = {
  name: "address.resigned",
  arb: fc.record({ body: fuzzBytes(UNSIGNED_SEEDS, { dict: DICT }), expired: fc.boolean() }),
  run: ({ body, expired }) => {
    const sig = ID.sign(Buffer.concat([SIG_DOMAIN, body]));
    const full = Buffer.concat([body, Uint8Array.of(0xff, 0, 64), sig]);
    return parseAddress(ADDRESS_PREFIX + base32Encode(full), { now: NOW, allowExpired: expired });
  },
  check: sameOnReparse,
  throws: "typed",
  testRuns: 1000,
  show: (i) => `allowExpired ${i.expired} unsigned body ${Buffer.from(i.body).toString("hex")}`,
};

export const targets: FuzzTarget[] = [addressText, addressBody, addressResigned];
export { ID as ADDRESS_IDENTITY, NOW as ADDRESS_NOW };
