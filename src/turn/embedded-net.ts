/**
 * Small helpers of the embedded relay (src/turn/embedded.ts): a free UDP
 * port, the 5-tuple key node-turn files allocations under, and nonces whose
 * timers can be cleared.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { createRequire } from "node:module";
import net from "node:net";

const require = createRequire(import.meta.url);

/** node-turn keys allocations by this 5-tuple string (lib/transport.js get5Tuple). */
export function fiveTuple(rinfo: dgram.RemoteInfo, host: string, port: number): string {
  const Transport = require("node-turn/lib/transport.js") as new (protocol: number, src: unknown, dst: unknown, socket: unknown) => { get5Tuple(): string };
  const Address = require("node-turn/lib/address.js") as new (ip: string, port: number) => unknown;
  const CONSTANTS = require("node-turn/lib/constants.js") as { TRANSPORT: { PROTOCOL: { UDP: number } } };
  return new Transport(CONSTANTS.TRANSPORT.PROTOCOL.UDP, new Address(rinfo.address, rinfo.port), new Address(host, port), null).get5Tuple();
}

/** A UDP port free on `host` right now (bound, read, released). */
export async function freeUdpPort(host: string): Promise<number> {
  const s = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
  await new Promise<void>((resolve) => s.bind(0, host, () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * (5) Nonces that expire on timers we can clear (node-turn's are an hour each
 * and never cleared). Real time on purpose: node-turn checks a nonce's ttl against Date.now().
 */
export function wrapNonces(server: { authentification: { nonces: Record<string, { ttl: number }>; generateNonce(): string } }): Set<ReturnType<typeof setTimeout>> {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const auth = server.authentification;
  const HOUR = 3_600_000;
  auth.generateNonce = () => {
    const nonce = randomBytes(16).toString("hex");
    auth.nonces[nonce] = { ttl: Date.now() + HOUR };
    const t = setTimeout(() => {
      timers.delete(t);
      delete auth.nonces[nonce];
    }, HOUR);
    t.unref();
    timers.add(t);
    return nonce;
  };
  return timers;
}
