// `p2pnode doctor` in a1 behind every lab NAT kind (one lab; site a's router is switched live),
// against our RFC 5780 STUN server on srv (UDP + TCP dial-back), the lab's mosquitto and coturn
// (UDP and TCP allocations over UDP and TCP): the NAT kinds and the verdicts it prints.
// Then: symmetric-random without TURN, an unreachable broker (exit 1), and miniupnpd on the
// router (the port-mapping protocols it speaks, probed without creating a mapping).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Lab, NAT_KINDS, PUBLIC_HOSTS, TURN_USER, type NatKind, withLabLogs } from "./lab.ts";
import { labSkipReason } from "./require-lab.ts";
import type { DoctorReport } from "../../src/cli/doctor-types.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
/** Our embedded STUN server's ports (coturn owns 3478/3479). */
const PORT = 5478;
const ALT_PORT = 5479;

/**
 * What each kind means, from the recipes in docs/lab.md and what the strategies need
 * (README "What connect() tries"; docs/punch.md): only `open` takes strangers' connections;
 * every endpoint-independent kind (firewall, cones) punches with cone and sequential peers;
 * sequential ports are predicted; random ones leave nothing to aim at.
 */
const WANT: Record<NatKind, { tcp: string; nat: Array<[string, string]>; text: RegExp }> = {
  open: { tcp: "open", nat: [["reachable", "ok"]], text: /you are reachable directly/ },
  firewall: { tcp: "firewall", nat: [["guarded", "info"], ["punch", "ok"]], text: /peers behind symmetric NATs with random ports will need the relay/ },
  "full-cone": { tcp: "full-cone", nat: [["guarded", "info"], ["punch", "ok"]], text: /peers behind symmetric NATs with random ports will need the relay/ },
  restricted: { tcp: "restricted", nat: [["guarded", "info"], ["punch", "ok"]], text: /peers behind symmetric NATs with random ports will need the relay/ },
  "port-restricted": { tcp: "port-restricted", nat: [["guarded", "info"], ["punch", "ok"]], text: /peers behind symmetric NATs with random ports will need the relay/ },
  "symmetric-sequential": { tcp: "symmetric-sequential", nat: [["guarded", "info"], ["punch", "info"]], text: /your next ports are predicted/ },
  "symmetric-random": { tcp: "symmetric-random", nat: [["guarded", "info"], ["punch", "warn"]], text: /hole punching cannot work from here/ },
};

const runs: Array<{ kind: string; ms: number; wallMs: number; verdicts: string }> = [];

describe("p2pnode doctor behind each lab NAT kind", { skip: skip ?? false }, () => {
  let lab: Lab;
  let mqtt: string;
  let passFile: string;
  const withLogs = withLabLogs(() => lab);

  const stun = () => ["--stun", `stun:${SRV1}:${PORT}`];
  const turn = () => ["--turn", `turn:${SRV1}:3478`, "--turn", `turn:${SRV1}:3478?transport=tcp`, "--turn-user", TURN_USER.username, "--turn-pass-file", passFile];

  /** Runs doctor in a1; returns its exit code, text (or JSON report) and stderr. */
  async function doctor(args: string[], label: string): Promise<{ code: number | null; stdout: string; stderr: string; report?: DoctorReport }> {
    const t0 = performance.now();
    const r = await lab.exec("a1", [process.execPath, CLI, "doctor", ...args, "--timeout", "4000"], { timeoutMs: 30_000 });
    const wallMs = Math.round(performance.now() - t0);
    const report = args.includes("--json") ? (JSON.parse(r.stdout) as DoctorReport) : undefined;
    if (report) runs.push({ kind: label, ms: report.durationMs, wallMs, verdicts: report.verdicts.map((v) => `${v.id}=${v.level}`).join(" ") });
    return { ...r, report };
  }

  before(async () => {
    lab = await Lab.up({ a: "port-restricted" });
    const dir = mkdtempSync(join(tmpdir(), "p2pn-lab-doctor-"));
    passFile = join(dir, "turn-pass");
    writeFileSync(passFile, `${TURN_USER.password}\n`, { mode: 0o600 });
    const stunProc = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", String(PORT), "--alt-host", SRV2, "--alt-port", String(ALT_PORT), "--json"]);
    const [, , m] = await Promise.all([stunProc.waitForLine(/"event":"ready"/, 15_000), lab.startCoturn(), lab.startMosquitto()]);
    mqtt = m.url;
  });
  after(async () => {
    await lab?.down();
    if (runs.length) {
      process.stdout.write("# doctor per NAT kind: kind | report ms | wall ms (process start included) | verdicts\n");
      for (const r of runs) process.stdout.write(`#   ${r.kind} | ${r.ms} | ${r.wallMs} | ${r.verdicts}\n`);
    }
  });

  for (const kind of NAT_KINDS as readonly NatKind[]) {
    test(`${kind}: the NAT kind over UDP and TCP, a working broker and relay, the verdicts`, withLogs(async () => {
      await lab.setNat("a", kind);
      const w = WANT[kind];
      const { code, report, stderr } = await doctor([...stun(), "--signal", mqtt, ...turn(), "--json"], kind);
      assert.ok(report, stderr);
      const show = JSON.stringify(report.verdicts, null, 1);
      assert.equal(code, 0, `${stderr}\n${show}`);
      const itf = report.interfaces.find((i) => i.nat);
      assert.ok(itf, JSON.stringify(report.interfaces));
      assert.equal(itf.nat?.udp?.natType, w.tcp, `${kind}: UDP kind`);
      assert.equal(itf.nat?.tcp?.natType, w.tcp, `${kind}: TCP kind`);
      const ids = report.verdicts.filter((v) => ["reachable", "guarded", "punch", "signaling", "relay"].includes(v.id)).map((v) => [v.id, v.level]);
      assert.deepEqual(ids, [...w.nat, ["signaling", "ok"], ["relay", "ok"]], show);
      assert.match(report.verdicts.map((v) => v.text).join("\n"), w.text, show);
      // coturn: UDP over UDP, UDP and TCP (RFC 6062) over TCP; each released.
      const allocs = report.turn[0].allocations.map((a) => `${a.link}/${a.relay}:${a.ok}:${a.released}`);
      assert.deepEqual(allocs, ["udp/udp:true:true", "tcp/udp:true:true", "tcp/tcp:true:true"], JSON.stringify(report.turn));
      assert.ok(report.brokers[0].ok && typeof report.brokers[0].rttMs === "number", JSON.stringify(report.brokers));
      assert.equal(report.portmap.gateway, "10.77.1.1");
      assert.ok(!report.verdicts.some((v) => v.level === "fail"), show);
    }));
  }

  test("the text output of one kind: NAT lines per interface and the verdicts in plain words", withLogs(async () => {
    await lab.setNat("a", "port-restricted");
    const r = await doctor([...stun(), "--signal", mqtt, ...turn()], "port-restricted (text)");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {4}UDP: a port-restricted-cone NAT \(port-restricted\); public 203\.0\.113\.101:\d+ \(local (0\.0\.0\.0|10\.77\.1\.11):\d+\)/m);
    assert.match(r.stdout, /^ {4}TCP: a port-restricted-cone NAT \(port-restricted\); public 203\.0\.113\.101:\d+/m);
    assert.match(r.stdout, /^ {2}\[info\] peers cannot dial you directly \(TCP: a port-restricted-cone NAT\)/m);
    assert.match(r.stdout, /^ {2}\[ok\] {3}hole punching works with peers behind cone NATs/m);
    assert.match(r.stdout, /^ {2}\[ok\] {3}relay ready \(turn:203\.0\.113\.10:3478 UDP, turn:203\.0\.113\.10:3478\?transport=tcp UDP, turn:203\.0\.113\.10:3478\?transport=tcp TCP\)/m);
    assert.match(r.stdout, /^ {2}\[info\] clock offset unknown/m);
  }));

  test("symmetric-random without TURN: the relay is missing and doctor says what that costs", withLogs(async () => {
    await lab.setNat("a", "symmetric-random");
    const { code, report } = await doctor([...stun(), "--signal", mqtt, "--json"], "symmetric-random, no TURN");
    assert.equal(code, 0);
    const relay = report!.verdicts.find((v) => v.id === "relay");
    assert.deepEqual([relay?.level, relay?.text], ["warn", "no TURN server configured (--turn): you cannot connect to peers that do not accept connections"]);
  }));

  test("UDP blocked at the router: said, the UDP relay URI fails (exit 1), the TCP one carries the relay", withLogs(async () => {
    await lab.setNat("a", "port-restricted", { blockUdp: true });
    try {
      const { code, report } = await doctor([...stun(), "--signal", mqtt, ...turn(), "--json"], "port-restricted, UDP blocked");
      assert.equal(code, 1);
      const v = Object.fromEntries(report!.verdicts.map((x) => [x.id, x]));
      assert.equal(v["udp-blocked"]?.level, "warn", JSON.stringify(report!.verdicts));
      assert.equal(v.guarded?.level, "info", "the TCP verdicts still stand");
      assert.match(v["turn-failed"]?.text ?? "", /^TURN turn:203\.0\.113\.10:3478 \(UDP allocation\): no answer \(is the relay running\? is UDP blocked on this network\? try \?transport=tcp\)$/);
      assert.match(v.relay?.text ?? "", /^relay ready \(turn:203\.0\.113\.10:3478\?transport=tcp UDP, turn:203\.0\.113\.10:3478\?transport=tcp TCP\)/);
    } finally {
      await lab.setNat("a", "port-restricted");
    }
  }));

  test("an unreachable broker: a FAIL line and exit 1", withLogs(async () => {
    await lab.setNat("a", "port-restricted");
    const dead = `mqtt://${SRV1}:1999`;
    const r = await doctor([...stun(), "--signal", dead], "port-restricted, dead broker");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`^  \\[FAIL\\] signaling broker ${dead.replace(/[.]/g, "\\.")} unreachable: .*; is it running, and is the port open\\?$`, "m"));
  }));

  test("miniupnpd on the router: the protocols it speaks, probed without creating a mapping", withLogs(async () => {
    await lab.setNat("a", "port-restricted");
    await lab.startMiniupnpd("a", { igd: 2 });
    try {
      const { code, report } = await doctor([...stun(), "--json"], "port-restricted + miniupnpd");
      assert.equal(code, 0);
      const pm = report!.portmap;
      assert.equal(pm.method, "probe");
      assert.equal(pm.natPmp.status, "yes", JSON.stringify(pm));
      assert.equal(pm.natPmp.externalIp, lab.publicIp("a"));
      assert.deepEqual([pm.upnp.status, pm.upnp.igd, pm.upnp.externalIp], ["yes", 2, lab.publicIp("a")], JSON.stringify(pm));
      assert.equal(pm.pcp.status, "yes", JSON.stringify(pm));
      assert.match(report!.verdicts.find((v) => v.id === "portmap")!.text, /^gateway 10\.77\.1\.1 speaks PCP, NAT-PMP, UPnP IGD v2$/);
      assert.match(report!.verdicts.find((v) => v.id === "guarded")!.text, /your gateway offers port mapping/);
      // Nothing was mapped: miniupnpd's table holds no port rule (it adds "dport N" per mapping).
      const rules = await lab.exec(lab.routerOf("a"), ["nft", "list", "table", "inet", "p2pn_upnp"]);
      assert.equal(rules.code, 0, rules.stderr);
      assert.doesNotMatch(rules.stdout, /dport \d+/, rules.stdout);
    } finally {
      await lab.stopMiniupnpd("a");
    }
  }));
});
