import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StunError } from "../../src/errors.ts";
import {
  decode,
  encode,
  encodingLength,
  getAttribute,
  longTermKey,
  looksLikeStun,
  messageType,
  Method,
  shortTermKey,
  unknownRequiredAttributes,
  verifyIntegrity,
  type StunAttribute,
  type StunClass,
  type StunMessage,
} from "../../src/stun/codec.ts";
import { hex, LONG_TERM_REQUEST, LONG_TERM_TXID, PASSWORD, SAMPLE_REQUEST, SAMPLE_V4_RESPONSE, SAMPLE_V6_RESPONSE, TXID } from "./vectors.ts";

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("RFC 5769 test vectors", () => {
  it("§2.1 sample request: decodes, integrity and fingerprint verify, re-encodes byte for byte", () => {
    const m = decode(SAMPLE_REQUEST);
    assert.equal(m.method, Method.BINDING);
    assert.equal(m.class, "request");
    assert.deepEqual(m.transactionId, TXID);
    assert.equal(getAttribute(m, "SOFTWARE"), "STUN test client");
    assert.equal(getAttribute(m, "USERNAME"), "evtj:h6vY");
    assert.equal(m.hasFingerprint, true);
    assert.ok(verifyIntegrity(m, shortTermKey(PASSWORD)));
    assert.ok(!verifyIntegrity(m, shortTermKey("wrong")));
    // PRIORITY and ICE-CONTROLLED are ICE attributes we keep raw.
    assert.deepEqual(unknownRequiredAttributes(m), [0x0024]);
    const again = encode(
      {
        method: Method.BINDING,
        class: "request",
        transactionId: TXID,
        attributes: [
          { type: "SOFTWARE", value: "STUN test client" },
          { type: 0x0024, value: hex("6e0001ff") },
          { type: 0x8029, value: hex("932ff9b151263b36") },
          { type: "USERNAME", value: "evtj:h6vY" },
        ],
      },
      { integrityKey: shortTermKey(PASSWORD), fingerprint: true, padding: 0x20 },
    );
    assert.equal(toHex(again), toHex(SAMPLE_REQUEST));
  });

  for (const [name, vec, addr] of [
    ["§2.2 IPv4 response", SAMPLE_V4_RESPONSE, { family: 4, address: "192.0.2.1", port: 32853 }],
    ["§2.3 IPv6 response", SAMPLE_V6_RESPONSE, { family: 6, address: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 }],
  ] as const) {
    it(`${name}: XOR-MAPPED-ADDRESS, integrity, fingerprint, re-encode`, () => {
      const m = decode(vec);
      assert.equal(m.class, "success");
      assert.deepEqual(getAttribute(m, "XOR-MAPPED-ADDRESS"), addr);
      assert.equal(getAttribute(m, "SOFTWARE"), "test vector");
      assert.ok(verifyIntegrity(m, shortTermKey(PASSWORD)));
      const again = encode(
        {
          method: Method.BINDING,
          class: "success",
          transactionId: TXID,
          attributes: [
            { type: "SOFTWARE", value: "test vector" },
            { type: "XOR-MAPPED-ADDRESS", value: addr },
          ],
        },
        { integrityKey: shortTermKey(PASSWORD), fingerprint: true, padding: 0x20 },
      );
      assert.equal(toHex(again), toHex(vec));
    });
  }

  it("decodes from a Buffer view at a non-zero offset (as sockets deliver) without touching it", () => {
    const pool = Buffer.alloc(SAMPLE_V4_RESPONSE.length + 13);
    pool.set(SAMPLE_V4_RESPONSE, 13);
    const view = pool.subarray(13);
    const before = Buffer.from(view).toString("hex");
    const m = decode(view);
    assert.ok(verifyIntegrity(m, shortTermKey(PASSWORD)));
    assert.equal(view.toString("hex"), before);
  });

  it("§2.4 long-term credentials: MD5 key, integrity verifies, re-encodes", () => {
    const m = decode(LONG_TERM_REQUEST);
    const username = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9";
    assert.equal(getAttribute(m, "USERNAME"), username);
    assert.equal(getAttribute(m, "REALM"), "example.org");
    assert.equal(getAttribute(m, "NONCE"), "f//499k954d6OL34oL9FSTvy64sA");
    assert.equal(m.hasFingerprint, false);
    const key = longTermKey(username, "example.org", "TheMatrIX"); // SASLprep output of the RFC's password
    assert.ok(verifyIntegrity(m, key));
    const again = encode(
      {
        method: Method.BINDING,
        class: "request",
        transactionId: LONG_TERM_TXID,
        attributes: [
          { type: "USERNAME", value: username },
          { type: "NONCE", value: "f//499k954d6OL34oL9FSTvy64sA" },
          { type: "REALM", value: "example.org" },
        ],
      },
      { integrityKey: key },
    );
    assert.equal(toHex(again), toHex(LONG_TERM_REQUEST));
  });
});

describe("message type packing (RFC 8489 §5)", () => {
  const table: Array<[number, StunClass, string]> = [
    [Method.BINDING, "request", "0001"],
    [Method.BINDING, "indication", "0011"],
    [Method.BINDING, "success", "0101"],
    [Method.BINDING, "error", "0111"],
    [Method.ALLOCATE, "request", "0003"],
    [Method.ALLOCATE, "error", "0113"],
    [Method.SEND, "indication", "0016"],
    [Method.DATA, "indication", "0017"],
    [Method.CONNECTION_ATTEMPT, "indication", "001c"],
    [0xfff, "error", "3fff"],
  ];
  for (const [method, cls, want] of table) {
    it(`method 0x${method.toString(16)} ${cls} -> ${want}`, () => {
      assert.equal(messageType(method, cls).toString(16).padStart(4, "0"), want);
      const bytes = encode({ method, class: cls, transactionId: TXID, attributes: [] });
      assert.equal(toHex(bytes.subarray(0, 2)), want);
      const back = decode(bytes);
      assert.equal(back.method, method);
      assert.equal(back.class, cls);
    });
  }
});

describe("attribute values (hex)", () => {
  // Value hex as it appears on the wire (after the TLV header, before padding), with TXID.
  const table: Array<[string, StunAttribute, string]> = [
    ["MAPPED-ADDRESS v4", { type: "MAPPED-ADDRESS", value: { family: 4, address: "192.0.2.1", port: 32853 } }, "00018055c0000201"],
    ["MAPPED-ADDRESS v6", { type: "MAPPED-ADDRESS", value: { family: 6, address: "2001:db8::1", port: 1 } }, "0002000120010db8000000000000000000000001"],
    ["XOR-MAPPED-ADDRESS v4", { type: "XOR-MAPPED-ADDRESS", value: { family: 4, address: "192.0.2.1", port: 32853 } }, "0001a147e112a643"],
    ["OTHER-ADDRESS", { type: "OTHER-ADDRESS", value: { family: 4, address: "127.0.0.2", port: 3479 } }, "00010d977f000002"],
    ["RESPONSE-ORIGIN", { type: "RESPONSE-ORIGIN", value: { family: 6, address: "::1", port: 3478 } }, "00020d9600000000000000000000000000000001"],
    ["XOR-PEER-ADDRESS", { type: "XOR-PEER-ADDRESS", value: { family: 4, address: "10.0.0.1", port: 5000 } }, "0001329a2b12a443"],
    ["XOR-RELAYED-ADDRESS", { type: "XOR-RELAYED-ADDRESS", value: { family: 4, address: "203.0.113.9", port: 49152 } }, "0001e112ea12d54b"],
    ["CHANGE-REQUEST ip+port", { type: "CHANGE-REQUEST", value: { changeIp: true, changePort: true } }, "00000006"],
    ["CHANGE-REQUEST port", { type: "CHANGE-REQUEST", value: { changeIp: false, changePort: true } }, "00000002"],
    ["RESPONSE-PORT", { type: "RESPONSE-PORT", value: 3478 }, "0d960000"],
    ["ERROR-CODE 401", { type: "ERROR-CODE", value: { code: 401, reason: "Unauthorized" } }, "00000401556e617574686f72697a6564"],
    ["ERROR-CODE 420", { type: "ERROR-CODE", value: { code: 420, reason: "" } }, "00000414"],
    ["ERROR-CODE 699", { type: "ERROR-CODE", value: { code: 699, reason: "x" } }, "0000066378"],
    ["UNKNOWN-ATTRIBUTES", { type: "UNKNOWN-ATTRIBUTES", value: [0x0024, 0x7fff] }, "00247fff"],
    ["SOFTWARE", { type: "SOFTWARE", value: "p2pnode" }, "7032706e6f6465"],
    ["USERNAME", { type: "USERNAME", value: "a:b" }, "613a62"],
    ["REALM", { type: "REALM", value: "example.org" }, "6578616d706c652e6f7267"],
    ["NONCE", { type: "NONCE", value: "n" }, "6e"],
    ["LIFETIME", { type: "LIFETIME", value: 600 }, "00000258"],
    ["REQUESTED-TRANSPORT udp", { type: "REQUESTED-TRANSPORT", value: 17 }, "11000000"],
    ["CHANNEL-NUMBER", { type: "CHANNEL-NUMBER", value: 0x4000 }, "40000000"],
    ["DATA", { type: "DATA", value: hex("deadbeef01") }, "deadbeef01"],
    ["CONNECTION-ID", { type: "CONNECTION-ID", value: 0x01020304 }, "01020304"],
    ["P2PNODE-DIAL-BACK", { type: "P2PNODE-DIAL-BACK", value: { token: hex("0102030405060708"), changeIp: true } }, "010203040506070801000000"],
    ["unknown raw", { type: 0xfe00, value: hex("abcdef") }, "abcdef"],
  ];
  for (const [name, attr, want] of table) {
    it(name, () => {
      const msg: StunMessage = { method: Method.BINDING, class: "success", transactionId: TXID, attributes: [attr] };
      const bytes = encode(msg);
      assert.equal(bytes.length, encodingLength(msg));
      const valueLen = bytes[22] * 256 + bytes[23];
      assert.equal(toHex(bytes.subarray(24, 24 + valueLen)), want);
      assert.equal(bytes.length % 4, 0);
      const back = decode(bytes);
      assert.deepEqual(back.attributes, [attr]);
    });
  }
});

describe("decoder rejects malformed input with StunError", () => {
  const ok = encode({ method: 1, class: "success", transactionId: TXID, attributes: [{ type: "SOFTWARE", value: "abc" }] });
  const okHex = toHex(ok);
  const head = "0101" + "0008" + "2112a442" + toHex(TXID);
  const table: Array<[string, string, RegExp]> = [
    ["empty", "", /truncated STUN header/],
    ["19 bytes", okHex.slice(0, 38), /truncated STUN header/],
    ["leading bits", "c1" + okHex.slice(2), /two leading bits/],
    ["bad cookie", okHex.slice(0, 8) + "00000000" + okHex.slice(16), /magic cookie/],
    ["length not /4", "01010006" + okHex.slice(8), /multiple of 4/],
    ["length too long", "0101000c" + okHex.slice(8), /length field/],
    ["trailing byte", okHex + "00", /length field/],
    ["truncated attr header", "01010004" + okHex.slice(8, 40) + "8022", /length field|truncated/],
    ["attr overruns", head + "80220009616263", /length field|overruns/],
    ["attr overruns body", head + "8022000861626364", /overruns/],
    ["bad family", head + "0001000800038055", /overruns|family/],
    ["bad family 2", "01010008" + head.slice(8) + "000100040003805f", /family/],
    ["v4 address wrong length", "01010010" + head.slice(8) + "0020000c0001a147e112a64300000000", /expected 8/],
    ["v6 address too short", "0101000c" + head.slice(8) + "002000080002a147e112a643", /expected 20/],
    ["error code class 2", "01110008" + head.slice(8) + "0009000400000201", /not a valid code/],
    ["error code number 100", "01110008" + head.slice(8) + "0009000400000464", /not a valid code/],
    ["error code short", "01110008" + head.slice(8) + "0009000200000000", /too short/],
    ["change-request short", "00010008" + head.slice(8) + "0003000200000000", /expected 4/],
    ["integrity short", "0001000c" + head.slice(8) + "0008000800000000" + "00000000", /expected 20/],
    ["fingerprint wrong", "00010008" + head.slice(8) + "8028000400000000", /FINGERPRINT mismatch/],
    ["fingerprint length", "0001000c" + head.slice(8) + "80280008" + "0000000000000000", /expected 4/],
    ["unknown-attributes odd", "00010008" + head.slice(8) + "000a000300010000", /odd/],
  ];
  for (const [name, h, re] of table) {
    it(name, () => {
      assert.throws(() => decode(hex(h)), (e: unknown) => e instanceof StunError && re.test(e.message));
    });
  }

  it("attribute after FINGERPRINT", () => {
    const fp = encode({ method: 1, class: "request", transactionId: TXID, attributes: [] }, { fingerprint: true });
    const extra = new Uint8Array(fp.length + 8);
    extra.set(fp);
    extra.set(hex("8022000461626364"), fp.length);
    extra[3] = 16;
    assert.throws(() => decode(extra), StunError);
  });

  it("oversize input", () => {
    assert.throws(() => decode(new Uint8Array(70000)), /oversize/);
  });

  it("attributes after MESSAGE-INTEGRITY are dropped (RFC 8489 §14.5)", () => {
    const withMi = encode({ method: 1, class: "request", transactionId: TXID, attributes: [{ type: "USERNAME", value: "u" }] }, { integrityKey: shortTermKey("p") });
    const tail = hex("8022000461626364");
    const buf = new Uint8Array(withMi.length + tail.length);
    buf.set(withMi);
    buf.set(tail, withMi.length);
    buf[3] += 8;
    const m = decode(buf);
    assert.equal(getAttribute(m, "SOFTWARE"), undefined);
    assert.ok(verifyIntegrity(m, shortTermKey("p")));
  });
});

describe("encoder validation", () => {
  const base = { method: 1, class: "request" as const, transactionId: TXID };
  for (const [name, attr] of [
    ["bad ip", { type: "XOR-MAPPED-ADDRESS", value: { family: 4, address: "300.1.1.1", port: 1 } }],
    ["family mismatch", { type: "MAPPED-ADDRESS", value: { family: 6, address: "1.2.3.4", port: 1 } }],
    ["port", { type: "MAPPED-ADDRESS", value: { family: 4, address: "1.2.3.4", port: 70000 } }],
    ["error code", { type: "ERROR-CODE", value: { code: 200, reason: "" } }],
    ["long username", { type: "USERNAME", value: "x".repeat(600) }],
  ] as Array<[string, StunAttribute]>) {
    it(name, () => assert.throws(() => encode({ ...base, attributes: [attr] }), StunError));
  }
  it("bad transaction id", () => assert.throws(() => encode({ ...base, transactionId: new Uint8Array(4), attributes: [] }), StunError));
  it("looksLikeStun", () => {
    assert.equal(looksLikeStun(SAMPLE_REQUEST), true);
    assert.equal(looksLikeStun(hex("17030300")), false);
    assert.equal(looksLikeStun(new Uint8Array(20)), false);
  });
});
