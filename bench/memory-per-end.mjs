/**
 * Memory per idle pipe end (heap + external after GC, 500 pipes between two loopback
 * nodes), for the source under tsx or for the compiled package, which differ:
 *   node --expose-gc --import tsx bench/memory-per-end.mjs ./src/node.ts
 *   npx tsc -p tsconfig.build.json --outDir /tmp/p2p-dist && ln -s "$PWD/node_modules" /tmp/p2p-dist/
 *   node --expose-gc bench/memory-per-end.mjs /tmp/p2p-dist/src/node.js
 * tsx compiles with esbuild's keepNames, which gives every named closure an own `name`
 * property (a 256-byte property store each, ~57 closures per pipe): ~7 KiB per pipe
 * end that the compiled package does not have (bench/RESULTS.md, 2026-12-02 17:20).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const N = Number(process.env.BENCH_SCALE ?? 500);
const { startNode } = await import(pathToFileURL(resolve(process.argv[2] ?? "./src/node.ts")).href);
async function mem() { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); } const m = process.memoryUsage(); return m.heapUsed + m.external; }
const a = await startNode({ host: "127.0.0.1" }), b = await startNode({ host: "127.0.0.1" });
await (await a.connect(b.address.text)).destroy();
const m0 = await mem();
const pipes = [];
let next = 0;
await Promise.all(Array.from({ length: 50 }, async () => { while (next++ < N) pipes.push(await a.connect(b.address.text)); }));
await new Promise((r) => setTimeout(r, 500));
const m1 = await mem();
console.log(JSON.stringify({ module: process.argv[2] ?? "./src/node.ts", pipes: N, kib_per_end: +((m1 - m0) / (2 * N) / 1024).toFixed(2) }));
await Promise.all(pipes.map((p) => p.destroy()));
await Promise.all([a.close(), b.close()]);
