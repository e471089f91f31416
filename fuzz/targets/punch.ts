/**
 * Hole punching: the preamble on a punched connection (src/strategies/punch/preamble.ts),
 * the candidate offer (src/strategies/punch/candidates.ts parseOffer), and the punch
 * request and reply bodies of src/strategies/punch.ts: the request through the
 * responder's handle() (a sender id no address can match, so it stops right
 * after parsing, and a context that fails the run if it is touched) and
 * directly through parseRequest; the reply through parseReply.
 */
import fc from "fast-check";
import { decodePreamble, encodePreamble, PREAMBLE_LENGTH } from "../../src/strategies/punch/preamble.ts";
import { parseOffer, OFFER_LIMITS } from "../../src/strategies/punch/candidates.ts";
import { parseReply, parseRequest, PunchStrategy } from "../../src/strategies/punch.ts";
import type { ResponderContext } from "../../src/strategies/strategy.ts";
import { fuzzBytes, fuzzJson, type FuzzTarget } from "../harness.ts";
import { ADDRESS_SEEDS } from "./address.ts";

const TOKEN = Buffer.alloc(16, 0x5a);
export const PREAMBLE_SEEDS: readonly Uint8Array[] = [
  encodePreamble({ kind: 1, token: TOKEN, startedAt: 1_700_000_000_123.5 }),
  encodePreamble({ kind: 2, token: TOKEN, startedAt: 0 }),
].map((b) => new Uint8Array(b));
const DOUBLES = [NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, Number.MIN_VALUE].map((d) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(d);
  return new Uint8Array(b);
});

const preamble: FuzzTarget<Uint8Array> = {
  name: "punch.preamble",
  arb: fuzzBytes(PREAMBLE_SEEDS, { dict: [...DOUBLES, Buffer.from("P2PP")], maxRandom: 40 }),
  run: (b) => decodePreamble(Buffer.from(b)),
  check: (b, r) => {
    if (b.length !== PREAMBLE_LENGTH) throw new Error(`accepted a ${b.length}-byte preamble`);
    const p = r as ReturnType<typeof decodePreamble>;
    if (p.kind !== 1 && p.kind !== 2) throw new Error(`accepted kind ${p.kind}`);
  },
  throws: "typed",
  testRuns: 2000,
};

const ep = (ip: string, port: number) => ({ ip, port });
export const OFFER_SEEDS: readonly unknown[] = [
  { mapped: [ep("203.0.113.5", 40000)], predicted: [ep("203.0.113.5", 40002), ep("203.0.113.5", 40004)], lan: [ep("192.168.1.9", 5000)] },
  { mapped: [], predicted: [], lan: [] },
  { mapped: Array.from({ length: OFFER_LIMITS.mapped }, (_, i) => ep(`198.51.100.${i}`, 1 + i)), predicted: [], lan: [ep("10.0.0.1", 65535)] },
];
const offerJson = fuzzJson(OFFER_SEEDS, { keys: ["mapped", "predicted", "lan", "ip", "port"] });

const offer: FuzzTarget<unknown> = {
  name: "punch.offer",
  arb: offerJson,
  run: (v) => parseOffer(v),
  check: (_v, r) => {
    const o = r as ReturnType<typeof parseOffer>;
    for (const k of ["mapped", "predicted", "lan"] as const) {
      if (o[k].length > OFFER_LIMITS[k]) throw new Error(`${k} over its limit`);
      for (const e of o[k]) if (typeof e.ip !== "string" || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) throw new Error("bad endpoint accepted");
    }
  },
  throws: "typed",
  testRuns: 1000,
};

/** Any use of the context means the request got past parsing: that must not happen with this sender id. */
const untouchable = new Proxy({} as ResponderContext, {
  get: (_t, k) => {
    throw new Error(`punch responder used ctx.${String(k)} for a request it should have refused`);
  },
});
const strategy = new PunchStrategy();
const handle = strategy.responders[Object.keys(strategy.responders)[0]].handle;
const NOBODY = "a".repeat(52);
export const REQUEST_SEEDS: readonly unknown[] = [
  { address: ADDRESS_SEEDS[0], token: "WlpaWlpaWlpaWlpaWlpaWg", offer: OFFER_SEEDS[0], startAt: 1_700_000_000_000, rttMs: 40, windowMs: 5000 },
  { address: ADDRESS_SEEDS[1], token: "AAAAAAAAAAAAAAAAAAAAAA", offer: OFFER_SEEDS[2], startAt: 0, rttMs: 0, windowMs: 100 },
];
const request: FuzzTarget<unknown> = {
  name: "punch.request",
  arb: fuzzJson(REQUEST_SEEDS, { keys: ["address", "token", "offer", "startAt", "rttMs", "windowMs"] }),
  run: (v) => handle(v, NOBODY, untouchable, new AbortController().signal),
  throws: "typed",
  testRuns: 500,
};

const requestBody: FuzzTarget<unknown> = {
  name: "punch.request-body",
  arb: fuzzJson(REQUEST_SEEDS, { keys: ["address", "token", "offer", "startAt", "rttMs", "windowMs"] }),
  run: (v) => parseRequest(v),
  throws: "typed",
  testRuns: 500,
};

const REPLY_SEEDS: readonly unknown[] = [
  { offer: OFFER_SEEDS[0], startAt: 1_700_000_000_000 },
  { offer: OFFER_SEEDS[2], startAt: 0 },
];
const reply: FuzzTarget<unknown> = {
  name: "punch.reply",
  arb: fuzzJson(REPLY_SEEDS, { keys: ["offer", "startAt"] }),
  run: (v) => parseReply(v),
  throws: "typed",
  testRuns: 500,
};

export const targets: FuzzTarget[] = [preamble, offer, request, requestBody, reply];
void fc;
