/**
 * The strategy compliance suite through the NAT lab (root; P2PNODE_LAB_ID
 * names the lab): punch from a1 behind site a's full-cone NAT to b1 behind
 * site b's port-restricted one, reverse from the public pub1 to the same b1,
 * direct from a1 to a public peer in pub1 (and, failing, to b1), turn from a1
 * to b1 through the lab's coturn on srv. One lab and one peer per host serve
 * every run. Each run is test/compliance/lab-suite.ts under node --test inside
 * the dialling host, so the suite's in-process checks (fake time, live
 * sockets and timers, the tap on the raw stream) hold there as on loopback;
 * this file checks that every case passed and, around each run, captures
 * every frame on the peer's host: the suite's message never shows there in
 * the clear.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseAddress } from "../../src/identity/address.ts";
import { topicFor } from "../../src/signaling/mqtt-transport.ts";
import { Lab, PUBLIC_HOSTS, withLabLogs } from "../lab/lab.ts";
import type { LabProcess } from "../lab/procs.ts";
import type { Coturn } from "../lab/servers.ts";
import { labSkipReason } from "../lab/require-lab.ts";
import { MARKER } from "./strategy.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const NODE = new URL("../lab/punch-node.ts", import.meta.url).pathname;
const SUITE = new URL("./lab-suite.ts", import.meta.url).pathname;
const CAPTURE = new URL("../lab/capture.py", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const STUN = `stun:${SRV1}:5478`;
/** The suite's cases (test/compliance/strategy.ts). */
const CASES = 7;
const hex = (t: string) => Buffer.from(t).toString("hex");

describe("strategy compliance in the NAT lab", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  let turn: Coturn;
  const peers: Record<"b1" | "pub1", { proc?: LabProcess; addr: string }> = { b1: { addr: "" }, pub1: { addr: "" } };
  const withLogs = withLabLogs(() => lab, () => Object.values(peers).map((p) => p.proc?.log() ?? "").join("\n"));

  before(async () => {
    lab = await Lab.up({ a: "full-cone", b: "port-restricted" });
    const [m, t] = await Promise.all([lab.startMosquitto(), lab.startCoturn()]);
    broker = m.url;
    turn = t;
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    await stun.waitForLine(/"event":"ready"/, 15_000);
    await Promise.all(
      (["b1", "pub1"] as const).map(async (host) => {
        const proc = (peers[host].proc = lab.spawn(host, process.execPath, ["--import", "tsx", NODE, "listen", STUN, broker]));
        peers[host].addr = (JSON.parse(await proc.waitForLine(/"event":"ready"/, 30_000)) as { addr: string }).addr;
      }),
    );
  });
  after(async () => {
    for (const p of Object.values(peers)) await p.proc?.kill();
    await lab?.down();
  });

  /**
   * Runs the suite for `strategy` in `host` (its peer: b1 behind site b's NAT; direct's: pub1); every
   * case must pass, none may be skipped but those counted. A capture on the peer's host runs meanwhile.
   */
  async function suite(host: string, strategy: string, peerHost: "b1" | "pub1", skipped: number): Promise<void> {
    const peer = peers.b1.addr;
    // Control: the peer's signaling topic reaches its host in the clear (MQTT), so the capture does read payloads.
    const topic = topicFor(parseAddress(peers[peerHost].addr).id);
    const cap = lab.spawn(peerHost, "/usr/bin/python3", [CAPTURE, hex(MARKER), hex(topic)]);
    await cap.waitForLine(/"event": ?"ready"/, 5000);
    // NODE_TEST_CONTEXT would make that node --test talk to this runner's protocol instead of printing TAP.
    const env = {
      P2PNODE_COMPLIANCE: JSON.stringify({ strategy, peer, publicPeer: peers.pub1.addr, broker, stun: STUN, turn: `turn:${turn.host}:${turn.port}?transport=tcp` }),
      P2PNODE_TURN_USER: turn.username,
      P2PNODE_TURN_PASS: turn.password,
      NODE_TEST_CONTEXT: undefined,
    };
    const r = await lab.exec(host, [process.execPath, "--test", "--test-reporter=tap", SUITE], { timeoutMs: 240_000, env });
    await cap.kill(5000); // SIGTERM: it prints its summary and exits
    const count = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, "m").exec(r.stdout)?.[1] ?? NaN);
    assert.equal(r.code, 0, `${strategy} suite in ${host} failed:\n${r.stdout}\n${r.stderr}`);
    assert.equal(count("fail"), 0, r.stdout);
    assert.equal(count("skipped"), skipped, r.stdout);
    assert.equal(count("pass"), CASES - skipped, r.stdout);
    const line = cap.lines.find((x) => /"event": ?"done"/.test(x));
    assert.ok(line, `no capture summary:\n${cap.log()}`);
    const done = JSON.parse(line.slice(line.indexOf("{"))) as { frames: number; bytes: number; found: boolean[] };
    assert.ok(done.frames > 0, "the capture saw the peer's traffic");
    if (strategy !== "direct") assert.equal(done.found[1], true, "control: the peer's MQTT topic is plaintext, so the capture does read payloads");
    assert.equal(done.found[0], false, `${strategy}: the suite's message crossed the peer's host in the clear`);
    // Each case with its time (the CI budget): "ok N - name" is followed by its duration_ms line.
    const lines = r.stdout.split("\n");
    const cases = lines.flatMap((l, i) => {
      if (!/^\s+(ok|not ok) \d+ - /.test(l) || /^\s{8}/.test(l)) return [];
      const ms = lines.slice(i + 1, i + 4).map((x) => /duration_ms: ([\d.]+)/.exec(x)?.[1]).find(Boolean);
      return [`# ${host} ${strategy}: ${l.trim()}${ms ? ` (${Math.round(Number(ms))} ms)` : ""}`];
    });
    process.stdout.write(cases.join("\n") + "\n");
    process.stdout.write(`# ${strategy}: capture on ${peerHost}: ${done.frames} frames, ${done.bytes} bytes, marker ${done.found[0] ? "FOUND" : "absent"}\n`);
  }

  test("direct a1 (full-cone) → pub1: every case; to b1 behind its NAT it fails, typed, at its attempt's deadline", withLogs(() => suite("a1", "direct", "pub1", 1)));
  test("punch a1 (full-cone) → b1 (port-restricted): every case, a real punch and a key swapped on a punched connection", withLogs(() => suite("a1", "punch", "b1", 1)));
  test("reverse pub1 → b1 (port-restricted): every case, the peer dialling back through its NAT", withLogs(() => suite("pub1", "reverse", "b1", 2)));
  test("turn a1 → b1 through coturn (TCP allocation): every case, an impostor dialling our relayed address", withLogs(() => suite("a1", "turn", "b1", 2)));
});
