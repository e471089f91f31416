/**
 * Round trips of a 32-byte message (echoed by the other end), one at a time:
 * raw TCP, TLS 1.3 and a pipe (send() then recv(), the peer echoing from a
 * 'message' listener). p50 and p99 over BENCH_ROUNDS rounds (default 3000).
 */
import type net from "node:net";
import { envNumber, fmt, percentile, pipePair, ratio, streamPair, type BenchResult } from "./harness.ts";

const ROUNDS = envNumber("BENCH_ROUNDS", 3000);
const WARMUP = 200;

async function streamRtt(kind: "tcp" | "tls", size: number): Promise<number[]> {
  const { client, server, close } = await streamPair(kind);
  server.on("data", (d) => server.write(d));
  const msg = Buffer.alloc(size, 1);
  let need = 0;
  let wake: () => void = () => {};
  client.on("data", (d: Buffer) => {
    if ((need -= d.length) <= 0) wake();
  });
  const once = (s: net.Socket) =>
    new Promise<void>((r) => {
      need = size;
      wake = r;
      s.write(msg);
    });
  const out: number[] = [];
  for (let i = 0; i < ROUNDS + WARMUP; i++) {
    const t0 = performance.now();
    await once(client);
    if (i >= WARMUP) out.push((performance.now() - t0) * 1000);
  }
  await close();
  return out;
}

async function pipeRtt(size: number): Promise<number[]> {
  const { pipe, peer, close } = await pipePair();
  peer.on("message", (m) => void peer.send(m.data));
  const msg = new Uint8Array(size).fill(1);
  const out: number[] = [];
  for (let i = 0; i < ROUNDS + WARMUP; i++) {
    const t0 = performance.now();
    void pipe.send(msg);
    await pipe.recv();
    if (i >= WARMUP) out.push((performance.now() - t0) * 1000);
  }
  await close();
  return out;
}

export async function rtt(): Promise<BenchResult> {
  const size = 32;
  const tcp = await streamRtt("tcp", size);
  const tls = await streamRtt("tls", size);
  const pipe = await pipeRtt(size);
  const [t50, l50, p50] = [tcp, tls, pipe].map((x) => percentile(x, 50));
  const [t99, l99, p99] = [tcp, tls, pipe].map((x) => percentile(x, 99));
  return {
    name: "round trip",
    rows: [
      { system: "raw TCP", "p50 µs": fmt(t50), "p99 µs": fmt(t99), "× tcp p50": "1.00" },
      { system: "TLS 1.3", "p50 µs": fmt(l50), "p99 µs": fmt(l99), "× tcp p50": fmt(l50 / t50, 2) },
      { system: "pipe", "p50 µs": fmt(p50), "p99 µs": fmt(p99), "× tcp p50": fmt(p50 / t50, 2) },
    ],
    json: { message_bytes: size, rounds: ROUNDS, tcp_p50_us: +t50.toFixed(1), tls_p50_us: +l50.toFixed(1), pipe_p50_us: +p50.toFixed(1), pipe_p99_us: +p99.toFixed(1), pipe_over_tcp_p50: ratio(p50, t50), pipe_over_tls_p50: ratio(p50, l50) },
  };
}
