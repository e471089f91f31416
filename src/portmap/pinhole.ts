/**
 * openPinhole(): an IPv6 pinhole through the gateway's firewall with UPnP IGD v2
 * WANIPv6FirewallControl:1 — GetFirewallStatus, AddPinhole, then UpdatePinhole at
 * half the lease (LeaseKeeper via ActivePortMapping) and DeletePinhole on close.
 * The pinhole's "external" address is the host's own global IPv6 address and port
 * (no NAT66). openPcpPinhole() does the same with PCP over IPv6. Talk to the device over IPv6: miniupnpd's secure mode refuses a
 * pinhole for another address than the one the SOAP request came from (606).
 */
import net from "node:net";
import { AbortError, InvalidArgumentError, PortMappingError } from "../errors.ts";
import { systemClock } from "../util/clock.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { pcpDriver } from "./drivers.ts";
import { httpRequest } from "./http.ts";
import { ActivePortMapping, type MappingDriver } from "./mapping.ts";
import { pcpMap } from "./pmp-client.ts";
import { addPinholeArgs, clampLease, parseFirewallStatus, parsePinholeService, parseUniqueId, PINHOLE_ERRORS, WANIPV6FC } from "./pinhole-soap.ts";
import type { SoapResult } from "./soap.ts";
import { PORT_MAPPING_DEFAULTS, type PortMapping, type PortMappingVerifier, type PortMapTime } from "./types.ts";
import { soapCall, type UpnpDevice } from "./upnp.ts";

export interface PinholeOptions extends PortMapTime {
  /** The device description URL, reached over IPv6 (e.g. http://[2001:db8:1::1]:5000/rootDesc.xml). */
  upnpLocation: string;
  /** Our global IPv6 address the pinhole opens to. */
  internalHost: string;
  internalPort: number;
  /** @default 3600 (the service allows 1-86400) */
  leaseSeconds?: number;
  /** Bound for description + status + AddPinhole, ms. @default 3000 */
  timeout?: number;
  /** Bound for each UpdatePinhole and for DeletePinhole in close(), ms. @default 3000 */
  requestTimeout?: number;
  /** @default 3000 */
  verifyTimeout?: number;
  /** Inbound check of [internalHost]:internalPort from outside; without it `verified` stays false. */
  verify?: PortMappingVerifier;
  signal?: AbortSignal;
  logger?: Logger;
}

function fault(action: string, url: string, f: Extract<SoapResult, { ok: false }>): PortMappingError {
  return new PortMappingError(`UPnP ${action} on ${url} failed: ${f.errorCode} ${PINHOLE_ERRORS[f.errorCode] ?? f.errorDescription}`, { cause: { protocol: "upnp-pinhole6", errorCode: f.errorCode, errorDescription: f.errorDescription } });
}

/** The renew/remove half of a pinhole, by its UniqueID. */
export function pinholeDriver(dev: UpnpDevice, uniqueId: number, leaseSeconds: number, time: PortMapTime = {}): MappingDriver {
  const call = async (action: string, args: Array<[string, string | number]>, timeoutMs: number) => {
    const r = await soapCall(dev, action, args, [], timeoutMs, undefined, time.timers);
    if (!r.ok) throw fault(action, dev.controlUrl, r);
  };
  return {
    method: "upnp-pinhole6",
    gateway: new URL(dev.location).hostname.replace(/^\[|\]$/g, ""),
    async renew(cur, timeoutMs) {
      await call("UpdatePinhole", [["UniqueID", uniqueId], ["NewLeaseTime", clampLease(leaseSeconds)]], timeoutMs);
      return { externalIp: cur.externalIp, externalPort: cur.externalPort, leaseSeconds: clampLease(leaseSeconds) };
    },
    async remove(_cur, timeoutMs) {
      try {
        await call("DeletePinhole", [["UniqueID", uniqueId]], timeoutMs);
      } catch (err) {
        // 704 NoSuchEntry: already gone (expired, router rebooted).
        if ((err as { cause?: { errorCode?: number } }).cause?.errorCode !== 704) throw err;
      }
    },
  };
}

/** Opens a pinhole; resolves undefined when the device has no WANIPv6FirewallControl service. Throws PortMappingError on a refusal. */
export async function openPinhole(o: PinholeOptions): Promise<PortMapping | undefined> {
  if (!net.isIPv6(o.internalHost)) throw new InvalidArgumentError(`internalHost must be an IPv6 literal, got ${String(o.internalHost)}`);
  if (!Number.isInteger(o.internalPort) || o.internalPort < 1 || o.internalPort > 65535) throw new InvalidArgumentError(`internalPort must be an integer 1-65535, got ${String(o.internalPort)}`);
  const log = (o.logger ?? silentLogger).child("pinhole6");
  const clock = o.clock ?? systemClock;
  const lease = clampLease(o.leaseSeconds ?? PORT_MAPPING_DEFAULTS.leaseSeconds);
  const started = clock.now();
  const budget = deadline({ timeout: o.timeout ?? PORT_MAPPING_DEFAULTS.timeout, signals: [o.signal], what: "IPv6 pinhole", clock: o.clock, timers: o.timers });
  const left = () => Math.max(1, budget.remaining());
  let dev: UpnpDevice;
  let uniqueId: number;
  try {
    const d = await httpRequest(o.upnpLocation, { timeoutMs: left(), signal: budget.signal, timers: o.timers });
    if (d.status !== 200) throw new PortMappingError(`device description ${o.upnpLocation}: HTTP ${d.status}`);
    const controlUrl = parsePinholeService(d.body, o.upnpLocation);
    if (!controlUrl) {
      log.debug("the IGD offers no WANIPv6FirewallControl service", { location: o.upnpLocation });
      return undefined;
    }
    dev = { igdVersion: 2, serviceType: WANIPV6FC, controlUrl, location: o.upnpLocation };
    const st = await soapCall(dev, "GetFirewallStatus", [], ["FirewallEnabled", "InboundPinholeAllowed"], left(), budget.signal, o.timers);
    if (!st.ok) throw fault("GetFirewallStatus", controlUrl, st);
    const status = parseFirewallStatus(st.values);
    if (!status.inboundPinholeAllowed) throw new PortMappingError(`UPnP ${controlUrl}: inbound pinholes are not allowed (FirewallEnabled=${status.firewallEnabled})`);
    const add = await soapCall(dev, "AddPinhole", addPinholeArgs(o.internalHost, o.internalPort, lease), ["UniqueID"], left(), budget.signal, o.timers);
    if (!add.ok) throw fault("AddPinhole", controlUrl, add);
    uniqueId = parseUniqueId(add.values);
  } catch (err) {
    if (o.signal?.aborted) throw new AbortError("IPv6 pinhole aborted", { cause: o.signal.reason });
    throw err instanceof PortMappingError || err instanceof InvalidArgumentError ? err : new PortMappingError(`IPv6 pinhole failed: ${(err as Error).message}`, { cause: err });
  } finally {
    budget.done();
  }
  const driver = pinholeDriver(dev, uniqueId, lease, o);
  const m = new ActivePortMapping(driver, { externalIp: o.internalHost, externalPort: o.internalPort, internalHost: o.internalHost, internalPort: o.internalPort, leaseSeconds: lease, elapsedMs: Math.round(clock.now() - started) }, { logger: log, requestTimeout: o.requestTimeout ?? PORT_MAPPING_DEFAULTS.requestTimeout, clock: o.clock, timers: o.timers });
  log.info("IPv6 pinhole opened", { to: `[${o.internalHost}]:${o.internalPort}`, uniqueId, leaseSeconds: lease, ms: m.elapsedMs });
  return verified(m, o);
}

/** Runs `o.verify` on the pinhole's address (own bound); an abort closes it and throws. */
async function verified(m: ActivePortMapping, o: Pick<PinholeOptions, "verify" | "verifyTimeout" | "signal" | "clock" | "timers">): Promise<PortMapping> {
  if (!o.verify) return m;
  const vd = deadline({ timeout: o.verifyTimeout ?? PORT_MAPPING_DEFAULTS.verifyTimeout, signals: [o.signal], what: "pinhole verification", clock: o.clock, timers: o.timers });
  try {
    m.verified = await raceSignal(o.verify(m.externalIp, m.externalPort, { signal: vd.signal }), vd.signal).catch(() => false);
  } finally {
    vd.done();
  }
  if (o.signal?.aborted) {
    await m.close();
    throw new AbortError("IPv6 pinhole aborted", { cause: o.signal.reason });
  }
  return m;
}

export interface PcpPinholeOptions extends Omit<PinholeOptions, "upnpLocation" | "internalHost"> {
  /** The PCP server's IPv6 address (the IPv6 default router). */
  gateway: string;
}

/**
 * A pinhole by PCP over IPv6 (RFC 6887 §11: a MAP for an IPv6 internal address
 * with no NAT66 answers with that same address). Renewed and deleted with the
 * nonce like an IPv4 PCP mapping (drivers.ts pcpDriver). Resolves undefined
 * when nothing answers on [gateway]:5351 (NAT-PMP has no IPv6).
 */
export async function openPcpPinhole(o: PcpPinholeOptions): Promise<PortMapping | undefined> {
  if (!net.isIPv6(o.gateway)) throw new InvalidArgumentError(`gateway must be an IPv6 literal, got ${String(o.gateway)}`);
  if (!Number.isInteger(o.internalPort) || o.internalPort < 1 || o.internalPort > 65535) throw new InvalidArgumentError(`internalPort must be an integer 1-65535, got ${String(o.internalPort)}`);
  const log = (o.logger ?? silentLogger).child("pinhole6");
  const clock = o.clock ?? systemClock;
  const started = clock.now();
  const leaseSeconds = o.leaseSeconds ?? PORT_MAPPING_DEFAULTS.leaseSeconds;
  const ctx = { gateway: o.gateway, internalHost: "", internalPort: o.internalPort, leaseSeconds, description: PORT_MAPPING_DEFAULTS.description, logger: log, clock: o.clock, timers: o.timers };
  const driver = pcpDriver(ctx);
  const r = await pcpMap({ gateway: o.gateway, protocol: "TCP", internalPort: o.internalPort, suggestedExternalPort: o.internalPort, lifetimeSeconds: leaseSeconds, nonce: driver.nonce, timeoutMs: o.timeout ?? PORT_MAPPING_DEFAULTS.timeout, signal: o.signal, timers: o.timers });
  if (r === undefined || r === "nat-pmp-only") return undefined;
  if (!net.isIPv6(r.externalIp)) throw new PortMappingError(`PCP over IPv6: ${o.gateway} answered with a non-IPv6 external address ${r.externalIp}`);
  const m = new ActivePortMapping(driver, { externalIp: r.externalIp, externalPort: r.externalPort, internalHost: r.internalHost, internalPort: o.internalPort, leaseSeconds: r.lifetimeSeconds, elapsedMs: Math.round(clock.now() - started) }, { logger: log, requestTimeout: o.requestTimeout ?? PORT_MAPPING_DEFAULTS.requestTimeout, clock: o.clock, timers: o.timers });
  log.info("IPv6 pinhole opened by PCP", { to: `[${r.externalIp}]:${r.externalPort}`, leaseSeconds: r.lifetimeSeconds, ms: m.elapsedMs });
  return verified(m, o);
}
