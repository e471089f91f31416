/**
 * Signaling message bodies (src/signaling/messages.ts) and the broker URL
 * filter (src/signaling/broker-url.ts). Bodies are untrusted JSON (or a
 * binary body); the wire parsers return null, the body parsers throw
 * ProtocolError, the URL filter never throws.
 */
import { checkBrokerUrl, filterBrokerUrls, parseBrokerUrl } from "../../src/signaling/broker-url.ts";
import * as M from "../../src/signaling/messages.ts";
import { ProtocolError } from "../../src/errors.ts";
import { base64urlDecode } from "../../src/util/encoding.ts";
import { fuzzJson, fuzzText, type FuzzTarget } from "../harness.ts";

const RE = "00112233445566778899aabbccddeeff";
const TOKEN = "AAECAwQFBgcICQoLDA0ODw";
const URLS = ["mqtt://broker.example:1883", "mqtts://b.example", "wss://c.example/mqtt", "ws://[2001:db8::1]:8080/", "mqtt://10.0.0.1", "ws://localhost/mqtt?x=1"];

export const BODY_SEEDS: readonly unknown[] = [
  { replyTo: URLS.slice(0, 2), body: { t0: 1 } },
  { re: RE },
  { re: RE, ok: true, body: { t0: 1, t1: 2, t2: 3 } },
  { re: RE, ok: false, error: { code: 4, message: "refused" } },
  { t0: 1_700_000_000_000 },
  { t0: 1, t1: 2, t2: 3 },
  { address: "p2pn1aaaa" },
  { address: "p2pn1aaaa", token: TOKEN },
];

const json = fuzzJson(BODY_SEEDS, { keys: ["replyTo", "t0", "t1", "t2", "address", "token", "message"] });
const isArr = (v: unknown): v is unknown[] => Array.isArray(v);

/** The three wire parsers (they run on every request, reply and ack before anything else). */
const wire: FuzzTarget<unknown> = {
  name: "messages.wire",
  arb: json,
  run: (v) => [M.parseRequestWire(v), M.parseAckWire(v), M.parseReplyWire(v)],
  rejected: (r) => (r as unknown[]).every((x) => x === null),
  check: (_v, r) => {
    const [req, ack, reply] = r as [M.RequestWire | null, M.AckWire | null, M.ReplyWire | null];
    if (req && (!isArr(req.replyTo) || req.replyTo.length > 16 || req.replyTo.some((u) => typeof u !== "string" || u.length > 1024))) throw new Error("request wire let a bad replyTo through");
    for (const x of [ack, reply]) if (x && !/^[0-9a-f]{32}$/.test(x.re)) throw new Error("bad re");
    if (reply && !reply.ok && (typeof reply.error.message !== "string" || reply.error.message.length > 500 || !Number.isInteger(reply.error.code))) throw new Error("bad error body");
  },
  throws: "never",
  testRuns: 1000,
};

/** Body parsers of the built-in request types. */
const bodies: FuzzTarget<unknown> = {
  name: "messages.bodies",
  arb: json,
  run: (v) => {
    const out: unknown[] = [];
    for (const p of [M.parsePing, M.parsePong, M.parseGetAddrReply, M.parseReverseConnect] as Array<(x: unknown) => unknown>) {
      try {
        out.push(p(v));
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        out.push(null);
      }
    }
    return out;
  },
  rejected: (r) => (r as unknown[]).every((x) => x === null),
  check: (_v, r) => {
    const [, pong, , rc] = r as [unknown, M.PongBody | null, unknown, M.ReverseConnectBody | null];
    if (pong) {
      const e = M.clockEstimate(pong, pong.t2);
      if (!Number.isFinite(e.rttMs) || !Number.isFinite(e.offsetMs)) throw new Error("clock estimate is not finite");
    }
    if (rc) {
      const t = base64urlDecode(rc.token);
      if (!t || t.length < 16 || t.length > 64) throw new Error("reverse-connect token outside 16-64 bytes");
    }
  },
  throws: "never",
  testRuns: 1000,
};

const urls = fuzzText([...URLS, "wss://[::ffff:127.0.0.1]/mqtt", "mqtt://0x7f.1", "ws://b.example:65535/mqtt"], { maxLength: 300 });

const brokerUrl: FuzzTarget<string> = {
  name: "messages.broker-url",
  arb: urls,
  run: (s) => ({ parsed: parseBrokerUrl(s), checked: checkBrokerUrl(s) }),
  rejected: (r) => !(r as { checked: { ok: boolean } }).checked.ok,
  check: (_s, r) => {
    const { parsed, checked } = r as { parsed: ReturnType<typeof parseBrokerUrl>; checked: ReturnType<typeof checkBrokerUrl> };
    if (!checked.ok) return;
    if (!parsed.ok || parsed.private) throw new Error("checkBrokerUrl accepted what parseBrokerUrl refuses or marks private");
    // The normal form is a fixed point: what we dial parses to itself and passes again.
    const again = checkBrokerUrl(checked.url);
    if (!again.ok || again.url !== checked.url) throw new Error(`normal form ${checked.url} is not stable: ${JSON.stringify(again)}`);
    if (checked.url.length > 256 + 16) throw new Error("normal form grew past the length limit");
  },
  throws: "never",
  testRuns: 2000,
};

const brokerList: FuzzTarget<unknown> = {
  name: "messages.broker-list",
  arb: fuzzJson([URLS, URLS.slice(0, 1), [...URLS, ...URLS], "mqtt://a.example"], { keys: [] }),
  run: (v) => filterBrokerUrls(v),
  rejected: (r) => (r as { accepted: string[] }).accepted.length === 0,
  check: (v, r) => {
    const { accepted, rejected } = r as ReturnType<typeof filterBrokerUrls>;
    const n = isArr(v) ? v.length : 1;
    if (accepted.length > 4 || new Set(accepted).size !== accepted.length || accepted.length + rejected.length !== n) throw new Error("filter broke its count rules");
  },
  throws: "never",
  testRuns: 1000,
};

export const targets: FuzzTarget[] = [wire, bodies, brokerUrl, brokerList];
