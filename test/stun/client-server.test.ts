import assert from "node:assert/strict";
import dgram from "node:dgram";
import { after, before, describe, it } from "node:test";
import { AbortError, StunError, TimeoutError } from "../../src/errors.ts";
import { StunTcpConnection, StunUdpClient, stunBinding, stunBindingTcp } from "../../src/stun/client.ts";
import { decode, encode, Method, type TransportAddress } from "../../src/stun/codec.ts";
import { StunServer } from "../../src/stun/server.ts";
import { FakeTime } from "../../src/util/clock.ts";

const v4 = (address: string, port: number): TransportAddress => ({ family: 4, address, port });
// RFC 5780 §7.6 PADDING: over UDP the server answers at most the request's size beyond
// XOR-MAPPED-ADDRESS + OTHER-ADDRESS (docs/stun.md "Exposure"); padded, a request gets every attribute.
const PADDED = { attributes: [{ type: 0x0026, value: new Uint8Array(64) }] };

describe("client <-> embedded server on loopback (RFC 5780 capable: 127.0.0.1 + 127.0.0.2)", () => {
  let server: StunServer;
  let P1: number;
  let P2: number;
  before(async () => {
    server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
    P1 = server.addresses.primary.port;
    P2 = server.addresses.other!.port;
  });
  after(async () => {
    await server.close();
    await server.close(); // idempotent
  });

  it("binds 4 address/port pairs and reports OTHER-ADDRESS", () => {
    assert.equal(server.addresses.all.length, 4);
    assert.deepEqual(server.addresses.other, v4("127.0.0.2", P2));
  });

  it("UDP Binding (padded): mapped address is our own (no NAT), with RESPONSE-ORIGIN and OTHER-ADDRESS", async () => {
    const r = await stunBinding(server.addresses.primary, { localAddress: "127.0.0.1", ...PADDED });
    assert.equal(r.mapped.address, "127.0.0.1");
    assert.equal(r.mapped.port, r.local.port);
    assert.deepEqual(r.responseOrigin, v4("127.0.0.1", P1));
    assert.deepEqual(r.otherAddress, v4("127.0.0.2", P2));
    assert.equal(r.software, "p2pnode");
  });

  it("UDP Binding (unpadded, as the p2pnode client sends it): the essential part only, mapped address and OTHER-ADDRESS", async () => {
    const r = await stunBinding(server.addresses.primary, { localAddress: "127.0.0.1" });
    assert.equal(r.mapped.port, r.local.port);
    assert.deepEqual(r.otherAddress, v4("127.0.0.2", P2));
    assert.equal(r.responseOrigin, undefined);
    assert.ok(r.response.raw.length <= 44);
  });

  const changes: Array<[string, boolean, boolean, () => TransportAddress]> = [
    ["none", false, false, () => v4("127.0.0.1", P1)],
    ["change port", false, true, () => v4("127.0.0.1", P2)],
    ["change IP", true, false, () => v4("127.0.0.2", P1)],
    ["change IP and port", true, true, () => v4("127.0.0.2", P2)],
  ];
  for (const [name, changeIp, changePort, want] of changes) {
    it(`CHANGE-REQUEST ${name}: answered from the right socket`, async () => {
      const c = await StunUdpClient.open({ localAddress: "127.0.0.1" });
      try {
        const r = await c.binding(server.addresses.primary, { changeIp, changePort, ...PADDED });
        assert.deepEqual(r.from, want());
        assert.deepEqual(r.responseOrigin, want());
      } finally {
        await c.close();
      }
    });
  }

  it("one UDP socket, concurrent transactions to all four server sockets", async () => {
    const c = await StunUdpClient.open({ localAddress: "127.0.0.1" });
    try {
      const rs = await Promise.all(server.addresses.all.map((a) => c.binding(a)));
      for (const r of rs) assert.deepEqual(r.mapped, c.local);
      assert.equal(c.stats.answered, 4);
    } finally {
      await c.close();
    }
  });

  it("TCP Binding, and two connections sharing one local port", async () => {
    const r = await stunBindingTcp(server.addresses.primary, { localAddress: "127.0.0.1" });
    assert.deepEqual(r.mapped, r.local);
    const a = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "127.0.0.1" });
    const b = await StunTcpConnection.connect(v4("127.0.0.2", P2), { localAddress: "127.0.0.1", localPort: a.local.port });
    try {
      assert.equal(b.local.port, a.local.port);
      const [ra, rb] = await Promise.all([a.binding(), b.binding()]);
      assert.deepEqual(ra.mapped, rb.mapped);
    } finally {
      await a.close();
      await b.close();
      await a.close();
    }
  });

  it("TCP CHANGE-REQUEST is refused with 420", async () => {
    const a = await StunTcpConnection.connect(server.addresses.primary);
    try {
      await assert.rejects(a.binding({ attributes: [{ type: "CHANGE-REQUEST", value: { changeIp: true, changePort: false } }] }), /420/);
    } finally {
      await a.close();
    }
  });

  for (const changeIp of [true, false]) {
    it(`TCP dial-back (${changeIp ? "from the alternate IP" : "from another port"}) arrives`, async () => {
      const a = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "127.0.0.1" });
      try {
        const r = await a.dialBack({ changeIp, wait: 1000 });
        assert.equal(r.supported, true);
        assert.equal(r.arrived, true);
        assert.equal(r.from?.address, changeIp ? "127.0.0.2" : "127.0.0.1");
      } finally {
        await a.close();
      }
    });
  }
});

describe("client <-> embedded server on ::1", () => {
  let server: StunServer;
  before(async () => {
    server = await StunServer.listen({ host: "::1", port: 0, altPort: 0 });
  });
  after(() => server.close());

  it("UDP and TCP over IPv6, CHANGE-REQUEST port works, change IP is refused (no alternate IP)", async () => {
    const r = await stunBinding(server.addresses.primary, { localAddress: "::1" });
    assert.deepEqual(r.mapped, { family: 6, address: "::1", port: r.local.port });
    const t = await stunBindingTcp(server.addresses.primary, { localAddress: "::1" });
    assert.equal(t.mapped.family, 6);
    const c = await StunUdpClient.open({ localAddress: "::1" });
    try {
      const p = await c.binding(server.addresses.primary, { changePort: true });
      assert.equal(p.from.port, server.addresses.all[1].port);
      await assert.rejects(c.binding(server.addresses.primary, { changeIp: true }), (e: unknown) => e instanceof StunError && /420/.test(e.message));
    } finally {
      await c.close();
    }
    const a = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "::1" });
    try {
      assert.deepEqual(await a.dialBack({ changeIp: true }), { supported: false, arrived: false });
    } finally {
      await a.close();
    }
  });
});

describe("client against misbehaving UDP servers", () => {
  // A tiny hand-rolled responder: `reply(req, rinfo)` returns the datagrams to send back.
  async function responder(reply: (req: Uint8Array) => Uint8Array[]): Promise<{ addr: TransportAddress; close: () => Promise<void> }> {
    const s = dgram.createSocket("udp4");
    s.on("message", (m, r) => {
      for (const out of reply(m)) s.send(out, r.port, r.address);
    });
    await new Promise<void>((res) => s.bind(0, "127.0.0.1", res));
    return { addr: v4("127.0.0.1", s.address().port), close: () => new Promise((res) => s.close(() => res())) };
  }
  const success = (req: Uint8Array, txid = decode(req).transactionId) =>
    encode({ method: Method.BINDING, class: "success", transactionId: txid, attributes: [{ type: "XOR-MAPPED-ADDRESS", value: v4("192.0.2.7", 4242) }] });

  it("skips garbage, truncated and wrong-transaction answers, then takes the right one", async () => {
    const srv = await responder((req) => [Uint8Array.of(1, 2, 3), success(req).subarray(0, 25), success(req, new Uint8Array(12)), success(req)]);
    const c = await StunUdpClient.open({ localAddress: "127.0.0.1" });
    try {
      const r = await c.binding(srv.addr);
      assert.deepEqual(r.mapped, v4("192.0.2.7", 4242));
      assert.equal(c.stats.garbage, 2);
      assert.equal(c.stats.wrongTransaction, 1);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it("401 error response -> StunError carrying code 401", async () => {
    const srv = await responder((req) => [
      encode({ method: Method.BINDING, class: "error", transactionId: decode(req).transactionId, attributes: [{ type: "ERROR-CODE", value: { code: 401, reason: "Unauthorized" } }] }),
    ]);
    try {
      await assert.rejects(stunBinding(srv.addr), (e: unknown) => e instanceof StunError && /401 Unauthorized/.test(e.message) && (e.cause as { code: number }).code === 401);
    } finally {
      await srv.close();
    }
  });

  it("silence: sends at 0, 100, 300, 700 ms, then TimeoutError at exactly 1500 ms (fake time)", async () => {
    const srv = await responder(() => []);
    const time = new FakeTime();
    const c = await StunUdpClient.open({ localAddress: "127.0.0.1", timers: time });
    try {
      let settled: unknown = "pending";
      const p = c.binding(srv.addr).then(() => "answered", (e: unknown) => e);
      void p.then((v) => (settled = v));
      // [advance by, sends so far]: each send lands on its millisecond, not one earlier.
      const steps: Array<[number, number]> = [[0, 1], [99, 1], [1, 2], [199, 2], [1, 3], [399, 3], [1, 4], [799, 4]];
      for (const [ms, sent] of steps) {
        await time.advance(ms);
        assert.equal(c.stats.sent, sent, `at ${time.now()}`);
      }
      assert.equal(settled, "pending", "still waiting at 1499 ms");
      await time.advance(1);
      assert.ok((await p) instanceof TimeoutError);
      assert.equal(time.pending, 0, "retransmit and deadline timers freed");
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it("abort -> AbortError at once, later retransmissions cancelled; close() twice; closed client -> StunError", async () => {
    const srv = await responder(() => []);
    const time = new FakeTime();
    const c = await StunUdpClient.open({ localAddress: "127.0.0.1", timers: time });
    try {
      const ac = new AbortController();
      const p = c.binding(srv.addr, { signal: ac.signal }).then(() => "answered", (e: unknown) => e);
      await time.advance(150);
      assert.equal(c.stats.sent, 2);
      ac.abort();
      assert.ok((await p) instanceof AbortError);
      assert.equal(time.pending, 0);
      await time.advance(2000);
      assert.equal(c.stats.sent, 2, "no retransmission after the abort");
      await assert.rejects(c.binding(srv.addr, { signal: AbortSignal.abort() }), AbortError);
    } finally {
      await c.close();
      await c.close();
      await srv.close();
    }
    await assert.rejects(c.binding(srv.addr), StunError);
  });


  it("success without a mapped address -> StunError", async () => {
    const srv = await responder((req) => [encode({ method: Method.BINDING, class: "success", transactionId: decode(req).transactionId, attributes: [] })]);
    try {
      await assert.rejects(stunBinding(srv.addr), /without a mapped address/);
    } finally {
      await srv.close();
    }
  });
});

describe("STUN clients on the lifecycle base", () => {
  let server: StunServer;
  before(async () => {
    server = await StunServer.listen({ host: "127.0.0.1", port: 0 });
  });
  after(() => server.close());
  it("UDP: close() is memoized (the second call is the first's promise), destroy() after it is the same teardown, the socket is gone", async () => {
    const c = await StunUdpClient.open({ localAddress: "127.0.0.1" });
    const closing = c.close();
    assert.equal(c.close(), closing);
    assert.equal(c.closed, true);
    assert.equal(c.lifetime.aborted, true);
    await Promise.all([closing, c.destroy()]);
    // Its port is free again: the socket is gone.
    const again = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      again.once("error", reject);
      again.bind({ address: "127.0.0.1", port: c.local.port, exclusive: true }, () => resolve());
    });
    await new Promise<void>((r) => again.close(() => r()));
    await assert.rejects(c.binding(server.addresses.primary), StunError);
  });

  it("TCP: destroy() first; close() after it returns the destroy's promise, which resolves once the socket is closed", async () => {
    const c = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "127.0.0.1" });
    await c.binding();
    const destroying = c.destroy(new Error("test"));
    assert.equal(c.close(), destroying);
    assert.equal(c.destroy(), destroying);
    await destroying;
    assert.equal(c.closed, true);
    await assert.rejects(c.binding(), StunError);
  });
});
