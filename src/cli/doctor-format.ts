/** The doctor's report in plain words, one fact per line, verdicts last (pure; docs/doctor.md). */
import { formatAddress } from "../stun/ip.ts";
import type { TransportReport } from "../nat/types.ts";
import { NAT_WORDS } from "./doctor-verdicts.ts";
import type { DoctorInterface, DoctorReport, PortMapProbe, VerdictLevel } from "./doctor-types.ts";

const MARK: Record<VerdictLevel, string> = { ok: "[ok]  ", info: "[info]", warn: "[warn]", fail: "[FAIL]" };

function transport(t: TransportReport): string {
  const L = t.transport.toUpperCase();
  if (!t.publicAddresses.length) return `${L}: no STUN answer${t.unreachable?.length ? ` (${t.unreachable.join(", ")} refused)` : ""}`;
  const pub = t.publicAddress ? formatAddress(t.publicAddress) : "not confirmed";
  return `${L}: ${NAT_WORDS[t.natType]} (${t.natType}); public ${pub}${t.localAddress ? ` (local ${formatAddress(t.localAddress)})` : ""}; mapping ${t.mapping}, filtering ${t.filtering}, ports ${t.delta.kind}`;
}

function itfLines(i: DoctorInterface): string[] {
  const lines = [`  ${i.name}${i.isDefault ? " (default route)" : ""}: IPv4 ${i.v4.join(", ") || "none"}; IPv6 ${i.v6.join(", ") || "none"}`];
  if (i.nat) {
    for (const t of [i.nat.udp, i.nat.tcp]) if (t) lines.push(`    ${transport(t)}`);
    for (const w of [...i.nat.warnings, ...(i.nat.udp?.warnings ?? []), ...(i.nat.tcp?.warnings ?? [])]) lines.push(`    note: ${w}`);
  } else if (i.natError) lines.push(`    NAT discovery: ${i.natError}`);
  if (i.nat6) {
    for (const t of [i.nat6.udp, i.nat6.tcp]) if (t) lines.push(`    IPv6 ${transport(t)}`);
    for (const w of [...i.nat6.warnings, ...(i.nat6.udp?.warnings ?? []), ...(i.nat6.tcp?.warnings ?? [])]) lines.push(`    note (IPv6): ${w}`);
  } else if (i.nat6Error) lines.push(`    IPv6: ${i.nat6Error}`);
  return lines;
}

function probe(name: string, p: PortMapProbe): string {
  const status = { yes: "yes", refused: "yes, but it refused the probe", no: "no", "not-checked": "not checked" }[p.status];
  const extra = [p.igd && `IGD v${p.igd}`, p.externalIp && `external IP ${p.externalIp}`, p.detail, p.ms !== undefined && `${p.ms} ms`].filter(Boolean).join("; ");
  return `  ${name}: ${status}${extra ? ` (${extra})` : ""}`;
}

export function formatDoctorReport(r: DoctorReport): string {
  const lines = [`p2pnode doctor: ${r.durationMs} ms`, "", "Interfaces (NAT kind per interface and family, over UDP and TCP)"];
  for (const i of r.interfaces) lines.push(...itfLines(i));
  if (!r.interfaces.length) lines.push("  none with an address");
  if (!r.config.stun.length) lines.push("  NAT discovery: no STUN server configured (--stun)");
  lines.push("", r.portmap.method === "skipped" ? "Port mapping: not probed" : `Port mapping at ${r.portmap.gateway} (probed; no mapping created)`);
  if (r.portmap.method === "probe") lines.push(probe("PCP", r.portmap.pcp), probe("NAT-PMP", r.portmap.natPmp), probe("UPnP IGD", r.portmap.upnp));
  lines.push("", "Signaling brokers");
  for (const b of r.brokers) lines.push(`  ${b.url}: ${b.ok ? `up; round trip ${b.rttMs} ms` : `UNREACHABLE: ${b.error}`}`);
  if (!r.brokers.length) lines.push("  none configured (--signal)");
  lines.push("", "TURN relays (a real allocation each, released at once)");
  for (const s of r.turn) {
    lines.push(`  ${s.server}`);
    for (const a of s.allocations) {
      const how = `${a.uri}, ${a.relay.toUpperCase()} allocation${a.configured ? "" : " (not configured: same host over TCP)"}`;
      lines.push(`    ${how}: ${a.ok ? `ok; relayed ${a.relayed}${a.mapped ? `, we are ${a.mapped}` : ""}, ${a.ms} ms${a.released ? ", released" : ""}` : `FAILED (${a.reason ?? "error"}): ${a.error}`}`);
    }
  }
  if (!r.turn.length) lines.push("  none configured (--turn)");
  lines.push("", `Clock: ${r.clock.offsetMs === null ? "offset unknown" : `offset ${r.clock.offsetMs} ms (${r.clock.source})`}`, "", "What this means");
  for (const v of r.verdicts) lines.push(`  ${MARK[v.level]} ${v.text}`);
  return lines.join("\n");
}
