/**
 * Many idle pipes between two loopback nodes in one process (BENCH_SCALE pipes,
 * default 500; 5000 gives the 10,000 pipe ends): memory per pipe end
 * (heap + buffers after GC), CPU while every pipe is idle for BENCH_IDLE_MS
 * (default 21000, two keepalive intervals), and the round trip to a random pipe.
 */
import type { Pipe } from "../src/index.ts";
import { atRate } from "./connect-rate.ts";
import { envNumber, fmt, memoryInUse, nodePair, percentile, sleep, type BenchResult } from "./harness.ts";

const N = envNumber("BENCH_SCALE", 500);
const IDLE_MS = envNumber("BENCH_IDLE_MS", 21_000);

export async function scale(): Promise<BenchResult> {
  const { a, b, close } = await nodePair();
  b.onMessage((m, p) => p.send(m.data));
  const mem0 = await memoryInUse();
  const pipes: Pipe[] = [];
  const rate = await atRate(N, 50, async () => void pipes.push(await a.connect(b.addr)));
  await sleep(500);
  const mem1 = await memoryInUse();
  const perEnd = (mem1 - mem0) / (2 * N);

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(IDLE_MS);
  const cpu = process.cpuUsage(cpu0);
  const idlePct = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;

  const rtts: number[] = [];
  const msg = new Uint8Array(32);
  for (let i = 0; i < 300; i++) {
    const p = pipes[Math.floor(Math.random() * pipes.length)];
    const s = performance.now();
    void p.send(msg);
    await p.recv();
    rtts.push((performance.now() - s) * 1000);
  }
  const alive = pipes.filter((p) => p.state === "open").length;
  await Promise.all(pipes.map((p) => p.destroy()));
  await close();
  const p50 = percentile(rtts, 50);
  return {
    name: "scale",
    rows: [
      {
        pipes: N,
        "pipe ends": 2 * N,
        "KiB per end": fmt(perEnd / 1024, 1),
        "idle CPU % of a core": fmt(idlePct, 2),
        "rtt p50 µs": fmt(p50),
        "rtt p99 µs": fmt(percentile(rtts, 99)),
        "open after idle": alive,
        "setup pipes/s": fmt(rate),
      },
    ],
    json: { pipes: N, pipe_ends: 2 * N, kib_per_end: +(perEnd / 1024).toFixed(2), idle_cpu_pct: +idlePct.toFixed(2), idle_ms: IDLE_MS, rtt_p50_us: +p50.toFixed(1), open_after_idle: alive },
  };
}
