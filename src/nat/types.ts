/**
 * Public types of NAT discovery, consumed by the node (its address), the
 * strategies (which ones to try) and the CLI. Terms follow RFC 4787 / RFC 5780.
 */
import type { TransportAddress } from "../stun/codec.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";

export type { TransportAddress };

export type Transport = "udp" | "tcp";

/** RFC 4787 §4.1 mapping behaviour. */
export type MappingBehavior = "endpoint-independent" | "address-dependent" | "address-and-port-dependent" | "unknown";

/** RFC 4787 §5 filtering behaviour. */
export type FilteringBehavior = "endpoint-independent" | "address-dependent" | "address-and-port-dependent" | "unknown";

/**
 * How the NAT picks external ports for new mappings (P2PD calls this "delta"):
 * - preserving: external port = local port;
 * - independent: one external port for every destination (port not preserved);
 * - sequential: each new mapping is the previous one + `step` (step may be > 1 or negative);
 * - random: no pattern;
 * - unknown: too few observations.
 */
export type PortDeltaKind = "preserving" | "independent" | "sequential" | "random" | "unknown";

export interface PortDelta {
  kind: PortDeltaKind;
  /** For "sequential": the increment between successive mappings. */
  step?: number;
}

/** The familiar names (RFC 3489 style), extended with the symmetric sub-kinds hole punching cares about. */
export type NatTypeName =
  | "open"
  | "firewall"
  | "full-cone"
  | "restricted"
  | "port-restricted"
  | "symmetric"
  | "symmetric-sequential"
  | "symmetric-random"
  | "blocked"
  | "unknown";

/** How long one discovery step took. */
export interface StepTiming {
  /** e.g. "udp test I", "udp mapping test II", "tcp dial-back (alternate IP)". */
  step: string;
  /** Server URI or address the step talked to. */
  server?: string;
  ms: number;
  ok: boolean;
  /** Short outcome, e.g. "mapped 203.0.113.5:4000" or "no answer". */
  detail?: string;
}

/** One server's answer to the basic Binding test. */
export interface ServerObservation {
  server: string;
  mapped: TransportAddress;
  rttMs: number;
  /** The server supports RFC 5780 (sent OTHER-ADDRESS). */
  rfc5780: boolean;
}

/** Discovery result for one transport. */
export interface TransportReport {
  transport: Transport;
  natType: NatTypeName;
  mapping: MappingBehavior;
  filtering: FilteringBehavior;
  /** Mapped port equals local port (undefined when nothing answered). */
  preservesPort: boolean | undefined;
  delta: PortDelta;
  /** False when the mapped address is one of ours (no NAT); undefined when unknown. */
  behindNat: boolean | undefined;
  /** Our socket's local address (for TCP: the one local port every probe used). */
  localAddress: TransportAddress | undefined;
  /** The public address, agreed by at least two servers when two or more were given. */
  publicAddress: TransportAddress | undefined;
  /** Every mapped address seen, by server (and for RFC 5780 tests, by server address). */
  publicAddresses: ServerObservation[];
  /** Ports the next mappings will likely get (from `delta`), most likely first. */
  predictedPorts: number[];
  timings: StepTiming[];
  warnings: string[];
  durationMs: number;
  /**
   * Servers that did not answer because nothing listens there: they refused
   * (TCP RST or ICMP port unreachable) over this transport or another. The
   * path is open; with no other answer the NAT kind is "unknown", not "blocked".
   */
  unreachable?: string[];
}

export interface NatReport {
  /** ISO time discovery started. */
  startedAt: string;
  durationMs: number;
  family: 4 | 6;
  servers: string[];
  udp?: TransportReport;
  tcp?: TransportReport;
  /** Problems not tied to one transport (bad server entries, family mismatch). */
  warnings: string[];
}

export interface DiscoverNatOptions {
  /** stun: URIs (RFC 7064). At least one. */
  servers: string[];
  /** Local IP to bind; decides the family. @default "0.0.0.0", or "::" when the first server is IPv6 */
  localAddress?: string;
  /** @default ["udp", "tcp"] */
  transports?: Transport[];
  /** Hard upper bound for the whole discovery in ms. @default 2000 */
  timeout?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Measures the budget and the step timings (tests pass a FakeTime). @default a monotonic clock */
  clock?: Clock;
  /** Every timeout and retransmission of the probes (tests pass a FakeTime). @default the system timers */
  timers?: Timers;
}
