import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clockEstimate,
  parseAckWire,
  parseGetAddrReply,
  parsePing,
  parsePong,
  parseReplyWire,
  parseRequestWire,
  parseReverseConnect,
} from "../../src/signaling/messages.ts";

const ID = "ab".repeat(16);
const TOKEN = Buffer.alloc(16, 1).toString("base64url");

test("messages: wire body validators, table", () => {
  const rows: Array<[string, () => unknown, unknown]> = [
    ["request ok", () => parseRequestWire({ replyTo: ["mqtt://a.example:1883"], body: { x: 1 } }), { replyTo: ["mqtt://a.example:1883"], body: { x: 1 } }],
    ["request without body", () => parseRequestWire({ replyTo: [] }), null],
    ["request replyTo not strings", () => parseRequestWire({ replyTo: [1], body: null }), null],
    ["request too many replyTo", () => parseRequestWire({ replyTo: Array(17).fill("mqtt://a"), body: null }), null],
    ["ack ok", () => parseAckWire({ re: ID }), { re: ID }],
    ["ack bad id", () => parseAckWire({ re: "xyz" }), null],
    ["reply ok", () => parseReplyWire({ re: ID, ok: true, body: 5 }), { re: ID, ok: true, body: 5 }],
    ["reply error", () => parseReplyWire({ re: ID, ok: false, error: { code: 4, message: "no" } }), { re: ID, ok: false, error: { code: 4, message: "no" } }],
    ["reply error without code", () => parseReplyWire({ re: ID, ok: false, error: { message: "no" } }), null],
    ["reply array", () => parseReplyWire([ID]), null],
  ];
  for (const [name, fn, want] of rows) assert.deepEqual(fn(), want, name);
});

test("messages: built-in bodies come from peers: they validate or throw ProtocolError", () => {
  assert.deepEqual(parsePing({ t0: 5 }), { t0: 5 });
  assert.deepEqual(parsePong({ t0: 1, t1: 2, t2: 3 }), { t0: 1, t1: 2, t2: 3 });
  assert.deepEqual(parseGetAddrReply({ address: "p2p1:x" }), { address: "p2p1:x" });
  assert.deepEqual(parseReverseConnect({ address: "p2p1:x", token: TOKEN }), { address: "p2p1:x", token: TOKEN });
  const resume = "0123456789abcdef0123456789abcdef";
  assert.deepEqual(parseReverseConnect({ address: "p2p1:x", token: TOKEN, resume }), { address: "p2p1:x", token: TOKEN, resume });
  const bad: Array<() => unknown> = [
    () => parsePing({ t0: -1 }),
    () => parsePing({ t0: 1.5 }),
    () => parsePong({ t0: 1, t1: 2 }),
    () => parseGetAddrReply({ address: "" }),
    () => parseReverseConnect({ address: "p2p1:x", token: "short" }),
    () => parseReverseConnect({ address: "p2p1:x", token: Buffer.alloc(65).toString("base64url") }),
    () => parseReverseConnect({ token: TOKEN }),
    () => parseReverseConnect({ address: "p2p1:x", token: TOKEN, resume: "0123" }),
    () => parseReverseConnect({ address: "p2p1:x", token: TOKEN, resume: "0123456789ABCDEF0123456789ABCDEF" }),
    () => parseReverseConnect({ address: "p2p1:x", token: TOKEN, resume: 5 }),
  ];
  for (const fn of bad) assert.throws(fn, { code: "P2P_ERR_PROTOCOL" });
});

test("messages: NTP-style clock estimate, scenario table", () => {
  // [t0, t1, t2, t3] → rtt, offset (peer minus us)
  const rows: Array<[[number, number, number, number], number, number]> = [
    [[1000, 1005, 1005, 1010], 10, 0], // same clock, 5 ms each way
    [[1000, 1505, 1506, 1011], 10, 500], // peer 500 ms ahead, 1 ms processing
    [[1000, 605, 605, 1010], 10, -400], // peer 400 ms behind
  ];
  for (const [[t0, t1, t2, t3], rtt, offset] of rows) assert.deepEqual(clockEstimate({ t0, t1, t2 }, t3), { rttMs: rtt, offsetMs: offset });
});
