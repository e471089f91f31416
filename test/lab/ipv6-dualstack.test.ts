/**
 * Happy Eyeballs v2 (RFC 8305) in the NAT lab (issue 15): a dual-stack pair where both
 * families work, the same pair with IPv6 blackholed, and reverse connect over IPv6.
 *
 * - a1 (dual stack: IPv4 behind site a's NAT, IPv6 behind its RFC 6092 firewall) → pub1
 *   (open on both families): both work, IPv6 goes first and wins;
 * - the same with pub1's IPv6 address blackholed on ra (nft drop on the path: no RST, no
 *   ICMP, the IPv6 SYN just vanishes): IPv4 starts after IPv6's head start (not after a
 *   failure) and wins long before the IPv6 attempt would have timed out;
 * - pub1 (open IPv6 host) → b1 (firewalled IPv6, IPv4 behind a symmetric NAT, so pub1 cannot
 *   dial it): reverse, b1 dials pub1 back, and the pipe runs over IPv6 on both sides.
 *
 * Signaling runs over IPv6 (mosquitto on srv's IPv6 address), STUN on IPv4.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, V6_PLAN, withLabLogs } from "./lab.ts";
import { printCases, startIpv6Servers, STUN_V4 as STUN } from "./ipv6-servers.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";
import { DIRECT_DEFAULTS } from "../../src/strategies/direct.ts";

const skip = labSkipReason();
const LISTEN = new URL("./ipv6-node.ts", import.meta.url).pathname;
const CONNECT = new URL("./ipv6-dualstack-node.ts", import.meta.url).pathname;
const PUB1_V4 = PUBLIC_HOSTS.pub1.ips[0];
const PUB1_V6 = V6_PLAN.public.pub1[0];
/** Drops every IPv6 packet site a forwards to pub1 (before the site firewall's own chain). */
const BLACKHOLE = `table ip6 p2pn_blackhole6 {\n  chain forward { type filter hook forward priority -10; ip6 daddr ${PUB1_V6} drop\n  }\n}\n`;

interface Step { step: "dial" | "dial-failed"; host: string; port: number; ms: number; error?: string }
interface Outcome { event: "connected" | "failed"; strategy?: string; remoteAddress?: string; ms: number; echo?: string; error?: string; trace: Step[] }

const times: string[] = [];

describe("IPv6 in the lab: Happy Eyeballs between families, reverse connect over IPv6", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  const withLogs = withLabLogs(() => lab);

  async function listener(host: string): Promise<{ proc: LabProcess; addr: string }> {
    const proc = lab.spawn(host, process.execPath, ["--import", "tsx", LISTEN, "listen", STUN, broker]);
    const ready = JSON.parse(await proc.waitForLine(/"event":"ready"/, 20_000)) as { addr: string };
    return { proc, addr: ready.addr };
  }

  async function connect(host: string, addr: string, strategies: string, timeout = 15_000): Promise<Outcome> {
    const r = await lab.exec(host, [process.execPath, "--import", "tsx", CONNECT, STUN, broker, addr, strategies, String(timeout)], { timeoutMs: timeout + 20_000 });
    const events = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Outcome | { event: "done" });
    assert.ok(events.some((e) => e.event === "done"), `connect in ${host} did not finish (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return events.find((e) => e.event === "connected" || e.event === "failed") as Outcome;
  }

  const dials = (o: Outcome) => o.trace.filter((s) => s.step === "dial");
  const show = (o: Outcome) => o.trace.map((s) => `${s.step} ${s.host} @${s.ms}`).join(", ");

  before(async () => {
    lab = await Lab.up({ ipv6: true, delayMs: 20, b: "symmetric-random" });
    broker = await startIpv6Servers(lab);
  });

  after(async () => {
    await lab?.down();
    printCases("IPv6 dual-stack cases (20 ms one-way per site wan link)", times);
  });

  test("dual stack, both families work: direct picks IPv6", withLogs(async () => {
    const l = await listener("pub1");
    try {
      const r = await connect("a1", l.addr, "direct");
      times.push(`a1 → pub1, both families up | direct | ${r.event} ${r.ms} ms via ${r.remoteAddress} (${show(r)})`);
      assert.equal(r.event, "connected", r.error);
      assert.equal(r.echo, "hi");
      assert.equal(r.remoteAddress, PUB1_V6, "the pipe runs over IPv6");
      assert.equal(dials(r)[0]?.host, PUB1_V6, `IPv6 is the first attempt: ${show(r)}`);
      // An attempt is TCP + handshake: when IPv6's is still in its handshake after the head
      // start, IPv4 starts too (second), and is cancelled once IPv6 wins.
      const v4 = r.trace.findIndex((s) => s.step === "dial" && s.host === PUB1_V4);
      if (v4 >= 0) {
        assert.equal(v4, 1, `IPv4 only as the second attempt: ${show(r)}`);
        assert.ok(r.trace.slice(v4 + 1).some((s) => s.step === "dial-failed" && s.host === PUB1_V4), `the IPv4 loser was cancelled: ${show(r)}`);
      }
    } finally {
      await l.proc.kill();
    }
  }));

  test("IPv6 blackholed on the path: IPv4 starts after the head start and wins, long before IPv6 would time out", withLogs(async () => {
    const l = await listener("pub1");
    const hole = await lab.exec("ra", ["nft", "-f", "-"], { input: BLACKHOLE });
    assert.equal(hole.code, 0, hole.stderr);
    try {
      const r = await connect("a1", l.addr, "direct");
      const [first, second] = dials(r);
      times.push(`a1 → pub1, IPv6 blackholed | direct | ${r.event} ${r.ms} ms via ${r.remoteAddress}; IPv4 started ${second ? second.ms - first.ms : "?"} ms after IPv6 (${show(r)})`);
      assert.equal(r.event, "connected", r.error);
      assert.equal(r.echo, "hi");
      assert.equal(r.remoteAddress, PUB1_V4, "the pipe fell back to IPv4");
      assert.equal(first?.host, PUB1_V6, `IPv6 went first: ${show(r)}`);
      assert.equal(second?.host, PUB1_V4, `IPv4 second: ${show(r)}`);
      // Event order: IPv4 was started by the head-start timer, not by an IPv6 failure (a drop gives none).
      const ipv4Start = r.trace.indexOf(second);
      assert.ok(!r.trace.slice(0, ipv4Start).some((s) => s.step === "dial-failed"), `nothing failed before IPv4 started: ${show(r)}`);
      assert.ok(r.trace.slice(ipv4Start + 1).some((s) => s.step === "dial-failed" && s.host === PUB1_V6), `the pending IPv6 attempt was cancelled: ${show(r)}`);
      // Sanity: well under one IPv6 attempt timeout (what a sequential dialler would have waited).
      assert.ok(r.ms < DIRECT_DEFAULTS.attemptTimeout, `connected in ${r.ms} ms`);
    } finally {
      await lab.exec("ra", ["nft", "delete", "table", "ip6", "p2pn_blackhole6"]);
      await l.proc.kill();
    }
  }));

  test("reverse over IPv6: pub1 (open IPv6 host) asks b1 (firewalled IPv6, symmetric IPv4 NAT) to dial back", withLogs(async () => {
    assert.equal(lab.firewall6Of("b"), "firewall");
    const l = await listener("b1");
    try {
      const r = await connect("pub1", l.addr, "reverse", 20_000);
      times.push(`pub1 (open) ← b1 (IPv6 firewall) | reverse | ${r.event} ${r.ms} ms via ${r.remoteAddress}`);
      assert.equal(r.event, "connected", r.error);
      assert.equal(r.strategy, "reverse");
      assert.equal(r.echo, "hi");
      assert.equal(r.remoteAddress, V6_PLAN.sites.b.hosts.b1, "b1 dialled back over IPv6");
      const pipe = JSON.parse(await l.proc.waitForLine(/"event":"pipe"/, 5000)) as { strategy: string; remoteAddress: string };
      assert.equal(pipe.strategy, "reverse");
      assert.equal(pipe.remoteAddress, PUB1_V6, "b1's side of the pipe is IPv6 too");
    } finally {
      await l.proc.kill();
    }
  }));
});
