/**
 * What the node learns about its network after it listens, published through
 * its AddressPublisher: NAT discovery (STUN, one run per interface and family) and a
 * gateway port mapping (PCP, NAT-PMP, UPnP), renewed until close().
 */
import type net from "node:net";
import { applyReport } from "./nat/summary.ts";
import { defaultInterfaceIndex, withMapping, type AddressPublisher } from "./identity/publisher.ts";
import { discoverNat } from "./nat/discovery.ts";
import { globalV6Of, serversByFamily } from "./nat/family.ts";
import type { NatReport } from "./nat/types.ts";
import { startPortMapping, stunDialPortVerifier, type PortMapping } from "./portmap/index.ts";
import { parseStunUri } from "./stun/uri.ts";
import type { Clock, Timers } from "./util/clock.ts";
import { LifecycleState, type Lifecycle } from "./util/closable.ts";
import type { Logger } from "./util/logger.ts";

export interface NodeNetworkOptions {
  publisher: AddressPublisher;
  stun: readonly string[];
  /** The node's listening addresses; undefined = wildcard. */
  hosts?: readonly string[];
  discoveryTimeout: number;
  /** The node's lifetime: aborting it (or close()) stops discovery and the mapping attempt. */
  lifetime: AbortSignal;
  logger: Logger;
  /** The node's clock and timers: discovery's budget and probes, the mapping's requests and lease renewals run on them. */
  clock?: Clock;
  timers?: Timers;
  /** A new NAT report (the default interface's). */
  onNat: (report: NatReport) => void;
}

/** A port mapping as Node.portMapping shows it. */
export interface PortMappingInfo {
  method: string;
  externalIp: string;
  externalPort: number;
  verified: boolean;
  leaseSeconds: number;
}

export class NodeNetwork implements Lifecycle {
  readonly #o: NodeNetworkOptions;
  #nat?: NatReport;
  #nat6?: NatReport;
  #mapping?: PortMapping;
  #discovery?: Promise<NatReport | undefined>;
  #mappingStart?: Promise<void>;
  // close() and destroy() share one teardown: the mapping is deleted once.
  readonly #life = new LifecycleState("node network", () => (this.#down ??= this.#teardown()));
  #down?: Promise<void>;
  /** The node's lifetime or our own, whichever ends first: the discovery runs and the mapping attempt stop on it. */
  readonly #stop: AbortSignal;

  constructor(o: NodeNetworkOptions) {
    this.#o = o;
    this.#stop = AbortSignal.any([o.lifetime, this.#life.lifetime]);
  }

  get lifetime(): AbortSignal {
    return this.#stop;
  }

  get closed(): boolean {
    return this.#life.closed;
  }

  get nat(): NatReport | undefined {
    return this.#nat;
  }

  /** The default interface's IPv6 discovery report (undefined without an IPv6 STUN server or global IPv6). */
  get nat6(): NatReport | undefined {
    return this.#nat6;
  }

  get portMapping(): PortMappingInfo | undefined {
    const m = this.#mapping;
    return m && { method: m.method, externalIp: m.externalIp, externalPort: m.externalPort, verified: m.verified, leaseSeconds: m.leaseSeconds };
  }

  /** Resolves with the default interface's report once every discovery run finished (undefined without any). */
  natReady(): Promise<NatReport | undefined> {
    return this.#discovery ?? Promise.resolve(undefined);
  }

  /** Resolves once the port-mapping attempt has finished (granted, refused or none). */
  async portMappingReady(): Promise<void> {
    await this.#mappingStart;
  }

  /** The work startNode() waits for (up to discoveryWait). */
  get starting(): Array<Promise<unknown>> {
    const work: Array<Promise<unknown> | undefined> = [this.#discovery, this.#mappingStart];
    return work.filter((p): p is Promise<unknown> => p !== undefined);
  }

  /** Runs NAT discovery in the background; the address is re-signed when it reports. */
  startDiscovery(): void {
    if (this.closed) return;
    const { publisher, logger } = this.#o;
    const lifetime = this.#stop;
    // One discovery per published interface and family, all at once: each interface may
    // sit behind a different NAT, and its IPv6 (no NAT66, maybe a stateful firewall)
    // has a verdict of its own. IPv4 runs use the IPv4 servers (and host names), IPv6
    // runs the IPv6 ones, bound to the interface's global IPv6 address.
    const servers = serversByFamily(this.#o.stun);
    const targets: Array<{ index: number; ip: string; family: 4 | 6 }> = [];
    publisher.interfaces.forEach((itf, index) => {
      const v4 = [...itf.v4.private, ...itf.v4.public][0];
      if (v4 !== undefined && servers[4].length) targets.push({ index, ip: v4, family: 4 });
      const v6 = globalV6Of(itf.v6);
      if (v6 !== undefined && servers[6].length) targets.push({ index, ip: v6, family: 6 });
    });
    const hosts = this.#o.hosts;
    const wildcard = !hosts || hosts.some((h) => h === "::" || h === "0.0.0.0");
    const single = (family: 4 | 6) => targets.filter((t) => t.family === family).length === 1;
    const runs = targets.map(({ index, ip, family }) =>
      discoverNat({
        servers: servers[family],
        // On a wildcard node with one interface, let the OS pick the route (as peers will see it).
        localAddress: wildcard && single(family) ? undefined : ip,
        timeout: this.#o.discoveryTimeout,
        signal: lifetime,
        logger: logger.child("nat"),
        clock: this.#o.clock,
        timers: this.#o.timers,
      }).then(
        (report) => {
          if (lifetime.aborted) return report;
          publisher.update(index, (itf) => applyReport(itf, report), { resign: false }); // signed once, below
          for (const w of [...report.warnings, ...(report.udp?.warnings ?? []), ...(report.tcp?.warnings ?? [])]) logger.warn(`NAT discovery (${ip}): ${w}`);
          return report;
        },
        (err) => {
          if (!lifetime.aborted) logger.warn("NAT discovery failed", { interface: ip, error: (err as Error).message });
          return undefined;
        },
      ),
    );
    const defaultIndex = Math.max(0, defaultInterfaceIndex(publisher.interfaces));
    this.#discovery = Promise.all(runs).then((reports) => {
      if (lifetime.aborted) return undefined;
      // `node.nat` is the default interface's IPv4 report (or the first IPv4 one that came
      // back; an IPv6 one only when nothing ran over IPv4); `nat6` its IPv6 report.
      const of = (family: 4 | 6) => reports[targets.findIndex((t) => t.index === defaultIndex && t.family === family)] ?? reports.find((r) => r?.family === family);
      const pick = of(4) ?? of(6);
      this.#nat = pick;
      this.#nat6 = of(6);
      publisher.resign();
      if (pick) this.#o.onNat(pick);
      return pick;
    });
  }

  /** Asks the gateway for a mapping of `port`, verified through a STUN server seeing `listener`. */
  startPortMapping(port: number, listener: net.Server | undefined): void {
    if (this.closed) return;
    this.#mappingStart = this.#map(port, listener);
  }

  async #map(port: number, listener: net.Server | undefined): Promise<void> {
    const { logger } = this.#o;
    const lifetime = this.#stop;
    const verifyVia = this.#o.stun.map((u) => parseStunUri(u)).find((u) => u.family === 4);
    try {
      const mapping = await startPortMapping({
        internalPort: port,
        signal: lifetime,
        logger: logger.child("portmap"),
        clock: this.#o.clock,
        timers: this.#o.timers,
        verify: verifyVia ? stunDialPortVerifier({ family: 4, address: verifyVia.host, port: verifyVia.port }, { listener, logger, timers: this.#o.timers }) : undefined,
      });
      if (!mapping) return void logger.debug("no gateway offered a port mapping");
      if (lifetime.aborted) return void (await mapping.close());
      this.#mapping = mapping;
      logger.info("port mapping granted", { method: mapping.method, external: `${mapping.externalIp}:${mapping.externalPort}`, verified: mapping.verified });
      this.#publishMapping();
      mapping.on("renewed", (r) => r.changed && this.#publishMapping());
      mapping.on("lost", (err) => {
        logger.warn("port mapping lost", { error: (err as Error)?.message });
        this.#mapping = undefined;
        this.#publishMapping();
      });
    } catch (err) {
      if (!lifetime.aborted) logger.warn("port mapping failed", { error: (err as Error).message });
    }
  }

  /** Puts the current mapping (or its absence) on the default interface and re-signs. */
  #publishMapping(): void {
    const p = this.#o.publisher;
    p.update(defaultInterfaceIndex(p.interfaces), (itf) => withMapping(itf, this.#mapping));
  }

  /**
   * Stops discovery and the mapping attempt, deletes the mapping on the
   * gateway and waits for discovery's sockets. Memoized and idempotent; never
   * rejects; destroy() is the same (a port left mapped helps no one).
   */
  close(): Promise<void> {
    return this.#life.close();
  }

  destroy(err?: Error): Promise<void> {
    return this.#life.destroy(err);
  }

  async #teardown(): Promise<void> {
    await this.#mappingStart;
    await this.#mapping?.close();
    await this.#discovery;
  }
}
