/**
 * New authenticated pipes per second with k connects in flight (BENCH_INFLIGHT,
 * default 50; BENCH_RATE_CONNECTS in all, default 1000), both nodes in this
 * process, against TLS 1.3 connects at the same concurrency.
 */
import { dialStream, envNumber, fmt, listenStream, nodePair, ratio, type BenchResult } from "./harness.ts";
import type { Pipe } from "../src/index.ts";

const M = envNumber("BENCH_RATE_CONNECTS", 1000);
const K = envNumber("BENCH_INFLIGHT", 50);

/** Runs `one` M times with K in flight; returns the rate per second. */
export async function atRate(m: number, k: number, one: () => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: k }, async () => {
      while (next++ < m) await one();
    }),
  );
  return m / ((performance.now() - t0) / 1000);
}

export async function connectRate(): Promise<BenchResult> {
  const srv = await listenStream("tls", () => {});
  const socks: { destroy(): void }[] = [];
  const tls = await atRate(M, K, async () => void socks.push(await dialStream("tls", srv.port)));
  for (const s of socks) s.destroy();
  await srv.close();

  const { a, b, close } = await nodePair();
  const pipes: Pipe[] = [];
  const pipe = await atRate(M, K, async () => void pipes.push(await a.connect(b.addr)));
  await Promise.all(pipes.map((p) => p.destroy()));
  await close();
  return {
    name: "connect rate",
    rows: [
      { system: "TLS 1.3", "connects/s": fmt(tls), "in flight": K },
      { system: "pipe", "connects/s": fmt(pipe), "in flight": K, "× tls": fmt(pipe / tls, 2) },
    ],
    json: { connects: M, in_flight: K, tls_per_s: +tls.toFixed(0), pipe_per_s: +pipe.toFixed(0), pipe_over_tls: ratio(pipe, tls) },
  };
}
