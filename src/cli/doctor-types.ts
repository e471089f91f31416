/**
 * What `p2pnode doctor` found (docs/doctor.md): the facts gathered by
 * doctor-gather.ts, the verdicts drawn from them by doctor-verdicts.ts, and
 * the exit code. `--json` prints this object as it is.
 */
import type { NatReport } from "../nat/types.ts";

/** One host interface and what discovery saw through it. */
export interface DoctorInterface {
  name: string;
  /** Carries a default route. */
  isDefault: boolean;
  v4: string[];
  /** Global and unique-local IPv6 addresses (no link-local). */
  v6: string[];
  /** NAT discovery from the first IPv4 address, with the IPv4 STUN servers (undefined: not run, e.g. no STUN server). */
  nat?: NatReport;
  /** Why discovery did not run or failed on this interface. */
  natError?: string;
  /** NAT discovery over the first global IPv6 address (or the --local IPv6), with the IPv6 STUN servers. */
  nat6?: NatReport;
  /** Why IPv6 discovery did not run (no IPv6 STUN server, no global IPv6) or failed. */
  nat6Error?: string;
}

/** One port-mapping protocol as the gateway answered a probe. */
export interface PortMapProbe {
  /** yes: it answered; refused: it answered with an error (it speaks the protocol); no: silence or another protocol. */
  status: "yes" | "refused" | "no" | "not-checked";
  /** The external address the gateway reported. */
  externalIp?: string;
  /** UPnP: the IGD version of the device. */
  igd?: 1 | 2;
  detail?: string;
  ms?: number;
}

export interface PortMapFacts {
  /** The IPv4 gateway asked; undefined when there is no default route. */
  gateway?: string;
  /** "probe": no mapping was created (PCP ANNOUNCE, NAT-PMP external address, UPnP GetExternalIPAddress). */
  method: "probe" | "skipped";
  pcp: PortMapProbe;
  natPmp: PortMapProbe;
  upnp: PortMapProbe;
}

export interface BrokerFacts {
  url: string;
  ok: boolean;
  /** TCP (+TLS/WebSocket) + MQTT CONNECT + SUBSCRIBE, ms; the first broker's also pays for loading the MQTT client's code (hundreds of ms). */
  connectMs?: number;
  /** One message published to a topic of our own and delivered back by the broker, ms. */
  rttMs?: number;
  error?: string;
}

/** One real allocation on one TURN URI. */
export interface TurnAllocationFacts {
  /** The URI used, without credentials. */
  uri: string;
  /** How we reached the relay. */
  link: "udp" | "tcp" | "tls";
  /** The relayed transport asked for (tcp: RFC 6062). */
  relay: "udp" | "tcp";
  /** False: the same host and port over TCP, tried because only UDP was configured (does not fail the run). */
  configured: boolean;
  ok: boolean;
  relayed?: string;
  /** Our address as the relay saw it. */
  mapped?: string;
  lifetimeS?: number;
  ms?: number;
  /** TurnError reason (wrong-credentials, timeout, closed…). */
  reason?: string;
  error?: string;
  /** The allocation was deleted again (Refresh lifetime 0). */
  released?: boolean;
}

export interface TurnFacts {
  /** The server's URIs and user name (never the password). */
  server: string;
  user: string;
  allocations: TurnAllocationFacts[];
}

/** Why no configured server can tell the time (docs/doctor.md §Clock). */
export const CLOCK_UNKNOWN =
  "no configured server tells the time (STUN, TURN and MQTT carry no clock) and doctor asks no public time server; signed addresses expire, so keep this clock synchronised (NTP)";

export interface ClockFacts {
  /** Our clock minus a trusted server's, ms; null when no configured server tells the time. */
  offsetMs: number | null;
  source: string | null;
  reason: string;
}

export interface DoctorConfig {
  stun: string[];
  signal: string[];
  turn: string[];
}

/** Everything gathered, before verdicts. */
export interface DoctorFacts {
  startedAt: string;
  durationMs: number;
  config: DoctorConfig;
  interfaces: DoctorInterface[];
  portmap: PortMapFacts;
  brokers: BrokerFacts[];
  turn: TurnFacts[];
  clock: ClockFacts;
}

export type VerdictLevel = "ok" | "info" | "warn" | "fail";

/** One conclusion in plain words; `id` is stable for scripts and tests. */
export interface Verdict {
  level: VerdictLevel;
  id: string;
  text: string;
}

export interface DoctorReport extends DoctorFacts {
  verdicts: Verdict[];
  exitCode: number;
}
