/**
 * The node address's types and constants (docs/address.md): what a peer
 * learns from an address, and the limits both the encoder and the parser hold
 * it to. No code: address-fields.ts has the TLV codec, address.ts signs and
 * verifies.
 */
import type { NodeId } from "./identity.ts";

export const ADDRESS_PREFIX = "p2pn1";
export const ADDRESS_VERSION = 1;
export const MAX_ADDRESS_LENGTH = 4096;
/** Caps on what one address may list (encodeAddress refuses more; parseAddress too). */
export const ADDRESS_LIMITS = { interfaces: 16, ipsPerKind: 8, signaling: 8, relays: 8, url: 256, name: 32 } as const;

export const NAT_TYPES = ["unknown", "open", "firewall", "full-cone", "restricted", "port-restricted", "symmetric", "blocked"] as const;
export const BEHAVIOURS = ["unknown", "endpoint-independent", "address-dependent", "address-and-port-dependent"] as const;
export const DELTA_KINDS = ["unknown", "preserving", "sequential", "random", "independent"] as const;
export type NatTypeName = (typeof NAT_TYPES)[number];
export type Behaviour = (typeof BEHAVIOURS)[number];
export type DeltaKind = (typeof DELTA_KINDS)[number];

/** What discovery learned about the NAT in front of an interface, for one transport. */
export interface NatSummary {
  type: NatTypeName;
  mapping: Behaviour;
  filtering: Behaviour;
  delta: { kind: DeltaKind; step: number };
}

export const UNKNOWN_NAT: Readonly<NatSummary> = Object.freeze({
  type: "unknown",
  mapping: "unknown",
  filtering: "unknown",
  delta: Object.freeze({ kind: "unknown", step: 0 }),
}) as NatSummary;

/** One network interface in an address: its IPv4 and IPv6 addresses, port, port mapping and NAT kind. */
export interface AddressInterface {
  name: string;
  /** This interface carries the default route. */
  isDefault: boolean;
  /** The node's listening port on this interface. */
  port: number;
  v4: { private: string[]; public: string[] };
  v6: string[];
  /** External port of a port mapping (UPnP / NAT-PMP), if any. */
  mappedPort?: number;
  /** The mapping was verified by an inbound connection from outside. */
  mappedVerified?: boolean;
  nat: { tcp: NatSummary; udp: NatSummary };
  /**
   * What discovery over the interface's global IPv6 address measured (no NAT66
   * expected: "open" or "firewall", by filtering). Absent when IPv6 was not
   * measured (no IPv6 STUN server, no global IPv6 address).
   */
  nat6?: { tcp: NatSummary; udp: NatSummary };
}

export interface AddressFields {
  /** Increases every time the node re-signs its address. */
  seq: number;
  /** Unix time (seconds) after which the address is refused. */
  expires: number;
  interfaces: AddressInterface[];
  /** Signaling brokers the node listens on (mqtt://, mqtts://, ws://, wss://). */
  signaling: string[];
  /** Relay hints (turn: URIs). */
  relays: string[];
}

/** A parsed, verified node address (parseAddress()): the node id, its fields and the canonical text. */
export interface NodeAddress extends AddressFields {
  id: NodeId;
  /** The canonical text form. */
  text: string;
}
