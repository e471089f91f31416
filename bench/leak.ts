/**
 * 1,000 connect / send / recv / close cycles (BENCH_LEAK_CYCLES) between two
 * nodes: file descriptors, active handles and timers, listeners on both nodes
 * and pipes held, before and after. Every delta should be 0.
 */
import type { Node } from "../src/index.ts";
import { activeResources, envNumber, fmt, nodePair, openFds, sleep, type BenchResult } from "./harness.ts";

const CYCLES = envNumber("BENCH_LEAK_CYCLES", 1000);

const listeners = (n: Node) => n.eventNames().reduce((k, e) => k + n.listenerCount(e), 0);

export async function leak(): Promise<BenchResult> {
  const { a, b, close } = await nodePair();
  b.onMessage((m, p) => p.send(m.data));
  const snap = () => ({ fds: openFds(), ...activeResources(), listeners: listeners(a) + listeners(b), pipes: a.pipes.size + b.pipes.size });
  // One cycle first, so lazily created handles (a resolver, a timer list) count as the baseline.
  const cycle = async () => {
    const p = await a.connect(b.addr);
    await p.send("ping");
    await p.recv();
    await p.close();
  };
  await cycle();
  await sleep(200);
  const before = snap();
  const t0 = performance.now();
  for (let i = 0; i < CYCLES; i++) await cycle();
  const perCycle = (performance.now() - t0) / CYCLES;
  await sleep(1500); // lingering closes finish
  const after = snap();
  await close();
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const delta: Record<string, number> = {};
  for (const k of keys) delta[k] = ((after as Record<string, number>)[k] ?? 0) - ((before as Record<string, number>)[k] ?? 0);
  return {
    name: "leak check",
    rows: keys.map((k) => ({ what: k, before: (before as Record<string, number>)[k] ?? 0, after: (after as Record<string, number>)[k] ?? 0, delta: delta[k] })),
    json: { cycles: CYCLES, ms_per_cycle: +fmt(perCycle, 2), leaked: Object.values(delta).some((d) => d > 0), delta },
  };
}
