// Runs fuzz targets (fuzz/targets/*) briefly as property tests; `npm run fuzz` runs the same targets ≥ 1,000,000 times.
import fc from "fast-check";
import { it } from "node:test";
import { checkOne, type FuzzTarget } from "../../fuzz/harness.ts";

/** One test per target; a target with a `todo` (bug in a file another change owns) runs but does not fail the suite. */
export function fuzzTargets(targets: readonly FuzzTarget[]): void {
  for (const t of targets) {
    // testRuns 0: a runner-only target (each input is a large stream; see its comment).
    if (t.testRuns === 0) continue;
    it(`${t.name}: only typed errors / never throws (${t.testRuns ?? 500} inputs)`, t.todo ? { todo: t.todo } : {}, async () => {
      const runs = t.testRuns ?? 500;
      const probe = fc.sample(t.arb, { numRuns: 1 })[0];
      // Synchronous decoders stay synchronous: an async property per input would triple the suite's time.
      if (checkOne(t, probe) instanceof Promise) {
        await fc.assert(fc.asyncProperty(t.arb, async (x) => void (await checkOne(t, x))), { numRuns: runs });
      } else {
        fc.assert(fc.property(t.arb, (x) => void checkOne(t, x)), { numRuns: runs });
      }
    });
  }
}
