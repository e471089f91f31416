/**
 * `npm run bench`: the pipe against raw TCP and TLS 1.3 (node:tls), measured in
 * the same process on loopback. Each benchmark is its own module (harness.ts
 * holds what they share); each prints a table and one JSON line. Machines here
 * are noisy: the ratios are what to compare, and a run is worth repeating.
 *
 *   BENCH_ONLY=throughput,rtt,queue,connect,rate,scale,leak   (default: all)
 *   BENCH_MIB, BENCH_ROUNDS, BENCH_QUEUE_MIB, BENCH_CONNECTS_SERIAL,
 *   BENCH_RATE_CONNECTS, BENCH_INFLIGHT, BENCH_SCALE, BENCH_IDLE_MS, BENCH_LEAK_CYCLES
 */
import os from "node:os";
import { connectRate } from "./connect-rate.ts";
import { connect } from "./connect.ts";
import { report, type BenchResult } from "./harness.ts";
import { leak } from "./leak.ts";
import { queueDepth } from "./queue-depth.ts";
import { rtt } from "./rtt.ts";
import { scale } from "./scale.ts";
import { throughput } from "./throughput.ts";

const ALL: Record<string, () => Promise<BenchResult>> = { throughput, rtt, queue: queueDepth, connect, rate: connectRate, scale, leak };
const only = (process.env.BENCH_ONLY ?? Object.keys(ALL).join(",")).split(",").map((s) => s.trim()).filter(Boolean);
for (const k of only) if (!ALL[k]) throw new Error(`BENCH_ONLY: unknown benchmark ${k} (known: ${Object.keys(ALL).join(", ")})`);

console.log(JSON.stringify({ bench: "machine", nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, load: os.loadavg().map((x) => +x.toFixed(2)) }));
for (const k of only) report(await ALL[k]());
