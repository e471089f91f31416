/**
 * The NAT lab's fixed topology and address plan (see docs/lab.md for the diagram).
 * Only ranges that test/support/net-guard.ts allows in lab mode: 203.0.113.0/24 is the
 * "internet", 198.51.100.0/24 holds the sites' routed public prefixes (used in
 * the `open` and `firewall` kinds), 100.64.0.0/10 is the CGNAT link of the
 * double-NAT site, 10.77.0.0/16 holds the LANs.
 */

/** Every namespace, link and temp dir of the lab starts with this. */
/**
 * Namespace prefix. P2PNODE_LAB_ID=x gives a lab of its own (p2pnx-…, its own
 * temp dir and pid file), so several engineers' test runs can share a machine.
 */
const LAB_ID = (process.env.P2PNODE_LAB_ID ?? "").replace(/[^a-z0-9]/gi, "").slice(0, 8);
export const PREFIX = LAB_ID ? `p2pn${LAB_ID}-` : "p2pn-";

/** Namespace holding the bridge that plays the internet. */
export const WAN_NS = `${PREFIX}wan`;

/** Public hosts on the wan bridge. */
export const PUBLIC_HOSTS = {
  /** Server host with two addresses (RFC 5780): coturn, mosquitto, our STUN server. */
  srv: { ips: ["203.0.113.10", "203.0.113.11"] },
  /** Public host without firewall (also the "third host" of filtering probes). */
  pub1: { ips: ["203.0.113.20"] },
  /** Public host behind its own stateful firewall (drops unsolicited inbound). */
  pubfw: { ips: ["203.0.113.21"] },
} as const;

export type PublicHost = keyof typeof PUBLIC_HOSTS;
export type SiteName = "a" | "b" | "c";

export interface SitePlan {
  /** Router namespace (without prefix) that faces the wan bridge. */
  edge: string;
  /** Router namespace that serves the LAN (== edge except for the double-NAT site). */
  router: string;
  /** Edge router's wan address (the site's public address when it NATs). */
  wanIp: string;
  /** LAN prefix /24 base and the router's LAN address. */
  lanNet: string;
  lanGw: string;
  /** Routed public /28 for `open`/`firewall` kinds. */
  pubNet: string;
  hosts: Record<string, { lan: string; pub: string }>;
  /** Double NAT: the CGNAT link between inner router (wan) and edge router (lan). */
  cgnat?: { edgeIp: string; innerIp: string; net: string };
}

export const SITES: Record<SiteName, SitePlan> = {
  a: {
    edge: "ra", router: "ra", wanIp: "203.0.113.101", lanNet: "10.77.1.0/24", lanGw: "10.77.1.1",
    pubNet: "198.51.100.16/28",
    hosts: { a1: { lan: "10.77.1.11", pub: "198.51.100.17" }, a2: { lan: "10.77.1.12", pub: "198.51.100.18" } },
  },
  b: {
    edge: "rb", router: "rb", wanIp: "203.0.113.102", lanNet: "10.77.2.0/24", lanGw: "10.77.2.1",
    pubNet: "198.51.100.32/28",
    hosts: { b1: { lan: "10.77.2.11", pub: "198.51.100.33" } },
  },
  c: {
    edge: "cgn", router: "rc", wanIp: "203.0.113.103", lanNet: "10.77.3.0/24", lanGw: "10.77.3.1",
    pubNet: "198.51.100.48/28",
    hosts: { c1: { lan: "10.77.3.11", pub: "198.51.100.49" } },
    cgnat: { edgeIp: "100.64.3.1", innerIp: "100.64.3.2", net: "100.64.3.0/24" },
  },
};

export const SITE_NAMES = Object.keys(SITES) as SiteName[];

/** All LAN hosts, host name → site. */
export const LAN_HOSTS: Record<string, SiteName> = Object.fromEntries(
  SITE_NAMES.flatMap((s) => Object.keys(SITES[s].hosts).map((h) => [h, s])),
);

/** Every namespace of the lab (without the prefix). */
export function allNamespaces(): string[] {
  const names = ["wan", ...Object.keys(PUBLIC_HOSTS)];
  for (const s of SITE_NAMES) {
    const p = SITES[s];
    names.push(p.edge);
    if (p.router !== p.edge) names.push(p.router);
    names.push(...Object.keys(p.hosts));
  }
  return names;
}

export const ns = (host: string): string => `${PREFIX}${host}`;

/** Ports the lab's servers use on srv. */
export const PORTS = {
  reflector: 3000, // and 3001, on both srv addresses
  helper: 3100, // on pub1
  stun: 3478, // coturn, alt port 3479
  mqtt: 1883,
  upnpHttp: 5000, // miniupnpd on the site router's LAN address
} as const;

export const TURN_USER = { username: "p2pn", password: "p2pn-lab-secret", realm: "lab.p2pn" } as const;

/**
 * IPv6 (opt-in: `Lab.up({ ipv6: true })`), documentation prefix 2001:db8::/32 only.
 * The wan bridge carries 2001:db8::/64 next to 203.0.113.0/24; sites a and b
 * each get a routed global /64 on their LAN, guarded by an IPv6 firewall on
 * the router (no NAT66). Site c (double NAT) has no IPv6 yet.
 */
export const V6_PLAN = {
  wanNet: "2001:db8::/64",
  public: { srv: ["2001:db8::10", "2001:db8::11"], pub1: ["2001:db8::20"], pubfw: ["2001:db8::21"] } as Record<PublicHost, string[]>,
  sites: {
    a: { wanIp: "2001:db8::101", net: "2001:db8:1::/64", gw: "2001:db8:1::1", hosts: { a1: "2001:db8:1::11", a2: "2001:db8:1::12" } as Record<string, string> },
    b: { wanIp: "2001:db8::102", net: "2001:db8:2::/64", gw: "2001:db8:2::1", hosts: { b1: "2001:db8:2::11" } as Record<string, string> },
  },
} as const;

export type V6Site = keyof typeof V6_PLAN.sites;
export const V6_SITES = Object.keys(V6_PLAN.sites) as V6Site[];

/** Port of the IPv6 mosquitto listener on srv (`lab.startMosquitto6()`). */
export const MQTT6_PORT = 1884;
