import assert from "node:assert/strict";
import { test } from "node:test";
import { StunFramer } from "../../src/stun/framer.ts";
import { decodeChannelData, encodeChannelData, looksLikeChannelData } from "../../src/turn/channel-data.ts";

test("ChannelData round trip over UDP (no padding) and TCP (padded to 4, length unpadded)", () => {
  for (const n of [0, 1, 3, 4, 5, 1200]) {
    const data = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
    const udp = encodeChannelData(0x4001, data, false);
    const tcp = encodeChannelData(0x4fff, data, true);
    assert.equal(udp.length, 4 + n);
    assert.equal(tcp.length % 4, 0);
    assert.equal(tcp.length, 4 + Math.ceil(n / 4) * 4);
    assert.deepEqual(decodeChannelData(udp), { channel: 0x4001, data });
    assert.deepEqual(decodeChannelData(tcp), { channel: 0x4fff, data });
    assert.ok(looksLikeChannelData(udp));
  }
});

test("hostile ChannelData is a ProtocolError: short, channel out of range, length past the end", () => {
  for (const bytes of [[0x40, 0x00, 0x00], [0x50, 0x00, 0x00, 0x00], [0x3f, 0xff, 0x00, 0x00], [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4]]) {
    assert.throws(() => decodeChannelData(Uint8Array.from(bytes)), { code: "P2P_ERR_PROTOCOL" }, JSON.stringify(bytes));
  }
  assert.throws(() => encodeChannelData(0x3fff, new Uint8Array(1), false), RangeError);
  assert.throws(() => encodeChannelData(0x4000, new Uint8Array(0x10000), false), RangeError);
});

test("the TCP framer splits padded ChannelData from STUN and hands back exact frames", () => {
  const f = new StunFramer();
  const a = encodeChannelData(0x4000, Uint8Array.of(9, 8, 7), true);
  const b = encodeChannelData(0x4002, Uint8Array.of(1, 2, 3, 4, 5), true);
  const joined = Buffer.concat([a, b]);
  const frames = [...f.push(joined.subarray(0, 5)), ...f.push(joined.subarray(5))];
  assert.deepEqual(frames.map((x) => x.kind), ["channel-data", "channel-data"]);
  assert.deepEqual(frames.map((x) => [...decodeChannelData(x.bytes).data]), [[9, 8, 7], [1, 2, 3, 4, 5]]);
  assert.equal(f.buffered, 0);
});
