/**
 * Which STUN servers a discovery run over each IP family uses (pure). IPv4
 * runs keep every server they always had (IPv4 literals and host names,
 * resolved over IPv4); an IPv6 run uses the servers given as IPv6 literals
 * (stun:[2001:db8::10]:3478). A host name is never tried over IPv6: on an
 * IPv4-only network that would only add a failed lookup to every run.
 */
import net from "node:net";
import { classifyIp } from "../util/ip.ts";
import { parseStunUri } from "../stun/uri.ts";

export interface ServersByFamily {
  4: string[];
  6: string[];
}

export function serversByFamily(servers: readonly string[]): ServersByFamily {
  const out: ServersByFamily = { 4: [], 6: [] };
  for (const s of servers) (parseStunUri(s).family === 6 ? out[6] : out[4]).push(s);
  return out;
}

/** The interface's first global IPv6 address (what IPv6 discovery binds to), if any. */
export function globalV6Of(v6: readonly string[]): string | undefined {
  return v6.find((ip) => net.isIPv6(ip) && classifyIp(ip) === "public");
}
