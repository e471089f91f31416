import net from "node:net";

/**
 * IP literal <-> bytes helpers for the STUN address attributes. Pure; Node has
 * no inet_pton, and `net.isIP` only validates. Returns null on anything that is
 * not a plain IPv4 dotted quad or an IPv6 literal (no zone ids).
 */
export function ipToBytes(ip: string): Uint8Array | null {
  const fam = net.isIP(ip);
  if (fam === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (fam !== 6 || ip.includes("%")) return null;
  let head = ip;
  let v4Tail: Uint8Array | null = null;
  const lastColon = ip.lastIndexOf(":");
  if (ip.slice(lastColon + 1).includes(".")) {
    v4Tail = ipToBytes(ip.slice(lastColon + 1));
    if (!v4Tail) return null;
    head = ip.slice(0, lastColon + 1) + "0:0";
  }
  const [left, right] = head.includes("::") ? head.split("::") : [head, undefined];
  const parse = (s: string | undefined) => (s ? s.split(":").map((h) => parseInt(h, 16)) : []);
  const l = parse(left);
  const r = parse(right);
  const groups = right === undefined ? l : [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (v4Tail) out.set(v4Tail, 12);
  return out;
}

/** Formats 4 or 16 bytes as an IP literal (IPv6 in RFC 5952 canonical form). */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  // Longest run (>= 2) of zero groups becomes "::"; first one wins on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Canonical form of an IP literal (so "::0001" and "::1" compare equal); unchanged if not an IP. */
export function canonicalIp(ip: string): string {
  const b = ipToBytes(ip);
  return b ? bytesToIp(b) : ip;
}

/** A {family, address, port} from what a socket reports; IPv4-mapped IPv6 is unwrapped; canonical form. */
export function toTransportAddress(ip: string, port: number): { family: 4 | 6; address: string; port: number } {
  let a = ip;
  if (a.toLowerCase().startsWith("::ffff:") && net.isIPv4(a.slice(7))) a = a.slice(7);
  return { family: net.isIPv4(a) ? 4 : 6, address: canonicalIp(a), port };
}

/** "1.2.3.4:5" or "[::1]:5". */
export function formatAddress(a: { address: string; port: number }): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Same IP (canonical) and port. */
export function sameAddress(a: { address: string; port: number } | undefined, b: { address: string; port: number } | undefined): boolean {
  return !!a && !!b && a.port === b.port && canonicalIp(a.address) === canonicalIp(b.address);
}
