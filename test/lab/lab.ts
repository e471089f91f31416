/**
 * The NAT lab: real Linux network namespaces, real nftables NATs, real servers.
 *
 *   const lab = await Lab.up({ a: "port-restricted", b: "symmetric-random", delayMs: 50 });
 *   after(() => lab.down());
 *   const p = lab.spawn("a1", process.execPath, ["--import", "tsx", "peer.ts"]);
 *   await p.waitForLine(/listening/);
 *
 * Needs root. One lab per process (namespaces are global). See docs/lab.md.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXPECTED, firewall6Ruleset, impairRuleset, routerRuleset, type Firewall6Kind, type NatKind, type NatOptions } from "./nat-rules.ts";
import { LAB_DIR, LabProcess, killRecorded, run, type RunResult } from "./procs.ts";
import { startCoturn, startMiniupnpd, startMosquitto, type Coturn, type Miniupnpd, type Mosquitto } from "./servers.ts";
import { LAN_HOSTS, MQTT6_PORT, PORTS, PREFIX, PUBLIC_HOSTS, SITES, SITE_NAMES, V6_PLAN, V6_SITES, WAN_NS, allNamespaces, ns, type PublicHost, type SiteName, type SitePlan, type V6Site } from "./plan.ts";

export { NAT_KINDS, EXPECTED, RECIPE, type Firewall6Kind, type NatKind, type NatOptions } from "./nat-rules.ts";
export { SITES, PUBLIC_HOSTS, PORTS, TURN_USER, V6_PLAN, MQTT6_PORT, type SiteName, type V6Site } from "./plan.ts";
export { LabProcess } from "./procs.ts";
export type { Coturn, Miniupnpd, Mosquitto } from "./servers.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
export const PROBE = join(HERE, "probe.py");
const DELAY_LINE = join(HERE, "delay-line.py");
/** System python: the lab must not depend on a user's pyenv shims. */
export const PYTHON = "/usr/bin/python3";

/** A NAT box: a site (its LAN router) or the double-NAT site's outer carrier-grade router. */
export type NatTarget = SiteName | "cgn";

export interface Impairment {
  /** One-way delay added on the site's wan link, both directions (userspace delay line). @default 0 */
  delayMs?: number;
  /** Packet loss on the site's wan link, each direction, in percent. @default 0 */
  lossPct?: number;
  /** Rate limit of the site's wan link, each direction (tc tbf), kbit/s; 0 = none. @default 0 */
  rateKbit?: number;
}

export interface LabOptions extends Impairment {
  /** NAT kind of site a's router (hosts a1, a2). @default "port-restricted" */
  a?: NatKind;
  /** NAT kind of site b's router (host b1). @default "port-restricted" */
  b?: NatKind;
  /** NAT kind of site c's inner router rc (host c1, double NAT). @default "port-restricted" */
  c?: NatKind;
  /** NAT kind of site c's outer router cgn (CGNAT 100.64.0.0/10 on its LAN side). @default "port-restricted" */
  cgn?: NatKind;
  /** Hairpinning on every router at start. @default false */
  hairpin?: boolean;
  /**
   * Adds IPv6 (2001:db8::/32, see V6_PLAN): the wan bridge, srv/pub1/pubfw and sites a and b
   * become dual stack, each site's /64 behind its router's IPv6 firewall (`a6`, `b6`). Off, the
   * lab has no IPv6 address at all (as before). @default false
   */
  ipv6?: boolean;
  /** IPv6 behaviour of site a's router (with `ipv6`). @default "firewall" */
  a6?: Firewall6Kind;
  /** IPv6 behaviour of site b's router (with `ipv6`). @default "firewall" */
  b6?: Firewall6Kind;
}

interface RouterState {
  kind: NatKind;
  opts: Required<NatOptions>;
  extraInput: string[];
}

let current: Lab | null = null;
let handlersInstalled = false;

/** Synchronous last-resort teardown for exit and signal handlers: our PIDs, then our namespaces. */
function destroySync(): void {
  killRecorded();
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0];
    if (name?.startsWith(PREFIX)) spawnSync("ip", ["netns", "del", name]);
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => current && destroySync());
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      if (current) destroySync();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
}

/** Removes every `p2pn-` namespace and kills every process in the pid file (used by up() and down.ts). */
export async function cleanLeftovers(): Promise<{ namespaces: string[]; killed: number }> {
  const killed = killRecorded();
  const list = (await run("ip", ["netns", "list"])).stdout;
  const namespaces = list.split("\n").map((l) => l.split(" ")[0]).filter((n): n is string => !!n && n.startsWith(PREFIX));
  if (namespaces.length) await run("ip", ["-force", "-batch", "-"], { input: namespaces.map((n) => `netns del ${n}`).join("\n") + "\n", allowFail: true });
  return { namespaces, killed };
}

export class Lab {
  /** Temp dir of this lab run: server configs and logs. */
  readonly dir: string;
  /** Wall time of the build, ms. */
  buildMs = 0;
  /** Wall time of the last teardown, ms. */
  downMs = 0;
  readonly #routers = new Map<string, RouterState>();
  readonly #impair = new Map<SiteName, Required<Impairment>>();
  readonly #delayLines = new Map<SiteName, LabProcess>();
  readonly #procs = new Set<LabProcess>();
  #reflector: Promise<void> | null = null;
  #coturn: Promise<Coturn> | null = null;
  #mosquitto: Promise<Mosquitto> | null = null;
  #mosquitto6: Promise<Mosquitto> | null = null;
  /** Built with `ipv6: true`. */
  #ipv6 = false;
  readonly #fw6 = new Map<V6Site, Firewall6Kind>();
  readonly #upnp = new Map<SiteName, Promise<Miniupnpd>>();
  /** LAN hosts moved to another address of their LAN (moveHost). */
  readonly #moved = new Map<string, string>();
  #down = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Builds the whole topology from scratch (removing any leftover lab first). */
  static async up(opts: LabOptions = {}): Promise<Lab> {
    if (current) throw new Error("a lab is already up in this process; call lab.down() first");
    installHandlers();
    const t0 = performance.now();
    await cleanLeftovers();
    rmSync(LAB_DIR, { recursive: true, force: true });
    const dir = join(LAB_DIR, `run-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    const lab = new Lab(dir);
    current = lab;
    try {
      await lab.#build(opts);
    } catch (err) {
      await lab.down();
      throw err;
    }
    lab.buildMs = Math.round(performance.now() - t0);
    return lab;
  }

  async #build(opts: LabOptions): Promise<void> {
    const names = allNamespaces();
    await run("ip", ["-batch", "-"], { input: names.map((n) => `netns add ${ns(n)}`).join("\n") + "\n" });

    // Links are created straight inside the namespaces: nothing touches the root namespace.
    const links: string[] = [`link add br0 netns ${WAN_NS} type bridge`];
    for (const h of Object.keys(PUBLIC_HOSTS)) links.push(`link add eth0 netns ${ns(h)} type veth peer name ${h} netns ${WAN_NS}`);
    for (const s of SITE_NAMES) {
      const p = SITES[s];
      links.push(`link add lan0 netns ${ns(p.router)} type bridge`);
      for (const h of Object.keys(p.hosts)) links.push(`link add eth0 netns ${ns(h)} type veth peer name ${h} netns ${ns(p.router)}`);
      if (p.cgnat) links.push(`link add lan0 netns ${ns(p.edge)} type veth peer name wan0 netns ${ns(p.router)}`);
    }
    await run("ip", ["-batch", "-"], { input: links.join("\n") + "\n" });

    const scripts = new Map<string, string[]>();
    const sh = (n: string, ...cmds: string[]) => scripts.set(n, [...(scripts.get(n) ?? ["ip link set lo up"]), ...cmds]);
    const noBridgeNf = "for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables; do [ -e $f ] && echo 0 > $f; done; true";
    const routerSysctl = "echo 1 > /proc/sys/net/ipv4/ip_forward; for k in all default; do echo 0 > /proc/sys/net/ipv4/conf/$k/rp_filter; echo 0 > /proc/sys/net/ipv4/conf/$k/send_redirects; done";

    sh("wan", noBridgeNf, "ip link set br0 up", ...Object.keys(PUBLIC_HOSTS).map((h) => `ip link set ${h} master br0 up`));
    for (const [h, def] of Object.entries(PUBLIC_HOSTS)) {
      sh(h, "ip link set eth0 up", ...def.ips.map((ip) => `ip addr add ${ip}/24 dev eth0`), ...this.#publicRoutes(null));
    }
    sh("pubfw", "nft -f - <<'EOF'\ntable inet p2pn_fw {\n  chain input { type filter hook input priority filter; policy drop;\n    iif lo accept\n    ct state established,related accept\n  }\n}\nEOF");
    for (const s of SITE_NAMES) {
      const p = SITES[s];
      const [lanAddr, lanLen] = [p.lanGw, p.lanNet.split("/")[1]];
      sh(p.router, noBridgeNf, routerSysctl, "ip link set lan0 up", `ip addr add ${lanAddr}/${lanLen} dev lan0`, `ip route add ${p.pubNet} dev lan0`,
        ...Object.keys(p.hosts).map((h) => `ip link set ${h} master lan0 up`));
      for (const [h, addrs] of Object.entries(p.hosts)) {
        sh(h, "ip link set eth0 up", `ip addr add ${addrs.lan}/${lanLen} dev eth0`, `ip route add default via ${p.lanGw}`);
      }
      if (p.cgnat) {
        sh(p.edge, routerSysctl, "ip link set lan0 up", `ip addr add ${p.cgnat.edgeIp}/24 dev lan0`, `ip route add ${p.pubNet} via ${p.cgnat.innerIp}`);
        sh(p.router, "ip link set wan0 up", `ip addr add ${p.cgnat.innerIp}/24 dev wan0`, `ip route add default via ${p.cgnat.edgeIp}`);
      }
    }
    // After each namespace's own links are up: the IPv6 commands only add to them.
    this.#ipv6 = opts.ipv6 === true;
    if (this.#ipv6) this.#v6Scripts(sh);
    await Promise.all([...scripts].map(([n, cmds]) => run("ip", ["netns", "exec", ns(n), "sh", "-ec", cmds.join("\n")])));

    for (const s of SITE_NAMES) {
      this.#impair.set(s, { delayMs: opts.delayMs ?? 0, lossPct: opts.lossPct ?? 0, rateKbit: opts.rateKbit ?? 0 });
    }
    await Promise.all(SITE_NAMES.map((s) => this.#linkWan(s)));
    if (this.#ipv6) await Promise.all([this.setFirewall6("a", opts.a6 ?? "firewall"), this.setFirewall6("b", opts.b6 ?? "firewall")]);
    const nat = { hairpin: opts.hairpin ?? false };
    await Promise.all([
      this.setNat("a", opts.a ?? "port-restricted", nat),
      this.setNat("b", opts.b ?? "port-restricted", nat),
      this.setNat("c", opts.c ?? "port-restricted", nat),
      this.setNat("cgn", opts.cgn ?? "port-restricted", nat),
    ]);
  }

  /**
   * IPv6 setup (ipv6: true): addresses without DAD (no tentative wait), forwarding on
   * the routers, static routes to each site's /64 via its router's wan address.
   * pubfw's inet firewall also lets neighbour discovery in (it would drop it).
   */
  #v6Scripts(sh: (n: string, ...cmds: string[]) => void): void {
    const on = "echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 0 > /proc/sys/net/ipv6/conf/default/disable_ipv6";
    for (const [h, ips] of Object.entries(V6_PLAN.public) as Array<[PublicHost, string[]]>) {
      sh(h, on, ...ips.map((ip) => `ip -6 addr add ${ip}/64 dev eth0 nodad`), ...this.#v6Routes(null));
    }
    sh("pubfw", "nft add rule inet p2pn_fw input icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept");
    for (const s of V6_SITES) {
      const p = V6_PLAN.sites[s];
      const len = p.net.split("/")[1];
      sh(SITES[s].router, on, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding", `ip -6 addr add ${p.gw}/${len} dev lan0 nodad`);
      for (const [h, ip] of Object.entries(p.hosts)) sh(h, on, `ip -6 addr add ${ip}/${len} dev eth0 nodad`, `ip -6 route add default via ${p.gw}`);
    }
  }

  /** IPv6 routes from a wan-attached namespace to every IPv6 site's /64 (except its own). */
  #v6Routes(own: SiteName | null): string[] {
    return V6_SITES.filter((s) => s !== own).map((s) => `ip -6 route add ${V6_PLAN.sites[s].net} via ${V6_PLAN.sites[s].wanIp}`);
  }

  /** Loads a site router's IPv6 firewall (`open` or RFC 6092 `firewall`) and flushes its conntrack. Needs `ipv6: true`. */
  async setFirewall6(site: V6Site, kind: Firewall6Kind): Promise<void> {
    if (!this.#ipv6) throw new Error("setFirewall6 needs a lab built with ipv6: true");
    const router = this.#check(SITES[site].router);
    await run("ip", ["netns", "exec", router, "nft", "-f", "-"], { input: firewall6Ruleset(kind) });
    await run("ip", ["netns", "exec", router, "conntrack", "-F", "-f", "ipv6"], { allowFail: true });
    this.#fw6.set(site, kind);
  }

  /** IPv6 behaviour loaded on a site router. */
  firewall6Of(site: V6Site): Firewall6Kind | undefined {
    return this.#fw6.get(site);
  }

  /** A host's (first) global IPv6 address; throws when the lab has no IPv6 or the host none. */
  ip6(host: string): string {
    if (!this.#ipv6) throw new Error("the lab was built without ipv6: true");
    if (host in V6_PLAN.public) return V6_PLAN.public[host as PublicHost][0];
    const site = V6_SITES.find((s) => host in V6_PLAN.sites[s].hosts);
    if (!site) throw new Error(`${host} has no IPv6 address in the lab`);
    return V6_PLAN.sites[site].hosts[host];
  }

  /** Routes from a wan-attached namespace to every site's public /28 (except its own). */
  #publicRoutes(own: SiteName | null): string[] {
    return SITE_NAMES.filter((s) => s !== own).map((s) => `ip route add ${SITES[s].pubNet} via ${SITES[s].wanIp}`);
  }

  /** (Re)creates a site's wan link: a veth, or two TAPs joined by a delay line when delayMs > 0. */
  async #linkWan(site: SiteName): Promise<void> {
    const p = SITES[site];
    const imp = this.#impair.get(site) as Required<Impairment>;
    const edge = ns(p.edge);
    const old = this.#delayLines.get(site);
    if (old) {
      this.#delayLines.delete(site);
      this.#procs.delete(old);
      await old.kill(500);
    }
    await run("ip", ["-n", edge, "link", "del", "wan0"], { allowFail: true });
    await run("ip", ["-n", WAN_NS, "link", "del", p.edge], { allowFail: true });
    if (imp.delayMs > 0) {
      await run("ip", ["-n", edge, "tuntap", "add", "dev", "wan0", "mode", "tap"]);
      await run("ip", ["-n", WAN_NS, "tuntap", "add", "dev", p.edge, "mode", "tap"]);
      const dl = this.#spawnRoot(`${p.edge}-delay`, PYTHON, [DELAY_LINE, edge, "wan0", WAN_NS, p.edge, String(imp.delayMs)]);
      this.#delayLines.set(site, dl);
      await dl.waitForLine(/delay-line ready/, 5000);
    } else {
      await run("ip", ["link", "add", "wan0", "netns", edge, "type", "veth", "peer", "name", p.edge, "netns", WAN_NS]);
    }
    await run("ip", ["-n", WAN_NS, "link", "set", p.edge, "master", "br0", "up"]);
    const cmds = ["ip link set wan0 up", `ip addr add ${p.wanIp}/24 dev wan0`, ...this.#publicRoutes(site)];
    const v6 = this.#ipv6 && site in V6_PLAN.sites ? V6_PLAN.sites[site as V6Site] : undefined;
    if (v6) cmds.push(`ip -6 addr add ${v6.wanIp}/64 dev wan0 nodad`, ...this.#v6Routes(site));
    if (imp.rateKbit > 0) cmds.push(`tc qdisc replace dev wan0 root tbf rate ${imp.rateKbit}kbit burst 16kb latency 400ms`);
    await run("ip", ["netns", "exec", edge, "sh", "-ec", cmds.join("\n")]);
    if (imp.rateKbit > 0) await run("ip", ["netns", "exec", WAN_NS, "tc", "qdisc", "replace", "dev", p.edge, "root", "tbf", "rate", `${imp.rateKbit}kbit`, "burst", "16kb", "latency", "400ms"]);
    await run("ip", ["netns", "exec", edge, "nft", "-f", "-"], { input: impairRuleset(imp.lossPct) });
  }

  /** Changes a site's wan link impairment live (delay rebuilds the link; conntrack of its routers is flushed by that). */
  async setImpair(site: SiteName, imp: Impairment): Promise<void> {
    const cur = this.#impair.get(site) as Required<Impairment>;
    this.#impair.set(site, { ...cur, ...Object.fromEntries(Object.entries(imp).filter(([, v]) => v !== undefined)) });
    await this.#linkWan(site);
  }

  /**
   * Switches a router's NAT kind live: reloads its nft table atomically and
   * flushes its conntrack. For a site, also renumbers its hosts: `open` and
   * `firewall` give each host its routed public address as source.
   */
  async setNat(target: NatTarget, kind: NatKind, opts: NatOptions = {}): Promise<void> {
    if (!(kind in EXPECTED)) throw new Error(`unknown NAT kind ${kind}`);
    const plan = target === "cgn" ? SITES.c : SITES[target];
    const router = target === "cgn" ? plan.edge : plan.router;
    const prev = this.#routers.get(router);
    const state: RouterState = {
      kind,
      opts: { hairpin: opts.hairpin ?? false, blockUdp: opts.blockUdp ?? false },
      extraInput: prev?.extraInput ?? [],
    };
    this.#routers.set(router, state);
    await this.#loadRules(router, target, plan);
    if (target !== "cgn") {
      const pub = kind === "open" || kind === "firewall";
      await Promise.all(Object.entries(plan.hosts).map(([h, a]) => run("ip", ["netns", "exec", ns(h), "sh", "-c", pub
        ? `ip addr replace ${a.pub}/32 dev eth0 && ip route replace default via ${plan.lanGw} src ${a.pub}`
        : `ip addr del ${a.pub}/32 dev eth0 2>/dev/null; ip route replace default via ${plan.lanGw}`])));
    }
  }

  async #loadRules(router: string, target: NatTarget, plan: SitePlan): Promise<void> {
    const st = this.#routers.get(router) as RouterState;
    const inner = target !== "cgn" && plan.cgnat;
    const text = routerRuleset({
      kind: st.kind,
      wanIp: inner && plan.cgnat ? plan.cgnat.innerIp : plan.wanIp,
      lanNet: target === "cgn" && plan.cgnat ? plan.cgnat.net : plan.lanNet,
      hairpin: st.opts.hairpin,
      blockUdp: st.opts.blockUdp,
      extraInput: st.extraInput,
    });
    await run("ip", ["netns", "exec", ns(router), "nft", "-f", "-"], { input: text });
    await run("ip", ["netns", "exec", ns(router), "conntrack", "-F"], { allowFail: true });
  }

  /** Adds accept rules to a router's input from the wan (kept across setNat). */
  async allowRouterInput(router: string, rules: string[]): Promise<void> {
    const st = this.#routers.get(router);
    if (!st) throw new Error(`${router} is not a lab router`);
    st.extraInput.push(...rules);
    const site = SITE_NAMES.find((s) => SITES[s].router === router || SITES[s].edge === router) as SiteName;
    await this.#loadRules(router, SITES[site].edge === router && SITES[site].cgnat ? "cgn" : site, SITES[site]);
  }

  /** NAT kind currently loaded on a router. */
  natOf(target: NatTarget): NatKind {
    const plan = target === "cgn" ? SITES.c : SITES[target];
    return (this.#routers.get(target === "cgn" ? plan.edge : plan.router) as RouterState).kind;
  }

  /** Address `host` uses as its source right now (LAN address behind a NAT, public one in open/firewall). */
  ip(host: string): string {
    if (host in PUBLIC_HOSTS) return PUBLIC_HOSTS[host as keyof typeof PUBLIC_HOSTS].ips[0];
    const site = LAN_HOSTS[host];
    if (!site) {
      const s = SITE_NAMES.find((x) => SITES[x].edge === host || SITES[x].router === host);
      if (!s) throw new Error(`unknown lab host ${host}`);
      return SITES[s].edge === host ? SITES[s].wanIp : (SITES[s].cgnat?.innerIp as string);
    }
    const kind = this.natOf(site);
    const a = SITES[site].hosts[host];
    return kind === "open" || kind === "firewall" ? a.pub : this.lanIp(host);
  }

  /** LAN address of a site host (the one moveHost gave it, if any). */
  lanIp(host: string): string {
    const site = LAN_HOSTS[host];
    if (!site) throw new Error(`${host} is not a LAN host`);
    return this.#moved.get(host) ?? SITES[site].hosts[host].lan;
  }

  /**
   * Moves a LAN host to another address of its LAN, as a new DHCP lease would:
   * the old address is removed (connections from it die), the new one added and
   * the default route put back. Without `lan`, back to the plan's address.
   */
  async moveHost(host: string, lan?: string): Promise<void> {
    const site = LAN_HOSTS[host];
    if (!site) throw new Error(`${host} is not a LAN host`);
    const plan = SITES[site];
    const from = this.lanIp(host);
    const to = lan ?? plan.hosts[host].lan;
    if (to === from) return;
    const len = plan.lanNet.split("/")[1];
    const kind = this.natOf(site);
    const src = kind === "open" || kind === "firewall" ? ` src ${plan.hosts[host].pub}` : "";
    await run("ip", ["netns", "exec", this.#check(host), "sh", "-ec", `ip addr del ${from}/${len} dev eth0\nip addr add ${to}/${len} dev eth0\nip route replace default via ${plan.lanGw}${src}`]);
    if (to === plan.hosts[host].lan) this.#moved.delete(host);
    else this.#moved.set(host, to);
  }

  /** A site's public address on the wan (its edge router's wan0). */
  publicIp(site: SiteName): string {
    return SITES[site].wanIp;
  }

  /** Router namespace (without prefix) that serves a site's LAN. */
  routerOf(site: SiteName): string {
    return SITES[site].router;
  }

  #check(host: string): string {
    if (this.#down) throw new Error("the lab is down");
    if (!allNamespaces().includes(host)) throw new Error(`unknown lab host ${host}`);
    return ns(host);
  }

  #spawnRoot(name: string, cmd: string, args: string[]): LabProcess {
    // The delay line enters both namespaces itself; start it from the wan namespace.
    const p = new LabProcess(name, WAN_NS, cmd, args, process.env);
    this.#procs.add(p);
    return p;
  }

  /** Starts `cmd` inside `host`'s namespace (env P2PNODE_NET_GUARD=lab); killed by PID at teardown. */
  spawn(host: string, cmd: string, args: string[] = [], opts: { env?: NodeJS.ProcessEnv } = {}): LabProcess {
    const p = new LabProcess(host, this.#check(host), cmd, args, { ...process.env, ...opts.env, P2PNODE_NET_GUARD: "lab" });
    this.#procs.add(p);
    p.exited.then(() => this.#procs.delete(p));
    return p;
  }

  /** Runs a command to completion inside `host`'s namespace. Never rejects on exit status. */
  exec(host: string, cmd: string | string[], opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
    const { env, ...rest } = opts;
    return run("ip", ["netns", "exec", this.#check(host), ...argv], { allowFail: true, ...rest, env: { ...process.env, ...env, P2PNODE_NET_GUARD: "lab" } });
  }

  /** Runs probe.py in `host` and returns its last JSON line. */
  async probe<T = Record<string, unknown>>(host: string, args: string[], timeoutMs = 20_000): Promise<T> {
    const r = await this.exec(host, [PYTHON, PROBE, ...args], { timeoutMs });
    const last = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
    if (r.code !== 0 || !last) throw new Error(`probe ${args.join(" ")} in ${host} failed (${r.code}): ${r.stderr}${r.stdout}\n${this.logs()}`);
    return JSON.parse(last) as T;
  }

  /** Starts the UDP/TCP reflector on srv's two addresses (+ the third-host helper on pub1). Idempotent. */
  startReflector(): Promise<void> {
    this.#reflector ??= (async () => {
      const helper = this.spawn("pub1", PYTHON, [PROBE, "helper", "--port", String(PORTS.helper)]);
      const refl = this.spawn("srv", PYTHON, [PROBE, "reflect", "--addrs", PUBLIC_HOSTS.srv.ips.join(","), "--port", String(PORTS.reflector), "--helper", `${PUBLIC_HOSTS.pub1.ips[0]}:${PORTS.helper}`]);
      await Promise.all([helper.waitForLine(/"ready"/), refl.waitForLine(/"ready"/)]);
    })();
    return this.#reflector;
  }

  /** coturn on srv (TURN UDP/TCP + RFC 6062, STUN with RFC 5780 on both srv addresses). Idempotent. */
  startCoturn(): Promise<Coturn> {
    this.#coturn ??= startCoturn(this);
    return this.#coturn;
  }

  /** mosquitto on srv's first address, anonymous. Idempotent. */
  startMosquitto(): Promise<Mosquitto> {
    this.#mosquitto ??= startMosquitto(this);
    return this.#mosquitto;
  }

  /**
   * A second mosquitto on srv listening on its first IPv6 address (port MQTT6_PORT),
   * anonymous; ready when a local subscribe sees a publish. Needs `ipv6: true`. Idempotent.
   */
  startMosquitto6(): Promise<Mosquitto> {
    if (!this.#ipv6) return Promise.reject(new Error("startMosquitto6 needs a lab built with ipv6: true"));
    this.#mosquitto6 ??= (async () => {
      const host = V6_PLAN.public.srv[0];
      const conf = join(this.dir, "mosquitto6.conf");
      writeFileSync(conf, [`listener ${MQTT6_PORT} ${host}`, "allow_anonymous true", "persistence false", "log_dest stdout", "user root", ""].join("\n"));
      const proc = this.spawn("srv", "mosquitto", ["-c", conf]);
      // Ready when a TCP connect from pub1 over IPv6 is accepted (a real client's path across the wan bridge).
      const check = `import socket; socket.create_connection(("${host}", ${MQTT6_PORT}), 1).close()`;
      for (let i = 0; ; i++) {
        const r = await this.exec("pub1", [PYTHON, "-c", check], { timeoutMs: 3000 });
        if (r.code === 0) break;
        if (proc.exit || i >= 40) throw new Error(`mosquitto (IPv6) did not come up:\n${proc.log()}\n${r.stderr}`);
        await new Promise((res) => setTimeout(res, 250));
      }
      return { proc, host, port: MQTT6_PORT, url: `mqtt://[${host}]:${MQTT6_PORT}` };
    })();
    return this.#mosquitto6;
  }

  /** miniupnpd (UPnP IGD v1 or v2, NAT-PMP) on site a's or b's router; starts coturn for its STUN check. One per site. */
  startMiniupnpd(site: SiteName, opts: { igd?: 1 | 2 } = {}): Promise<Miniupnpd> {
    let p = this.#upnp.get(site);
    if (!p) {
      p = startMiniupnpd(this, site, opts);
      this.#upnp.set(site, p);
    }
    return p;
  }

  /** Stops a site's miniupnpd (so another IGD version can be started). */
  async stopMiniupnpd(site: SiteName): Promise<void> {
    const p = this.#upnp.get(site);
    this.#upnp.delete(site);
    if (p) await (await p.catch(() => null))?.proc.kill();
  }

  /** Log of every process the lab runs (print it when a test fails). */
  logs(): string {
    return [...this.#procs].map((p) => `--- ${p.name} (pid ${p.pid})\n${p.log()}`).join("\n");
  }

  /** Tears everything down: our processes by PID, then every p2pn- namespace. Idempotent; never throws. */
  async down(): Promise<void> {
    if (this.#down) return;
    this.#down = true;
    const t0 = performance.now();
    try {
      await Promise.all([...this.#procs].map((p) => p.kill(1000)));
      await cleanLeftovers();
    } catch (err) {
      process.stderr.write(`lab teardown: ${(err as Error).message}; falling back to sync cleanup\n`);
      destroySync();
    } finally {
      if (current === this) current = null;
      this.downMs = Math.round(performance.now() - t0);
    }
  }
}

/**
 * Test-body wrapper for lab tests: on failure, prints the lab's process logs
 * (and `extra()`, e.g. the node processes' output) before rethrowing.
 *   const withLogs = withLabLogs(() => lab);  test("…", withLogs(async () => { … }));
 */
export function withLabLogs(getLab: () => Lab | undefined, extra?: () => string) {
  return (fn: () => Promise<void>) => async (): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`--- lab logs ---\n${getLab()?.logs() ?? "(no lab)"}\n${extra?.() ?? ""}\n`);
      throw err;
    }
  };
}
