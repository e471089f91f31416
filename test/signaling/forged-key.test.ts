// Issue 9, item 1: a signaling envelope "signed" by a small-order Ed25519 key
// (R = A = the identity point, S = 0) verifies under OpenSSL for any message.
// Before the fix the node tried to encrypt its reply to that key, the
// Ed25519→X25519 conversion threw out of an un-awaited handler and the process
// died with an unhandled rejection. Here it arrives through a real broker.
import assert from "node:assert/strict";
import { randomBytes, verify, createPublicKey } from "node:crypto";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import { Identity, idFromPublicKey, isNodeId, isValidPublicKey, publicKeyFromId, verifySignature } from "../../src/identity/identity.ts";
import { base32Encode } from "../../src/util/encoding.ts";
import type { Logger } from "../../src/util/logger.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { BODY_JSON, ENVELOPE_VERSION, encodeFields, encryptTo, signatureDigest } from "../../src/signaling/envelope.ts";
import { topicFor } from "../../src/signaling/mqtt-transport.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

const IDENTITY_POINT = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
const ZERO_KEY = Buffer.alloc(32); // y = 0: a point of order 4 (an all-"a" node id)
// y = p (not reduced): a non-canonical encoding of the point with y = 0.
const NON_CANONICAL = Buffer.from("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "hex");

test("small-order and non-canonical keys are refused wherever a key enters", () => {
  for (const bad of [IDENTITY_POINT, ZERO_KEY, NON_CANONICAL]) {
    assert.equal(isValidPublicKey(bad), false, bad.toString("hex"));
    assert.throws(() => idFromPublicKey(bad), { code: "P2P_ERR_INVALID_ARGUMENT" });
    const id = base32Encode(bad);
    assert.equal(isNodeId(id), false);
    assert.throws(() => publicKeyFromId(id), { code: "P2P_ERR_INVALID_ARGUMENT" });
  }
  // The forgery that OpenSSL accepts for every message: R = A = identity, S = 0.
  const forged = Buffer.concat([IDENTITY_POINT, Buffer.alloc(32)]);
  const msg = randomBytes(40);
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), IDENTITY_POINT]), format: "der", type: "spki" });
  assert.equal(verify(null, msg, spki, forged), true, "OpenSSL itself accepts it (the reason for the check)");
  assert.equal(verifySignature(IDENTITY_POINT, msg, forged), false);
  const real = Identity.generate();
  assert.equal(isValidPublicKey(real.publicKey), true);
  assert.equal(isNodeId(real.id), true);
});

let broker: Awaited<ReturnType<typeof startBroker>>;
before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
});
after(() => broker.close());

function capture(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (m) => void warnings.push(m),
    error: (m) => void warnings.push(m),
    child: () => logger,
  };
  return { logger, warnings };
}

/** A request envelope from the identity point, with the universal forged signature. */
function forgedRequest(to: string, type: string): Uint8Array {
  const fields = encodeFields({
    from: IDENTITY_POINT,
    to: publicKeyFromId(to),
    timestamp: Date.now(),
    nonce: randomBytes(16),
    id: randomBytes(16),
    type,
    bodyKind: BODY_JSON,
    body: Buffer.from(JSON.stringify({ replyTo: [broker.url], body: {} })),
  });
  return encryptTo(to, (eph) => {
    void signatureDigest(ENVELOPE_VERSION, eph, fields); // what a real sender would sign; the forgery needs no key
    return Buffer.concat([fields, IDENTITY_POINT, Buffer.alloc(32)]);
  });
}

test("a forged small-order envelope through a real broker: warning, node stays up, still serves a connect", async () => {
  const open = capture();
  const closed = capture();
  const victim = await loopbackNode({ signaling: [broker.url], allowPrivate: true, logger: open.logger });
  victim.onMessage((m, p) => p.send(m.text));
  // An accept() that refuses everyone did not help before: refusals are answered too.
  const refuser = await loopbackNode({ signaling: [broker.url], allowPrivate: true, logger: closed.logger, accept: () => false });
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    for (const target of [victim, refuser]) {
      for (const type of ["get-addr", "reverse-connect", "ping"]) {
        await client.publishAsync(topicFor(target.id), Buffer.from(forgedRequest(target.id, type)), { qos: 1 });
      }
    }
  } finally {
    await client.endAsync(true);
  }
  for (const [who, log] of [["victim", open], ["refuser", closed]] as const) {
    await waitFor(() => log.warnings.filter((w) => w.includes("invalid key")).length >= 3, 8000, `three forged-key warnings on the ${who}`);
  }
  // Still up: a genuine peer fetches the victim's address over signaling and connects.
  const peer = await loopbackNode({ signaling: [broker.url], allowPrivate: true });
  const pipe = await peer.connect(victim.id, { brokers: [broker.url], timeout: 10_000 });
  await pipe.send("still here");
  assert.equal((await pipe.recv({ timeout: 5000 })).text, "still here");
  await pipe.close();
  await assert.rejects(peer.fetchAddress(refuser.id, [broker.url], { timeout: 5000 }), { code: "P2P_ERR_REFUSED" });
  for (const log of [open, closed]) assert.ok(!log.warnings.some((w) => w.includes("could not seal")), "nothing was sealed to the forged key");
});

test("a node id made of one letter (an all-zero key) is a clear InvalidArgumentError", () => {
  assert.throws(() => publicKeyFromId("a".repeat(52)), (err: Error & { code?: string }) => err.code === "P2P_ERR_INVALID_ARGUMENT" && /not a valid Ed25519 public key/.test(err.message));
  assert.throws(() => idFromPublicKey(new Uint8Array(32)), { code: "P2P_ERR_INVALID_ARGUMENT" });
});
