/**
 * MESSAGE-INTEGRITY-SHA256 and password algorithm negotiation (RFC 8489
 * §9.2, §14.6, §14.11, §14.12): the codec against the RFC 8489 Appendix B.1
 * vector, the nonce cookie, and the TURN client against a scripted TURN
 * responder on a real loopback UDP socket.
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import dgram from "node:dgram";
import { describe, it } from "node:test";
import { StunError, TurnError } from "../../src/errors.ts";
import {
  decode,
  encode,
  getAttribute,
  longTermKey,
  Method,
  PasswordAlgorithm,
  verifyIntegrity,
  verifyIntegritySha256,
  type DecodedStunMessage,
  type PasswordAlgorithmValue,
  type StunAttribute,
} from "../../src/stun/codec.ts";
import { nonceSecurityFeatures } from "../../src/stun/credentials.ts";
import { TurnClient } from "../../src/turn/client.ts";
import { parseTurnServers } from "../../src/turn/uri.ts";

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

/**
 * RFC 8489 Appendix B.1, "Sample Request with Long-Term Authentication with
 * MESSAGE-INTEGRITY-SHA256 and USERHASH", as corrected by verified erratum
 * 6268 (the published length and nonce bytes were wrong). Username
 * "マトリックス", password "TheMatrIX" (after OpaqueString), realm
 * "example.org", nonce "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA".
 * The HMAC below is also recomputed with node:crypto in the first test.
 */
const B1 = hex(`
  0001 0090 2112a442 78ad3433 c6ad72c0 29da412e
  001e 0020 4a3cf38f ef6992bd a952c678 0417da0f 24819415 569e60b2 05c46e41 407f1704
  0015 0029 6f624d61 744a6f73 32414141 43662f2f 3439396b 39353464 364f4c33 346f4c39 46535476 79363473 41000000
  0014 000b 6578616d 706c652e 6f726700
  001d 0004 00020000
  001c 0020 b5c7bf00 5b6c52a2 1c51c5e8 92f81924 136296cb 927c4314 9309278c c6518e65`);
const B1_USER = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9";
const B1_NONCE = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";

describe("codec: MESSAGE-INTEGRITY-SHA256 and PASSWORD-ALGORITHM(S)", () => {
  const key = longTermKey(B1_USER, "example.org", "TheMatrIX", "sha256");

  it("RFC 8489 B.1: the SHA-256 long-term key, and the vector's HMAC recomputed independently", () => {
    assert.deepEqual(key, new Uint8Array(createHash("sha256").update(`${B1_USER}:example.org:TheMatrIX`, "utf8").digest()));
    // The length field already counts up to the end of MESSAGE-INTEGRITY-SHA256 (the last attribute).
    const mac = createHmac("sha256", key).update(B1.subarray(0, B1.length - 36)).digest();
    assert.deepEqual(new Uint8Array(mac), B1.subarray(B1.length - 32));
  });

  it("RFC 8489 B.1: decodes, and MESSAGE-INTEGRITY-SHA256 verifies with the SHA-256 key only", () => {
    const m = decode(B1);
    assert.equal(m.integritySha256Offset, B1.length - 36);
    assert.equal(m.integrityOffset, undefined);
    assert.equal(getAttribute(m, "NONCE"), B1_NONCE);
    assert.equal(getAttribute(m, "REALM"), "example.org");
    assert.deepEqual(getAttribute(m, "PASSWORD-ALGORITHM"), { algorithm: PasswordAlgorithm.SHA256, parameters: new Uint8Array(0) });
    assert.equal(verifyIntegritySha256(m, key), true);
    assert.equal(verifyIntegritySha256(m, longTermKey(B1_USER, "example.org", "TheMatrIX")), false, "the MD5 key");
    const tampered = B1.slice();
    tampered[70] ^= 1; // a byte of the nonce
    assert.equal(verifyIntegritySha256(decode(tampered), key), false);
  });

  it("RFC 8489 B.1: encoding the same attributes with integritySha256Key gives the vector byte for byte", () => {
    const m = decode(B1);
    const attributes = m.attributes.filter((a) => a.type !== "MESSAGE-INTEGRITY-SHA256");
    assert.deepEqual(encode({ method: m.method, class: m.class, transactionId: m.transactionId, attributes }, { integritySha256Key: key }), B1);
  });

  it("PASSWORD-ALGORITHMS / PASSWORD-ALGORITHM wire format, and malformed values refused", () => {
    const list: PasswordAlgorithmValue[] = [{ algorithm: 1, parameters: new Uint8Array(0) }, { algorithm: 2, parameters: new Uint8Array(0) }, { algorithm: 0x7777, parameters: Uint8Array.of(9) }];
    const msg = encode({ method: 1, class: "error", transactionId: new Uint8Array(12), attributes: [{ type: "PASSWORD-ALGORITHMS", value: list }] });
    assert.deepEqual(msg.subarray(20), hex("8002 0010 0001 0000 0002 0000 7777 0001 09000000"));
    assert.deepEqual(getAttribute(decode(msg), "PASSWORD-ALGORITHMS"), list);
    const raw = (type: number, value: string) => {
      const v = hex(value);
      const b = new Uint8Array(20 + 4 + ((v.length + 3) & ~3));
      const dv = new DataView(b.buffer);
      dv.setUint16(0, 0x0111);
      dv.setUint16(2, b.length - 20);
      dv.setUint32(4, 0x2112a442);
      dv.setUint16(20, type);
      dv.setUint16(22, v.length);
      b.set(v, 24);
      return b;
    };
    for (const [what, b] of [
      ["PASSWORD-ALGORITHMS truncated entry", raw(0x8002, "000100")],
      ["PASSWORD-ALGORITHMS parameters overrun", raw(0x8002, "00020008 00000000")],
      ["PASSWORD-ALGORITHMS empty", raw(0x8002, "")],
      ["PASSWORD-ALGORITHM with two entries", raw(0x001d, "00020000 00010000")],
      ["MESSAGE-INTEGRITY-SHA256 of 12 bytes", raw(0x001c, "00".repeat(12))],
      ["MESSAGE-INTEGRITY-SHA256 of 33 bytes", raw(0x001c, "00".repeat(33))],
      ["MESSAGE-INTEGRITY-SHA256 of 18 bytes", raw(0x001c, "00".repeat(18))],
    ] as const) assert.throws(() => decode(b), StunError, what);
  });

  it("a truncated (16-byte) MESSAGE-INTEGRITY-SHA256 verifies over its length; attributes after it are dropped; MI then MI-SHA256 both verify", () => {
    const tx = new Uint8Array(12).fill(7);
    const full = encode({ method: 1, class: "success", transactionId: tx, attributes: [{ type: "SOFTWARE", value: "x" }] }, { integrityKey: key, integritySha256Key: key, fingerprint: true });
    const d = decode(full);
    assert.ok(verifyIntegrity(d, key) && verifyIntegritySha256(d, key) && d.hasFingerprint);
    // Rebuild with a 16-byte MAC: HMAC over the header with the length counting the 20-byte attribute.
    const head = encode({ method: 1, class: "success", transactionId: tx, attributes: [{ type: "SOFTWARE", value: "x" }] });
    const out = new Uint8Array(head.length + 20 + 8);
    out.set(head);
    const dv = new DataView(out.buffer);
    dv.setUint16(2, head.length + 20 - 20);
    const mac = createHmac("sha256", key).update(out.subarray(0, head.length)).digest().subarray(0, 16);
    dv.setUint16(head.length, 0x001c);
    dv.setUint16(head.length + 2, 16);
    out.set(mac, head.length + 4);
    // An attribute after it (LIFETIME) is not covered: it must be ignored.
    dv.setUint16(head.length + 20, 0x000d);
    dv.setUint16(head.length + 22, 4);
    dv.setUint32(head.length + 24, 1);
    dv.setUint16(2, out.length - 20);
    const t = decode(out);
    assert.equal(verifyIntegritySha256(t, key), true);
    assert.equal(getAttribute(t, "LIFETIME"), undefined);
  });

  it("nonce cookie: security feature bits read both ways, a mangled one refused, none without the cookie", () => {
    assert.deepEqual(nonceSecurityFeatures(B1_NONCE), { passwordAlgorithms: false, usernameAnonymity: true });
    assert.deepEqual(nonceSecurityFeatures("obMatJos2gAAAxyz"), { passwordAlgorithms: true, usernameAnonymity: false });
    assert.deepEqual(nonceSecurityFeatures("obMatJos2AAABxyz"), { passwordAlgorithms: true, usernameAnonymity: false });
    assert.deepEqual(nonceSecurityFeatures("obMatJos2AAAAxyz"), { passwordAlgorithms: false, usernameAnonymity: false });
    assert.equal(nonceSecurityFeatures("f//499k954d6OL34oL9FSTvy64sA"), undefined);
    assert.throws(() => nonceSecurityFeatures("obMatJos2A?AC"), StunError);
    assert.throws(() => nonceSecurityFeatures("obMatJos2"), StunError);
  });
});

const USER = "alice";
const PASS = "test-only-secret";
const REALM = "sha.test";
const SHA_KEY = longTermKey(USER, REALM, PASS, "sha256");
const MD5_KEY = longTermKey(USER, REALM, PASS);
const OFFER: PasswordAlgorithmValue[] = [{ algorithm: PasswordAlgorithm.MD5, parameters: new Uint8Array(0) }, { algorithm: PasswordAlgorithm.SHA256, parameters: new Uint8Array(0) }];

interface Script {
  /** The 401's nonce. */
  nonce: string;
  /** PASSWORD-ALGORITHMS in the 401 (undefined: left out). */
  offer?: PasswordAlgorithmValue[];
  /** How the success answers are signed. */
  sign: (attrs: StunAttribute[], base: { method: number; transactionId: Uint8Array }) => Uint8Array;
  /** Answer the first credentialed Allocate with a 438 carrying this PASSWORD-ALGORITHMS instead. */
  stale?: PasswordAlgorithmValue[];
}

/** A scripted TURN server on 127.0.0.1: 401 for a bare Allocate, then success; every request kept for the test to inspect. */
async function responder(script: Script) {
  const sock = dgram.createSocket("udp4");
  const requests: DecodedStunMessage[] = [];
  let staleSent = false;
  sock.on("message", (buf, rinfo) => {
    let req: DecodedStunMessage;
    try {
      req = decode(buf);
    } catch {
      return;
    }
    requests.push(req);
    const base = { method: req.method, transactionId: req.transactionId };
    const reply = (b: Uint8Array) => sock.send(b, rinfo.port, rinfo.address);
    if (!getAttribute(req, "USERNAME")) {
      const attrs: StunAttribute[] = [{ type: "ERROR-CODE", value: { code: 401, reason: "Unauthorized" } }, { type: "REALM", value: REALM }, { type: "NONCE", value: script.nonce }];
      if (script.offer) attrs.push({ type: "PASSWORD-ALGORITHMS", value: script.offer });
      return reply(encode({ ...base, class: "error", attributes: attrs }, { fingerprint: true }));
    }
    if (script.stale && !staleSent) {
      staleSent = true;
      return reply(encode({ ...base, class: "error", attributes: [{ type: "ERROR-CODE", value: { code: 438, reason: "Stale Nonce" } }, { type: "NONCE", value: `${script.nonce}-2` }, { type: "PASSWORD-ALGORITHMS", value: script.stale }] }, { fingerprint: true }));
    }
    const mine = { family: 4 as const, address: rinfo.address, port: rinfo.port };
    const attrs: StunAttribute[] = req.method === Method.ALLOCATE
      ? [{ type: "XOR-RELAYED-ADDRESS", value: { family: 4, address: "127.0.0.1", port: 50123 } }, { type: "XOR-MAPPED-ADDRESS", value: mine }, { type: "LIFETIME", value: 600 }]
      : [{ type: "LIFETIME", value: 0 }];
    reply(script.sign(attrs, base));
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const port = sock.address().port;
  return {
    requests,
    server: parseTurnServers([{ urls: `turn:127.0.0.1:${port}?transport=udp`, username: USER, credential: PASS }])[0],
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

const signSha256 = (attrs: StunAttribute[], base: { method: number; transactionId: Uint8Array }) => encode({ ...base, class: "success", attributes: attrs }, { integritySha256Key: SHA_KEY, fingerprint: true });

describe("TURN client: SHA-256 long-term credentials against a scripted responder on 127.0.0.1 (UDP)", { timeout: 30_000 }, () => {
  it("offered SHA-256 (cookie bit + PASSWORD-ALGORITHMS): the Allocate carries MESSAGE-INTEGRITY-SHA256 with the SHA-256 key, echoes the offer, and the signed answer is accepted", async () => {
    const r = await responder({ nonce: "obMatJos2gAAAnonce-1", offer: OFFER, sign: signSha256 });
    try {
      const c = await TurnClient.allocate({ server: r.server, timeout: 5000 });
      assert.equal(c.relayed.port, 50123);
      await c.close();
      const authed = r.requests.filter((q) => getAttribute(q, "USERNAME"));
      assert.ok(authed.length >= 2, "Allocate and the deallocating Refresh");
      for (const q of authed) {
        assert.notEqual(q.integritySha256Offset, undefined, "MESSAGE-INTEGRITY-SHA256 present");
        assert.equal(q.integrityOffset, undefined, "no SHA-1 MESSAGE-INTEGRITY");
        assert.equal(verifyIntegritySha256(q, SHA_KEY), true, "keyed with SHA-256(username:realm:password)");
        assert.deepEqual(getAttribute(q, "PASSWORD-ALGORITHM"), { algorithm: PasswordAlgorithm.SHA256, parameters: new Uint8Array(0) });
        assert.deepEqual(getAttribute(q, "PASSWORD-ALGORITHMS"), OFFER, "the offer echoed unchanged");
        assert.equal(getAttribute(q, "NONCE"), "obMatJos2gAAAnonce-1");
      }
    } finally {
      await r.close();
    }
  });

  it("an answer whose MESSAGE-INTEGRITY-SHA256 is keyed wrongly (the MD5 key) is refused: TurnError protocol", async () => {
    const r = await responder({ nonce: "obMatJos2gAAAnonce-1", offer: OFFER, sign: (attrs, base) => encode({ ...base, class: "success", attributes: attrs }, { integritySha256Key: MD5_KEY }) });
    try {
      await assert.rejects(TurnClient.allocate({ server: r.server, timeout: 5000 }), (e: unknown) => e instanceof TurnError && e.reason === "protocol" && /MESSAGE-INTEGRITY-SHA256/.test(e.message));
    } finally {
      await r.close();
    }
  });

  it("with SHA-256 agreed, an answer protected only by SHA-1 MESSAGE-INTEGRITY is refused", async () => {
    const r = await responder({ nonce: "obMatJos2gAAAnonce-1", offer: OFFER, sign: (attrs, base) => encode({ ...base, class: "success", attributes: attrs }, { integrityKey: SHA_KEY }) });
    try {
      await assert.rejects(TurnClient.allocate({ server: r.server, timeout: 5000 }), (e: unknown) => e instanceof TurnError && e.reason === "protocol" && /SHA-256 was agreed/.test(e.message));
    } finally {
      await r.close();
    }
  });

  it("downgrade: the nonce cookie says algorithms were offered but PASSWORD-ALGORITHMS was stripped → TurnError protocol, and no credentials sent", async () => {
    for (const nonce of ["obMatJos2gAAAnonce-1", "obMatJos2AAABnonce-1"]) {
      const r = await responder({ nonce, sign: signSha256 });
      try {
        await assert.rejects(TurnClient.allocate({ server: r.server, timeout: 5000 }), (e: unknown) => e instanceof TurnError && e.reason === "protocol" && e.status === 401 && /downgrade/.test(e.message));
        assert.equal(r.requests.filter((q) => getAttribute(q, "USERNAME")).length, 0, "never answered the tampered challenge");
      } finally {
        await r.close();
      }
    }
  });

  it("downgrade: a 438 whose PASSWORD-ALGORITHMS differ from the 401's (SHA-256 removed) → TurnError protocol", async () => {
    const r = await responder({ nonce: "obMatJos2gAAAnonce-1", offer: OFFER, stale: [OFFER[0]], sign: signSha256 });
    try {
      await assert.rejects(TurnClient.allocate({ server: r.server, timeout: 5000 }), (e: unknown) => e instanceof TurnError && e.reason === "protocol" && e.status === 438);
    } finally {
      await r.close();
    }
  });

  it("no cookie and no PASSWORD-ALGORITHMS (coturn's way): MD5 key and SHA-1 MESSAGE-INTEGRITY, as before", async () => {
    const r = await responder({ nonce: "plain-nonce", sign: (attrs, base) => encode({ ...base, class: "success", attributes: attrs }, { integrityKey: MD5_KEY, fingerprint: true }) });
    try {
      const c = await TurnClient.allocate({ server: r.server, timeout: 5000 });
      await c.close();
      const q = r.requests.find((x) => getAttribute(x, "USERNAME"))!;
      assert.equal(verifyIntegrity(q, MD5_KEY), true);
      assert.equal(q.integritySha256Offset, undefined);
      assert.equal(getAttribute(q, "PASSWORD-ALGORITHM"), undefined);
      assert.equal(getAttribute(q, "PASSWORD-ALGORITHMS"), undefined);
    } finally {
      await r.close();
    }
  });

  it("PASSWORD-ALGORITHMS with MD5 only: MD5 key, PASSWORD-ALGORITHM MD5 and the offer echoed", async () => {
    const md5only = [OFFER[0]];
    const r = await responder({ nonce: "obMatJos2gAAAnonce-1", offer: md5only, sign: (attrs, base) => encode({ ...base, class: "success", attributes: attrs }, { integrityKey: MD5_KEY }) });
    try {
      const c = await TurnClient.allocate({ server: r.server, timeout: 5000 });
      await c.close();
      const q = r.requests.find((x) => getAttribute(x, "USERNAME"))!;
      assert.equal(verifyIntegrity(q, MD5_KEY), true);
      assert.deepEqual(getAttribute(q, "PASSWORD-ALGORITHM"), { algorithm: PasswordAlgorithm.MD5, parameters: new Uint8Array(0) });
      assert.deepEqual(getAttribute(q, "PASSWORD-ALGORITHMS"), md5only);
    } finally {
      await r.close();
    }
  });
});

