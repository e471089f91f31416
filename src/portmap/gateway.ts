/**
 * Where to ask for a mapping: the IPv4 default gateway from the routing table
 * (RFC 6887 §8.1: the default router is the PCP server; the same box is the
 * NAT-PMP server and usually the UPnP IGD), and our own address toward it.
 */
import dgram from "node:dgram";
import { readFile } from "node:fs/promises";

export interface DefaultGateway {
  /** Gateway IPv4 address. */
  gateway: string;
  /** Interface that carries the default route. */
  iface: string;
}

/** Little-endian hex from /proc/net/route ("0101A8C0") to dotted IPv4 ("192.168.1.1"). */
export function procHexToIpv4(hex: string): string | undefined {
  if (!/^[0-9a-f]{8}$/i.test(hex)) return undefined;
  const n = parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join(".");
}

/**
 * The default route with the lowest metric that goes through a gateway
 * (flags RTF_UP 0x1 | RTF_GATEWAY 0x2), from /proc/net/route text (pure).
 */
export function parseDefaultGateway(text: string): DefaultGateway | undefined {
  let best: (DefaultGateway & { metric: number }) | undefined;
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== "00000000" || f[7] !== "00000000") continue;
    const flags = parseInt(f[3], 16);
    if ((flags & 0x3) !== 0x3) continue;
    const gateway = procHexToIpv4(f[2]);
    const metric = Number(f[6]);
    if (!gateway || gateway === "0.0.0.0") continue;
    if (!best || metric < best.metric) best = { gateway, iface: f[0], metric };
  }
  return best && { gateway: best.gateway, iface: best.iface };
}

/** The host's IPv4 default gateway, or undefined (no route, not Linux). */
export async function findDefaultGateway(): Promise<DefaultGateway | undefined> {
  try {
    return parseDefaultGateway(await readFile("/proc/net/route", "utf8"));
  } catch {
    return undefined;
  }
}

/** The local address the kernel would use toward `gateway` (a connected UDP socket; no packet is sent). */
export async function localAddressToward(gateway: string, port = 5351): Promise<string | undefined> {
  const s = dgram.createSocket(gateway.includes(":") ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.connect(port, gateway, () => resolve());
    });
    return s.address().address;
  } catch {
    return undefined;
  } finally {
    s.close();
  }
}
