/**
 * startPortMapping(): ask the gateway for a mapping of a local TCP port.
 *
 * PCP (falling back to NAT-PMP on a version-0 answer) goes to the default
 * gateway's UDP 5351 while, in parallel, SSDP looks for a UPnP IGD at that
 * gateway. The first protocol in `protocols` order that grants a mapping
 * wins; everything else is cancelled. All of it is bounded by `timeout`.
 * Nothing answering resolves undefined; a refusal (and no other protocol
 * succeeding) throws PortMappingError; `signal` throws AbortError.
 */
import net from "node:net";
import { AbortError, InvalidArgumentError, PortMappingError } from "../errors.ts";
import { systemClock, type Timers } from "../util/clock.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { natPmpDriver, pcpDriver, upnpDriver, type DriverContext } from "./drivers.ts";
import { findDefaultGateway, localAddressToward } from "./gateway.ts";
import { ActivePortMapping, type MappingDriver } from "./mapping.ts";
import { natPmpExternalAddress, natPmpMap, pcpMap } from "./pmp-client.ts";
import { searchIgd } from "./ssdp.ts";
import { PORT_MAPPING_DEFAULTS, type PortMapping, type PortMappingOptions } from "./types.ts";
import { fetchIgd, mapIgd1, mapIgd2, type UpnpDevice } from "./upnp.ts";

/** The longest SSDP wait: a LAN gateway answers in milliseconds. */
const SSDP_WAIT_MS = 1000;

type Granted = { driver: MappingDriver; externalIp: string; externalPort: number; leaseSeconds: number };

function validate(o: PortMappingOptions): void {
  const port = (k: string, v: unknown, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < min || (v as number) > 65535)) throw new InvalidArgumentError(`${k} must be an integer ${min}-65535, got ${String(v)}`);
  };
  port("internalPort", o.internalPort, 1);
  if (o.internalPort === undefined) throw new InvalidArgumentError("internalPort is required");
  port("externalPort", o.externalPort, 0);
  for (const k of ["leaseSeconds", "timeout", "verifyTimeout", "requestTimeout"] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) throw new InvalidArgumentError(`${k} must be a positive finite number, got ${v}`);
  }
  if (o.leaseSeconds !== undefined && (!Number.isInteger(o.leaseSeconds) || o.leaseSeconds > 604800)) throw new InvalidArgumentError(`leaseSeconds must be an integer 1-604800, got ${o.leaseSeconds}`);
  if (o.protocol !== undefined && o.protocol !== "TCP") throw new InvalidArgumentError(`protocol must be "TCP", got ${String(o.protocol)}`);
  for (const k of ["gateway", "internalHost"] as const) {
    if (o[k] !== undefined && !net.isIPv4(o[k] as string)) throw new InvalidArgumentError(`${k} must be an IPv4 literal, got ${String(o[k])}`);
  }
  if (o.protocols !== undefined && (o.protocols.length === 0 || o.protocols.some((p) => !["pcp", "nat-pmp", "upnp"].includes(p)))) {
    throw new InvalidArgumentError(`protocols must be a non-empty list of "pcp", "nat-pmp", "upnp"`);
  }
}

/** Asks the gateway for a mapping of `internalPort`; see the module comment. */
export async function startPortMapping(options: PortMappingOptions): Promise<PortMapping | undefined> {
  validate(options);
  const o = { ...PORT_MAPPING_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof PORT_MAPPING_DEFAULTS & PortMappingOptions;
  const log = (o.logger ?? silentLogger).child("portmap");
  const clock = o.clock ?? systemClock;
  const timers = o.timers;
  const started = clock.now();
  // A budget, not an abort: each step gets what is left and ends on its own (a
  // timed-out step is "no answer", which an abort would turn into an error).
  const end = clock.now() + o.timeout;
  const left = () => Math.max(0, end - clock.now());
  const aborted = () => new AbortError("port mapping aborted", { cause: o.signal?.reason });
  if (o.signal?.aborted) throw aborted();

  const gateway = o.gateway ?? (await findDefaultGateway())?.gateway;
  if (!gateway) {
    log.debug("no IPv4 default gateway: no port mapping");
    return undefined;
  }
  const internalHost = o.internalHost ?? (await localAddressToward(gateway));
  if (!internalHost) {
    log.debug("no local address toward the gateway: no port mapping", { gateway });
    return undefined;
  }
  const ctx: DriverContext = { gateway, internalHost, internalPort: o.internalPort, leaseSeconds: o.leaseSeconds, description: o.description, logger: log, clock: o.clock, timers };
  const wanted = o.externalPort || o.internalPort;
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;

  // UPnP discovery runs beside PCP/NAT-PMP so a PMP-less router costs no extra time.
  const upnpDevice: Promise<UpnpDevice | Error | undefined> = o.protocols.includes("upnp")
    ? discoverIgd(gateway, internalHost, o.upnpLocation, left, signal, log, timers).catch((e: Error) => e)
    : Promise.resolve(undefined);

  const refusals: Error[] = [];
  let granted: Granted | undefined;
  const skip = new Set<string>();
  try {
    for (const proto of o.protocols) {
      if (granted || left() === 0) break;
      if (skip.has(proto)) continue;
      if (o.signal?.aborted) throw aborted();
      try {
        if (proto === "pcp") {
          const d = pcpDriver(ctx);
          const r = await pcpMap({ gateway, protocol: "TCP", internalPort: o.internalPort, suggestedExternalPort: wanted, lifetimeSeconds: o.leaseSeconds, nonce: d.nonce, timeoutMs: left(), signal, timers });
          if (r === "nat-pmp-only") log.debug("gateway speaks NAT-PMP, not PCP", { gateway });
          else if (r) granted = { driver: d, externalIp: r.externalIp, externalPort: r.externalPort, leaseSeconds: r.lifetimeSeconds };
          else if (o.protocols.includes("nat-pmp")) {
            // PCP and NAT-PMP share UDP 5351: a silent PCP server is a silent NAT-PMP server too.
            log.debug("no PCP/NAT-PMP answer", { gateway });
            skip.add("nat-pmp");
          }
        } else if (proto === "nat-pmp") {
          const r = await natPmpMap({ gateway, protocol: "TCP", internalPort: o.internalPort, suggestedExternalPort: wanted, lifetimeSeconds: o.leaseSeconds, timeoutMs: left(), signal, timers });
          if (r) {
            const d = natPmpDriver(ctx);
            const ip = await natPmpExternalAddress(gateway, Math.max(left(), 500), signal, timers);
            if (!ip) {
              await d.remove({ externalIp: "", externalPort: r.externalPort }, 500).catch(() => {});
              throw new PortMappingError(`NAT-PMP: ${gateway} granted a mapping but did not tell its external address`);
            }
            granted = { driver: d, externalIp: ip, externalPort: r.externalPort, leaseSeconds: r.lifetimeSeconds };
          }
        } else {
          const dev = await upnpDevice;
          if (dev instanceof Error) throw dev;
          if (dev) {
            const req = { internalHost, internalPort: o.internalPort, externalPort: wanted, leaseSeconds: o.leaseSeconds, description: o.description, timeoutMs: Math.max(left(), 1), signal, clock: o.clock, timers };
            const r = await (dev.igdVersion === 2 ? mapIgd2 : mapIgd1)(dev, req, log);
            granted = { driver: upnpDriver(ctx, dev), ...r };
          }
        }
      } catch (err) {
        if (o.signal?.aborted) throw aborted();
        if (err instanceof AbortError) throw err;
        log.debug(`${proto} refused`, { err: (err as Error).message });
        refusals.push(err as Error);
      }
    }
  } finally {
    stop.abort();
    await upnpDevice;
  }

  if (!granted) {
    if (refusals.length) throw refusals.length === 1 ? refusals[0] : new PortMappingError(`port mapping refused: ${refusals.map((e) => e.message).join("; ")}`, { cause: refusals });
    log.debug("no gateway answered a port mapping request", { gateway, protocols: o.protocols, ms: Math.round(clock.now() - started) });
    return undefined;
  }

  const mapping = new ActivePortMapping(granted.driver, { ...granted, internalHost, internalPort: o.internalPort, elapsedMs: Math.round(clock.now() - started) }, { logger: log, requestTimeout: o.requestTimeout, clock: o.clock, timers: o.timers });
  log.info("port mapping created", { method: mapping.method, external: `${mapping.externalIp}:${mapping.externalPort}`, leaseSeconds: mapping.leaseSeconds, ms: mapping.elapsedMs });
  if (o.verify) {
    const vd = deadline({ timeout: o.verifyTimeout, signals: [o.signal], what: "port mapping verification", clock: o.clock, timers: o.timers });
    try {
      // Out of time or aborted: not verified (the abort is reported below).
      mapping.verified = await raceSignal(o.verify(mapping.externalIp, mapping.externalPort, { signal: vd.signal }), vd.signal).catch(() => false);
    } finally {
      vd.done();
    }
    if (o.signal?.aborted) {
      await mapping.close();
      throw aborted();
    }
    log.info(mapping.verified ? "port mapping verified by an inbound connection" : "port mapping NOT verified: publish it as unverified", { external: `${mapping.externalIp}:${mapping.externalPort}` });
  }
  return mapping;
}

/** The IGD at the gateway: a given description URL, or SSDP toward the gateway. */
async function discoverIgd(gateway: string, localAddress: string, location: string | undefined, left: () => number, signal: AbortSignal, log: Logger, timers?: Timers): Promise<UpnpDevice | undefined> {
  let loc = location;
  if (!loc) {
    const a = await searchIgd({ gateway, localAddress, timeoutMs: Math.min(SSDP_WAIT_MS, left()), signal, timers });
    if (!a) {
      log.debug("no SSDP answer", { gateway });
      return undefined;
    }
    loc = a.location;
  }
  if (left() === 0 || signal.aborted) return undefined;
  const dev = await fetchIgd(loc, left(), signal, timers);
  if (!dev) log.debug("UPnP device is not an IGD with a WAN connection service", { location: loc });
  return dev;
}
