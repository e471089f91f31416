/**
 * `npm run fuzz`: every decoder of peer or network input, ≥ 1,000,000 inputs
 * each by default (issue 9). Fails on an untyped error, a throw from an API
 * documented never to throw, a broken invariant, a hang, or heap growth.
 *
 *   npm run fuzz -- --runs 10000 --only stun --jobs 2 --seed 42
 *   npm run fuzz -- --max-seconds 300     (time budget per target; short targets are reported "time-capped")
 *
 * Each target runs in its own worker thread; the main thread is the watchdog.
 */
import { Worker } from "node:worker_threads";
import { loadTargets } from "./targets/index.ts";

const args = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : d;
};
const runs = Number(opt("runs", "1000000"));
const only = opt("only", "").split(",").filter(Boolean);
const jobs = Math.max(1, Number(opt("jobs", "1")));
const seed = Number(opt("seed", String(Date.now() % 1e9)));
const batch = Number(opt("batch", "5000"));
/** No progress (one input) for this long is a hang. */
const hangMs = Number(opt("hang-ms", "10000"));
/** Heap (used + ArrayBuffers) above the start after a full GC, at the end, that counts as unbounded growth. */
const heapLimit = Number(opt("heap-mb", "64")) * 2 ** 20;
const progressMs = Number(opt("progress-s", "60")) * 1000;
/** One input slower than this (ms) is a failure: cost that grows faster than the input (a hang is the extreme). */
const slowMs = Number(opt("slow-ms", "5000"));
/** Time budget per target (0 = none): a target still short of --runs then stops and is reported as time-capped, not failed. */
const maxSeconds = Number(opt("max-seconds", "0"));

const all = await loadTargets();
const selected = all.filter((t) => !only.length || only.some((o) => t.name.includes(o)));
if (!selected.length) {
  console.error(`no target matches ${only.join(",")}; targets: ${all.map((t) => t.name).join(", ")}`);
  process.exit(2);
}
console.log(`fuzz: ${selected.length} targets × ${runs} inputs (fewer where a target caps it${maxSeconds ? `, at most ${maxSeconds} s each` : ""}), seed ${seed}, ${jobs} job(s)`);

interface Result {
  name: string;
  inputs: number;
  seconds: number;
  counts: Record<string, number>;
  maxMs: number;
  maxInput: string;
  heapDelta: number;
  heapPeak: number;
  failure?: string;
  capped?: boolean;
  todo?: string;
}

function runOne(name: string): Promise<Result> {
  return new Promise((resolve) => {
    const w = new Worker(new URL("./worker-boot.mjs", import.meta.url), { workerData: { name, runs, seed, batch, maxSeconds }, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    const started = Date.now();
    let last = Date.now();
    let at = 0;
    let batchSeed = seed;
    let settled = false;
    const finish = (r: Result) => {
      if (settled) return;
      settled = true;
      clearInterval(dog);
      resolve(r);
    };
    const todo = selected.find((t) => t.name === name)?.todo;
    const blank = (failure: string): Result => ({ name, inputs: at, seconds: (Date.now() - started) / 1000, counts: {}, maxMs: 0, maxInput: "", heapDelta: 0, heapPeak: 0, failure, todo });
    // Armed only while an input runs: loading the modules and generating a batch can be slow on a busy machine.
    let armed = false;
    const dog = setInterval(() => {
      if (armed && Date.now() - last > hangMs) {
        void w.terminate();
        finish(blank(`hang: input #${at} (index ${at % batch} of the batch with seed ${batchSeed}) ran over ${hangMs} ms; replay: --only ${name} --seed ${batchSeed} --batch ${batch} --runs ${(at % batch) + 1}`));
      }
    }, 500);
    let shown = Date.now();
    w.on("message", (m: { kind: string; at?: number; batchSeed?: number; done?: number; seconds?: number; result?: Result }) => {
      last = Date.now();
      // A long run says how far it got (a partial count is still a number to report).
      if (m.kind === "progress" && Date.now() - shown > progressMs) {
        shown = Date.now();
        console.log(`      … ${name}: ${m.done} inputs in ${(m.seconds as number).toFixed(0)} s`);
      }
      if (m.kind === "sampling") armed = false;
      if (m.kind === "current") {
        armed = true;
        at = m.at as number;
        batchSeed = m.batchSeed as number;
      } else if (m.kind === "result") finish(m.result as Result);
    });
    w.on("error", (err) => finish(blank(`worker crashed: ${err.stack ?? err}`)));
    w.on("exit", (code) => finish(blank(`worker exited with code ${code}`)));
  });
}

const results: Result[] = [];
// Slowest first (crypto on every input), so parallel jobs end together.
const SLOW = ["handshake.mitm", "signaling.envelope-inner", "signaling.envelope-wire", "address.resigned", "punch.request", "punch.offer", "address.body"];
const rank = (n: string) => (SLOW.includes(n) ? SLOW.indexOf(n) : SLOW.length);
const queue = selected.map((t) => t.name).sort((a, b) => rank(a) - rank(b));
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let n = queue.shift(); n; n = queue.shift()) {
      const r = await runOne(n);
      if (!r.failure && r.heapDelta > heapLimit) r.failure = `heap grew by ${(r.heapDelta / 2 ** 20).toFixed(1)} MiB`;
      if (!r.failure && r.maxMs > slowMs) r.failure = `one input took ${r.maxMs.toFixed(0)} ms (limit --slow-ms ${slowMs}): ${r.maxInput}`;
      results.push(r);
      const c = r.counts;
      console.log(`${r.failure ? (r.todo ? "KNOWN" : "FAIL ") : "ok   "} ${r.name.padEnd(32)} ${String(r.inputs).padStart(9)} in ${r.seconds.toFixed(1).padStart(6)} s`);
      if (r.failure) console.log(`      ${r.failure.replaceAll("\n", "\n      ")}${r.todo ? `\n      (todo: ${r.todo})` : ""}`);
      void c;
    }
  }),
);

const mib = (n: number) => (n / 2 ** 20).toFixed(1);
results.sort((a, b) => a.name.localeCompare(b.name));
console.log("\n| decoder | inputs | seconds | accepted | rejected (null / ok:false) | typed errors | max ms / input | heap delta MiB (peak) | result |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---|");
for (const r of results) {
  const c = r.counts;
  const verdict = r.failure ? (r.todo ? "known bug (todo)" : "FAIL") : r.capped ? "ok (time-capped)" : "ok";
  console.log(`| ${r.name} | ${r.inputs} | ${r.seconds.toFixed(1)} | ${c.accepted ?? 0} | ${c.rejected ?? 0} | ${c["typed-error"] ?? 0} | ${r.maxMs.toFixed(2)} | ${mib(r.heapDelta)} (${mib(r.heapPeak)}) | ${verdict} |`);
}
const slow = results.filter((r) => r.maxInput).sort((a, b) => b.maxMs - a.maxMs)[0];
if (slow) console.log(`\nslowest single input: ${slow.name} ${slow.maxMs.toFixed(2)} ms: ${slow.maxInput}`);
const bad = results.filter((r) => r.failure && !r.todo);
process.exit(bad.length ? 1 : 0);
