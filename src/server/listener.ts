/**
 * The node's TCP servers: one per listening address, all on one port (the
 * first picks it when the port is 0). Without hosts the node listens on "::"
 * (dual stack), or on 0.0.0.0 where the host has no IPv6. The set is on the
 * lifecycle base (src/util/closable.ts): close() and destroy() stop
 * accepting, are memoized and idempotent, and never reject.
 */
import net from "node:net";
import { Closable } from "../util/closable.ts";
import type { Logger } from "../util/logger.ts";

export interface ListenOptions {
  /** Addresses to listen on; undefined = every interface. */
  hosts?: readonly string[];
  port: number;
  /** Accepted connections beyond which the kernel's are refused (a backstop to handshake admission). */
  maxConnections: number;
  logger: Logger;
  onConnection: (socket: net.Socket) => void;
}

/** The listening servers. close() stops accepting and resolves once every server has closed; the accepted sockets are the caller's. */
export class Listening extends Closable {
  readonly servers: readonly net.Server[];
  /** The port every server listens on. */
  readonly port: number;

  constructor(servers: readonly net.Server[], port: number) {
    super("listener");
    this.servers = servers;
    this.port = port;
  }

  /** Nothing graceful to wait for: destroy() is this too. */
  protected override onClose(): Promise<void> {
    return closeServers(this.servers);
  }
}

/** Listens on every address; on failure the servers already listening are closed before it rejects. */
export async function listenAll(o: ListenOptions): Promise<Listening> {
  const servers: net.Server[] = [];
  let port = o.port;
  try {
    for (const host of o.hosts ?? ["::"]) {
      try {
        const s = await listenOne(host, port, o);
        servers.push(s);
        port = (s.address() as net.AddressInfo).port;
      } catch (err) {
        if (o.hosts || host !== "::") throw err;
        const s = await listenOne("0.0.0.0", port, o); // no IPv6 on this host
        servers.push(s);
        port = (s.address() as net.AddressInfo).port;
      }
    }
  } catch (err) {
    await closeServers(servers);
    throw err;
  }
  return new Listening(servers, port);
}

function listenOne(host: string, port: number, o: ListenOptions): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    server.maxConnections = o.maxConnections;
    server.once("error", reject);
    server.listen({ host, port, ipv6Only: false, backlog: 1024 }, () => {
      server.off("error", reject);
      server.on("error", (err) => o.logger.warn("server error", { error: err.message }));
      server.on("connection", o.onConnection);
      resolve(server);
    });
  });
}

/** Stops accepting; resolves when every server has closed (its accepted sockets are the caller's). */
function closeServers(servers: readonly net.Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => {});
}
