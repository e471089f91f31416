/**
 * The node's options: every default in one frozen object, validated once by
 * resolveNodeOptions() into a new object (never the caller's), so the layers
 * below read plain, typed values.
 */
import type { ProgressListener } from "./connect/progress.ts";
import { InvalidArgumentError } from "./errors.ts";
import type { Identity, NodeId } from "./identity/identity.ts";
import type { PipeOptions } from "./pipe/pipe.ts";
import type { RateLimitOptions } from "./signaling/rate-limit.ts";
import type { DirectOptions } from "./strategies/direct.ts";
import type { PunchOptions } from "./strategies/punch.ts";
import type { ReverseOptions } from "./strategies/reverse.ts";
import type { Strategy, StrategyName } from "./strategies/strategy.ts";
import type { TurnOptions } from "./strategies/turn.ts";
import { parseTurnServers, type TurnServer, type TurnServerConfig } from "./turn/uri.ts";
import { systemClock, systemTimers, type Clock, type Timers } from "./util/clock.ts";
import { createLogger, type Logger, type LogLevel } from "./util/logger.ts";

/** Options of startNode(); every one is optional. */
export interface NodeOptions {
  /** The node's identity; generated if neither this nor identityFile is given. */
  identity?: Identity;
  /** Load the identity from this PEM file, creating it (mode 0600) if missing. */
  identityFile?: string;
  /** Listening port; 0 picks a free one. @default 0 */
  port?: number;
  /** Listen only on these addresses (e.g. "127.0.0.1"). @default every interface, IPv4 and IPv6 */
  host?: string | string[];
  /** Publish only these interface names in the address. @default all usable */
  interfaces?: string[];
  logger?: Logger;
  /** Level for the default logger. @default process.env.P2PNODE_LOG or "silent" */
  logLevel?: LogLevel;
  /** The clock the node and everything below it read (tests pass a FakeTime). @default the system clock */
  clock?: Clock;
  /** The timers the node and everything below it use (tests pass a FakeTime). @default the system timers */
  timers?: Timers;
  pipe?: Partial<PipeOptions>;
  /** Handshake deadline for inbound and outbound pipes (ms). @default 10000 */
  handshakeTimeout?: number;
  /** Default deadline of connect() across all strategies (ms). @default 20000 */
  connectTimeout?: number;
  /** Lifetime of the signed address (s); it is re-signed before it expires. @default 86400 */
  addressTtl?: number;
  /**
   * Inbound handshakes in progress at once. When full, a new connection replaces one of
   * an over-share source or one that has not sent its first handshake message; it is
   * dropped only when there is none (docs/protocol.md, "Pending handshakes"). @default 1024
   */
  maxPendingHandshakes?: number;
  /**
   * The share of maxPendingHandshakes each source (an IPv4 address or an IPv6 /64) keeps
   * when they are all taken: a source at its share is then refused, and connections of a
   * source over it are the first replaced. @default 16
   */
  maxPendingHandshakesPerSource?: number;
  /**
   * An inbound connection must deliver its first handshake message within this many ms
   * (a real initiator sends it at once; a dialler gives up after 5 s), well before the
   * whole handshakeTimeout. @default 5000
   */
  handshakeFirstMessageTimeout?: number;
  /** Signaling brokers (mqtt://…). @default [] */
  signaling?: string[];
  /** STUN servers (stun:host:port) for NAT discovery at start. @default [] (no discovery) */
  stun?: string[];
  /** Hard limit of NAT discovery (ms). @default 2000 */
  discoveryTimeout?: number;
  /** How long startNode() waits for discovery before returning; later results update the address. @default 1000 */
  discoveryWait?: number;
  /**
   * Our TURN relays, in the WebRTC shape: `[{ urls: "turn:host:3478?transport=tcp", username, credential }]`.
   * With one, connect() can relay through it when nothing else works, and the
   * address lists its URLs (never the credentials). Without any, the node still
   * answers a peer that relays through its own server. @default []
   */
  turn?: ReadonlyArray<TurnServerConfig>;
  /** How the TURN strategy allocates (relay: "auto" | "tcp" | "udp", timeouts). @default TURN_DEFAULTS */
  turnOptions?: Partial<Omit<TurnOptions, "servers">>;
  /**
   * Ask the gateway for a mapping of our TCP port (PCP, NAT-PMP, UPnP IGD v1/v2),
   * renewed until close(). Verified through one of our STUN servers (dial-port)
   * and published as verified only then. Never on a loopback-only node. @default false
   */
  portMapping?: boolean;
  /** Consulted for every authenticated inbound pipe. @default accept all */
  accept?: (peerId: NodeId, info: { strategy?: string; remoteAddress?: string }) => boolean | Promise<boolean>;
  /**
   * The strategies this node dials with and answers for (src/strategies/strategy.ts),
   * each with a distinct name. @default defaultStrategies(): direct, reverse, punch,
   * built with the `direct`, `reverse` and `punch` options below
   */
  strategies?: readonly Strategy[];
  direct?: Partial<DirectOptions>;
  reverse?: Partial<ReverseOptions>;
  punch?: Partial<PunchOptions>;
  /**
   * Accept private and loopback endpoints and brokers from peers (tests, one
   * LAN). Otherwise a peer can only make us dial public endpoints of its own
   * signed address, or private ones when we share its public IP. @default false
   */
  allowPrivate?: boolean;
  /** Limits on signaling requests that make us dial out (reverse, punch). */
  rateLimit?: RateLimitOptions;
}

/** Options of node.connect(). */
export interface ConnectOptions {
  /** Brokers to reach the peer when connecting by node id alone (its address is fetched first). */
  brokers?: string[];
  /** Overall deadline (ms). @default the node's connectTimeout */
  timeout?: number;
  signal?: AbortSignal;
  /** Restrict or reorder strategies. @default ranked automatically */
  strategies?: StrategyName[];
  /** Progress events (src/connect/progress.ts): strategy start/skip/fail, dial attempts, punch steps. */
  onProgress?: ProgressListener;
  /**
   * A resumable pipe that a relay carries keeps trying the strategies better
   * than the relay in the background and moves to the first that connects
   * (a 'path' event says so; pipe.strategy follows). @default true unless
   * `strategies` is given
   */
  upgrade?: boolean;
}

/** Every default of NodeOptions that is a plain value. */
export const NODE_DEFAULTS = Object.freeze({
  port: 0,
  handshakeTimeout: 10_000,
  connectTimeout: 20_000,
  addressTtl: 86_400,
  maxPendingHandshakes: 1024,
  maxPendingHandshakesPerSource: 16,
  handshakeFirstMessageTimeout: 5000,
  discoveryTimeout: 2000,
  discoveryWait: 1000,
  portMapping: false,
  allowPrivate: false,
});

/** NodeOptions after defaults and validation (what the node's parts read). */
export interface ResolvedNodeOptions extends Omit<NodeOptions, keyof typeof NODE_DEFAULTS | "host" | "stun" | "signaling" | "turn" | "logger" | "clock" | "timers"> {
  port: number;
  handshakeTimeout: number;
  connectTimeout: number;
  addressTtl: number;
  maxPendingHandshakes: number;
  maxPendingHandshakesPerSource: number;
  handshakeFirstMessageTimeout: number;
  discoveryTimeout: number;
  discoveryWait: number;
  portMapping: boolean;
  allowPrivate: boolean;
  /** The addresses to listen on; undefined means every interface (wildcard). */
  hosts?: string[];
  stun: string[];
  signaling: string[];
  /** The `turn` option, validated (credentials stay inside; describeTurnServer() shows the rest). */
  turn: TurnServer[];
  /** The node's logger (already the "node" child). */
  logger: Logger;
  clock: Clock;
  timers: Timers;
}

const positive = (name: string, v: number) => {
  if (typeof v !== "number" || !(v > 0)) throw new InvalidArgumentError(`${name} must be a positive number of ms, got ${String(v)}`);
};

/** Fills in the defaults and checks the values, naming the option that is wrong. */
export function resolveNodeOptions(opts: NodeOptions = {}): ResolvedNodeOptions {
  checkNodeOptions(opts);
  const merged = { ...NODE_DEFAULTS, ...stripUndefined(opts) };
  return {
    ...merged,
    hosts: opts.host === undefined ? undefined : [opts.host].flat(),
    stun: [...(opts.stun ?? [])],
    signaling: [...(opts.signaling ?? [])],
    turn: parseTurnServers(opts.turn),
    logger: (opts.logger ?? createLogger(opts.logLevel)).child("node"),
    clock: opts.clock ?? systemClock,
    timers: opts.timers ?? systemTimers,
  };
}

/** Throws InvalidArgumentError for the first option that is wrong (startNode checks before reading a key file). */
export function checkNodeOptions(opts: NodeOptions): void {
  if (opts.identity && opts.identityFile) throw new InvalidArgumentError("give identity or identityFile, not both");
  const merged = { ...NODE_DEFAULTS, ...stripUndefined(opts) };
  const hosts = opts.host === undefined ? undefined : [opts.host].flat();
  if (hosts?.length === 0) throw new InvalidArgumentError("host must name at least one address");
  const port = merged.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`port must be 0..65535, got ${port}`);
  if (typeof merged.handshakeFirstMessageTimeout !== "number" || !(merged.handshakeFirstMessageTimeout > 0)) {
    throw new InvalidArgumentError(`handshakeFirstMessageTimeout must be a positive number of ms, got ${String(merged.handshakeFirstMessageTimeout)}`);
  }
  positive("connectTimeout", merged.connectTimeout);
  checkTurn(opts.turn);
  if (opts.strategies !== undefined) {
    checkStrategies(opts.strategies);
    // Silently dropping the servers would leave a user wondering why nothing relays.
    if (opts.turn?.length || opts.turnOptions) throw new InvalidArgumentError("turn and turnOptions set up the default TURN strategy; with your own strategies list, add new TurnStrategy({ servers }) to it instead");
  }
}

/** A bare URL string is the old shape (and would carry no credentials): say what to write instead. */
function checkTurn(list: NodeOptions["turn"]): void {
  if (Array.isArray(list) && list.some((e) => typeof e === "string")) {
    throw new InvalidArgumentError('turn takes servers in the WebRTC shape: [{ urls: "turn:host:3478", username, credential }], not bare URLs');
  }
  parseTurnServers(list);
}

function checkStrategies(list: readonly Strategy[]): void {
  if (!Array.isArray(list) || list.length === 0) throw new InvalidArgumentError("strategies must list at least one strategy");
  const names = new Set<string>();
  for (const s of list) {
    if (typeof s?.name !== "string" || typeof s.dial !== "function" || typeof s.applies !== "function") {
      throw new InvalidArgumentError("strategies: each entry must be a Strategy ({ name, applies, dial })");
    }
    if (names.has(s.name)) throw new InvalidArgumentError(`strategies: "${s.name}" is listed twice`);
    names.add(s.name);
  }
}

/** `{ port: undefined }` means the default, as it did before the options were resolved in one place. */
function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
