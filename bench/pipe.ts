/**
 * `npm run bench`: pipe throughput and round-trip latency as ratios against
 * raw TCP sockets measured in the same process, on loopback (machines here are
 * noisy: absolute numbers mean little, the ratios are what to compare).
 * Prints a table, then one JSON line per benchmark.
 */
import net from "node:net";
import { startNode, type Pipe } from "../src/index.ts";

const MiB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_MIB ?? 256) * MiB;
const RTT_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);

async function rawPair(): Promise<{ client: net.Socket; server: net.Socket; close: () => Promise<void> }> {
  const srv = net.createServer({ noDelay: true });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const client = net.connect({ host: "127.0.0.1", port, noDelay: true });
  await new Promise((r) => client.once("connect", r));
  const server = await accepted;
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

async function rawThroughput(size: number): Promise<number> {
  const { client, server, close } = await rawPair();
  const buf = Buffer.alloc(size, 7);
  let got = 0;
  const done = new Promise<void>((r) => server.on("data", (d: Buffer) => (got += d.length) >= TOTAL && r()));
  const t0 = performance.now();
  for (let sent = 0; sent < TOTAL; sent += size) {
    if (!client.write(buf)) await new Promise((r) => client.once("drain", r));
  }
  await done;
  const secs = (performance.now() - t0) / 1000;
  await close();
  return TOTAL / MiB / secs;
}

async function rawRtt(): Promise<number> {
  const { client, server, close } = await rawPair();
  server.on("data", (d) => server.write(d));
  const msg = Buffer.alloc(32, 1);
  const t0 = performance.now();
  for (let i = 0; i < RTT_ROUNDS; i++) {
    client.write(msg);
    let n = 0;
    await new Promise<void>((r) => {
      const on = (d: Buffer) => {
        if ((n += d.length) >= msg.length) {
          client.off("data", on);
          r();
        }
      };
      client.on("data", on);
    });
  }
  const ms = (performance.now() - t0) / RTT_ROUNDS;
  await close();
  return ms;
}

async function pipePair() {
  const a = await startNode({ host: "127.0.0.1" });
  const b = await startNode({ host: "127.0.0.1" });
  const inbound = new Promise<Pipe>((r) => b.once("pipe", r));
  const pipe = await a.connect(b.addr);
  const peer = await inbound;
  return { pipe, peer, close: async () => Promise.all([a.close(), b.close()]) };
}

async function pipeThroughput(size: number): Promise<number> {
  const { pipe, peer, close } = await pipePair();
  const buf = new Uint8Array(size).fill(7);
  let got = 0;
  const done = new Promise<void>((r) => peer.on("message", (m) => (got += m.data.length) >= TOTAL && r()));
  const t0 = performance.now();
  let pending: Promise<void>[] = [];
  for (let sent = 0; sent < TOTAL; sent += size) {
    pending.push(pipe.send(buf));
    if (pending.length >= 64) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await done;
  const secs = (performance.now() - t0) / 1000;
  await close();
  return TOTAL / MiB / secs;
}

async function pipeRtt(): Promise<number> {
  const { pipe, peer, close } = await pipePair();
  peer.on("message", (m) => void peer.send(m.data));
  const msg = new Uint8Array(32).fill(1);
  const t0 = performance.now();
  for (let i = 0; i < RTT_ROUNDS; i++) {
    await pipe.send(msg);
    await pipe.recv();
  }
  const ms = (performance.now() - t0) / RTT_ROUNDS;
  await close();
  return ms;
}

const rows: Array<Record<string, unknown>> = [];
// Interleave baseline and subject so drift on a noisy machine hits both.
const raw1M = await rawThroughput(MiB);
const pipe1M = await pipeThroughput(MiB);
const raw1K = await rawThroughput(1024);
const pipe1K = await pipeThroughput(1024);
const rawR = await rawRtt();
const pipeR = await pipeRtt();

rows.push({ bench: "throughput 1 MiB messages", raw: `${raw1M.toFixed(0)} MiB/s`, pipe: `${pipe1M.toFixed(0)} MiB/s`, ratio: (pipe1M / raw1M).toFixed(2) });
rows.push({ bench: "throughput 1 KiB messages", raw: `${raw1K.toFixed(0)} MiB/s`, pipe: `${pipe1K.toFixed(0)} MiB/s`, ratio: (pipe1K / raw1K).toFixed(2) });
rows.push({ bench: "round trip, 32-byte message", raw: `${(rawR * 1000).toFixed(0)} µs`, pipe: `${(pipeR * 1000).toFixed(0)} µs`, ratio: (pipeR / rawR).toFixed(2) });
console.table(rows);
console.log(
  JSON.stringify({
    bench: "pipe",
    throughput_ratio: +(pipe1M / raw1M).toFixed(3),
    throughput_ratio_1k: +(pipe1K / raw1K).toFixed(3),
    rtt_ratio: +(pipeR / rawR).toFixed(3),
    raw_mib_s: +raw1M.toFixed(1),
    pipe_mib_s: +pipe1M.toFixed(1),
    raw_1k_mib_s: +raw1K.toFixed(1),
    pipe_1k_mib_s: +pipe1K.toFixed(1),
    raw_rtt_us: +(rawR * 1000).toFixed(1),
    pipe_rtt_us: +(pipeR * 1000).toFixed(1),
    total_mib: TOTAL / MiB,
  }),
);
