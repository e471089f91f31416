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

// Blocked IPv4 ranges: this network, private, CGNAT, loopback, link-local,
// IETF protocol assignments, benchmarking, multicast, reserved + broadcast.
const V4_BLOCKED: Array<[number, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
].map(([ip, bits]) => [v4ToInt(ip as string), bits as number]);

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function v4Blocked(n: number): boolean {
  return V4_BLOCKED.some(([base, bits]) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(base / 2 ** (32 - bits)));
}

/** Expands an IPv6 literal to 8 16-bit groups (IPv4 tail allowed); null if not one. */
export function expandIPv6(ip: string): number[] | null {
  if (!net.isIPv6(ip) || ip.includes("%")) return null;
  let text = ip.toLowerCase();
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = v4ToInt(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array(fill).fill("0"), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 ? groups : null;
}

function v6Blocked(g: number[]): boolean {
  const first = g[0];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(6)) return true; // ::, ::1, and deprecated IPv4-compatible ::a.b.c.d
  if (zeroTo(5) && g[5] === 0xffff) return v4Blocked(g[6] * 65536 + g[7]); // IPv4-mapped
  if (first === 0x64 && g[1] === 0xff9b && zeroTo(0) && g.slice(2, 6).every((x) => x === 0)) return v4Blocked(g[6] * 65536 + g[7]); // NAT64
  if ((first & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80 || (first & 0xffc0) === 0xfec0) return true; // link-local, site-local
  if ((first & 0xff00) === 0xff00) return true; // multicast
  if (first === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return true; // discard-only 100::/64
  return false;
}

/** True for an IP literal in a range a peer may not make us dial (loopback, private, link-local, CGNAT, …). */
export function isPrivateIp(ip: string): boolean {
  if (net.isIPv4(ip)) return v4Blocked(v4ToInt(ip));
  const g = expandIPv6(ip);
  return g === null ? false : v6Blocked(g);
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
  if (v.private && !options.allowPrivate) {
    const trusted = (options.trusted ?? []).map((t) => normalizeBrokerUrl(t));
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
    const shown = String(item).slice(0, 80);
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
