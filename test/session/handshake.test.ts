import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, it } from "node:test";
import { generateKeyPairSync } from "node:crypto";
import { AbortError, HandshakeError, InvalidArgumentError, PeerIdentityError, RefusedError, TimeoutError } from "../../src/errors.ts";
import { FrameType, RecordDecoder, decodeFrame, encodeFrameHeader } from "../../src/session/frame.ts";
import { handshake, type HandshakeOptions, type HandshakeResult } from "../../src/session/handshake.ts";
import { Identity } from "../../src/identity/identity.ts";
import { FakeTime } from "../../src/util/clock.ts";

const alice = Identity.generate(); // initiator
const bob = Identity.generate(); // responder
const mallory = Identity.generate();

// ---- real loopback sockets, all closed after each test ----
const sockets = new Set<net.Socket>();
const servers = new Set<net.Server>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([...servers].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  for (const s of sockets) assert.ok(s.destroyed, "socket closed");
  sockets.clear();
  servers.clear();
});

function track(s: net.Socket): net.Socket {
  sockets.add(s);
  s.on("error", () => {}); // failures surface through the handshake under test
  return s;
}

/** A connected TCP pair on 127.0.0.1: [dialler's socket, acceptor's socket]. */
async function tcpPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  servers.add(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", (s) => r(track(s))));
  const client = track(net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, allowHalfOpen: true }));
  await new Promise<void>((r, j) => client.once("connect", r).once("error", j));
  return [client, await accepted];
}

const initiatorOpts = (over: Partial<HandshakeOptions> = {}): HandshakeOptions => ({
  identity: alice,
  role: "initiator",
  params: { maxMessageSize: 1000, strategy: "direct", token: "tok-123" },
  expectedRemoteId: bob.id,
  timeout: 2000,
  ...over,
});
const responderOpts = (over: Partial<HandshakeOptions> = {}): HandshakeOptions => ({
  identity: bob,
  role: "responder",
  params: { maxMessageSize: 2000 },
  timeout: 2000,
  ...over,
});

/** A promise's outcome, readable at any time (settled stays false until it settles). */
function tracked<T>(p: Promise<T>) {
  const s: { settled: boolean; ok?: boolean; value?: T; error?: Error } = { settled: false };
  p.then(
    (value) => Object.assign(s, { settled: true, ok: true, value }),
    (error: Error) => Object.assign(s, { settled: true, ok: false, error }),
  );
  return s;
}

/** Settles a promise into a value we can assert on without unhandled rejections. */
const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: Error) => ({ ok: false as const, error }));

function assertErr(r: { ok?: boolean; error?: Error }, type: new (...a: never[]) => Error, re?: RegExp, label = ""): void {
  assert.equal(r.ok, false, `${label}: expected ${type.name}, got success`);
  assert.ok(r.error instanceof type, `${label}: expected ${type.name}, got ${r.error?.name}: ${r.error?.message}`);
  if (re) assert.match(r.error!.message, re, label);
}

/** Reads `n` records from a socket after a handshake, starting with its leftover bytes. */
function readRecords(sock: net.Socket, result: HandshakeResult, n: number): Promise<Buffer[]> {
  const dec = new RecordDecoder(1 << 16);
  const out: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      try {
        for (const body of dec.push(chunk)) out.push(decodeFrame(result.channel.open(body)).payload);
      } catch (err) {
        reject(err);
      }
      if (out.length >= n) {
        sock.off("data", onData);
        resolve(out);
      }
    };
    sock.on("data", onData);
    if (result.leftover.length) onData(result.leftover);
  });
}

const dataRecord = (r: HandshakeResult, text: string) => r.channel.seal([encodeFrameHeader(FrameType.DATA, 0, 1, 0), Buffer.from(text)]);

/** 2-byte length + body, as handshake messages are framed. */
const framed = (body: Buffer) => Buffer.concat([Buffer.from([body.length >> 8, body.length & 0xff]), body]);

describe("handshake over loopback TCP", () => {
  it("succeeds: both sides learn each other's id and params; records flow both ways", async () => {
    const [c, s] = await tcpPair();
    let accepted: unknown;
    const [ri, rr] = await Promise.all([
      handshake(c, initiatorOpts()),
      handshake(s, responderOpts({ expectedRemoteId: alice.id, accept: (id, params) => ((accepted = { id, params }), true) })),
    ]);
    assert.equal(ri.remoteId, bob.id);
    assert.deepEqual(ri.remoteParams, { maxMessageSize: 2000, strategy: undefined, token: undefined });
    assert.equal(rr.remoteId, alice.id);
    assert.deepEqual(rr.remoteParams, { maxMessageSize: 1000, strategy: "direct", token: "tok-123" });
    assert.deepEqual(accepted, { id: alice.id, params: rr.remoteParams });

    const fromBob = readRecords(c, ri, 2);
    const fromAlice = readRecords(s, rr, 1);
    for (const b of dataRecord(rr, "hello alice")) s.write(b);
    for (const b of dataRecord(rr, "again")) s.write(b);
    for (const b of dataRecord(ri, "hello bob")) c.write(b);
    assert.deepEqual((await fromBob).map(String), ["hello alice", "again"]);
    assert.deepEqual((await fromAlice).map(String), ["hello bob"]);
  });

  it("bytes that arrive with READY are handed back as the initiator's leftover", async () => {
    const [c, s] = await tcpPair();
    // Cork the responder just before it writes READY (accept runs right before), so READY and the
    // first record leave in one write and reach the initiator in one chunk.
    const [ri, rr] = await Promise.all([handshake(c, initiatorOpts()), handshake(s, responderOpts({ accept: () => (s.cork(), true) })).then((r) => {
      for (const b of dataRecord(r, "first record")) s.write(b);
      s.uncork();
      return r;
    })]);
    assert.ok(ri.leftover.length > 0, "leftover holds the first record");
    assert.deepEqual((await readRecords(c, ri, 1)).map(String), ["first record"]);
    assert.equal(rr.leftover.length, 0);
  });

  it("bytes sent right after FINISH are handed back as the responder's leftover", async () => {
    const [c, s] = await tcpPair();
    const extra = Buffer.from("EARLY-BYTES-FROM-THE-INITIATOR");
    // Wrap the initiator's write: FINISH (its 2nd write) goes out corked together with extra bytes.
    const write = c.write.bind(c) as (b: Buffer) => boolean;
    let writes = 0;
    c.write = ((b: Buffer) => {
      if (++writes !== 2) return write(b);
      c.cork();
      write(b);
      const ok = write(extra);
      c.uncork();
      return ok;
    }) as typeof c.write;
    const [, rr] = await Promise.all([handshake(c, initiatorOpts()), handshake(s, responderOpts())]);
    const got: Buffer[] = [rr.leftover];
    while (Buffer.concat(got).length < extra.length) got.push(await new Promise<Buffer>((r) => s.once("data", r)));
    assert.deepEqual(Buffer.concat(got), extra);
    assert.ok(rr.leftover.length > 0);
  });

  it("expectedRemoteId mismatch on the initiator: PeerIdentityError, and FINISH is never sent", async () => {
    const [c, s] = await tcpPair();
    const responder = settle(handshake(s, responderOpts({ timeout: 500 })));
    const initiator = await settle(handshake(c, initiatorOpts({ expectedRemoteId: mallory.id })));
    assertErr(initiator, PeerIdentityError, new RegExp(`proved identity ${bob.id}, but the address names ${mallory.id}`));
    assert.equal(c.bytesWritten, 2 + 34, "only HELLO was written: the initiator's identity was not revealed");
    // The caller destroys the socket on failure; the responder must not succeed.
    c.destroy();
    assertErr(await responder, HandshakeError, /closed the connection during the handshake/);
  });

  it("expectedRemoteId mismatch on the initiator: the responder times out if the socket stays open", async () => {
    const [c, s] = await tcpPair();
    const time = new FakeTime();
    const r = tracked(handshake(s, responderOpts({ timeout: 300, timers: time })));
    assertErr(await settle(handshake(c, initiatorOpts({ expectedRemoteId: mallory.id }))), PeerIdentityError);
    await time.advance(299);
    assert.equal(r.settled, false, "still waiting for FINISH");
    await time.advance(1);
    assertErr(r, TimeoutError, /within 300 ms/);
  });

  it("expectedRemoteId mismatch on the responder: PeerIdentityError there, RefusedError on the initiator", async () => {
    const [c, s] = await tcpPair();
    let consulted = false;
    const [i, r] = await Promise.all([
      settle(handshake(c, initiatorOpts())),
      settle(handshake(s, responderOpts({ expectedRemoteId: mallory.id, accept: () => ((consulted = true), true) }))),
    ]);
    assertErr(r, PeerIdentityError, new RegExp(`proved identity ${alice.id}`));
    assertErr(i, RefusedError);
    assert.equal(consulted, false, "accept is not consulted for the wrong peer");
  });

  for (const [label, accept] of [
    ["false", () => false],
    ["Promise<false>", async () => false],
  ] as const) {
    it(`accept returning ${label}: RefusedError on both sides`, async () => {
      const [c, s] = await tcpPair();
      const [i, r] = await Promise.all([settle(handshake(c, initiatorOpts())), settle(handshake(s, responderOpts({ accept })))]);
      assertErr(i, RefusedError, /refused/);
      assertErr(r, RefusedError, new RegExp(alice.id));
    });
  }

  it("the initiator needs no expectedRemoteId; the responder needs no accept", async () => {
    const [c, s] = await tcpPair();
    const [ri, rr] = await Promise.all([handshake(c, initiatorOpts({ expectedRemoteId: undefined })), handshake(s, responderOpts())]);
    assert.equal(ri.remoteId, bob.id);
    assert.equal(rr.remoteId, alice.id);
  });
});

describe("handshake: malformed peers", () => {
  /** Responder under test, fed raw bytes by a fake initiator. */
  async function responderGets(bytes: Buffer, timeout = 1000) {
    const [c, s] = await tcpPair();
    const r = settle(handshake(s, responderOpts({ timeout })));
    c.write(bytes);
    return r;
  }
  /** Initiator under test, answered by a fake responder that reads HELLO and replies `reply`. */
  async function initiatorGets(reply: Buffer, timeout = 1000) {
    const [c, s] = await tcpPair();
    s.once("data", () => s.write(reply));
    return settle(handshake(c, initiatorOpts({ timeout })));
  }
  const hello = (version = 1, type = 1, key: Buffer = Buffer.alloc(32, 9)) => framed(Buffer.concat([Buffer.from([version, type]), key]));

  it("responder: garbage, wrong version, wrong type, bad lengths -> HandshakeError", async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ["HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), /invalid length 18245/],
      ["TLS ClientHello", Buffer.from("16030100c8010000c40303", "hex"), /invalid length 5635/],
      ["length 0xffff", Buffer.from([0xff, 0xff, 1, 1]), /invalid length 65535/],
      ["length 2049", Buffer.from([0x08, 0x01]), /invalid length 2049/],
      ["length 0", Buffer.from([0, 0]), /invalid length 0/],
      ["length 1", Buffer.from([0, 1, 1]), /invalid length 1/],
      ["short hello", framed(Buffer.from([1, 1, 2, 3])), /wrong length/],
      ["long hello", framed(Buffer.concat([Buffer.from([1, 1]), Buffer.alloc(33, 9)])), /wrong length/],
      ["version 2", hello(2), /version 2/],
      ["version 0", hello(0), /version 0/],
      ["REPLY instead of HELLO", hello(1, 2), /expected handshake message HELLO, got type 2/],
      ["low-order ephemeral key", hello(1, 1, Buffer.alloc(32)), /ephemeral key/],
    ];
    for (const [label, bytes, re] of cases) assertErr(await responderGets(bytes), HandshakeError, re, label);
  });

  it("responder: a FINISH that does not authenticate -> HandshakeError", async () => {
    const [c, s] = await tcpPair();
    const r = settle(handshake(s, responderOpts()));
    // A real HELLO from a throwaway initiator, then a forged FINISH.
    const eph = (await import("node:crypto")).generateKeyPairSync("x25519").publicKey.export({ format: "der", type: "spki" }).subarray(12);
    c.write(hello(1, 1, Buffer.from(eph)));
    await new Promise((res) => c.once("data", res));
    c.write(framed(Buffer.concat([Buffer.from([1, 3]), Buffer.alloc(200, 7)])));
    assertErr(await r, HandshakeError, /failed authentication/);
  });

  it("initiator: garbage, wrong version, wrong type, short or forged reply -> HandshakeError", async () => {
    const reply = (version: number, type: number, rest: Buffer) => framed(Buffer.concat([Buffer.from([version, type]), rest]));
    const cases: Array<[string, Buffer, RegExp]> = [
      ["HTTP response", Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"), /invalid length/],
      ["length 0xffff", Buffer.from([0xff, 0xff]), /invalid length 65535/],
      ["too short", reply(1, 2, Buffer.alloc(10)), /reply too short/],
      ["version 9", reply(9, 2, Buffer.alloc(100, 1)), /version 9/],
      ["HELLO instead of REPLY", reply(1, 1, Buffer.alloc(100, 1)), /expected handshake message REPLY/],
      ["forged payload", reply(1, 2, Buffer.alloc(200, 1)), /failed authentication/],
      ["low-order ephemeral key", reply(1, 2, Buffer.alloc(200, 0)), /ephemeral key/],
    ];
    for (const [label, bytes, re] of cases) assertErr(await initiatorGets(bytes), HandshakeError, re, label);
  });

  it("a silent peer -> TimeoutError within the timeout (both roles)", async () => {
    for (const role of ["initiator", "responder"] as const) {
      const [c] = await tcpPair(); // the other end never writes
      const time = new FakeTime();
      const opts = { timeout: 250, firstMessageTimeout: 1000, timers: time };
      const r = tracked(handshake(c, role === "initiator" ? initiatorOpts(opts) : responderOpts(opts)));
      await time.advance(249);
      assert.equal(r.settled, false, `${role}: not before the timeout`);
      await time.advance(1);
      assertErr(r, TimeoutError, /did not complete within 250 ms/, role);
      assert.equal(time.pending, 0, `${role}: no timer left`);
    }
  });

  it("a peer that closes mid-handshake -> HandshakeError (end, destroy, after a partial message)", async () => {
    const closers: Array<[string, (s: net.Socket) => void]> = [
      ["end", (s) => s.end()],
      ["destroy", (s) => s.destroy()],
      ["partial then end", (s) => s.end(Buffer.from([0x00, 0x60, 1, 2, 3]))],
      ["reset", (s) => s.resetAndDestroy()],
    ];
    for (const [label, close] of closers) {
      const [c, s] = await tcpPair();
      s.once("data", () => close(s));
      // Fake timers that never advance: the failure cannot be the timeout's.
      assertErr(await settle(handshake(c, initiatorOpts({ timeout: 3000, timers: new FakeTime() }))), HandshakeError, undefined, label);
    }
    // responder side: the initiator sends half a HELLO and leaves
    const [c, s] = await tcpPair();
    const r = settle(handshake(s, responderOpts({ timeout: 3000 })));
    c.end(hello().subarray(0, 10));
    assertErr(await r, HandshakeError, /closed the connection during the handshake/);
  });

  it("AbortSignal: aborting mid-handshake or before it starts -> AbortError", async () => {
    const [c] = await tcpPair();
    const ctrl = new AbortController();
    const time = new FakeTime();
    const p = settle(handshake(c, initiatorOpts({ signal: ctrl.signal, timeout: 5000, timers: time })));
    await new Promise<void>((r) => c.write(Buffer.alloc(0), () => r())); // HELLO is out: mid-handshake
    assert.equal(c.bytesWritten, 2 + 34);
    const why = new Error("caller gave up");
    ctrl.abort(why);
    const r = await p;
    assertErr(r, AbortError, /handshake aborted/);
    assert.equal(r.ok ? undefined : r.error.cause, why);
    assert.equal(time.pending, 0, "the deadline's timer was freed");

    const [c2] = await tcpPair();
    assertErr(await settle(handshake(c2, initiatorOpts({ signal: AbortSignal.abort() }))), AbortError);
    assert.equal(c2.bytesWritten, 0, "nothing written when already aborted");
    const [, s3] = await tcpPair();
    assertErr(await settle(handshake(s3, responderOpts({ signal: AbortSignal.abort() }))), AbortError);
  });

  it("a failed handshake detaches its listeners from the socket", async () => {
    const [c] = await tcpPair();
    const before = { data: c.listenerCount("data"), end: c.listenerCount("end"), close: c.listenerCount("close"), error: c.listenerCount("error") };
    const time = new FakeTime();
    const r = tracked(handshake(c, initiatorOpts({ timeout: 50, timers: time })));
    await time.advance(50);
    assertErr(r, TimeoutError);
    assert.deepEqual({ data: c.listenerCount("data"), end: c.listenerCount("end"), close: c.listenerCount("close"), error: c.listenerCount("error") }, before);
  });
});

describe("handshake: the responder's first-message deadline", () => {
  const realKey = () => Buffer.from(generateKeyPairSync("x25519").publicKey.export({ format: "der", type: "spki" }).subarray(12));
  const hello = () => framed(Buffer.concat([Buffer.from([1, 1]), realKey()]));

  it("no HELLO within firstMessageTimeout -> TimeoutError naming it, long before the overall timeout", async () => {
    const [, s] = await tcpPair();
    let told = 0;
    const time = new FakeTime();
    const r = tracked(handshake(s, responderOpts({ timeout: 60_000, firstMessageTimeout: 50, onFirstMessage: () => told++, timers: time })));
    await time.advance(49);
    assert.equal(r.settled, false);
    await time.advance(1);
    assertErr(r, TimeoutError, /first handshake message did not arrive within 50 ms/);
    assert.equal(told, 0);
    assert.equal(time.pending, 0, "the overall deadline was freed too");
  });

  it("half a HELLO is not the first message", async () => {
    const [c, s] = await tcpPair();
    const time = new FakeTime();
    const r = settle(handshake(s, responderOpts({ timeout: 60_000, firstMessageTimeout: 50, timers: time })));
    await new Promise<void>((res) => (s.once("data", () => res()), c.write(hello().subarray(0, 10))));
    await time.advance(50);
    assertErr(await r, TimeoutError, /first handshake message/);
  });

  it("once HELLO arrived only the overall timeout applies, and onFirstMessage is told once", async () => {
    const [c, s] = await tcpPair();
    let told = 0;
    const time = new FakeTime();
    const r = tracked(handshake(s, responderOpts({ timeout: 400, firstMessageTimeout: 200, onFirstMessage: () => told++, timers: time })));
    await new Promise((res) => (c.once("data", res), c.write(hello()))); // REPLY came back: HELLO was read; then never FINISH
    assert.equal(told, 1);
    await time.advance(399);
    assert.equal(r.settled, false, "past firstMessageTimeout, HELLO arrived: still waiting");
    await time.advance(1);
    assertErr(r, TimeoutError, /did not complete within 400 ms/);
    assert.equal(told, 1);
  });

  it("a full handshake with the option set; the initiator ignores it", async () => {
    const [c, s] = await tcpPair();
    let told = 0;
    const [ri, rr] = await Promise.all([
      handshake(c, initiatorOpts({ firstMessageTimeout: 1 })),
      handshake(s, responderOpts({ firstMessageTimeout: 1000, onFirstMessage: () => told++ })),
    ]);
    assert.equal(ri.remoteId, bob.id);
    assert.equal(rr.remoteId, alice.id);
    assert.equal(told, 1);
  });

  it("an invalid firstMessageTimeout -> InvalidArgumentError, nothing written", async () => {
    for (const bad of [0, -1, Number.NaN]) {
      const [c] = await tcpPair();
      await assert.rejects(handshake(c, responderOpts({ firstMessageTimeout: bad })), InvalidArgumentError, String(bad));
      assert.equal(c.bytesWritten, 0);
    }
  });
});

describe("handshake: bytes the initiator streams while accept() decides", () => {
  it("more than 64 KiB ahead of READY -> HandshakeError on the responder, nothing held", async () => {
    const [c, s] = await tcpPair();
    const junk = Buffer.alloc(1024 * 1024, 1);
    const responder = settle(
      handshake(s, responderOpts({
        accept: async () => {
          c.write(junk); // a real initiator sends nothing before READY
          while (s.bytesRead < junk.length) await once(s, "data"); // all of it reached the responder
          return true;
        },
      })),
    );
    const initiator = settle(handshake(c, initiatorOpts()));
    assertErr(await responder, HandshakeError, /more than 65536 bytes ahead of the handshake/);
    s.destroy(); // as the node does on failure
    assert.equal((await initiator).ok, false, "no READY was sent");
  });

  it("a few bytes right after FINISH are still fine (see the leftover test above)", async () => {
    const [c, s] = await tcpPair();
    const early = Buffer.alloc(1000, 2);
    const [, rr] = await Promise.all([
      handshake(c, initiatorOpts()),
      handshake(s, responderOpts({
        accept: async () => {
          const target = s.bytesRead + early.length;
          c.write(early);
          while (s.bytesRead < target) await once(s, "data"); // they arrived before READY
          return true;
        },
      })),
    ]);
    assert.deepEqual(rr.leftover, early, "held, and handed back whole as the leftover");
  });
});
