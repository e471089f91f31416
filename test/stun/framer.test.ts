import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StunError } from "../../src/errors.ts";
import { decode, encode, Method } from "../../src/stun/codec.ts";
import { StunFramer } from "../../src/stun/framer.ts";
import { hex, SAMPLE_REQUEST, SAMPLE_V4_RESPONSE, SAMPLE_V6_RESPONSE, TXID } from "./vectors.ts";

const cat = (...bs: Uint8Array[]) => Uint8Array.from(Buffer.concat(bs));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// Two STUN messages, a ChannelData frame of 5 bytes (padded to 12 on TCP), and a bare STUN header.
const CHANNEL = hex("4000 0005 0102030405 000000");
const EMPTY = encode({ method: Method.BINDING, class: "indication", transactionId: TXID, attributes: [] });
const STREAM = cat(SAMPLE_REQUEST, SAMPLE_V4_RESPONSE, CHANNEL, EMPTY, SAMPLE_V6_RESPONSE);
const WANT = [toHex(SAMPLE_REQUEST), toHex(SAMPLE_V4_RESPONSE), "40000005" + "0102030405", toHex(EMPTY), toHex(SAMPLE_V6_RESPONSE)];

function run(chunks: Uint8Array[]): string[] {
  const f = new StunFramer();
  const out: string[] = [];
  for (const c of chunks) for (const fr of f.push(c)) out.push(toHex(fr.bytes));
  assert.equal(f.buffered, 0);
  return out;
}

describe("StunFramer (RFC 8489 §6.2.2 over TCP)", () => {
  it("whole stream in one chunk", () => assert.deepEqual(run([STREAM]), WANT));

  it("every single split point", () => {
    for (let i = 0; i <= STREAM.length; i++) {
      assert.deepEqual(run([STREAM.subarray(0, i), STREAM.subarray(i)]), WANT, `split at ${i}`);
    }
  });

  it("every pair of split points", () => {
    const n = STREAM.length;
    for (let i = 0; i <= n; i += 1) {
      for (let j = i; j <= n; j += 3) {
        assert.deepEqual(run([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)]), WANT, `split at ${i},${j}`);
      }
    }
  });

  it("one byte at a time", () => {
    assert.deepEqual(run([...STREAM].map((b) => Uint8Array.of(b))), WANT);
  });

  it("frames decode as STUN and report their kind", () => {
    const frames = new StunFramer().push(STREAM);
    assert.deepEqual(frames.map((f) => f.kind), ["stun", "stun", "channel-data", "stun", "stun"]);
    for (const f of frames) if (f.kind === "stun") decode(f.bytes);
  });

  it("holds a partial frame", () => {
    const f = new StunFramer();
    assert.deepEqual(f.push(SAMPLE_REQUEST.subarray(0, 30)), []);
    assert.equal(f.buffered, 30);
  });

  const bad: Array<[string, string]> = [
    ["TLS record", "16030100200000000000000000000000"],
    ["HTTP POST (0x50: past the channel range)", Buffer.from("POST / HTTP/1.1\r\n\r\n").toString("hex")],
    ["bad cookie", "000100000000000011111111111111111111111111"],
    ["length not /4", "00010005"],
  ];
  for (const [name, h] of bad) {
    it(`garbage: ${name} -> StunError, then stays failed`, () => {
      const f = new StunFramer();
      assert.throws(() => f.push(hex(h)), StunError);
      assert.throws(() => f.push(SAMPLE_REQUEST), StunError);
    });
  }
});
