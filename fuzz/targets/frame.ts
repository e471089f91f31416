/** The pipe's wire format: frame header, BATCH payload, the record decoder, and the sealed record path the pipe runs. */
import fc from "fast-check";
import { decodeBatch, decodeFrame, encodeFrameHeader, FRAME_HEADER_LENGTH, FrameFlags, FrameType, RecordDecoder, TAG_LENGTH, type Frame } from "../../src/session/frame.ts";
import { SecureChannel } from "../../src/session/secure-channel.ts";
import { Reassembly } from "../../src/pipe/frame-reader.ts";
import { chunkSizes, chunked, fuzzBytes, type FuzzTarget } from "../harness.ts";

const frame = (type: FrameType, payload: Uint8Array | string = "", flags = 0, seq = 1, ack = 0) =>
  Buffer.concat([encodeFrameHeader(type, flags, seq, ack), Buffer.from(payload)]);
const batch = (...frames: Buffer[]) => Buffer.concat(frames.flatMap((f) => [u32(f.length), f]));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export const FRAME_SEEDS: readonly Uint8Array[] = [
  frame(FrameType.DATA, "hello", 1, 7, 3),
  frame(FrameType.DATA, Buffer.alloc(40, 0xab), 0, 0xffffffff, 0xffffffff),
  frame(FrameType.PING, Buffer.alloc(8, 1)),
  frame(FrameType.PONG, Buffer.alloc(8, 2)),
  frame(FrameType.CLOSE),
  frame(FrameType.ACK, "", 0, 0, 9),
  frame(FrameType.ERROR, Buffer.concat([Buffer.from([1]), Buffer.from("protocol")])),
  frame(FrameType.READY, '{"maxMessageSize":65536}'),
  frame(FrameType.DATA, "frag", FrameFlags.MORE | FrameFlags.TEXT, 2),
  frame(FrameType.DATA, "ment", FrameFlags.TEXT, 2),
].map((b) => new Uint8Array(b));
export const BATCH_SEEDS: readonly Uint8Array[] = [
  batch(Buffer.from(FRAME_SEEDS[0]), Buffer.from(FRAME_SEEDS[2])),
  batch(Buffer.from(FRAME_SEEDS[1])),
  batch(Buffer.from(FRAME_SEEDS[0]), Buffer.from(FRAME_SEEDS[3]), Buffer.from(FRAME_SEEDS[6]), Buffer.from(FRAME_SEEDS[4])),
].map((b) => new Uint8Array(b));
const withBatches = [...FRAME_SEEDS.slice(0, 8), ...BATCH_SEEDS.map((p) => new Uint8Array(frame(FrameType.BATCH, p)))];

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const frameDecode: FuzzTarget<Uint8Array> = {
  name: "frame.header",
  arb: fuzzBytes(withBatches, { maxRandom: 64 }),
  run: (b) => decodeFrame(buf(b)),
  throws: "typed",
  testRuns: 2000,
};

const batchDecode: FuzzTarget<Uint8Array> = {
  name: "frame.batch",
  arb: fuzzBytes(BATCH_SEEDS),
  run: (b) => decodeBatch(buf(b)),
  check: (b, r) => {
    const frames = r as ReturnType<typeof decodeBatch>;
    if (frames.length > b.length / (4 + FRAME_HEADER_LENGTH)) throw new Error(`${frames.length} frames from ${b.length} bytes`);
  },
  throws: "typed",
  testRuns: 2000,
};

// Fixed keys: a repro needs nothing but the input.
const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);
const MAX_RECORD = 4096 + FRAME_HEADER_LENGTH + TAG_LENGTH;
/** What the pipe does with received bytes (src/pipe/pipe.ts #onData/#onRecord): records → open → frame → batch. */
// A key update every 2 records (the real limit is 2^32) so mutated streams cross key changes.
const REKEY = { rekeyRecords: 2 };
function receive(stream: Uint8Array, sizes: readonly number[]): number {
  const dec = new RecordDecoder(MAX_RECORD);
  const rx = new SecureChannel(KEY_B, KEY_A, REKEY);
  const whole = new Reassembly(4096, 4); // 4: the "frag" seed's size; fragments (FrameFlags.MORE) put together, as src/pipe/frame-reader.ts does
  let frames = 0;
  const hand = (f: Frame) => {
    if (f.type === FrameType.DATA && !whole.push(f)) return;
    frames++;
  };
  for (const c of chunked(stream, sizes)) {
    for (const rec of dec.push(c)) {
      if (rec.length > MAX_RECORD) throw new Error(`record of ${rec.length} bytes passed a ${MAX_RECORD} limit`);
      const f = decodeFrame(rx.open(rec));
      for (const g of f.type === FrameType.BATCH ? decodeBatch(f.payload) : [f]) hand(g);
    }
    if (dec.buffered > MAX_RECORD + 4 + 300) throw new Error(`record decoder holds ${dec.buffered} bytes`);
    if (whole.buffered > 4096) throw new Error(`reassembly holds ${whole.buffered} bytes`);
  }
  return frames;
}
const sealAll = (plains: readonly Uint8Array[]) => {
  const tx = new SecureChannel(KEY_A, KEY_B, REKEY);
  return new Uint8Array(Buffer.concat(plains.flatMap((p) => tx.seal([p]))));
};
const FRAGMENT_SEEDS = FRAME_SEEDS.slice(8);
const RECORD_SEEDS = [sealAll(withBatches.slice(0, 3)), sealAll([withBatches[8]]), sealAll(withBatches), sealAll([...FRAGMENT_SEEDS, withBatches[0]])];

/** Bytes on the wire mutated: lengths, ciphertext, tags (almost all fail authentication, which must be a FrameError). */
const recordWire: FuzzTarget<{ wire: Uint8Array; sizes: number[] }> = {
  name: "frame.record-wire",
  arb: fc.record({ wire: fuzzBytes(RECORD_SEEDS, { maxRandom: 128 }), sizes: chunkSizes }),
  run: ({ wire, sizes }) => receive(wire, sizes),
  rejected: () => false,
  throws: "typed",
  testRuns: 1000,
  show: (i) => `chunks ${JSON.stringify(i.sizes)} wire ${Buffer.from(i.wire).toString("hex")}`,
};

/** Plaintext frames mutated, then sealed with the real keys: what an authenticated but malicious peer can send. */
const recordSealed: FuzzTarget<{ plains: Uint8Array[]; sizes: number[] }> = {
  name: "frame.record-sealed",
  arb: fc.record({ plains: fc.array(fuzzBytes([...withBatches, ...FRAGMENT_SEEDS], { maxRandom: 64 }), { minLength: 1, maxLength: 3 }), sizes: chunkSizes }),
  run: ({ plains, sizes }) => receive(sealAll(plains), sizes),
  rejected: () => false,
  throws: "typed",
  testRuns: 1000,
  show: (i) => `chunks ${JSON.stringify(i.sizes)} plaintexts ${i.plains.map((p) => Buffer.from(p).toString("hex")).join(" ")}`,
};

/**
 * One full-size record delivered one byte per chunk (a peer writing 1-byte
 * TCP segments). Each input is one record of up to 1 MiB: the runner's hang
 * watchdog and per-input time catch a decoder whose cost grows faster than
 * the bytes. Runner only (one input can take seconds).
 */
const TRICKLE_MAX = 1 << 20;
const recordTrickle: FuzzTarget<number> = {
  name: "frame.record-trickle",
  arb: fc.integer({ min: 64 * 1024, max: TRICKLE_MAX }),
  run: (size) => {
    const dec = new RecordDecoder(TRICKLE_MAX);
    const rec = Buffer.alloc(4 + size);
    rec.writeUInt32BE(size, 0);
    let n = 0;
    for (let i = 0; i < rec.length; i++) n += dec.push(rec.subarray(i, i + 1)).length;
    if (n !== 1) throw new Error(`${n} records from one`);
    return n;
  },
  throws: "typed",
  testRuns: 0,
  maxRuns: 20,
};

export const targets: FuzzTarget[] = [frameDecode, batchDecode, recordWire, recordSealed, recordTrickle];
