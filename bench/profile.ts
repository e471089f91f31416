/**
 * Workloads to profile, one at a time, without the baselines around them:
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts rtt|send1k|send1m|connect|rate|records
 * Then read the .cpuprofile top-down (Chrome DevTools, or any summariser).
 */
import { KiB, MiB, nodePair, pipePair } from "./harness.ts";
import { pipeSendAll } from "./throughput.ts";

const what = process.argv[2] ?? "rtt";
const t0 = performance.now();
if (what === "rtt") {
  const { pipe, peer, close } = await pipePair();
  peer.on("message", (m) => void peer.send(m.data));
  const msg = new Uint8Array(32).fill(1);
  const N = 20000;
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < N; i++) {
    void pipe.send(msg);
    await pipe.recv();
  }
  const cpu = process.cpuUsage(cpu0);
  // CPU time per round trip (both ends, this process) is steadier than wall time on a loaded machine.
  console.log(`rtt mean ${(((performance.now() - w0) * 1000) / N).toFixed(1)} µs wall, ${((cpu.user + cpu.system) / N).toFixed(1)} µs CPU`);
  await close();
} else if (what === "send1k" || what === "send1m") {
  const size = what === "send1k" ? KiB : MiB;
  const { pipe, peer, close } = await pipePair();
  const total = 128 * MiB;
  const ms = await pipeSendAll(pipe, peer, size, total, 4 * MiB);
  console.log(`${what}: ${(total / 1e6 / (ms / 1000)).toFixed(0)} MB/s, ${((ms * 1e6) / total).toFixed(2)} ns/byte`);
  await close();
} else if (what === "connect") {
  const { a, b, close } = await nodePair();
  const N = 300;
  for (let i = 0; i < N; i++) await (await a.connect(b.addr)).destroy();
  console.log(`connect mean ${((performance.now() - t0) / N).toFixed(2)} ms`);
  await close();
} else if (what === "rate") {
  const { a, b, close } = await nodePair();
  const N = 1000;
  let next = 0;
  await Promise.all(Array.from({ length: 50 }, async () => { while (next++ < N) await (await a.connect(b.addr)).destroy(); }));
  console.log(`${(N / ((performance.now() - t0) / 1000)).toFixed(0)} connects/s with 50 in flight`);
  await close();
} else if (what === "records") {
  // How many records carry 1 KiB messages sent with `window` bytes outstanding (batching at work).
  for (const window of [64 * KiB, 4 * MiB]) {
    const { pipe, peer, close } = await pipePair();
    const n = 16384;
    const ms = await pipeSendAll(pipe, peer, KiB, n * KiB, window);
    const s = pipe.stats;
    const records = (s.bytesSent - s.messagesSent * (KiB + 16)) / 32; // per record ≈ 4 length + 16 tag + 12 BATCH header
    console.log(`window ${window / KiB} KiB: ${(n / records).toFixed(1)} messages per record, ${(ms * 1000 / n).toFixed(2)} µs per message`);
    await close();
  }
} else throw new Error(`unknown workload ${what}`);
