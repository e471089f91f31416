/**
 * Compliance helpers: a Probe wraps a real strategy inside a real node, so a
 * test can take the exact DialContext the node lends the strategy for one
 * peer and then call the strategy itself (with fake time, its own signal and
 * budget); and a count of the process's live sockets and timers.
 */
import assert from "node:assert/strict";
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
    if (!capture) return this.inner.dial(ctx, opts);
    this.#capture = undefined;
    capture(ctx);
    return Promise.reject(new DialError("probe: context taken, not dialled"));
  }

  /**
   * The context `node` lends this strategy for a connect() to `addr`, with a
   * signaling port that counts what the strategy sends through it.
   */
  async context(node: Node, addr: string): Promise<{ ctx: DialContext; signalingCalls: () => number }> {
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
    return { ctx: { ...got, signaling }, signalingCalls: () => calls };
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
