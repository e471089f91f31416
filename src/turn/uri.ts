/**
 * TURN server URIs (RFC 7065) and the WebRTC-shaped configuration users know:
 * `turn: [{ urls: "turn:relay.example:3478?transport=tcp", username, credential }]`.
 * Credentials stay in the config object: `uri` and describeTurnServer() never
 * carry them, so they cannot leak into addresses, logs or error messages.
 */
import { createHmac } from "node:crypto";
import net from "node:net";
import { InvalidArgumentError } from "../errors.ts";

export type TurnTransport = "udp" | "tcp" | "tls";

/** A parsed turn: / turns: URI. */
export interface TurnUri {
  secure: boolean;
  /** The host as written, without brackets. */
  host: string;
  port: number;
  /** 4 or 6 for IP literals, 0 for names. */
  family: 0 | 4 | 6;
  /** How we reach the server: udp (turn: default), tcp (?transport=tcp), tls (turns:). */
  transport: TurnTransport;
  /** Canonical form without credentials, e.g. "turn:[::1]:3478?transport=tcp". */
  uri: string;
}

export const DEFAULT_TURN_PORT = 3478;
export const DEFAULT_TURNS_PORT = 5349;

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Parses `turn:host[:port][?transport=udp|tcp]` or `turns:host[:port][?transport=tcp]`
 * (RFC 7065 §3.1). Userinfo, paths and other queries throw InvalidArgumentError:
 * credentials belong in `username` / `credential`, never in the URI.
 */
export function parseTurnUri(input: string): TurnUri {
  if (typeof input !== "string") throw new InvalidArgumentError("TURN server URL must be a string like turn:host:port");
  const s = input.trim();
  const m = /^(turns?):([^?#]*)(?:\?([^#]*))?$/i.exec(s);
  if (!m) throw new InvalidArgumentError(`not a turn: or turns: URI: ${shownUri(input)} (expected turn:host[:port][?transport=udp|tcp])`);
  const secure = m[1].toLowerCase() === "turns";
  let rest = m[2];
  if (rest.startsWith("//") || /[/@]/.test(rest)) {
    throw new InvalidArgumentError(`turn: URIs have no //, path or userinfo (RFC 7065; pass username and credential separately): ${shownUri(input)}`);
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) throw new InvalidArgumentError(`unclosed [ in ${shownUri(input)}`);
    host = rest.slice(1, end);
    rest = rest.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) throw new InvalidArgumentError(`unexpected text after ] in ${shownUri(input)}`);
    portText = rest === "" ? undefined : rest.slice(1);
    if (net.isIP(host) !== 6 || host.includes("%")) throw new InvalidArgumentError(`[${host}] is not an IPv6 literal in ${shownUri(input)}`);
  } else {
    const parts = rest.split(":");
    if (parts.length > 2) throw new InvalidArgumentError(`IPv6 literals must be in brackets: ${shownUri(input)}`);
    [host, portText] = parts;
    if (net.isIP(host) !== 4 && !(HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) throw new InvalidArgumentError(`bad host ${JSON.stringify(host)} in ${shownUri(input)}`);
  }
  let port = secure ? DEFAULT_TURNS_PORT : DEFAULT_TURN_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw new InvalidArgumentError(`bad port ${JSON.stringify(portText)} in ${shownUri(input)}`);
    port = Number(portText);
  }
  let transport: TurnTransport = secure ? "tls" : "udp";
  if (m[3] !== undefined) {
    const q = /^transport=(udp|tcp)$/i.exec(m[3]);
    if (!q) throw new InvalidArgumentError(`the only query a turn: URI takes is ?transport=udp or ?transport=tcp: ${shownUri(input)}`);
    const t = q[1].toLowerCase() as "udp" | "tcp";
    if (secure && t === "udp") throw new InvalidArgumentError(`turns: runs over TLS on TCP; ?transport=udp (DTLS) is not supported: ${shownUri(input)}`);
    if (!secure) transport = t;
  }
  const family = net.isIP(host) as 0 | 4 | 6;
  const shown = family === 6 ? `[${host}]` : host.toLowerCase();
  const query = !secure && transport === "tcp" ? "?transport=tcp" : "";
  return { secure, host: family === 0 ? host.toLowerCase() : host, port, family, transport, uri: `${secure ? "turns" : "turn"}:${shown}:${port}${query}` };
}

/** An input URI for error messages, with anything that looks like userinfo cut out. */
function shownUri(input: unknown): string {
  return JSON.stringify(String(input).replace(/\/\/[^@/]*@/, "//…@").replace(/:[^:@/]*@/, ":…@"));
}

/** One TURN server as configured (the RTCIceServer shape). */
export interface TurnServerConfig {
  /** One URI or several for the same server (e.g. UDP and TCP). */
  urls: string | readonly string[];
  username: string;
  credential: string;
}

/** A configured server, validated: parsed URIs plus the credentials, which never leave this object. */
export interface TurnServer {
  uris: TurnUri[];
  username: string;
  /** The long-term password. */
  credential: string;
}

const MAX_CREDENTIAL = 513; // RFC 8489 §14.3: USERNAME < 513 bytes

/** Validates the `turn` option: every entry needs urls, username and credential. */
export function parseTurnServers(list: unknown): TurnServer[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new InvalidArgumentError("turn must be an array of { urls, username, credential }");
  return list.map((entry, i) => {
    const e = entry as Partial<TurnServerConfig> | null;
    if (typeof e !== "object" || e === null) throw new InvalidArgumentError(`turn[${i}] must be { urls, username, credential }`);
    const urls = typeof e.urls === "string" ? [e.urls] : Array.isArray(e.urls) ? e.urls : undefined;
    if (!urls || urls.length === 0) throw new InvalidArgumentError(`turn[${i}].urls must be a turn: URI or a non-empty list of them`);
    const uris = urls.map((u) => parseTurnUri(u as string));
    for (const [k, v] of [["username", e.username], ["credential", e.credential]] as const) {
      if (typeof v !== "string" || v.length === 0) throw new InvalidArgumentError(`turn[${i}].${k} must be a non-empty string`);
      if (Buffer.byteLength(v) >= MAX_CREDENTIAL) throw new InvalidArgumentError(`turn[${i}].${k} must be shorter than ${MAX_CREDENTIAL} bytes`);
    }
    return { uris, username: e.username as string, credential: e.credential as string };
  });
}

/** What may be shown of a server: its URIs and user name, never the credential. */
export function describeTurnServer(s: TurnServer): string {
  return `${s.uris.map((u) => u.uri).join(", ")} (user ${JSON.stringify(s.username)})`;
}

/**
 * Short-lived credentials in the TURN REST API style coturn implements
 * (`use-auth-secret` / `static-auth-secret`): the user name is
 * `<expiry unix seconds>:<user>` and the password base64(HMAC-SHA1(secret, username)).
 */
export function restCredentials(secret: string, user: string, ttlSeconds: number, nowMs: number): { username: string; credential: string } {
  if (typeof secret !== "string" || secret.length === 0) throw new InvalidArgumentError("TURN REST secret must be a non-empty string");
  if (user.includes(":")) throw new InvalidArgumentError("TURN REST user must not contain ':'");
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new InvalidArgumentError(`TURN REST ttl must be a positive number of seconds, got ${ttlSeconds}`);
  const username = `${Math.floor(nowMs / 1000) + ttlSeconds}${user ? `:${user}` : ""}`;
  return { username, credential: createHmac("sha1", secret).update(username).digest("base64") };
}
