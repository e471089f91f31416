/**
 * The embedded MQTT broker for the no-setup path (`p2pnode signal`, demos,
 * tests): aedes over TCP. It is hardened for signaling only: no retained
 * messages, no wildcard subscriptions (a node subscribes to its own exact
 * topic; nobody can listen to everyone's), no $SYS publishing, bounded payloads.
 */
import net from "node:net";
import { Aedes } from "aedes";
import { InvalidArgumentError, SignalingError } from "../errors.ts";
import { LifecycleState } from "../util/closable.ts";
import { type Logger, silentLogger } from "../util/logger.ts";

export interface BrokerOptions {
  /** Interface to listen on. @default "127.0.0.1" */
  host?: string;
  /** TCP port; 0 picks a free one. @default 1883 */
  port?: number;
  /** Largest PUBLISH payload forwarded, bytes. @default 65536 */
  maxPayloadBytes?: number;
  logger?: Logger;
}

export const BROKER_DEFAULTS = Object.freeze({ host: "127.0.0.1", port: 1883, maxPayloadBytes: 65_536 });

export interface RunningBroker {
  /** mqtt:// URL to give to nodes (IPv6 hosts in brackets). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening and disconnects every client. Memoized and idempotent; never rejects. */
  close(): Promise<void>;
  /** Same teardown as close() (a broker has nothing to flush); memoized, never rejects. */
  destroy(err?: Error): Promise<void>;
}

function hasWildcard(topic: string): boolean {
  return topic.includes("#") || topic.includes("+");
}

/** Starts an aedes broker on `host:port`; resolves once it listens. */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const host = options.host ?? BROKER_DEFAULTS.host;
  const port = options.port ?? BROKER_DEFAULTS.port;
  const maxPayload = options.maxPayloadBytes ?? BROKER_DEFAULTS.maxPayloadBytes;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError("port must be an integer 0-65535");
  if (!net.isIP(host) && host !== "localhost") throw new InvalidArgumentError("host must be an IP address");
  const log = (options.logger ?? silentLogger).child("signal-broker");

  const aedes = await Aedes.createBroker({
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      if (packet.retain) return done(new Error("retained messages are not allowed"));
      if (packet.topic.startsWith("$")) return done(new Error("reserved topic"));
      if (packet.payload && packet.payload.length > maxPayload) return done(new Error("payload too large"));
      done(null);
    },
    authorizeSubscribe(_client, sub, done) {
      // A null subscription is answered with a failure code (0x80) instead of dropping the connection.
      if (hasWildcard(sub.topic) || sub.topic.startsWith("$")) return done(null, null);
      done(null, sub);
    },
  });
  aedes.on("clientError", (client, err) => log.debug("client error", { client: client?.id, error: err.message }));
  aedes.on("connectionError", (_client, err) => log.debug("connection error", { error: err.message }));

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    // Signaling messages are small and latency-bound: Nagle + delayed ACK would add ~40 ms per hop.
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((r) => aedes.close(() => r()));
    throw new SignalingError(`could not listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
  const addr = server.address() as net.AddressInfo;
  const shownHost = net.isIPv6(addr.address) ? `[${addr.address}]` : addr.address;
  log.info("broker listening", { host: addr.address, port: addr.port });

  let teardown: Promise<void> | undefined;
  // close() and destroy() share one teardown (a destroy during close joins it).
  const state = new LifecycleState("signaling broker", () =>
    (teardown ??= (async () => {
      const serverClosed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => aedes.close(() => r()));
      await serverClosed;
    })()),
  );
  return {
    url: `mqtt://${shownHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    close: () => state.close(),
    destroy: (err?: Error) => state.destroy(err),
  };
}
