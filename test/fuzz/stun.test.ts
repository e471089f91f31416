// STUN codec, attributes, TCP framer and stun: URIs under mutated input; encode → decode round trips.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decode, decodeAttributeValue, encode, encodeAttributeValue, attrName, attrTypeNumber, type StunAttribute } from "../../src/stun/codec.ts";
import { canonicalIp } from "../../src/stun/ip.ts";
import { targets, validAttribute, validMessage } from "../../fuzz/targets/stun.ts";
import { fuzzTargets } from "./targets.ts";

const canon = (a: StunAttribute) => {
  const v = a.value as { address?: string };
  return v && typeof v === "object" && typeof v.address === "string" ? { ...a, value: { ...v, address: canonicalIp(v.address) } } : a;
};

describe("fuzz: STUN", () => {
  fuzzTargets(targets);

  it("round trip: decode(encode(m)) gives back m", () => {
    fc.assert(
      fc.property(validMessage, fc.boolean(), (m, fingerprint) => {
        const d = decode(encode(m, { fingerprint }));
        assert.equal(d.method, m.method);
        assert.equal(d.class, m.class);
        assert.deepEqual(d.transactionId, m.transactionId);
        const attrs = d.attributes.filter((a) => a.type !== "FINGERPRINT");
        assert.deepEqual(attrs.map(canon), m.attributes.map(canon));
        assert.equal(d.hasFingerprint, fingerprint);
      }),
      { numRuns: 300 },
    );
  });

  it("round trip: one attribute value", () => {
    const txid = new Uint8Array(12).fill(1);
    fc.assert(
      fc.property(validAttribute.map((a) => structuredClone(a)), (a) => {
        const t = attrTypeNumber(a.type);
        assert.deepEqual(canon(decodeAttributeValue(t, attrName(t), encodeAttributeValue(a, txid), txid)), canon(a));
      }),
      { numRuns: 500 },
    );
  });
});
