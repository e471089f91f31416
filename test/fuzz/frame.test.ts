// Frame header, BATCH payload, record decoder and sealed records under mutated input; encode → decode round trips.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeBatch, decodeFrame, encodeFrameHeader, FrameType, RecordDecoder } from "../../src/session/frame.ts";
import { SecureChannel } from "../../src/session/secure-channel.ts";
import { targets } from "../../fuzz/targets/frame.ts";
import { chunkSizes, chunked } from "../../fuzz/harness.ts";
import { fuzzTargets } from "./targets.ts";

const frameArb = fc.record({
  type: fc.constantFrom(FrameType.DATA, FrameType.PING, FrameType.PONG, FrameType.CLOSE, FrameType.ACK, FrameType.ERROR),
  flags: fc.nat({ max: 255 }),
  seq: fc.nat({ max: 0xffffffff }),
  ack: fc.nat({ max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
}, { noNullPrototype: true });
const encodeFrame = (f: { type: FrameType; flags: number; seq: number; ack: number; payload: Buffer }) =>
  Buffer.concat([encodeFrameHeader(f.type, f.flags, f.seq, f.ack), f.payload]);

describe("fuzz: frames and records", () => {
  fuzzTargets(targets);

  it("round trip: decodeFrame and decodeBatch give back what was encoded", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), (frames) => {
        assert.deepEqual(decodeFrame(encodeFrame(frames[0])), frames[0]);
        const payload = Buffer.concat(frames.flatMap((f) => {
          const b = encodeFrame(f);
          const len = Buffer.alloc(4);
          len.writeUInt32BE(b.length);
          return [len, b];
        }));
        assert.deepEqual(decodeBatch(payload), frames);
      }),
      { numRuns: 300 },
    );
  });

  it("round trip: sealed records, however the stream is cut, open to the same plaintexts across key updates", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 12, maxLength: 80 }), { minLength: 1, maxLength: 8 }), chunkSizes, fc.integer({ min: 1, max: 4 }), (plains, sizes, rekeyRecords) => {
        const key = [Buffer.alloc(32, 7), Buffer.alloc(32, 8)];
        const tx = new SecureChannel(key[0], key[1], { rekeyRecords });
        const rx = new SecureChannel(key[1], key[0], { rekeyRecords });
        const wire = new Uint8Array(Buffer.concat(plains.flatMap((p) => tx.seal([p]))));
        const dec = new RecordDecoder(1 << 16);
        const got = chunked(wire, sizes).flatMap((c) => dec.push(c)).map((r) => new Uint8Array(rx.open(r)));
        assert.deepEqual(got, plains);
        assert.equal(dec.buffered, 0);
      }),
      { numRuns: 200 },
    );
  });
});
