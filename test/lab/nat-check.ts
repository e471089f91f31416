/**
 * What the lab self-test measures about a NAT, and the check of a measurement
 * against a kind's definition (EXPECTED in nat-rules.ts, RFC 4787 / RFC 5382 terms).
 */
import assert from "node:assert/strict";
import { EXPECTED, type NatKind } from "./nat-rules.ts";
import { PORTS, PUBLIC_HOSTS } from "./plan.ts";
import type { Lab } from "./lab.ts";

export interface NatMeasurement {
  proto: "udp" | "tcp";
  /** Local port of the probing socket. */
  local: number;
  /** ip:port seen by srv from one local socket, toward srv1:P, srv2:P, srv1:P+1, srv2:P+1 (null = no answer). */
  mapped: Array<string | null>;
  /** Which inbound probes reached a fresh mapping that contacted srv1:P only. */
  filter: { "same-addr": boolean; "other-addr": boolean; third: boolean } | null;
}

/** Runs probe.py's `nat` measurement in `host` (the reflector must be running). */
export function measureNat(lab: Lab, host: string, proto: "udp" | "tcp"): Promise<NatMeasurement> {
  return lab.probe<NatMeasurement>(host, ["nat", "--proto", proto, "--srv", PUBLIC_HOSTS.srv.ips.join(","), "--port", String(PORTS.reflector)]);
}

const port = (hp: string) => Number(hp.split(":")[1]);
const ipOf = (hp: string) => hp.split(":")[0];

/** Asserts that a measurement shows `kind`; `expectIp` is the address srv must see. */
export function assertNatKind(kind: NatKind, m: NatMeasurement, expectIp: string): void {
  const exp = EXPECTED[kind];
  const label = `${kind}/${m.proto}: ${JSON.stringify(m)}`;
  assert.ok(m.mapped.every((x) => x !== null), `every destination answered (${label})`);
  const mapped = m.mapped as string[];
  for (const x of mapped) assert.equal(ipOf(x), expectIp, `source address seen by srv (${label})`);
  const ports = mapped.map(port);
  if (exp.mapping === "none") {
    assert.ok(ports.every((p) => p === m.local), `no NAT: srv sees the local port (${label})`);
  } else if (exp.mapping === "EIM") {
    assert.equal(new Set(ports).size, 1, `endpoint-independent mapping: one mapped port for all destinations (${label})`);
    // masquerade keeps the local port when it is free (it always is in the lab).
    assert.equal(ports[0], m.local, `port preservation (${label})`);
  } else {
    assert.equal(new Set(ports).size, ports.length, `address-and-port-dependent mapping: a new port per destination (${label})`);
    // The router-wide counter makes other flows widen the step; allow a few, modulo the 512-port range.
    const steps = ports.slice(1).map((p, i) => (p - (ports[i] as number) + 512) % 512);
    const sequential = steps.every((d) => d >= 1 && d <= 8);
    if (kind === "symmetric-sequential") assert.ok(sequential, `sequential ports (${label})`);
    else assert.ok(!sequential, `random ports are not a small increasing sequence (${label})`);
  }
  assert.ok(m.filter, `filtering measured (${label})`);
  const f = m.filter;
  const want = {
    none: { "same-addr": true, "other-addr": true, third: true },
    EIF: { "same-addr": true, "other-addr": true, third: true },
    ADF: { "same-addr": true, "other-addr": false, third: false },
    APDF: { "same-addr": false, "other-addr": false, third: false },
    all: { "same-addr": false, "other-addr": false, third: false },
  }[exp.filtering];
  assert.deepEqual(f, want, `filtering ${exp.filtering} (${label})`);
}

/** What turnutils_natdiscovery (coturn, RFC 5780 mode) must report for a kind, or null when it has no word for it. */
export function natdiscoveryExpect(kind: NatKind): { mapping: RegExp; filtering: RegExp } {
  const exp = EXPECTED[kind];
  const mapping = {
    none: /No NAT|Endpoint Independent Mapping/,
    EIM: /NAT with Endpoint Independent Mapping/,
    APDM: /NAT with Address and Port Dependent Mapping/,
  }[exp.mapping];
  const filtering = {
    none: /Endpoint Independent Filtering/,
    EIF: /NAT with Endpoint Independent Filtering/,
    ADF: /NAT with Address Dependent Filtering/,
    APDF: /Address and Port Dependent Filtering/,
    all: /Address and Port Dependent Filtering/,
  }[exp.filtering];
  return { mapping, filtering };
}
