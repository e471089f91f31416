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
 *
 * Found by running coturn's turnutils_uclient against it (tests:
 * embedded-foreign, and one by one in embedded-wire):
 *
 * 6. EVEN-PORT and RESERVATION-TOKEN made the parser throw (a bit reader
 *    missing on Buffer slices; a 64-bit readUIntBE) and the request was
 *    dropped. With EVEN-PORT node-turn then bound the relay to the client's
 *    own source port. We parse both, bind a random even port of the range,
 *    and answer R=1 (reserve the next port) and any token with 508.
 * 7. ChannelBind successes had no MESSAGE-INTEGRITY; clients that check it
 *    (coturn's does) give up. We sign them.
 * 8. ChannelBind grants RFC 5766's channels 0x4000-0x7FFE but our ChannelData
 *    relay (4) only took RFC 8656's 0x4000-0x4FFF: data on the others was
 *    dropped. The relay now takes every channel node-turn grants.
 * 9. Any attribute node-turn does not know made the parser throw.
 *    REQUESTED-ADDRESS-FAMILY (sent by uclient) is honoured (440 for the
 *    family we do not relay), other unknown comprehension-required
 *    attributes get 420 with UNKNOWN-ATTRIBUTES, optional ones are ignored.
 */
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import { createRequire } from "node:module";
import net from "node:net";
import { InvalidArgumentError, TurnError } from "../errors.ts";
import { systemClock, systemTimers, type Clock, type Timers } from "../util/clock.ts";
import { LifecycleState, type Lifecycle } from "../util/closable.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { CHANNEL_HEADER, looksLikeChannelData } from "./channel-data.ts";
import { fiveTuple, freeUdpPort, wrapNonces } from "./embedded-net.ts";

const require = createRequire(import.meta.url);
/** Options of startEmbeddedRelay(): where to listen, the users, lifetimes and the relay port range. */
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
  /** Allocation expiry runs on these (tests pass a FakeTime). @default the system clock and timers */
  clock?: Clock;
  timers?: Timers;
}

/** A running embedded TURN relay (startEmbeddedRelay()). */
export interface EmbeddedRelay extends Lifecycle {
  /** turn:host:port (no credentials). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Live allocations. */
  allocations(): number;
  /** Stops listening and frees every allocation's socket and timer. Memoized, idempotent, never rejects; destroy() is the same. */
  close(): Promise<void>;
}

/** Each server's clock and timers, for the patched Allocation#update (a prototype shared by every server). */
const timeOf = new WeakMap<NtServer, { clock: Clock; timers: Timers }>();
const time = (server: NtServer) => timeOf.get(server) ?? { clock: systemClock, timers: systemTimers };

// node-turn's internals, as far as we touch them.
interface NtAllocation {
  lifetime: number;
  timer?: ReturnType<Timers["setTimeout"]>;
  timeToExpiry: number;
  fiveTuple: string;
  sockets: dgram.Socket[];
  channelBindings: Record<string, { address: string; port: number } | undefined>;
  server: NtServer;
  update(lifetime?: number): void;
}
interface NtServer {
  allocations: Record<string, NtAllocation>;
  authentification: {
    nonces: Record<string, { ttl: number }>;
    generateNonce(): string;
    auth(msg: NtMessage, cb: (err: Error | null, reply?: NtReply) => void): void;
  };
  defaultAllocatetLifetime: number;
  maxAllocateLifetime: number;
  defaultLifetime?: number;
  maxAllocateTimeout?: number;
  network: { sockets: dgram.Socket[] };
  minPort: number;
  maxPort: number;
  allocate: {
    allocate(msg: NtMessage, reply: NtReply): void;
    allocateUdpEven(msg: NtMessage, reserveNext: boolean): Promise<dgram.Socket[]>;
    getRelayIp(msg: NtMessage): string;
  };
  refresh: { refresh(msg: NtMessage, reply: NtReply): void };
  channelBind: { channelBind(msg: NtMessage, reply: NtReply): void };
  start(): void;
  stop(): void;
}
interface NtAttribute {
  type: number;
  length: number;
  padding: number;
  name: string;
  value: unknown;
  read(data: Buffer): void;
}
const EVEN_PORT = 0x0018;
const REQUESTED_ADDRESS_FAMILY = 0x0017;
const MAX_CHANNEL_5766 = 0x7ffe;
const RESERVATION_TOKEN = 0x0022;
interface NtMessage {
  class: number;
  attributes: NtAttribute[];
  reply(): NtReply;
  transactionID: unknown;
  allocation?: NtAllocation;
  transport: { get5Tuple(): string };
  getAttribute(name: string): unknown;
}
interface NtReply {
  addAttribute(name: string, value?: unknown): void;
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
  // (6, 9) Attributes node-turn's parser throws on, dropping the whole request:
  // EVEN-PORT, RESERVATION-TOKEN and every type it does not know.
  const Attribute = require("node-turn/lib/attribute.js") as { prototype: NtAttribute };
  const CONSTANTS = require("node-turn/lib/constants.js") as { ATTR: Record<string, number> };
  const known = new Set(Object.values(CONSTANTS.ATTR));
  const readAttribute = Attribute.prototype.read;
  Attribute.prototype.read = function (this: NtAttribute, data: Buffer) {
    const type = data.readUInt16BE(0);
    if (known.has(type) && type !== EVEN_PORT && type !== RESERVATION_TOKEN) return readAttribute.call(this, data);
    this.type = type;
    this.length = data.readUInt16BE(2);
    this.padding = this.length % 4 ? 4 - (this.length % 4) : 0;
    const value = data.subarray(4, 4 + this.length);
    // EVEN-PORT: the R bit; the token as hex, so an unknown one is simply not found;
    // anything else raw, for wrapAuth (420) and wrapAllocate (address family).
    this.name = type === EVEN_PORT ? "even-port" : type === RESERVATION_TOKEN ? "reservation-token" : "unknown";
    this.value = type === EVEN_PORT ? (value[0] ?? 0) >= 0x80 : type === RESERVATION_TOKEN ? value.toString("hex") : Buffer.from(value);
  };
  // (1, 5) A real lifetime, and an expiry that frees the allocation's socket.
  Allocation.prototype.update = function (this: NtAllocation, lifetime?: number) {
    const secs = Number.isFinite(lifetime) && (lifetime as number) > 0 ? (lifetime as number) : this.lifetime;
    const { clock, timers } = time(this.server);
    timers.clearTimeout(this.timer);
    this.timer = timers.setTimeout(() => endAllocation(this), secs * 1000);
    this.timeToExpiry = clock.now() + secs * 1000;
  };
}

function endAllocation(a: NtAllocation): void {
  time(a.server).timers.clearTimeout(a.timer);
  if (a.server.allocations[a.fiveTuple] === a) delete a.server.allocations[a.fiveTuple];
  for (const s of a.sockets) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
}

/** Starts the embedded TURN relay (node-turn, UDP, long-term credentials) for tests and demos; deployments run coturn. */
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
  timeOf.set(server, { clock: o.clock ?? systemClock, timers: o.timers ?? systemTimers });
  // (1) The fields Refresh reads.
  server.defaultLifetime = server.defaultAllocatetLifetime;
  server.maxAllocateTimeout = server.maxAllocateLifetime;
  wrapAllocate(server, host);
  wrapAuth(server);
  replaceEvenPort(server);
  signChannelBind(server);
  wrapRefresh(server);
  const nonceTimers = wrapNonces(server);
  server.start();
  const sock = server.network.sockets[0];
  await new Promise<void>((resolve, reject) => {
    sock.once("listening", () => resolve());
    sock.once("error", reject);
  });
  // (4) ChannelData from the client, relayed to the channel's peer. (8) The
  // header is read here, not by decodeChannelData, which holds to RFC 8656's
  // 0x4000-0x4FFF: node-turn's ChannelBind grants RFC 5766's 0x4000-0x7FFE
  // (coturn's client picks from all of it), and every channel it grants must carry data.
  sock.on("message", (data: Buffer, rinfo: dgram.RemoteInfo) => {
    if (!looksLikeChannelData(data)) return;
    const channel = data.readUInt16BE(0);
    const length = data.readUInt16BE(2);
    if (channel > MAX_CHANNEL_5766 || CHANNEL_HEADER + length > data.length) return;
    const a = server.allocations[fiveTuple(rinfo, host, port)];
    const peer = a?.channelBindings[String(channel)];
    if (!a || !peer) return;
    a.sockets[0]?.send(data.subarray(CHANNEL_HEADER, CHANNEL_HEADER + length), peer.port, peer.address);
  });
  let down: Promise<void> | undefined;
  // close() and destroy() share one teardown (a destroy during a close waits for the same one).
  const life = new LifecycleState("embedded TURN relay", () =>
    (down ??= (async () => {
      // (5) Every allocation's socket and timer, then the listener.
      for (const a of Object.values(server.allocations)) endAllocation(a);
      for (const t of nonceTimers) clearTimeout(t);
      nonceTimers.clear();
      await new Promise<void>((resolve) => {
        sock.once("close", () => resolve());
        server.stop();
      });
    })()),
  );
  return {
    url: `turn:${net.isIPv6(host) ? `[${host}]` : host}:${port}`,
    host,
    port,
    allocations: () => Object.keys(server.allocations).length,
    get lifetime() {
      return life.lifetime;
    },
    get closed() {
      return life.closed;
    },
    close: () => life.close(),
    destroy: (err?: Error) => life.destroy(err),
  };
}

/** (3, 5) One Allocate per 5-tuple at a time; a fresh allocation gets our expiry. */
function wrapAllocate(server: NtServer, host: string): void {
  const inner = server.allocate.allocate.bind(server.allocate);
  const busy = new Set<string>();
  server.allocate.allocate = (msg, reply) => {
    // (9) REQUESTED-ADDRESS-FAMILY: 0x01 IPv4, 0x02 IPv6; we relay in the host's family only.
    const family = msg.attributes.find((a) => a.type === REQUESTED_ADDRESS_FAMILY)?.value as Buffer | undefined;
    if (!msg.allocation && family && family[0] !== (net.isIPv6(host) ? 2 : 1)) return reply.reject(440, "Address Family not Supported");
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

/**
 * (6) EVEN-PORT on a random even port of the range. node-turn's binds the client's
 * own port number, and for R=1 keeps port+1 in the allocation but never returns a
 * token; we keep no reservations, so R=1 gets 508 (RFC 8656 §7.2: cannot satisfy).
 */
function replaceEvenPort(server: NtServer): void {
  // Thrown into node-turn, which answers 508 for any failure here.
  const capacity = (text: string) => new TurnError(text, { server: "embedded relay", reason: "capacity", status: 508 });
  server.allocate.allocateUdpEven = async (msg, reserveNext) => {
    if (reserveNext) throw capacity("port reservations (EVEN-PORT R=1) are not supported");
    const ip = server.allocate.getRelayIp(msg);
    const first = server.minPort + (server.minPort % 2);
    const evens = Math.floor((server.maxPort - first) / 2) + 1;
    if (evens < 1) throw capacity("no even port in the relay range");
    for (let i = 0; i < Math.min(evens, 64); i++) {
      const port = first + 2 * randomInt(evens);
      const s = dgram.createSocket(net.isIPv6(ip) ? "udp6" : "udp4");
      const bound = await new Promise<boolean>((resolve) => {
        s.once("error", () => resolve(false));
        s.bind({ address: ip, port, exclusive: true }, () => resolve(true));
      });
      if (bound) {
        s.removeAllListeners("error");
        return [s];
      }
      s.close();
    }
    throw capacity("no free even port in the relay range");
  };
}

/** (7) ChannelBind successes signed, like node-turn's other answers (RFC 8489 §9.2.4: clients check). */
function signChannelBind(server: NtServer): void {
  const inner = server.channelBind.channelBind.bind(server.channelBind);
  server.channelBind.channelBind = (msg, reply) => {
    const { resolve } = reply;
    reply.resolve = () => {
      reply.addAttribute("message-integrity"); // node-turn skips it when no user authenticated
      resolve.call(reply);
    };
    inner(msg, reply);
  };
}

/** (9) An unknown comprehension-required attribute gets 420 naming it (RFC 8489 §6.3.1); optional ones are ignored. */
function wrapAuth(server: NtServer): void {
  const auth = server.authentification;
  const inner = auth.auth.bind(auth);
  auth.auth = (msg, cb) => {
    const unknown = msg.attributes.find((a) => a.name === "unknown" && a.type < 0x8000 && a.type !== REQUESTED_ADDRESS_FAMILY);
    if (!unknown || msg.class !== 0 /* request */) return inner(msg, cb);
    const reply = msg.reply();
    reply.addAttribute("unknown-attributes", unknown.type);
    reply.reject(420, "Unknown Attribute");
    cb(new Error("unknown comprehension-required attribute"));
  };
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
