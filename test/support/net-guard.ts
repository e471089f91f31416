import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import { NetworkGuardError } from "../../src/errors.ts";

/**
 * The network guard: in tests, demos and benchmarks, any socket aimed outside
 * loopback (mode "loopback") or outside loopback + the NAT lab's ranges (mode
 * "lab") throws NetworkGuardError before a packet leaves. Enabled by the
 * P2PNODE_NET_GUARD environment variable (test/run.js sets it), so child
 * processes that a test spawns are guarded too.
 */
export type GuardMode = "off" | "loopback" | "lab";

// The lab's "internet" (documentation ranges), its CGNAT space, and its LANs.
const LAB_V4: Array<[string, number]> = [
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["100.64.0.0", 10],
  ["10.77.0.0", 16],
  // SSDP multicast (UPnP IGD discovery): only ever reaches a lab LAN from inside a lab namespace.
  ["239.255.255.250", 32],
];

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
}

function inV4(ip: string, [base, bits]: [string, number]): boolean {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (v4ToInt(ip) & mask) === (v4ToInt(base) & mask);
}

/** In 2001:db8::/32 (RFC 3849, the lab's IPv6 "internet"): the first two groups, whatever the spelling. */
function inDocV6(ip: string): boolean {
  const head = ip.toLowerCase().split("::")[0].split(":");
  return head.length >= 2 && Number.parseInt(head[0], 16) === 0x2001 && Number.parseInt(head[1], 16) === 0xdb8;
}

/** True when `host` (an IP literal) is allowed under `mode`. Hostnames other than localhost are never allowed. */
export function isAllowedTarget(host: string, mode: GuardMode): boolean {
  if (mode === "off") return true;
  let h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (h.startsWith("::ffff:") && net.isIPv4(h.slice(7))) h = h.slice(7);
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (net.isIPv4(h)) {
    if (inV4(h, ["127.0.0.0", 8])) return true;
    return mode === "lab" && LAB_V4.some((r) => inV4(h, r));
  }
  if (net.isIPv6(h)) return mode === "lab" && (h.toLowerCase().startsWith("fd77:") || inDocV6(h));
  return false;
}

// The mode lives on globalThis so every loaded copy of this module (the preload's, a
// test's own import) sees the one guard that is installed.
const kMode = Symbol.for("p2pnode.netGuard.mode");
const g = globalThis as unknown as Record<symbol, GuardMode | undefined>;
let installed: GuardMode = g[kMode] ?? "off";

function check(host: unknown, what: string): void {
  if (typeof host !== "string" || host === "") return;
  installed = g[kMode] ?? installed;
  if (!isAllowedTarget(host, installed)) {
    throw new NetworkGuardError(`network guard (${installed}): refusing ${what} to ${host}; tests may only reach loopback${installed === "lab" ? " and the NAT lab" : ""}`);
  }
}

/** Installs the guard for this process (idempotent). */
export function installNetGuard(mode: GuardMode): void {
  if (mode === "off" || installed !== "off") {
    if (mode !== "off") {
      installed = mode;
      g[kMode] = mode;
    }
    return;
  }
  installed = mode;
  g[kMode] = mode;
  const connect = net.Socket.prototype.connect as (...args: unknown[]) => net.Socket;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const opts = Array.isArray(first) ? first[0] : first;
    if (typeof opts === "object" && opts !== null && !("path" in opts && (opts as { path?: string }).path)) {
      check((opts as { host?: string }).host ?? "localhost", "a TCP connection");
    } else if (typeof opts === "number" || (typeof opts === "string" && /^\d+$/.test(opts))) {
      check(typeof args[1] === "string" ? args[1] : "localhost", "a TCP connection");
    }
    return connect.apply(this, args);
  } as typeof net.Socket.prototype.connect;

  const send = dgram.Socket.prototype.send as (...args: unknown[]) => void;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    // send(msg, [offset, length,] port, address, cb)
    const addr = args.find((a, i) => i > 0 && typeof a === "string");
    if (addr !== undefined) check(addr, "a UDP datagram");
    return send.apply(this, args);
  } as typeof dgram.Socket.prototype.send;
  const dconnect = dgram.Socket.prototype.connect as (...args: unknown[]) => void;
  dgram.Socket.prototype.connect = function (this: dgram.Socket, ...args: unknown[]) {
    if (typeof args[1] === "string") check(args[1], "a UDP connection");
    return dconnect.apply(this, args);
  } as typeof dgram.Socket.prototype.connect;

  // A default server named by hostname would need DNS: refuse every lookup but localhost.
  const lookup = dns.lookup as (...args: unknown[]) => void;
  (dns as { lookup: unknown }).lookup = function (hostname: unknown, ...rest: unknown[]) {
    if (typeof hostname === "string" && !net.isIP(hostname) && hostname !== "localhost") {
      throw new NetworkGuardError(`network guard (${installed}): refusing to resolve ${hostname}; tests must pass explicit local servers`);
    }
    return lookup.call(dns, hostname, ...rest);
  };
  const plookup = dns.promises.lookup;
  (dns.promises as { lookup: unknown }).lookup = async function (hostname: string, ...rest: unknown[]) {
    if (typeof hostname === "string" && !net.isIP(hostname) && hostname !== "localhost") {
      throw new NetworkGuardError(`network guard (${installed}): refusing to resolve ${hostname}; tests must pass explicit local servers`);
    }
    return (plookup as (...a: unknown[]) => unknown).call(dns.promises, hostname, ...rest);
  };

  // resolve*/reverse query the configured DNS servers directly (c-ares, not dgram): refuse them all.
  const refuse = (name: string) => new NetworkGuardError(`network guard (${installed}): refusing DNS query ${name}; tests must pass explicit local servers`);
  const names = Object.keys(dns.Resolver.prototype).filter((k) => k.startsWith("resolve") || k === "reverse");
  for (const target of [dns, dns.Resolver.prototype] as unknown as Array<Record<string, unknown>>) {
    for (const k of names) target[k] = () => { throw refuse(k); };
  }
  for (const target of [dns.promises, dns.promises.Resolver.prototype] as unknown as Array<Record<string, unknown>>) {
    for (const k of names) target[k] = async () => { throw refuse(k); };
  }
}

/** Installs the guard if P2PNODE_NET_GUARD asks for it. */
export function installNetGuardFromEnv(): void {
  const mode = process.env.P2PNODE_NET_GUARD;
  if (mode === "loopback" || mode === "lab") installNetGuard(mode);
}

export function netGuardMode(): GuardMode {
  return g[kMode] ?? installed;
}
