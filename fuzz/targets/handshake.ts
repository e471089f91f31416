/**
 * The pipe handshake (src/session/handshake.ts). Its message decoders (header check,
 * ephemeral key, sealed identity payload, params JSON, the first record) are
 * private and reachable only through `handshake()` on a stream, so this runs
 * the real initiator and responder over an in-memory duplex pair (no socket)
 * and mutates one write in flight, as a man in the middle would. When both
 * sides go quiet the streams are ended, so a side waiting for bytes that will
 * never come fails at once instead of at its timer.
 */
import fc from "fast-check";
import { Duplex } from "node:stream";
import { setImmediate as tick } from "node:timers/promises";
import { handshake, type HandshakeResult } from "../../src/session/handshake.ts";
import { mutate, mutationArb, type Mutation, type FuzzTarget } from "../harness.ts";
import { fixedIdentity, WEAK_KEYS } from "../keys.ts";

const INITIATOR = fixedIdentity(3);
const RESPONDER = fixedIdentity(4);

/** One direction of the in-memory link; `tamper` sees each write (its index in this direction) and may replace it. */
class End extends Duplex {
  peer?: End;
  writes = 0;
  activity = 0;
  constructor(readonly tamper: (index: number, chunk: Uint8Array) => Uint8Array | null) {
    super();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const out = this.tamper(this.writes++, chunk);
    this.activity++;
    if (out && out.length && this.peer && !this.peer.readableEnded) this.peer.push(Buffer.from(out));
    cb();
  }
}

export interface MitmInput {
  /** 0: initiator → responder (HELLO, FINISH); 1: responder → initiator (REPLY, READY record parts). */
  dir: 0 | 1;
  /** Which write of that direction to tamper with. */
  index: number;
  /** Drop the write and everything after it in that direction (a cut connection). */
  cut: boolean;
  ops: Mutation[];
  /** Bytes sent before the real first write (a peer that is not a p2pnode). */
  junk: Uint8Array;
  /** Responder expects a specific initiator id (the initiator always expects the responder's). */
  expectId: boolean;
  params: unknown;
}

const HELLO_LIKE = [Uint8Array.of(0, 34, 1, 1), Uint8Array.of(1, 2), Uint8Array.of(1, 3), Uint8Array.of(0xff, 0xff), Uint8Array.of(0, 0), ...WEAK_KEYS];

export async function mitm(i: MitmInput): Promise<{ initiator: HandshakeResult | Error; responder: HandshakeResult | Error }> {
  let stopped = false;
  const tamper = (dir: 0 | 1) => (index: number, chunk: Uint8Array) => {
    if (dir !== i.dir) return chunk;
    if (stopped || (i.cut && index >= i.index)) {
      stopped = true;
      return null;
    }
    let out = chunk;
    if (index === 0 && i.junk.length) out = Buffer.concat([i.junk, out]);
    if (index === i.index) out = mutate(out, i.ops, [chunk], HELLO_LIKE);
    return out;
  };
  const a = new End(tamper(0));
  const b = new End(tamper(1));
  a.peer = b;
  b.peer = a;
  const settle = <T>(p: Promise<T>) => p.then((v) => v, (e: Error) => e);
  let done = 0;
  const ini = settle(handshake(a, { identity: INITIATOR, role: "initiator", params: { maxMessageSize: 65536, strategy: "direct" }, expectedRemoteId: RESPONDER.id, timeout: 60_000 })).finally(() => done++);
  const res = settle(
    handshake(b, {
      identity: RESPONDER,
      role: "responder",
      params: i.params as { maxMessageSize: number },
      expectedRemoteId: i.expectId ? INITIATOR.id : undefined,
      accept: () => true,
      timeout: 60_000,
    }),
  ).finally(() => done++);
  // Quiescence: no write for a whole event-loop turn and someone still waiting → end both directions.
  for (let seen = -1; done < 2; ) {
    await tick();
    const now = a.activity + b.activity;
    if (now === seen && done < 2) {
      a.push(null);
      b.push(null);
      break;
    }
    seen = now;
  }
  const [initiator, responder] = await Promise.all([ini, res]);
  return { initiator, responder };
}

const mitmArb: fc.Arbitrary<MitmInput> = fc.record({
  dir: fc.constantFrom(0 as const, 1 as const),
  index: fc.nat({ max: 4 }),
  cut: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
  ops: fc.array(mutationArb(1, HELLO_LIKE.length), { minLength: 0, maxLength: 3 }),
  junk: fc.oneof({ arbitrary: fc.constant(new Uint8Array(0)), weight: 8 }, { arbitrary: fc.uint8Array({ maxLength: 40 }), weight: 1 }),
  expectId: fc.boolean(),
  params: fc.oneof({ arbitrary: fc.constant({ maxMessageSize: 65536 }), weight: 6 }, { arbitrary: fc.record({ maxMessageSize: fc.oneof(fc.nat(), fc.constant(2 ** 53)), strategy: fc.string(), token: fc.string({ maxLength: 300 }) }), weight: 1 }),
});

const handshakeMitm: FuzzTarget<MitmInput> = {
  name: "handshake.mitm",
  arb: mitmArb,
  run: async (i) => {
    const r = await mitm(i);
    // Either side's failure must be typed; success needs both to agree on identities.
    for (const side of [r.initiator, r.responder]) if (side instanceof Error) throw side;
    const ini = r.initiator as HandshakeResult;
    const res = r.responder as HandshakeResult;
    if (ini.remoteId !== RESPONDER.id || res.remoteId !== INITIATOR.id) throw new Error("handshake succeeded with the wrong identities");
    return r;
  },
  throws: "typed",
  testRuns: 150,
  show: (i) => JSON.stringify({ ...i, junk: Buffer.from(i.junk).toString("hex"), ops: i.ops.map((o) => ("bytes" in o ? { ...o, bytes: Buffer.from(o.bytes).toString("hex") } : o)) }),
};

export const targets: FuzzTarget[] = [handshakeMitm];
