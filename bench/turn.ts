/**
 * `npm run bench:turn` (root, the NAT lab): relayed pipe throughput as ratios
 * against plain TCP over the same lab path, measured in the same run. Two
 * symmetric-random NATs; coturn on srv relays for the pipes, and a plain TCP
 * forwarder on srv (two ports spliced together) is the baseline over the very
 * same hops. Clean links at 20 ms, then 2 % loss on both wan links.
 *
 * Prints a table, then one JSON line per measurement.
 */
import { Lab } from "../test/lab/lab.ts";

const MIB = Number(process.env.BENCH_MIB ?? 8);
const LOSSY_MIB = Number(process.env.BENCH_LOSSY_MIB ?? 2);
const NODE = new URL("../test/lab/turn-node.ts", import.meta.url).pathname;

/** A plain TCP forwarder: the first connection on each port is spliced to the other's. */
const FORWARDER = `
const net = require("node:net");
const waiting = [];
for (const port of [7001, 7002]) net.createServer({ noDelay: true }, (s) => {
  const other = waiting.shift();
  if (other) { s.pipe(other); other.pipe(s); } else waiting.push(s);
}).listen(port, process.argv[1]);
console.log("ready");`;

/** b1: reads MIB MiB from the forwarder and answers with one byte; a1: writes them and waits for it. */
const SINK = `
const s = require("node:net").connect({ host: process.argv[1], port: 7002, noDelay: true });
let n = 0; const total = Number(process.argv[2]) * 1048576;
s.on("data", (d) => { n += d.length; if (n >= total) { s.end("k"); } });
s.on("connect", () => console.log("ready"));`;
const SOURCE = `
const s = require("node:net").connect({ host: process.argv[1], port: 7001, noDelay: true });
const total = Number(process.argv[2]) * 1048576; const chunk = Buffer.alloc(65536, 7);
s.on("connect", () => { const t0 = performance.now(); let sent = 0;
  const pump = () => { while (sent < total) { sent += chunk.length; if (!s.write(chunk)) return s.once("drain", pump); } };
  s.once("data", () => { console.log(JSON.stringify({ ms: Math.round(performance.now() - t0) })); s.destroy(); });
  pump(); });`;

async function main(): Promise<void> {
  const lab = await Lab.up({ a: "symmetric-random", b: "symmetric-random", delayMs: 20 });
  const rows: Array<{ path: string; link: string; mib: number; ms: number; mibPerS: number; ratio?: number }> = [];
  try {
    const [mq, turn] = await Promise.all([lab.startMosquitto(), lab.startCoturn()]);
    const env = { P2PNODE_TURN_USER: turn.username, P2PNODE_TURN_PASS: turn.password };
    const stun = `stun:${turn.host}:${turn.port}`;
    const fwd = lab.spawn("srv", process.execPath, ["-e", FORWARDER, turn.host]);
    await fwd.waitForLine(/ready/, 10_000);

    const plainTcp = async (mib: number): Promise<number> => {
      const sink = lab.spawn("b1", process.execPath, ["-e", SINK, turn.host, String(mib)]);
      await sink.waitForLine(/ready/, 10_000);
      const r = await lab.exec("a1", [process.execPath, "-e", SOURCE, turn.host, String(mib)], { timeoutMs: 600_000 });
      await sink.kill();
      return (JSON.parse(r.stdout.trim().split("\n").pop()!) as { ms: number }).ms;
    };
    const relayed = async (relay: "tcp" | "udp", mib: number): Promise<number> => {
      const uri = relay === "tcp" ? `turn:${turn.host}:${turn.port}?transport=tcp` : `turn:${turn.host}:${turn.port}`;
      const l = lab.spawn("b1", process.execPath, ["--import", "tsx", NODE, "listen", stun, mq.url]);
      const { addr } = JSON.parse(await l.waitForLine(/"event":"ready"/, 30_000)) as { addr: string };
      try {
        const r = await lab.exec("a1", [process.execPath, "--import", "tsx", NODE, "connect", stun, mq.url, addr, uri, relay, String(mib)], { timeoutMs: 900_000, env });
        const line = r.stdout.split("\n").find((x) => x.includes('"event":"connected"'));
        if (!line) throw new Error(`relayed ${relay} failed:\n${r.stdout}\n${r.stderr}`);
        const j = JSON.parse(line) as { transferMs: number; intact: boolean };
        if (!j.intact) throw new Error("the relayed data arrived damaged");
        return j.transferMs;
      } finally {
        await l.kill();
      }
    };

    for (const [link, mib] of [["20 ms", MIB], ["20 ms + 2 % loss", LOSSY_MIB]] as const) {
      if (link.includes("loss")) await Promise.all([lab.setImpair("a", { delayMs: 20, lossPct: 2 }), lab.setImpair("b", { delayMs: 20, lossPct: 2 })]);
      const base = await plainTcp(mib);
      rows.push({ path: "plain TCP via srv (baseline)", link, mib, ms: base, mibPerS: mib / (base / 1000) });
      for (const relay of ["tcp", "udp"] as const) {
        const ms = await relayed(relay, mib);
        rows.push({ path: `pipe over TURN ${relay.toUpperCase()} allocation`, link, mib, ms, mibPerS: mib / (ms / 1000), ratio: base / ms });
      }
    }
  } finally {
    await lab.down();
  }
  console.log("| path | link | MiB | ms | MiB/s | × plain TCP |\n|---|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.path} | ${r.link} | ${r.mib} | ${r.ms} | ${r.mibPerS.toFixed(2)} | ${r.ratio === undefined ? "1" : r.ratio.toFixed(2)} |`);
  for (const r of rows) console.log(JSON.stringify({ bench: "turn", ...r }));
}

await main();
