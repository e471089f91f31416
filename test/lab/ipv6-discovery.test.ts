/**
 * NAT discovery on IPv6 interfaces (issue 15): our STUN server on srv listens on its two
 * IPv6 addresses (2001:db8::10 and ::11, RFC 5780 CHANGE-REQUEST and TCP dial-back from the
 * other address), and `p2pnode nat` run over IPv6 names the filtering per host:
 *
 * - a1 behind its site's RFC 6092 stateful firewall: no NAT (mapped = own address), the
 *   unsolicited answer from the other address (UDP) and the dial-back (TCP) are dropped:
 *   "firewall", address-and-port-dependent filtering;
 * - pub1, open: the answer and the dial-back arrive: "open", endpoint-independent.
 *
 * With both families configured, `p2pnode nat` and `p2pnode doctor` print both; a node
 * (library API) publishes the IPv6 verdict per interface in its address (nat6), and a peer
 * reading it plans direct first to the open host and punch first to the firewalled one.
 * IPv4 on sites a and b is symmetric-random, so only the measured IPv6 makes a punch work.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { rankStrategies } from "../../src/connect/ranking.ts";
import { parseAddress, type NodeAddress } from "../../src/identity/address.ts";
import { reachability } from "../../src/identity/reachability.ts";
import { punchApplicabilityFor } from "../../src/strategies/punch/applicability.ts";
import { Lab, PUBLIC_HOSTS, V6_PLAN, withLabLogs } from "./lab.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const NODE = new URL("./ipv6-node.ts", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const [SRV6A, SRV6B] = V6_PLAN.public.srv;
const STUN4 = `stun:${SRV1}:5478`;
const STUN6 = `stun:[${SRV6A}]:5478`;

interface Tr { natType: string; mapping: string; filtering: string; behindNat?: boolean; publicAddress?: { address: string }; durationMs: number }
interface Report { family: number; udp?: Tr; tcp?: Tr; warnings: string[] }

const times: string[] = [];

describe("NAT discovery on IPv6 interfaces: firewalled vs open host, UDP and TCP", { skip: skip ?? false }, () => {
  let lab: Lab;
  const withLogs = withLabLogs(() => lab);

  async function nat(host: string, stun: string[], json = true): Promise<{ reports: Report[]; text: string }> {
    const args = [CLI, "nat", ...stun.flatMap((s) => ["--stun", s]), "--timeout", "4000", ...(json ? ["--json"] : [])];
    const r = await lab.exec(host, [process.execPath, ...args], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `p2pnode nat in ${host} failed:\n${r.stdout}\n${r.stderr}`);
    const reports = json
      ? r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event?: string; report?: Report }).filter((e) => e.report).map((e) => e.report!)
      : [];
    return { reports, text: r.stdout };
  }

  before(async () => {
    lab = await Lab.up({ ipv6: true, a: "symmetric-random", b: "symmetric-random" });
    // One server per family, each with its two addresses (RFC 5780 needs an alternate IP).
    const s4 = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    const s6 = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV6A, "--port", "5478", "--alt-host", SRV6B, "--alt-port", "5479", "--json"]);
    await Promise.all([s4.waitForLine(/"event":"ready"/, 15_000), s6.waitForLine(/"event":"ready"/, 15_000)]);
  });

  after(async () => {
    await lab?.down();
    if (times.length) {
      process.stdout.write("# IPv6 discovery (no delay line)\n");
      for (const t of times) process.stdout.write(`# ${t}\n`);
    }
  });

  for (const c of [
    { host: "a1", natType: "firewall", filtering: "address-and-port-dependent" },
    { host: "pub1", natType: "open", filtering: "endpoint-independent" },
  ]) {
    test(`${c.host} over IPv6: no NAT, ${c.natType} (${c.filtering} filtering) over UDP and TCP`, withLogs(async () => {
      const { reports } = await nat(c.host, [STUN6]);
      assert.equal(reports.length, 1);
      const r = reports[0];
      assert.equal(r.family, 6);
      const own = lab.ip6(c.host);
      for (const t of [r.udp!, r.tcp!]) {
        assert.ok(t, `${c.host}: a transport is missing: ${JSON.stringify(r)}`);
        assert.equal(t.behindNat, false, `${c.host}: ${JSON.stringify(t)}`);
        assert.equal(t.publicAddress?.address, own);
        assert.equal(t.mapping, "endpoint-independent");
        assert.equal(t.filtering, c.filtering, `${c.host}: ${JSON.stringify(t)}`);
        assert.equal(t.natType, c.natType);
        times.push(`${c.host} ${t === r.udp ? "UDP" : "TCP"}: ${t.natType}, mapping ${t.mapping}, filtering ${t.filtering}, ${t.durationMs} ms`);
      }
    }));
  }

  test("`p2pnode nat` with an IPv4 and an IPv6 server prints both families (a1: symmetric-random IPv4, firewalled IPv6)", withLogs(async () => {
    const { text } = await nat("a1", [STUN4, STUN6], false);
    assert.match(text, /NAT discovery over IPv4/);
    assert.match(text, /NAT discovery over IPv6/);
    const [v4, v6] = text.split(/(?=NAT discovery over IPv6)/);
    assert.match(v4, /UDP: symmetric NAT, random ports/);
    assert.match(v6, /UDP: firewall/);
    assert.match(v6, /TCP: firewall/);
  }));

  test("`p2pnode doctor` shows the IPv6 verdict next to the IPv4 one (a1)", withLogs(async () => {
    const r = await lab.exec("a1", [process.execPath, CLI, "doctor", "--stun", STUN4, "--stun", STUN6, "--no-portmap", "--timeout", "4000"], { timeoutMs: 30_000 });
    assert.match(r.stdout, /^ {4}UDP: a symmetric NAT with random ports/m, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {4}IPv6 UDP: no NAT, but a firewall drops unsolicited traffic \(firewall\); public \[2001:db8:1::11\]/m, r.stdout);
    assert.match(r.stdout, /^ {4}IPv6 TCP: no NAT, but a firewall drops unsolicited traffic \(firewall\)/m, r.stdout);
    assert.match(r.stdout, /IPv6 on \S+: no NAT, but a firewall drops unsolicited traffic \(stateful firewall, address-and-port-dependent filtering over TCP\): peers with IPv6 reach you by punching/);
    assert.doesNotMatch(r.stdout, /not available yet/);
  }));

  test("a node publishes the IPv6 verdict per interface; the peer's plan: direct to the open host, punch to the firewalled one", withLogs(async () => {
    const broker = (await lab.startMosquitto6()).url;
    const listen = async (host: string) => {
      const t0 = performance.now();
      const proc = lab.spawn(host, process.execPath, ["--import", "tsx", NODE, "listen", `${STUN4},${STUN6}`, broker]);
      const ready = JSON.parse(await proc.waitForLine(/"event":"ready"/, 30_000)) as { addr: string; nat6: Array<string | null>; report6: string | null };
      return { ...ready, ms: Math.round(performance.now() - t0), address: parseAddress(ready.addr) };
    };
    const [a1, b1, pub1] = await Promise.all([listen("a1"), listen("b1"), listen("pub1")]);
    const v6Itf = (a: NodeAddress) => a.interfaces.find((i) => i.v6.some((ip) => ip.startsWith("2001:db8")))!;
    for (const [name, n, kind] of [["a1", a1, "firewall"], ["b1", b1, "firewall"], ["pub1", pub1, "open"]] as const) {
      const itf = v6Itf(n.address);
      assert.equal(itf.nat6?.tcp.type, kind, `${name}: ${JSON.stringify(itf)}`);
      assert.equal(itf.nat6?.udp.type, kind, `${name}: ${JSON.stringify(itf)}`);
      assert.equal(n.report6, kind, `${name}: node.nat6 is the IPv6 report`);
      times.push(`${name} node: IPv4 ${itf.nat.tcp.type}, IPv6 TCP ${itf.nat6?.tcp.type} / UDP ${itf.nat6?.udp.type} published; start to ready ${n.ms} ms`);
    }
    // IPv4 stays what the IPv4 run measured.
    assert.equal(v6Itf(a1.address).nat.tcp.type, "symmetric");
    assert.equal(reachability(pub1.address), "yes");
    assert.equal(reachability(a1.address), "no");
    const available = new Set(["direct", "reverse", "punch", "turn"] as const);
    assert.equal(rankStrategies({ local: b1.address, remote: pub1.address, available })[0].name, "direct");
    assert.equal(rankStrategies({ local: b1.address, remote: a1.address, available })[0].name, "punch");
    const fit = punchApplicabilityFor(b1.address, a1.address, v6Itf(b1.address).nat.tcp, v6Itf(a1.address).nat.tcp);
    assert.equal(fit.verdict, "yes", fit.reason);
    assert.match(fit.reason, /IPv6 firewall \(measured\) here × firewall \(measured\) at the peer/);
  }));
});
