/**
 * The whole stack over reliable UDP: the real handshake and a Pipe run on a
 * RudpConnection pair joined by a lossy in-memory datagram link (real time,
 * short delays), so a relayed UDP path keeps every Pipe guarantee.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { Identity } from "../../src/identity/identity.ts";
import { Pipe } from "../../src/pipe/pipe.ts";
import { RudpConnection } from "../../src/rudp/connection.ts";
import { rudpDuplex } from "../../src/rudp/duplex.ts";
import { handshake } from "../../src/session/handshake.ts";
import { systemClock, systemTimers } from "../../src/util/clock.ts";
import { direction } from "./lossy-link.ts";

test("handshake and a Pipe over reliable UDP with 5 % loss: 300 messages echoed in order, a graceful close loses none", async () => {
  const time = { now: () => systemClock.now(), ...systemTimers };
  const key = randomBytes(32);
  let a!: RudpConnection;
  let b!: RudpConnection;
  const link = { lossPct: 5, delayMs: 2, jitterMs: 2 };
  const ab = direction(time, { ...link, seed: 11 }, (d) => b.input(d));
  const ba = direction(time, { ...link, seed: 12 }, (d) => a.input(d));
  a = new RudpConnection({ connId: 7, key, send: (d) => ab.send(d) });
  b = new RudpConnection({ connId: 7, key, send: (d) => ba.send(d) });
  const [alice, bob] = [Identity.generate(), Identity.generate()];
  const params = { maxMessageSize: 1 << 20 };
  const [sa, sb] = [rudpDuplex(a), rudpDuplex(b)];
  const [ha, hb] = await Promise.all([
    handshake(sa, { identity: alice, role: "initiator", params, expectedRemoteId: bob.id, timeout: 10_000 }),
    handshake(sb, { identity: bob, role: "responder", params, timeout: 10_000 }),
  ]);
  assert.equal(ha.remoteId, bob.id);
  assert.equal(hb.remoteId, alice.id);
  const pa = new Pipe({ stream: sa, session: ha, role: "initiator", strategy: "turn", inbound: false });
  const pb = new Pipe({ stream: sb, session: hb, role: "responder", strategy: "turn", inbound: true });
  const sent = Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? randomBytes(20_000) : Buffer.from(`message ${i}`)));
  const echo = (async () => {
    for await (const m of pb) await pb.send(m.data);
  })();
  for (const m of sent) await pa.send(m);
  const got: Buffer[] = [];
  for (let i = 0; i < sent.length; i++) got.push(Buffer.from((await pa.recv({ timeout: 20_000 })).data));
  assert.deepEqual(got.map((g) => g.toString("hex")), sent.map((s) => s.toString("hex")));
  await pa.close();
  await echo;
  assert.ok(a.stats.retransmitted > 0, "the link did lose packets");
  assert.equal(a.stats.forged + b.stats.forged, 0);
});
