/**
 * Does throughput depend on how much is queued? 1 KiB messages through one pipe
 * with 64 KiB, 4 MiB and 64 MiB of send() promises outstanding (BENCH_QUEUE_MIB
 * MiB each, default 128). The goal: all three within 10 % of each other.
 */
import { envNumber, fmt, KiB, mbps, MiB, pipePair, type BenchResult } from "./harness.ts";
import { pipeSendAll } from "./throughput.ts";

const TOTAL = envNumber("BENCH_QUEUE_MIB", 128) * MiB;

export async function queueDepth(): Promise<BenchResult> {
  const rows: BenchResult["rows"] = [];
  const json: Record<string, unknown> = { message_bytes: KiB, total_mib: TOTAL / MiB };
  const results: number[] = [];
  for (const window of [64 * KiB, 4 * MiB, 64 * MiB]) {
    const { pipe, peer, close } = await pipePair();
    const rss0 = process.memoryUsage().rss;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - rss0)), 50);
    const ms = await pipeSendAll(pipe, peer, KiB, Math.max(TOTAL, 2 * window), window);
    clearInterval(sampler);
    await close();
    const r = mbps(Math.max(TOTAL, 2 * window), ms);
    results.push(r);
    const label = window >= MiB ? `${window / MiB} MiB` : `${window / KiB} KiB`;
    rows.push({ queued: label, "MB/s": fmt(r), "× 64 KiB": fmt(r / results[0], 2), "rss growth MiB": fmt(peak / MiB, 1) });
    json[`queued_${label.replace(" ", "").toLowerCase()}_mb_s`] = +r.toFixed(1);
  }
  json.spread = +((Math.max(...results) - Math.min(...results)) / Math.max(...results)).toFixed(3);
  return { name: "queue depth", rows, json };
}
