// Issue 9 item 2: the simultaneous-open engine is no SYN reflector. The real engine against
// closed loopback ports (every SYN refused at once, the worst case for re-dials) with a long
// window: counts come from the report and from ECONNREFUSED, never from the clock.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import type { PunchTarget } from "../../../src/strategies/punch/candidates.ts";
import { simultaneousOpen } from "../../../src/strategies/punch/simultaneous-open.ts";
import { SynBudget } from "../../../src/strategies/punch/syn-budget.ts";
import { closedPorts } from "./harness.ts";

const now = () => performance.timeOrigin + performance.now();
const WINDOW = 30_000; // the longest a request may ask for: the engine must stop long before

async function targets(n: number, ip = "127.0.0.1"): Promise<PunchTarget[]> {
  return (await closedPorts(n)).map((port) => ({ ip, port, kind: "mapped" as const }));
}

function run(o: { targets: PunchTarget[]; localPorts: number[]; maxAttemptsPerTarget?: number; maxAttempts?: number; take?: (ip: string) => boolean }) {
  const startAt = now();
  return simultaneousOpen({ localAddress: "127.0.0.1", startAt, windowEnd: startAt + WINDOW, retryDelayMs: 1, signal: new AbortController().signal, onConnect: () => assert.fail("nothing listens"), ...o });
}

describe("punch engine caps (loopback, refused SYNs)", () => {
  test("each pair gets at most maxAttemptsPerTarget SYNs, then the punch ends without waiting for the window", async () => {
    const r = await run({ targets: await targets(3), localPorts: await closedPorts(1), maxAttemptsPerTarget: 3 });
    assert.equal(r.pairs, 3);
    assert.equal(r.attempts, 9, "3 pairs × 3 attempts");
    assert.equal(r.end, "exhausted");
    assert.equal(r.errors.ECONNREFUSED, 9, "every SYN counted was really sent (and refused)");
    assert.equal(r.capped, 3, "each pair stopped at its cap once");
  });

  test("the defaults: 4 SYNs per pair", async () => {
    const r = await run({ targets: await targets(2), localPorts: await closedPorts(2) });
    assert.equal(r.attempts, 4 * 4, "4 pairs × the default 4 (ENGINE_DEFAULTS.maxAttemptsPerTarget)");
    assert.equal(r.errors.ECONNREFUSED, r.attempts);
    assert.equal(r.end, "exhausted");
  });

  test("24 endpoints: the whole punch stops at maxAttempts SYNs", async () => {
    const r = await run({ targets: await targets(24), localPorts: await closedPorts(1), maxAttemptsPerTarget: 4, maxAttempts: 64 });
    assert.equal(r.attempts, 64);
    assert.equal(r.errors.ECONNREFUSED, 64);
    assert.equal(r.end, "exhausted");
  });

  test("the destination budget is asked before every SYN; a refusal stops that pair and nothing is sent", async () => {
    const asked: string[] = [];
    let left = 5;
    const r = await run({ targets: await targets(2), localPorts: await closedPorts(1), maxAttemptsPerTarget: 4, take: (ip) => (asked.push(ip), left-- > 0) });
    assert.equal(r.attempts, 5);
    assert.equal(r.errors.ECONNREFUSED, 5);
    assert.equal(r.denied, 2, "one refused SYN per pair, then the pair is over");
    assert.deepEqual(new Set(asked), new Set(["127.0.0.1"]), "asked with the destination IP");
    assert.equal(r.end, "exhausted");
  });

  test("one budget shared by two punches at the same IP: the second gets what is left", async () => {
    const budget = new SynBudget({ burst: 6, perSecond: 0.001, maxIps: 16 });
    const take = (ip: string) => budget.take(ip, now());
    const a = await run({ targets: await targets(4), localPorts: await closedPorts(1), maxAttemptsPerTarget: 1, take });
    const b = await run({ targets: await targets(4), localPorts: await closedPorts(1), maxAttemptsPerTarget: 4, take });
    assert.equal(a.attempts, 4);
    assert.equal(b.attempts, 2, "6 in all toward 127.0.0.1");
    assert.equal(b.denied, 4);
  });

  test("a budget that refuses everything: no SYN leaves, the punch ends at once", async () => {
    const r = await run({ targets: await targets(3), localPorts: await closedPorts(1), take: () => false });
    assert.equal(r.attempts, 0);
    assert.equal(r.denied, 3);
    assert.equal(r.end, "exhausted");
  });

  test("no socket is left behind", async () => {
    const open = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => h instanceof net.Socket && !(h as net.Socket).destroyed).length;
    const before = open();
    await run({ targets: await targets(5), localPorts: await closedPorts(2), maxAttemptsPerTarget: 2 });
    assert.equal(open(), before);
  });
});
