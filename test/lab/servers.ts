/**
 * Real servers inside the lab: coturn (TURN/STUN, RFC 5780 on srv's two
 * addresses), mosquitto (MQTT) and miniupnpd (UPnP IGD + NAT-PMP on a site
 * router). Each gets its config written into the lab's temp dir; its output is
 * kept by its LabProcess (lab.logs()) and it is killed by PID at teardown.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab, LabProcess } from "./lab.ts";
import { PORTS, PUBLIC_HOSTS, SITES, TURN_USER, ns, type SiteName } from "./plan.ts";

export interface Coturn {
  proc: LabProcess;
  /** Primary and alternate (RFC 5780) STUN/TURN addresses. */
  host: string;
  altHost: string;
  port: number;
  altPort: number;
  username: string;
  password: string;
  realm: string;
}

export interface Mosquitto {
  proc: LabProcess;
  host: string;
  port: number;
  /** mqtt://host:port */
  url: string;
}

export interface Miniupnpd {
  proc: LabProcess;
  site: SiteName;
  router: string;
  /** LAN address clients talk to (NAT-PMP on 5351, UPnP HTTP on `httpPort`). */
  gateway: string;
  httpPort: number;
  igd: 1 | 2;
}

/** Polls until `check` resolves true (or throws after timeoutMs). */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, log: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms\n${log()}`);
}

export async function startCoturn(lab: Lab): Promise<Coturn> {
  const [host, altHost] = PUBLIC_HOSTS.srv.ips;
  const conf = join(lab.dir, "turnserver.conf");
  writeFileSync(conf, [
    `listening-ip=${host}`,
    `listening-ip=${altHost}`,
    // Relayed addresses on the primary IP, the host the lab's turn: URIs name: a peer dials a
    // relayed address only if its IP is one of the relays the requester's address lists.
    `relay-ip=${host}`,
    `listening-port=${PORTS.stun}`,
    // With two listening IPs, the alternate port turns on RFC 5780 (CHANGE-REQUEST, OTHER-ADDRESS).
    `alt-listening-port=${PORTS.stun + 1}`,
    "min-port=49152",
    "max-port=65535",
    "lt-cred-mech",
    `user=${TURN_USER.username}:${TURN_USER.password}`,
    `realm=${TURN_USER.realm}`,
    "no-tls",
    "no-dtls",
    "no-cli",
    "simple-log",
    `log-file=${join(lab.dir, "turnserver.log")}`,
    `pidfile=${join(lab.dir, "turnserver.pid")}`,
    "",
  ].join("\n"));
  const proc = lab.spawn("srv", "turnserver", ["-c", conf]);
  // Ready when a STUN binding request gets an answer from inside the lab.
  await until("coturn", 10_000, async () => {
    if (proc.exit) throw new Error(`turnserver exited:\n${proc.log()}`);
    const r = await lab.exec("pub1", ["turnutils_stunclient", "-p", String(PORTS.stun), host], { timeoutMs: 3000 });
    return r.code === 0 && /UDP reflexive addr/.test(r.stdout);
  }, () => proc.log());
  return { proc, host, altHost, port: PORTS.stun, altPort: PORTS.stun + 1, ...TURN_USER };
}

export async function startMosquitto(lab: Lab): Promise<Mosquitto> {
  const host = PUBLIC_HOSTS.srv.ips[0];
  const conf = join(lab.dir, "mosquitto.conf");
  writeFileSync(conf, [
    `listener ${PORTS.mqtt} ${host}`,
    "allow_anonymous true",
    "persistence false",
    "log_dest stdout",
    "log_type all",
    // Stay root: dropping to the mosquitto user is pointless in a throwaway namespace.
    "user root",
    "",
  ].join("\n"));
  const proc = lab.spawn("srv", "mosquitto", ["-c", conf]);
  // Its stdout is block-buffered in a pipe: readiness is a real publish/subscribe round trip.
  await until("mosquitto", 10_000, async () => {
    if (proc.exit) throw new Error(`mosquitto exited:\n${proc.log()}`);
    const r = await lab.probe<{ message: string }>("pub1", ["mqtt", "--broker", `${host}:${PORTS.mqtt}`, "--message", "ready"], 3000).catch(() => null);
    return r?.message === "ready";
  }, () => proc.log());
  return { proc, host, port: PORTS.mqtt, url: `mqtt://${host}:${PORTS.mqtt}` };
}

/**
 * miniupnpd (nftables build) on a site's LAN router. Needs coturn for its STUN
 * self-check: it refuses documentation-range WAN addresses unless STUN confirms
 * them, so the router's input accepts STUN replies from srv (both addresses and
 * ports, for the change-IP/port tests). Debian's nft_init.sh is broken, so the
 * table and chains named in the config are created here.
 */
export async function startMiniupnpd(lab: Lab, site: SiteName, opts: { igd?: 1 | 2 } = {}): Promise<Miniupnpd> {
  const igd = opts.igd ?? 2;
  const plan = SITES[site];
  if (plan.router !== plan.edge) throw new Error("miniupnpd runs on a single-NAT site (a or b)");
  const router = plan.router;
  await lab.startCoturn();
  const [s1, s2] = PUBLIC_HOSTS.srv.ips;
  await lab.allowRouterInput(router, [`ip saddr { ${s1}, ${s2} } udp sport { ${PORTS.stun}, ${PORTS.stun + 1} } accept`]);
  const table = "p2pn_upnp";
  const nft = [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    "  chain forward { type filter hook forward priority filter; policy accept; jump upnp_forward; }",
    "  chain upnp_forward { }",
    "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump upnp_prerouting; }",
    "  chain upnp_prerouting { }",
    "  chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump upnp_postrouting; }",
    "  chain upnp_postrouting { }",
    "}",
    "",
  ].join("\n");
  await lab.exec(router, ["nft", "-f", "-"], { input: nft }).then((r) => {
    if (r.code !== 0) throw new Error(`miniupnpd nft tables: ${r.stderr}`);
  });
  const conf = join(lab.dir, `miniupnpd-${site}.conf`);
  writeFileSync(conf, miniupnpdConf({ site, stunHost: s1, igd, table, leaseFile: join(lab.dir, `miniupnpd-${site}.leases`), lanNet: plan.lanNet, uuidTail: "4" }));
  const proc = lab.spawn(router, "miniupnpd", ["-d", "-f", conf, "-P", join(lab.dir, `miniupnpd-${site}.pid`)]);
  const gateway = plan.lanGw;
  const host = Object.keys(plan.hosts)[0] as string;
  // Ready when it serves its device description to a LAN host.
  await until("miniupnpd", 15_000, async () => {
    if (proc.exit) throw new Error(`miniupnpd exited:\n${proc.log()}`);
    const r = await lab.probe<{ status: number }>(host, ["http-get", "--url", `http://${gateway}:${PORTS.upnpHttp}/rootDesc.xml`], 3000).catch(() => null);
    return r?.status === 200;
  }, () => proc.log());
  return { proc, site, router: ns(router), gateway, httpPort: PORTS.upnpHttp, igd };
}

/** The miniupnpd config the lab's routers run (IPv4 only, or with `ipv6Gw` its IPv6 side too). */
export function miniupnpdConf(o: { site: string; stunHost: string; igd: 1 | 2; table: string; leaseFile: string; lanNet: string; uuidTail: string; ipv6Gw?: string }): string {
  return [
    "ext_ifname=wan0",
    ...(o.ipv6Gw ? ["ext_ifname6=wan0"] : []),
    "listening_ip=lan0",
    ...(o.ipv6Gw ? [`ipv6_listening_ip=${o.ipv6Gw}`] : []),
    `http_port=${PORTS.upnpHttp}`,
    "enable_natpmp=yes",
    "enable_upnp=yes",
    "ext_perform_stun=yes",
    `ext_stun_host=${o.stunHost}`,
    `ext_stun_port=${PORTS.stun}`,
    `force_igd_desc_v1=${o.igd === 1 ? "yes" : "no"}`,
    "secure_mode=yes",
    "system_uptime=yes",
    "notify_interval=60",
    "clean_ruleset_interval=600",
    `uuid=3d3cec3a-8cf0-11e0-98ee-00${o.site === "a" ? "1" : "2"}a6bbeb7a${o.uuidTail}`,
    `upnp_table_name=${o.table}`,
    `upnp_nat_table_name=${o.table}`,
    "upnp_forward_chain=upnp_forward",
    "upnp_nat_chain=upnp_prerouting",
    "upnp_nat_postrouting_chain=upnp_postrouting",
    `lease_file=${o.leaseFile}`,
    `allow 1024-65535 ${o.lanNet} 1024-65535`,
    "deny 0-65535 0.0.0.0/0 0-65535",
    "",
  ].join("\n");
}
