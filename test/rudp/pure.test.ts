import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NewReno } from "../../src/rudp/congestion.ts";
import { decodePacket, encodePacket, FLAG_DATA, FLAG_FIN, MAX_ACK_SACK, MAX_DATAGRAM, MAX_PAYLOAD, MAX_SACK, type Packet } from "../../src/rudp/packet.ts";
import { Receiver } from "../../src/rudp/receiver.ts";
import { RtoEstimator } from "../../src/rudp/rto.ts";

const KEY = new Uint8Array(32).fill(1);
const data = (seq: number, payload = Buffer.from(`p${seq}`)): Packet => ({ flags: FLAG_DATA, connId: 5, seq, ack: 1, window: 10, sack: [], payload });

describe("packet codec", () => {
  test("round trip with SACK ranges; a full packet fits MAX_DATAGRAM", () => {
    const p: Packet = { flags: FLAG_DATA, connId: 5, seq: 9, ack: 3, window: 100, sack: [{ first: 10, end: 12 }, { first: 5, end: 7 }], payload: new Uint8Array(MAX_PAYLOAD).fill(3) };
    const buf = encodePacket({ ...p, sack: [...p.sack, { first: 1, end: 2 }, { first: 20, end: 30 }] }, KEY);
    assert.ok(buf.length <= MAX_DATAGRAM, `${buf.length} bytes`);
    const r = decodePacket(buf, KEY, 5);
    assert.ok(r.ok);
    assert.equal(r.packet.sack.length, MAX_SACK);
    assert.deepEqual([...r.packet.payload!], [...p.payload!]);
    const ack = encodePacket({ flags: 0, connId: 5, seq: 0, ack: 3, window: 1, sack: Array.from({ length: 40 }, (_, i) => ({ first: 10 + 3 * i, end: 11 + 3 * i })) }, KEY);
    const ra = decodePacket(ack, KEY, 5);
    assert.ok(ra.ok && ra.packet.sack.length === MAX_ACK_SACK);
  });
  test("every single-bit flip is refused by the tag; wrong key, connection, version and shapes are refused by name", () => {
    const buf = encodePacket(data(1), KEY);
    for (let i = 0; i < buf.length * 8; i++) {
      const b = buf.slice();
      b[i >> 3] ^= 1 << (i & 7);
      assert.equal(decodePacket(b, KEY, 5).ok, false, `bit ${i}`);
    }
    assert.deepEqual(decodePacket(buf, new Uint8Array(32), 5), { ok: false, reason: "tag" });
    assert.deepEqual(decodePacket(buf, KEY, 6), { ok: false, reason: "conn" });
    assert.deepEqual(decodePacket(buf.subarray(0, 20), KEY, 5), { ok: false, reason: "short" });
    const cases: Array<[string, Packet]> = [
      ["data with seq 0", { ...data(0) }],
      ["FIN with seq 0", { flags: FLAG_FIN, connId: 5, seq: 0, ack: 1, window: 1, sack: [] }],
      ["empty SACK range", { flags: 0, connId: 5, seq: 0, ack: 1, window: 1, sack: [{ first: 4, end: 4 }] }],
      ["unknown flag", { flags: 64, connId: 5, seq: 1, ack: 1, window: 1, sack: [] }],
    ];
    for (const [name, p] of cases) assert.deepEqual(decodePacket(encodePacket(p, KEY), KEY, 5), { ok: false, reason: "malformed" }, name);
  });
});

describe("RTO (RFC 6298)", () => {
  test("first sample, smoothing, clamps and backoff", () => {
    const r = new RtoEstimator({ minMs: 200, maxMs: 60_000 });
    assert.equal(r.rto, 1000, "before any sample");
    r.sample(100);
    assert.deepEqual([r.srtt, r.rttvar, r.rto], [100, 50, 300]);
    r.sample(100);
    assert.deepEqual([r.srtt, r.rttvar, r.rto], [100, 37.5, 250]);
    for (let i = 0; i < 50; i++) r.sample(10);
    assert.equal(r.rto, 200, "clamped to the minimum");
    r.backoff();
    r.backoff();
    assert.deepEqual([r.rto, r.timeouts], [800, 2]);
    for (let i = 0; i < 20; i++) r.backoff();
    assert.equal(r.rto, 60_000, "clamped to the maximum");
    r.sample(10);
    assert.equal(r.timeouts, 0, "a valid sample resets the backoff");
  });
});

describe("NewReno", () => {
  test("slow start, congestion avoidance, one halving per window, timeout to one packet", () => {
    const c = new NewReno({ initialWindow: 4, minWindow: 2 });
    c.onAck(4, 5);
    assert.equal(c.cwnd, 8, "slow start: +1 per acked packet");
    assert.equal(c.onLoss(8, 12), true);
    assert.deepEqual([c.cwnd, c.ssthresh, c.inRecovery], [4, 4, true]);
    assert.equal(c.onLoss(4, 12), false, "a second loss in the same window does not halve again");
    c.onAck(1, 10);
    assert.equal(c.inRecovery, true);
    c.onAck(1, 13);
    assert.equal(c.inRecovery, false);
    c.onAck(4, 17);
    assert.equal(c.cwnd, 5, "avoidance: +1 per window");
    c.onTimeout(5);
    assert.deepEqual([c.cwnd, c.ssthresh], [1, 2]);
    assert.equal(c.canSend(0), true);
    assert.equal(c.canSend(1), false);
  });
});

describe("Receiver", () => {
  test("in order, a gap with SACK ranges, duplicates, the window, pause and FIN", () => {
    const got: string[] = [];
    const r = new Receiver(4, (b) => got.push(Buffer.from(b).toString()));
    assert.equal(r.accept(data(1), false), "in-order");
    assert.equal(r.accept(data(3), false), "out-of-order");
    assert.equal(r.accept(data(5), false), "out-of-order");
    assert.deepEqual(r.sackRanges(), [{ first: 5, end: 6 }, { first: 3, end: 4 }]);
    assert.equal(r.window(), 4, "held-out-of-order packets lie inside the window");
    assert.equal(r.accept(data(3), false), "duplicate");
    assert.equal(r.accept(data(1), false), "duplicate");
    assert.equal(r.accept(data(2 + 4), false), "beyond-window");
    assert.equal(r.accept(data(2), false), "out-of-order", "fills the first gap; 5 still waits above 4");
    assert.deepEqual(got, ["p1", "p2", "p3"]);
    r.pause();
    r.accept(data(4), false);
    assert.deepEqual(got, ["p1", "p2", "p3"], "held while paused");
    assert.equal(r.accept({ flags: FLAG_FIN, connId: 5, seq: 6, ack: 1, window: 1, sack: [] }, true), "in-order");
    assert.equal(r.ended, false, "not ended while data is held");
    for (const b of r.resume()) got.push(Buffer.from(b).toString());
    assert.deepEqual(got, ["p1", "p2", "p3", "p4", "p5"]);
    assert.equal(r.ended, true);
    assert.equal(r.next, 7);
  });
});
