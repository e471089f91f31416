/**
 * TURN relay: the strategy that connects any pair of peers, ranked last. We
 * allocate on our own TURN server, let the peer's IPs in, and tell the peer
 * our relayed address over (end-to-end encrypted) signaling; the peer dials
 * it. Only our side needs TURN credentials.
 *
 *   A (connect, has TURN)             relay                      B
 *   Allocate, CreatePermission(B's IPs)
 *   ── turn-connect { A's address, token, relay, key? } over signaling ──▶ check relay ∈ A's relays
 *   TCP allocation (RFC 6062):  ◀── ConnectionAttempt ── B dials relay over TCP
 *   UDP allocation:             ◀── Data / ChannelData ── B sends reliable-UDP datagrams (src/rudp)
 *   handshake end to end (B initiator, params.token) → pipe "turn" on both sides
 *
 * The relay sees only ciphertext: the handshake and the Pipe run through it.
 * Over a UDP allocation every datagram also carries a tag under a key only
 * the two peers have, so the relay cannot forge acks or inject data.
 */
import { randomBytes, randomInt } from "node:crypto";
import { DialError, PeerIdentityError, RefusedError, TimeoutError, TurnError } from "../errors.ts";
import type { NodeAddress } from "../identity/address.ts";
import { decodePacket } from "../rudp/packet.ts";
import { RudpConnection } from "../rudp/connection.ts";
import { rudpDuplex } from "../rudp/duplex.ts";
import type { TransportAddress } from "../stun/codec.ts";
import { TurnClient } from "../turn/client.ts";
import { parseTurnServers, type TurnServer, type TurnServerConfig, type TurnUri } from "../turn/uri.ts";
import { asAbortError, deadline, raceSignal } from "../util/deadline.ts";
import { base64urlEncode } from "../util/encoding.ts";
import type { Applicability, DialContext, DialResult, Responder, ResponderContext, Strategy } from "./strategy.ts";
import { admitRequest } from "./responder.ts";
import { mayDialRelay, permitIps, relayHosts, TURN_CONNECT, parseTurnConnect } from "./turn-wire.ts";
import { dialRelay } from "./turn-dial.ts";

/** Options of the turn strategy: our TURN servers and its budgets. */
export interface TurnOptions {
  /** Our TURN servers (WebRTC shape). Without any, this strategy does not apply. */
  servers: ReadonlyArray<TurnServerConfig | TurnServer>;
  /** Budget for allocating (ms). @default 5000 */
  allocateTimeout: number;
  /** How long the peer gets to reach our relayed address (ms). @default 8000 */
  dialTimeout: number;
  /** Relayed transport: tcp (RFC 6062, needs a turn:?transport=tcp or turns: URI), udp, or auto (tcp where possible). @default "auto" */
  relay: "auto" | "tcp" | "udp";
  /** Accept private and loopback relays and peer IPs (tests, a relay on one trusted LAN). @default false */
  allowPrivate: boolean;
}

/** The turn strategy's defaults (every option but `servers`). */
export const TURN_DEFAULTS: Readonly<Omit<TurnOptions, "servers">> = Object.freeze({ allocateTimeout: 5000, dialTimeout: 8000, relay: "auto", allowPrivate: false });

/** The turn strategy: allocates on our TURN server and has the peer dial the relayed address; answers a peer's relay request too. */
export class TurnStrategy implements Strategy {
  readonly name = "turn" as const;
  readonly options: Omit<TurnOptions, "servers">;
  readonly servers: TurnServer[];
  readonly responders: Readonly<Record<string, Responder>>;

  constructor(options: Partial<TurnOptions> = {}) {
    const { servers = [], ...rest } = options;
    this.options = { ...TURN_DEFAULTS, ...rest };
    this.servers = servers.map((s) => ("uris" in s ? s : parseTurnServers([s])[0]));
    this.responders = { [TURN_CONNECT]: { dialsOut: true, handle: (body, from, ctx, signal) => this.#respond(body, from, ctx, signal) } };
  }

  /** The relay URIs to list in our address (no credentials). */
  get relays(): string[] {
    return this.servers.flatMap((s) => s.uris.map((u) => u.uri));
  }

  /** Applies when we have a TURN server and both sides have signaling. */
  applies(local: NodeAddress, remote: NodeAddress): Applicability {
    if (this.servers.length === 0) return { verdict: "no", reason: "no TURN server configured" };
    if (!remote.signaling.length || !local.signaling.length) return { verdict: "no", reason: "the relay's address goes to the peer over signaling, which one side lacks" };
    if (permitIps(remote, this.options.allowPrivate).length === 0) return { verdict: "no", reason: "the peer's address lists no IP the relay could let in" };
    return { verdict: "yes", reason: "a relay connects any pair (ranked last)" };
  }

  async dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult> {
    if (!ctx.signaling) throw new DialError("turn: no signaling channel to the peer");
    const settled = new AbortController();
    const d = deadline({ timeout: opts.timeout, signals: [opts.signal, settled.signal], what: "TURN connect", clock: ctx.clock, timers: ctx.timers });
    let client: TurnClient | undefined;
    try {
      const alloc = await this.#allocate(d.signal, ctx);
      client = alloc;
      const peers = permitIps(ctx.remote, this.options.allowPrivate);
      for (const ip of peers) await client.permit(ip, d.signal);
      const transport = alloc.relayTransport;
      const token = base64urlEncode(randomBytes(18));
      const key = randomBytes(32);
      const connId = randomInt(0, 2 ** 32);
      ctx.progress("turn-allocated", { server: client.label, relayed: `${client.relayed.address}:${client.relayed.port}`, transport });
      const arrived = transport === "tcp" ? awaitTcpPeer(client, peers, d.signal) : awaitUdpPeer(client, peers, key, connId, d.signal, ctx);
      arrived.catch(() => {});
      const body = { address: ctx.local.text, token, relay: { ip: client.relayed.address, port: client.relayed.port, transport }, ...(transport === "udp" ? { key: base64urlEncode(key), connId } : {}) };
      const request = ctx.signaling.request(TURN_CONNECT, body, { timeout: opts.timeout, signal: d.signal });
      request.catch(() => {});
      // The peer's connection usually arrives before its reply; a failure comes back as the reply.
      const first = await Promise.race([arrived.then((s) => ({ s })), request.then(() => ({ s: undefined }))]);
      const stream = first.s ?? (await arrived);
      const session = await ctx.secure(stream, "responder", d.signal, { strategy: "turn" });
      if (session.remoteParams.token !== token) {
        stream.destroy();
        throw new DialError("turn: the relayed connection did not carry our token");
      }
      const c = client;
      stream.once("close", () => void c.close());
      client = undefined; // the pipe owns it now
      ctx.progress("turn-connected", { server: c.label, transport });
      const relay = { relayed: `${c.relayed.address}:${c.relayed.port}`, transport, server: c.label };
      return { stream, session, role: "responder", remoteAddress: c.relayed.address, remotePort: c.relayed.port, relay };
    } catch (err) {
      if (opts.signal.aborted) throw asAbortError(opts.signal.reason, "TURN connect");
      if (d.signal.reason instanceof TimeoutError) throw new TimeoutError(`turn: the peer did not reach our relay within ${opts.timeout} ms`, { cause: err });
      // A peer that proved another key is PeerIdentityError, as for every strategy (connect() stops on it).
      if (err instanceof TurnError || err instanceof PeerIdentityError) throw err;
      throw new DialError(`turn: ${(err as Error).message}`, { cause: err });
    } finally {
      settled.abort();
      d.done();
      await client?.close();
    }
  }

  /** Allocates on the first server that grants one: a TCP relay where a TCP/TLS URI allows it, else UDP. */
  async #allocate(signal: AbortSignal, ctx: DialContext): Promise<TurnClient & { relayTransport: "tcp" | "udp" }> {
    const errors: Error[] = [];
    for (const server of this.servers) {
      for (const [uri, relay] of plan(server.uris, this.options.relay)) {
        try {
          const c = await TurnClient.allocate({ server, uri, relay, signal, timeout: this.options.allocateTimeout, timers: ctx.timers, logger: ctx.logger });
          return Object.assign(c, { relayTransport: relay });
        } catch (err) {
          if (signal.aborted) throw err;
          errors.push(err as Error);
        }
      }
    }
    // One relay tried: its own typed error (wrong credentials, quota…) says it best.
    if (errors.length === 1 && errors[0] instanceof TurnError) throw errors[0];
    throw new DialError(`turn: no relay granted an allocation: ${errors.map((e) => e.message).join("; ")}`, { cause: errors[0] });
  }

  /** On the peer that was asked: dial the requester's relayed address, if it is one of its listed relays. */
  async #respond(body: unknown, from: string, ctx: ResponderContext, signal: AbortSignal): Promise<unknown> {
    const { req, requester } = admitRequest(TURN_CONNECT, body, from, parseTurnConnect);
    const { ips } = relayHosts(requester);
    if (!mayDialRelay(req.relay.ip, ips, this.options.allowPrivate)) throw new RefusedError("turn-connect: the relayed address is not one of the requester's relays");
    const d = deadline({ timeout: this.options.dialTimeout, signals: [signal], what: "TURN dial", clock: ctx.clock, timers: ctx.timers });
    let stream: Awaited<ReturnType<typeof dialRelay>> | undefined;
    try {
      stream = await dialRelay(req, d.signal, { clock: ctx.clock, timers: ctx.timers });
      const session = await ctx.secure(stream, "initiator", from, d.signal, { strategy: "turn", token: req.token });
      const relay = { relayed: `${req.relay.ip}:${req.relay.port}`, transport: req.relay.transport };
      ctx.adopt({ stream, session, role: "initiator", remoteAddress: req.relay.ip, remotePort: req.relay.port, relay }, "turn");
      return { connected: true };
    } catch (err) {
      stream?.destroy();
      ctx.logger.debug("turn-connect dial failed", { peer: from, error: (err as Error).message });
      throw new DialError("could not reach the requester's relay");
    } finally {
      d.done();
    }
  }
}

/** Which (URI, relayed transport) pairs to try, in order. */
export function plan(uris: readonly TurnUri[], want: TurnOptions["relay"]): Array<[TurnUri, "tcp" | "udp"]> {
  const out: Array<[TurnUri, "tcp" | "udp"]> = [];
  const streamUris = uris.filter((u) => u.transport !== "udp");
  if (want !== "udp") for (const u of streamUris) out.push([u, "tcp"]);
  if (want !== "tcp") for (const u of uris) out.push([u, "udp"]);
  return out;
}

/** The peer's TCP connection through a TCP allocation (RFC 6062). */
function awaitTcpPeer(client: TurnClient, peers: readonly string[], signal: AbortSignal): Promise<import("node:net").Socket> {
  return raceSignal(
    new Promise((resolve, reject) => {
      const onAttempt = ({ connectionId, peer }: { connectionId: number; peer: TransportAddress }) => {
        if (!peers.includes(peer.address)) return;
        client.off("connection", onAttempt);
        client.acceptConnection(connectionId, { signal }).then(resolve, reject);
      };
      client.on("connection", onAttempt);
      signal.addEventListener("abort", () => client.off("connection", onAttempt), { once: true });
    }),
    signal,
  );
}

/**
 * The peer's reliable-UDP stream through a UDP allocation: the first datagram
 * that authenticates under our key picks the peer's address (its NAT's
 * mapping); anything else is dropped. Data to it then goes on a channel.
 */
function awaitUdpPeer(client: TurnClient, peers: readonly string[], key: Uint8Array, connId: number, signal: AbortSignal, ctx: DialContext): Promise<import("node:stream").Duplex> {
  return raceSignal(
    new Promise((resolve) => {
      let conn: RudpConnection | undefined;
      let peerAddr: TransportAddress | undefined;
      const onData = (peer: TransportAddress, data: Uint8Array) => {
        if (conn) {
          if (peer.address === peerAddr!.address && peer.port === peerAddr!.port) conn.input(data);
          return;
        }
        if (!peers.includes(peer.address) || !decodePacket(data, key, connId).ok) return;
        peerAddr = peer;
        const to = peer;
        conn = new RudpConnection({ connId, key, send: (b) => client.send(to, b), clock: ctx.clock, timers: ctx.timers });
        void client.bindChannel(to).catch((err) => ctx.logger.debug("TURN channel bind failed; staying on Send indications", { err: (err as Error).message }));
        const c = conn;
        c.on("close", () => client.off("data", onData));
        // The stream first, then the datagram: its bytes (the peer's HELLO) must find a reader.
        resolve(rudpDuplex(c));
        c.input(data);
      };
      client.on("data", onData);
      signal.addEventListener("abort", () => {
        if (!conn) client.off("data", onData);
      }, { once: true });
    }),
    signal,
  );
}
