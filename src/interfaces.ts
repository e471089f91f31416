/** Enumerates the host's usable network interfaces and which carries the default route. */
import { readFileSync } from "node:fs";
import os from "node:os";

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
