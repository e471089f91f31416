/**
 * One MappingDriver per protocol: how to renew and how to delete a mapping
 * that protocol created. A renewal asks for the same external port again.
 */
import { randomBytes } from "node:crypto";
import { PortMappingError } from "../errors.ts";
import { deadline } from "../util/deadline.ts";
import type { Logger } from "../util/logger.ts";
import type { MappingDriver } from "./mapping.ts";
import { natPmpExternalAddress, natPmpMap, pcpMap } from "./pmp-client.ts";
import type { PortMapTime } from "./types.ts";
import { deleteUpnpMapping, mapIgd1, mapIgd2, type UpnpDevice, type UpnpMapRequest } from "./upnp.ts";

/** What every driver's requests need; `clock`/`timers` are the owner's injected ones. */
export interface DriverContext extends PortMapTime {
  gateway: string;
  internalHost: string;
  internalPort: number;
  leaseSeconds: number;
  description: string;
  logger: Logger;
}

const silent = (what: string, gateway: string) => new PortMappingError(`${what}: no answer from ${gateway}`);

/** PCP (RFC 6887): the nonce ties renewals and the delete to this mapping (§11.1). */
export function pcpDriver(ctx: DriverContext, nonce: Uint8Array = new Uint8Array(randomBytes(12))): MappingDriver & { nonce: Uint8Array } {
  const base = { gateway: ctx.gateway, protocol: "TCP" as const, internalPort: ctx.internalPort, nonce, timers: ctx.timers };
  return {
    method: "pcp",
    gateway: ctx.gateway,
    nonce,
    async renew(cur, timeoutMs) {
      const r = await pcpMap({ ...base, suggestedExternalPort: cur.externalPort, suggestedExternalIp: cur.externalIp, lifetimeSeconds: ctx.leaseSeconds, timeoutMs });
      if (r === undefined || r === "nat-pmp-only") throw silent("PCP renewal", ctx.gateway);
      return { externalIp: r.externalIp, externalPort: r.externalPort, leaseSeconds: r.lifetimeSeconds };
    },
    async remove(cur, timeoutMs) {
      const r = await pcpMap({ ...base, suggestedExternalPort: cur.externalPort, suggestedExternalIp: cur.externalIp, lifetimeSeconds: 0, timeoutMs });
      if (r === undefined || r === "nat-pmp-only") throw silent("PCP delete", ctx.gateway);
    },
  };
}

/** NAT-PMP (RFC 6886), lifetimes in seconds; delete = lifetime 0 with suggested port 0 (§3.4). */
export function natPmpDriver(ctx: DriverContext): MappingDriver {
  return {
    method: "nat-pmp",
    gateway: ctx.gateway,
    async renew(cur, timeoutMs) {
      // A budget for both requests (each ends on its own timeout), not an abort.
      const budget = deadline({ timeout: timeoutMs, what: "NAT-PMP renewal", clock: ctx.clock, timers: ctx.timers });
      try {
        const r = await natPmpMap({ gateway: ctx.gateway, protocol: "TCP", internalPort: ctx.internalPort, suggestedExternalPort: cur.externalPort, lifetimeSeconds: ctx.leaseSeconds, timeoutMs, timers: ctx.timers });
        if (!r) throw silent("NAT-PMP renewal", ctx.gateway);
        const ip = (await natPmpExternalAddress(ctx.gateway, Math.max(1, budget.remaining()), undefined, ctx.timers)) ?? cur.externalIp;
        return { externalIp: ip, externalPort: r.externalPort, leaseSeconds: r.lifetimeSeconds };
      } finally {
        budget.done();
      }
    },
    async remove(_cur, timeoutMs) {
      const r = await natPmpMap({ gateway: ctx.gateway, protocol: "TCP", internalPort: ctx.internalPort, suggestedExternalPort: 0, lifetimeSeconds: 0, timeoutMs, timers: ctx.timers });
      if (!r) throw silent("NAT-PMP delete", ctx.gateway);
    },
  };
}

/** UPnP IGD v2 (library AddAnyPortMapping) or v1 (our AddPortMapping); delete is ours on both, by EXTERNAL port. */
export function upnpDriver(ctx: DriverContext, dev: UpnpDevice): MappingDriver {
  const req = (externalPort: number, timeoutMs: number): UpnpMapRequest => ({ internalHost: ctx.internalHost, internalPort: ctx.internalPort, externalPort, leaseSeconds: ctx.leaseSeconds, description: ctx.description, timeoutMs, clock: ctx.clock, timers: ctx.timers });
  return {
    method: dev.igdVersion === 2 ? "upnp-igd2" : "upnp-igd1",
    gateway: ctx.gateway,
    renew: (cur, timeoutMs) => (dev.igdVersion === 2 ? mapIgd2 : mapIgd1)(dev, req(cur.externalPort, timeoutMs), ctx.logger),
    async remove(cur, timeoutMs) {
      if (!(await deleteUpnpMapping(dev, cur.externalPort, timeoutMs, undefined, ctx.timers))) throw new PortMappingError(`UPnP DeletePortMapping of external port ${cur.externalPort} was refused`);
    },
  };
}
