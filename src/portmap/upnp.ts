/**
 * UPnP IGD port mapping. IGD v2 goes through @achingbrain/nat-port-mapper
 * (AddAnyPortMapping, which lets the router pick a free port); IGD v1, which
 * that library refuses ("Device type was not …:2"), goes through our own
 * AddPortMapping on WANIPConnection:1. Deleting is ours on both versions: the
 * library's unmap() deletes NewExternalPort = the INTERNAL port, which is the
 * wrong mapping whenever the router assigned another external port.
 */
import { upnpNat } from "@achingbrain/nat-port-mapper";
import { PortMappingError } from "../errors.ts";
import type { Clock, Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";
import type { Logger } from "../util/logger.ts";
import { httpRequest } from "./http.ts";
import { parseIgdDescription, parseSoapResponse, soapActionHeader, soapEnvelope, UPNP_ERRORS, type IgdDescription, type SoapResult } from "./soap.ts";

export interface UpnpDevice extends IgdDescription {
  location: string;
}

export interface UpnpMapRequest {
  internalHost: string;
  internalPort: number;
  /** 0 = same as internal. */
  externalPort: number;
  leaseSeconds: number;
  description: string;
  timeoutMs: number;
  signal?: AbortSignal;
  clock?: Clock;
  timers?: Timers;
}

export interface UpnpMapResult {
  externalIp: string;
  externalPort: number;
  leaseSeconds: number;
}

/** The library clamps an IGD v2 lease to at least this many seconds (it sends max(ttl/1000, 3600)). */
export const LIBRARY_MIN_IGD2_LEASE_S = 3600;

/** Fetches and reads a device description; undefined if it is not an IGD we can drive. */
export async function fetchIgd(location: string, timeoutMs: number, signal?: AbortSignal, timers?: Timers): Promise<UpnpDevice | undefined> {
  const r = await httpRequest(location, { timeoutMs, signal, timers });
  if (r.status !== 200) throw new PortMappingError(`device description ${location}: HTTP ${r.status}`);
  const d = parseIgdDescription(r.body, location);
  return d && { ...d, location };
}

/** One SOAP action against the device's WAN connection service. */
export async function soapCall(dev: UpnpDevice, action: string, args: ReadonlyArray<readonly [string, string | number]>, outputs: readonly string[], timeoutMs: number, signal?: AbortSignal, timers?: Timers): Promise<SoapResult> {
  const r = await httpRequest(dev.controlUrl, {
    method: "POST",
    headers: { "Content-Type": 'text/xml; charset="utf-8"', SOAPAction: soapActionHeader(dev.serviceType, action) },
    body: soapEnvelope(dev.serviceType, action, args),
    timeoutMs,
    signal,
    timers,
  });
  const parsed = parseSoapResponse(r.body, outputs);
  if (parsed.ok && r.status !== 200) return { ok: false, errorCode: -1, errorDescription: `HTTP ${r.status}` };
  return parsed;
}

function faultError(dev: UpnpDevice, action: string, f: Extract<SoapResult, { ok: false }>): PortMappingError {
  return new PortMappingError(`UPnP ${action} on ${dev.controlUrl} failed: ${f.errorCode} ${UPNP_ERRORS[f.errorCode] ?? f.errorDescription}`, { cause: { protocol: "upnp", errorCode: f.errorCode, errorDescription: f.errorDescription } });
}

/** GetExternalIPAddress (both versions). */
export async function upnpExternalIp(dev: UpnpDevice, timeoutMs: number, signal?: AbortSignal, timers?: Timers): Promise<string> {
  const r = await soapCall(dev, "GetExternalIPAddress", [], ["NewExternalIPAddress"], timeoutMs, signal, timers);
  if (!r.ok) throw faultError(dev, "GetExternalIPAddress", r);
  const ip = r.values.NewExternalIPAddress;
  if (!ip) throw new PortMappingError(`UPnP GetExternalIPAddress on ${dev.controlUrl}: no address in the answer`);
  return ip;
}

/** IGD v2 through the wrapped library (AddAnyPortMapping). The library's own refresh timers are off: we renew. */
export async function mapIgd2(dev: UpnpDevice, req: UpnpMapRequest, log: Logger): Promise<UpnpMapResult> {
  const d = deadline({ timeout: req.timeoutMs, signals: [req.signal], what: "UPnP IGD v2 mapping", clock: req.clock, timers: req.timers });
  const signal = d.signal;
  try {
    const gw = await upnpNat({ autoRefresh: false }).getGateway(new URL(dev.location), { signal });
    const m = await gw.map(req.internalPort, req.internalHost, {
      externalPort: req.externalPort || req.internalPort,
      protocol: "TCP",
      // The library takes milliseconds here and sends max(ms / 1000, 3600) seconds.
      ttl: req.leaseSeconds * 1000,
      autoRefresh: false,
      description: req.description,
      signal,
    });
    return { externalIp: m.externalHost, externalPort: m.externalPort, leaseSeconds: Math.max(req.leaseSeconds, LIBRARY_MIN_IGD2_LEASE_S) };
  } catch (err) {
    if (req.signal?.aborted) throw err;
    log.debug("IGD v2 mapping through nat-port-mapper failed", { err: (err as Error).message });
    throw err instanceof PortMappingError ? err : new PortMappingError(`UPnP IGD v2 mapping failed: ${(err as Error).message}`, { cause: err });
  } finally {
    d.done();
  }
}

/**
 * IGD v1 AddPortMapping (the caller picks the external port). On 718
 * ConflictInMappingEntry another port is tried; on 725
 * OnlyPermanentLeasesSupported a lease of 0 (permanent) is asked for, and
 * close() must then delete it.
 */
export async function mapIgd1(dev: UpnpDevice, req: UpnpMapRequest, log: Logger): Promise<UpnpMapResult> {
  // A budget for the steps (each ends on its own timeout), not an abort.
  const budget = deadline({ timeout: req.timeoutMs, what: "UPnP IGD v1 mapping", clock: req.clock, timers: req.timers });
  const left = () => Math.max(1, budget.remaining());
  try {
    return await addPortMapping(dev, req, log, left);
  } finally {
    budget.done();
  }
}

async function addPortMapping(dev: UpnpDevice, req: UpnpMapRequest, log: Logger, left: () => number): Promise<UpnpMapResult> {
  let port = req.externalPort || req.internalPort;
  let lease = req.leaseSeconds;
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = await soapCall(dev, "AddPortMapping", [
      ["NewRemoteHost", ""],
      ["NewExternalPort", port],
      ["NewProtocol", "TCP"],
      ["NewInternalPort", req.internalPort],
      ["NewInternalClient", req.internalHost],
      ["NewEnabled", 1],
      ["NewPortMappingDescription", req.description],
      ["NewLeaseDuration", lease],
    ], [], left(), req.signal, req.timers);
    if (r.ok) {
      const externalIp = await upnpExternalIp(dev, left(), req.signal, req.timers);
      return { externalIp, externalPort: port, leaseSeconds: lease };
    }
    if (r.errorCode === 718 && attempt < 3) {
      log.debug("IGD v1: external port taken, trying another", { port });
      port = 20000 + Math.floor(Math.random() * 40000);
      continue;
    }
    if (r.errorCode === 725 && lease !== 0) {
      log.debug("IGD v1: router only supports permanent leases");
      lease = 0;
      continue;
    }
    throw faultError(dev, "AddPortMapping", r);
  }
  throw new PortMappingError(`UPnP AddPortMapping on ${dev.controlUrl}: no free external port after 4 tries`);
}

/** DeletePortMapping of the EXTERNAL port (both versions). Resolves false on a fault (714 = already gone). */
export async function deleteUpnpMapping(dev: UpnpDevice, externalPort: number, timeoutMs: number, signal?: AbortSignal, timers?: Timers): Promise<boolean> {
  const r = await soapCall(dev, "DeletePortMapping", [["NewRemoteHost", ""], ["NewExternalPort", externalPort], ["NewProtocol", "TCP"]], [], timeoutMs, signal, timers);
  return r.ok || r.errorCode === 714;
}
