// The per-destination-IP SYN budget (pure: the clock is passed in), as a table of steps.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SynBudget, type SynBudgetOptions } from "../../../src/strategies/punch/syn-budget.ts";

/** One step: at `now` ms, try `take` SYNs toward `ip`; `granted` of them must pass. */
type Step = { now: number; ip: string; take: number; granted: number; size?: number };

const cases: Array<{ name: string; opts: SynBudgetOptions; steps: Step[] }> = [
  {
    name: "a burst, then nothing until it refills",
    opts: { burst: 4, perSecond: 1, maxIps: 8 },
    steps: [
      { now: 0, ip: "203.0.113.9", take: 6, granted: 4 },
      { now: 999, ip: "203.0.113.9", take: 1, granted: 0 },
      { now: 1000, ip: "203.0.113.9", take: 2, granted: 1 },
      { now: 3500, ip: "203.0.113.9", take: 3, granted: 2 },
    ],
  },
  {
    name: "the refill never goes past the burst",
    opts: { burst: 3, perSecond: 10, maxIps: 8 },
    steps: [
      { now: 0, ip: "198.51.100.1", take: 3, granted: 3 },
      { now: 60_000, ip: "198.51.100.1", take: 5, granted: 3 },
    ],
  },
  {
    name: "each destination IP has its own bucket (many requesters, one victim: one bucket)",
    opts: { burst: 2, perSecond: 1, maxIps: 8 },
    steps: [
      { now: 0, ip: "203.0.113.1", take: 3, granted: 2 },
      { now: 0, ip: "203.0.113.2", take: 3, granted: 2 },
      { now: 10, ip: "203.0.113.1", take: 1, granted: 0 },
    ],
  },
  {
    name: "a clock stepping back mints nothing",
    opts: { burst: 2, perSecond: 1, maxIps: 8 },
    steps: [
      { now: 10_000, ip: "203.0.113.1", take: 2, granted: 2 },
      { now: 0, ip: "203.0.113.1", take: 1, granted: 0 },
      { now: 10_500, ip: "203.0.113.1", take: 1, granted: 0 },
      { now: 11_000, ip: "203.0.113.1", take: 1, granted: 1 },
    ],
  },
  {
    name: "full map: refilled buckets go first, the depleted one stays",
    opts: { burst: 2, perSecond: 1, maxIps: 2 },
    steps: [
      { now: 0, ip: "203.0.113.1", take: 2, granted: 2 }, // the victim: depleted
      { now: 0, ip: "203.0.113.2", take: 1, granted: 1, size: 2 },
      { now: 1000, ip: "203.0.113.3", take: 1, granted: 1, size: 2 }, // .2 is full again: dropped
      { now: 1000, ip: "203.0.113.1", take: 2, granted: 1 }, // .1 kept its debt (refilled 1 in 1 s)
    ],
  },
  {
    name: "full map, nothing refilled: the bucket with the most tokens goes, never the depleted one",
    opts: { burst: 4, perSecond: 0.001, maxIps: 2 },
    steps: [
      { now: 0, ip: "203.0.113.1", take: 4, granted: 4 },
      { now: 0, ip: "203.0.113.2", take: 1, granted: 1 },
      { now: 0, ip: "203.0.113.3", take: 1, granted: 1, size: 2 }, // evicts .2 (3 left), not .1 (0 left)
      { now: 0, ip: "203.0.113.1", take: 1, granted: 0 },
      { now: 0, ip: "203.0.113.4", take: 1, granted: 1, size: 2 }, // evicts .3
      { now: 0, ip: "203.0.113.1", take: 1, granted: 0, size: 2 },
    ],
  },
];

describe("SynBudget", () => {
  for (const c of cases) {
    test(c.name, () => {
      const b = new SynBudget(c.opts);
      for (const [i, s] of c.steps.entries()) {
        let granted = 0;
        for (let k = 0; k < s.take; k++) if (b.take(s.ip, s.now)) granted++;
        assert.equal(granted, s.granted, `step ${i}: ${s.take} SYNs to ${s.ip} at ${s.now} ms`);
        if (s.size !== undefined) assert.equal(b.size, s.size, `step ${i}: map size`);
        assert.ok(b.size <= c.opts.maxIps);
      }
    });
  }

  test("a refused take spends nothing; available() reports whole SYNs", () => {
    const b = new SynBudget({ burst: 2, perSecond: 1, maxIps: 4 });
    assert.equal(b.available("203.0.113.1", 0), 2);
    b.take("203.0.113.1", 0);
    b.take("203.0.113.1", 0);
    for (let i = 0; i < 5; i++) assert.equal(b.take("203.0.113.1", 500), false);
    assert.equal(b.available("203.0.113.1", 1000), 1, "refusals did not dig a deeper hole");
  });

  test("the map stays bounded under a spray of addresses", () => {
    const b = new SynBudget({ burst: 8, perSecond: 1, maxIps: 16 });
    for (let i = 0; i < 1000; i++) b.take(`10.0.${i >> 8}.${i & 255}`, i);
    assert.equal(b.size, 16);
  });

  test("options are validated", () => {
    for (const bad of [{ burst: 0 }, { burst: 1.5 }, { perSecond: 0 }, { perSecond: Number.NaN }, { maxIps: 0 }]) {
      assert.throws(() => new SynBudget({ burst: 4, perSecond: 1, maxIps: 4, ...bad }), { code: "P2P_ERR_INVALID_ARGUMENT" });
    }
  });
});
