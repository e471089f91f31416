/**
 * The doctor's gathering step (I/O): which interfaces to look through, then
 * every check at once — NAT discovery per interface and family (src/nat, as the node
 * runs it), the port-mapping probe, each broker, each TURN server — each
 * bounded by `timeoutMs`, with a progress line on stderr as each one ends.
 */
import net from "node:net";
import { listInterfaces } from "../identity/interfaces.ts";
import { discoverNat } from "../nat/discovery.ts";
import { globalV6Of, serversByFamily } from "../nat/family.ts";
import type { NatReport } from "../nat/types.ts";
import { NAT_WORDS } from "./doctor-verdicts.ts";
import { findDefaultGateway } from "../portmap/gateway.ts";
import { describeTurnServer, parseTurnServers, type TurnServerConfig } from "../turn/uri.ts";
import type { Logger } from "../util/logger.ts";
import { checkBroker, checkTurn, probePortMapping } from "./doctor-probes.ts";
import { CLOCK_UNKNOWN, type ClockFacts, type DoctorFacts, type DoctorInterface, type PortMapFacts } from "./doctor-types.ts";

export interface GatherOptions {
  stun: string[];
  signal: string[];
  turn: TurnServerConfig[];
  /** Only these relayed transports (--turn-relay). */
  turnRelay?: "udp" | "tcp";
  /** Local IPs to look through (--local); default every external interface. */
  local?: string[];
  /** The gateway to probe (--gateway); default the IPv4 default route's; false = do not probe. */
  gateway?: string | false;
  timeoutMs: number;
  abort: AbortSignal;
  logger: Logger;
  progress(line: string): void;
}

/** The interfaces to look through: the --local addresses, else every external one (loopback when there is nothing else). */
export function pickInterfaces(local: readonly string[] | undefined): DoctorInterface[] {
  const all = listInterfaces();
  if (local?.length) {
    return local.map((ip) => {
      const itf = all.find((i) => i.v4.includes(ip) || i.v6.includes(ip));
      const v4 = net.isIPv4(ip);
      return { name: itf?.name ?? (ip.startsWith("127.") || ip === "::1" ? "lo" : "host"), isDefault: itf?.isDefault ?? false, v4: v4 ? [ip] : [], v6: v4 ? [] : [ip] };
    });
  }
  const external = all.filter((i) => !i.internal);
  return (external.length ? external : all).map((i) => ({ name: i.name, isDefault: i.isDefault, v4: [...i.v4], v6: [...i.v6] }));
}

/** `bind` false: the only interface, so the OS picks the source address as it will for peers (as the node does). */
async function natOf(itf: DoctorInterface, bind: boolean, o: GatherOptions): Promise<void> {
  const ip = itf.v4[0];
  if (!o.stun.length) return;
  const servers = serversByFamily(o.stun);
  if (!ip) {
    if (!itf.v6.length) itf.natError = "no IPv4 address";
    return;
  }
  if (!servers[4].length) {
    itf.natError = "no IPv4 STUN server configured";
    return;
  }
  try {
    itf.nat = await discoverNat({ servers: servers[4], localAddress: bind ? ip : undefined, timeout: o.timeoutMs, signal: o.abort, logger: o.logger });
    o.progress(`NAT ${itf.name} (${itf.nat.udp?.localAddress?.address ?? itf.nat.tcp?.localAddress?.address ?? ip}): ${says(itf.nat)}`);
  } catch (err) {
    itf.natError = (err as Error).message;
    o.progress(`NAT ${itf.name} (${ip}): ${itf.natError}`);
  }
}

const says = (r: NatReport) =>
  [r.udp, r.tcp]
    .filter((t): t is NonNullable<typeof t> => !!t)
    .map((t) => `${t.transport.toUpperCase()} ${t.publicAddresses.length ? NAT_WORDS[t.natType] : "no answer"}`)
    .join(", ");

/** IPv6 discovery from the interface's global IPv6 address (a --local IPv6 is taken as given), with the IPv6 servers. */
async function nat6Of(itf: DoctorInterface, explicit: boolean, o: GatherOptions): Promise<void> {
  if (!o.stun.length || !itf.v6.length) return;
  const ip = explicit ? itf.v6[0] : globalV6Of(itf.v6);
  const servers = serversByFamily(o.stun)[6];
  if (!ip) return void (itf.nat6Error = "no global IPv6 address (link-local and unique-local only)");
  if (!servers.length) return void (itf.nat6Error = "no IPv6 STUN server configured (--stun stun:[IPv6]:3478): no IPv6 verdict");
  try {
    itf.nat6 = await discoverNat({ servers, localAddress: ip, timeout: o.timeoutMs, signal: o.abort, logger: o.logger });
    o.progress(`NAT ${itf.name} IPv6 (${ip}): ${says(itf.nat6)}`);
  } catch (err) {
    itf.nat6Error = (err as Error).message;
    o.progress(`NAT ${itf.name} IPv6 (${ip}): ${itf.nat6Error}`);
  }
}

async function portmapOf(o: GatherOptions): Promise<PortMapFacts> {
  const gateway = o.gateway === false ? undefined : (o.gateway ?? (await findDefaultGateway())?.gateway);
  const facts = await probePortMapping(gateway, { timeoutMs: o.timeoutMs, signal: o.abort, logger: o.logger });
  if (gateway) o.progress(`port mapping at ${gateway}: PCP ${facts.pcp.status}, NAT-PMP ${facts.natPmp.status}, UPnP ${facts.upnp.status}`);
  return facts;
}

export async function gather(o: GatherOptions): Promise<DoctorFacts> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const interfaces = pickInterfaces(o.local);
  const servers = parseTurnServers(o.turn);
  const probe = { timeoutMs: o.timeoutMs, signal: o.abort, logger: o.logger };
  o.progress(`checking ${interfaces.length} interface${interfaces.length === 1 ? "" : "s"}, ${o.stun.length} STUN, ${o.signal.length} signaling and ${servers.length} TURN server${servers.length === 1 ? "" : "s"} (each check within ${o.timeoutMs} ms)…`);
  const [, portmap, brokers, turn] = await Promise.all([
    Promise.all([
      ...interfaces.map((i) => natOf(i, !!o.local?.length || interfaces.filter((x) => x.v4.length).length > 1, o)),
      ...interfaces.map((i) => nat6Of(i, !!o.local?.length, o)),
    ]),
    portmapOf(o),
    Promise.all(
      o.signal.map(async (url) => {
        const b = await checkBroker(url, probe);
        o.progress(`broker ${url}: ${b.ok ? `up, round trip ${b.rttMs} ms` : `unreachable (${b.error})`}`);
        return b;
      }),
    ),
    Promise.all(
      servers.map(async (s) => {
        const allocations = await checkTurn(s, o.turnRelay, probe);
        o.progress(`TURN ${describeTurnServer(s)}: ${allocations.map((a) => `${a.uri} ${a.relay.toUpperCase()} ${a.ok ? "ok" : (a.reason ?? "failed")}`).join(", ")}`);
        return { server: describeTurnServer(s), user: s.username, allocations };
      }),
    ),
  ]);
  const clock: ClockFacts = { offsetMs: null, source: null, reason: CLOCK_UNKNOWN };
  return {
    startedAt,
    durationMs: Math.round(performance.now() - t0),
    config: { stun: [...o.stun], signal: [...o.signal], turn: servers.flatMap((s) => s.uris.map((u) => u.uri)) },
    interfaces,
    portmap,
    brokers,
    turn,
    clock,
  };
}
