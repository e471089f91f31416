import dns from "node:dns";
import net from "node:net";
import os from "node:os";
import { AbortError, InvalidArgumentError } from "../errors.ts";
import { silentLogger } from "../util/logger.ts";
import { canonicalIp, formatAddress, sameAddress, toTransportAddress } from "../stun/ip.ts";
import { parseStunUri } from "../stun/uri.ts";
import { systemTimers, type Clock } from "../util/clock.ts";
import { deadline, withDeadline } from "../util/deadline.ts";
import { classifyDelta, classifyFiltering, classifyMapping, isBehindNat, natTypeName, predictPorts } from "./classify.ts";
import type { ProbeContext, ProbeResult, ResolvedServer } from "./probe.ts";
import { probeTcp } from "./probe-tcp.ts";
import { probeUdp } from "./probe-udp.ts";
import type { DiscoverNatOptions, NatReport, PortDelta, Transport, TransportAddress, TransportReport } from "./types.ts";

export const DISCOVERY_DEFAULTS = Object.freeze({ timeout: 2000, transports: Object.freeze(["udp", "tcp"] as Transport[]) });

/** Without an injected clock, the budget and the step timings are measured on a clock that never jumps. */
const monotonic: Clock = { now: () => performance.now() };

/** Time kept back from the budget for closing sockets and building the report. */
const CLEANUP_MS = 60;

/**
 * NAT discovery (docs/stun.md): UDP per RFC 5780 §4.3/§4.4, TCP mapping from
 * one local port and TCP filtering via our dial-back; all servers in
 * parallel. Resolves within `timeout` with whatever was learned (warnings say
 * what is missing); rejects only for bad options (InvalidArgumentError) or
 * when the caller's signal aborts (AbortError).
 */
export async function discoverNat(options: DiscoverNatOptions): Promise<NatReport> {
  const o = validate(options);
  const log = (options.logger ?? silentLogger).child("nat");
  const clock = o.clock ?? monotonic;
  const timers = o.timers ?? systemTimers;
  const t0 = clock.now();
  const startedAt = new Date(o.clock ? o.clock.now() : Date.now()).toISOString();
  const warnings: string[] = [];
  if (o.signal?.aborted) throw new AbortError("NAT discovery aborted", { cause: o.signal.reason });

  // One deadline for the whole budget; the caller's signal feeds it.
  const budget = deadline({ timeout: o.timeout - CLEANUP_MS, signals: [o.signal], what: "NAT discovery", clock, timers });
  // Probes read a TimeoutError as "the server did not answer": the budget running out
  // (or the caller aborting) must reach them as an AbortError ("stopped"), never as one.
  const ctl = new AbortController();
  const onStop = () => ctl.abort(new AbortError("NAT discovery stopped: budget spent or aborted", { cause: budget.signal.reason }));
  budget.signal.addEventListener("abort", onStop, { once: true });
  const remaining = budget.remaining;

  try {
    const parsed = o.servers.map((s) => parseStunUri(s));
    const family: 4 | 6 = o.localAddress ? (net.isIPv6(o.localAddress) ? 6 : 4) : parsed[0].family === 6 ? 6 : 4;
    const resolved: ResolvedServer[] = [];
    await Promise.all(
      parsed.map(async (u) => {
        if (u.family !== 0) {
          if (u.family === family) resolved.push({ uri: u.uri, addr: toTransportAddress(u.host, u.port) });
          else warnings.push(`${u.uri}: IPv${u.family} server skipped, discovery runs over IPv${family}`);
          return;
        }
        try {
          const r = await withDeadline({ timeout: Math.max(1, remaining()), signals: [ctl.signal], what: `resolving ${u.host}`, timers }, () => dns.promises.lookup(u.host, { family }));
          resolved.push({ uri: u.uri, addr: toTransportAddress(r.address, u.port) });
        } catch (err) {
          warnings.push(`${u.uri}: cannot resolve ${u.host} over IPv${family}: ${(err as Error).message}`);
        }
      }),
    );
    resolved.sort((a, b) => o.servers.findIndex((s) => parseStunUri(s).uri === a.uri) - o.servers.findIndex((s) => parseStunUri(s).uri === b.uri));
    const ctx: ProbeContext = { servers: resolved, family, localAddress: o.localAddress, signal: ctl.signal, remaining, logger: log, clock, timers };
    const want = (t: Transport) => o.transports.includes(t);
    const none = (t: Transport): Promise<ProbeResult> =>
      Promise.resolve({ transport: t, firstHits: [], series: [], ordered: false, filtering: {}, timings: [], warnings: ["no usable STUN server"] });
    const run = (t: Transport, fn: (c: ProbeContext) => Promise<ProbeResult>) =>
      resolved.length === 0
        ? none(t)
        : fn(ctx).catch((err): ProbeResult => ({ transport: t, firstHits: [], series: [], ordered: false, filtering: {}, timings: [], warnings: [`${t} discovery failed: ${(err as Error).message}`] }));
    const [udp, tcp] = await Promise.all([want("udp") ? run("udp", probeUdp) : undefined, want("tcp") ? run("tcp", probeTcp) : undefined]);
    if (o.signal?.aborted) throw new AbortError("NAT discovery aborted", { cause: o.signal.reason });
    const localIps = localAddresses();
    // A refusal over either transport shows the server's host is reachable: it is down, not blocked.
    const configured = new Set(resolved.map((r) => r.uri));
    const refused = new Set([...(udp?.refused ?? []), ...(tcp?.refused ?? [])].filter((s) => configured.has(s)));
    const report: NatReport = {
      startedAt,
      durationMs: 0,
      family,
      servers: parsed.map((p) => p.uri),
      udp: udp && buildTransportReport(udp, resolved.length, localIps, clock.now() - t0, refused),
      tcp: tcp && buildTransportReport(tcp, resolved.length, localIps, clock.now() - t0, refused),
      warnings,
    };
    if (ctl.signal.aborted) warnings.push(`discovery stopped at its ${o.timeout} ms budget; results are partial`);
    report.durationMs = Math.round(clock.now() - t0);
    return report;
  } finally {
    budget.signal.removeEventListener("abort", onStop);
    budget.done();
  }
}

function validate(o: DiscoverNatOptions): Required<Pick<DiscoverNatOptions, "servers" | "timeout" | "transports">> & DiscoverNatOptions {
  if (!o || !Array.isArray(o.servers) || o.servers.length === 0) throw new InvalidArgumentError("servers must be a non-empty array of stun: URIs");
  for (const s of o.servers) parseStunUri(s);
  const timeout = o.timeout ?? DISCOVERY_DEFAULTS.timeout;
  if (!Number.isFinite(timeout) || timeout < 100) throw new InvalidArgumentError(`timeout must be a number of ms >= 100, got ${o.timeout}`);
  const transports = o.transports ?? [...DISCOVERY_DEFAULTS.transports];
  if (!Array.isArray(transports) || transports.length === 0 || transports.some((t) => t !== "udp" && t !== "tcp")) {
    throw new InvalidArgumentError(`transports must be a non-empty list of "udp" and "tcp", got ${JSON.stringify(o.transports)}`);
  }
  if (o.localAddress !== undefined && net.isIP(o.localAddress) === 0) throw new InvalidArgumentError(`localAddress must be an IP literal, got ${o.localAddress}`);
  return { ...o, timeout, transports };
}

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) out.push(i.address);
  return out;
}

/** Agreement rule: with two or more servers, a public address needs two that saw the same thing. */
function agree(r: ProbeResult, serverCount: number, warnings: string[]): TransportAddress | undefined {
  const hits = r.firstHits;
  if (hits.length === 0) return undefined;
  if (serverCount < 2) return hits[0].mapped;
  if (hits.length < 2) {
    warnings.push(`only ${hits[0].server} answered over ${r.transport.toUpperCase()}; public address ${formatAddress(hits[0].mapped)} is not confirmed by a second server`);
    return undefined;
  }
  for (const h of hits) if (hits.filter((x) => sameAddress(x.mapped, h.mapped)).length >= 2) {
    if (hits.some((x) => !sameAddress(x.mapped, h.mapped))) warnings.push(`servers disagree on the ${r.transport.toUpperCase()} public address: ${hits.map((x) => `${x.server} saw ${formatAddress(x.mapped)}`).join(", ")}`);
    return h.mapped;
  }
  const ip = hits.find((h) => hits.filter((x) => canonicalIp(x.mapped.address) === canonicalIp(h.mapped.address)).length >= 2);
  warnings.push(`servers disagree on the ${r.transport.toUpperCase()} public ${ip ? "port" : "address"}: ${hits.map((x) => `${x.server} saw ${formatAddress(x.mapped)}`).join(", ")}`);
  return undefined;
}

function buildTransportReport(r: ProbeResult, serverCount: number, localIps: string[], elapsedMs: number, refused: ReadonlySet<string> = new Set()): TransportReport {
  const warnings = [...r.warnings];
  const answered = new Set(r.firstHits.map((h) => h.server));
  const unreachable = [...refused].filter((s) => !answered.has(s));
  if (r.firstHits.length === 0 && unreachable.length) {
    warnings.push(`STUN server unreachable (${unreachable.join(", ")} refused${(r.refused ?? []).some((s) => unreachable.includes(s)) ? "" : " over the other transport"}): the network path is open, the server is down or not on this port; ${r.transport.toUpperCase()} NAT kind unknown`);
  }
  const publicAddress = agree(r, serverCount, warnings);
  const first = r.series[0]?.mapped ?? r.firstHits[0]?.mapped;
  const behindNat = r.local && first ? isBehindNat(r.local, first, localIps) : undefined;
  const { mapping, endpointDependent } = classifyMapping(r.series);
  let delta: PortDelta = classifyDelta(r.series.map((s) => s.mapped.port), r.local?.port);
  // Unordered samples can still show "all the same", not a sequence.
  if (!r.ordered && delta.kind === "sequential") delta = { kind: "unknown" };
  const filtering = classifyFiltering(r.filtering);
  const natType = natTypeName({ anyResponse: r.firstHits.length > 0, serverRefused: unreachable.length > 0, behindNat, mapping, endpointDependent, filtering, delta });
  const last = r.series.at(-1)?.mapped.port ?? first?.port;
  return {
    transport: r.transport,
    natType,
    mapping,
    filtering,
    preservesPort: first && r.local ? first.port === r.local.port : undefined,
    delta,
    behindNat,
    localAddress: r.local,
    publicAddress,
    publicAddresses: r.firstHits,
    predictedPorts: last === undefined ? [] : predictPorts(delta, last, 4, r.local?.port),
    timings: r.timings,
    warnings,
    durationMs: Math.round(elapsedMs),
    ...(unreachable.length ? { unreachable } : {}),
  };
}
