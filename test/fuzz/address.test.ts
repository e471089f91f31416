// Address text, TLV body and re-signed bodies under mutated input; encodeAddress → parseAddress round trip.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BEHAVIOURS, DELTA_KINDS, encodeAddress, NAT_TYPES, parseAddress, type AddressFields } from "../../src/identity/address.ts";
import { ipv6FromBytes } from "../../src/util/ip.ts";
import { ADDRESS_IDENTITY, ADDRESS_NOW, targets } from "../../fuzz/targets/address.ts";
import { fuzzTargets } from "./targets.ts";

const o = { noNullPrototype: true } as const;
const nat = fc.record({
  type: fc.constantFrom(...NAT_TYPES),
  mapping: fc.constantFrom(...BEHAVIOURS),
  filtering: fc.constantFrom(...BEHAVIOURS),
  delta: fc.record({ kind: fc.constantFrom(...DELTA_KINDS), step: fc.integer({ min: -32768, max: 32767 }) }, o),
}, o);
const itf = fc
  .record({
    name: fc.string({ maxLength: 32 }),
    isDefault: fc.boolean(),
    port: fc.integer({ min: 1, max: 65535 }),
    v4: fc.record({ private: fc.array(fc.ipV4(), { maxLength: 2 }), public: fc.array(fc.ipV4(), { maxLength: 2 }) }, o),
    v6: fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }).map(ipv6FromBytes), { maxLength: 2 }),
    mappedPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    mappedVerified: fc.constantFrom(true, undefined),
    nat: fc.record({ tcp: nat, udp: nat }, o),
  }, o)
  // encodeAddress writes no field for an absent value; parseAddress then leaves the key out.
  .map((i) => JSON.parse(JSON.stringify(i)) as AddressFields["interfaces"][number]);
const fields: fc.Arbitrary<AddressFields> = fc.record({
  seq: fc.maxSafeNat(),
  expires: fc.integer({ min: Math.ceil(ADDRESS_NOW / 1000), max: 0xffffffff }),
  interfaces: fc.array(itf, { maxLength: 3 }),
  signaling: fc.array(fc.webUrl().filter((u) => u.length <= 256), { maxLength: 3 }),
  relays: fc.array(fc.constant("turn:relay.example:3478"), { maxLength: 2 }),
}, o);

describe("fuzz: address", () => {
  fuzzTargets(targets);

  it("round trip: parseAddress(encodeAddress(fields)) gives back the fields and the same text", () => {
    fc.assert(
      fc.property(fields, (f) => {
        const text = encodeAddress(ADDRESS_IDENTITY, f);
        const a = parseAddress(text, { now: ADDRESS_NOW });
        assert.equal(a.text, text);
        assert.equal(a.id, ADDRESS_IDENTITY.id);
        assert.deepEqual({ seq: a.seq, expires: a.expires, interfaces: a.interfaces, signaling: a.signaling, relays: a.relays }, f);
      }),
      { numRuns: 150 },
    );
  });
});
