/**
 * RFC 3489 (no magic cookie) Binding requests, RFC 8489 §12.2: the decoder
 * takes them only when asked to and only as a well-formed Binding request; the
 * embedded server answers them with MAPPED-ADDRESS / SOURCE-ADDRESS /
 * CHANGED-ADDRESS within the same UDP budget and rate limit as any request.
 * Plus RESPONSE-PORT (RFC 5780 §7.5) as coturn's client sends it.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { after, before, describe, it } from "node:test";
import { StunError } from "../../src/errors.ts";
import { decode, encode, getAttribute, newTransactionId, type DecodedStunMessage, type StunAttribute } from "../../src/stun/codec.ts";
import { StunServer } from "../../src/stun/server.ts";

/** An RFC 3489 message: type, length, 16-byte transaction id, attributes as raw TLVs. */
function legacy(type: number, tlvs: Array<[number, Uint8Array]>, id: Uint8Array = randomBytes(16)): Buffer {
  const body = Buffer.concat(tlvs.map(([t, v]) => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(t, 0);
    h.writeUInt16BE(v.length, 2);
    return Buffer.concat([h, v, Buffer.alloc((4 - (v.length % 4)) % 4)]);
  }));
  const head = Buffer.alloc(20);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(body.length, 2);
  head.set(id.subarray(0, 16), 4);
  // Never the magic cookie by accident.
  if (head.readUInt32BE(4) === 0x2112a442) head[4] ^= 1;
  return Buffer.concat([head, body]);
}
const changeRequest = (flags: number): [number, Uint8Array] => [0x0003, Uint8Array.of(0, 0, 0, flags)];

describe("codec: RFC 3489 requests", () => {
  it("decoded only with { legacy: true }, keeping the 4 cookie bytes of the 128-bit transaction id", () => {
    const bytes = legacy(0x0001, [changeRequest(0)]);
    assert.throws(() => decode(bytes), (e: unknown) => e instanceof StunError && /magic cookie/.test((e as Error).message));
    const m = decode(bytes, { legacy: true });
    assert.equal(m.class, "request");
    assert.deepEqual(m.legacyCookie, new Uint8Array(bytes.subarray(4, 8)));
    assert.deepEqual(m.transactionId, new Uint8Array(bytes.subarray(8, 20)));
    assert.deepEqual(getAttribute(m, "CHANGE-REQUEST"), { changeIp: false, changePort: false });
  });

  it("anything else without the cookie is still refused: other types, bad lengths, bad attributes", () => {
    const bad: Array<[string, Buffer]> = [
      ["a Binding success (answers are never legacy)", legacy(0x0101, [])],
      ["Shared Secret request (RFC 3489 §8)", legacy(0x0002, [])],
      ["an indication", legacy(0x0011, [])],
      ["a CHANGE-REQUEST of 3 bytes", legacy(0x0001, [[0x0003, Uint8Array.of(0, 0, 0)]])],
      ["a MAPPED-ADDRESS of unknown family", legacy(0x0001, [[0x0001, Uint8Array.of(0, 9, 0, 1, 1, 2, 3, 4)]])],
    ];
    const odd = legacy(0x0001, [changeRequest(0)]);
    odd.writeUInt16BE(6, 2);
    bad.push(["length not a multiple of 4", odd]);
    bad.push(["length past the datagram", Buffer.concat([legacy(0x0001, [changeRequest(0)]), Buffer.alloc(4)])]);
    const top = legacy(0x0001, []);
    top[0] = 0x40;
    bad.push(["leading bits set", top]);
    for (const [what, b] of bad) assert.throws(() => decode(b, { legacy: true }), StunError, what);
  });

  it("fuzz: with { legacy: true } any input, and any mutation of an RFC 3489 request, decodes or throws StunError only; a decoded cookie-less one is always a Binding request", () => {
    const seed = legacy(0x0001, [changeRequest(6), [0x0006, Buffer.from("user")]]);
    const check = (b: Uint8Array) => {
      try {
        const m = decode(b, { legacy: true });
        if (m.legacyCookie) assert.ok(m.method === 1 && m.class === "request");
      } catch (e) {
        assert.ok(e instanceof StunError, String(e));
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => check(b)), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(seed.length), (edits, cut) => {
        const b = new Uint8Array(seed);
        for (const [i, v] of edits) b[i] = v;
        check(b.subarray(0, cut));
        check(b);
      }),
      { numRuns: 2000 },
    );
  });

  it("encode writes the legacy cookie back, and refuses XOR-* addresses next to it", () => {
    const cookie = Uint8Array.of(1, 2, 3, 4);
    const out = encode({ method: 1, class: "success", transactionId: newTransactionId(), legacyCookie: cookie, attributes: [{ type: "MAPPED-ADDRESS", value: { family: 4, address: "127.0.0.1", port: 9 } }] });
    assert.deepEqual(out.subarray(4, 8), cookie);
    assert.throws(() => encode({ method: 1, class: "success", transactionId: newTransactionId(), legacyCookie: cookie, attributes: [{ type: "XOR-MAPPED-ADDRESS", value: { family: 4, address: "127.0.0.1", port: 9 } }] }), StunError);
  });
});

async function probe() {
  const sock = dgram.createSocket("udp4");
  const got: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  sock.on("message", (m) => (waiters.length ? waiters.shift()!(m) : got.push(m)));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  return {
    port: sock.address().port,
    send: (b: Uint8Array, port: number) => new Promise<void>((r) => sock.send(b, port, "127.0.0.1", () => r())),
    /** The next datagram, or undefined after `ms`. */
    next: (ms = 500) => new Promise<Buffer | undefined>((resolve) => {
      if (got.length) return resolve(got.shift());
      const t = setTimeout(() => resolve(undefined), ms);
      waiters.push((b) => {
        clearTimeout(t);
        resolve(b);
      });
    }),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

describe("embedded server: RFC 3489 requests and RESPONSE-PORT over UDP (127.0.0.1 + 127.0.0.2)", { timeout: 15_000 }, () => {
  let server: StunServer;
  let P1: number;
  let P2: number;
  before(async () => {
    server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0, tcp: false, limits: { udp: { capacity: 40, refillPerSecond: 0.001 } } });
    P1 = server.addresses.primary.port;
    P2 = server.addresses.other!.port;
  });
  after(() => server.close());

  // Our decoder takes no legacy answers (clients never want them): read one by putting the cookie in.
  const answer = (b: Buffer | undefined): DecodedStunMessage => {
    assert.ok(b, "an answer");
    const copy = Buffer.from(b);
    copy.writeUInt32BE(0x2112a442, 4);
    return decode(copy);
  };

  it("answers with MAPPED-ADDRESS and CHANGED-ADDRESS (essential), no XOR-*, SOFTWARE or FINGERPRINT, the same 128-bit id", async () => {
    const p = await probe();
    try {
      const req = legacy(0x0001, [changeRequest(0)]);
      await p.send(req, P1);
      const raw = await p.next();
      const m = answer(raw);
      assert.equal(m.class, "success");
      assert.deepEqual(raw!.subarray(4, 20), req.subarray(4, 20), "whole transaction id echoed");
      assert.deepEqual(getAttribute(m, "MAPPED-ADDRESS"), { family: 4, address: "127.0.0.1", port: p.port });
      assert.deepEqual(getAttribute(m, "CHANGED-ADDRESS"), { family: 4, address: "127.0.0.2", port: P2 });
      for (const a of ["XOR-MAPPED-ADDRESS", "OTHER-ADDRESS", "SOFTWARE", "FINGERPRINT"] as const) assert.equal(getAttribute(m, a), undefined, a);
      // 28 bytes in; the essential part (44) is the one exception to the request-size budget, as for RFC 5389 requests.
      assert.equal(raw!.length, 44);
    } finally {
      await p.close();
    }
  });

  it("a padded request also gets SOURCE-ADDRESS, and never more than its size", async () => {
    const p = await probe();
    try {
      const req = legacy(0x0001, [changeRequest(0), [0x0026, new Uint8Array(40)]]);
      await p.send(req, P1);
      const raw = await p.next();
      const m = answer(raw);
      assert.deepEqual(getAttribute(m, "SOURCE-ADDRESS"), { family: 4, address: "127.0.0.1", port: P1 });
      assert.ok(raw!.length <= req.length);
    } finally {
      await p.close();
    }
  });

  for (const [flags, from] of [[4, "127.0.0.2:P1"], [2, "127.0.0.1:P2"], [6, "127.0.0.2:P2"]] as const) {
    it(`CHANGE-REQUEST ${flags}: answered from ${from}`, async () => {
      const sock = dgram.createSocket("udp4");
      try {
        await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
        const got = new Promise<[Buffer, dgram.RemoteInfo]>((r) => sock.once("message", (m, ri) => r([m, ri])));
        sock.send(legacy(0x0001, [changeRequest(flags)]), P1, "127.0.0.1");
        const [m, ri] = await got;
        assert.equal(`${ri.address}:${ri.port}`, from.replace("P1", String(P1)).replace("P2", String(P2)));
        assert.equal(answer(m).class, "success");
      } finally {
        sock.close();
      }
    });
  }

  it("RESPONSE-ADDRESS (RFC 3489's reflection to any address) is refused with a 420 that fits, to the sender", async () => {
    const p = await probe();
    try {
      // Padded, so UNKNOWN-ATTRIBUTES fits too (a bare ERROR-CODE would be 28 bytes).
      const req = legacy(0x0001, [[0x0002, Uint8Array.of(0, 1, 0x0d, 0x96, 127, 0, 0, 1)], [0x0026, new Uint8Array(16)]]);
      await p.send(req, P1);
      const raw = await p.next();
      const m = answer(raw);
      assert.equal(getAttribute(m, "ERROR-CODE")?.code, 420);
      assert.deepEqual(getAttribute(m, "UNKNOWN-ATTRIBUTES"), [0x0002]);
      assert.ok(raw!.length <= req.length);
      assert.deepEqual(raw!.subarray(4, 8), req.subarray(4, 8));
    } finally {
      await p.close();
    }
  });

  it("garbage without the cookie is dropped and counted, never answered", async () => {
    const p = await probe();
    try {
      const malformed = server.stats.malformed;
      await p.send(legacy(0x0101, []), P1);
      await p.send(legacy(0x0001, [[0x0003, Uint8Array.of(1)]]), P1);
      await p.send(Buffer.from("GET / HTTP/1.0\r\n\r\n"), P1);
      assert.equal(await p.next(300), undefined);
      assert.equal(server.stats.malformed - malformed, 3);
    } finally {
      await p.close();
    }
  });

  const rfc5389 = (attrs: StunAttribute[]) => {
    const transactionId = newTransactionId();
    return { transactionId, bytes: encode({ method: 1, class: "request", transactionId, attributes: attrs }) };
  };

  it("RESPONSE-PORT + CHANGE-REQUEST in 36 bytes (coturn's client): the mapped address alone, to the response port, within 36 bytes", async () => {
    const asker = await probe();
    const target = await probe();
    try {
      const r = rfc5389([{ type: "RESPONSE-PORT", value: target.port }, { type: "CHANGE-REQUEST", value: { changeIp: true, changePort: true } }]);
      assert.equal(r.bytes.length, 36);
      await asker.send(r.bytes, P1);
      const raw = await target.next();
      assert.ok(raw, "answered on the response port");
      const m = decode(raw);
      assert.equal(m.class, "success");
      assert.deepEqual(getAttribute(m, "XOR-MAPPED-ADDRESS"), { family: 4, address: "127.0.0.1", port: asker.port });
      assert.ok(raw.length <= r.bytes.length, `${raw.length} bytes to a port that never sent us anything`);
      assert.equal(await asker.next(200), undefined, "nothing to the asking port");
    } finally {
      await asker.close();
      await target.close();
    }
  });

  it("RESPONSE-PORT 0 gets a 400 to the asking port (the socket would throw on port 0)", async () => {
    const p = await probe();
    try {
      const r = rfc5389([{ type: "RESPONSE-PORT", value: 0 }, { type: 0x0026, value: new Uint8Array(80) }]);
      await p.send(r.bytes, P1);
      const m = decode((await p.next())!);
      assert.equal(getAttribute(m, "ERROR-CODE")?.code, 400);
      // and the server is still up
      await p.send(rfc5389([]).bytes, P1);
      assert.equal(decode((await p.next())!).class, "success");
    } finally {
      await p.close();
    }
  });

  it("RFC 3489 requests share the per-source rate limit", async () => {
    const p = await probe();
    try {
      const limited = server.stats.udpRateLimited;
      for (let i = 0; i < 60; i++) await p.send(legacy(0x0001, [changeRequest(0)]), P1);
      // The datagrams reach the server in their own time: wait for the count to move (bounded).
      for (let i = 0; i < 500 && server.stats.udpRateLimited === limited; i++) await new Promise((r) => setImmediate(r));
      for (let i = 0; i < 100 && server.stats.udpRateLimited === limited; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(server.stats.udpRateLimited - limited > 0, "some were dropped");
    } finally {
      await p.close();
    }
  });
});
