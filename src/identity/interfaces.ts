/** Enumerates the host's usable network interfaces and which carries the default route. */
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { UNKNOWN_NAT, type AddressInterface } from "./address.ts";
import { isLoopback, isPrivateOrLocal } from "../util/ip.ts";

export interface HostInterface {
  name: string;
  v4: string[];
  /** Global and unique-local IPv6 (no link-local: it needs a zone and cannot leave the link). */
  v6: string[];
  internal: boolean;
  isDefault: boolean;
}

/** Names of interfaces with a default route, from /proc/net/route text (pure). */
export function parseDefaultRoutesV4(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === "00000000" && f[7] === "00000000") out.push(f[0]);
  }
  return out;
}

/** Names of interfaces with an IPv6 default route, from /proc/net/ipv6_route text (pure). */
export function parseDefaultRoutesV6(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]) && f[1] === "00" && f[9] !== "lo") out.push(f[9]);
  }
  return out;
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** The host's interfaces with at least one usable address. */
export function listInterfaces(): HostInterface[] {
  const defaults = new Set([...parseDefaultRoutesV4(read("/proc/net/route")), ...parseDefaultRoutesV6(read("/proc/net/ipv6_route"))]);
  const out: HostInterface[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs) continue;
    const itf: HostInterface = { name, v4: [], v6: [], internal: addrs.some((a) => a.internal), isDefault: defaults.has(name) };
    for (const a of addrs) {
      if (a.family === "IPv4") itf.v4.push(a.address);
      else if (!a.address.toLowerCase().startsWith("fe80")) itf.v6.push(a.address);
    }
    if (itf.v4.length || itf.v6.length) out.push(itf);
  }
  return out;
}

/**
 * The interfaces a node publishes in its address (pure): every external
 * interface when it listens on a wildcard (loopback only if there is nothing
 * else), or just the addresses it was told to listen on.
 */
export function publishedInterfaces(
  all: HostInterface[],
  opts: { hosts?: string[]; port: number; names?: string[] },
): AddressInterface[] {
  const nat = { tcp: { ...UNKNOWN_NAT }, udp: { ...UNKNOWN_NAT } };
  const toItf = (h: HostInterface, onlyIps?: Set<string>): AddressInterface => {
    const v4 = h.v4.filter((ip) => !onlyIps || onlyIps.has(ip));
    const v6 = h.v6.filter((ip) => !onlyIps || onlyIps.has(ip));
    return {
      name: h.name,
      isDefault: h.isDefault,
      port: opts.port,
      v4: { private: v4.filter(isPrivateOrLocal), public: v4.filter((ip) => !isPrivateOrLocal(ip)) },
      v6,
      nat,
    };
  };
  const usable = opts.names ? all.filter((i) => opts.names!.includes(i.name)) : all;
  const hosts = opts.hosts;
  if (!hosts || hosts.some((h) => h === "::" || h === "0.0.0.0")) {
    const external = usable.filter((i) => !i.internal);
    return (external.length ? external : usable).map((i) => toItf(i));
  }
  const wanted = new Set(hosts);
  const out = usable.filter((i) => [...i.v4, ...i.v6].some((ip) => wanted.has(ip))).map((i) => toItf(i, wanted));
  // Addresses not on any listed interface (e.g. 127.0.0.2) are still published.
  const covered = new Set(out.flatMap((i) => [...i.v4.private, ...i.v4.public, ...i.v6]));
  const rest = [...wanted].filter((ip) => !covered.has(ip));
  if (rest.length) {
    const lo = rest.every(isLoopback);
    out.push(toItf({ name: lo ? "lo" : "host", v4: rest.filter((ip) => net.isIPv4(ip)), v6: rest.filter((ip) => net.isIPv6(ip)), internal: lo, isDefault: false }));
  }
  return out;
}
