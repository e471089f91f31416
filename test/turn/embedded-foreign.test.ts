/**
 * coturn's own TURN test client, turnutils_uclient, as a foreign client of
 * the embedded relay, with coturn's echo peer turnutils_peer: everything on
 * 127.0.0.1. uclient exercises what our client never sends (EVEN-PORT at
 * random, REQUESTED-ADDRESS-FAMILY, channels above 0x4FFF, an integrity check
 * on every success); embedded-wire.test.ts pins each of those down one by one.
 * Without coturn installed the tests skip, or fail under CI.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { after, test } from "node:test";
import { startEmbeddedRelay, type EmbeddedRelay } from "../../src/turn/embedded.ts";

const USER = "uclient";
const PASS = "foreign-test-secret";
const BINARIES = ["turnutils_uclient", "turnutils_peer"];

function onPath(bin: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
const missing = BINARIES.filter((b) => !onPath(b));
const why = `${missing.join(" and ")} not found on PATH (Debian/Ubuntu: apt-get install coturn)`;
// Under CI a missing binary is a broken image, not a reason to pass quietly.
const skip = missing.length > 0 && !process.env.CI ? why : false;

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/** Runs a coturn utility to its end (30 s at most, then killed): exit code and everything it printed. */
function run(bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${bin} ${args.join(" ")} did not finish in 30 s:\n${out.slice(-3000)}`));
    }, 30_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, out });
    });
  });
}

/** The client-side numbers of uclient's closing summary. */
function summary(out: string): { sent: number; received: number; lost: number } {
  const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
  const lost = /Total lost packets (\d+)/.exec(out);
  assert.ok(totals && lost, `no summary in uclient's output:\n${out.slice(-3000)}`);
  return { sent: Number(totals[1]), received: Number(totals[2]), lost: Number(lost[1]) };
}

async function withRelay(fn: (r: EmbeddedRelay) => Promise<void>): Promise<void> {
  if (missing.length) assert.fail(why);
  const r = await startEmbeddedRelay({ port: 0, users: { [USER]: PASS } });
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}
const creds = (r: EmbeddedRelay) => ["-u", USER, "-w", PASS, "-p", String(r.port)];

test("turnutils_uclient, two clients relaying to each other over channels (-y -c): both allocate and every message comes back", { skip }, () =>
  withRelay(async (r) => {
    const { code, out } = await run("turnutils_uclient", ["-y", "-c", "-n", "10", "-m", "1", "-e", "127.0.0.1", ...creds(r), "127.0.0.1"]);
    assert.equal(code, 0, `uclient failed:\n${out.slice(-3000)}`);
    assert.deepEqual(summary(out), { sent: 20, received: 20, lost: 0 }, "10 messages each way, none lost");
  }));

test("turnutils_uclient with Send/Data indications instead of channels (-y -c -s): every message comes back", { skip }, () =>
  withRelay(async (r) => {
    const { code, out } = await run("turnutils_uclient", ["-y", "-c", "-s", "-n", "10", "-m", "1", "-l", "171", "-e", "127.0.0.1", ...creds(r), "127.0.0.1"]);
    assert.equal(code, 0, `uclient failed:\n${out.slice(-3000)}`);
    assert.deepEqual(summary(out), { sent: 20, received: 20, lost: 0 });
  }));

test("turnutils_uclient, two sessions to turnutils_peer (an echo peer) through the relay: the echoes come back on the channels", { skip }, () =>
  withRelay(async (r) => {
    const port = await freeUdpPort();
    const peer = spawn("turnutils_peer", ["-L", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    children.add(peer);
    try {
      await waitForUdpListener(port);
      const { code, out } = await run("turnutils_uclient", ["-c", "-n", "10", "-m", "2", "-e", "127.0.0.1", "-r", String(port), ...creds(r), "127.0.0.1"]);
      assert.equal(code, 0, `uclient failed:\n${out.slice(-3000)}`);
      assert.deepEqual(summary(out), { sent: 20, received: 20, lost: 0 });
    } finally {
      peer.kill("SIGKILL");
    }
  }));

test("turnutils_uclient's RTP/RTCP mode (EVEN-PORT R=1, a reserved port pair) is refused with a clear 508, not left unanswered", { skip }, () =>
  withRelay(async (r) => {
    const { code, out } = await run("turnutils_uclient", ["-y", "-n", "1", "-m", "1", "-e", "127.0.0.1", ...creds(r), "127.0.0.1"]);
    assert.match(out, /error 508/);
    assert.notEqual(code, 0);
  }));

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((res) => s.bind(0, "127.0.0.1", () => res()));
  const port = s.address().port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

/** Until a UDP socket is bound on 127.0.0.1:port (from /proc/net/udp); 10 s at most. */
async function waitForUdpListener(port: number): Promise<void> {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (let i = 0; i < 200; i++) {
    if (readFileSync("/proc/net/udp", "utf8").includes(want)) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(`turnutils_peer did not bind 127.0.0.1:${port}`);
}
