/** The TURN client against a real coturn on loopback, over UDP and TCP to the server. */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { once } from "node:events";
import { before, describe, test } from "node:test";
import { TurnError } from "../../src/errors.ts";
import type { TransportAddress } from "../../src/stun/codec.ts";
import { TurnClient } from "../../src/turn/client.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { parseTurnServers, restCredentials } from "../../src/turn/uri.ts";
import { startCoturn, type LoopbackCoturn } from "../support/coturn.ts";

let coturn: LoopbackCoturn;
before(async () => {
  coturn = await startCoturn();
});

function server(transport: "udp" | "tcp", credential = coturn.password) {
  return parseTurnServers([{ urls: `turn:127.0.0.1:${coturn.port}?transport=${transport}`, username: coturn.username, credential }])[0];
}

async function udpPeer(): Promise<{ sock: dgram.Socket; addr: TransportAddress; next(): Promise<{ data: Buffer; from: dgram.RemoteInfo }> }> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const addr = { family: 4 as const, address: "127.0.0.1", port: sock.address().port };
  return { sock, addr, next: async () => { const [data, from] = await once(sock, "message"); return { data, from }; } };
}

for (const transport of ["udp", "tcp"] as const) {
  describe(`TURN client over ${transport} to coturn`, () => {
    test("allocates a relayed address; data flows both ways by Send/Data indications, then on a bound channel", async () => {
      const c = await TurnClient.allocate({ server: server(transport) });
      const peer = await udpPeer();
      try {
        assert.equal(c.relayed.address, "127.0.0.1");
        assert.ok(c.lifetime > 0 && c.lifetime <= 600, `lifetime ${c.lifetime}`);
        await c.permit("127.0.0.1");
        // client → peer, Send indication
        const got1 = peer.next();
        c.send(peer.addr, Buffer.from("via send"));
        const m1 = await got1;
        assert.equal(m1.data.toString(), "via send");
        assert.equal(m1.from.port, c.relayed.port, "the peer sees the relayed address");
        // peer → client, Data indication
        const in1 = once(c, "data");
        peer.sock.send("via data", c.relayed.port, c.relayed.address);
        const [from1, data1] = await in1;
        assert.deepEqual([from1.port, Buffer.from(data1).toString()], [peer.addr.port, "via data"]);
        // channel both ways (ChannelData; padded on TCP)
        const ch = await c.bindChannel(peer.addr);
        assert.ok(ch >= 0x4000 && ch <= 0x4fff);
        const got2 = peer.next();
        c.send(peer.addr, Buffer.from("odd"));
        assert.equal((await got2).data.toString(), "odd");
        const in2 = once(c, "data");
        peer.sock.send("chan", c.relayed.port, c.relayed.address);
        assert.equal(Buffer.from((await in2)[1]).toString(), "chan");
        assert.ok(c.stats.allocateRequests === 2, "one 401 challenge, then the authenticated Allocate");
      } finally {
        peer.sock.close();
        const closed = once(c, "close");
        await c.close();
        assert.deepEqual(await closed, [undefined], "a close we asked for has no error");
      }
    });

    test("wrong credentials: a TurnError that names the server and says so, without the secret", async () => {
      const err = await TurnClient.allocate({ server: server(transport, "not-the-password") }).then(() => undefined, (e) => e);
      assert.ok(err instanceof TurnError, String(err));
      assert.equal(err.reason, "wrong-credentials");
      assert.equal(err.status, 401);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${coturn.port}`));
      assert.doesNotMatch(err.message, /not-the-password|test-only-secret/);
    });
  });
}

test("a TURN server that does not answer: TurnError 'timeout' after five sends on the bounded schedule (fake time)", async () => {
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
  try {
    const s = parseTurnServers([{ urls: `turn:127.0.0.1:${silent.address().port}`, username: "u", credential: "p" }])[0];
    const t = new FakeTime();
    let sends = 0;
    silent.on("message", () => sends++);
    const first = once(silent, "message");
    const p = TurnClient.allocate({ server: s, timeout: 20_000, timers: t }).then(() => undefined, (e) => e);
    await first;
    for (const [at, expected] of [[249, 1], [250, 2], [750, 3], [1750, 4], [3750, 5]] as const) {
      await t.advance(at - (t.now() - start));
      await until(() => sends >= expected);
      assert.equal(sends, expected, `sends by ${at} ms`);
    }
    await t.advance(7750 - (t.now() - start) - 1);
    assert.equal(await Promise.race([p, Promise.resolve("pending")]), "pending", "still waiting 1 ms before the end");
    await t.advance(1);
    const err = await p;
    assert.ok(err instanceof TurnError, String(err));
    assert.equal(err.reason, "timeout");
    assert.equal(sends, 5);
    assert.equal(t.pending, 0, "no timer left behind");
  } finally {
    silent.close();
  }
});

const start = new FakeTime().now();

/** Waits (real time, a few ms at most) until the datagrams sent so far have arrived. */
async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
}

describe("RFC 6062 TCP allocation on coturn", () => {
  test("a peer dials the TCP relayed address; ConnectionBind gives a plain socket that carries bytes both ways, early bytes included", async () => {
    const c = await TurnClient.allocate({ server: server("tcp"), relay: "tcp" });
    try {
      await c.permit("127.0.0.1");
      const attempt = once(c, "connection");
      const peer = net.connect(c.relayed.port, c.relayed.address);
      await once(peer, "connect");
      peer.write("early bytes|");
      const [{ connectionId, peer: from }] = await attempt;
      assert.equal(from.port, peer.localPort, "the attempt names the peer's address");
      const sock = await c.acceptConnection(connectionId);
      let got = "";
      sock.setEncoding("utf8").on("data", (d: string) => (got += d));
      peer.write("later");
      const back = once(peer, "data");
      sock.write("from the allocating side");
      assert.equal(String((await back)[0]), "from the allocating side");
      for (let i = 0; i < 200 && got !== "early bytes|later"; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(got, "early bytes|later");
      peer.on("error", () => {});
      sock.on("error", () => {});
      peer.end();
      sock.end();
    } finally {
      await c.close();
    }
  });

  test("a TCP allocation over a UDP link is refused up front: RFC 6062 needs TCP to the server", async () => {
    const err = await TurnClient.allocate({ server: server("udp"), relay: "tcp" }).then(() => undefined, (e) => e);
    assert.ok(err instanceof TurnError);
    assert.equal(err.reason, "unsupported-transport");
  });
});

test("the allocation quota reached (coturn user-quota=1): TurnError 'quota' (486) naming the server; the first allocation is unharmed", async () => {
  const small = await startCoturn({ userQuota: 1 });
  const s = parseTurnServers([{ urls: `turn:127.0.0.1:${small.port}`, username: small.username, credential: small.password }])[0];
  const first = await TurnClient.allocate({ server: s });
  try {
    const err = await TurnClient.allocate({ server: s }).then(() => undefined, (e) => e);
    assert.ok(err instanceof TurnError, String(err));
    assert.equal(err.reason, "quota");
    assert.equal(err.status, 486);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${small.port}`));
    await first.permit("127.0.0.1");
  } finally {
    await first.close();
    await small.stop();
  }
});

describe("TURN REST API credentials on coturn (use-auth-secret / static-auth-secret)", () => {
  const SECRET = "rest-test-shared-secret";
  let rest: LoopbackCoturn;
  before(async () => {
    rest = await startCoturn({ authSecret: SECRET });
  });
  const restServer = (c: { username: string; credential: string }) =>
    parseTurnServers([{ urls: `turn:127.0.0.1:${rest.port}`, username: c.username, credential: c.credential }])[0];

  /** The 401 after credentials were sent: typed, naming the server, showing neither the secret nor the derived password. */
  function assertRefused(err: unknown, hidden: string[]) {
    assert.ok(err instanceof TurnError, String(err));
    assert.equal(err.reason, "wrong-credentials");
    assert.equal(err.status, 401);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${rest.port}`));
    for (const h of hidden) assert.ok(!err.message.includes(h), `the message shows ${JSON.stringify(h)}: ${err.message}`);
  }

  test("credentials from restCredentials(secret, user, ttl, now) allocate, and the relay carries data", async () => {
    const creds = restCredentials(SECRET, "alice", 600, Date.now());
    const c = await TurnClient.allocate({ server: restServer(creds) });
    const peer = await udpPeer();
    try {
      await c.permit("127.0.0.1");
      const got = peer.next();
      c.send(peer.addr, Buffer.from("rest"));
      assert.equal((await got).data.toString(), "rest");
    } finally {
      peer.sock.close();
      await c.close();
    }
  });

  test("an expired user name (expiry in the past) is refused: TurnError 'wrong-credentials' (401)", async () => {
    const creds = restCredentials(SECRET, "alice", 60, Date.now() - 3_600_000);
    assert.ok(Number(creds.username.split(":")[0]) < Date.now() / 1000, "the expiry is an hour ago");
    const err = await TurnClient.allocate({ server: restServer(creds) }).then(() => undefined, (e) => e);
    assertRefused(err, [SECRET, creds.credential]);
  });

  test("credentials made with another secret are refused the same way", async () => {
    const creds = restCredentials("not-the-shared-secret", "alice", 600, Date.now());
    const err = await TurnClient.allocate({ server: restServer(creds) }).then(() => undefined, (e) => e);
    assertRefused(err, [SECRET, "not-the-shared-secret", creds.credential]);
  });

  test("the static user of the other fixture is not accepted here: REST credentials replace it", async () => {
    const err = await TurnClient.allocate({ server: restServer({ username: rest.username, credential: rest.password }) }).then(() => undefined, (e) => e);
    assertRefused(err, [rest.password]);
  });
});

test("a long-lived allocation on coturn: a Refresh before each granted lifetime ends keeps it for two simulated hours (fake time; coturn caps the lifetime)", async () => {
  // Only our side's clock is fake: coturn sees eight Refreshes within real
  // seconds, so this shows each is accepted and re-grants the capped
  // lifetime, and that the allocation still relays afterwards, without
  // waiting out a real lifetime.
  const capped = await startCoturn({ extra: ["max-allocate-lifetime=900"] });
  const s = parseTurnServers([{ urls: `turn:127.0.0.1:${capped.port}`, username: capped.username, credential: capped.password }])[0];
  const t = new FakeTime();
  const c = await TurnClient.allocate({ server: s, lifetime: 3600, timers: t });
  const peer = await udpPeer();
  try {
    assert.equal(c.lifetime, 900, "asked for 3600 s, granted coturn's max-allocate-lifetime");
    for (let i = 1; i <= 8; i++) {
      await t.advance(840_000); // the client refreshes a minute before the 900 s end
      for (let j = 0; j < 500 && c.stats.refreshes < i; j++) await new Promise((r) => setTimeout(r, 10)); // coturn's answer, in real time
      assert.equal(c.stats.refreshes, i, `refresh ${i} answered`);
      assert.equal(c.closed, false);
      assert.equal(c.lifetime, 900, "each Refresh re-grants the capped lifetime");
    }
    await c.permit("127.0.0.1");
    const got = peer.next();
    c.send(peer.addr, Buffer.from("after two hours"));
    assert.equal((await got).data.toString(), "after two hours");
  } finally {
    peer.sock.close();
    await c.destroy();
    await capped.stop();
  }
});
