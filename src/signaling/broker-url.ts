/**
 * Broker URL rules. A peer's address lists the MQTT brokers it listens on, and
 * we connect to them to reach it: those URLs are untrusted input and must not
 * make us open connections into our own network (loopback, LAN, link-local,
 * CGNAT …). The user's own configured brokers are trusted as written.
 *
 * Pure. Rules in docs/signaling.md §Broker URLs. Name-based checks are lexical:
 * a public DNS name that resolves to a private address is not caught here.
 */
import net from "node:net";
import { classifyIp } from "../util/ip.ts";

export const BROKER_SCHEMES = Object.freeze(["mqtt:", "mqtts:", "ws:", "wss:"] as const);
const DEFAULT_PORT: Record<string, number> = { "mqtt:": 1883, "mqtts:": 8883, "ws:": 80, "wss:": 443 };

export interface BrokerUrlOptions {
  /** Longest URL accepted, in characters. @default 256 */
  maxLength?: number;
  /** Most URLs taken from one list; the rest are rejected as "too-many". @default 4 */
  maxCount?: number;
  /** Accept private, loopback, link-local … hosts (the user's own configuration). @default false */
  allowPrivate?: boolean;
  /** URLs the user configured: accepted even when private (compared after normalisation). @default [] */
  trusted?: readonly string[];
}

export const BROKER_URL_DEFAULTS = Object.freeze({ maxLength: 256, maxCount: 4, allowPrivate: false, trusted: Object.freeze([]) as readonly string[] });

export type BrokerUrlReason =
  | "not-a-string"
  | "too-long"
  | "unparseable"
  | "bad-scheme"
  | "credentials"
  | "bad-host"
  | "bad-port"
  | "bad-path"
  | "private-address"
  | "local-name"
  | "too-many"
  | "duplicate";

export type BrokerUrlVerdict = { ok: true; url: string } | { ok: false; reason: BrokerUrlReason };

/** True for an IP literal in a range a peer may not make us dial (anything not public: src/util/ip.ts classifyIp). */
export function isPrivateIp(ip: string): boolean {
  return classifyIp(ip) !== "public";
}

const LOCAL_SUFFIXES = [".localhost", ".local", ".internal", ".home.arpa", ".lan", ".localdomain"];
const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// inet_aton also accepts 127.1, 0x7f.1, 2130706433, 0177.0.0.1: a name made only of such parts is an address.
const NUMERIC_PART = /^(0x[0-9a-f]*|[0-9]+)$/i;
const CANONICAL_V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

type HostKind = { kind: "ipv4" | "ipv6" | "name"; host: string } | null;

function classifyHost(raw: string): HostKind {
  if (raw.startsWith("[") && raw.endsWith("]")) {
    const inner = raw.slice(1, -1);
    return net.isIPv6(inner) && !inner.includes("%") ? { kind: "ipv6", host: inner.toLowerCase() } : null;
  }
  const host = raw.toLowerCase().replace(/\.$/, "");
  if (host === "" || host.length > 253) return null;
  const labels = host.split(".");
  if (labels.every((l) => NUMERIC_PART.test(l)) && labels.length <= 4) {
    return CANONICAL_V4.test(host) ? { kind: "ipv4", host } : null;
  }
  return labels.every((l) => HOST_LABEL.test(l)) ? { kind: "name", host } : null;
}

function normalize(u: URL, hk: NonNullable<HostKind>, port: number): string {
  const host = hk.kind === "ipv6" ? `[${hk.host}]` : hk.host;
  const path = u.protocol === "ws:" || u.protocol === "wss:" ? (u.pathname || "/") + u.search : "";
  return `${u.protocol}//${host}:${port}${path}`;
}

/** Checks the syntax of one URL and normalises it (lowercase host, explicit port); no address-range check. */
export function parseBrokerUrl(input: unknown, maxLength: number = BROKER_URL_DEFAULTS.maxLength): BrokerUrlVerdict & { private?: boolean } {
  if (typeof input !== "string") return { ok: false, reason: "not-a-string" };
  if (input.length > maxLength) return { ok: false, reason: "too-long" };
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    return { ok: false, reason: "unparseable" };
  }
  if (!(BROKER_SCHEMES as readonly string[]).includes(u.protocol)) return { ok: false, reason: "bad-scheme" };
  if (u.username || u.password) return { ok: false, reason: "credentials" };
  const hk = classifyHost(u.hostname);
  if (!hk) return { ok: false, reason: "bad-host" };
  const port = u.port === "" ? DEFAULT_PORT[u.protocol] : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, reason: "bad-port" };
  if (u.hash) return { ok: false, reason: "bad-path" };
  if ((u.protocol === "mqtt:" || u.protocol === "mqtts:") && ((u.pathname !== "" && u.pathname !== "/") || u.search)) {
    return { ok: false, reason: "bad-path" };
  }
  const url = normalize(u, hk, port);
  // The normal form (explicit port) is what is stored, compared and checked again: it must pass the same limit.
  if (url.length > maxLength) return { ok: false, reason: "too-long" };
  const isPrivate =
    hk.kind === "name"
      ? hk.host === "localhost" || !hk.host.includes(".") || LOCAL_SUFFIXES.some((s) => hk.host.endsWith(s))
      : isPrivateIp(hk.host);
  return { ok: true, url, private: isPrivate };
}

/** Normalised form of a URL (for comparing), or null if it is not a valid broker URL. */
export function normalizeBrokerUrl(input: string): string | null {
  const v = parseBrokerUrl(input, Infinity);
  return v.ok ? v.url : null;
}

/** Checks one broker URL taken from untrusted input. */
export function checkBrokerUrl(input: unknown, options: BrokerUrlOptions = {}): BrokerUrlVerdict {
  const v = parseBrokerUrl(input, options.maxLength ?? BROKER_URL_DEFAULTS.maxLength);
  if (!v.ok) return v;
  const trusted = (options.trusted ?? []).map((t) => normalizeBrokerUrl(t));
  // A WebSocket path and query from a peer would let it pick the HTTP request we make: only the usual MQTT paths.
  if (!trusted.includes(v.url) && /^wss?:/.test(v.url) && !/^wss?:\/\/[^/]+\/(mqtt)?$/.test(v.url)) return { ok: false, reason: "bad-path" };
  if (v.private && !options.allowPrivate) {
    if (!trusted.includes(v.url)) {
      const hk = classifyHost(new URL(v.url).hostname)!;
      return { ok: false, reason: hk.kind === "name" ? "local-name" : "private-address" };
    }
  }
  return { ok: true, url: v.url };
}

/** Filters a peer's broker list: the first `maxCount` distinct valid URLs are kept (normalised), every other entry is reported. */
export function filterBrokerUrls(
  list: unknown,
  options: BrokerUrlOptions = {},
): { accepted: string[]; rejected: Array<{ url: string; reason: BrokerUrlReason }> } {
  const maxCount = options.maxCount ?? BROKER_URL_DEFAULTS.maxCount;
  const accepted: string[] = [];
  const rejected: Array<{ url: string; reason: BrokerUrlReason }> = [];
  const items = Array.isArray(list) ? list : [list];
  for (const item of items) {
    // Not String(item): an object from JSON with "toString": null makes that throw a TypeError (found by fuzz/targets/messages.ts).
    const shown = typeof item === "string" ? item.slice(0, 80) : `<${item === null ? "null" : Array.isArray(item) ? "array" : typeof item}>`;
    if (accepted.length >= maxCount) {
      rejected.push({ url: shown, reason: "too-many" });
      continue;
    }
    const v = checkBrokerUrl(item, options);
    if (!v.ok) rejected.push({ url: shown, reason: v.reason });
    else if (accepted.includes(v.url)) rejected.push({ url: shown, reason: "duplicate" });
    else accepted.push(v.url);
  }
  return { accepted, rejected };
}
