/**
 * Signaling envelope (src/signaling/envelope.ts): the sealed bytes as they come
 * off the broker, the plaintext layout on its own, and mutated plaintexts
 * encrypted to us (optionally re-signed) so every check after decryption runs.
 * open() and decodePlaintext() are documented never to throw.
 */
import fc from "fast-check";
import { idFromPublicKey } from "../../src/identity/identity.ts";
import { decodePlaintext, encodeFields, encryptTo, ENVELOPE_VERSION, open, seal, signatureDigest, BODY_BINARY, BODY_JSON } from "../../src/signaling/envelope.ts";
import { ReplayCache } from "../../src/signaling/replay-cache.ts";
import { fuzzBytes, type FuzzTarget } from "../harness.ts";
import { fixedIdentity, WEAK_KEYS } from "../keys.ts";

export const ALICE = fixedIdentity(1);
export const BOB = fixedIdentity(2);
export const NOW = 1_700_000_000_000;
const HEX_ID = "00112233445566778899aabbccddeeff";

export const ENVELOPE_SEEDS: readonly Uint8Array[] = [
  seal(ALICE, BOB.id, { type: "ping", body: { replyTo: ["mqtt://broker.example:1883"], body: { t0: NOW } }, timestamp: NOW, id: HEX_ID }),
  seal(ALICE, BOB.id, { type: "reply", body: { re: HEX_ID, ok: true, body: { t0: 1, t1: 2, t2: 3 } }, timestamp: NOW - 5000 }),
  seal(ALICE, BOB.id, { type: "x.binary-1", body: new Uint8Array(50).fill(7), timestamp: NOW + 1000 }),
  seal(ALICE, BOB.id, { type: "ack", body: { re: HEX_ID }, timestamp: NOW }),
];

const fields = (type: string, bodyKind: number, body: Uint8Array, timestamp = NOW) =>
  encodeFields({ from: ALICE.publicKey, to: BOB.publicKey, timestamp, nonce: new Uint8Array(16).fill(3), id: Buffer.from(HEX_ID, "hex"), type, bodyKind, body });
export const FIELD_SEEDS: readonly Uint8Array[] = [
  fields("ping", BODY_JSON, Buffer.from(JSON.stringify({ replyTo: [], body: { t0: NOW } }))),
  fields("reverse-connect", BODY_JSON, Buffer.from('{"address":"p2pn1aa","token":"AAAAAAAAAAAAAAAAAAAAAA"}'), NOW - 20_000),
  fields("b", BODY_BINARY, new Uint8Array(9).fill(1), NOW + 20_000),
  fields("a".repeat(64), BODY_JSON, Buffer.from("null")),
];
const PLAIN_SEEDS = FIELD_SEEDS.map((f) => new Uint8Array(Buffer.concat([f, Buffer.alloc(64, 5)])));
/** A "signature" R = small-order point, S = 0: with a small-order sender key it verifies under OpenSSL (issue 9 item 1). */
const WEAK_SIGS = WEAK_KEYS.slice(0, 6).map((k) => new Uint8Array(Buffer.concat([k, Buffer.alloc(32)])));
const DICT = [...WEAK_KEYS, ...WEAK_SIGS, BOB.publicKey, ALICE.publicKey];

const ctx = () => ({ now: NOW, replay: new ReplayCache({ capacity: 4 }) });
const keyOk = (r: unknown) => r !== null && typeof r === "object" && "ok" in r;

const envelopeWire: FuzzTarget<Uint8Array> = {
  name: "signaling.envelope-wire",
  arb: fuzzBytes(ENVELOPE_SEEDS, { dict: DICT, maxRandom: 300 }),
  run: (b) => open(BOB, b, ctx()),
  check: (_b, r) => {
    if (!keyOk(r)) throw new Error("open() returned no result object");
  },
  throws: "never",
  testRuns: 500,
};

const plaintext: FuzzTarget<Uint8Array> = {
  name: "signaling.plaintext",
  arb: fuzzBytes(PLAIN_SEEDS, { dict: DICT }),
  run: (b) => decodePlaintext(b),
  check: (b, r) => {
    const p = r as NonNullable<ReturnType<typeof decodePlaintext>>;
    if (p.signed.length + p.signature.length !== b.length || p.signature.length !== 64) throw new Error("plaintext split does not cover the input");
  },
  throws: "never",
  testRuns: 2000,
};

/**
 * Mutated plaintexts sealed to BOB. With `resign`, the mutated fields get a
 * valid signature by ALICE over this envelope's ephemeral key: what a
 * malicious but authenticated sender can deliver.
 */
const reencrypted: FuzzTarget<{ pt: Uint8Array; resign: boolean; version: number }> = {
  name: "signaling.envelope-inner",
  arb: fc.record({
    pt: fuzzBytes([...FIELD_SEEDS, ...PLAIN_SEEDS], { dict: DICT }),
    resign: fc.boolean(),
    version: fc.oneof({ arbitrary: fc.constant(ENVELOPE_VERSION), weight: 9 }, { arbitrary: fc.nat({ max: 255 }), weight: 1 }),
  }),
  run: ({ pt, resign, version }) => {
    const env = encryptTo(BOB.id, (eph) => (resign ? Buffer.concat([pt, ALICE.sign(signatureDigest(version, eph, pt))]) : pt), version);
    return open(BOB, env, ctx());
  },
  check: (_i, r) => {
    if (!keyOk(r)) throw new Error("open() returned no result object");
  },
  throws: "never",
  testRuns: 300,
  show: (i) => `version ${i.version} resign ${i.resign} plaintext ${Buffer.from(i.pt).toString("hex")}`,
};

/**
 * Issue 9 item 1: a small-order sender key with signature (R = that point,
 * S = 0) must not open. Exhaustive over the weak keys, so it is a property in
 * name only; kept here so the fuzz table lists the forged-sender case.
 */
const weakSender: FuzzTarget<{ key: number; sig: number }> = {
  name: "signaling.envelope-weak-sender",
  arb: fc.record({ key: fc.nat({ max: WEAK_KEYS.length - 1 }), sig: fc.nat({ max: WEAK_SIGS.length - 1 }) }),
  run: ({ key, sig }) => {
    const from = WEAK_KEYS[key];
    const f = encodeFields({ from, to: BOB.publicKey, timestamp: NOW, nonce: new Uint8Array(16).fill(key * 16 + sig), id: Buffer.from(HEX_ID, "hex"), type: "ping", bodyKind: BODY_JSON, body: Buffer.from("{}") });
    return open(BOB, encryptTo(BOB.id, () => Buffer.concat([f, WEAK_SIGS[sig]])), ctx());
  },
  check: (i, r) => {
    const res = r as ReturnType<typeof open>;
    if (res.ok) throw new Error(`envelope from small-order key ${idFromPublicKey(WEAK_KEYS[i.key])} opened as authentic`);
  },
  throws: "never",
  testRuns: 60,
  maxRuns: 2000,
};

export const targets: FuzzTarget[] = [envelopeWire, plaintext, reencrypted, weakSender];
