/**
 * Node, the façade: resolves the options once, wires the parts together and
 * owns their lifecycle. The parts: the TCP servers and inbound admission
 * (src/server/), the signed address (src/identity/publisher.ts), NAT discovery
 * and port mapping (src/node-network.ts), signaling and the strategies'
 * responders (src/node-signaling.ts), and connect() (src/connect/orchestrator.ts,
 * with what it borrows from the node built by src/connect/node-deps.ts).
 *
 * close() (or destroy()) aborts the node's lifetime first: every connect() in
 * flight rejects with NodeClosedError, and close() resolves after they have.
 */
import { connectToPeer } from "./connect/orchestrator.ts";
import { fetchAddress } from "./connect/fetch-address.ts";
import { connectDeps, secureWith, sessionParams, type ConnectBase, type SecureFn } from "./connect/node-deps.ts";
import { PeerMemory } from "./connect/peers.ts";
import { InvalidArgumentError, NodeClosedError } from "./errors.ts";
import type { NodeAddress } from "./identity/address.ts";
import { Identity, type NodeId } from "./identity/identity.ts";
import { listInterfaces, publishedInterfaces } from "./identity/interfaces.ts";
import { AddressPublisher } from "./identity/publisher.ts";
import type { NatReport } from "./nat/types.ts";
import { NodeNetwork, type PortMappingInfo } from "./node-network.ts";
import { checkNodeOptions, resolveNodeOptions, type ConnectOptions, type NodeOptions, type ResolvedNodeOptions } from "./options.ts";
import type { Message } from "./pipe/message.ts";
import { resolvePipeOptions, type Pipe, type PipeOptions } from "./pipe/pipe.ts";
import { InboundAcceptor } from "./server/inbound.ts";
import { PipeSet } from "./server/pipes.ts";
import { InboundWaiters } from "./server/inbound-waiters.ts";
import { listenAll, type Listening } from "./server/listener.ts";
import { openSignaling } from "./node-signaling.ts";
import type { Signaling } from "./signaling/signaling.ts";
import { defaultStrategies, relayUris } from "./strategies/index.ts";
import type { DialResult, Strategy } from "./strategies/strategy.ts";
import { isLoopback } from "./util/ip.ts";
import { Closable } from "./util/closable.ts";
import { sleep } from "./util/clock.ts";
import type { Logger } from "./util/logger.ts";

export type { ConnectOptions, NodeOptions } from "./options.ts";

/** The events a Node emits: `pipe` (a peer connected), `nat` (discovery finished), `address` (re-signed), `close`. */
export interface NodeEvents {
  pipe: [Pipe];
  nat: [NatReport];
  address: [string];
  close: [];
}

/** A running p2pnode: its TCP servers, signed address and identity. Made by startNode(); runs until close() or destroy(). */
export class Node extends Closable<NodeEvents> {
  readonly identity: Identity;
  readonly logger: Logger;
  readonly #o: ResolvedNodeOptions;
  readonly #pipeOptions: PipeOptions;
  readonly #strategies: readonly Strategy[];
  readonly #pipes: PipeSet;
  readonly #connecting = new Set<Promise<unknown>>();
  readonly #waiters: InboundWaiters;
  readonly #inbound: InboundAcceptor;
  readonly #peers: PeerMemory;
  readonly #publisher: AddressPublisher;
  readonly #network: NodeNetwork;
  readonly #secure: SecureFn;
  readonly #connectBase: ConnectBase;
  #listening?: Listening;
  #signaling?: Signaling;

  /** Prefer startNode(); `opts` are resolved and checked here (InvalidArgumentError names the option). */
  constructor(identity: Identity, opts: NodeOptions) {
    super("node");
    this.identity = identity;
    const o = (this.#o = resolveNodeOptions({ ...opts, identity: undefined, identityFile: undefined }));
    this.logger = o.logger;
    this.#pipeOptions = resolvePipeOptions(opts.pipe);
    this.#strategies = opts.strategies
      ? [...opts.strategies]
      : defaultStrategies({ ...opts, turn: { allowPrivate: o.allowPrivate, ...opts.turnOptions, servers: o.turn } });
    this.#peers = new PeerMemory({ allowPrivate: o.allowPrivate });
    this.#pipes = new PipeSet({ pipeOptions: this.#pipeOptions, logger: this.logger, clock: o.clock, timers: o.timers, onPipe: (id, at) => this.#peers.notePipe(id, at) });
    this.#waiters = new InboundWaiters({ timers: o.timers });
    this.#inbound = new InboundAcceptor({
      identity,
      maxPending: o.maxPendingHandshakes,
      maxPerSource: o.maxPendingHandshakesPerSource,
      handshakeTimeout: o.handshakeTimeout,
      firstMessageTimeout: o.handshakeFirstMessageTimeout,
      params: () => sessionParams(this.#pipeOptions),
      accept: o.accept,
      waiters: this.#waiters,
      onSession: (res, strategy) => this.#adoptInbound(res, strategy),
      lifetime: this.lifetime,
      logger: this.logger,
    });
    this.#publisher = new AddressPublisher({ ...o, identity, ttl: o.addressTtl, relays: relayUris(this.#strategies), onChange: (text) => this.emit("address", text) });
    this.#secure = secureWith(identity, o.handshakeTimeout, () => sessionParams(this.#pipeOptions));
    this.#connectBase = { ...o, identity, lifetime: this.lifetime, strategies: this.#strategies, peers: this.#peers, secure: this.#secure,
      local: () => this.address, signaling: () => this.#signaling, expectInbound: (peer, token, w) => this.#waiters.expect(peer, token, w) };
    this.#network = new NodeNetwork({ ...o, publisher: this.#publisher, lifetime: this.lifetime, onNat: (report) => this.emit("nat", report) });
  }

  get id(): NodeId {
    return this.identity.id;
  }
  /** The node's current signed address, as a string to share. */
  get addr(): string {
    return this.#publisher.address.text;
  }
  /** The parsed form of addr. */
  get address(): NodeAddress {
    return this.#publisher.address;
  }
  /** The TCP port the node listens on. */
  get port(): number {
    return this.#listening?.port ?? 0;
  }
  /** The last NAT discovery report (undefined before it finishes, or without STUN servers). */
  get nat(): NatReport | undefined {
    return this.#network.nat;
  }
  /** The IPv6 discovery report (firewall or open; undefined without an IPv6 STUN server or global IPv6 address). */
  get nat6(): NatReport | undefined {
    return this.#network.nat6;
  }
  /** Resolves with the NAT report once discovery finished (undefined without STUN servers). */
  natReady(): Promise<NatReport | undefined> {
    return this.#network.natReady();
  }
  /** The port mapping in force, if any. */
  get portMapping(): PortMappingInfo | undefined {
    return this.#network.portMapping;
  }
  /** Resolves once the port-mapping attempt has finished (granted, refused or none). */
  portMappingReady(): Promise<void> {
    return this.#network.portMappingReady();
  }
  /** Open pipes (both directions). */
  get pipes(): ReadonlySet<Pipe> {
    return this.#pipes.pipes;
  }

  /**
   * Registers a message callback: it receives every message on pipes that peers
   * opened to this node (your protocol). Returns a function that removes it.
   */
  onMessage(handler: (msg: Message, pipe: Pipe) => void | Promise<void>): () => void {
    return this.#pipes.onMessage(handler);
  }

  /** @internal Listens, signs the first address, starts discovery, port mapping and signaling. */
  async listen(): Promise<void> {
    const o = this.#o;
    const listening = (this.#listening = await listenAll({ hosts: o.hosts, port: o.port, maxConnections: o.maxPendingHandshakes * 16, logger: this.logger, onConnection: this.#inbound.handle }));
    this.#publisher.publish(publishedInterfaces(listInterfaces(), { hosts: o.hosts, port: listening.port, names: o.interfaces }));
    if (o.stun.length) this.#network.startDiscovery();
    if (o.portMapping && !(o.hosts && o.hosts.every(isLoopback))) this.#network.startPortMapping(listening.port, listening.servers[0]);
    if (!o.signaling.length) return;
    const { signaling, started } = openSignaling({
      options: o,
      identity: this.identity,
      logger: this.logger,
      lifetime: this.lifetime,
      strategies: this.#strategies,
      address: () => this.address,
      responder: {
        secure: this.#secure,
        adopt: (res, strategy, resume) => this.#adoptInbound(res, strategy, resume),
        mayDial: (requester, host) => this.#peers.mayDial(requester, host),
      },
      isKnownPeer: (id) => [...this.#pipes.pipes].some((p) => p.remoteId === id),
    });
    this.#signaling = signaling;
    await started;
  }

  /** @internal Waits for discovery and port mapping up to `discoveryWait` (startNode's budget). */
  async waitForDiscovery(): Promise<void> {
    const work = this.#network.starting;
    if (!work.length) return;
    const stop = new AbortController();
    await Promise.race([Promise.all(work), sleep(this.#o.discoveryWait, stop.signal, this.#o.timers)]);
    stop.abort(); // frees the sleep's timer
  }

  /** Asks a peer for its current signed address over signaling (addresses change with IPs and mappings). */
  async fetchAddress(peerId: NodeId, brokers: string[], opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<NodeAddress> {
    if (!this.#signaling) throw new InvalidArgumentError("fetchAddress needs signaling brokers (startNode({ signaling }))");
    return fetchAddress(this.#signaling, peerId, brokers, opts);
  }

  /** A session the peer asked for (inbound TCP, or a responder's dial): our callbacks apply, whoever dialled TCP. */
  #adoptInbound(res: DialResult, strategy: string, resume?: string): void {
    if (this.closed) return void res.stream.destroy();
    if (this.#pipes.resumeWith(res, strategy, resume) !== undefined) return; // a new path for a pipe we have, not a new pipe
    const pipe = this.#pipes.adopt(res, strategy, true);
    this.logger.debug("inbound pipe", { remoteId: pipe.remoteId, strategy: pipe.strategy });
    this.emit("pipe", pipe);
  }

  /**
   * Connects to a peer by its address (or its node id with `brokers`), trying
   * the strategies in ranked order. Resolves with an authenticated Pipe whose
   * `strategy` says which one won; rejects with ConnectError (each strategy's
   * failure in `errors`), PeerIdentityError, AddressError, TimeoutError,
   * AbortError (opts.signal) or NodeClosedError (the node is or got closed).
   */
  connect(addr: string | NodeAddress, opts: ConnectOptions = {}): Promise<Pipe> {
    if (this.closed) return Promise.reject(new NodeClosedError("the node is closed"));
    const deps = connectDeps(this.#connectBase, (res, strategy, trace) => this.#pipes.adopt(res, strategy, false, trace), opts);
    const call = connectToPeer(deps, addr, opts);
    const settled = call.catch(() => {});
    this.#connecting.add(settled);
    void settled.then(() => this.#connecting.delete(settled));
    return call;
  }

  /**
   * Aborts every connect() in flight, stops the servers, closes every pipe
   * gracefully (bounded by the pipes' closeTimeout) and frees every timer.
   * Memoized and idempotent; never rejects (see Closable).
   */
  protected override async onClose(): Promise<void> {
    this.#publisher.stop();
    await Promise.all([...this.#connecting]); // they stop at once: their deadlines hang off the lifetime
    await this.#network.close(); // deletes the external port on the gateway, frees discovery's sockets
    await this.#signaling?.close();
    this.#inbound.destroyPending();
    const servers = this.#listening?.close();
    await this.#pipes.closeAll();
    await servers;
    this.emit("close");
  }
}

/** Starts a node: listens, builds and signs its address. Rejects with InvalidArgumentError naming a bad option. */
export async function startNode(opts: NodeOptions = {}): Promise<Node> {
  checkNodeOptions(opts); // checks every option before a key file is read or a port bound
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
