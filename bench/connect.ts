/**
 * Connect latency on loopback until the first message can be sent: TCP
 * ('connect'), TLS 1.3 ('secureConnect', Ed25519 certificate) and a pipe
 * (node.connect() resolved: TCP + handshake + READY). Serial, p50 over
 * BENCH_CONNECTS_SERIAL connects (default 200).
 */
import { dialStream, envNumber, fmt, listenStream, nodePair, percentile, ratio, type BenchResult } from "./harness.ts";

const N = envNumber("BENCH_CONNECTS_SERIAL", 200);

async function streamConnects(kind: "tcp" | "tls"): Promise<number[]> {
  const srv = await listenStream(kind, () => {});
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const s = await dialStream(kind, srv.port);
    out.push(performance.now() - t0);
    s.destroy();
  }
  await srv.close();
  return out;
}

async function pipeConnects(): Promise<number[]> {
  const { a, b, close } = await nodePair();
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const p = await a.connect(b.addr);
    out.push(performance.now() - t0);
    await p.destroy();
  }
  await close();
  return out;
}

export async function connect(): Promise<BenchResult> {
  const tcp = await streamConnects("tcp");
  const tls = await streamConnects("tls");
  const pipe = await pipeConnects();
  const [t, l, p] = [tcp, tls, pipe].map((x) => percentile(x, 50));
  return {
    name: "connect",
    rows: [
      { system: "raw TCP", "p50 ms": fmt(t, 3), "p95 ms": fmt(percentile(tcp, 95), 3) },
      { system: "TLS 1.3", "p50 ms": fmt(l, 3), "p95 ms": fmt(percentile(tls, 95), 3) },
      { system: "pipe", "p50 ms": fmt(p, 3), "p95 ms": fmt(percentile(pipe, 95), 3), "× tls": fmt(p / l, 2) },
    ],
    json: { connects: N, tcp_p50_ms: +t.toFixed(3), tls_p50_ms: +l.toFixed(3), pipe_p50_ms: +p.toFixed(3), pipe_over_tls: ratio(p, l) },
  };
}
