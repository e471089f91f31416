// Signaling bodies and broker URLs under mutated JSON and text; valid bodies parse to themselves.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import * as M from "../../src/signaling/messages.ts";
import { base64urlEncode } from "../../src/util/encoding.ts";
import { checkBrokerUrl, filterBrokerUrls } from "../../src/signaling/broker-url.ts";
import { targets } from "../../fuzz/targets/messages.ts";
import { fuzzTargets } from "./targets.ts";

const o = { noNullPrototype: true } as const;
const time = fc.maxSafeNat();
const hex = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex"));

describe("fuzz: signaling bodies and broker URLs", () => {
  fuzzTargets(targets);

  it("round trip: valid bodies parse to themselves", () => {
    fc.assert(
      fc.property(time, time, time, hex, fc.uint8Array({ minLength: 16, maxLength: 64 }), fc.string({ minLength: 1, maxLength: 300 }), (t0, t1, t2, re, token, address) => {
        assert.deepEqual(M.parsePing({ t0 }), { t0 });
        assert.deepEqual(M.parsePong({ t0, t1, t2 }), { t0, t1, t2 });
        assert.deepEqual(M.parseAckWire({ re }), { re });
        assert.deepEqual(M.parseGetAddrReply({ address }), { address });
        const rc = { address, token: base64urlEncode(token) };
        assert.deepEqual(M.parseReverseConnect(rc), rc);
        assert.deepEqual(M.parseReplyWire({ re, ok: false, error: { code: 4, message: address } }), { re, ok: false, error: { code: 4, message: address.slice(0, 500) } });
      }),
      { numRuns: 300 },
    );
  });

  it("request wire keeps replyTo and body as sent", () => {
    fc.assert(
      fc.property(fc.record({ replyTo: fc.array(fc.string({ maxLength: 100 }), { maxLength: 16 }), body: fc.jsonValue() }, o), (w) => assert.deepEqual(M.parseRequestWire(w), w)),
      { numRuns: 300 },
    );
  });

  it("filterBrokerUrls reports an object whose toString is not a function instead of throwing (fuzz finding)", () => {
    const r = filterBrokerUrls([JSON.parse('{"toString":null}'), "mqtt://a.example"]);
    assert.deepEqual(r.accepted, ["mqtt://a.example:1883"]);
    assert.deepEqual(r.rejected, [{ url: "<object>", reason: "not-a-string" }]);
  });

  it("an accepted URL's normal form passes the length limit again (fuzz finding: the added :1883 pushed it over)", () => {
    const host = `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.example`;
    const url = `mqtt://${host}`.slice(0, 256);
    const v = checkBrokerUrl(url);
    if (v.ok) assert.ok(checkBrokerUrl(v.url).ok, `${v.url} no longer passes`);
    else assert.equal(v.reason, "too-long");
  });
});
