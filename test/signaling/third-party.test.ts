// A third party on the broker (a raw MQTT client, or a node with its own identity)
// must not get a request processed on someone else's behalf.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Identity, publicKeyFromId } from "../../src/identity/identity.ts";
import type { Logger } from "../../src/util/logger.ts";
import { BODY_JSON, ENVELOPE_VERSION, encodeFields, encryptTo, seal, signatureDigest } from "../../src/signaling/envelope.ts";
import { topicFor } from "../../src/signaling/mqtt-transport.ts";
import { broker, node, rawClient, until } from "./helpers.ts";

function recordingLogger(reasons: string[]): Logger {
  const l: Logger = {
    debug: (_m, meta) => void (typeof meta?.reason === "string" && reasons.push(meta.reason)),
    info() {},
    warn() {},
    error() {},
    child: () => l,
  };
  return l;
}

test("third party: unsigned, forged, stale, tampered and replayed messages are dropped", async (t) => {
  const b = await broker(t);
  const aliceId = Identity.generate();
  const carolId = Identity.generate();
  const reasons: string[] = [];
  const alice = await node(t, [b.url], { identity: aliceId });
  // Bob's transport dedupe is off so that replays reach the envelope's replay cache.
  const bob = await node(t, [b.url], { logger: recordingLogger(reasons), mqtt: { dedupeTtlMs: 0 } });
  const calls: string[] = [];
  bob.on("run", (body) => {
    calls.push(JSON.stringify(body));
    return "done";
  });
  const topic = topicFor(bob.id);
  const spy = await rawClient(t, b.url);
  const captured: Buffer[] = [];
  await spy.subscribeAsync(topic); // exact topics are public: anyone who knows bob's id can listen
  spy.on("message", (_t, payload) => captured.push(payload));

  assert.equal(await alice.request(bob.id, [b.url], "run", { n: 1 }), "done");
  await until(() => captured.length >= 1, "the spy to capture alice's request");
  const request = captured[0];
  const wire = { replyTo: [b.url], body: { n: 666 } };

  const attacker = await rawClient(t, b.url);
  const publish = (bytes: Uint8Array) => attacker.publishAsync(topic, Buffer.from(bytes), { qos: 1 });
  // 1. garbage and an unsigned blob
  await publish(randomBytes(400));
  await publish(Buffer.from("hello"));
  // 2. alice's fields, signed by carol
  const fields = encodeFields({
    from: aliceId.publicKey,
    to: publicKeyFromId(bob.id),
    timestamp: Date.now(),
    nonce: randomBytes(16),
    id: randomBytes(16),
    type: "run",
    bodyKind: BODY_JSON,
    body: Buffer.from(JSON.stringify(wire)),
  });
  const forged = encryptTo(bob.id, (eph) => Buffer.concat([fields, carolId.sign(signatureDigest(ENVELOPE_VERSION, eph, fields))]));
  await publish(forged);
  // 3. a genuine message of alice's that is too old
  await publish(seal(aliceId, bob.id, { type: "run", body: wire, timestamp: Date.now() - 120_000 }));
  // 4. alice's captured request with one byte flipped
  const flipped = Buffer.from(request);
  flipped[flipped.length - 5] ^= 1;
  await publish(flipped);
  // 5. alice's captured request replayed as is
  await publish(request);

  await until(
    () => ["bad-version", "decrypt-failed", "bad-signature", "expired", "replayed"].every((r) => reasons.includes(r)),
    "a rejection of each kind",
  );
  assert.deepEqual(calls, ['{"n":1}'], "only alice's genuine request ran");
  assert.equal(await alice.request(bob.id, [b.url], "run", { n: 2 }), "done");
  assert.deepEqual(calls, ['{"n":1}', '{"n":2}']);
});

test("third party: a re-sent request (fresh seal, same id) is re-acknowledged, not processed twice", async (t) => {
  const b = await broker(t);
  const aliceId = Identity.generate();
  const alice = await node(t, [b.url], { identity: aliceId });
  const bob = await node(t, [b.url]);
  let runs = 0;
  bob.on("run", () => ++runs);
  const sniff = await rawClient(t, b.url);
  await sniff.subscribeAsync(topicFor(alice.id));
  const toAlice: Buffer[] = [];
  sniff.on("message", (_t, p) => toAlice.push(p));
  const raw = await rawClient(t, b.url);
  const id = randomBytes(16).toString("hex");
  const wire = { replyTo: [b.url], body: null };
  for (let i = 0; i < 3; i++) {
    await raw.publishAsync(topicFor(bob.id), Buffer.from(seal(aliceId, bob.id, { type: "run", body: wire, id, timestamp: Date.now() })), { qos: 1 });
  }
  // Each copy is acknowledged; the reply is (re-)sent once the handler has run.
  await until(() => toAlice.length >= 4, "acks and replies to reach alice's topic");
  assert.equal(runs, 1);
  void alice;
});
