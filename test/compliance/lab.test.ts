/**
 * The strategy compliance suite through the NAT lab (root; P2PNODE_LAB_ID
 * names the lab): punch from a1 behind site a's full-cone NAT to b1 behind
 * site b's port-restricted one, reverse from the public pub1 to the same b1.
 * Each run is test/compliance/lab-suite.ts under node --test inside the
 * dialling host, so the suite's in-process checks (fake time, live sockets and
 * timers) hold there as on loopback; this file checks that every case passed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, withLabLogs } from "../lab/lab.ts";
import type { LabProcess } from "../lab/procs.ts";
import { labSkipReason } from "../lab/require-lab.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const NODE = new URL("../lab/punch-node.ts", import.meta.url).pathname;
const SUITE = new URL("./lab-suite.ts", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const STUN = `stun:${SRV1}:5478`;

describe("strategy compliance in the NAT lab", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  let peer: LabProcess;
  let peerAddr: string;
  const withLogs = withLabLogs(() => lab, () => peer?.log() ?? "");

  before(async () => {
    lab = await Lab.up({ a: "full-cone", b: "port-restricted" });
    broker = (await lab.startMosquitto()).url;
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    await stun.waitForLine(/"event":"ready"/, 15_000);
    peer = lab.spawn("b1", process.execPath, ["--import", "tsx", NODE, "listen", STUN, broker]);
    peerAddr = (JSON.parse(await peer.waitForLine(/"event":"ready"/, 30_000)) as { addr: string }).addr;
  });
  after(async () => {
    await peer?.kill();
    await lab?.down();
  });

  /** Runs the suite for `strategy` in `host`; every case must pass, none may be skipped but those named. */
  async function suite(host: string, strategy: string, skipped: number): Promise<void> {
    // NODE_TEST_CONTEXT would make that node --test talk to this runner's protocol instead of printing TAP.
    const env = { P2PNODE_COMPLIANCE: JSON.stringify({ strategy, peer: peerAddr, broker, stun: STUN }), NODE_TEST_CONTEXT: undefined };
    const r = await lab.exec(host, [process.execPath, "--test", "--test-reporter=tap", SUITE], { timeoutMs: 240_000, env });
    const count = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, "m").exec(r.stdout)?.[1] ?? NaN);
    assert.equal(r.code, 0, `${strategy} suite in ${host} failed:\n${r.stdout}\n${r.stderr}`);
    assert.equal(count("fail"), 0, r.stdout);
    assert.equal(count("skipped"), skipped, r.stdout);
    assert.equal(count("pass"), 6 - skipped, r.stdout);
    process.stdout.write(r.stdout.split("\n").filter((l) => /^\s+(ok|not ok) /.test(l)).map((l) => `# ${host} ${strategy}: ${l.trim()}`).join("\n") + "\n");
  }

  test("punch a1 (full-cone) → b1 (port-restricted): every case, a real punch and a key swapped on a punched connection", withLogs(() => suite("a1", "punch", 1)));
  test("reverse pub1 → b1 (port-restricted): every case, the peer dialling back through its NAT", withLogs(() => suite("pub1", "reverse", 2)));
});
