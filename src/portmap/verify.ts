/**
 * Verifiers for a port mapping: proof that externalIp:externalPort reaches us
 * from outside, by an inbound connection.
 *
 * - stunDialPortVerifier: our STUN server (src/stun/server.ts) connects to
 *   our observed public IP at the mapped port and reports the outcome
 *   (dial-port extension, docs/stun.md). Optionally the arrival is also
 *   checked on our own listener.
 * - hairpinVerifier: connect from the LAN to our own external address and
 *   see our listener accept it (needs a router that hairpins).
 */
import net from "node:net";
import { systemTimers, type Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import { silentLogger } from "../util/logger.ts";
import { StunTcpConnection } from "../stun/client-tcp.ts";
import { canonicalIp, toTransportAddress } from "../stun/ip.ts";
import type { TransportAddress } from "../stun/codec.ts";
import type { PortMappingVerifier } from "./types.ts";

/** Resolves when `listener` accepts a connection that `match` accepts; never rejects. */
function watchArrival(listener: net.Server, match: (s: net.Socket) => boolean): { arrived: Promise<true>; stop(): void } {
  let onConn: ((s: net.Socket) => void) | undefined;
  const arrived = new Promise<true>((resolve) => {
    onConn = (s) => {
      if (match(s)) resolve(true);
    };
    listener.on("connection", onConn);
  });
  return { arrived, stop: () => onConn && listener.off("connection", onConn) };
}

function untilAbort(signal: AbortSignal): Promise<false> {
  return new Promise((r) => (signal.aborted ? r(false) : signal.addEventListener("abort", () => r(false), { once: true })));
}

/**
 * Verifies through a p2pnode STUN server over TCP. True only when the server
 * saw the same public IP as the mapping's external IP (else a second NAT sits
 * outside the gateway and the mapping is not reachable at that address), it
 * supports dial-port, and its connect succeeded — and, with `listener`, the
 * connection from the server's IP was accepted by it.
 */
export function stunDialPortVerifier(server: TransportAddress, opts: { listener?: net.Server; logger?: Logger; timers?: Timers } = {}): PortMappingVerifier {
  const log = (opts.logger ?? silentLogger).child("portmap-verify");
  return async (externalIp, externalPort, { signal }) => {
    const watch = opts.listener ? watchArrival(opts.listener, (s) => canonicalIp(toTransportAddress(s.remoteAddress ?? "", 0).address) === canonicalIp(server.address)) : undefined;
    let conn: StunTcpConnection | undefined;
    try {
      conn = await StunTcpConnection.connect(server, { signal, timers: opts.timers });
      // First where the server sees us: a dial to another IP than the mapping's would prove nothing.
      const seen = (await conn.binding({ signal })).mapped;
      if (canonicalIp(seen.address) !== canonicalIp(externalIp)) {
        log.debug("STUN server sees another public IP than the mapping's", { seen: seen.address, externalIp });
        return false;
      }
      const r = await conn.dialPort(externalPort, { signal });
      if (!r.supported) {
        log.debug("STUN server does not support dial-port", { server: server.address });
        return false;
      }
      if (!r.connected) return false;
      if (!watch) return true;
      return await Promise.race([watch.arrived, untilAbort(signal)]);
    } catch (err) {
      log.debug("dial-port verification failed", { err: (err as Error).message });
      return false;
    } finally {
      watch?.stop();
      await conn?.close();
    }
  };
}

/**
 * Verifies by a hairpin self-connect: connect to externalIp:externalPort from
 * here and require that `listener` accepts that very connection (same source
 * port after the router's SNAT, or a source of our external IP).
 */
export function hairpinVerifier(listener: net.Server, opts: { logger?: Logger; timers?: Timers } = {}): PortMappingVerifier {
  const log = (opts.logger ?? silentLogger).child("portmap-verify");
  const timers = opts.timers ?? systemTimers;
  return async (externalIp, externalPort, { signal }) => {
    // The accept may be seen before our own "connect" event: remember arrivals, decide on either event.
    const seen: Array<{ port: number; ip: string }> = [];
    let localPort = -1;
    let decide: (v: boolean) => void = () => {};
    const result = new Promise<boolean>((r) => (decide = r));
    const check = () => {
      if (seen.some((a) => a.port === localPort || a.ip === canonicalIp(externalIp))) decide(true);
    };
    const onConn = (s: net.Socket) => {
      seen.push({ port: s.remotePort ?? 0, ip: canonicalIp(toTransportAddress(s.remoteAddress ?? "", 0).address) });
      check();
    };
    listener.on("connection", onConn);
    const sock = net.connect({ host: externalIp, port: externalPort });
    sock.on("error", (err) => log.debug("hairpin connect failed", { err: err.message }));
    sock.once("connect", () => {
      localPort = sock.localPort ?? -1;
      check();
    });
    // A closed socket is a failed hairpin, after a moment for an accept still on its way.
    let late: ReturnType<Timers["setTimeout"]> | undefined;
    sock.once("close", () => (late = timers.setTimeout(() => decide(false), 50)));
    try {
      return await Promise.race([result, untilAbort(signal)]);
    } finally {
      timers.clearTimeout(late);
      listener.off("connection", onConn);
      sock.destroy();
    }
  };
}
