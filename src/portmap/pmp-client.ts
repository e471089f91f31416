/**
 * PCP and NAT-PMP mapping requests to the gateway (UDP 5351), on our own
 * packets: the wrapped library's NAT-PMP sends the lifetime in milliseconds,
 * binds the fixed port 5350, never retransmits and leaves its refresh timers
 * referenced, so it is not used for this. PCP is tried first; a NAT-PMP-only
 * server's "unsupported version" answer makes the caller fall back (RFC 6887 §9).
 */
import { PortMappingError } from "../errors.ts";
import type { Timers } from "../util/clock.ts";
import { decodePcpResponse, encodePcpMapRequest, PCP_PROTOCOL, PcpOp, PcpResult, pcpResultText } from "./pcp-codec.ts";
import { decodePmpResponse, encodePmpExternalAddressRequest, encodePmpMapRequest, PMP_PORT, PmpOp, pmpResultText } from "./nat-pmp-codec.ts";
import { localAddressToward } from "./gateway.ts";
import { udpTransaction } from "./udp-transaction.ts";

export interface GatewayMapRequest {
  gateway: string;
  protocol: "TCP" | "UDP";
  internalPort: number;
  suggestedExternalPort: number;
  lifetimeSeconds: number;
  timeoutMs: number;
  signal?: AbortSignal;
  timers?: Timers;
}

export interface GatewayMapResult {
  externalIp: string;
  externalPort: number;
  lifetimeSeconds: number;
  /** Our address as the gateway sees it (PCP client IP). */
  internalHost: string;
}

/**
 * PCP MAP. Resolves the mapping, "nat-pmp-only" when the server speaks only
 * NAT-PMP, or undefined when nothing answered. Throws PortMappingError when
 * the server refused.
 */
export async function pcpMap(req: GatewayMapRequest & { nonce: Uint8Array; suggestedExternalIp?: string }): Promise<GatewayMapResult | "nat-pmp-only" | undefined> {
  // The client IP field must be our source address toward the gateway (else ADDRESS_MISMATCH).
  const clientIp = (await localAddressToward(req.gateway, PMP_PORT)) ?? "0.0.0.0";
  const packet = encodePcpMapRequest({ ...req, clientIp });
  const ans = await udpTransaction(req.gateway, PMP_PORT, packet, (buf) => {
    const r = decodePcpResponse(buf);
    if (!r) return undefined;
    if (r.natPmpOnly) return r;
    if (r.op !== PcpOp.MAP || !r.map || !Buffer.from(r.map.nonce).equals(Buffer.from(req.nonce))) return undefined;
    if (r.result === PcpResult.SUCCESS && r.map.protocol !== PCP_PROTOCOL[req.protocol]) return undefined;
    return r;
  }, req);
  if (!ans) return undefined;
  if (ans.natPmpOnly) return "nat-pmp-only";
  if (ans.result === PcpResult.UNSUPP_VERSION) return "nat-pmp-only";
  if (ans.result !== PcpResult.SUCCESS || !ans.map) {
    throw new PortMappingError(`PCP MAP refused by ${req.gateway}: ${pcpResultText(ans.result)}`, { cause: { protocol: "pcp", resultCode: ans.result } });
  }
  return { externalIp: ans.map.externalIp, externalPort: ans.map.externalPort, lifetimeSeconds: ans.lifetimeSeconds, internalHost: clientIp };
}

/** NAT-PMP external address (§3.2); undefined when nothing answered. */
export async function natPmpExternalAddress(gateway: string, timeoutMs: number, signal?: AbortSignal, timers?: Timers): Promise<string | undefined> {
  const ans = await udpTransaction(gateway, PMP_PORT, encodePmpExternalAddressRequest(), (buf) => {
    const r = decodePmpResponse(buf);
    return r && r.op === PmpOp.EXTERNAL_ADDRESS ? r : undefined;
  }, { timeoutMs, signal, timers });
  if (!ans) return undefined;
  if (ans.kind !== "external-address") throw new PortMappingError(`NAT-PMP external address refused by ${gateway}: ${pmpResultText(ans.result)}`, { cause: { protocol: "nat-pmp", resultCode: ans.result } });
  return ans.externalIp;
}

/**
 * NAT-PMP mapping (§3.3), lifetime in seconds; lifetime 0 with suggested port
 * 0 deletes (§3.4). Resolves undefined when nothing answered; throws
 * PortMappingError when refused.
 */
export async function natPmpMap(req: GatewayMapRequest): Promise<Omit<GatewayMapResult, "externalIp" | "internalHost"> | undefined> {
  const op = req.protocol === "TCP" ? PmpOp.MAP_TCP : PmpOp.MAP_UDP;
  const ans = await udpTransaction(req.gateway, PMP_PORT, encodePmpMapRequest(req), (buf) => {
    const r = decodePmpResponse(buf);
    return r && r.op === op && (r.kind === "error" || r.internalPort === req.internalPort) ? r : undefined;
  }, req);
  if (!ans) return undefined;
  if (ans.kind !== "map") throw new PortMappingError(`NAT-PMP mapping refused by ${req.gateway}: ${pmpResultText(ans.result)}`, { cause: { protocol: "nat-pmp", resultCode: ans.result } });
  return { externalPort: ans.externalPort, lifetimeSeconds: ans.lifetimeSeconds };
}
