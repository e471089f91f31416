// Issue 9 item 1, the handshake leg: a peer whose identity is a small-order key
// can "sign" any transcript (R = A, S = 0 verifies under OpenSSL). The handshake
// must refuse it on both sides, over a real socket pair.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { handshake } from "../../src/session/handshake.ts";
import { Identity } from "../../src/identity/identity.ts";

const IDENTITY_POINT = new Uint8Array(32);
IDENTITY_POINT[0] = 1;
/** Quacks like an Identity whose key is the identity point; its "signature" verifies for any message under OpenSSL. */
const forger = {
  id: "forged",
  publicKey: IDENTITY_POINT,
  sign: () => new Uint8Array([...IDENTITY_POINT, ...new Uint8Array(32)]),
} as unknown as Identity;

async function socketPair(): Promise<[net.Socket, net.Socket, () => void]> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const client = net.connect((srv.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((r) => client.once("connect", r));
  const server = await accepted;
  return [client, server, () => (client.destroy(), server.destroy(), srv.close())];
}

for (const forgedRole of ["responder", "initiator"] as const) {
  test(`handshake: a small-order identity key is refused (forger as ${forgedRole})`, async () => {
    const [a, b, done] = await socketPair();
    try {
      const honest = Identity.generate();
      const [forgerSide, honestSide] = forgedRole === "initiator" ? [a, b] : [b, a];
      const honestRole = forgedRole === "initiator" ? "responder" : "initiator";
      const forged = handshake(forgerSide, { identity: forger, role: forgedRole, params: { maxMessageSize: 1 << 20 }, timeout: 3000 });
      forged.catch(() => {});
      await assert.rejects(handshake(honestSide, { identity: honest, role: honestRole, params: { maxMessageSize: 1 << 20 }, timeout: 3000 }), (err: Error & { code?: string }) => err.code === "P2P_ERR_HANDSHAKE" && /signature/.test(err.message));
    } finally {
      done();
    }
  });
}

test("handshake: the same exchange between two real identities succeeds (the control)", async () => {
  const [a, b, done] = await socketPair();
  try {
    const [x, y] = [Identity.generate(), Identity.generate()];
    const [r1, r2] = await Promise.all([
      handshake(a, { identity: x, role: "initiator", params: { maxMessageSize: 1 << 20 }, timeout: 3000 }),
      handshake(b, { identity: y, role: "responder", params: { maxMessageSize: 1 << 20 }, timeout: 3000 }),
    ]);
    assert.equal(r1.remoteId, y.id);
    assert.equal(r2.remoteId, x.id);
  } finally {
    done();
  }
});
