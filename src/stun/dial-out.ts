/**
 * The outbound connects the embedded STUN server makes for a requester
 * (docs/stun.md): a dial-back carrying a token, and a dial-port that only
 * checks the handshake. Only ever the requester's own IP is dialed. Each
 * socket is bounded by the dial-back timeout on the injected timers and
 * releases its admission slot when it closes.
 */
import net from "node:net";
import type { Timers } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import { encode, Method, type TransportAddress } from "./codec.ts";
import type { Dial } from "./dial-admission.ts";

export interface DialOutContext {
  /** Every socket the server holds (closed with it). */
  conns: Set<net.Socket>;
  timers: Timers;
  /** How long one connect may take, and then its exchange. */
  timeoutMs: number;
  log: Logger;
  stats: { dialBacksConnected: number };
}

/** Opens `job`'s socket; destroys it after the timeout; frees slot, timer and registration on close. */
function open(ctx: DialOutContext, job: Dial, host: string, port: number, localAddress: string, onClose: () => void): net.Socket {
  const s = net.connect({ host, port, localAddress });
  job.socket = s;
  ctx.conns.add(s);
  const timer = ctx.timers.setTimeout(() => s.destroy(), ctx.timeoutMs);
  s.once("close", () => {
    ctx.timers.clearTimeout(timer);
    job.release();
    ctx.conns.delete(s);
    onClose();
  });
  s.on("error", (err) => ctx.log.debug(`${job.kind} failed`, { to: host, port, err: err.message }));
  return s;
}

/**
 * Dials the requester's mapped address from `localAddress` (the alternate IP
 * for changeIp, else the primary IP on a fresh port: ports the server listens
 * on cannot be dialed from) and sends a Binding indication carrying the token.
 */
export function dialBack(ctx: DialOutContext, job: Dial, to: TransportAddress, localAddress: string, token: Uint8Array, changeIp: boolean): void {
  const s = open(ctx, job, to.address, to.port, localAddress, () => {});
  s.on("connect", () => {
    ctx.stats.dialBacksConnected++;
    const tid = new Uint8Array(12);
    tid.set(token, 0);
    s.end(encode({ method: Method.BINDING, class: "indication", transactionId: tid, attributes: [{ type: "P2PNODE-DIAL-BACK", value: { token, changeIp } }] }, { fingerprint: true }));
  });
}

/**
 * Dial-port: a TCP connect from `localAddress` to the requester's mapped IP at
 * `port`; true when the handshake completed. The connection is closed at once,
 * without sending anything.
 */
export function dialPort(ctx: DialOutContext, job: Dial, to: TransportAddress, port: number, localAddress: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let ok = false;
    const s = open(ctx, job, to.address, port, localAddress, () => resolve(ok));
    s.on("connect", () => {
      ok = true;
      ctx.stats.dialBacksConnected++;
      s.end();
      s.destroy();
    });
  });
}

/**
 * An inactivity timer on the injected timers (socket.setTimeout cannot run on
 * fake time): `touch()` on every read and write restarts it, `stop()` frees it.
 */
export function idleTimer(timers: Timers, ms: number, onIdle: () => void): { touch(): void; stop(): void } {
  let handle = timers.setTimeout(onIdle, ms);
  return {
    touch() {
      timers.clearTimeout(handle);
      handle = timers.setTimeout(onIdle, ms);
    },
    stop() {
      timers.clearTimeout(handle);
    },
  };
}
