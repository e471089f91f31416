/** IP address byte conversions (pure). */
import net from "node:net";

/** IPv6 text → 16 bytes (accepts "::", embedded IPv4 tails, zone-free). Null if invalid. */
export function ipv6ToBytes(ip: string): Buffer | null {
  // net.isIPv6 accepts a zone ("fe80::1%eth0"); 16 bytes cannot carry one, so refuse rather than drop it.
  if (net.isIPv6(ip) === false || ip.includes("%")) return null;
  let text = ip;
  const out = Buffer.alloc(16);
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  let tailBytes: number[] = [];
  if (net.isIPv4(tail)) {
    tailBytes = tail.split(".").map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = rest ? rest.split(":") : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) return null;
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tailBytes.length) Buffer.from(tailBytes).copy(out, 12);
  return out;
}

/**
 * 16 bytes → RFC 5952 canonical IPv6 text (longest zero run compressed, lowercase).
 * IPv4-mapped addresses use the mixed notation RFC 5952 §5 recommends ("::ffff:192.0.2.1"),
 * which is also how Node reports them.
 */
export function ipv6FromBytes(b: Uint8Array): string {
  if (isV4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

export function ipv4ToBytes(ip: string): Buffer | null {
  return net.isIPv4(ip) ? Buffer.from(ip.split(".").map(Number)) : null;
}

/**
 * What kind of address an IP literal is, for every decision about whether we
 * may dial it for someone else (peer requests, peer-supplied brokers) or
 * publish it. One classifier for the whole project, so the dial policy and the
 * broker URL rules cannot disagree. Documentation ranges (192.0.2/24,
 * 198.51.100/24, 203.0.113/24, 2001:db8::/32) count as public: the NAT lab
 * uses them as its internet.
 */
export type IpClass = "public" | "private" | "loopback" | "link-local" | "unspecified" | "multicast" | "reserved" | "invalid";

// [base, prefix length, class], checked in order.
const V4_RANGES: ReadonlyArray<readonly [number, number, IpClass]> = (
  [
    ["0.0.0.0", 8, "unspecified"], // "this network"
    ["10.0.0.0", 8, "private"],
    ["100.64.0.0", 10, "private"], // CGNAT (RFC 6598)
    ["127.0.0.0", 8, "loopback"],
    ["169.254.0.0", 16, "link-local"], // also cloud metadata (169.254.169.254)
    ["172.16.0.0", 12, "private"],
    ["192.0.0.0", 24, "reserved"], // IETF protocol assignments (RFC 6890)
    ["192.168.0.0", 16, "private"],
    ["198.18.0.0", 15, "reserved"], // benchmarking (RFC 2544)
    ["224.0.0.0", 4, "multicast"],
    ["240.0.0.0", 4, "reserved"], // reserved, and 255.255.255.255
  ] as const
).map(([ip, bits, kind]) => [v4ToInt(ip), bits, kind] as const);

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function classifyV4Int(n: number): IpClass {
  for (const [base, bits, kind] of V4_RANGES) if (Math.floor(n / 2 ** (32 - bits)) === Math.floor(base / 2 ** (32 - bits))) return kind;
  return "public";
}

function classifyV6(b: Uint8Array): IpClass {
  const g = (i: number) => (b[i * 2] << 8) | b[i * 2 + 1];
  const zeroGroups = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (g(i) !== 0) return false;
    return true;
  };
  const v4At = (i: number) => ((g(i) << 16) >>> 0) + g(i + 1);
  if (zeroGroups(0, 7)) return g(7) === 0 ? "unspecified" : g(7) === 1 ? "loopback" : "reserved"; // ::, ::1, ::0.0.0.x
  if (zeroGroups(0, 5) && g(5) === 0xffff) return classifyV4Int(v4At(6)); // IPv4-mapped
  if (zeroGroups(0, 4) && g(4) === 0xffff && g(5) === 0) return "reserved"; // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
  if (zeroGroups(0, 6)) return "reserved"; // deprecated IPv4-compatible ::a.b.c.d
  if (g(0) === 0x64 && g(1) === 0xff9b) return "reserved"; // NAT64 (RFC 6052, and the local-use 64:ff9b:1::/48)
  if (g(0) === 0x2002) {
    const inner = classifyV4Int(v4At(1)); // 6to4 carries an IPv4 address
    return inner === "public" ? "public" : inner;
  }
  if (g(0) === 0x2001 && g(1) === 0) return "reserved"; // Teredo: the real endpoint is hidden
  if (g(0) === 0x0100 && zeroGroups(1, 4)) return "reserved"; // discard-only 100::/64
  if ((g(0) & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((g(0) & 0xffc0) === 0xfe80) return "link-local";
  if ((g(0) & 0xffc0) === 0xfec0) return "private"; // deprecated site-local
  if ((g(0) & 0xff00) === 0xff00) return "multicast";
  return "public";
}

/** Classifies an IPv4 or IPv6 literal (zones are refused: "invalid"). */
export function classifyIp(ip: string): IpClass {
  if (typeof ip !== "string") return "invalid";
  if (net.isIPv4(ip)) return classifyV4Int(v4ToInt(ip));
  const bytes = ipv6ToBytes(ip);
  return bytes ? classifyV6(bytes) : "invalid";
}

/** True for every valid address that is not public: loopback, link-local, private, CGNAT, reserved, multicast, unspecified. */
export function isPrivateOrLocal(ip: string): boolean {
  const c = classifyIp(ip);
  return c !== "public" && c !== "invalid";
}

/** True for 127.0.0.0/8 and ::1, in any spelling (also "::ffff:127.x.y.z", how a dual-stack socket reports v4 loopback). */
export function isLoopback(ip: string): boolean {
  if (net.isIPv4(ip)) return ip.startsWith("127.");
  const b = ipv6ToBytes(ip);
  if (!b) return false;
  if (isV4Mapped(b)) return b[12] === 127;
  return b.every((x, i) => (i < 15 ? x === 0 : x === 1));
}
