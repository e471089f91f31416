import { formatAddress } from "../stun/ip.ts";
import type { NatReport, NatTypeName, PortDelta, TransportReport } from "./types.ts";

const NAMES: Record<NatTypeName, string> = {
  open: "open (no NAT, nothing filtered)",
  firewall: "firewall (no NAT, but unsolicited traffic is filtered)",
  "full-cone": "full-cone NAT",
  restricted: "restricted-cone NAT",
  "port-restricted": "port-restricted-cone NAT",
  symmetric: "symmetric NAT",
  "symmetric-sequential": "symmetric NAT, sequential ports",
  "symmetric-random": "symmetric NAT, random ports",
  blocked: "blocked (no STUN server answered)",
  unknown: "unknown",
};

function delta(d: PortDelta): string {
  switch (d.kind) {
    case "preserving":
      return "preserved (external port = local port)";
    case "independent":
      return "one external port for every destination";
    case "sequential":
      return `sequential, ${d.step! > 0 ? "+" : ""}${d.step} per new mapping`;
    case "random":
      return "random";
    default:
      return "unknown";
  }
}

function transport(t: TransportReport): string[] {
  const L = t.transport.toUpperCase();
  const lines = [`${L}: ${NAMES[t.natType]}${t.unreachable?.length ? ` (STUN server unreachable: ${t.unreachable.join(", ")} refused; the network is not blocked)` : ""}`];
  lines.push(`  public address: ${t.publicAddress ? formatAddress(t.publicAddress) : "not confirmed"}${t.localAddress ? ` (local ${formatAddress(t.localAddress)})` : ""}`);
  lines.push(`  mapping: ${t.mapping}; filtering: ${t.filtering}`);
  lines.push(`  port: ${delta(t.delta)}${t.predictedPorts.length > 1 ? `; next likely ${t.predictedPorts.join(", ")}` : ""}`);
  if (t.publicAddresses.length) lines.push(`  servers: ${t.publicAddresses.map((o) => `${o.server} saw ${formatAddress(o.mapped)} in ${o.rttMs} ms${o.rfc5780 ? " (RFC 5780)" : ""}`).join("; ")}`);
  lines.push(`  steps (${t.durationMs} ms in all):`);
  for (const s of t.timings) lines.push(`    ${String(s.ms).padStart(5)} ms  ${s.ok ? "ok  " : "FAIL"}  ${s.step}${s.detail ? `: ${s.detail}` : ""}`);
  for (const w of t.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

/** The report in plain words, one fact per line, with how long each step took. */
export function formatNatReport(report: NatReport): string {
  const lines = [`NAT discovery over IPv${report.family} with ${report.servers.join(", ")} took ${report.durationMs} ms`];
  for (const t of [report.udp, report.tcp]) if (t) lines.push(...transport(t));
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}
