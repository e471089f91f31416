/**
 * Fresh punch ports: each one is the local port of a TCP STUN connection,
 * bound explicitly (SO_REUSEADDR) so the punch's own connects can share it.
 * The STUN connection stays open while the punch runs: its conntrack entry
 * keeps the NAT's mapping (and, on cone NATs, the learnt port) alive.
 */
import { lookup } from "node:dns/promises";
import { PunchError } from "../../errors.ts";
import type { Logger } from "../../util/logger.ts";
import { systemClock, type Clock } from "../../util/clock.ts";
import { StunTcpConnection } from "../../stun/client-tcp.ts";
import { parseStunUri } from "../../stun/uri.ts";
import type { PunchMapping } from "./candidates.ts";

export interface PunchPorts {
  mappings: PunchMapping[];
  /** Local ports, in creation order. */
  localPorts: number[];
  /** ms it took. */
  ms: number;
  /** Closes the STUN connections. Idempotent. */
  release(): Promise<void>;
}

export interface PunchPortsOptions {
  /** stun: URIs; the first one that answers over TCP is used for every port. */
  stun: readonly string[];
  /** How many punch ports. */
  count: number;
  signal: AbortSignal;
  /** Budget for all of it (ms). */
  timeout: number;
  logger?: Logger;
  /** Reads the budget's time. @default the system's */
  clock?: Clock;
}

/** Opens `count` punch ports one after the other (so a sequential NAT numbers them in order). */
export async function openPunchPorts(o: PunchPortsOptions): Promise<PunchPorts> {
  const clock = o.clock ?? systemClock;
  const t0 = clock.now();
  const conns: StunTcpConnection[] = [];
  const release = async () => {
    await Promise.all(conns.splice(0).map((c) => c.close()));
  };
  const errors: string[] = [];
  const end = t0 + o.timeout;
  const left = () => Math.max(1, end - clock.now());
  try {
    for (const uri of o.stun) {
      let server;
      try {
        const u = parseStunUri(uri);
        const address = u.family === 0 ? (await lookup(u.host, { family: 4 })).address : u.host;
        if (u.family === 6) throw new PunchError("IPv6 STUN servers are not used for punching yet");
        server = { family: 4 as const, address, port: u.port };
      } catch (err) {
        errors.push(`${uri}: ${(err as Error).message}`);
        continue;
      }
      const mappings: PunchMapping[] = [];
      try {
        for (let i = 0; i < o.count; i++) {
          const c = await StunTcpConnection.connect(server, { localAddress: "0.0.0.0", signal: o.signal, timeout: left(), logger: o.logger });
          conns.push(c);
          const b = await c.binding({ signal: o.signal, timeout: left() });
          mappings.push({ localPort: c.local.port, mapped: { ip: b.mapped.address, port: b.mapped.port } });
        }
        return { mappings, localPorts: mappings.map((m) => m.localPort), ms: Math.round(clock.now() - t0), release };
      } catch (err) {
        if (o.signal.aborted) throw err;
        errors.push(`${uri}: ${(err as Error).message}`);
        await release();
      }
    }
    throw new PunchError(o.stun.length ? `no fresh TCP mapping from the STUN servers: ${errors.join("; ")}` : "punching needs a STUN server (none configured)");
  } catch (err) {
    await release();
    throw err;
  }
}
