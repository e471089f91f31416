/** Turns a NAT discovery report into the compact summaries an address carries (pure). */
import type { AddressInterface, DeltaKind, NatSummary, NatTypeName } from "../identity/address.ts";
import { UNKNOWN_NAT } from "../identity/address.ts";
import type { NatReport, TransportReport } from "./types.ts";

export function summarize(t: TransportReport | undefined): NatSummary {
  if (!t) return { ...UNKNOWN_NAT, delta: { ...UNKNOWN_NAT.delta } };
  const type: NatTypeName = t.natType.startsWith("symmetric") ? "symmetric" : (t.natType as NatTypeName);
  return {
    type,
    mapping: t.mapping,
    filtering: t.filtering,
    delta: { kind: t.delta.kind as DeltaKind, step: t.delta.step ?? 0 },
  };
}

/**
 * Applies a report to the interface it was measured on. IPv4: the NAT
 * summaries, and the public IPv4 when a NAT stands in front (with no NAT the
 * IP is already listed). IPv6: the `nat6` summaries only (the IPv6 address is
 * the host's own, already listed; the IPv4 summaries stay as they are).
 */
export function applyReport(itf: AddressInterface, report: NatReport): AddressInterface {
  if (report.family === 6) return { ...itf, nat6: { tcp: summarize(report.tcp), udp: summarize(report.udp) } };
  const out: AddressInterface = { ...itf, v4: { private: [...itf.v4.private], public: [...itf.v4.public] }, nat: { tcp: summarize(report.tcp), udp: summarize(report.udp) } };
  for (const t of [report.tcp, report.udp]) {
    const ip = t?.publicAddress?.address;
    if (ip && t?.behindNat && !out.v4.public.includes(ip) && !out.v4.private.includes(ip)) out.v4.public.push(ip);
  }
  return out;
}
