/**
 * `p2pnode send` / `p2pnode receive` between two lab hosts behind NATs (issue 14): a1 (site a,
 * port-restricted) sends 100 MiB to b1 (site b, port-restricted), through whatever path the plan
 * picks (punch here: both are guarded, no TURN). The sender is killed mid-way (SIGKILL: its
 * connection dies without a close); its next run resumes from the receiver's partial file. In that
 * run the TCP connection itself is cut (`ss -K` in a1's namespace): the resumable pipe reconnects
 * and the transfer carries on. The SHA-256 is verified at the end. The wan links are held to
 * 160 Mbit/s (tc tbf) so the cut lands mid-transfer; the test takes about 20 s.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, withLabLogs } from "./lab.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const STUN = `stun:${SRV1}:5478`;
const SIZE = 100 * 1024 * 1024;

describe("send / receive 100 MiB between two NATed lab hosts, resumed after the sender is killed", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  let work: string;
  const procs: LabProcess[] = [];
  const withLogs = withLabLogs(() => lab, () => procs.map((p) => p.log()).join("\n"));
  const node = (extra: string[]) => [CLI, ...extra, "--json", "--no-portmap", "--stun", STUN, "--signal", broker];
  const spawn = (host: string, args: string[]) => {
    const p = lab.spawn(host, process.execPath, node(args));
    procs.push(p);
    return p;
  };
  const events = (p: LabProcess) => p.json<Record<string, unknown>>();

  before(async () => {
    lab = await Lab.up({ a: "port-restricted", b: "port-restricted", rateKbit: 160_000 });
    broker = (await lab.startMosquitto()).url;
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    procs.push(stun);
    await stun.waitForLine(/"event":"ready"/, 15_000);
    work = mkdtempSync(join(tmpdir(), "p2pn-lab-transfer-"));
    chmodSync(work, 0o755);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await lab?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("a1 → b1: 100 MiB, killed mid-way, resumed from the partial, connection cut and resumed, SHA-256 verified", { timeout: 240_000 }, withLogs(async () => {
    const file = join(work, "dataset.bin");
    const data = randomBytes(SIZE);
    writeFileSync(file, data);
    const want = createHash("sha256").update(data).digest("hex");
    const out = mkdtempSync(join(work, "out-"));

    const rx = spawn("b1", ["receive", "--out", out]);
    const ready = JSON.parse(await rx.waitForLine(/"event":"ready"/, 30_000)) as { addr: string };

    // First run: killed once real file bytes moved over the NATs.
    const first = spawn("a1", ["send", file, "--to", ready.addr, "--timeout", "30000"]);
    const connected = JSON.parse(await first.waitForLine(/"event":"connected"/, 60_000)) as { strategy: string };
    await first.waitForLine(/"event":"progress","index":0,"name":"dataset\.bin","bytes":([1-9]\d{7,})/, 120_000); // ≥ 10 MB sent
    process.kill(first.pid, "SIGKILL");
    await first.exited;
    await rx.waitForLine(/"event":"path".*"state":"lost"/, 60_000);
    const kept = statSync(join(out, "dataset.bin.p2pnode-part")).size;
    assert.ok(kept > 0 && kept < SIZE, `partial holds ${kept} bytes`);

    // Second run: a new process, a new connection; only the missing bytes travel.
    const t0 = Date.now();
    const second = spawn("a1", ["send", file, "--to", ready.addr, "--timeout", "30000"]);
    // Half-way, the connection is killed for real: ss -K destroys a1's TCP sockets toward b's NAT.
    await second.waitForLine(/"event":"progress","index":0,.*"done":([5-9]\d{7}|\d{9,}),/, 120_000);
    const cut = await lab.exec("a1", `ss -K dst ${lab.publicIp("b")}`);
    assert.equal(cut.code, 0, cut.stderr);
    await second.waitForLine(/"event":"path".*"state":"resumed"/, 60_000);
    const code = await second.exited;
    assert.equal(code.code, 0, second.log());
    const ev = events(second);
    const start = ev.find((e) => e.event === "file") as { offset: number };
    const done = ev.find((e) => e.event === "done") as { bytes: number; ms: number; rate: number };
    const again = ev.find((e) => e.event === "connected") as { strategy: string };
    assert.ok(start.offset > 0, `resumed at ${start.offset}, not from 0`);
    assert.equal(done.bytes, SIZE - start.offset, "only the missing bytes were sent");
    assert.equal((ev.find((e) => e.event === "verified") as { sha256: string }).sha256, want);
    assert.ok(ev.some((e) => e.event === "path" && e.state === "lost"), "the sender saw its connection die");
    assert.equal((await rx.exited).code, 0, rx.log());
    assert.ok(events(rx).some((e) => e.event === "interrupted"), "the receiver saw the first transfer end and kept its partial");
    assert.equal(createHash("sha256").update(readFileSync(join(out, "dataset.bin"))).digest("hex"), want);
    process.stdout.write(
      `# lab transfer a1 (port-restricted) → b1 (port-restricted): ${connected.strategy} then ${again.strategy}; killed (partial ${kept} bytes when the path was lost), ` +
        `resumed at ${start.offset}; connection cut with ss -K and resumed by ${(ev.find((e) => e.event === "path" && e.state === "resumed") as { to?: string })?.to}; ${(done.bytes / 1048576).toFixed(1)} MiB in ${done.ms} ms = ${(done.rate / 1048576).toFixed(1)} MiB/s; ` +
        `second run ${Date.now() - t0} ms in all (node start, NAT discovery, punch, hashing, the reconnect; links at 160 Mbit/s)\n`,
    );
  }));
});
