/**
 * What every benchmark shares: loopback pairs of raw TCP, TLS 1.3 and pipe
 * endpoints, percentiles, and the output (one table and one JSON line per
 * benchmark). Machines here are shared and noisy: compare the ratios measured
 * in the same run, never absolute figures across runs.
 */
import net from "node:net";
import tls from "node:tls";
import { readdirSync } from "node:fs";
import { startNode, type Node, type Pipe } from "../src/index.ts";
import { selfSignedCert } from "./cert.ts";

export const KiB = 1024;
export const MiB = 1024 * 1024;
const MB = 1e6;

export function envNumber(name: string, dflt: number): number {
  const v = process.env[name];
  return v === undefined || v === "" ? dflt : Number(v);
}

/** Both ends of one byte stream, and how to tear it down. */
export interface StreamPair {
  client: net.Socket;
  server: net.Socket;
  close(): Promise<void>;
}

let cert: { key: string; cert: string } | undefined;
export const tlsCert = () => (cert ??= selfSignedCert());

/** A listening raw TCP ("tcp") or TLS 1.3 ("tls") server on loopback whose connections `onConn` gets. */
export async function listenStream(kind: "tcp" | "tls", onConn: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const srv =
    kind === "tcp"
      ? net.createServer({ noDelay: true }, onConn)
      : tls.createServer({ ...tlsCert(), minVersion: "TLSv1.3", noDelay: true } as tls.TlsOptions, onConn);
  const sockets = new Set<net.Socket>();
  srv.on(kind === "tcp" ? "connection" : "secureConnection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** Connects to a listenStream server; resolves when the first byte may be written (TCP connect / TLS secureConnect). */
export function dialStream(kind: "tcp" | "tls", port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s =
      kind === "tcp"
        ? net.connect({ host: "127.0.0.1", port, noDelay: true }, () => resolve(s))
        : tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, minVersion: "TLSv1.3" }, () => resolve(s)).setNoDelay(true);
    s.once("error", reject);
  });
}

export async function streamPair(kind: "tcp" | "tls"): Promise<StreamPair> {
  let accepted!: (s: net.Socket) => void;
  const got = new Promise<net.Socket>((r) => (accepted = r));
  const srv = await listenStream(kind, (s) => accepted(s));
  const client = await dialStream(kind, srv.port);
  const server = await got;
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      await srv.close();
    },
  };
}

/** Two nodes on loopback. */
export async function nodePair(opts: Parameters<typeof startNode>[0] = {}): Promise<{ a: Node; b: Node; close(): Promise<void> }> {
  const a = await startNode({ host: "127.0.0.1", ...opts });
  const b = await startNode({ host: "127.0.0.1", ...opts });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

/** One pipe between two fresh nodes: `pipe` (dialled) and `peer` (accepted). */
export async function pipePair(opts: Parameters<typeof startNode>[0] = {}): Promise<{ pipe: Pipe; peer: Pipe; close(): Promise<void> }> {
  const n = await nodePair(opts);
  const inbound = new Promise<Pipe>((r) => n.b.once("pipe", r));
  const pipe = await n.a.connect(n.b.addr);
  const peer = await inbound;
  return { pipe, peer, close: n.close };
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export const mbps = (bytes: number, ms: number) => bytes / MB / (ms / 1000);
export const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
export const ratio = (a: number, b: number) => +(a / b).toFixed(3);

/** Open file descriptors of this process (Linux). */
export function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

/** Active handles and timers by kind (what would keep the process alive). */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** Heap + buffers in use after a full GC (needs --expose-gc, which `npm run bench` passes). */
export async function memoryInUse(): Promise<number> {
  const g = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    g?.();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One benchmark's result: table rows for humans, one JSON object for machines. */
export interface BenchResult {
  name: string;
  rows: Array<Record<string, string | number>>;
  json: Record<string, unknown>;
}

export function report(r: BenchResult): void {
  console.log(`\n## ${r.name}`);
  console.table(r.rows);
  console.log(JSON.stringify({ bench: r.name, ...r.json }));
}
