/**
 * The connection from our TURN client to the server: one UDP socket, or a
 * TCP / TLS stream split into STUN messages and ChannelData by StunFramer.
 * Either way it hands up whole frames ("frame") and ends once ("close").
 */
import dgram from "node:dgram";
import { EventEmitter } from "node:events";
import net from "node:net";
import tls from "node:tls";
import { TurnError } from "../errors.ts";
import { StunFramer } from "../stun/framer.ts";
import { toTransportAddress } from "../stun/ip.ts";
import type { TransportAddress } from "../stun/attributes.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import type { TurnTransport } from "./uri.ts";

export interface TurnLinkEvents {
  frame: [bytes: Uint8Array];
  close: [err?: Error];
}

export interface TurnLink extends EventEmitter<TurnLinkEvents> {
  /** TCP or TLS: the link itself is reliable (no retransmits; ChannelData padded). */
  readonly reliable: boolean;
  readonly transport: TurnTransport;
  readonly local: TransportAddress;
  /** Sends one whole STUN message or ChannelData. Dropped silently after close. */
  send(frame: Uint8Array): void;
  close(): void;
}

export interface OpenLinkOptions {
  server: TransportAddress;
  transport: TurnTransport;
  /** TLS server name (turns: with a host name). */
  servername?: string;
  /** Label for errors (the URI, without credentials). */
  label: string;
  signal?: AbortSignal;
  timeout: number;
}

/** Opens a link; rejects with TurnError (reason "closed" on a refused connect) or the deadline's reason. */
export async function openLink(o: OpenLinkOptions): Promise<TurnLink> {
  return o.transport === "udp" ? UdpLink.open(o) : StreamLink.open(o);
}

class UdpLink extends EventEmitter<TurnLinkEvents> implements TurnLink {
  readonly reliable = false;
  readonly transport = "udp" as const;
  readonly #sock: dgram.Socket;
  readonly #server: TransportAddress;
  #closed = false;

  private constructor(sock: dgram.Socket, server: TransportAddress) {
    super();
    this.#sock = sock;
    this.#server = server;
    sock.on("message", (msg, rinfo) => {
      // Only the server may speak on this socket: anything else is off-path noise.
      if (rinfo.port !== server.port || toTransportAddress(rinfo.address, rinfo.port).address !== server.address) return;
      this.emit("frame", new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    });
    sock.on("error", (err) => this.#end(err));
    sock.on("close", () => this.#end());
  }

  static async open(o: OpenLinkOptions): Promise<UdpLink> {
    const sock = dgram.createSocket({ type: o.server.family === 6 ? "udp6" : "udp4" });
    sock.on("error", () => {});
    const d = deadline({ timeout: o.timeout, signals: [o.signal], what: `TURN ${o.label}` });
    try {
      await raceSignal(new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(0, () => resolve());
      }), d.signal);
    } catch (err) {
      sock.close();
      throw err;
    } finally {
      d.done();
    }
    return new UdpLink(sock, o.server);
  }

  get local(): TransportAddress {
    const a = this.#sock.address();
    return toTransportAddress(a.address, a.port);
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#sock.send(frame, this.#server.port, this.#server.address, () => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#sock.close();
    this.#end();
  }

  #end(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("close", err);
  }
}

class StreamLink extends EventEmitter<TurnLinkEvents> implements TurnLink {
  readonly reliable = true;
  readonly transport: TurnTransport;
  readonly #sock: net.Socket;
  readonly #framer = new StunFramer();
  readonly #label: string;
  #closed = false;

  private constructor(sock: net.Socket, transport: TurnTransport, label: string) {
    super();
    this.#sock = sock;
    this.transport = transport;
    this.#label = label;
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#framer.push(chunk);
      } catch (err) {
        // The stream cannot be resynchronised after garbage.
        this.#end(new TurnError(`TURN ${label} sent bytes that are neither STUN nor ChannelData`, { server: label, reason: "protocol", cause: err }));
        sock.destroy();
        return;
      }
      for (const f of frames) this.emit("frame", f.bytes);
    });
    sock.on("error", (err) => this.#end(new TurnError(`TURN ${label}: ${err.message}`, { server: label, reason: "closed", cause: err })));
    sock.on("close", () => this.#end(new TurnError(`TURN ${label} closed the connection`, { server: label, reason: "closed" })));
  }

  static async open(o: OpenLinkOptions): Promise<StreamLink> {
    const opts = { host: o.server.address, port: o.server.port, family: o.server.family };
    const sock = o.transport === "tls" ? tls.connect({ ...opts, servername: o.servername, ALPNProtocols: [] }) : net.connect(opts);
    sock.on("error", () => {});
    const d = deadline({ timeout: o.timeout, signals: [o.signal], what: `TURN connect to ${o.label}` });
    try {
      await raceSignal(new Promise<void>((resolve, reject) => {
        sock.once(o.transport === "tls" ? "secureConnect" : "connect", () => resolve());
        sock.once("error", (err) => reject(new TurnError(`TURN ${o.label} unreachable: ${err.message}`, { server: o.label, reason: "closed", cause: err })));
      }), d.signal);
    } catch (err) {
      sock.destroy();
      throw err;
    } finally {
      d.done();
    }
    return new StreamLink(sock, o.transport, o.label);
  }

  get local(): TransportAddress {
    return toTransportAddress(this.#sock.localAddress ?? "", this.#sock.localPort ?? 0);
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#sock.write(frame);
  }

  close(): void {
    if (this.#closed) return;
    this.#sock.end();
    this.#sock.destroySoon?.();
    this.#end();
  }

  #end(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("close", err);
  }
}

