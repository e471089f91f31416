/**
 * PCP MAP wire format (RFC 6887 §7, §11), pure. PCP shares UDP 5351 with
 * NAT-PMP; a NAT-PMP-only server answers a PCP request with a version-0
 * "unsupported version" answer (RFC 6887 §9), which `decodePcpResponse`
 * reports as `{ natPmpOnly: true }` so the client can fall back.
 */
import net from "node:net";
import { PortMappingError } from "../errors.ts";
import { ipToBytes, bytesToIp } from "../stun/ip.ts";

export const PCP_VERSION = 2;
export const PcpOp = { ANNOUNCE: 0, MAP: 1, PEER: 2 } as const;
/** IANA protocol numbers carried in MAP. */
export const PCP_PROTOCOL = { TCP: 6, UDP: 17 } as const;

/** Result codes (§7.4). */
export const PcpResult = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;

const NAMES = Object.fromEntries(Object.entries(PcpResult).map(([k, v]) => [v, k]));

/** Name of a PCP result code. */
export function pcpResultText(code: number): string {
  return NAMES[code] ?? `result code ${code}`;
}

const HEADER = 24;
const MAP_BODY = 36;

/** IPv4 addresses travel IPv4-mapped (::ffff:a.b.c.d), §5. The "no preference" v4 address is ::ffff:0.0.0.0. */
export function pcpAddressBytes(ip: string): Uint8Array {
  const b = net.isIPv4(ip) ? ipToBytes(`::ffff:${ip}`) : ipToBytes(ip);
  if (!b || b.length !== 16) throw new PortMappingError(`not an IP address: ${ip}`);
  return b;
}

/** Reverse of pcpAddressBytes: an IPv4-mapped address comes back as dotted IPv4. */
export function pcpAddressString(b: Uint8Array): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : bytesToIp(b);
}

export interface PcpMapRequest {
  /** 12 random bytes; the same nonce must be used to renew or delete (§11.1). */
  nonce: Uint8Array;
  protocol: "TCP" | "UDP";
  /** Source address of the request as the server will see it (else ADDRESS_MISMATCH). */
  clientIp: string;
  internalPort: number;
  /** 0 = no preference. */
  suggestedExternalPort: number;
  /** Undefined = no preference (all-zero address of the client's family). */
  suggestedExternalIp?: string;
  /** Seconds; 0 deletes. */
  lifetimeSeconds: number;
}

/** MAP request, 60 bytes: common header (§7.1) + MAP opcode body (§11.1). */
export function encodePcpMapRequest(r: PcpMapRequest): Uint8Array {
  if (r.nonce.length !== 12) throw new PortMappingError("PCP nonce must be 12 bytes");
  for (const [k, v, zero] of [["internalPort", r.internalPort, false], ["suggestedExternalPort", r.suggestedExternalPort, true]] as const) {
    if (!Number.isInteger(v) || v < (zero ? 0 : 1) || v > 0xffff) throw new PortMappingError(`${k} must be ${zero ? 0 : 1}-65535, got ${v}`);
  }
  if (!Number.isInteger(r.lifetimeSeconds) || r.lifetimeSeconds < 0 || r.lifetimeSeconds > 0xffffffff) throw new PortMappingError(`lifetimeSeconds must be a 32-bit count of seconds, got ${r.lifetimeSeconds}`);
  const out = new Uint8Array(HEADER + MAP_BODY);
  const dv = new DataView(out.buffer);
  out[0] = PCP_VERSION;
  out[1] = PcpOp.MAP; // R bit 0 = request
  dv.setUint32(4, r.lifetimeSeconds);
  out.set(pcpAddressBytes(r.clientIp), 8);
  out.set(r.nonce, HEADER);
  out[HEADER + 12] = PCP_PROTOCOL[r.protocol];
  dv.setUint16(HEADER + 16, r.internalPort);
  dv.setUint16(HEADER + 18, r.suggestedExternalPort);
  const zero = net.isIPv4(r.clientIp) ? "0.0.0.0" : "::";
  out.set(pcpAddressBytes(r.suggestedExternalIp ?? zero), HEADER + 20);
  return out;
}

export type PcpResponse =
  /** A NAT-PMP (version 0) server said "unsupported version": speak NAT-PMP instead. */
  | { natPmpOnly: true }
  | {
      natPmpOnly: false;
      op: number;
      result: number;
      /** Granted lifetime, or for an error how long the error is expected to last (§7.2). */
      lifetimeSeconds: number;
      epoch: number;
      /** MAP answers only (also present on MAP errors, to match the nonce). */
      map?: { nonce: Uint8Array; protocol: number; internalPort: number; externalPort: number; externalIp: string };
    };

/** Decodes a server answer; undefined for anything that is not a PCP (or NAT-PMP version) answer. */
export function decodePcpResponse(buf: Uint8Array): PcpResponse | undefined {
  if (buf.length >= 2 && buf[0] === 0 && buf[1] >= 128) {
    // RFC 6887 §9: a NAT-PMP server answers with version 0 and result 1 (unsupported version).
    if (buf.length >= 4 && ((buf[2] << 8) | buf[3]) === 1) return { natPmpOnly: true };
    return undefined;
  }
  if (buf.length < HEADER || buf[0] !== PCP_VERSION || (buf[1] & 0x80) === 0 || buf.length % 4 !== 0 || buf.length > 1100) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const op = buf[1] & 0x7f;
  const res: PcpResponse = { natPmpOnly: false, op, result: buf[3], lifetimeSeconds: dv.getUint32(4), epoch: dv.getUint32(8) };
  if (op === PcpOp.MAP && buf.length >= HEADER + MAP_BODY) {
    res.map = {
      nonce: buf.slice(HEADER, HEADER + 12),
      protocol: buf[HEADER + 12],
      internalPort: dv.getUint16(HEADER + 16),
      externalPort: dv.getUint16(HEADER + 18),
      externalIp: pcpAddressString(buf.subarray(HEADER + 20, HEADER + 36)),
    };
  }
  return res;
}
