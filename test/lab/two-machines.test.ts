/**
 * docs/two-machines.md, run as written in the NAT lab: srv is the server
 * (mosquitto + coturn from the page's own config files, then p2pnode's built-in
 * stun/signal/turn), a1 and b1 are machines A and B behind two NATs. Every
 * command below must appear verbatim on the page. The only thing changed is
 * the `p2pn1…` placeholder, which becomes B's printed address.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Lab, PORTS, PUBLIC_HOSTS, withLabLogs } from "./lab.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const root = new URL("../..", import.meta.url).pathname;
const page = readFileSync(join(root, "docs/two-machines.md"), "utf8");

const STUN = "--stun stun:203.0.113.10:3478";
const SIGNAL = "--signal mqtt://203.0.113.10:1883";
const CMD = {
  mosquitto: "mosquitto -c mosquitto.conf",
  coturn: "turnserver -c turnserver.conf",
  stun: "p2pnode stun --host 203.0.113.10 --port 3478 --alt-host 203.0.113.11 --alt-port 3479",
  signal: "p2pnode signal --host 203.0.113.10 --port 1883",
  turn: "P2PNODE_TURN_PASS=p2pn-lab-secret p2pnode turn --host 203.0.113.10 --port 3480 --user p2pn",
  nat: "p2pnode nat --stun stun:203.0.113.10:3478",
  listen: `p2pnode listen --echo ${STUN} ${SIGNAL}`,
  connect: `p2pnode connect p2pn1… --send hello ${STUN} ${SIGNAL}`,
  connectTurn: `P2PNODE_TURN_PASS=p2pn-lab-secret p2pnode connect p2pn1… --send hello ${STUN} ${SIGNAL} --turn turn:203.0.113.10:3478 --turn-user p2pn`,
};
/** The page's fenced block whose first line is `# NAME`. */
function configFile(name: string): string {
  const block = [...page.matchAll(/^```\w*\n([\s\S]*?)^```$/gm)].map((m) => m[1]).find((b) => b.startsWith(`# ${name}\n`));
  assert.ok(block, `docs/two-machines.md has no block starting "# ${name}"`);
  return block;
}

test("every command the two-machines test runs is on the page, as written", () => {
  const lines = new Set(page.split("\n"));
  for (const [name, cmd] of Object.entries(CMD)) assert.ok(lines.has(cmd), `${name}: "${cmd}" is not a line of docs/two-machines.md`);
  assert.ok(page.includes("turn:203.0.113.10:3480"), "the built-in relay's URI");
  assert.deepEqual(PUBLIC_HOSTS.srv.ips, ["203.0.113.10", "203.0.113.11"], "the page's server addresses are the lab's srv");
  assert.equal(PORTS.mqtt, 1883);
});

describe("two machines behind two NATs (docs/two-machines.md)", { skip: skip ?? false }, () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), "p2pnode-two-machines-"));
  // `p2pnode` on PATH, as after `npm install -g`: the checkout's bin.
  symlinkSync(join(root, "bin/p2pnode.js"), join(dir, "p2pnode"));
  const env = { PATH: `${dir}:${dirname(process.execPath)}:${process.env.PATH}` };
  const withLogs = withLabLogs(() => lab);
  const figures: string[] = [];

  /** A server or listener from the page, started in `host` from the config files' folder. */
  const start = (host: string, cmd: string): LabProcess => lab.spawn(host, "sh", ["-c", `cd ${dir} && exec env ${cmd}`], { env });
  const exec = (host: string, cmd: string) => lab.exec(host, `cd ${dir} && ${cmd}`, { env, timeoutMs: 45_000 });

  /** Step 3: B listens; resolves with the address it printed. */
  async function listenOnB(): Promise<{ proc: LabProcess; addr: string }> {
    const proc = start("b1", CMD.listen);
    await proc.waitForLine(/^share this address with your peer:/, 30_000);
    const addr = await proc.waitForLine(/^p2pn1[a-z2-7]+$/, 5_000);
    return { proc, addr };
  }

  /** Step 4 or 5 on A: exit 0, the echo, and the strategy it names. */
  async function connectFromA(cmd: string, addr: string, strategy: string, what: string): Promise<void> {
    const t0 = Date.now();
    const r = await exec("a1", cmd.replace("p2pn1…", addr));
    const out = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.code, 0, `${what}: exit ${r.code}\n${out}`);
    assert.match(r.stdout, /^hello$/m, out);
    assert.match(r.stderr, new RegExp(`^connected to \\S+ by ${strategy}\\b`, "m"), out);
    figures.push(`${what}: "${strategy}", ${Date.now() - t0} ms for the whole command`);
  }

  before(async () => {
    writeFileSync(join(dir, "mosquitto.conf"), configFile("mosquitto.conf"));
    writeFileSync(join(dir, "turnserver.conf"), configFile("turnserver.conf"));
    lab = await Lab.up({ a: "port-restricted", b: "port-restricted" });
    figures.push(`lab built in ${lab.buildMs} ms`);
  });
  after(async () => {
    await lab?.down();
    rmSync(dir, { recursive: true, force: true });
    for (const f of figures) process.stdout.write(`# ${f}\n`);
  });

  test("mosquitto + coturn on srv; nat on A; B listens; A connects by punch, then by TURN once B's NAT is symmetric", withLogs(async () => {
    const servers = [start("srv", CMD.mosquitto), start("srv", CMD.coturn)];
    // Step 2 doubles as the servers' readiness check: coturn answers STUN once it is up.
    let nat = await exec("a1", CMD.nat);
    for (let i = 0; i < 20 && !/port-restricted/.test(nat.stdout); i++) {
      await new Promise((r) => setTimeout(r, 250));
      nat = await exec("a1", CMD.nat);
    }
    assert.match(nat.stdout, /UDP: port-restricted/, `${nat.stdout}\n${nat.stderr}`);
    assert.match(nat.stdout, /203\.0\.113\.101/, "A's public address, as the server saw it");
    const mq = await lab.probe<{ message: string }>("pub1", ["mqtt", "--broker", "203.0.113.10:1883", "--message", "up"], 10_000);
    assert.equal(mq.message, "up");

    let b = await listenOnB();
    await connectFromA(CMD.connect, b.addr, "punch", "port-restricted × port-restricted");
    await b.proc.kill();

    await lab.setNat("b", "symmetric-random");
    b = await listenOnB();
    await connectFromA(CMD.connectTurn, b.addr, "turn", "port-restricted × symmetric-random, coturn");
    await b.proc.kill();
    await Promise.all(servers.map((s) => s.kill()));
  }));

  test("the same with p2pnode's built-in stun, signal and turn on srv", withLogs(async () => {
    const servers = [start("srv", CMD.stun), start("srv", CMD.signal), start("srv", CMD.turn)];
    await servers[0].waitForLine(/^STUN server ready: /, 30_000);
    await servers[1].waitForLine(/^signaling broker ready: /, 30_000);
    await servers[2].waitForLine(/^TURN relay ready: turn:203\.0\.113\.10:3480/, 30_000);
    const b = await listenOnB(); // B is still behind the symmetric NAT
    await connectFromA(CMD.connectTurn.replace("turn:203.0.113.10:3478", "turn:203.0.113.10:3480"), b.addr, "turn", "port-restricted × symmetric-random, p2pnode turn");
    await b.proc.kill();
    await Promise.all(servers.map((s) => s.kill()));
  }));
});
