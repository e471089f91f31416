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

/** True for loopback, link-local, private (RFC 1918/4193), CGNAT and unspecified addresses. */
export function isPrivateOrLocal(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const [a, b] = ip.split(".").map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const bytes = ipv6ToBytes(ip);
  if (!bytes) return false;
  if (bytes.every((x, i) => (i < 15 ? x === 0 : x <= 1))) return true; // :: and ::1
  if ((bytes[0] & 0xfe) === 0xfc) return true; // fc00::/7
  if (bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80) return true; // fe80::/10
  if (isV4Mapped(bytes)) {
    return isPrivateOrLocal([...bytes.subarray(12)].join("."));
  }
  return false;
}

/** True for 127.0.0.0/8 and ::1, in any spelling (also "::ffff:127.x.y.z", how a dual-stack socket reports v4 loopback). */
export function isLoopback(ip: string): boolean {
  if (net.isIPv4(ip)) return ip.startsWith("127.");
  const b = ipv6ToBytes(ip);
  if (!b) return false;
  if (isV4Mapped(b)) return b[12] === 127;
  return b.every((x, i) => (i < 15 ? x === 0 : x === 1));
}
