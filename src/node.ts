/**
 * Node: a TCP server on every usable interface, the user's message callbacks,
 * a signed address, and connect() through the strategies in ranked order.
 */
import { EventEmitter } from "node:events";
import net from "node:net";
import type { Duplex } from "node:stream";
import { DirectStrategy, type DirectOptions } from "./strategies/direct.ts";
import { PunchStrategy, type PunchOptions } from "./strategies/punch.ts";
import { ReverseStrategy, type ReverseOptions } from "./strategies/reverse.ts";
import { encodeAddress, newerAddress, parseAddress, type AddressInterface, type NodeAddress } from "./identity/address.ts";
import { AbortError, AddressError, ConnectError, InvalidArgumentError, isP2PError, NodeClosedError, PeerIdentityError, TimeoutError } from "./errors.ts";
import { handshake, type HandshakeParams, type HandshakeResult, type HandshakeRole } from "./session/handshake.ts";
import { HandshakeAdmission } from "./server/handshake-admission.ts";
import { Identity, isNodeId, type NodeId } from "./identity/identity.ts";
import { InboundWaiters } from "./server/inbound-waiters.ts";
import { listInterfaces, publishedInterfaces } from "./identity/interfaces.ts";
import { classifyIp, isLoopback, isPrivateOrLocal } from "./util/ip.ts";
import { mayDialFor } from "./connect/dial-policy.ts";
import { createLogger, type Logger, type LogLevel } from "./util/logger.ts";
import type { Message } from "./pipe/message.ts";
import { discoverNat } from "./nat/discovery.ts";
import type { NatReport } from "./nat/types.ts";
import { applyReport } from "./identity/nat-summary.ts";
import { startPortMapping, stunDialPortVerifier, type PortMapping } from "./portmap/index.ts";
import { parseStunUri } from "./stun/uri.ts";
import { Pipe, resolvePipeOptions, type MessageHandler, type PipeOptions } from "./pipe/pipe.ts";
import { rankStrategies, type RankedStrategy } from "./connect/ranking.ts";
import type { RateLimitOptions } from "./signaling/rate-limit.ts";
import { Signaling } from "./signaling/signaling.ts";
import type { DialContext, ResponderContext, SignalingPort, Strategy, StrategyName } from "./strategies/strategy.ts";

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
  /** TURN servers (turn:host:port). @default [] */
  turn?: string[];
  /**
   * Ask the gateway for a mapping of our TCP port (PCP, NAT-PMP, UPnP IGD v1/v2),
   * renewed until close(). Verified through one of our STUN servers (dial-port)
   * and published as verified only then. Never on a loopback-only node. @default false
   */
  portMapping?: boolean;
  /** Consulted for every authenticated inbound pipe. @default accept all */
  accept?: (peerId: NodeId, info: { strategy?: string; remoteAddress?: string }) => boolean | Promise<boolean>;
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

export interface ConnectOptions {
  /** Brokers to reach the peer when connecting by node id alone (its address is fetched first). */
  brokers?: string[];
  /** Overall deadline (ms). @default the node's connectTimeout */
  timeout?: number;
  signal?: AbortSignal;
  /** Restrict or reorder strategies. @default ranked automatically */
  strategies?: StrategyName[];
  /** Progress events: strategy start/fail, dial attempts. */
  onProgress?: (event: string, detail: Record<string, unknown>) => void;
}

export interface NodeEvents {
  pipe: [Pipe];
  nat: [NatReport];
  address: [string];
  close: [];
}

const DEFAULTS = Object.freeze({
  port: 0,
  handshakeTimeout: 10_000,
  connectTimeout: 20_000,
  addressTtl: 86_400,
  maxPendingHandshakes: 1024,
  maxPendingHandshakesPerSource: 16,
  handshakeFirstMessageTimeout: 5000,
});

export class Node extends EventEmitter<NodeEvents> {
  readonly identity: Identity;
  readonly logger: Logger;
  readonly #opts: Required<Pick<NodeOptions, keyof typeof DEFAULTS>> & NodeOptions;
  readonly #pipeOptions: PipeOptions;
  readonly #servers: net.Server[] = [];
  readonly #pipes = new Set<Pipe>();
  readonly #pending = new Set<Duplex>();
  #admission?: HandshakeAdmission<net.Socket>; // created (and its limits checked) by the first #listenOne
  readonly #handlers: MessageHandler[] = [];
  readonly #strategies: Strategy[];
  #signaling?: Signaling;
  readonly #lifetime = new AbortController();
  readonly #expected = new InboundWaiters();
  /** The newest address seen of each peer we connected to (bounded, least recent first). */
  readonly #peerAddresses = new Map<NodeId, NodeAddress>();
  /** Peers seen on our LAN (insertion order = least recently seen first; bounded). */
  readonly #lanPeers = new Set<NodeId>();
  #port = 0;
  #interfaces: AddressInterface[] = [];
  #seq = 0;
  #address!: NodeAddress;
  #refreshTimer?: NodeJS.Timeout;
  #closed = false;
  #closing?: Promise<void>;
  #nat?: NatReport;
  #mapping?: PortMapping;
  #mappingStart?: Promise<void>;
  #discovery?: Promise<NatReport | undefined>;
  readonly #discoveryAbort = new AbortController();

  constructor(identity: Identity, opts: NodeOptions) {
    super();
    this.identity = identity;
    this.#opts = { ...DEFAULTS, ...opts };
    this.logger = (opts.logger ?? createLogger(opts.logLevel)).child("node");
    this.#pipeOptions = resolvePipeOptions(opts.pipe);
    const direct = new DirectStrategy(opts.direct);
    this.#strategies = [direct, new ReverseStrategy(opts.reverse, direct), new PunchStrategy(opts.punch)];
  }

  get id(): NodeId {
    return this.identity.id;
  }
  /** The node's current signed address, as a string to share. */
  get addr(): string {
    return this.#address.text;
  }
  /** The parsed form of addr. */
  get address(): NodeAddress {
    return this.#address;
  }
  /** The TCP port the node listens on. */
  get port(): number {
    return this.#port;
  }
  /** The last NAT discovery report (undefined before it finishes, or without STUN servers). */
  get nat(): NatReport | undefined {
    return this.#nat;
  }

  /** Resolves with the NAT report once discovery finished (undefined without STUN servers). */
  natReady(): Promise<NatReport | undefined> {
    return this.#discovery ?? Promise.resolve(undefined);
  }

  /** Open pipes (both directions). */
  get pipes(): ReadonlySet<Pipe> {
    return this.#pipes;
  }

  /**
   * Registers a message callback: it receives every message on pipes that peers
   * opened to this node (your protocol). Returns a function that removes it.
   */
  onMessage(handler: (msg: Message, pipe: Pipe) => void | Promise<void>): () => void {
    this.#handlers.push(handler);
    return () => {
      const i = this.#handlers.indexOf(handler);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  /** @internal */
  async listen(): Promise<void> {
    const hosts = this.#opts.host === undefined ? undefined : [this.#opts.host].flat();
    if (hosts?.length === 0) throw new InvalidArgumentError("host must name at least one address");
    let port = this.#opts.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`port must be 0..65535, got ${port}`);
    const targets = hosts ?? ["::"];
    for (const host of targets) {
      try {
        port = await this.#listenOne(host, port);
      } catch (err) {
        if (!hosts && host === "::") port = await this.#listenOne("0.0.0.0", port); // no IPv6 on this host
        else throw err;
      }
    }
    this.#port = port;
    this.#interfaces = publishedInterfaces(listInterfaces(), { hosts, port: this.#port, names: this.#opts.interfaces });
    this.#resign();
    if (this.#opts.stun?.length) this.#startDiscovery(hosts);
    if (this.#opts.portMapping && !(hosts && hosts.every(isLoopback))) this.#mappingStart = this.#startPortMapping();
    if (this.#opts.signaling?.length) await this.#startSignaling();
  }

  /** Connects to the brokers (start does not fail if some are down) and serves the strategies' requests. */
  async #startSignaling(): Promise<void> {
    const sig = new Signaling({
      identity: this.identity,
      brokers: this.#opts.signaling,
      logger: this.logger.child("signaling"),
      getAddress: () => this.addr,
      accept: this.#opts.accept ? (peerId, info) => this.#opts.accept!(peerId, { strategy: info.type }) : undefined,
      allowPrivateBrokers: this.#opts.allowPrivate ?? false,
      rateLimit: this.#opts.rateLimit,
    });
    for (const strategy of this.#strategies) {
      for (const [type, r] of Object.entries(strategy.responders ?? {})) {
        sig.on(type, (body, from) => r.handle(body, from, this.#responderContext(), this.#lifetime.signal), { dialsOut: r.dialsOut });
      }
    }
    this.#signaling = sig;
    const status = await sig.start({ signal: this.#lifetime.signal });
    for (const b of status) if (b.state !== "up") this.logger.warn("signaling broker is not reachable yet; retrying in the background", { broker: b.url, error: b.error });
  }

  #responderContext(): ResponderContext {
    return {
      identity: this.identity,
      local: this.#address,
      stun: this.#opts.stun ?? [],
      logger: this.logger.child("responder"),
      secure: (stream, role, peer, signal, extra) =>
        handshake(stream, {
          identity: this.identity,
          role,
          params: { ...this.#handshakeParams(), ...extra },
          expectedRemoteId: peer,
          timeout: this.#opts.handshakeTimeout,
          signal,
        }),
      adopt: (res, strategy) => {
        if (this.#closed) return void res.stream.destroy();
        // The peer asked for this session: it is "inbound" (our callbacks apply) whoever dialled TCP.
        const pipe = this.#adopt(res.stream, res.session, res.role, strategy, true, res.remoteAddress, res.remotePort);
        this.emit("pipe", pipe);
      },
      mayDial: (requester, host) => this.#mayDialFor(requester, host),
      background: (task) => {
        task.catch(() => {});
        this.#signaling?.hold(task);
      },
    };
  }

  #rememberAddress(a: NodeAddress): void {
    this.#peerAddresses.delete(a.id);
    this.#peerAddresses.set(a.id, a);
    if (this.#peerAddresses.size > 1024) this.#peerAddresses.delete(this.#peerAddresses.keys().next().value as NodeId);
  }

  /** The dial policy for endpoints a peer sent us (src/connect/dial-policy.ts). */
  #mayDialFor(requester: NodeAddress, host: string): boolean {
    return mayDialFor({ requester, host, allowPrivate: this.#opts.allowPrivate ?? false, seenOnLan: this.#lanPeers.has(requester.id) });
  }

  /** Remembers peers whose authenticated pipe came from a private address: proof they share our network. */
  #noteLanPeer(id: NodeId, remoteAddress: string | undefined): void {
    if (!remoteAddress || classifyIp(remoteAddress) !== "private") return;
    this.#lanPeers.delete(id);
    this.#lanPeers.add(id);
    if (this.#lanPeers.size > 1024) this.#lanPeers.delete(this.#lanPeers.values().next().value as NodeId);
  }

  /** Asks a peer for its current signed address over signaling (addresses change with IPs and mappings). */
  async fetchAddress(peerId: NodeId, brokers: string[], opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<NodeAddress> {
    if (!this.#signaling) throw new InvalidArgumentError("fetchAddress needs signaling brokers (startNode({ signaling }))");
    const reply = (await this.#signaling.request(peerId, brokers, "get-addr", {}, { timeout: opts.timeout, signal: opts.signal })) as { address?: unknown };
    if (typeof reply?.address !== "string") throw new AddressError("the peer's get-addr reply carries no address");
    const addr = parseAddress(reply.address);
    if (addr.id !== peerId) throw new PeerIdentityError(`asked ${peerId} for its address and got one for ${addr.id}`);
    return addr;
  }

  /** Runs NAT discovery in the background; the address is re-signed when it reports. */
  #startDiscovery(hosts: string[] | undefined): void {
    // One discovery per published interface with an IPv4 address, all at once: each
    // interface may sit behind a different NAT. (IPv6 discovery is not published yet.)
    const targets = this.#interfaces
      .map((itf, index) => ({ index, ip: [...itf.v4.private, ...itf.v4.public][0] }))
      .filter((t): t is { index: number; ip: string } => t.ip !== undefined);
    const wildcard = !hosts || hosts.some((h) => h === "::" || h === "0.0.0.0");
    const runs = targets.map(({ index, ip }) =>
      discoverNat({
        servers: this.#opts.stun!,
        // On a wildcard node with one interface, let the OS pick the route (as peers will see it).
        localAddress: wildcard && targets.length === 1 ? undefined : ip,
        timeout: this.#opts.discoveryTimeout ?? 2000,
        signal: this.#discoveryAbort.signal,
        logger: this.logger.child("nat"),
      }).then(
        (report) => {
          if (this.#closed) return report;
          if (this.#interfaces[index]) this.#interfaces[index] = applyReport(this.#interfaces[index], report);
          for (const w of [...report.warnings, ...(report.udp?.warnings ?? []), ...(report.tcp?.warnings ?? [])]) this.logger.warn(`NAT discovery (${ip}): ${w}`);
          return report;
        },
        (err) => {
          if (!this.#closed) this.logger.warn("NAT discovery failed", { interface: ip, error: (err as Error).message });
          return undefined;
        },
      ),
    );
    const defaultIndex = Math.max(0, this.#interfaces.findIndex((x) => x.isDefault));
    this.#discovery = Promise.all(runs).then((reports) => {
      if (this.#closed) return undefined;
      // `node.nat` is the default interface's report (or the first that came back).
      const pick = reports[targets.findIndex((t) => t.index === defaultIndex)] ?? reports.find(Boolean);
      this.#nat = pick;
      this.#resign();
      if (pick) this.emit("nat", pick);
      return pick;
    });
  }

  /** Asks the gateway for a mapping of our port; publishes it (verified or not) when it is granted. */
  async #startPortMapping(): Promise<void> {
    const verifyVia = (this.#opts.stun ?? []).map((u) => parseStunUri(u)).find((u) => u.family === 4);
    const server = this.#servers[0];
    try {
      const mapping = await startPortMapping({
        internalPort: this.#port,
        signal: this.#lifetime.signal,
        logger: this.logger.child("portmap"),
        verify: verifyVia ? stunDialPortVerifier({ family: 4, address: verifyVia.host, port: verifyVia.port }, { listener: server, logger: this.logger }) : undefined,
      });
      if (!mapping) return void this.logger.debug("no gateway offered a port mapping");
      if (this.#closed) return void (await mapping.close());
      this.#mapping = mapping;
      this.logger.info("port mapping granted", { method: mapping.method, external: `${mapping.externalIp}:${mapping.externalPort}`, verified: mapping.verified });
      this.#publishMapping();
      mapping.on("renewed", (r) => r.changed && this.#publishMapping());
      mapping.on("lost", (err) => {
        this.logger.warn("port mapping lost", { error: (err as Error)?.message });
        this.#mapping = undefined;
        this.#publishMapping();
      });
    } catch (err) {
      if (!this.#closed) this.logger.warn("port mapping failed", { error: (err as Error).message });
    }
  }

  /** Puts the current mapping (or its absence) on the default interface and re-signs. */
  #publishMapping(): void {
    const i = Math.max(0, this.#interfaces.findIndex((x) => x.isDefault));
    const itf = this.#interfaces[i];
    if (!itf) return;
    const m = this.#mapping;
    const next: AddressInterface = { ...itf, v4: { ...itf.v4, public: [...itf.v4.public] }, mappedPort: m?.externalPort, mappedVerified: m ? m.verified : undefined };
    if (m && !isPrivateOrLocal(m.externalIp) && !next.v4.public.includes(m.externalIp)) next.v4.public.push(m.externalIp);
    this.#interfaces[i] = next;
    this.#resign();
  }

  /** The port mapping in force, if any. */
  get portMapping(): { method: string; externalIp: string; externalPort: number; verified: boolean; leaseSeconds: number } | undefined {
    const m = this.#mapping;
    return m && { method: m.method, externalIp: m.externalIp, externalPort: m.externalPort, verified: m.verified, leaseSeconds: m.leaseSeconds };
  }

  /** Resolves once the port-mapping attempt has finished (granted, refused or none). */
  async portMappingReady(): Promise<void> {
    await this.#mappingStart;
  }

  /** @internal Waits for discovery and port mapping up to `discoveryWait` (startNode's budget). */
  async waitForDiscovery(): Promise<void> {
    const work = [this.#discovery, this.#mappingStart].filter(Boolean);
    if (!work.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(work), new Promise((r) => (timer = setTimeout(r, this.#opts.discoveryWait ?? 1000)))]);
    clearTimeout(timer);
  }

  #listenOne(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      // One admission for all of the node's servers, so listening on several hosts does not multiply the limits.
      this.#admission ??= new HandshakeAdmission({ maxPending: this.#opts.maxPendingHandshakes, maxPerSource: this.#opts.maxPendingHandshakesPerSource });
      const first = this.#opts.handshakeFirstMessageTimeout;
      if (typeof first !== "number" || !(first > 0)) throw new InvalidArgumentError(`handshakeFirstMessageTimeout must be a positive number of ms, got ${String(first)}`);
      const server = net.createServer({ allowHalfOpen: true, noDelay: true });
      server.maxConnections = this.#opts.maxPendingHandshakes * 16;
      server.once("error", reject);
      server.listen({ host, port, ipv6Only: false, backlog: 1024 }, () => {
        server.off("error", reject);
        server.on("error", (err) => this.logger.warn("server error", { error: err.message }));
        server.on("connection", (s) => this.#onConnection(s));
        this.#servers.push(server);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Signs a fresh address (new seq) and schedules the next refresh before expiry. */
  #resign(): void {
    const ttl = this.#opts.addressTtl;
    // seq: ms since the epoch, and always above the last one, so an address signed
    // after a restart is newer than every one before it ("newer seq wins", newerAddress()).
    const first = this.#seq === 0;
    this.#seq = Math.max(this.#seq + 1, Date.now());
    const text = encodeAddress(this.identity, {
      seq: this.#seq,
      expires: Math.floor(Date.now() / 1000) + ttl,
      interfaces: this.#interfaces,
      signaling: this.#opts.signaling ?? [],
      relays: this.#opts.turn ?? [],
    });
    this.#address = parseAddress(text);
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => this.#resign(), Math.max(1000, ttl * 800)); // at 80% of the lifetime
    this.#refreshTimer.unref();
    if (!first) this.emit("address", text);
  }

  #handshakeParams(strategy?: string): HandshakeParams {
    return { maxMessageSize: this.#pipeOptions.maxMessageSize, strategy };
  }

  #onConnection(socket: net.Socket): void {
    const admission = this.#admission;
    if (this.#closed || !admission) return void socket.destroy();
    const remoteAddress = socket.remoteAddress;
    const decision = admission.admit(socket, remoteAddress);
    if (!decision.admit) {
      // Once per 1,000 refusals: a flood must not also flood the log.
      if (admission.refused % 1000 === 1) {
        this.logger.warn("refusing inbound handshakes (too many pending)", { remote: remoteAddress, reason: decision.reason, refused: admission.refused });
      }
      return void socket.destroy();
    }
    if (decision.shed) {
      // The oldest connection that never sent a handshake message makes room; its handshake fails and cleans up.
      this.#pending.delete(decision.shed);
      decision.shed.destroy();
    }
    socket.on("error", () => {}); // errors surface through the handshake or the pipe
    this.#pending.add(socket);
    handshake(socket, {
      identity: this.identity,
      role: "responder",
      params: this.#handshakeParams(),
      timeout: this.#opts.handshakeTimeout,
      firstMessageTimeout: this.#opts.handshakeFirstMessageTimeout,
      onFirstMessage: () => admission.firstMessage(socket),
      accept: this.#opts.accept ? (id, p) => this.#opts.accept!(id, { strategy: p.strategy, remoteAddress }) : undefined,
    }).then(
      (session) => {
        admission.release(socket);
        this.#pending.delete(socket);
        if (this.#closed) return void socket.destroy();
        const token = session.remoteParams.token;
        // A connection we asked for (reverse) goes to the waiting connect(), if the right peer made it.
        const waiter = token !== undefined ? this.#expected.claim(token, session.remoteId) : undefined;
        if (waiter === "wrong-peer") {
          this.logger.warn("a reverse-connect token arrived from the wrong peer; dropping it", { from: session.remoteId });
          return void socket.destroy();
        }
        if (waiter) return waiter({ stream: socket, session, role: "responder", remoteAddress, remotePort: socket.remotePort });
        const pipe = this.#adopt(socket, session, "responder", session.remoteParams.strategy ?? "inbound", true, remoteAddress, socket.remotePort);
        this.logger.debug("inbound pipe", { remoteId: pipe.remoteId, strategy: pipe.strategy });
        this.emit("pipe", pipe);
      },
      (err) => {
        admission.release(socket);
        this.#pending.delete(socket);
        socket.destroy();
        this.logger.debug("inbound handshake failed", { remote: remoteAddress, error: (err as Error).message });
      },
    );
  }

  #adopt(
    stream: Duplex,
    session: HandshakeResult,
    role: HandshakeRole,
    strategy: string,
    inbound: boolean,
    remoteAddress?: string,
    remotePort?: number,
  ): Pipe {
    const pipe = new Pipe({
      stream,
      session,
      role,
      strategy,
      inbound,
      remoteAddress,
      remotePort,
      options: this.#pipeOptions,
      dispatch: { active: () => this.#handlers.length > 0, dispatch: this.#dispatch },
      logger: this.logger,
    });
    this.#pipes.add(pipe);
    this.#noteLanPeer(session.remoteId, remoteAddress);
    void pipe.closed.then(() => this.#pipes.delete(pipe));
    return pipe;
  }

  #dispatch: MessageHandler = async (msg, pipe) => {
    for (const h of [...this.#handlers]) {
      try {
        await h(msg, pipe);
      } catch (err) {
        // One callback's failure must not starve the others or kill the pipe.
        this.logger.warn("a message callback threw", { remoteId: pipe.remoteId, error: (err as Error).message });
      }
    }
  };

  /**
   * Connects to a peer by its address, trying the strategies in ranked order.
   * Resolves with an authenticated Pipe whose `strategy` says which one won;
   * rejects with ConnectError (each strategy's failure in `errors`),
   * PeerIdentityError, AddressError, TimeoutError or AbortError.
   */
  async connect(addr: string | NodeAddress, opts: ConnectOptions = {}): Promise<Pipe> {
    if (this.#closed) throw new NodeClosedError("the node is closed");
    const timeout = opts.timeout ?? this.#opts.connectTimeout;
    const started = Date.now();
    let remote: NodeAddress;
    if (typeof addr === "string" && isNodeId(addr)) {
      if (!opts.brokers?.length) throw new InvalidArgumentError("connecting by node id needs the peer's brokers (connect(id, { brokers }))");
      opts.onProgress?.("fetch-address", { peer: addr, ms: 0 });
      const fetched = await this.fetchAddress(addr, opts.brokers, { timeout, signal: opts.signal });
      // A reply can be old (delayed, or a stale cache on the peer's side): keep the newest we have seen.
      const known = this.#peerAddresses.get(addr);
      remote = known && known.expires * 1000 > Date.now() ? newerAddress(known, fetched) : fetched;
    } else {
      remote = typeof addr === "string" ? parseAddress(addr) : addr;
    }
    this.#rememberAddress(remote);
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => ctrl.abort(), timeout);
    const progress = (event: string, detail: Record<string, unknown> = {}) => {
      this.logger.debug(event, detail);
      opts.onProgress?.(event, { ...detail, ms: Date.now() - started });
    };
    const errors: Error[] = [];
    try {
      const signaling = this.#signalingPort(remote);
      for (const { strategy, cap, reason } of this.#rank(remote, opts.strategies)) {
        if (ctrl.signal.aborted) break;
        const fit = strategy.applies(this.#address, remote);
        if (fit.verdict === "no") {
          progress("strategy-skipped", { strategy: strategy.name, reason: fit.reason });
          continue;
        }
        progress("strategy", { strategy: strategy.name, reason: `${reason}; ${fit.reason}`, cap });
        const ctx: DialContext = {
          identity: this.identity,
          local: this.#address,
          remote,
          logger: this.logger.child(strategy.name),
          stun: this.#opts.stun ?? [],
          signaling,
          progress,
          secure: (stream, role, signal, extra) =>
            handshake(stream, {
              identity: this.identity,
              role,
              params: { ...this.#handshakeParams(strategy.name), ...extra },
              expectedRemoteId: remote.id,
              timeout: this.#opts.handshakeTimeout,
              signal,
            }),
          expectInbound: (token, o) => this.#expected.expect(remote.id, token, o),
          mayDial: (host) => this.#mayDialFor(remote, host),
        };
        // A capped attempt gets its own deadline so the next strategy still has time.
        const left = Math.max(1, timeout - (Date.now() - started));
        const attempt = new AbortController();
        const onOuter = () => attempt.abort();
        ctrl.signal.addEventListener("abort", onOuter, { once: true });
        const capTimer = cap !== undefined && cap < left ? setTimeout(() => attempt.abort(), cap) : undefined;
        try {
          const res = await strategy.dial(ctx, { signal: attempt.signal, timeout: Math.min(left, cap ?? left) });
          if (this.#closed) {
            res.stream.destroy();
            throw new NodeClosedError("the node closed during connect()");
          }
          const pipe = this.#adopt(res.stream, res.session, res.role, strategy.name, false, res.remoteAddress, res.remotePort);
          progress("connected", { strategy: strategy.name });
          return pipe;
        } catch (err) {
          if (isP2PError(err) && err.name === "PeerIdentityError") throw err;
          errors.push(err as Error);
          progress("strategy-failed", { strategy: strategy.name, error: (err as Error).message });
        } finally {
          clearTimeout(capTimer);
          ctrl.signal.removeEventListener("abort", onOuter);
        }
      }
      if (opts.signal?.aborted) throw new AbortError("connect() was aborted");
      if (ctrl.signal.aborted) {
        throw new TimeoutError(`could not connect to ${remote.id} within ${timeout} ms${errors.length ? `: ${errors.map((x) => x.message).join("; ")}` : ""}`);
      }
      const err = new ConnectError(
        errors.length ? `could not connect to ${remote.id}: ${errors.map((e) => e.message).join("; ")}` : `no strategy applies to ${remote.id}`,
      );
      err.errors = errors;
      throw err;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  #signalingPort(remote: NodeAddress): SignalingPort | undefined {
    const sig = this.#signaling;
    if (!sig || !remote.signaling.length) return undefined;
    return {
      request: (type, body, o) => sig.request(remote.id, remote.signaling, type, body, o),
      ping: (o) => sig.ping(remote.id, remote.signaling, o),
    };
  }

  /** The strategies to try, in order, with caps (ranking from both addresses, or the caller's list). */
  #rank(remote: NodeAddress, only?: StrategyName[]): Array<RankedStrategy & { strategy: Strategy }> {
    const find = (n: StrategyName) => this.#strategies.find((x) => x.name === n);
    if (only) {
      return only.map((n) => {
        const strategy = find(n);
        if (!strategy) throw new InvalidArgumentError(`unknown or unavailable strategy "${n}"`);
        return { name: n, reason: "requested", strategy };
      });
    }
    const helped = this.#signaling !== undefined && remote.signaling.length > 0;
    const available = new Set(this.#strategies.map((s) => s.name).filter((n) => n === "direct" || helped));
    return rankStrategies({ local: this.#address, remote, available }).map((r) => ({ ...r, strategy: find(r.name)! }));
  }

  /**
   * Stops the server, closes every pipe gracefully (bounded by the pipes'
   * closeTimeout) and frees every timer. Idempotent; never throws.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      clearTimeout(this.#refreshTimer);
      this.#discoveryAbort.abort();
      this.#lifetime.abort();
      await this.#mappingStart;
      await this.#mapping?.close(); // deletes the external port on the gateway
      await this.#signaling?.close();
      await this.#discovery; // frees discovery's sockets before close() resolves
      for (const s of this.#pending) s.destroy();
      const servers = this.#servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      await Promise.all([...this.#pipes].map((p) => p.close()));
      await Promise.all(servers);
      this.emit("close");
    })();
    return this.#closing;
  }
}

/** Starts a node: listens, builds and signs its address. */
export async function startNode(opts: NodeOptions = {}): Promise<Node> {
  if (opts.identity && opts.identityFile) throw new InvalidArgumentError("give identity or identityFile, not both");
  const identity = opts.identity ?? (opts.identityFile ? await Identity.loadOrCreate(opts.identityFile) : Identity.generate());
  const node = new Node(identity, opts);
  try {
    await node.listen();
    await node.waitForDiscovery();
  } catch (err) {
    await node.close();
    throw err;
  }
  return node;
}
