/**
 * The embedded TURN relay for demos and tests (`p2pnode turn`): the
 * node-turn package (UDP only, long-term credentials), bound to loopback
 * unless told otherwise, with its known bugs worked around by wrapping its
 * internals on our server instance (node-turn is pinned to 0.0.6):
 *
 * 1. Any Refresh deleted the allocation: Refresh reads `defaultLifetime` and
 *    `maxAllocateTimeout`, which do not exist, so the new lifetime was NaN
 *    and the expiry timer fired at once. We provide both fields and give
 *    Allocation#update a real lifetime.
 * 2. The requested LIFETIME was ignored (it is read as "liftetime").
 * 3. A retransmitted Allocate that arrived while the first was still opening
 *    its relay socket opened a second one and leaked the first. Allocates
 *    for a 5-tuple already allocating are dropped (the client retransmits
 *    and then gets the first one's answer).
 * 4. ChannelData from the client was dropped: only STUN was parsed. We
 *    relay it to the channel's peer from the allocation's socket.
 * 5. stop() left relay sockets and expiry timers behind, and every nonce
 *    it handed out set an hour-long timer: the process stayed alive for an
 *    hour. An expired or deallocated allocation also kept its socket. Every
 *    way an allocation ends now closes its sockets and timer, nonce timers
 *    are tracked and cleared on close.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { createRequire } from "node:module";
import net from "node:net";
import { InvalidArgumentError } from "../errors.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { decodeChannelData, looksLikeChannelData } from "./channel-data.ts";

const require = createRequire(import.meta.url);

export interface EmbeddedRelayOptions {
  /** Listening and relay IP. @default "127.0.0.1" */
  host?: string;
  /** UDP port; 0 picks a free one. @default 3478 */
  port?: number;
  /** name → password (long-term credentials). */
  users: Readonly<Record<string, string>>;
  /** @default "p2pnode" */
  realm?: string;
  /** Lifetime granted when the client asks for less or nothing (s). @default 600 */
  defaultLifetime?: number;
  /** Most a client may ask for (s). @default 3600 */
  maxLifetime?: number;
  /** Relay port range. @default 49152-65535 */
  minPort?: number;
  maxPort?: number;
  logger?: Logger;
}

export interface EmbeddedRelay {
  /** turn:host:port (no credentials). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Live allocations. */
  allocations(): number;
  /** Stops listening and frees every allocation's socket and timer. Idempotent. */
  close(): Promise<void>;
}

// node-turn's internals, as far as we touch them.
interface NtAllocation {
  lifetime: number;
  timer?: ReturnType<typeof setTimeout>;
  timeToExpiry: number;
  fiveTuple: string;
  sockets: dgram.Socket[];
  channelBindings: Record<string, { address: string; port: number } | undefined>;
  server: NtServer;
  update(lifetime?: number): void;
}
interface NtServer {
  allocations: Record<string, NtAllocation>;
  authentification: { nonces: Record<string, { ttl: number }>; generateNonce(): string };
  defaultAllocatetLifetime: number;
  maxAllocateLifetime: number;
  defaultLifetime?: number;
  maxAllocateTimeout?: number;
  network: { sockets: dgram.Socket[] };
  allocate: { allocate(msg: NtMessage, reply: NtReply): void };
  refresh: { refresh(msg: NtMessage, reply: NtReply): void };
  start(): void;
  stop(): void;
}
interface NtMessage {
  transactionID: unknown;
  allocation?: NtAllocation;
  transport: { get5Tuple(): string };
  getAttribute(name: string): unknown;
}
interface NtReply {
  resolve(): void;
  reject(code: number, reason: string): void;
  discard?(): void;
}

let patched = false;

/** Process-wide fixes to node-turn's prototypes (2 and 5); idempotent. */
function patchPrototypes(): void {
  if (patched) return;
  patched = true;
  const Allocation = require("node-turn/lib/allocation.js") as { prototype: NtAllocation };
  const Message = require("node-turn/lib/message.js") as { prototype: NtMessage };
  // (2) "liftetime": read the attribute under its real name.
  const getAttribute = Message.prototype.getAttribute;
  Message.prototype.getAttribute = function (this: NtMessage, name: string) {
    return getAttribute.call(this, name === "liftetime" ? "lifetime" : name);
  };
  // (1, 5) A real lifetime, and an expiry that frees the allocation's socket.
  Allocation.prototype.update = function (this: NtAllocation, lifetime?: number) {
    const secs = Number.isFinite(lifetime) && (lifetime as number) > 0 ? (lifetime as number) : this.lifetime;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => endAllocation(this), secs * 1000);
    this.timeToExpiry = Date.now() + secs * 1000;
  };
}

function endAllocation(a: NtAllocation): void {
  clearTimeout(a.timer);
  if (a.server.allocations[a.fiveTuple] === a) delete a.server.allocations[a.fiveTuple];
  for (const s of a.sockets) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
}

export async function startEmbeddedRelay(o: EmbeddedRelayOptions): Promise<EmbeddedRelay> {
  const host = o.host ?? "127.0.0.1";
  if (net.isIP(host) === 0) throw new InvalidArgumentError(`the relay host must be an IP literal, got ${JSON.stringify(host)}`);
  if (!o.users || Object.keys(o.users).length === 0) throw new InvalidArgumentError("the relay needs at least one user (name and password)");
  const log = (o.logger ?? silentLogger).child("turn-relay");
  const port = o.port === 0 ? await freeUdpPort(host) : (o.port ?? 3478);
  patchPrototypes();
  const Server = require("node-turn") as new (config: Record<string, unknown>) => NtServer;
  const server = new Server({
    listeningIps: [host],
    relayIps: [host],
    listeningPort: port,
    minPort: o.minPort ?? 49152,
    maxPort: o.maxPort ?? 65535,
    authMech: "long-term",
    credentials: { ...o.users },
    realm: o.realm ?? "p2pnode",
    defaultAllocatetLifetime: o.defaultLifetime ?? 600,
    maxAllocateLifetime: o.maxLifetime ?? 3600,
    log: (m: unknown) => log.debug(String(m)),
    debugLevel: "ERROR",
  });
  // (1) The fields Refresh reads.
  server.defaultLifetime = server.defaultAllocatetLifetime;
  server.maxAllocateTimeout = server.maxAllocateLifetime;
  wrapAllocate(server);
  wrapRefresh(server);
  const nonceTimers = wrapNonces(server);
  server.start();
  const sock = server.network.sockets[0];
  await new Promise<void>((resolve, reject) => {
    sock.once("listening", () => resolve());
    sock.once("error", reject);
  });
  // (4) ChannelData from the client, relayed to the channel's peer.
  sock.on("message", (data: Buffer, rinfo: dgram.RemoteInfo) => {
    if (!looksLikeChannelData(data)) return;
    let cd;
    try {
      cd = decodeChannelData(data);
    } catch {
      return;
    }
    const a = server.allocations[fiveTuple(rinfo, host, port)];
    const peer = a?.channelBindings[String(cd.channel)];
    if (!a || !peer) return;
    a.sockets[0]?.send(cd.data, peer.port, peer.address);
  });
  let closing: Promise<void> | undefined;
  return {
    url: `turn:${net.isIPv6(host) ? `[${host}]` : host}:${port}`,
    host,
    port,
    allocations: () => Object.keys(server.allocations).length,
    close: () =>
      (closing ??= (async () => {
        // (5) Every allocation's socket and timer, then the listener.
        for (const a of Object.values(server.allocations)) endAllocation(a);
        for (const t of nonceTimers) clearTimeout(t);
        nonceTimers.clear();
        await new Promise<void>((resolve) => {
          sock.once("close", () => resolve());
          server.stop();
        });
      })()),
  };
}

/** node-turn keys allocations by this 5-tuple string (lib/transport.js get5Tuple). */
function fiveTuple(rinfo: dgram.RemoteInfo, host: string, port: number): string {
  const Transport = require("node-turn/lib/transport.js") as new (protocol: number, src: unknown, dst: unknown, socket: unknown) => { get5Tuple(): string };
  const Address = require("node-turn/lib/address.js") as new (ip: string, port: number) => unknown;
  const CONSTANTS = require("node-turn/lib/constants.js") as { TRANSPORT: { PROTOCOL: { UDP: number } } };
  return new Transport(CONSTANTS.TRANSPORT.PROTOCOL.UDP, new Address(rinfo.address, rinfo.port), new Address(host, port), null).get5Tuple();
}

/** (3, 5) One Allocate per 5-tuple at a time; a fresh allocation gets our expiry. */
function wrapAllocate(server: NtServer): void {
  const inner = server.allocate.allocate.bind(server.allocate);
  const busy = new Set<string>();
  server.allocate.allocate = (msg, reply) => {
    const key = msg.transport.get5Tuple();
    if (!msg.allocation && busy.has(key)) return reply.discard?.();
    busy.add(key);
    const done = () => {
      busy.delete(key);
      const a = server.allocations[key];
      if (a) a.update(a.lifetime);
    };
    const { resolve, reject } = reply;
    reply.resolve = () => {
      resolve.call(reply);
      done();
    };
    reply.reject = (code, reason) => {
      reject.call(reply, code, reason);
      done();
    };
    inner(msg, reply);
  };
}

/** (5) Nonces that expire on timers we can clear (node-turn's are an hour each and never cleared). */
function wrapNonces(server: NtServer): Set<ReturnType<typeof setTimeout>> {
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

/** (5) Refresh with LIFETIME 0 frees the socket too. */
function wrapRefresh(server: NtServer): void {
  const inner = server.refresh.refresh.bind(server.refresh);
  server.refresh.refresh = (msg, reply) => {
    const a = msg.allocation;
    inner(msg, reply);
    if (a && msg.getAttribute("lifetime") === 0) endAllocation(a);
  };
}

async function freeUdpPort(host: string): Promise<number> {
  const s = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
  await new Promise<void>((resolve) => s.bind(0, host, () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
