// NAT discovery (`p2pnode nat`, src/nat/) against real Linux NATs: every lab NAT kind
// classified from a1, against our embedded RFC 5780 STUN server (UDP + TCP with
// dial-back) and against coturn (UDP; TCP filtering unknown: no dial-back),
// cross-checked with coturn's turnutils_natdiscovery; plus a silent second server.
// One lab; site a's router kind is switched live.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, type NatKind, withLabLogs } from "./lab.ts";
import { natdiscoveryExpect } from "./nat-check.ts";
import { labSkipReason } from "./require-lab.ts";
import type { FilteringBehavior, MappingBehavior, NatReport, NatTypeName, PortDeltaKind, TransportReport } from "../../src/nat/types.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
/** Our embedded server's ports (coturn owns 3478/3479). */
const PORT = 5478;
const ALT_PORT = 5479;
/** Nothing listens here (srv's alternate address, a port no lab server uses). */
const SILENT = `stun:${SRV2}:5999`;
const NAT_TIMEOUT = 5000;

const EIM = "endpoint-independent";
const EIF = "endpoint-independent";
const ADF = "address-dependent";
const APD = "address-and-port-dependent";

interface Want {
  /** a1's public address is its own (open/firewall: the site's routed /28) or the router's wan address. */
  nat: boolean;
  mapping: MappingBehavior;
  filtering: FilteringBehavior;
  /** TCP (RFC 5382): the lab's recipes treat TCP like UDP. */
  tcpMapping: MappingBehavior;
  tcpFiltering: FilteringBehavior;
  preservesPort: boolean;
  delta: PortDeltaKind;
  name: NatTypeName;
}

/**
 * Expectations per lab kind, from RFC 4787 §4.1/§5 (UDP), RFC 5382 (TCP), RFC 5780 §4
 * and the recipes in docs/lab.md — not from what the code prints.
 * - no NAT: the mapped address is a1's own address and port for every destination,
 *   which RFC 5780 §4.3 test II/I equality reads as endpoint-independent, port preserved.
 * - open forwards everything (EIF); firewall drops every unsolicited packet, so even the
 *   same IP from another port (test III) is filtered: address-and-port-dependent.
 * - full-cone/restricted/port-restricted: masquerade keeps the local port (always free in
 *   the lab), one mapping for all destinations; filtering EIF / ADF / APDF.
 * - symmetric-sequential: snat from a router-wide counter 20000+n (n reset by setNat):
 *   new port per destination (APDM), increasing by small steps; never the local port.
 * - symmetric-random: masquerade fully-random: new random port per destination.
 */
const WANT: Record<NatKind, Want> = {
  open: { nat: false, mapping: EIM, filtering: EIF, tcpMapping: EIM, tcpFiltering: EIF, preservesPort: true, delta: "preserving", name: "open" },
  firewall: { nat: false, mapping: EIM, filtering: APD, tcpMapping: EIM, tcpFiltering: APD, preservesPort: true, delta: "preserving", name: "firewall" },
  "full-cone": { nat: true, mapping: EIM, filtering: EIF, tcpMapping: EIM, tcpFiltering: EIF, preservesPort: true, delta: "preserving", name: "full-cone" },
  restricted: { nat: true, mapping: EIM, filtering: ADF, tcpMapping: EIM, tcpFiltering: ADF, preservesPort: true, delta: "preserving", name: "restricted" },
  "port-restricted": { nat: true, mapping: EIM, filtering: APD, tcpMapping: EIM, tcpFiltering: APD, preservesPort: true, delta: "preserving", name: "port-restricted" },
  "symmetric-sequential": { nat: true, mapping: APD, filtering: APD, tcpMapping: APD, tcpFiltering: APD, preservesPort: false, delta: "sequential", name: "symmetric-sequential" },
  "symmetric-random": { nat: true, mapping: APD, filtering: APD, tcpMapping: APD, tcpFiltering: APD, preservesPort: false, delta: "random", name: "symmetric-random" },
};

/** Terms of turnutils_natdiscovery's output, mapped to RFC 4787 names. */
function parseNatdiscovery(out: string): { mapping?: MappingBehavior; filtering?: FilteringBehavior } {
  const term = (re: RegExp): MappingBehavior | undefined => {
    const m = re.exec(out)?.[1];
    if (!m) return undefined;
    if (/^Endpoint Independent/i.test(m)) return EIM;
    if (/^Address and Port Dependent/i.test(m)) return APD;
    if (/^Address Dependent/i.test(m)) return "address-dependent";
    return undefined;
  };
  return {
    mapping: term(/(Endpoint Independent|Address and Port Dependent|Address Dependent) Mapping/i),
    filtering: term(/(Endpoint Independent|Address and Port Dependent|Address Dependent) Filtering/i),
  };
}

const timings: Array<{ kind: string; server: string; total: number; udp?: number; tcp?: number; verdict: string }> = [];
const verdict = (t?: TransportReport) => (t ? `${t.mapping}/${t.filtering} delta=${t.delta.kind}${t.delta.step !== undefined ? `(${t.delta.step})` : ""} ${t.natType}` : "-");

describe("NAT discovery through the lab's NATs", { skip: skip ?? false }, () => {
  let lab: Lab;
  const withLogs = withLabLogs(() => lab);

  /** Runs `p2pnode nat --json` in a1 and returns its report. */
  async function nat(servers: string[], timeout = NAT_TIMEOUT): Promise<{ report: NatReport; wallMs: number; stderr: string }> {
    const t0 = performance.now();
    const r = await lab.exec("a1", [process.execPath, CLI, "nat", ...servers.flatMap((s) => ["--stun", s]), "--json", "--timeout", String(timeout)], { timeoutMs: timeout + 10_000 });
    const wallMs = performance.now() - t0;
    assert.equal(r.code, 0, `p2pnode nat exited ${r.code}: ${r.stderr}\n${r.stdout}`);
    const line = r.stdout.split("\n").find((l) => l.includes('"event":"report"'));
    assert.ok(line, `no report event:\n${r.stdout}\n${r.stderr}`);
    return { report: (JSON.parse(line) as { report: NatReport }).report, wallMs, stderr: r.stderr };
  }

  const show = (t: TransportReport | undefined) => JSON.stringify(t && { ...t, timings: t.timings.map((s) => `${s.step} ${s.server ?? ""} ${s.ms}ms ${s.detail ?? ""}`) }, null, 1);

  function checkPublic(kind: NatKind, t: TransportReport, label: string): void {
    const w = WANT[kind];
    const ip = w.nat ? lab.publicIp("a") : lab.ip("a1");
    assert.equal(t.behindNat, w.nat, `${label}: behindNat`);
    assert.ok(t.publicAddresses.length > 0, `${label}: a server answered`);
    for (const o of t.publicAddresses) assert.equal(o.mapped.address, ip, `${label}: public address seen by ${o.server}`);
    assert.equal(t.localAddress?.address !== undefined, true, `${label}: local address known`);
    assert.equal(t.preservesPort, w.preservesPort, `${label}: port preservation`);
  }

  function record(kind: string, server: string, r: NatReport): void {
    const row = { kind, server, total: r.durationMs, udp: r.udp?.durationMs, tcp: r.tcp?.durationMs, verdict: `udp ${verdict(r.udp)}; tcp ${verdict(r.tcp)}` };
    timings.push(row);
    const steps = [...(r.udp?.timings ?? []), ...(r.tcp?.timings ?? [])].map((s) => `${s.step}=${s.ms}`).join(", ");
    process.stdout.write(`# discovery ${kind} via ${server}: ${r.durationMs} ms (udp ${row.udp} ms, tcp ${row.tcp} ms) [${steps}]\n`);
  }

  before(async () => {
    lab = await Lab.up({ a: "port-restricted" });
    process.stdout.write(`# lab build: ${lab.buildMs} ms\n`);
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", String(PORT), "--alt-host", SRV2, "--alt-port", String(ALT_PORT), "--json"]);
    await Promise.all([stun.waitForLine(/"event":"ready"/, 15_000), lab.startCoturn()]);
  });
  after(async () => {
    await lab?.down();
    if (lab) process.stdout.write(`# lab teardown: ${lab.downMs} ms\n`);
    if (timings.length) {
      process.stdout.write("# discovery time per NAT kind (ms): kind | server | total | udp | tcp | verdicts\n");
      for (const t of timings) process.stdout.write(`#   ${t.kind} | ${t.server} | ${t.total} | ${t.udp} | ${t.tcp} | ${t.verdict}\n`);
    }
  });

  for (const kind of Object.keys(WANT) as NatKind[]) {
    test(`${kind}: classified over UDP and TCP (embedded server), UDP via coturn and turnutils agree`, withLogs(async () => {
      const w = WANT[kind];
      await lab.setNat("a", kind);

      // Our embedded server: UDP (RFC 5780) and TCP (mapping + dial-back filtering).
      const { report } = await nat([`stun:${SRV1}:${PORT}`]);
      record(kind, "embedded", report);
      const { udp, tcp } = report;
      assert.ok(udp && tcp, JSON.stringify(report));
      checkPublic(kind, udp, `${kind}/udp ${show(udp)}`);
      checkPublic(kind, tcp, `${kind}/tcp ${show(tcp)}`);
      assert.equal(udp.mapping, w.mapping, `${kind}: UDP mapping ${show(udp)}`);
      assert.equal(udp.filtering, w.filtering, `${kind}: UDP filtering ${show(udp)}`);
      assert.equal(udp.delta.kind, w.delta, `${kind}: UDP delta ${show(udp)}`);
      assert.equal(udp.natType, w.name, `${kind}: UDP name ${show(udp)}`);
      assert.equal(tcp.mapping, w.tcpMapping, `${kind}: TCP mapping ${show(tcp)}`);
      assert.equal(tcp.filtering, w.tcpFiltering, `${kind}: TCP filtering (dial-back) ${show(tcp)}`);
      assert.equal(tcp.delta.kind, w.delta, `${kind}: TCP delta ${show(tcp)}`);
      assert.equal(tcp.natType, w.name, `${kind}: TCP name ${show(tcp)}`);
      if (w.delta === "sequential") assert.ok((udp.delta.step ?? 0) > 0 && (tcp.delta.step ?? 0) > 0, `${kind}: the counter increases`);

      // coturn (RFC 5780 mode) and its own client, in parallel: turnutils waits out its timeouts.
      const [viaCoturn, nd] = await Promise.all([
        nat([`stun:${SRV1}:3478`]),
        lab.exec("a1", ["turnutils_natdiscovery", "-m", "-f", SRV1], { timeoutMs: 30_000 }),
      ]);
      const c = viaCoturn.report;
      record(kind, "coturn", c);
      assert.ok(c.udp && c.tcp, JSON.stringify(c));
      checkPublic(kind, c.udp, `${kind}/udp coturn ${show(c.udp)}`);
      assert.equal(c.udp.mapping, w.mapping, `${kind}: UDP mapping via coturn ${show(c.udp)}`);
      assert.equal(c.udp.filtering, w.filtering, `${kind}: UDP filtering via coturn ${show(c.udp)}`);
      assert.equal(c.udp.delta.kind, w.delta, `${kind}: UDP delta via coturn ${show(c.udp)}`);
      assert.equal(c.udp.natType, w.name, `${kind}: UDP name via coturn ${show(c.udp)}`);
      assert.equal(c.tcp.mapping, w.tcpMapping, `${kind}: TCP mapping via coturn ${show(c.tcp)}`);
      assert.equal(c.tcp.filtering, "unknown", `${kind}: coturn has no TCP dial-back ${show(c.tcp)}`);
      assert.ok(c.tcp.warnings.some((x) => /dial-back|filtering unknown/.test(x)), `${kind}: a warning says why TCP filtering is unknown ${show(c.tcp)}`);

      const want = natdiscoveryExpect(kind);
      assert.match(nd.stdout, want.mapping, `turnutils mapping for ${kind}:\n${nd.stdout}`);
      assert.match(nd.stdout, want.filtering, `turnutils filtering for ${kind}:\n${nd.stdout}`);
      const theirs = parseNatdiscovery(nd.stdout);
      assert.equal(theirs.mapping, c.udp.mapping, `turnutils and p2pnode agree on UDP mapping (${kind}):\n${nd.stdout}`);
      assert.equal(theirs.filtering, c.udp.filtering, `turnutils and p2pnode agree on UDP filtering (${kind}):\n${nd.stdout}`);
    }));
  }

  test("a silent second server: finishes within its timeout, classification intact, a warning", withLogs(async () => {
    await lab.setNat("a", "port-restricted");
    const w = WANT["port-restricted"];
    const timeout = 3000;
    const { report, wallMs } = await nat([`stun:${SRV1}:${PORT}`, SILENT], timeout);
    record("port-restricted + silent", "embedded", report);
    assert.ok(report.durationMs <= timeout, `discovery took ${report.durationMs} ms > ${timeout} ms`);
    assert.ok(wallMs < timeout + 5000, `the command returned in ${Math.round(wallMs)} ms`);
    for (const t of [report.udp, report.tcp]) {
      assert.ok(t, JSON.stringify(report));
      assert.equal(t.mapping, w.mapping, `mapping ${show(t)}`);
      assert.equal(t.filtering, w.filtering, `filtering ${show(t)}`);
      assert.equal(t.natType, w.name, `name ${show(t)}`);
      assert.deepEqual(t.publicAddresses.map((o) => o.server), [`stun:${SRV1}:${PORT}`], `only the good server answered ${show(t)}`);
      assert.ok(t.warnings.some((x) => x.includes(SILENT.slice(5)) || x.includes(SILENT)), `a warning names the silent server ${show(t)}`);
    }
  }));
});
