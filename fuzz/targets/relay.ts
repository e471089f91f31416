/**
 * The relay (TURN) decoders: ChannelData framing (src/turn/channel-data.ts,
 * RFC 8656 §12.4), the reliable-UDP packet carried through the relay
 * (src/rudp/packet.ts; HMAC-tagged, so mutated packets are fuzzed as they come
 * and also re-tagged with the peers' key to reach the parsing behind the tag),
 * the turn-connect signaling body (src/strategies/turn-wire.ts), turn: URIs
 * (src/turn/uri.ts) and the TURN client's handling of the server's answers
 * after STUN decoding (src/stun/credentials.ts LongTermAuth verify/challenge;
 * decoding itself is stun.decode).
 */
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { decode, encode, getAttribute, longTermKey, Method, PasswordAlgorithm, type StunMessage } from "../../src/stun/codec.ts";
import { isP2PError } from "../../src/errors.ts";
import { LongTermAuth, NONCE_COOKIE } from "../../src/stun/credentials.ts";
import { decodeChannelData, encodeChannelData, MAX_CHANNEL, MIN_CHANNEL } from "../../src/turn/channel-data.ts";
import { parseTurnUri } from "../../src/turn/uri.ts";
import { decodePacket, encodePacket, FLAG_DATA, FLAG_FIN, FLAG_RST, MAX_ACK_SACK, MAX_SACK, TAG_BYTES, type DecodeResult } from "../../src/rudp/packet.ts";
import { parseTurnConnect, type TurnConnectBody } from "../../src/strategies/turn-wire.ts";
import { fuzzBytes, fuzzJson, fuzzText, type FuzzTarget } from "../harness.ts";
import { TXID } from "../../test/stun/vectors.ts";

// ---------------------------------------------------------------- ChannelData

export const CHANNEL_SEEDS: readonly Uint8Array[] = [
  encodeChannelData(MIN_CHANNEL, new Uint8Array(0), false),
  encodeChannelData(MIN_CHANNEL, Uint8Array.of(1, 2, 3), true),
  encodeChannelData(MAX_CHANNEL, new Uint8Array(61).fill(0xab), false),
  encodeChannelData(0x4123, new Uint8Array(300).fill(7), true),
];
const CHANNEL_DICT = [Uint8Array.of(0x40, 0x00), Uint8Array.of(0x4f, 0xff), Uint8Array.of(0x50, 0x00), Uint8Array.of(0x3f, 0xff), Uint8Array.of(0xff, 0xff), Uint8Array.of(0x00, 0x00)];

const channelData: FuzzTarget<Uint8Array> = {
  name: "relay.channel-data",
  arb: fuzzBytes(CHANNEL_SEEDS, { dict: CHANNEL_DICT, maxRandom: 80 }),
  run: (b) => decodeChannelData(b),
  check: (b, r) => {
    const cd = r as ReturnType<typeof decodeChannelData>;
    if (cd.channel < MIN_CHANNEL || cd.channel > MAX_CHANNEL) throw new Error(`accepted channel 0x${cd.channel.toString(16)}`);
    if (cd.data.length !== ((b[2] << 8) | b[3])) throw new Error("data length is not the header's");
    if (cd.data.buffer !== b.buffer || cd.data.byteOffset !== b.byteOffset + 4) throw new Error("data is not the view after the header");
  },
  throws: "typed",
  testRuns: 2000,
};

// ---------------------------------------------------------------- reliable-UDP packets

export const RUDP_KEY = new Uint8Array(32).fill(0x42);
export const RUDP_CONN = 0x1234abcd;
const OTHER_KEY = new Uint8Array(32).fill(0x43);
const sacks = (n: number) => Array.from({ length: n }, (_, i) => ({ first: 100 + i * 10, end: 105 + i * 10 }));
export const RUDP_SEEDS: readonly Uint8Array[] = [
  encodePacket({ flags: FLAG_DATA, connId: RUDP_CONN, seq: 1, ack: 1, window: 64, sack: [], payload: Uint8Array.of(1, 2, 3, 4, 5) }, RUDP_KEY),
  encodePacket({ flags: FLAG_DATA, connId: RUDP_CONN, seq: 77, ack: 12, window: 0, sack: sacks(MAX_SACK), payload: new Uint8Array(100).fill(9) }, RUDP_KEY),
  encodePacket({ flags: 0, connId: RUDP_CONN, seq: 0, ack: 99, window: 0xffffffff, sack: sacks(MAX_ACK_SACK) }, RUDP_KEY),
  encodePacket({ flags: FLAG_FIN, connId: RUDP_CONN, seq: 5, ack: 5, window: 1, sack: [] }, RUDP_KEY),
  encodePacket({ flags: FLAG_RST, connId: RUDP_CONN, seq: 0, ack: 0, window: 0, sack: [] }, RUDP_KEY),
  encodePacket({ flags: FLAG_DATA | FLAG_FIN, connId: RUDP_CONN, seq: 0xffffffff, ack: 0, window: 8, sack: sacks(1), payload: new Uint8Array(0) }, RUDP_KEY),
  encodePacket({ flags: FLAG_DATA, connId: RUDP_CONN, seq: 3, ack: 1, window: 64, sack: [], payload: Uint8Array.of(1) }, OTHER_KEY),
];
const RUDP_DICT = [Uint8Array.of(1), Uint8Array.of(0, 4), Uint8Array.of(0, 32), Uint8Array.of(0, 33), Uint8Array.of(0xff, 0xff), Uint8Array.of(0x12, 0x34, 0xab, 0xcd), Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0xff, 0xff, 0xff, 0xff)];
const REASONS = new Set(["short", "version", "tag", "malformed", "conn"]);

const retag = (body: Uint8Array, key: Uint8Array) => new Uint8Array(Buffer.concat([body, createHmac("sha256", key).update(body).digest().subarray(0, TAG_BYTES)]));

/** An accepted packet must re-encode to exactly the input (the tag covers every byte, and there is one encoding); a refusal names a known reason. */
function checkPacket(b: Uint8Array, r: unknown): void {
  const res = r as DecodeResult;
  if (!res.ok) return;
  const p = res.packet;
  if (p.connId !== RUDP_CONN) throw new Error(`accepted connection id ${p.connId}`);
  if ((p.flags & ~(FLAG_DATA | FLAG_FIN | FLAG_RST)) !== 0) throw new Error(`accepted flags ${p.flags}`);
  if (p.sack.length > (p.payload ? MAX_SACK : MAX_ACK_SACK)) throw new Error(`accepted ${p.sack.length} SACK ranges`);
  for (const s of p.sack) if (!(s.end > s.first)) throw new Error(`accepted SACK range ${s.first}–${s.end}`);
  if ((p.flags & (FLAG_DATA | FLAG_FIN)) !== 0 && p.seq === 0) throw new Error("accepted DATA/FIN with seq 0");
  if (Buffer.compare(encodePacket(p, RUDP_KEY), b) !== 0) throw new Error("accepted packet does not re-encode to its bytes");
}
const refused = (r: unknown) => {
  const res = r as DecodeResult;
  if (!res || typeof res !== "object" || typeof res.ok !== "boolean") throw new Error(`decodePacket returned ${String(r)}`);
  if (!res.ok && !REASONS.has(res.reason)) throw new Error(`unknown refusal reason ${String(res.reason)}`);
  return !res.ok;
};

/** The datagram as it comes off the relay: anything but the seeds fails the tag (or length) check. */
const rudpPacket: FuzzTarget<Uint8Array> = {
  name: "relay.rudp-packet",
  arb: fuzzBytes(RUDP_SEEDS, { dict: RUDP_DICT, maxRandom: 200 }),
  run: (b) => decodePacket(b, RUDP_KEY, RUDP_CONN),
  rejected: refused,
  check: checkPacket,
  throws: "never",
  testRuns: 2000,
};

/**
 * Mutated packet bodies re-tagged with the peers' key: what a buggy or hostile
 * peer that holds the key can send, and the only way random bytes reach the
 * parsing after the tag. `wrongKey` tags with another key (must be "tag").
 */
const rudpTagged: FuzzTarget<{ body: Uint8Array; wrongKey: boolean }> = {
  name: "relay.rudp-packet-tagged",
  arb: fc.record({
    body: fuzzBytes(RUDP_SEEDS.map((s) => s.subarray(0, s.length - TAG_BYTES)), { dict: RUDP_DICT, maxRandom: 200 }),
    wrongKey: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
  }),
  run: ({ body, wrongKey }) => decodePacket(retag(body, wrongKey ? OTHER_KEY : RUDP_KEY), RUDP_KEY, RUDP_CONN),
  check: ({ body, wrongKey }, r) => {
    if (wrongKey) throw new Error("accepted a packet tagged with another key");
    checkPacket(retag(body, RUDP_KEY), r);
  },
  rejected: refused,
  throws: "never",
  testRuns: 2000,
  show: (i) => `wrongKey ${i.wrongKey} body ${Buffer.from(i.body).toString("hex")}`,
};

// ---------------------------------------------------------------- turn-connect body

const KEY64 = Buffer.alloc(32, 7).toString("base64url");
export const TURN_CONNECT_SEEDS: readonly unknown[] = [
  { address: "p2pn1" + "a".repeat(80), token: "WlpaWlpaWlpaWlpaWlpaWg", relay: { ip: "203.0.113.7", port: 49152, transport: "udp" }, key: KEY64, connId: 0x1234abcd },
  { address: "p2pn1" + "b".repeat(40), token: Buffer.alloc(64, 1).toString("base64url"), relay: { ip: "2001:db8::7", port: 65535, transport: "tcp" } },
  { address: "x", token: "AAAAAAAAAAAAAAAAAAAAAA", relay: { ip: "198.51.100.1", port: 1, transport: "udp" }, key: KEY64, connId: 0 },
];
const turnConnect: FuzzTarget<unknown> = {
  name: "relay.turn-connect",
  arb: fuzzJson(TURN_CONNECT_SEEDS, { keys: ["address", "token", "relay", "ip", "port", "transport", "key", "connId"] }),
  run: (v) => parseTurnConnect(v),
  check: (_v, r) => {
    const b = r as TurnConnectBody;
    if (typeof b.address !== "string" || !b.address || typeof b.token !== "string") throw new Error("accepted a body without address or token");
    if (!Number.isInteger(b.relay.port) || b.relay.port < 1 || b.relay.port > 65535) throw new Error(`accepted port ${b.relay.port}`);
    if (b.relay.transport !== "udp" && b.relay.transport !== "tcp") throw new Error(`accepted transport ${String(b.relay.transport)}`);
    if (b.relay.transport === "udp" && (Buffer.from(b.key ?? "", "base64url").length !== 32 || !Number.isInteger(b.connId))) throw new Error("accepted a UDP body without a 32-byte key and connId");
    if (b.relay.transport === "tcp" && (b.key !== undefined || b.connId !== undefined)) throw new Error("a TCP body carries a key");
  },
  throws: "typed",
  testRuns: 1000,
};

// ---------------------------------------------------------------- turn: URIs

const turnUri: FuzzTarget<string> = {
  name: "relay.turn-uri",
  arb: fuzzText(["turn:relay.example.org", "turn:192.0.2.1:3478?transport=tcp", "turns:[2001:db8::1]:5349", "TURN:host-1.example:1?transport=UDP", "turns:relay.example?transport=tcp", " turn:[::1] "]),
  run: (s) => parseTurnUri(s),
  throws: "typed",
  check: (_s, r) => {
    const u = r as ReturnType<typeof parseTurnUri>;
    const again = parseTurnUri(u.uri);
    if (again.uri !== u.uri || again.host !== u.host || again.port !== u.port || again.transport !== u.transport || again.secure !== u.secure) throw new Error(`canonical form ${u.uri} does not parse to itself`);
    if (/[@/#\s]/.test(u.uri)) throw new Error(`canonical form ${JSON.stringify(u.uri)} carries userinfo, a path or spaces`);
  },
  testRuns: 1000,
};

// ---------------------------------------------------------------- the TURN client's answer handling

const USER = "alice";
const PASS = "secret";
const REALM = "example.org";
const md5Key = longTermKey(USER, REALM, PASS, "md5");
const shaKey = longTermKey(USER, REALM, PASS, "sha256");
const algs = [{ algorithm: PasswordAlgorithm.SHA256, parameters: new Uint8Array(0) }, { algorithm: PasswordAlgorithm.MD5, parameters: new Uint8Array(0) }];
const err = (code: number, attrs: StunMessage["attributes"]): StunMessage => ({ method: Method.ALLOCATE, class: "error", transactionId: TXID, attributes: [{ type: "ERROR-CODE", value: { code, reason: "x" } }, ...attrs] });
const ok: StunMessage = { method: Method.ALLOCATE, class: "success", transactionId: TXID, attributes: [{ type: "XOR-RELAYED-ADDRESS", value: { family: 4, address: "203.0.113.1", port: 50000 } }, { type: "LIFETIME", value: 600 }] };
export const AUTH_SEEDS: readonly Uint8Array[] = [
  encode(err(401, [{ type: "REALM", value: REALM }, { type: "NONCE", value: "abcdef" }]), { fingerprint: true }),
  encode(err(401, [{ type: "REALM", value: REALM }, { type: "NONCE", value: `${NONCE_COOKIE}gAAAxyz` }, { type: "PASSWORD-ALGORITHMS", value: algs }]), { fingerprint: true }),
  encode(err(401, [{ type: "REALM", value: REALM }, { type: "NONCE", value: `${NONCE_COOKIE}AAABxyz` }])),
  encode(err(438, [{ type: "REALM", value: REALM }, { type: "NONCE", value: "fresh" }]), { integrityKey: md5Key }),
  encode(err(438, [{ type: "NONCE", value: `${NONCE_COOKIE}AAAAq` }, { type: "PASSWORD-ALGORITHMS", value: algs }]), { integritySha256Key: shaKey }),
  encode(ok, { integrityKey: md5Key, fingerprint: true }),
  encode(ok, { integritySha256Key: shaKey, fingerprint: true }),
  encode(ok, { integrityKey: md5Key, integritySha256Key: shaKey }),
  encode(err(403, [])),
];
const AUTH_DICT = [Buffer.from(NONCE_COOKIE), Buffer.from("gAAA"), Buffer.from("AAAB"), Uint8Array.of(0x80, 0x02), Uint8Array.of(0x00, 0x1d), Uint8Array.of(0x00, 0x08), Uint8Array.of(0x00, 0x1c), Uint8Array.of(0, 1), Uint8Array.of(0, 2)];

/**
 * A few answers in a row, as a server (or anyone who can inject on the
 * client's link) sends them, through what TurnClient#request does after
 * decoding: verify(), then challenge() on a 401/438. Those run outside any
 * try in the client, so they must never throw; a message decode() refuses
 * with a StunError is dropped as the client drops it.
 */
const turnAuth: FuzzTarget<Uint8Array[]> = {
  name: "relay.turn-auth",
  arb: fc.array(fuzzBytes(AUTH_SEEDS, { dict: AUTH_DICT, maxRandom: 120 }), { minLength: 1, maxLength: 4 }),
  run: (frames) => {
    const auth = new LongTermAuth(USER, PASS);
    let retries = 0;
    for (const f of frames) {
      let msg;
      try {
        msg = decode(f);
      } catch (e) {
        if (isP2PError(e)) continue;
        throw e;
      }
      const bad = auth.verify(msg);
      if (bad !== undefined && typeof bad !== "string") throw new Error("verify() returned a non-string");
      if (msg.class !== "error") continue;
      const code = getAttribute(msg, "ERROR-CODE")?.code ?? 0;
      if (code !== 401 && code !== 438) continue;
      const out = auth.challenge(code, msg);
      if (out.retry) retries++;
      else if (out.error !== undefined && typeof out.error !== "string") throw new Error("challenge() error is not a string");
    }
    return retries;
  },
  rejected: () => false,
  throws: "never",
  testRuns: 500,
  show: (fs) => fs.map((f) => Buffer.from(f).toString("hex")).join(" "),
};

export const targets: FuzzTarget[] = [channelData, rudpPacket, rudpTagged, turnConnect, turnUri, turnAuth];
