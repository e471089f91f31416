/** The top-level strategies/ paths (the design card's) re-export every built-in strategy, the same classes as src/strategies/. */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as direct from "../../src/strategies/direct.ts";
import { defaultStrategies } from "../../src/strategies/index.ts";
import * as punch from "../../src/strategies/punch.ts";
import * as reverse from "../../src/strategies/reverse.ts";
import * as turn from "../../src/strategies/turn.ts";

const sources: Record<string, Record<string, unknown>> = { direct, reverse, punch, turn };

test("strategies/<name>.ts exists for every built-in strategy and exports what src/strategies/<name>.ts does", async () => {
  const names = new Set([...defaultStrategies().map((s) => s.name), "turn"]);
  for (const name of names) {
    const top = (await import(`../../strategies/${name}.ts`)) as Record<string, unknown>;
    const src = sources[name];
    assert.ok(src, `no source module listed for ${name}`);
    assert.deepEqual(Object.keys(top).sort(), Object.keys(src).sort(), `strategies/${name}.ts re-exports src/strategies/${name}.ts`);
    for (const k of Object.keys(src)) assert.equal(top[k], src[k], `strategies/${name}.ts: ${k} is the same binding`);
  }
});
