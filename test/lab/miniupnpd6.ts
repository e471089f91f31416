/**
 * miniupnpd with IPv6 on a site router of the IPv6 lab (`Lab.up({ ipv6: true })`):
 * UPnP IGD v2 with WANIPv6FirewallControl (pinholes), PCP and NAT-PMP, on the
 * router's LAN addresses of both families. The IPv4 side is configured as in
 * servers.ts (STUN self-check through the lab coturn, same allow rules).
 *
 * How its pinholes reach the packets: miniupnpd (nftables backend) adds each
 * pinhole as an `accept` rule to `upnp_forward` in our `inet p2pn_upnp` table.
 * An accept there ends only that table's chain; the router's `ip6 p2pn6`
 * firewall (policy drop) still sees the packet. So the forward base chain here
 * marks IPv6 packets before jumping to upnp_forward and clears the mark when
 * no pinhole accepted them; firewall6Ruleset accepts packets carrying
 * PINHOLE_MARK. Nothing else sets that mark: without this miniupnpd the IPv6
 * firewall behaves exactly as before.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab } from "./lab.ts";
import { PINHOLE_MARK } from "./nat-rules.ts";
import { PORTS, PUBLIC_HOSTS, SITES, V6_PLAN, ns, type V6Site } from "./plan.ts";
import { miniupnpdConf, type Miniupnpd } from "./servers.ts";

export const UPNP_TABLE = "p2pn_upnp";

export interface Miniupnpd6 extends Miniupnpd {
  /** The router's IPv6 LAN address: SOAP (IGD v2 pinholes) and PCP over IPv6 go here. */
  gateway6: string;
}

/** The inet table miniupnpd manages, with the pinhole mark around its forward chain (pure). */
export function upnpTable6(): string {
  return [
    `table inet ${UPNP_TABLE}`,
    `delete table inet ${UPNP_TABLE}`,
    `table inet ${UPNP_TABLE} {`,
    // Before the ip6 p2pn6 firewall (priority filter): its rule `meta mark PINHOLE_MARK accept` reads the mark.
    "  chain forward { type filter hook forward priority filter - 5; policy accept;",
    `    meta nfproto ipv6 meta mark set ${PINHOLE_MARK}`,
    "    jump upnp_forward",
    `    meta nfproto ipv6 meta mark set 0`,
    "  }",
    "  chain upnp_forward { }",
    "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump upnp_prerouting; }",
    "  chain upnp_prerouting { }",
    "  chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump upnp_postrouting; }",
    "  chain upnp_postrouting { }",
    "}",
    "",
  ].join("\n");
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, log: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms\n${log()}`);
}

/** Starts miniupnpd (IGD v2 + IPv6) on site a's or b's router; needs an IPv6 lab. Kill it with `proc.kill()`. */
export async function startMiniupnpd6(lab: Lab, site: V6Site): Promise<Miniupnpd6> {
  const plan = SITES[site];
  const v6 = V6_PLAN.sites[site];
  const router = plan.router;
  await lab.startCoturn();
  const [s1, s2] = PUBLIC_HOSTS.srv.ips;
  await lab.allowRouterInput(router, [`ip saddr { ${s1}, ${s2} } udp sport { ${PORTS.stun}, ${PORTS.stun + 1} } accept`]);
  const nft = await lab.exec(router, ["nft", "-f", "-"], { input: upnpTable6() });
  if (nft.code !== 0) throw new Error(`miniupnpd nft table: ${nft.stderr}`);
  const conf = join(lab.dir, `miniupnpd6-${site}.conf`);
  writeFileSync(conf, miniupnpdConf({ site, stunHost: s1, igd: 2, table: UPNP_TABLE, leaseFile: join(lab.dir, `miniupnpd6-${site}.leases`), lanNet: plan.lanNet, uuidTail: "6", ipv6Gw: v6.gw }));
  const proc = lab.spawn(router, "miniupnpd", ["-d", "-f", conf, "-P", join(lab.dir, `miniupnpd6-${site}.pid`)]);
  const host = Object.keys(v6.hosts)[0] as string;
  // Ready when it serves its description to a LAN host over IPv6.
  await until("miniupnpd (IPv6)", 15_000, async () => {
    if (proc.exit) throw new Error(`miniupnpd exited:\n${proc.log()}`);
    const r = await lab.exec(host, ["curl", "-sf", "-o", "/dev/null", "--max-time", "2", `http://[${v6.gw}]:${PORTS.upnpHttp}/rootDesc.xml`], { timeoutMs: 3000 });
    return r.code === 0;
  }, () => proc.log());
  return { proc, site, router: ns(router), gateway: plan.lanGw, gateway6: v6.gw, httpPort: PORTS.upnpHttp, igd: 2 };
}
