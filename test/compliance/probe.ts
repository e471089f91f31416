/**
 * Compliance helpers: a Probe wraps a real strategy inside a real node, so a
 * test can take the exact DialContext the node lends the strategy for one
 * peer and then call the strategy itself (with fake time, its own signal and
 * budget); and a count of the process's live sockets and timers.
 */
import assert from "node:assert/strict";
import net from "node:net";
import type { Duplex } from "node:stream";
import { DialError } from "../../src/errors.ts";
import type { NodeAddress } from "../../src/identity/address.ts";
import type { Node } from "../../src/node.ts";
import type { Applicability, DialContext, DialResult, Responder, SignalingPort, Strategy } from "../../src/strategies/strategy.ts";

export class Probe implements Strategy {
  readonly inner: Strategy;
  readonly name: Strategy["name"];
  readonly responders?: Readonly<Record<string, Responder>>;
  readonly relays?: readonly string[];
  #capture?: (ctx: DialContext) => void;
  #tap?: WireTap;

  constructor(inner: Strategy) {
    this.inner = inner;
    this.name = inner.name;
    this.responders = inner.responders;
    this.relays = inner.relays;
  }

  applies(local: NodeAddress, remote: NodeAddress): Applicability {
    return this.inner.applies(local, remote);
  }

  dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult> {
    const capture = this.#capture;
    const tap = this.#tap;
    if (tap) {
      this.#tap = undefined;
      // Every stream the strategy hands to the handshake is tapped from that moment on.
      const secure = ctx.secure;
      return this.inner.dial({ ...ctx, secure: (stream, role, signal, extra) => tap.attach(stream, secure(stream, role, signal, extra)) }, opts);
    }
    if (!capture) return this.inner.dial(ctx, opts);
    this.#capture = undefined;
    capture(ctx);
    return Promise.reject(new DialError("probe: context taken, not dialled"));
  }

  /** Taps the next dial's raw streams (see WireTap). */
  tapNext(): WireTap {
    return (this.#tap = new WireTap());
  }

  /**
   * The context `node` lends this strategy for a connect() to `addr`, with a
   * signaling port that counts what the strategy sends through it, and a
   * count of its progress events.
   */
  async context(node: Node, addr: string): Promise<{ ctx: DialContext; signalingCalls: () => number; progressCalls: () => number }> {
    let got: DialContext | undefined;
    this.#capture = (c) => (got = c);
    await node.connect(addr, { strategies: [this.name], timeout: 30_000 }).catch(() => {});
    this.#capture = undefined;
    assert.ok(got, `${this.name} did not apply to the address, no context to take`);
    let calls = 0;
    const sig = got.signaling;
    const signaling: SignalingPort | undefined = sig && {
      request: (type, body, o) => (calls++, sig.request(type, body, o)),
      ping: (o) => (calls++, sig.ping(o)),
    };
    let events = 0;
    const progress = got.progress;
    const counted: DialContext["progress"] = (event, detail) => (events++, progress(event, detail));
    return { ctx: { ...got, signaling, progress: counted }, signalingCalls: () => calls, progressCalls: () => events };
  }
}

/** Live sockets, servers and timers of this process (what keeps the event loop alive). */
export function resources(): Record<string, number> {
  const out: Record<string, number> = { TCPSocketWrap: 0, TCPServerWrap: 0, Timeout: 0 };
  for (const r of process.getActiveResourcesInfo()) if (r in out) out[r]++;
  return out;
}

/**
 * The process's resources once they stopped changing (three equal readings
 * in a row): what an earlier test closed may still be winding down.
 */
export async function settledResources(ms = 3000): Promise<Record<string, number>> {
  const end = Date.now() + ms;
  let last = resources();
  let same = 0;
  while (same < 2 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 25));
    const now = resources();
    same = JSON.stringify(now) === JSON.stringify(last) ? same + 1 : 0;
    last = now;
  }
  return last;
}

/**
 * Resolves once the process holds the `baseline`'s sockets and servers
 * again and no more timers than it (timers of lower layers, like a signaling
 * message's expiry, may end meanwhile); fails with the difference if it still
 * does not after `ms`. Closing sockets takes a turn or two of the event loop,
 * so this polls; a leak never goes back.
 */
export async function backTo(baseline: Record<string, number>, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  const ok = (r: Record<string, number>) => r.TCPSocketWrap === baseline.TCPSocketWrap && r.TCPServerWrap === baseline.TCPServerWrap && r.Timeout <= baseline.Timeout;
  let now = resources();
  while (!ok(now) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    now = resources();
  }
  assert.ok(ok(now), `${what}: sockets or timers left behind: ${JSON.stringify(now)} after, ${JSON.stringify(baseline)} before`);
}

/** "pending" unless `p` has settled once pending I/O callbacks ran. */
export async function state(p: Promise<unknown>): Promise<"pending" | "settled"> {
  const mark = Symbol();
  const r = await Promise.race([p.then(() => "settled" as const, () => "settled" as const), new Promise((res) => setImmediate(() => res(mark)))]);
  return r === mark ? "pending" : "settled";
}

/** Polls `fn` until it is true (real time, bounded): for events outside the test's control. */
export async function until(fn: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * What crossed a dial's raw streams (the stream a strategy hands to the
 * handshake: a socket, a relay stream, a reliable-UDP stream), each way,
 * and whether that stream's handshake had completed yet. Reads the stream's
 * own write() and 'data' events; it changes neither.
 */
export class WireTap {
  readonly chunks: Array<{ stream: number; dir: "out" | "in"; bytes: Buffer; authenticated: boolean }> = [];
  #streams = 0;

  /** Records `stream` from now on; its chunks count as authenticated once `handshake` resolved. */
  attach<T>(stream: Duplex, handshake: Promise<T>): Promise<T> {
    const mark = this.#watch(stream);
    return handshake.then((r) => (mark(), r));
  }

  /**
   * For a strategy whose stream reaches the node's listener (reverse: the
   * peer dials back): taps every socket accepted on `port` until `stop()`;
   * `authenticated()` marks the moment connect() resolved.
   */
  static inbound(port: number): { tap: WireTap; authenticated(): void; stop(): void } {
    const tap = new WireTap();
    const marks: Array<() => void> = [];
    const seen = new WeakSet<net.Socket>();
    const proto = net.Socket.prototype;
    const own = Object.hasOwn(proto, "emit");
    const emit = proto.emit;
    proto.emit = function (this: net.Socket, event: string | symbol, ...args: unknown[]) {
      if (!seen.has(this) && this.localPort === port && this.remotePort !== undefined) {
        seen.add(this);
        const stream = this as Duplex;
        stream.emit = emit; // the tap patches this socket's own write and emit from here
        marks.push(tap.#watch(stream));
        return (stream.emit as (e: string | symbol, ...a: unknown[]) => boolean)(event, ...args);
      }
      return (emit as (this: net.Socket, e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args);
    } as typeof proto.emit;
    return { tap, authenticated: () => marks.forEach((m) => m()), stop: () => void (own ? (proto.emit = emit) : delete (proto as Partial<typeof proto>).emit) };
  }

  #watch(stream: Duplex): () => void {
    const id = this.#streams++;
    let authenticated = false;
    const record = (dir: "out" | "in", chunk: unknown) => {
      if (typeof chunk === "string" || chunk instanceof Uint8Array) this.chunks.push({ stream: id, dir, bytes: Buffer.from(chunk), authenticated });
    };
    const write = stream.write;
    stream.write = function (this: Duplex, chunk: unknown, ...rest: unknown[]) {
      record("out", chunk);
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    const emit = stream.emit;
    stream.emit = function (this: Duplex, event: string | symbol, ...args: unknown[]) {
      if (event === "data") record("in", args[0]);
      return emit.call(this, event, ...args);
    } as typeof stream.emit;
    return () => void (authenticated = true);
  }

  /** Every byte (of `dir`, when given) before or after its stream's handshake completed (either, when not given). */
  bytes(o: { authenticated?: boolean; dir?: "out" | "in" } = {}): Buffer {
    return Buffer.concat(this.chunks.filter((c) => (o.authenticated === undefined || c.authenticated === o.authenticated) && (!o.dir || c.dir === o.dir)).map((c) => c.bytes));
  }
}
