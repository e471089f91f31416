/**
 * Bulk throughput, one direction, for 1 KiB / 64 KiB / 1 MiB messages: raw TCP,
 * TLS 1.3 and a pipe, each sending BENCH_MIB MiB (default 64). The pipe keeps up
 * to `window` bytes of send() promises outstanding (4 MiB, like the issue's
 * measurement); streams write until write() says wait, then wait for 'drain'.
 */
import type { Pipe } from "../src/index.ts";
import { envNumber, fmt, KiB, mbps, MiB, pipePair, ratio, streamPair, type BenchResult } from "./harness.ts";

export const TOTAL = envNumber("BENCH_MIB", 64) * MiB;

export async function streamThroughput(kind: "tcp" | "tls", size: number, total = TOTAL): Promise<number> {
  const { client, server, close } = await streamPair(kind);
  const buf = Buffer.alloc(size, 7);
  let got = 0;
  const done = new Promise<void>((r) => server.on("data", (d: Buffer) => (got += d.length) >= total && r()));
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += size) {
    if (!client.write(buf)) await new Promise((r) => client.once("drain", r));
  }
  await done;
  const ms = performance.now() - t0;
  await close();
  return mbps(total, ms);
}

/** Sends `total` bytes of `size`-byte messages with at most `window` bytes of sends outstanding; resolves when all arrived. */
export async function pipeSendAll(pipe: Pipe, peer: Pipe, size: number, total: number, window: number): Promise<number> {
  const buf = new Uint8Array(size).fill(7);
  let got = 0;
  const done = new Promise<void>((r) => peer.on("message", (m) => (got += m.data.length) >= total && r()));
  const pending: Promise<void>[] = [];
  let head = 0;
  let queued = 0;
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += size) {
    pending.push(pipe.send(buf));
    queued += size;
    while (queued >= window) {
      await pending[head];
      pending[head++] = undefined as unknown as Promise<void>;
      queued -= size;
    }
  }
  await Promise.all(pending.slice(head));
  await done;
  return performance.now() - t0;
}

export async function pipeThroughput(size: number, total = TOTAL, window = 4 * MiB): Promise<number> {
  const { pipe, peer, close } = await pipePair();
  const ms = await pipeSendAll(pipe, peer, size, total, window);
  await close();
  return mbps(total, ms);
}

export async function throughput(): Promise<BenchResult> {
  const rows: BenchResult["rows"] = [];
  const json: Record<string, unknown> = { total_mib: TOTAL / MiB };
  for (const size of [KiB, 64 * KiB, MiB]) {
    // Interleaved so drift on a noisy machine hits all three.
    const tcp = await streamThroughput("tcp", size);
    const tls = await streamThroughput("tls", size);
    const pipe = await pipeThroughput(size);
    const label = size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`;
    rows.push({ message: label, "tcp MB/s": fmt(tcp), "tls MB/s": fmt(tls), "pipe MB/s": fmt(pipe), "pipe/tls": fmt(pipe / tls, 2), "pipe/tcp": fmt(pipe / tcp, 2) });
    const k = size >= MiB ? "1m" : `${size / KiB}k`;
    Object.assign(json, { [`tcp_${k}_mb_s`]: +tcp.toFixed(1), [`tls_${k}_mb_s`]: +tls.toFixed(1), [`pipe_${k}_mb_s`]: +pipe.toFixed(1), [`pipe_over_tls_${k}`]: ratio(pipe, tls), [`pipe_over_tcp_${k}`]: ratio(pipe, tcp) });
  }
  return { name: "throughput", rows, json };
}
