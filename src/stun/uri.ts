import net from "node:net";
import { InvalidArgumentError } from "../errors.ts";

/** A parsed `stun:` URI (RFC 7064). */
export interface StunUri {
  /** The host as written, without brackets: an IP literal or a DNS name. */
  host: string;
  port: number;
  /** 4 or 6 for IP literals, 0 for names (resolve before use). */
  family: 0 | 4 | 6;
  /** The URI re-serialised in canonical form, e.g. "stun:[::1]:3478". */
  uri: string;
}

export const DEFAULT_STUN_PORT = 3478;

// RFC 3986 reg-name restricted to what DNS accepts: letters, digits, '-', '.'.
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Parses `stun:host[:port]` (RFC 7064 §3.1): host is an IPv4 literal, a
 * bracketed IPv6 literal or a DNS name; the port defaults to 3478. Anything
 * else (other schemes, `stuns:`, `//`, paths, queries, zone ids) throws
 * InvalidArgumentError.
 */
export function parseStunUri(input: string): StunUri {
  if (typeof input !== "string") throw new InvalidArgumentError("STUN server must be a string like stun:host:port");
  const s = input.trim();
  const m = /^stun:(.*)$/i.exec(s);
  if (!m) throw new InvalidArgumentError(`not a stun: URI: ${JSON.stringify(input)} (expected stun:host[:port])`);
  let rest = m[1];
  if (rest.startsWith("//") || /[/?#@]/.test(rest)) {
    throw new InvalidArgumentError(`stun: URIs have no //, path, query or userinfo (RFC 7064): ${JSON.stringify(input)}`);
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) throw new InvalidArgumentError(`unclosed [ in ${JSON.stringify(input)}`);
    host = rest.slice(1, end);
    rest = rest.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) throw new InvalidArgumentError(`unexpected text after ] in ${JSON.stringify(input)}`);
    portText = rest === "" ? undefined : rest.slice(1);
    if (net.isIP(host) !== 6 || host.includes("%")) throw new InvalidArgumentError(`[${host}] is not an IPv6 literal in ${JSON.stringify(input)}`);
  } else {
    const parts = rest.split(":");
    if (parts.length > 2) throw new InvalidArgumentError(`IPv6 literals must be in brackets: ${JSON.stringify(input)}`);
    host = parts[0];
    portText = parts[1];
    if (net.isIP(host) !== 4 && !(HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) {
      throw new InvalidArgumentError(`bad host ${JSON.stringify(host)} in ${JSON.stringify(input)}`);
    }
  }
  let port = DEFAULT_STUN_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new InvalidArgumentError(`bad port ${JSON.stringify(portText)} in ${JSON.stringify(input)}`);
    }
    port = Number(portText);
  }
  const family = net.isIP(host) as 0 | 4 | 6;
  const shown = family === 6 ? `[${host}]` : host;
  return { host, port, family, uri: `stun:${shown}:${port}` };
}

/** Parses a list of `stun:` URIs; the first bad entry throws InvalidArgumentError. */
export function parseStunServers(list: readonly string[]): StunUri[] {
  if (!Array.isArray(list)) throw new InvalidArgumentError("servers must be an array of stun: URIs");
  return list.map(parseStunUri);
}
