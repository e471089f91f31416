/**
 * The TURN strategy's signaling message and the rule for which relayed
 * addresses a node may dial for a peer (pure).
 *
 *   turn-connect { address, token, relay: { ip, port, transport }, key?, connId? }
 *
 * `address` is the requester's signed address. `relay` is the relayed
 * address of its allocation. `key` and `connId` (UDP only) authenticate
 * every reliable-UDP datagram. Signaling is end-to-end encrypted, so the key
 * never reaches the relay or a broker.
 */
import net from "node:net";
import { ProtocolError } from "../errors.ts";
import type { NodeAddress } from "../identity/address.ts";
import { parseTurnUri } from "../turn/uri.ts";
import { base64urlDecode } from "../util/encoding.ts";
import { classifyIp } from "../util/ip.ts";

export const TURN_CONNECT = "turn-connect";

export interface TurnConnectBody {
  address: string;
  token: string;
  relay: { ip: string; port: number; transport: "tcp" | "udp" };
  /** base64url, 32 bytes (UDP relays). */
  key?: string;
  connId?: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a turn-connect body from a peer; throws ProtocolError. */
export function parseTurnConnect(v: unknown): TurnConnectBody {
  if (!isObj(v) || typeof v.address !== "string" || v.address.length === 0 || v.address.length > 4096) throw new ProtocolError("turn-connect body must have an address string");
  const token = typeof v.token === "string" ? safeDecode(v.token) : null;
  if (!token || token.length < 16 || token.length > 64) throw new ProtocolError("turn-connect token must be 16-64 bytes of base64url");
  const r = v.relay;
  if (!isObj(r) || typeof r.ip !== "string" || net.isIP(r.ip) === 0) throw new ProtocolError("turn-connect relay.ip must be an IP literal");
  if (!Number.isInteger(r.port) || (r.port as number) < 1 || (r.port as number) > 65535) throw new ProtocolError("turn-connect relay.port must be 1-65535");
  if (r.transport !== "tcp" && r.transport !== "udp") throw new ProtocolError("turn-connect relay.transport must be tcp or udp");
  const body: TurnConnectBody = { address: v.address, token: v.token as string, relay: { ip: r.ip, port: r.port as number, transport: r.transport } };
  if (r.transport === "udp") {
    const key = typeof v.key === "string" ? safeDecode(v.key) : null;
    if (!key || key.length !== 32) throw new ProtocolError("turn-connect over UDP needs a 32-byte key (base64url)");
    if (!Number.isInteger(v.connId) || (v.connId as number) < 0 || (v.connId as number) > 0xffffffff) throw new ProtocolError("turn-connect connId must be a 32-bit integer");
    body.key = v.key as string;
    body.connId = v.connId as number;
  }
  return body;
}

function safeDecode(s: string): Uint8Array | null {
  try {
    return base64urlDecode(s);
  } catch {
    return null;
  }
}

/** The IP literals among the relays a peer's signed address lists (names are resolved by the caller). */
export function relayHosts(addr: NodeAddress): { ips: string[]; names: string[] } {
  const ips: string[] = [];
  const names: string[] = [];
  for (const r of addr.relays) {
    try {
      const u = parseTurnUri(r);
      (u.family === 0 ? names : ips).push(u.host);
    } catch {
      // An unparsable hint names no relay.
    }
  }
  return { ips, names };
}

/**
 * May we dial `ip` as the relayed address of the requester's allocation?
 * Only if it is the address of a relay the requester's signed address lists
 * (a requester cannot aim us at a third party), and public unless
 * `allowPrivate` (tests and one trusted LAN).
 */
export function mayDialRelay(ip: string, relayIps: readonly string[], allowPrivate: boolean): boolean {
  if (!relayIps.includes(ip)) return false;
  const kind = classifyIp(ip);
  if (kind === "public") return true;
  return allowPrivate && (kind === "private" || kind === "loopback");
}

/**
 * The IPs the peer's connection to the relay may come from (its NAT's public
 * IP, or its own), which the allocation must permit. Private and loopback
 * ones only with `allowPrivate` (a relay on the same LAN, tests).
 */
export function permitIps(addr: NodeAddress, allowPrivate: boolean): string[] {
  const out = new Set<string>();
  for (const i of addr.interfaces) {
    for (const ip of [...i.v4.public, ...i.v4.private, ...i.v6]) {
      const kind = classifyIp(ip);
      if (kind === "public" || (allowPrivate && (kind === "private" || kind === "loopback"))) out.add(ip);
    }
  }
  return [...out].slice(0, 8);
}
