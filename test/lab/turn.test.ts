/**
 * TURN through the lab's NATs (issue 16): two symmetric NATs with random ports
 * — which nothing else connects — get a pipe through a real coturn on srv,
 * over a TCP allocation (RFC 6062) and over a UDP allocation carrying our
 * reliable-UDP stream; coturn is also the only STUN server (a standard
 * deployment, none of our extensions). 10 MiB each way, hash checked; again
 * with loss and delay on both wan links.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, withLabLogs } from "./lab.ts";
import type { Coturn } from "./servers.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const NODE = new URL("./turn-node.ts", import.meta.url).pathname;
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const CAPTURE = new URL("./capture.py", import.meta.url).pathname;
const skip = labSkipReason();

describe("TURN in the NAT lab", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  let turn: Coturn;
  const table: string[] = [];
  const withLogs = withLabLogs(() => lab);

  before(async () => {
    lab = await Lab.up({ a: "symmetric-random", b: "symmetric-random", delayMs: 20 });
    const [m, t] = await Promise.all([lab.startMosquitto(), lab.startCoturn()]);
    broker = m.url;
    turn = t;
  });
  after(async () => {
    await lab?.down();
    for (const line of table) process.stdout.write(`# ${line}\n`);
  });

  const stun = () => `stun:${turn.host}:${turn.port}`;
  const env = () => ({ P2PNODE_TURN_USER: turn.username, P2PNODE_TURN_PASS: turn.password });

  async function listener(): Promise<{ proc: LabProcess; addr: string; nat: string }> {
    const proc = lab.spawn("b1", process.execPath, ["--import", "tsx", NODE, "listen", stun(), broker]);
    return { proc, ...(JSON.parse(await proc.waitForLine(/"event":"ready"/, 20_000)) as { addr: string; nat: string }) };
  }

  async function connect(addr: string, uri: string, relay: "tcp" | "udp", mib: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
    const r = await lab.exec("a1", [process.execPath, "--import", "tsx", NODE, "connect", stun(), broker, addr, uri, relay, String(mib)], { timeoutMs: 900_000, env: { ...env(), ...extraEnv } });
    const line = r.stdout.split("\n").find((l) => l.includes('"event":"connected"') || l.includes('"event":"failed"'));
    assert.ok(line, `connect script did not report (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(line) as Record<string, unknown>;
  }

  const cases = [
    ["TCP allocation", "tcp", () => `turn:${turn.host}:${turn.port}?transport=tcp`],
    ["UDP allocation", "udp", () => `turn:${turn.host}:${turn.port}`],
  ] as const;

  for (const [name, relay, uri] of cases) {
    test(`symmetric-random × symmetric-random: ${name} on coturn, 10 MiB intact`, withLogs(async () => {
      const l = await listener();
      try {
        assert.match(l.nat, /symmetric/);
        const r = await connect(l.addr, uri(), relay, 10);
        table.push(`20 ms | ${name} | ${r.event === "connected" ? `pipe by ${r.strategy} in ${r.connectMs} ms, 10 MiB in ${r.transferMs} ms (${r.mibPerS} MiB/s)` : `FAILED: ${r.error}`}`);
        assert.equal(r.event, "connected", String(r.error));
        assert.equal(r.strategy, "turn");
        assert.equal(r.intact, true);
      } finally {
        await l.proc.kill();
      }
    }));
  }

  test("symmetric-random × symmetric-random: UDP allocation on the embedded relay (p2pnode turn on srv), 10 MiB intact", withLogs(async () => {
    // On srv's second address: coturn relays from the first, so their relay ports never collide.
    const host = PUBLIC_HOSTS.srv.ips[1];
    const relayProc = lab.spawn("srv", process.execPath, [CLI, "turn", "--host", host, "--port", "3480", "--user", turn.username], { env: { P2PNODE_TURN_PASS: turn.password } });
    try {
      const ready = await relayProc.waitForLine(/^TURN relay ready: turn:/, 20_000);
      const url = /turn:[\d.]+:\d+/.exec(ready)![0];
      const l = await listener();
      try {
        const r = await connect(l.addr, url, "udp", 10);
        table.push(`20 ms | UDP allocation, embedded relay | ${r.event === "connected" ? `pipe by ${r.strategy} in ${r.connectMs} ms, 10 MiB in ${r.transferMs} ms (${r.mibPerS} MiB/s)` : `FAILED: ${r.error}`}`);
        assert.equal(r.event, "connected", String(r.error));
        assert.equal(r.strategy, "turn");
        assert.equal(r.intact, true);
      } finally {
        await l.proc.kill();
      }
    } finally {
      await relayProc.kill();
    }
  }));

  test("coturn as the only STUN server, port-restricted × port-restricted: the plan punches first on UDP's evidence, no capped direct dial or reverse before it", withLogs(async () => {
    // coturn answers Binding over UDP and TCP but cannot test TCP filtering: TCP stays unknown, UDP says port-restricted.
    await Promise.all([lab.setNat("a", "port-restricted"), lab.setNat("b", "port-restricted")]);
    const l = await listener();
    try {
      const r = await connect(l.addr, `turn:${turn.host}:${turn.port}?transport=tcp`, "tcp", 0.01, { P2PNODE_PLAN: "auto" });
      const trace = (r.trace ?? []) as Array<{ strategy: string; outcome: string; startMs?: number; endMs?: number }>;
      table.push(`coturn STUN only | port-restricted × port-restricted (TCP ${r.nat}, UDP ${r.udpNat}) | ${r.event === "connected" ? `pipe by ${r.strategy} in ${r.connectMs} ms; ${trace.map((a) => `${a.strategy} ${a.outcome}`).join(", ")}` : `FAILED: ${r.error}`}`);
      assert.equal(r.event, "connected", String(r.error));
      assert.equal(r.strategy, "punch");
      assert.equal(trace[0]?.strategy, "punch", `punch is first in the plan: ${JSON.stringify(trace)}`);
      for (const a of trace.filter((x) => x.strategy === "direct" || x.strategy === "reverse")) assert.notEqual(a.outcome, "failed", `${a.strategy} did not run before the punch: ${JSON.stringify(trace)}`);
    } finally {
      await l.proc.kill();
      await Promise.all([lab.setNat("a", "symmetric-random"), lab.setNat("b", "symmetric-random")]);
    }
  }));

  for (const [name, relay, uri] of cases) {
    test(`a capture on the relay host sees the transfer (${name}) but never its plaintext`, withLogs(async () => {
      const marker = `P2PNODE-PLAINTEXT-MARKER-${Math.random().toString(36).slice(2, 10)}`;
      const hex = (t: string) => Buffer.from(t).toString("hex");
      const cap = lab.spawn("srv", "/usr/bin/python3", [CAPTURE, hex(marker), hex(turn.username)]);
      await cap.waitForLine(/"event": ?"ready"/, 5000);
      const l = await listener();
      try {
        const r = await connect(l.addr, uri(), relay, 1, { P2PNODE_MARKER: marker });
        assert.equal(r.event, "connected", String(r.error));
        assert.equal(r.intact, true);
      } finally {
        await l.proc.kill();
      }
      await cap.kill(5000); // SIGTERM: it prints its summary and exits
      const line = cap.lines.find((x) => x.includes('"event": "done"') || x.includes('"event":"done"'));
      assert.ok(line, `no capture summary:\n${cap.log()}`);
      const done = JSON.parse(line.slice(line.indexOf("{"))) as { frames: number; bytes: number; found: boolean[] };
      table.push(`capture | ${name} | ${done.frames} frames, ${done.bytes} bytes on srv; marker ${done.found[0] ? "FOUND" : "absent"}; STUN USERNAME ${done.found[1] ? "seen (the capture reads payloads)" : "not seen"}`);
      assert.ok(done.bytes > 1024 * 1024, "the capture saw the relayed megabyte");
      assert.equal(done.found[1], true, "control: the TURN USERNAME attribute is plaintext, so the capture does read payloads");
      assert.equal(done.found[0], false, "the data's plaintext never crossed the relay");
    }));
  }

  for (const [name, relay, uri] of cases) {
    // 256 KiB: over ~10 % end-to-end loss and ~0.45 s RTT a loss-based controller moves ~10 KB/s.
    test(`again with 5 % loss and 100 ms delay on both wan links: ${name}, 256 KiB intact`, withLogs(async () => {
      await Promise.all([lab.setImpair("a", { delayMs: 100, lossPct: 5 }), lab.setImpair("b", { delayMs: 100, lossPct: 5 })]);
      const l = await listener();
      try {
        const r = await connect(l.addr, uri(), relay, 0.25);
        table.push(`100 ms + 5 % | ${name} | ${r.event === "connected" ? `pipe in ${r.connectMs} ms, 256 KiB in ${r.transferMs} ms (${r.mibPerS} MiB/s)` : `FAILED: ${r.error}`}`);
        assert.equal(r.event, "connected", String(r.error));
        assert.equal(r.intact, true);
      } finally {
        await l.proc.kill();
        await Promise.all([lab.setImpair("a", { delayMs: 20 }), lab.setImpair("b", { delayMs: 20 })]);
      }
    }));
  }

  test("a network that lets no UDP out (site a): TURN over TCP to the server, a TCP allocation, still connects", withLogs(async () => {
    await lab.setNat("a", "symmetric-random", { blockUdp: true });
    const l = await listener();
    try {
      const r = await connect(l.addr, `turn:${turn.host}:${turn.port}?transport=tcp`, "tcp", 1);
      table.push(`UDP blocked at a | TCP allocation | ${r.event === "connected" ? `pipe by ${r.strategy} in ${r.connectMs} ms, 1 MiB in ${r.transferMs} ms` : `FAILED: ${r.error}`}`);
      assert.equal(r.event, "connected", String(r.error));
      assert.equal(r.strategy, "turn");
      assert.equal(r.intact, true);
    } finally {
      await l.proc.kill();
      await lab.setNat("a", "symmetric-random");
    }
  }));

  // Last in the file: it kills the lab's coturn.
  test("the relay dies mid-transfer: both ends get a typed error within the dead-peer timeout, no hang", withLogs(async () => {
    const l = await listener();
    try {
      const proc = lab.spawn("a1", process.execPath, ["--import", "tsx", NODE, "connect", stun(), broker, l.addr, `turn:${turn.host}:${turn.port}`, "udp", "1"], { env: { ...env(), P2PNODE_UNTIL_BROKEN: "1" } });
      await proc.waitForLine(/"event":"streaming"/, 30_000);
      await proc.waitForLine(/"event":"mid"/, 30_000);
      const killedAt = performance.now();
      await turn.proc.kill();
      const line = await proc.waitForLine(/"event":"broken"/, 5000 + 10_000);
      const r = JSON.parse(line.slice(line.indexOf("{"))) as { code: string | null; error: string | null };
      table.push(`relay killed | UDP allocation | ${r.code}: ${r.error} after ${Math.round(performance.now() - killedAt)} ms`);
      assert.equal(r.code, "P2P_ERR_PEER_TIMEOUT", String(r.error));
      await proc.exited;
    } finally {
      await l.proc.kill();
    }
  }));
});
