// Relay decoders under mutated input (ChannelData, reliable-UDP packets as they come and re-tagged, turn-connect bodies, turn: URIs, the TURN client's answer handling); encode → decode round trips.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeChannelData, encodeChannelData, MAX_CHANNEL, MIN_CHANNEL } from "../../src/turn/channel-data.ts";
import { decodePacket, encodePacket, FLAG_DATA, FLAG_FIN, FLAG_RST, MAX_ACK_SACK, MAX_PAYLOAD, MAX_SACK, type Packet } from "../../src/rudp/packet.ts";
import { parseTurnConnect } from "../../src/strategies/turn-wire.ts";
import { parseTurnUri } from "../../src/turn/uri.ts";
import { RUDP_CONN, RUDP_KEY, targets } from "../../fuzz/targets/relay.ts";
import { fuzzTargets } from "./targets.ts";

const o = { noNullPrototype: true } as const;
const u32 = fc.nat({ max: 0xffffffff });
const range = fc.tuple(u32, fc.integer({ min: 1, max: 1000 })).filter(([a, n]) => a + n <= 0xffffffff).map(([first, n]) => ({ first, end: first + n }));

const packet: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({ fin: fc.boolean(), seq: fc.integer({ min: 1, max: 0xffffffff }), ack: u32, window: u32, sack: fc.array(range, { maxLength: MAX_SACK }), payload: fc.uint8Array({ maxLength: MAX_PAYLOAD }) }).map(
    ({ fin, ...p }) => ({ flags: FLAG_DATA | (fin ? FLAG_FIN : 0), connId: RUDP_CONN, ...p }),
  ),
  fc.record({ flags: fc.constantFrom(0, FLAG_RST, FLAG_FIN, FLAG_FIN | FLAG_RST), seq: fc.integer({ min: 1, max: 0xffffffff }), ack: u32, window: u32, sack: fc.array(range, { maxLength: MAX_ACK_SACK }) }).map((p) => ({ connId: RUDP_CONN, ...p })),
);

describe("fuzz: relay", () => {
  fuzzTargets(targets);

  it("round trip: decodeChannelData(encodeChannelData(n, d)) gives back n and d, padded or not", () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_CHANNEL, max: MAX_CHANNEL }), fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (n, d, stream) => {
        const b = encodeChannelData(n, d, stream);
        if (stream) assert.equal(b.length % 4, 0);
        const cd = decodeChannelData(b);
        assert.equal(cd.channel, n);
        assert.deepEqual(new Uint8Array(cd.data), d);
      }),
      { numRuns: 300 },
    );
  });

  it("round trip: decodePacket(encodePacket(p)) gives back p; another key, connection id or a flipped bit is refused", () => {
    fc.assert(
      fc.property(packet, fc.nat(), fc.nat({ max: 7 }), (p, at, bit) => {
        const b = encodePacket(p, RUDP_KEY);
        const r = decodePacket(b, RUDP_KEY, RUDP_CONN);
        assert.ok(r.ok, JSON.stringify(r));
        assert.deepEqual({ ...r.packet, payload: r.packet.payload && new Uint8Array(r.packet.payload) }, { ...p, payload: p.payload });
        assert.deepEqual(decodePacket(b, new Uint8Array(32).fill(1), RUDP_CONN), { ok: false, reason: "tag" });
        assert.deepEqual(decodePacket(b, RUDP_KEY, (RUDP_CONN + 1) >>> 0), { ok: false, reason: "conn" });
        const f = Uint8Array.from(b);
        f[at % f.length] ^= 1 << bit;
        assert.deepEqual(decodePacket(f, RUDP_KEY, RUDP_CONN), { ok: false, reason: "tag" });
      }),
      { numRuns: 300 },
    );
  });

  it("round trip: a valid turn-connect body parses to itself", () => {
    const b64 = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((x) => Buffer.from(x).toString("base64url"));
    const relay = (transport: "udp" | "tcp") => fc.record({ ip: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.integer({ min: 1, max: 65535 }), transport: fc.constant(transport) }, o);
    const body = fc.oneof(
      fc.record({ address: fc.string({ minLength: 1, maxLength: 200 }), token: b64(16, 64), relay: relay("tcp") }, o),
      fc.record({ address: fc.string({ minLength: 1, maxLength: 200 }), token: b64(16, 64), relay: relay("udp"), key: b64(32, 32), connId: u32 }, o),
    );
    fc.assert(fc.property(body, (x) => assert.deepEqual(parseTurnConnect(JSON.parse(JSON.stringify(x))), x)), { numRuns: 300 });
  });

  it("round trip: a turn: URI built from parts parses to those parts, and its canonical form to itself", () => {
    const label = fc.stringMatching(/^[a-z]([a-z0-9-]{0,8}[a-z0-9])?$/);
    const host = fc.oneof(
      fc.ipV4().map((h) => ({ h, shown: h })),
      fc.ipV6().filter((h) => !h.includes(".")).map((h) => ({ h, shown: `[${h}]` })),
      fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join(".")).filter((h) => !/^[\d.]+$/.test(h)).map((h) => ({ h, shown: h })),
    );
    fc.assert(
      fc.property(host, fc.option(fc.integer({ min: 1, max: 65535 })), fc.boolean(), fc.constantFrom(undefined, "udp", "tcp"), ({ h, shown }, port, secure, t) => {
        fc.pre(!(secure && t === "udp"));
        const s = `${secure ? "turns" : "turn"}:${shown}${port ? `:${port}` : ""}${t ? `?transport=${t}` : ""}`;
        const u = parseTurnUri(s);
        assert.equal(u.host, h);
        assert.equal(u.port, port ?? (secure ? 5349 : 3478));
        assert.equal(u.secure, secure);
        assert.equal(u.transport, secure ? "tls" : (t ?? "udp"));
        assert.deepEqual(parseTurnUri(u.uri), u);
      }),
      { numRuns: 300 },
    );
  });
});
