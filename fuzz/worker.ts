/**
 * Runs one target for fuzz/run.ts in a worker thread, so the main thread can
 * notice a hang (a synchronous decoder cannot be interrupted from inside) and
 * the heap is the target's own. Inputs come in batches from fast-check with a
 * seed per batch, so any failure is replayable with `--seed`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { checkOne, FuzzFailure, showInput, type Outcome } from "./harness.ts";
import { loadTargets, GROUPS } from "./targets/index.ts";

const { name, seed, batch, maxSeconds } = workerData as { name: string; runs: number; seed: number; batch: number; maxSeconds: number };
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heap = () => {
  gc();
  return getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers;
};

const target = (await loadTargets(GROUPS)).find((t) => t.name === name);
if (!target) throw new Error(`no target ${name}`);
const runs = Math.min((workerData as { runs: number }).runs, target.maxRuns ?? Infinity);
const counts: Record<Outcome, number> = { accepted: 0, rejected: 0, "typed-error": 0 };
let maxMs = 0;
let maxInput = "";
const heap0 = heap();
let heapPeak = 0;
const start = performance.now();
let done = 0;
let failure: string | undefined;
let capped = false;
for (let b = 0; done < runs && !failure && !capped; b++) {
  const n = Math.min(batch, runs - done);
  // Generating a batch is not the decoder's time: the watchdog pauses meanwhile.
  parentPort!.postMessage({ kind: "sampling" });
  const inputs = fc.sample(target.arb, { numRuns: n, seed: seed + b });
  for (const input of inputs) {
    if (maxSeconds > 0 && performance.now() - start > maxSeconds * 1000) {
      capped = true;
      break;
    }
    parentPort!.postMessage({ kind: "current", at: done, batchSeed: seed + b });
    const t0 = performance.now();
    try {
      const r = checkOne(target, input);
      counts[r instanceof Promise ? await r : r]++;
    } catch (err) {
      failure = err instanceof FuzzFailure ? err.message : `harness error: ${(err as Error).stack}`;
      break;
    }
    const ms = performance.now() - t0;
    if (ms > maxMs) {
      maxMs = ms;
      maxInput = showInput(target, input).slice(0, 300);
    }
    done++;
  }
  // A growing heap across batches (after a full GC) is a leak or an unbounded cache.
  heapPeak = Math.max(heapPeak, heap() - heap0);
  parentPort!.postMessage({ kind: "progress", done, seconds: (performance.now() - start) / 1000 });
}
parentPort!.postMessage({
  kind: "result",
  result: { name, inputs: done, seconds: (performance.now() - start) / 1000, counts, maxMs, maxInput, heapDelta: heap() - heap0, heapPeak, failure, capped, todo: target.todo },
});
