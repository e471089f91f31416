// The embedded STUN server's exposure limits (docs/stun.md "Exposure", issue 9 item 5d):
// UDP answers no larger than the request (beyond the essential part), per-source
// rate limits on UDP answers and on dial-back/dial-port connects, one dial in flight per source.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { StunTcpConnection } from "../../src/stun/client.ts";
import { decode, encode, encodingLength, getAttribute, Method, newTransactionId, type DecodedStunMessage, type StunAttribute, type TransportAddress } from "../../src/stun/codec.ts";
import { checkBucket, SourceLimiter, sourceKey } from "../../src/stun/rate-limit.ts";
import { fitAnswer, fitError, type Candidate } from "../../src/stun/reply-size.ts";
import { StunServer, type StunServerOptions } from "../../src/stun/server.ts";
import { FakeTime } from "../../src/util/clock.ts";

const PADDING = 0x0026;
const pad = (n: number): StunAttribute => ({ type: PADDING, value: new Uint8Array(n) });
const v4 = (address: string, port: number): TransportAddress => ({ family: 4, address, port });
const hexId = (b: Uint8Array) => Buffer.from(b).toString("hex");

// ---------------------------------------------------------------- pure parts

describe("sourceKey: IPv4 by address, IPv6 by /64", () => {
  const rows: Array<[string, string]> = [
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:192.0.2.7", "192.0.2.7"],
    ["::ffff:c000:207", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::ffff", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:aaaa::1", "2001:db8:1:2::/64"],
    ["2001:db8:1:3::1", "2001:db8:1:3::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["not an ip", "not an ip"],
  ];
  for (const [ip, key] of rows) it(`${ip} -> ${key}`, () => assert.equal(sourceKey(ip), key));
});

describe("SourceLimiter (pure, time passed in)", () => {
  it("a burst of `capacity`, then `refillPerSecond`; sources are independent; an IPv6 /64 is one source", () => {
    const l = new SourceLimiter({ capacity: 3, refillPerSecond: 2 }, 100);
    // [ip, now (ms), allowed]
    const rows: Array<[string, number, boolean]> = [
      ["192.0.2.1", 0, true],
      ["192.0.2.1", 0, true],
      ["192.0.2.1", 0, true],
      ["192.0.2.1", 0, false], // burst used up
      ["192.0.2.2", 0, true], // another source has its own bucket
      ["192.0.2.1", 499, false], // 0.998 tokens
      ["192.0.2.1", 500, true], // one token after 500 ms at 2/s
      ["192.0.2.1", 500, false],
      ["2001:db8::1", 0, true],
      ["2001:db8::2", 0, true],
      ["2001:db8::3", 0, true],
      ["2001:db8::4", 0, false], // same /64: same bucket
      ["2001:db8:0:1::4", 0, true], // next /64
      ["::ffff:192.0.2.2", 0, true], // same source as 192.0.2.2 (2 of 3 used)
      ["192.0.2.2", 0, true],
      ["192.0.2.2", 0, false],
    ];
    for (const [i, [ip, now, want]] of rows.entries()) assert.equal(l.take(ip, now), want, `row ${i}: ${ip} at ${now} ms`);
  });

  it("the map is bounded: a full map refuses new sources until a bucket has refilled, then forgets it", () => {
    const l = new SourceLimiter({ capacity: 2, refillPerSecond: 1 }, 3);
    for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) assert.equal(l.take(ip, 0), true);
    assert.equal(l.size, 3);
    assert.equal(l.take("10.0.0.4", 0), false, "no slot: refused, not added");
    assert.equal(l.size, 3);
    assert.equal(l.take("10.0.0.1", 0), true, "known sources still work");
    assert.equal(l.take("10.0.0.4", 999), false, "nothing refilled yet");
    // at 1000 ms 10.0.0.2 and .3 are full again (1 used, 1/s); .1 (both used) is not
    assert.equal(l.take("10.0.0.4", 1000), true);
    assert.ok(l.size <= 3);
    assert.equal(l.take("10.0.0.1", 1000), true, "the partly used bucket was kept (1 token refilled)");
    assert.equal(l.take("10.0.0.1", 1000), false);
  });

  it("rejects bad options with InvalidArgumentError", () => {
    const bad: Array<[string, () => unknown]> = [
      ["capacity 0", () => checkBucket("x", { capacity: 0, refillPerSecond: 1 })],
      ["capacity NaN", () => checkBucket("x", { capacity: NaN, refillPerSecond: 1 })],
      ["capacity Infinity", () => checkBucket("x", { capacity: Infinity, refillPerSecond: 1 })],
      ["refill -1", () => checkBucket("x", { capacity: 1, refillPerSecond: -1 })],
      ["refill string", () => checkBucket("x", { capacity: 1, refillPerSecond: "1" as unknown as number })],
      ["not an object", () => checkBucket("x", 5 as unknown as { capacity: number; refillPerSecond: number })],
      ["maxSources 0", () => new SourceLimiter({ capacity: 1, refillPerSecond: 1 }, 0)],
      ["maxSources 1.5", () => new SourceLimiter({ capacity: 1, refillPerSecond: 1 }, 1.5)],
    ];
    for (const [label, fn] of bad) assert.throws(fn, InvalidArgumentError, label);
    assert.deepEqual(checkBucket("x", { capacity: 1, refillPerSecond: 0 }), { capacity: 1, refillPerSecond: 0 });
  });
});

describe("fitAnswer / fitError (pure): what a UDP answer of `budget` bytes keeps", () => {
  const txid = new Uint8Array(12).fill(7);
  const head = { method: Method.BINDING, class: "success" as const, transactionId: txid };
  const me = v4("192.0.2.1", 4000);
  const cands: Candidate[] = [
    { attr: { type: "XOR-MAPPED-ADDRESS", value: me }, rank: 0 }, // 12
    { attr: { type: "MAPPED-ADDRESS", value: me }, rank: 2 }, // 12
    { attr: { type: "RESPONSE-ORIGIN", value: v4("192.0.2.9", 3478) }, rank: 1 }, // 12
    { attr: { type: "OTHER-ADDRESS", value: v4("192.0.2.10", 3479) }, rank: 0 }, // 12
    { attr: { type: "SOFTWARE", value: "p2pnode" }, rank: 3 }, // 12
  ];
  const names = (b: Uint8Array | undefined) => (b ? decode(b).attributes.map((a) => a.type) : undefined);
  // [budget, strict, attributes kept (wire order), size]
  const rows: Array<[number, boolean, Array<string | number> | undefined, number | undefined]> = [
    [Infinity, false, ["XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "RESPONSE-ORIGIN", "OTHER-ADDRESS", "SOFTWARE", "FINGERPRINT"], 88],
    [88, false, ["XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "RESPONSE-ORIGIN", "OTHER-ADDRESS", "SOFTWARE", "FINGERPRINT"], 88],
    [87, false, ["XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "RESPONSE-ORIGIN", "OTHER-ADDRESS", "SOFTWARE"], 80],
    [79, false, ["XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "RESPONSE-ORIGIN", "OTHER-ADDRESS", "FINGERPRINT"], 76],
    [60, false, ["XOR-MAPPED-ADDRESS", "RESPONSE-ORIGIN", "OTHER-ADDRESS"], 56],
    [55, false, ["XOR-MAPPED-ADDRESS", "OTHER-ADDRESS", "FINGERPRINT"], 52],
    [44, false, ["XOR-MAPPED-ADDRESS", "OTHER-ADDRESS"], 44],
    [20, false, ["XOR-MAPPED-ADDRESS", "OTHER-ADDRESS"], 44], // the essential part goes over a short budget
    [43, true, undefined, undefined], // ...unless strict
    [44, true, ["XOR-MAPPED-ADDRESS", "OTHER-ADDRESS"], 44],
  ];
  for (const [budget, strict, want, size] of rows) {
    it(`budget ${budget}${strict ? " strict" : ""} -> ${want?.join(", ") ?? "nothing"}`, () => {
      const out = fitAnswer(head, cands, { budget, strict, fingerprint: true });
      assert.deepEqual(names(out), want);
      assert.equal(out?.length, size);
    });
  }

  const eh = { method: Method.BINDING, transactionId: txid };
  const ua: StunAttribute = { type: "UNKNOWN-ATTRIBUTES", value: [0x0003] }; // 8 bytes
  // [budget, code, reason kept, has UNKNOWN-ATTRIBUTES, has FINGERPRINT]
  const errRows: Array<[number, string | undefined, boolean, boolean]> = [
    [Infinity, "Unknown Attribute: no alternate address", true, true],
    [27, undefined, false, false], // not even a bare ERROR-CODE: no answer
    [28, "", false, false],
    [36, "", true, false],
    [43, "Unkn", true, false],
    [44, "Unknown ", true, false], // the reason before FINGERPRINT
    [48, "Unknown Attr", true, false],
    [75, "Unknown Attribute: no alternate addr", true, false],
    [76, "Unknown Attribute: no alternate address", true, false],
    [84, "Unknown Attribute: no alternate address", true, true],
  ];
  for (const [budget, reason, hasUa, hasFp] of errRows) {
    it(`error, budget ${budget} -> ${reason === undefined ? "nothing" : JSON.stringify(reason)}`, () => {
      const out = fitError(eh, 420, "Unknown Attribute: no alternate address", [ua], { budget, fingerprint: true });
      if (reason === undefined) return assert.equal(out, undefined);
      assert.ok(out && out.length <= budget, `${out?.length} <= ${budget}`);
      const m = decode(out);
      assert.equal(m.class, "error");
      assert.deepEqual(getAttribute(m, "ERROR-CODE"), { code: 420, reason });
      assert.equal(getAttribute(m, "UNKNOWN-ATTRIBUTES") !== undefined, hasUa);
      assert.equal(m.hasFingerprint, hasFp);
    });
  }
});

// ---------------------------------------------------------------- the server on loopback
// (15 s per test: an answer that never comes fails the test instead of hanging the run)

/** A raw UDP socket that collects answers by transaction id. */
async function probe(host = "127.0.0.1") {
  const sock = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
  const got = new Map<string, Buffer>();
  const waiting = new Map<string, (b: Buffer) => void>();
  sock.on("message", (m) => {
    const id = m.subarray(8, 20).toString("hex");
    got.set(id, m);
    waiting.get(id)?.(m);
  });
  await new Promise<void>((r) => sock.bind(0, host, r));
  return {
    port: sock.address().port,
    got,
    /** Resolves once the datagram is handed to the kernel (on loopback: queued at the receiver). */
    send(to: TransportAddress, bytes: Uint8Array): Promise<void> {
      return new Promise((r) => sock.send(bytes, to.port, to.address, () => r()));
    },
    /** The answer for `txid` (already here or still to come). */
    answer(txid: Uint8Array): Promise<Buffer> {
      const id = hexId(txid);
      const have = got.get(id);
      return have ? Promise.resolve(have) : new Promise((r) => waiting.set(id, r));
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

const request = (attributes: StunAttribute[], opts: { method?: number; fingerprint?: boolean } = {}) => {
  const transactionId = newTransactionId();
  const bytes = encode({ method: opts.method ?? Method.BINDING, class: "request", transactionId, attributes }, { fingerprint: opts.fingerprint ?? false });
  return { transactionId, bytes };
};

describe("UDP answers are no bigger than the request, except the essential part (RFC 5780 server on 127.0.0.1 + 127.0.0.2)", { timeout: 15_000 }, () => {
  let server: StunServer;
  const rows: string[] = [];
  before(async () => {
    server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
  });
  after(async () => {
    await server.close();
    process.stdout.write(`# UDP answer sizes (bytes in -> bytes out):\n${rows.map((r) => `#   ${r}\n`).join("")}`);
  });
  // XOR-MAPPED-ADDRESS + OTHER-ADDRESS over IPv4.
  const ESSENTIAL = 20 + 12 + 12;

  const cases: Array<{ name: string; attrs: StunAttribute[]; fingerprint?: boolean; method?: number; want: (m: DecodedStunMessage, size: number, reqSize: number) => void }> = [
    {
      name: "bare Binding (20 B, what most clients send)",
      attrs: [],
      want: (m, size) => {
        assert.equal(m.class, "success");
        assert.ok(getAttribute(m, "XOR-MAPPED-ADDRESS") && getAttribute(m, "OTHER-ADDRESS"), "essential part kept");
        assert.equal(size, ESSENTIAL, "only the essential part");
      },
    },
    {
      name: "p2pnode client's Binding (SOFTWARE + FINGERPRINT, 40 B)",
      attrs: [{ type: "SOFTWARE", value: "p2pnode" }],
      fingerprint: true,
      want: (m, size) => {
        assert.equal(m.class, "success");
        assert.ok(getAttribute(m, "OTHER-ADDRESS"), "an RFC 5780 client still learns the alternate address");
        assert.equal(size, ESSENTIAL);
      },
    },
    {
      name: "CHANGE-REQUEST ip+port (28 B)",
      attrs: [{ type: "CHANGE-REQUEST", value: { changeIp: true, changePort: true } }],
      want: (m, size) => {
        assert.equal(m.class, "success");
        assert.equal(size, ESSENTIAL);
      },
    },
    {
      name: "Binding padded with PADDING to 100 B: everything, within the request",
      attrs: [pad(76)],
      want: (m, size, reqSize) => {
        assert.equal(m.class, "success", "PADDING is understood (no 420)");
        for (const a of ["XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "RESPONSE-ORIGIN", "OTHER-ADDRESS", "SOFTWARE"] as const) assert.ok(getAttribute(m, a) !== undefined, a);
        assert.ok(m.hasFingerprint);
        assert.ok(size <= reqSize);
      },
    },
    {
      name: "Binding padded to 60 B: RESPONSE-ORIGIN next, then what fits",
      attrs: [pad(36)],
      want: (m, size, reqSize) => {
        assert.equal(m.class, "success");
        assert.ok(getAttribute(m, "RESPONSE-ORIGIN"));
        assert.ok(size <= reqSize);
      },
    },
    {
      name: "unknown comprehension-required attribute (28 B): 420 cut to fit",
      attrs: [{ type: 0x7777, value: new Uint8Array(4) }],
      want: (m, size, reqSize) => {
        assert.equal(getAttribute(m, "ERROR-CODE")?.code, 420);
        assert.ok(size <= reqSize);
      },
    },
    {
      name: "another method (Allocate, 40 B): 400 cut to fit",
      attrs: [{ type: "SOFTWARE", value: "p2pnode" }],
      method: Method.ALLOCATE,
      fingerprint: true,
      want: (m, size, reqSize) => {
        assert.equal(getAttribute(m, "ERROR-CODE")?.code, 400);
        assert.ok(size <= reqSize);
      },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const p = await probe();
      try {
        const { transactionId, bytes } = request(c.attrs, { fingerprint: c.fingerprint, method: c.method });
        await p.send(server.addresses.primary, bytes);
        const reply = await p.answer(transactionId);
        rows.push(`${c.name}: ${bytes.length} -> ${reply.length} (${(reply.length / bytes.length).toFixed(2)}x)`);
        c.want(decode(reply), reply.length, bytes.length);
        assert.ok(reply.length <= Math.max(bytes.length, ESSENTIAL), `${reply.length} bytes for a ${bytes.length}-byte request`);
      } finally {
        await p.close();
      }
    });
  }

  it("RESPONSE-PORT: the answer goes to the other port only when it fits in the request; else a 400 that fits, to the asking port", async () => {
    const asker = await probe();
    const target = await probe();
    try {
      // unpadded: 28 bytes in
      const small = request([{ type: "RESPONSE-PORT", value: target.port }]);
      await asker.send(server.addresses.primary, small.bytes);
      const err = await asker.answer(small.transactionId);
      rows.push(`RESPONSE-PORT unpadded: ${small.bytes.length} -> ${err.length} (${(err.length / small.bytes.length).toFixed(2)}x, a 400 to the asking port)`);
      assert.equal(getAttribute(decode(err), "ERROR-CODE")?.code, 400);
      assert.ok(err.length <= small.bytes.length);
      // padded to 100 bytes: the whole answer, to the other port
      const big = request([{ type: "RESPONSE-PORT", value: target.port }, pad(68)]);
      await asker.send(server.addresses.primary, big.bytes);
      const ok = await target.answer(big.transactionId);
      rows.push(`RESPONSE-PORT padded: ${big.bytes.length} -> ${ok.length} (${(ok.length / big.bytes.length).toFixed(2)}x, to the response port)`);
      assert.equal(decode(ok).class, "success");
      assert.ok(ok.length <= big.bytes.length);
      assert.equal(target.got.has(hexId(small.transactionId)), false, "the unpadded one never went to the other port");
    } finally {
      await asker.close();
      await target.close();
    }
  });
});

describe("UDP answer sizes on ::1 (no alternate IP: no OTHER-ADDRESS)", { timeout: 15_000 }, () => {
  it("bare Binding: XOR-MAPPED-ADDRESS alone (44 B); CHANGE-REQUEST change-IP: a 420 no bigger than the request", async () => {
    const server = await StunServer.listen({ host: "::1", port: 0, altPort: 0, tcp: false });
    const p = await probe("::1");
    try {
      const bare = request([]);
      await p.send(server.addresses.primary, bare.bytes);
      const a = await p.answer(bare.transactionId);
      assert.equal(a.length, 20 + 24);
      assert.deepEqual(decode(a).attributes.map((x) => x.type), ["XOR-MAPPED-ADDRESS"]);
      const cr = request([{ type: "CHANGE-REQUEST", value: { changeIp: true, changePort: false } }]);
      await p.send(server.addresses.primary, cr.bytes);
      const e = await p.answer(cr.transactionId);
      assert.equal(getAttribute(decode(e), "ERROR-CODE")?.code, 420);
      assert.ok(e.length <= cr.bytes.length, `${e.length} <= ${cr.bytes.length}`);
    } finally {
      await p.close();
      await server.close();
    }
  });
});

describe("strictUdpSize: never a byte more than the request", { timeout: 15_000 }, () => {
  it("a request too small for the essential part gets nothing; a padded one gets the answer", async () => {
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0, strictUdpSize: true });
    const p = await probe();
    try {
      const bare = request([]);
      const padded = request([pad(24)]); // 48 bytes >= 44
      await p.send(server.addresses.primary, bare.bytes);
      await p.send(server.addresses.primary, padded.bytes);
      const reply = await p.answer(padded.transactionId);
      assert.ok(reply.length <= padded.bytes.length);
      // The server handles one socket's datagrams in order: the bare one was dropped, not delayed.
      assert.equal(p.got.has(hexId(bare.transactionId)), false);
      assert.equal(server.stats.udpTooSmall, 1);
    } finally {
      await p.close();
      await server.close();
    }
  });
});

describe("per-source UDP rate limit (injected clock)", { timeout: 15_000 }, () => {
  it("answers `capacity` requests, drops the next, answers again after the refill", async () => {
    let now = 0;
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, tcp: false, limits: { udp: { capacity: 3, refillPerSecond: 1 } }, now: () => now });
    const p = await probe();
    const other = await probe("127.0.0.2");
    try {
      const reqs = Array.from({ length: 4 }, () => request([]));
      for (const r of reqs) await p.send(server.addresses.primary, r.bytes);
      // A marker from another source (its own bucket), queued behind the four on the server's socket:
      // once it is answered, the four have been handled at t = 0.
      const marker = request([]);
      await other.send(server.addresses.primary, marker.bytes);
      await other.answer(marker.transactionId);
      await Promise.all(reqs.slice(0, 3).map((r) => p.answer(r.transactionId)));
      now = 1000; // one token back
      const last = request([]);
      await p.send(server.addresses.primary, last.bytes);
      await p.answer(last.transactionId);
      assert.equal(p.got.has(hexId(reqs[3].transactionId)), false, "the 4th was dropped");
      assert.equal(server.stats.udpRateLimited, 1);
      assert.equal(server.stats.udpRequests, 6);
    } finally {
      await p.close();
      await other.close();
      await server.close();
    }
  });
});

describe("dial-back / dial-port limits per source", { timeout: 15_000 }, () => {
  it("per-source rate: the connect over the limit is refused (answered without the attribute) until the bucket refills", async () => {
    const time = new FakeTime();
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, udp: false, limits: { dial: { capacity: 2, refillPerSecond: 1 } }, clock: time });
    const target = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    const port = (target.address() as net.AddressInfo).port;
    const conn = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "127.0.0.1" });
    try {
      const outcomes: boolean[] = [];
      for (let i = 0; i < 3; i++) outcomes.push((await conn.dialPort(port)).supported);
      await time.advance(999);
      outcomes.push((await conn.dialPort(port)).supported);
      await time.advance(1);
      outcomes.push((await conn.dialPort(port)).supported);
      assert.deepEqual(outcomes, [true, true, false, false, true], "one token back after exactly 1000 ms");
      assert.equal(server.stats.dialsRefused, 2);
      assert.equal(server.stats.dialBacks, 3);
    } finally {
      await conn.close();
      await new Promise<void>((r) => target.close(() => r()));
      await server.close();
    }
  });

  it("one of each kind in flight per source: a dial-port runs beside a dial-back, a new dial-back replaces the old one", async () => {
    // A long dial-back timeout: the first dial-back stays in flight until something ends it.
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, udp: false, dialBackTimeout: 60_000 });
    const conn = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "127.0.0.1" });
    // Listen on the connection's own port (as the client's dial-back does) and never close what arrives,
    // so the server's connect stays open (half-closed) after it sent its indication.
    const held: net.Socket[] = [];
    const arrivals: Array<(s: net.Socket) => void> = [];
    const listener = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => {});
      held.push(s);
      arrivals.shift()?.(s);
    });
    const arrive = () => new Promise<net.Socket>((r) => arrivals.push(r));
    await new Promise<void>((r) => listener.listen({ host: "127.0.0.1", port: conn.local.port }, r));
    const dialBack = (token: number) => conn.binding({ attributes: [{ type: "P2PNODE-DIAL-BACK", value: { token: new Uint8Array(8).fill(token), changeIp: false } }] });
    try {
      const first = arrive();
      assert.ok(getAttribute((await dialBack(1)).response, "P2PNODE-DIAL-BACK"), "first dial-back accepted");
      const a = await first;
      // A dial-port while the dial-back is in flight: performed (a node verifies its port
      // mapping while its NAT discovery runs; the lab's portmap test showed the refusal).
      const other = net.createServer((s) => s.destroy());
      await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
      const otherPort = (other.address() as net.AddressInfo).port;
      const beside = await conn.dialPort(otherPort);
      assert.equal(beside.supported, true, "dial-port performed while a dial-back is in flight");
      assert.equal(beside.connected, true);
      assert.equal(server.stats.dialsRefused, 0);
      // A second dial-back is accepted and replaces the first ...
      const second = arrive();
      assert.ok(getAttribute((await dialBack(2)).response, "P2PNODE-DIAL-BACK"), "second dial-back accepted");
      await second;
      // ... whose socket the server closed: bytes sent on it now meet a reset, and the write after
      // that fails (an open socket would just buffer them until its 60 s timeout).
      let writes = 0;
      while (!a.destroyed && writes++ < 1000) await new Promise<void>((r) => a.write("x", () => r()));
      assert.equal(a.destroyed, true, `the first dial-back's connection was reset (${writes} writes)`);
      await new Promise<void>((r) => other.close(() => r()));
      assert.equal(server.stats.dialsRefused, 0);
      assert.equal(server.stats.dialBacks, 3, "two dial-backs and a dial-port");
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => listener.close(() => r()));
      await conn.close();
      await server.close();
    }
  });
});

describe("StunServer options are validated", { timeout: 15_000 }, () => {
  const bad: Array<[string, StunServerOptions]> = [
    ["limits.udp.capacity 0", { limits: { udp: { capacity: 0, refillPerSecond: 1 } } }],
    ["limits.dial.refillPerSecond -1", { limits: { dial: { capacity: 1, refillPerSecond: -1 } } }],
    ["limits.maxSources 0", { limits: { maxSources: 0 } }],
    ["limits null", { limits: null as unknown as undefined }],
    ["maxDialBacks 0", { maxDialBacks: 0 }],
    ["dialBackTimeout 1.5", { dialBackTimeout: 1.5 }],
    ["strictUdpSize 'yes'", { strictUdpSize: "yes" as unknown as boolean }],
    ["now not a function", { now: 5 as unknown as () => number }],
    ["clock without now()", { clock: {} as unknown as { now(): number } }],
  ];
  for (const [label, opts] of bad) {
    it(`rejects ${label} with InvalidArgumentError`, async () => {
      await assert.rejects(StunServer.listen({ host: "127.0.0.1", port: 0, ...opts }), InvalidArgumentError);
    });
  }
  it("the full answer is still sent over TCP (the handshake proved the source)", async () => {
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
    const conn = await StunTcpConnection.connect(server.addresses.primary, { localAddress: "127.0.0.1" });
    try {
      const r = await conn.binding();
      assert.ok(r.responseOrigin && r.otherAddress && r.software === "p2pnode");
      assert.ok(getAttribute(r.response, "MAPPED-ADDRESS"));
      assert.equal(r.response.raw.length, encodingLength({ method: 1, class: "success", transactionId: r.response.transactionId, attributes: r.response.attributes.filter((a) => a.type !== "FINGERPRINT") }, { fingerprint: true }));
    } finally {
      await conn.close();
      await server.close();
    }
  });
});
