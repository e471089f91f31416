// Mapping verification on loopback: the STUN dial-port extension (server + client) and the hairpin verifier.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { hairpinVerifier, stunDialPortVerifier } from "../../src/portmap/verify.ts";
import { decode, encode, getAttribute, Method } from "../../src/stun/codec.ts";
import { StunServer } from "../../src/stun/server.ts";

const sig = () => ({ signal: AbortSignal.timeout(3000) });

async function listen(): Promise<{ server: net.Server; port: number; accepted: string[] }> {
  const accepted: string[] = [];
  const server = net.createServer((s) => {
    accepted.push(`${s.remoteAddress}`);
    s.on("error", () => {});
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, port: (server.address() as net.AddressInfo).port, accepted };
}

async function freePort(): Promise<number> {
  const { server, port } = await listen();
  await new Promise((r) => server.close(r));
  return port;
}

describe("P2PNODE-DIAL-PORT attribute", () => {
  for (const value of [{ port: 4000 }, { port: 1, result: "connected" as const }, { port: 65535, result: "failed" as const }]) {
    it(`round-trips ${JSON.stringify(value)}`, () => {
      const msg = decode(encode({ method: Method.BINDING, class: "request", transactionId: new Uint8Array(12), attributes: [{ type: "P2PNODE-DIAL-PORT", value }] }));
      assert.deepEqual(getAttribute(msg, "P2PNODE-DIAL-PORT"), value);
    });
  }
  it("is comprehension-optional (0xC0D9)", () => {
    const b = encode({ method: Method.BINDING, class: "request", transactionId: new Uint8Array(12), attributes: [{ type: "P2PNODE-DIAL-PORT", value: { port: 4000 } }] });
    assert.equal(Buffer.from(b).subarray(20, 28).toString("hex"), "c0d900040fa00000");
  });
});

describe("stunDialPortVerifier (embedded STUN server on 127.0.0.1)", () => {
  let stun: StunServer;
  before(async () => {
    stun = await StunServer.listen({ host: "127.0.0.1", port: 0, udp: false });
  });
  after(() => stun.close());

  it("true when the server's connect to our IP at the port reaches our listener", async () => {
    const l = await listen();
    try {
      const verify = stunDialPortVerifier(stun.addresses.primary, { listener: l.server });
      assert.equal(await verify("127.0.0.1", l.port, sig()), true);
      assert.deepEqual(l.accepted, ["127.0.0.1"]);
    } finally {
      l.server.close();
    }
  });

  it("false when nothing listens at the port", async () => {
    const verify = stunDialPortVerifier(stun.addresses.primary);
    assert.equal(await verify("127.0.0.1", await freePort(), sig()), false);
  });

  it("false when the server sees another public IP than the mapping claims", async () => {
    const l = await listen();
    try {
      assert.equal(await stunDialPortVerifier(stun.addresses.primary)("127.0.0.9", l.port, sig()), false);
      assert.deepEqual(l.accepted, [], "never dials an address other than the requester's");
    } finally {
      l.server.close();
    }
  });

  it("false (not an error) when the STUN server is not ours or is gone", async () => {
    assert.equal(await stunDialPortVerifier({ family: 4, address: "127.0.0.1", port: await freePort() })("127.0.0.1", 1, sig()), false);
  });
});

describe("hairpinVerifier", () => {
  it("true when our own listener accepts the self-connect; false when the port is closed", async () => {
    const l = await listen();
    try {
      assert.equal(await hairpinVerifier(l.server)("127.0.0.1", l.port, sig()), true);
      assert.equal(await hairpinVerifier(l.server)("127.0.0.1", await freePort(), sig()), false);
    } finally {
      l.server.close();
    }
  });
});
