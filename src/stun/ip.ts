import net from "node:net";
import { ipv4ToBytes, ipv6FromBytes, ipv6ToBytes } from "../util/ip.ts";

/**
 * IP literal <-> bytes for the STUN address attributes, on top of the
 * project's one IPv6 codec (src/util/ip.ts). Null on anything that is not a plain
 * IPv4 dotted quad or an IPv6 literal (no zone ids).
 */
export function ipToBytes(ip: string): Uint8Array | null {
  return net.isIPv4(ip) ? ipv4ToBytes(ip) : ipv6ToBytes(ip);
}

/** Formats 4 or 16 bytes as an IP literal (IPv6 in RFC 5952 canonical form). */
export function bytesToIp(b: Uint8Array): string {
  return b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : ipv6FromBytes(b);
}

/** Canonical form of an IP literal (so "::0001" and "::1" compare equal); unchanged if not an IP. */
export function canonicalIp(ip: string): string {
  const b = ipToBytes(ip);
  return b ? bytesToIp(b) : ip;
}

/** A {family, address, port} from what a socket reports; IPv4-mapped IPv6 is unwrapped; canonical form. */
export function toTransportAddress(ip: string, port: number): { family: 4 | 6; address: string; port: number } {
  let a = ip;
  if (a.toLowerCase().startsWith("::ffff:") && net.isIPv4(a.slice(7))) a = a.slice(7);
  return { family: net.isIPv4(a) ? 4 : 6, address: canonicalIp(a), port };
}

/** "1.2.3.4:5" or "[::1]:5". */
export function formatAddress(a: { address: string; port: number }): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Same IP (canonical) and port. */
export function sameAddress(a: { address: string; port: number } | undefined, b: { address: string; port: number } | undefined): boolean {
  return !!a && !!b && a.port === b.port && canonicalIp(a.address) === canonicalIp(b.address);
}
