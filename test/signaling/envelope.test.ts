import { test } from "node:test";
import assert from "node:assert/strict";
import { Identity } from "../../src/identity/identity.ts";
import {
  ENVELOPE_VERSION,
  MIN_ENVELOPE_BYTES,
  decodePlaintext,
  decryptFor,
  encryptTo,
  open,
  seal,
  signatureDigest,
  type OpenContext,
  type OpenResult,
} from "../../src/signaling/envelope.ts";
import { ReplayCache } from "../../src/signaling/replay-cache.ts";

const alice = Identity.generate();
const bob = Identity.generate();
const carol = Identity.generate();
const T0 = 1_700_000_000_000;

function ctx(over: Partial<OpenContext> = {}): OpenContext {
  return { now: T0, replay: new ReplayCache(), ...over };
}

function reason(r: OpenResult): string {
  return r.ok ? "ok" : r.reason;
}

test("envelope: round trip with a JSON body and with a binary body", () => {
  const bytes = seal(alice, bob.id, { type: "ping", body: { t0: 5, s: "é" }, timestamp: T0 });
  assert.equal(bytes[0], ENVELOPE_VERSION);
  const r = open(bob, bytes, ctx());
  assert.ok(r.ok);
  assert.equal(r.message.from, alice.id);
  assert.equal(r.message.to, bob.id);
  assert.equal(r.message.type, "ping");
  assert.deepEqual(r.message.body, { t0: 5, s: "é" });
  assert.equal(r.message.timestamp, T0);
  assert.match(r.message.id, /^[0-9a-f]{32}$/);

  const bin = seal(alice, bob.id, { type: "blob", body: Uint8Array.of(1, 2, 3), timestamp: T0, id: "00".repeat(16) });
  const r2 = open(bob, bin, ctx());
  assert.ok(r2.ok);
  assert.deepEqual(r2.message.body, Uint8Array.of(1, 2, 3));
  assert.equal(r2.message.id, "00".repeat(16));
});

test("envelope: two seals of the same message differ (fresh ephemeral key and nonce)", () => {
  const a = seal(alice, bob.id, { type: "ping", body: null, timestamp: T0, id: "11".repeat(16) });
  const b = seal(alice, bob.id, { type: "ping", body: null, timestamp: T0, id: "11".repeat(16) });
  assert.notDeepEqual(a, b);
});

test("envelope: rejections, each with its typed reason", () => {
  const good = () => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 });
  const cases: Array<[string, Uint8Array | (() => Uint8Array), Partial<OpenContext>, string]> = [
    ["oversize", () => new Uint8Array(70_000).fill(1), {}, "too-large"],
    ["oversize under a small limit, before crypto", good, { maxBytes: 100 }, "too-large"],
    ["empty", new Uint8Array(0), {}, "bad-version"],
    ["version 2", () => Uint8Array.from([2, ...good().subarray(1)]), {}, "bad-version"],
    ["too short", Uint8Array.of(ENVELOPE_VERSION, 1, 2, 3), {}, "malformed"],
    ["garbage of a plausible size", () => Uint8Array.from({ length: 300 }, (_, i) => (i === 0 ? 1 : (i * 37) & 255)), {}, "decrypt-failed"],
    ["encrypted to someone else", () => seal(alice, carol.id, { type: "ping", body: {}, timestamp: T0 }), {}, "decrypt-failed"],
    ["expired", () => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 - 30_001 }), {}, "expired"],
    ["future-dated", () => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 + 60_001 }), {}, "future"],
    ["expired under a 5 s window", () => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 - 5_001 }), { maxAgeMs: 5_000 }, "expired"],
    ["edge of the window is accepted", () => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 - 30_000 }), {}, "ok"],
  ];
  for (const [name, input, over, want] of cases) {
    const bytes = typeof input === "function" ? input() : input;
    assert.equal(reason(open(bob, bytes, ctx(over))), want, name);
  }
});

test("envelope: a flipped byte at every offset of a sealed message is rejected", () => {
  const bytes = seal(alice, bob.id, { type: "get-addr", body: { x: 1 }, timestamp: T0 });
  for (let i = 0; i < bytes.length; i++) {
    const copy = Uint8Array.from(bytes);
    copy[i] ^= 0x01;
    const r = open(bob, copy, ctx());
    assert.equal(reason(r), i === 0 ? "bad-version" : "decrypt-failed", `offset ${i}`);
  }
});

/** Re-encrypts (to bob) a plaintext that `mutate` may alter, keeping or replacing the signature. */
function forge(mutate: (fields: Uint8Array, sig: Uint8Array, ephPub: Uint8Array) => Uint8Array): Uint8Array {
  const orig = seal(alice, bob.id, { type: "reverse-connect", body: { a: "x" }, timestamp: T0 });
  const dec = decryptFor(bob, orig)!;
  const p = decodePlaintext(dec.plaintext)!;
  return encryptTo(bob.id, (ephPub) => mutate(Uint8Array.from(p.signed), Uint8Array.from(p.signature), ephPub));
}

test("envelope: forgeries are rejected as bad-signature (or by the layout / recipient checks)", () => {
  // Alice's fields signed by Carol's key, with the right ephemeral key.
  const byCarol = forge((fields, _sig, eph) => Buffer.concat([fields, carol.sign(signatureDigest(ENVELOPE_VERSION, eph, fields))]));
  assert.equal(reason(open(bob, byCarol, ctx())), "bad-signature");
  // Alice's genuine signature, re-encrypted under another ephemeral key (signature binds the key).
  const reEnc = forge((fields, sig) => Buffer.concat([fields, sig]));
  assert.equal(reason(open(bob, reEnc, ctx())), "bad-signature");
  // Every single-byte change of the signed fields, or of the signature, with a valid encryption.
  const sample = forge((f, s) => Buffer.concat([f, s]));
  const len = decodePlaintext(decryptFor(bob, sample)!.plaintext)!.signed.length + 64;
  const seen = new Set<string>();
  for (let i = 0; i < len; i++) {
    const r = forge((fields, sig, eph) => {
      // Sign correctly with Alice's key, then flip one byte: what a tamperer on the wire could do at best.
      const pt = Buffer.concat([fields, alice.sign(signatureDigest(ENVELOPE_VERSION, eph, fields))]);
      void sig;
      pt[i] ^= 0x80;
      return pt;
    });
    const got = reason(open(bob, r, ctx()));
    assert.notEqual(got, "ok", `offset ${i}`);
    if (i >= 32 && i < 64) assert.equal(got, "not-for-us", `offset ${i} (recipient)`);
    seen.add(got);
  }
  assert.deepEqual([...seen].sort(), ["bad-key", "bad-signature", "malformed", "not-for-us"]);
});

test("envelope: a message signed for Carol and re-encrypted to Bob is not-for-us", () => {
  const toCarol = seal(alice, carol.id, { type: "ping", body: {}, timestamp: T0 });
  const dec = decryptFor(carol, toCarol)!;
  const moved = encryptTo(bob.id, () => dec.plaintext);
  assert.equal(reason(open(bob, moved, ctx())), "not-for-us");
});

test("envelope: a replay is recognised as a duplicate and carries the authentic message", () => {
  const c = ctx();
  const bytes = seal(alice, bob.id, { type: "ping", body: { n: 1 }, timestamp: T0 });
  const first = open(bob, bytes, c);
  assert.ok(first.ok);
  const again = open(bob, bytes, { ...c, now: T0 + 30_000 });
  assert.equal(reason(again), "replayed");
  assert.ok(!again.ok && again.message);
  assert.equal(again.message!.id, first.message.id);
  // After the window the same bytes are expired, never accepted again.
  assert.equal(reason(open(bob, bytes, { ...c, now: T0 + 30_001 })), "expired");
});

test("envelope: a full replay cache refuses new messages instead of evicting", () => {
  const c = ctx({ replay: new ReplayCache({ capacity: 2 }) });
  const m = () => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 });
  const first = m();
  assert.equal(reason(open(bob, first, c)), "ok");
  assert.equal(reason(open(bob, m(), c)), "ok");
  assert.equal(reason(open(bob, m(), c)), "replay-cache-full");
  // The remembered messages are still recognised.
  assert.equal(reason(open(bob, first, c)), "replayed");
  // Once the first entries expire, there is room again.
  const later = seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0 + 61_000 });
  assert.equal(reason(open(bob, later, { ...c, now: T0 + 61_000 })), "ok");
});

test("envelope: invalid seal arguments throw InvalidArgumentError", () => {
  assert.throws(() => seal(alice, bob.id, { type: "Bad Type", body: {}, timestamp: T0 }), { code: "P2P_ERR_INVALID_ARGUMENT" });
  assert.throws(() => seal(alice, "nope", { type: "ping", body: {}, timestamp: T0 }), { code: "P2P_ERR_INVALID_ARGUMENT" });
  assert.throws(() => seal(alice, bob.id, { type: "ping", body: {}, timestamp: T0, id: "xyz" }), { code: "P2P_ERR_INVALID_ARGUMENT" });
  assert.ok(MIN_ENVELOPE_BYTES > 200);
});
