/**
 * Direct and reverse through real firewalls (issue 5): a node behind a stateful
 * firewall reaches a public node directly; the public node reaches the
 * firewalled one by reverse connect (direct is not even tried first).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, withLabLogs } from "./lab.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const STUN = `stun:${SRV1}:5478`;

describe("reverse connect through a stateful firewall", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  const listeners: LabProcess[] = [];

  const withLogs = withLabLogs(() => lab, () => listeners.map((l) => l.log()).join("\n"));

  /** `p2pnode listen --echo --json` in a host; resolves with its ready event. */
  async function listen(host: string): Promise<{ addr: string; nat: { tcp?: { natType: string } } }> {
    const p = lab.spawn(host, process.execPath, [CLI, "listen", "--echo", "--json", "--stun", STUN, "--signal", broker]);
    listeners.push(p);
    const line = await p.waitForLine(/"event":"ready"/, 20_000);
    return JSON.parse(line);
  }

  async function connect(host: string, addr: string): Promise<Array<Record<string, unknown>>> {
    const r = await lab.exec(host, [process.execPath, CLI, "connect", addr, "--send", "hi", "--json", "--stun", STUN, "--signal", broker, "--timeout", "15000"], { timeoutMs: 30_000 });
    const events = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(r.code, 0, `connect from ${host} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return events;
  }

  before(async () => {
    lab = await Lab.up({ a: "firewall" });
    const mq = await lab.startMosquitto();
    broker = mq.url;
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    await stun.waitForLine(/"event":"ready"/, 15_000);
  });
  after(async () => {
    await Promise.all(listeners.map((l) => l.kill()));
    await lab?.down();
  });

  test("firewalled a1 → public pub1: direct", withLogs(async () => {
    const pub = await listen("pub1");
    assert.equal(pub.nat.tcp?.natType, "open");
    const events = await connect("a1", pub.addr);
    const connected = events.find((e) => e.event === "connected");
    assert.equal(connected?.strategy, "direct");
    assert.deepEqual(events.find((e) => e.event === "message"), { event: "message", data: "hi" });
  }));

  test("public pub1 → firewalled a1: reverse wins, direct is not tried first", withLogs(async () => {
    const fw = await listen("a1");
    assert.equal(fw.nat.tcp?.natType, "firewall", "a1 knows it is firewalled and says so in its address");
    const events = await connect("pub1", fw.addr);
    const connected = events.find((e) => e.event === "connected");
    assert.equal(connected?.strategy, "reverse");
    assert.deepEqual(events.find((e) => e.event === "message"), { event: "message", data: "hi" });
    const tried = events.filter((e) => e.event === "progress" && e.step === "strategy").map((e) => e.strategy);
    assert.equal(tried[0], "reverse", `strategies tried: ${tried.join(", ")}`);
    const dials = events.filter((e) => e.event === "progress" && e.step === "dial");
    assert.equal(dials.length, 0, "no direct dial to the firewalled node before reverse won");
    const req = events.find((e) => e.event === "progress" && e.step === "reverse-request") as { ms: number } | undefined;
    process.stdout.write(`# reverse connect: ${connected?.ms} ms in all, ${req ? Number(connected?.ms) - req.ms : "?"} ms from the signaling request to the pipe\n`);
  }));
});
