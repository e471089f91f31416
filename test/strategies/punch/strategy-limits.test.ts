// Issue 9 item 2 through the strategy: a punch request is no SYN reflector, and the initiator
// holds the responder's reply offer to the same dial policy. Loopback only: the endpoints are
// closed ports on 127.0.0.0/8 (every SYN refused at once, the worst case for re-dials); the
// requester's address lists 127.0.0.1 as its own IP, as an attacker can write of any IP.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Identity } from "../../../src/identity/identity.ts";
import { silentLogger } from "../../../src/util/logger.ts";
import type { Endpoint } from "../../../src/strategies/punch/candidates.ts";
import type { DialContext } from "../../../src/strategies/strategy.ts";
import { PUNCH, PUNCH_DEFAULTS, PunchStrategy } from "../../../src/strategies/punch.ts";
import { closedPorts, punchRequest, responderHarness, signedAddress, type Harness } from "./harness.ts";

const now = () => performance.timeOrigin + performance.now();
const loopback = async (n: number, ip = "127.0.0.1"): Promise<Endpoint[]> => (await closedPorts(n)).map((port) => ({ ip, port }));

describe("punch responder: SYNs per request and per destination", () => {
  let h: Harness;
  before(async () => {
    h = await responderHarness();
  });
  after(() => h.close());

  /** Sends one request through the real handler and waits for its background punch to settle. */
  async function respond(s: PunchStrategy, endpoints: Endpoint[], windowMs = 30_000): Promise<{ tasks: number }> {
    const attacker = Identity.generate();
    const { ctx, tasks } = h.context();
    const body = punchRequest(signedAddress(attacker, [...new Set(endpoints.map((e) => e.ip))]), endpoints, { windowMs, startAt: now() });
    const reply = (await s.responders[PUNCH].handle(body, attacker.id, ctx, new AbortController().signal)) as { offer: unknown };
    assert.ok(reply.offer, "the requester gets its reply");
    await Promise.all(tasks);
    return { tasks: tasks.length };
  }

  test("one request with 24 endpoints and a 30 s window: at most maxSynsPerPunch SYNs, run as a counted background task", async () => {
    const s = new PunchStrategy();
    const { tasks } = await respond(s, await loopback(24));
    assert.equal(tasks, 1, "the punch went to ctx.background (a running handler until it settles)");
    const st = s.stats;
    assert.equal(st.punches, 1);
    assert.equal(st.synAttempts, PUNCH_DEFAULTS.maxSynsPerPunch, "24 × 4 per endpoint is more than the per-request cap: exactly the cap");
  });

  test("one endpoint: at most maxAttemptsPerTarget SYNs", async () => {
    const s = new PunchStrategy({ maxAttemptsPerTarget: 3 });
    await respond(s, await loopback(1));
    assert.equal(s.stats.synAttempts, 3);
  });

  test("many requesters, one destination IP: the shared budget holds across them", async () => {
    // A refill too slow to matter inside the test: only the burst is there to spend.
    const s = new PunchStrategy({ synBudgetBurst: 10, synBudgetPerSecond: 0.001 });
    await respond(s, await loopback(24));
    assert.equal(s.stats.synAttempts, 10);
    await respond(s, await loopback(24)); // another identity, same victim
    const st = s.stats;
    assert.equal(st.punches, 2);
    assert.equal(st.synAttempts, 10, "the second requester got nothing toward 127.0.0.1");
    // First punch: 10 first SYNs go, 14 first SYNs and the 10 re-dials are refused (24); second: all 24 first SYNs.
    assert.equal(st.synsDenied, 48, "every pair stops at its first refusal");
    // Another destination IP has its own bucket.
    await respond(s, await loopback(2, "127.0.0.2"));
    assert.equal(s.stats.synAttempts, 18, "2 endpoints × 4 attempts toward 127.0.0.2");
  });

  test("a start beyond our own punch deadline is refused before any port is opened", async () => {
    const s = new PunchStrategy({ timeout: 2000 });
    const attacker = Identity.generate();
    const { ctx, tasks } = h.context();
    const body = punchRequest(signedAddress(attacker, ["127.0.0.1"]), await loopback(1), { windowMs: 1000, startAt: now() + 60_000 });
    await assert.rejects(s.responders[PUNCH].handle(body, attacker.id, ctx, new AbortController().signal), { code: "P2P_ERR_REFUSED" });
    assert.equal(tasks.length, 0);
    assert.equal(s.stats.synAttempts, 0);
  });

  test("an absurd round trip is refused", async () => {
    const s = new PunchStrategy();
    const attacker = Identity.generate();
    const { ctx } = h.context();
    const body = punchRequest(signedAddress(attacker, ["127.0.0.1"]), await loopback(1), { windowMs: 1000, startAt: now(), rttMs: 1e9 });
    await assert.rejects(s.responders[PUNCH].handle(body, attacker.id, ctx, new AbortController().signal), { code: "P2P_ERR_PROTOCOL", message: "punch rttMs must be at most 30000" });
  });
});

describe("punch initiator: the reply offer goes through the dial policy", () => {
  let h: Harness;
  before(async () => {
    h = await responderHarness();
  });
  after(() => h.close());

  function dialContext(reply: (body: Record<string, unknown>) => unknown, mayDial: (host: string) => boolean): DialContext {
    const me = Identity.generate();
    const peer = Identity.generate();
    const { address, port } = h.stun.addresses.primary;
    return {
      identity: me,
      local: signedAddress(me, ["198.51.100.8"]),
      remote: signedAddress(peer, ["127.0.0.2"]),
      logger: silentLogger,
      stun: [`stun:${address}:${port}`],
      signaling: {
        ping: async () => ({ rttMs: 1, offsetMs: 0 }),
        request: async (_type, body) => reply(body as Record<string, unknown>),
      },
      secure: () => Promise.reject(new Error("no handshake in these tests")),
      expectInbound: () => Promise.reject(new Error("unused")),
      progress: () => {},
      mayDial,
    };
  }

  test("endpoints the policy refuses are not dialled; the allowed one gets its capped SYNs", async () => {
    const s = new PunchStrategy({ maxAttemptsPerTarget: 2 });
    const refused = await loopback(6, "127.0.0.1"); // e.g. a third party's ports
    const allowed = await loopback(1, "127.0.0.2"); // the peer's own listed IP
    const ctx = dialContext(() => ({ offer: { mapped: [...allowed, ...refused.slice(0, 2)], predicted: refused.slice(2), lan: [] }, startAt: now() }), (host) => host === "127.0.0.2");
    await assert.rejects(s.dial(ctx, { signal: new AbortController().signal, timeout: 5000 }), (err: Error & { code?: string }) => err.code === "P2P_ERR_PUNCH" && /\b1 pair\(s\), 2 SYN attempt/.test(err.message));
    assert.equal(s.stats.synAttempts, 2);
  });

  test("a reply offering only refused endpoints sends no SYN at all", async () => {
    const s = new PunchStrategy();
    const neverDialled: Endpoint[] = [{ ip: "127.0.0.1", port: 9 }, { ip: "127.0.0.3", port: 9 }];
    const ctx = dialContext(() => ({ offer: { mapped: neverDialled, predicted: [], lan: [] }, startAt: now() }), () => false);
    await assert.rejects(s.dial(ctx, { signal: new AbortController().signal, timeout: 5000 }), (err: Error & { code?: string }) => err.code === "P2P_ERR_PUNCH" && /may be dialled/.test(err.message));
    assert.equal(s.stats.synAttempts, 0);
  });
});

describe("punch options", () => {
  test("defaults are frozen and the limits are validated", () => {
    assert.ok(Object.isFrozen(PUNCH_DEFAULTS));
    assert.equal(PUNCH_DEFAULTS.maxAttemptsPerTarget, 4);
    assert.equal(PUNCH_DEFAULTS.maxSynsPerPunch, 64);
    const bad: Array<Record<string, number>> = [
      { maxAttemptsPerTarget: 0 },
      { maxAttemptsPerTarget: 2.5 },
      { maxAttemptsPerTarget: 100 },
      { maxSynsPerPunch: 0 },
      { maxSynsPerPunch: 5000 },
      { retryBackoff: 0.5 },
      { synBudgetBurst: 0 },
      { synBudgetPerSecond: 0 },
      { synBudgetIps: 0 },
      { timeout: 60_000 },
      { timeout: 100 },
    ];
    for (const o of bad) assert.throws(() => new PunchStrategy(o), { code: "P2P_ERR_INVALID_ARGUMENT" }, JSON.stringify(o));
    assert.equal(new PunchStrategy({ maxSynsPerPunch: 16 }).options.maxSynsPerPunch, 16);
  });
});
