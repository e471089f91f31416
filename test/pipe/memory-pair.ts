/**
 * Test helpers: two Pipes (or a Pipe and a raw record-level peer) over an
 * in-memory transport pair, on FakeTime — no sockets, no real timers.
 */
import { randomBytes } from "node:crypto";
import { Identity } from "../../src/identity/identity.ts";
import { memoryTransportPair, type MemoryTransport, type MemoryTransportOptions } from "../../src/pipe/memory-transport.ts";
import type { PipeOptions } from "../../src/pipe/options.ts";
import { Pipe, type Dispatcher } from "../../src/pipe/pipe.ts";
import { decodeBatch, decodeFrame, RecordDecoder, type Frame } from "../../src/session/frame.ts";
import { FrameType } from "../../src/session/frame.ts";
import type { HandshakeResult } from "../../src/session/handshake.ts";
import { SecureChannel } from "../../src/session/secure-channel.ts";
import { FakeTime } from "../../src/util/clock.ts";

const alice = Identity.generate();
const bob = Identity.generate();

/** The two sessions a handshake between alice (initiator) and bob would give, with fresh keys. */
export function sessionPair(maxA = 4 * 1024 * 1024, maxB = 4 * 1024 * 1024): [HandshakeResult, HandshakeResult] {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const shared = { binding: randomBytes(32), resumeKey: randomBytes(32) }; // as a handshake gives both sides
  return [
    { remoteId: bob.id, remoteParams: { maxMessageSize: maxB }, channel: new SecureChannel(k1, k2), leftover: Buffer.alloc(0), ...shared },
    { remoteId: alice.id, remoteParams: { maxMessageSize: maxA }, channel: new SecureChannel(k2, k1), leftover: Buffer.alloc(0), ...shared },
  ];
}

export interface PairOptions {
  a?: Partial<PipeOptions>;
  b?: Partial<PipeOptions>;
  transport?: MemoryTransportOptions;
  /** The node callbacks of b (b is the inbound side). */
  dispatch?: Dispatcher;
  /** Share one FakeTime between several pairs (default: a fresh one). */
  time?: FakeTime;
}

/** a (initiator, outbound) and b (responder, inbound) over memory, sharing one FakeTime. */
export function pipePair(o: PairOptions = {}) {
  const time = o.time ?? new FakeTime();
  const [ta, tb] = memoryTransportPair(o.transport);
  const [sa, sb] = sessionPair(o.a?.maxMessageSize, o.b?.maxMessageSize);
  const common = { strategy: "memory", clock: time, timers: time };
  const a = new Pipe({ ...common, transport: ta, session: sa, role: "initiator", inbound: false, options: o.a });
  const b = new Pipe({ ...common, transport: tb, session: sb, role: "responder", inbound: true, options: o.b, dispatch: o.dispatch });
  return { time, a, b, ta, tb };
}

/**
 * A Pipe whose peer is raw: the test reads every frame the pipe writes (BATCHes
 * unpacked, each tagged with its record's index) and writes records itself.
 */
export function rawPair(o: { pipe?: Partial<PipeOptions>; transport?: MemoryTransportOptions } = {}) {
  const time = new FakeTime();
  const [ta, tb] = memoryTransportPair(o.transport);
  const [sa, sb] = sessionPair(o.pipe?.maxMessageSize);
  const pipe = new Pipe({ transport: ta, session: sa, role: "initiator", inbound: false, strategy: "memory", clock: time, timers: time, options: o.pipe });
  const frames: Array<Frame & { record: number }> = [];
  const dec = new RecordDecoder(64 * 1024 * 1024);
  let records = 0;
  tb.on("data", (chunk) => {
    for (const body of dec.push(chunk)) {
      const f = decodeFrame(sb.channel.open(body));
      const record = records++;
      for (const g of f.type === FrameType.BATCH ? decodeBatch(f.payload) : [f]) frames.push({ ...g, record });
    }
  });
  tb.on("error", () => {});
  const write = (plain: Buffer[]) => tb.write(sb.channel.seal(plain));
  return { time, pipe, peer: tb as MemoryTransport, frames, write };
}

/** A promise's state right now, without awaiting it (after pending microtasks ran). */
export function track<T>(p: Promise<T>) {
  const s: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (v) => Object.assign(s, { settled: true, value: v }),
    (e) => Object.assign(s, { settled: true, error: e }),
  );
  return s;
}
