import type { EventEmitter } from "node:events";
import type { Clock, Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";

/** The injected clock and timers a port-mapping step runs on (each defaulting to the system's). */
export interface PortMapTime {
  clock?: Clock;
  timers?: Timers;
}

/** How a mapping was obtained. */
export type PortMappingMethod = "pcp" | "nat-pmp" | "upnp-igd2" | "upnp-igd1" | "upnp-pinhole6";
/** Protocol families to try, in this order of preference. */
export type PortMappingProtocol = "pcp" | "nat-pmp" | "upnp";

/**
 * Checks that externalIp:externalPort really reaches us from outside (a STUN
 * dial-back, a hairpin self-connect: see verify.ts). Resolves true only when
 * an inbound connection arrived; never needs to throw.
 */
export type PortMappingVerifier = (externalIp: string, externalPort: number, opts: { signal: AbortSignal }) => Promise<boolean>;

export interface PortMappingOptions {
  /** The local TCP port to map. */
  internalPort: number;
  /** Local address the mapping points at. @default our address toward the gateway */
  internalHost?: string;
  /** Only TCP for now. @default "TCP" */
  protocol?: "TCP";
  /** Gateway to ask (skips reading the default route). @default the IPv4 default gateway */
  gateway?: string;
  /** UPnP device description URL (skips SSDP). @default found by SSDP toward the gateway */
  upnpLocation?: string;
  /** Which protocols to try, in order of preference. @default ["pcp", "nat-pmp", "upnp"] */
  protocols?: readonly PortMappingProtocol[];
  /** External port to ask for; 0 = the internal port. @default 0 */
  externalPort?: number;
  /** Requested lease, seconds (finite). IGD v2 through the wrapped library is at least 3600. @default 3600 */
  leaseSeconds?: number;
  /** Bound for obtaining the mapping (discovery + request), ms. @default 3000 */
  timeout?: number;
  /** Bound for `verify`, ms. @default 3000 */
  verifyTimeout?: number;
  /** Bound for each renewal and for the unmap in close(), ms. @default 3000 */
  requestTimeout?: number;
  /** Mapping description shown in the router's UI (UPnP). @default "p2pnode" */
  description?: string;
  signal?: AbortSignal;
  logger?: Logger;
  /** Inbound check of the external address; without it the mapping is `verified: false`. */
  verify?: PortMappingVerifier;
  /** Time for the overall budget and lease expiry (tests inject FakeTime). @default systemClock */
  clock?: Clock;
  /** Lease renewal and verify timers (tests inject FakeTime). @default real timers, unref'd for renewals */
  timers?: Timers;
}

export const PORT_MAPPING_DEFAULTS = Object.freeze({
  protocol: "TCP" as const,
  protocols: Object.freeze(["pcp", "nat-pmp", "upnp"] as PortMappingProtocol[]),
  externalPort: 0,
  leaseSeconds: 3600,
  timeout: 3000,
  verifyTimeout: 3000,
  requestTimeout: 3000,
  description: "p2pnode",
});

export interface PortMappingEvents {
  /** A renewal succeeded; the external address may have changed (then `verified` is false again). */
  renewed: [info: { externalIp: string; externalPort: number; leaseSeconds: number; changed: boolean }];
  /** Renewals failed until the lease ran out; the mapping is gone. */
  lost: [error: unknown];
}

/** A live port mapping on the gateway. Renewed at half the lease until close(). */
export interface PortMapping extends EventEmitter<PortMappingEvents> {
  readonly method: PortMappingMethod;
  readonly gateway: string;
  readonly externalIp: string;
  readonly externalPort: number;
  readonly internalHost: string;
  readonly internalPort: number;
  /** Granted lease in seconds (0 = permanent, IGD v1 routers that allow nothing else). */
  readonly leaseSeconds: number;
  /** An inbound connection to externalIp:externalPort was seen (publish it only then). */
  readonly verified: boolean;
  /** Milliseconds it took to obtain the mapping (discovery included). */
  readonly elapsedMs: number;
  /** Stops renewals and deletes the EXTERNAL port on the gateway (bounded). Idempotent; never throws. */
  close(): Promise<void>;
}
