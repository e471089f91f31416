/**
 * UPnP IGD v2 WANIPv6FirewallControl:1 (IPv6 pinholes), pure: finding the
 * service in a device description, the action arguments in SCPD order, and
 * checked readings of the gateway's answers (every value hostile until parsed).
 */
import net from "node:net";
import { PortMappingError } from "../errors.ts";
import { xmlText } from "./soap.ts";

export const WANIPV6FC = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";
/** IANA protocol number the service takes (6 = TCP). */
export const PROTO_TCP = 6;
/** LeaseTime range of AddPinhole/UpdatePinhole (WANIPv6FirewallControl:1 §2.5.5). */
export const MAX_PINHOLE_LEASE_S = 86400;

/** Absolute control URL of the WANIPv6FirewallControl service, or undefined when the device has none. */
export function parsePinholeService(xml: string, location: string): string | undefined {
  const base = xmlText(xml, "URLBase") || location;
  // Scan service blocks for the firewall service; the description is size-capped by http.ts.
  for (let i = xml.indexOf("<service>"); i >= 0; i = xml.indexOf("<service>", i + 1)) {
    const end = xml.indexOf("</service>", i);
    if (end < 0) return undefined;
    const block = xml.slice(i, end);
    if (xmlText(block, "serviceType") !== WANIPV6FC) continue;
    const control = xmlText(block, "controlURL");
    if (!control) return undefined;
    try {
      return new URL(control, base).toString();
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** AddPinhole arguments (any remote host and port, one internal TCP port). */
export function addPinholeArgs(internalClient: string, internalPort: number, leaseSeconds: number): Array<[string, string | number]> {
  if (!net.isIPv6(internalClient)) throw new PortMappingError(`a pinhole needs an IPv6 internal client, got ${internalClient}`);
  return [
    ["RemoteHost", ""],
    ["RemotePort", 0],
    ["InternalClient", internalClient],
    ["InternalPort", internalPort],
    ["Protocol", PROTO_TCP],
    ["LeaseTime", clampLease(leaseSeconds)],
  ];
}

/** Lease the service accepts: 1-86400 s. */
export function clampLease(leaseSeconds: number): number {
  return Math.min(MAX_PINHOLE_LEASE_S, Math.max(1, Math.floor(leaseSeconds)));
}

/** The pinhole's UniqueID (ui2) from AddPinhole's answer. */
export function parseUniqueId(values: Record<string, string>): number {
  const raw = values.UniqueID;
  if (raw === undefined || !/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new PortMappingError(`UPnP AddPinhole: no valid UniqueID in the answer (${JSON.stringify(raw?.slice(0, 20))})`);
  return Number(raw);
}

/** GetFirewallStatus: both must be "1" for a pinhole to mean anything. */
export function parseFirewallStatus(values: Record<string, string>): { firewallEnabled: boolean; inboundPinholeAllowed: boolean } {
  const bool = (k: string) => {
    const v = values[k];
    if (v === "1" || v === "true") return true;
    if (v === "0" || v === "false") return false;
    throw new PortMappingError(`UPnP GetFirewallStatus: ${k} is not a boolean (${JSON.stringify(v?.slice(0, 20))})`);
  };
  return { firewallEnabled: bool("FirewallEnabled"), inboundPinholeAllowed: bool("InboundPinholeAllowed") };
}

/** WANIPv6FirewallControl error codes worth naming (§2.5.x). */
export const PINHOLE_ERRORS: Record<number, string> = {
  606: "Action not authorized",
  701: "PinholeSpaceExhausted",
  702: "FirewallDisabled",
  703: "InboundPinholeNotAllowed",
  704: "NoSuchEntry",
  705: "ProtocolNotSupported",
  706: "InternalPortWildcardingNotAllowed",
  707: "ProtocolWildcardingNotAllowed",
  708: "InvalidLayer2Address",
  709: "NoTrafficReceived",
};
