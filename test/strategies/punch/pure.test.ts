// Pure parts of TCP hole punching: which NAT pairs punch, candidates, start-time arithmetic, preamble codec.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NatSummary } from "../../../src/identity/address.ts";
import { buildOffer, parseOffer, punchTargets } from "../../../src/strategies/punch/candidates.ts";
import { punchApplicability } from "../../../src/strategies/punch/applicability.ts";
import { PassThrough } from "node:stream";
import { PREAMBLE_LENGTH, PreambleKind, decodePreamble, encodePreamble, preambleProof, readPreamble, verifyPreamble } from "../../../src/strategies/punch/preamble.ts";
import { agreeStart, bestClockSample, proposeStart, toLocalClock } from "../../../src/strategies/punch/timing.ts";

const EIM = "endpoint-independent";
const APD = "address-and-port-dependent";
const nat = (type: NatSummary["type"], delta: NatSummary["delta"]["kind"] = "preserving", step = 0): NatSummary => ({
  type,
  mapping: type === "symmetric" ? APD : type === "unknown" ? "unknown" : EIM,
  filtering: type === "full-cone" || type === "open" ? EIM : type === "restricted" ? "address-dependent" : APD,
  delta: { kind: delta, step },
});
const KINDS: Record<string, NatSummary> = {
  open: nat("open"),
  firewall: nat("firewall"),
  "full-cone": nat("full-cone"),
  restricted: nat("restricted"),
  "port-restricted": nat("port-restricted"),
  "symmetric-sequential": nat("symmetric", "sequential", 1),
  "symmetric-random": nat("symmetric", "random"),
  blocked: nat("blocked"),
  unknown: nat("unknown", "unknown"),
};

describe("punchApplicability", () => {
  // [local, remote, verdict]: symmetric with random ports gives the other side nothing to aim at.
  const table: Array<[string, string, "yes" | "maybe" | "no"]> = [
    ["firewall", "firewall", "yes"],
    ["full-cone", "port-restricted", "yes"],
    ["restricted", "restricted", "yes"],
    ["port-restricted", "port-restricted", "yes"],
    ["symmetric-sequential", "port-restricted", "yes"],
    ["full-cone", "symmetric-sequential", "yes"],
    ["symmetric-sequential", "symmetric-sequential", "maybe"],
    ["symmetric-random", "port-restricted", "no"],
    ["port-restricted", "symmetric-random", "no"],
    ["symmetric-random", "symmetric-random", "no"],
    ["symmetric-random", "full-cone", "no"],
    ["blocked", "open", "maybe"],
    ["unknown", "port-restricted", "maybe"],
  ];
  for (const [a, b, want] of table) {
    test(`${a} × ${b} → ${want}`, () => {
      const v = punchApplicability(KINDS[a], KINDS[b]);
      assert.equal(v.verdict, want, v.reason);
      if (want === "no") {
        assert.match(v.reason, new RegExp(a));
        assert.match(v.reason, new RegExp(b));
      }
    });
  }
});

describe("candidates", () => {
  const mappings = [
    { localPort: 40001, mapped: { ip: "203.0.113.101", port: 20010 } },
    { localPort: 40002, mapped: { ip: "203.0.113.101", port: 20011 } },
  ];
  test("a sequential NAT predicts the ports after its last mapping", () => {
    const o = buildOffer({ mappings, nat: KINDS["symmetric-sequential"], lanIps: ["10.77.1.11"], predict: 3 });
    assert.deepEqual(o.predicted.map((e) => e.port), [20012, 20013, 20014]);
    assert.deepEqual(o.lan, [{ ip: "10.77.1.11", port: 40001 }, { ip: "10.77.1.11", port: 40002 }]);
  });
  test("a step of 2 and a preserving cone", () => {
    // Fresh mappings 20010 → 20011 measure step 1: those predictions first, discovery's step 2 after.
    assert.deepEqual(buildOffer({ mappings, nat: nat("symmetric", "sequential", 2), lanIps: [], predict: 2 }).predicted.map((e) => e.port), [20012, 20013, 20015]);
    // Fresh mappings that really step by 2 keep step 2 alone.
    const by2 = [mappings[0], { localPort: 40002, mapped: { ip: "203.0.113.101", port: 20012 } }];
    assert.deepEqual(buildOffer({ mappings: by2, nat: nat("symmetric", "sequential", 2), lanIps: [], predict: 2 }).predicted.map((e) => e.port), [20014, 20016]);
    // One fresh mapping: step 1 first (discovery's step may count interleaved flows), then discovery's.
    assert.deepEqual(buildOffer({ mappings: [mappings[0]], nat: nat("symmetric", "sequential", 2), lanIps: [], predict: 3 }).predicted.map((e) => e.port), [20011, 20012, 20013, 20014, 20016]);
    assert.deepEqual(buildOffer({ mappings, nat: KINDS["port-restricted"], lanIps: [] }).predicted, []);
  });
  test("LAN endpoints are dialled only behind the same public IP", () => {
    const remote = buildOffer({ mappings, nat: KINDS["port-restricted"], lanIps: ["10.77.1.12"] });
    assert.deepEqual(punchTargets(remote, ["203.0.113.102"]).map((t) => t.kind), ["mapped", "mapped"]);
    const same = punchTargets(remote, ["203.0.113.101"]);
    assert.deepEqual(same.map((t) => `${t.kind} ${t.ip}:${t.port}`), ["lan 10.77.1.12:40001", "lan 10.77.1.12:40002", "mapped 203.0.113.101:20010", "mapped 203.0.113.101:20011"]);
  });
  test("offers from the wire are checked", () => {
    const ok = { mapped: [{ ip: "203.0.113.5", port: 1 }], predicted: [], lan: [] };
    assert.deepEqual(parseOffer(ok), ok);
    assert.throws(() => parseOffer({ ...ok, mapped: [{ ip: "example.com", port: 1 }] }), { code: "P2P_ERR_PROTOCOL" });
    assert.throws(() => parseOffer({ ...ok, predicted: Array(17).fill({ ip: "1.2.3.4", port: 9 }) }), { code: "P2P_ERR_PROTOCOL" });
    assert.throws(() => parseOffer({ ...ok, lan: [{ ip: "10.0.0.1", port: 70000 }] }), { code: "P2P_ERR_PROTOCOL" });
    assert.throws(() => parseOffer(null), { code: "P2P_ERR_PROTOCOL" });
  });
});

describe("start time", () => {
  test("the smallest round trip wins (NTP clock filter)", () => {
    assert.deepEqual(bestClockSample([{ rttMs: 90, offsetMs: 30 }, { rttMs: 82, offsetMs: 4 }, { rttMs: 85, offsetMs: -2 }]), { rttMs: 82, offsetMs: 4 });
    assert.equal(bestClockSample([]), undefined);
    assert.deepEqual(bestClockSample([{ rttMs: NaN, offsetMs: 0 }, { rttMs: 5, offsetMs: 1 }]), { rttMs: 5, offsetMs: 1 });
  });
  test("proposal in the peer's clock, agreement, conversion back", () => {
    const clock = { rttMs: 80, offsetMs: 1000 };
    const p = proposeStart({ now: 10_000, clock, responderPrepMs: 100, marginMs: 50 });
    assert.equal(p, 10_000 + 1000 + 80 + 100 + 50);
    // the peer has time: it keeps the proposal; it is late: it moves the start.
    assert.equal(agreeStart(p, 11_100, 80, 50), p);
    assert.equal(agreeStart(p, 11_200, 80, 50), 11_290);
    assert.equal(toLocalClock(11_290, clock), 10_290);
  });
});

describe("preamble", () => {
  test("round trip and refusals", () => {
    const token = Buffer.alloc(16, 7);
    const b = encodePreamble({ kind: PreambleKind.NOMINATE, token, startedAt: 1_700_000_000_123.25 });
    assert.equal(b.length, PREAMBLE_LENGTH);
    const p = decodePreamble(b);
    assert.deepEqual(p, { kind: PreambleKind.NOMINATE, proof: preambleProof(token, PreambleKind.NOMINATE, 1_700_000_000_123.25), startedAt: 1_700_000_000_123.25 });
    assert.ok(verifyPreamble(p, token, PreambleKind.NOMINATE));
    assert.throws(() => decodePreamble(Buffer.concat([Buffer.from("HTTP"), b.subarray(4)])), { code: "P2P_ERR_PUNCH" });
    const bad = Buffer.from(b);
    bad[4] = 9;
    assert.throws(() => decodePreamble(bad), { code: "P2P_ERR_PUNCH" });
  });

  // Issue 9 item 6: the token never goes on the wire; a HELLO seen on the path is no NOMINATE.
  test("proofs: the token is not sent, HELLO and NOMINATE differ, each verifies only as its own kind with its own token", () => {
    const token = Buffer.from("00112233445566778899aabbccddeeff", "hex");
    const hello = encodePreamble({ kind: PreambleKind.HELLO, token, startedAt: 42.5 });
    const nominate = encodePreamble({ kind: PreambleKind.NOMINATE, token, startedAt: 42.5 });
    for (const b of [hello, nominate]) {
      assert.equal(b.indexOf(token), -1, "the token is not in the clear");
      assert.equal(b.indexOf(token.subarray(0, 8)), -1, "nor half of it");
    }
    assert.notDeepEqual(hello.subarray(5, 21), nominate.subarray(5, 21), "distinct proofs per kind");
    const h = decodePreamble(hello);
    assert.ok(verifyPreamble(h, token, PreambleKind.HELLO));
    // The observer's forgery: the HELLO with its kind byte turned into NOMINATE.
    const forged = Buffer.from(hello);
    forged[4] = PreambleKind.NOMINATE;
    assert.equal(verifyPreamble(decodePreamble(forged), token, PreambleKind.NOMINATE), false);
    assert.equal(verifyPreamble(h, token, PreambleKind.NOMINATE), false);
    assert.equal(verifyPreamble(h, Buffer.alloc(16, 1), PreambleKind.HELLO), false, "another request's token");
    const moved = Buffer.from(hello);
    moved.writeDoubleBE(43.5, 21);
    assert.equal(verifyPreamble(decodePreamble(moved), token, PreambleKind.HELLO), false, "startedAt is covered");
  });

  test("reading one leaves the next bytes and a stream the handshake's 'data' listener starts", async () => {
    const s = new PassThrough();
    const b = encodePreamble({ kind: PreambleKind.HELLO, token: Buffer.alloc(16, 1), startedAt: 5 });
    s.write(b.subarray(0, 10)); // split across writes
    setTimeout(() => s.write(Buffer.concat([b.subarray(10), Buffer.from("HANDSHAKE")])), 5);
    const p = await readPreamble(s, new AbortController().signal);
    assert.equal(p.kind, PreambleKind.HELLO);
    assert.equal(s.readableFlowing, null, "not paused: a 'data' listener alone must start the stream");
    const got = await new Promise<string>((r) => s.once("data", (d) => r(String(d))));
    assert.equal(got, "HANDSHAKE");
  });
});
