/**
 * Reverse connect: when we accept inbound connections and the peer does not,
 * ask the peer over signaling to dial us. The connection that arrives is
 * matched to this connect() by the handshake's authenticated identity and a
 * one-time token, never by anything unauthenticated.
 *
 *   A (connect)                       broker                     B (guarded)
 *   expect(token) ─ reverse-connect{A's signed address, token} ─▶ check, dial A's endpoints
 *        ◀──────────── TCP + handshake (B initiator, params.token) ────────────
 *   pipe "reverse" ◀─────────────────── reply { connected } ────────────────────
 */
import { randomBytes } from "node:crypto";
import { parseAddress } from "../identity/address.ts";
import { base64urlEncode } from "../util/encoding.ts";
import { DialError, RefusedError, SignalingError } from "../errors.ts";
import { parseReverseConnect, REVERSE_CONNECT } from "../signaling/messages.ts";
import type { Applicability, DialContext, DialResult, Responder, ResponderContext, Strategy } from "./strategy.ts";
import type { NodeAddress } from "../identity/address.ts";
import { reachability } from "../connect/ranking.ts";
import { capCandidates } from "../connect/dial-policy.ts";
import { sleeper } from "../signaling/wait.ts";
import { DirectStrategy, directCandidates } from "./direct.ts";


export interface ReverseOptions {
  /** How long the peer gets to dial us after the request arrives (ms); a failed dial is answered exactly then. @default 5000 */
  dialTimeout: number;
}

/** The clock and sleep of the responder's constant-time failure (injected by tests). */
export interface ReverseComponents {
  clock?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export const REVERSE_DEFAULTS: Readonly<ReverseOptions> = Object.freeze({ dialTimeout: 5000 });

export class ReverseStrategy implements Strategy {
  readonly name = "reverse" as const;
  readonly options: ReverseOptions;
  readonly #direct: DirectStrategy;
  readonly responders: Readonly<Record<string, Responder>>;

  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(options: Partial<ReverseOptions> = {}, direct = new DirectStrategy(), components: ReverseComponents = {}) {
    this.options = { ...REVERSE_DEFAULTS, ...options };
    this.#direct = direct;
    this.#clock = components.clock ?? Date.now;
    const nap = sleeper();
    this.#sleep = components.sleep ?? ((ms, signal) => nap.sleep(ms, signal));
    this.responders = { [REVERSE_CONNECT]: { dialsOut: true, handle: (body, from, ctx, signal) => this.#respond(body, from, ctx, signal) } };
  }

  applies(local: NodeAddress, remote: NodeAddress): Applicability {
    if (!remote.signaling.length) return { verdict: "no", reason: "the peer lists no signaling server" };
    if (!local.signaling.length) return { verdict: "no", reason: "this node has no signaling server" };
    const ours = reachability(local);
    if (ours === "no") return { verdict: "no", reason: "this node does not accept inbound connections" };
    return { verdict: ours === "yes" ? "yes" : "maybe", reason: ours === "yes" ? "we accept inbound connections" : "we may accept inbound connections" };
  }

  async dial(ctx: DialContext, opts: { signal: AbortSignal; timeout: number }): Promise<DialResult> {
    if (!ctx.signaling) throw new DialError("reverse: no signaling channel to the peer");
    const token = base64urlEncode(randomBytes(18));
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const inbound = ctx.expectInbound(token, { timeout: opts.timeout, signal: ctrl.signal });
    inbound.catch(() => {}); // observed below; a failed request must not leave it unhandled
    try {
      ctx.progress("reverse-request", { peer: ctx.remote.id });
      const request = ctx.signaling.request(REVERSE_CONNECT, { address: ctx.local.text, token }, { timeout: opts.timeout, signal: ctrl.signal });
      // The connection usually arrives before the reply; a failed dial comes back as the reply.
      const first = await Promise.race([inbound.then((r) => ({ r })), request.then(() => ({ r: undefined }))]);
      if (first.r) {
        request.catch(() => {});
        return first.r;
      }
      return await inbound;
    } catch (err) {
      if (err instanceof RefusedError || err instanceof DialError || err instanceof SignalingError) {
        throw new DialError(`reverse: the peer could not connect to us (${err.message})`, { cause: err });
      }
      throw err;
    } finally {
      ctrl.abort();
      opts.signal.removeEventListener("abort", onAbort);
    }
  }

  /** On the peer that was asked: dial the requester's own signed endpoints, and nothing else. */
  async #respond(body: unknown, from: string, ctx: ResponderContext, signal: AbortSignal): Promise<unknown> {
    const req = parseReverseConnect(body);
    let requester: NodeAddress;
    try {
      requester = parseAddress(req.address);
    } catch (err) {
      throw new RefusedError(`reverse-connect: the requester's address is invalid: ${(err as Error).message}`);
    }
    if (requester.id !== from) throw new RefusedError("reverse-connect: the address belongs to another node");
    // A handful of the requester's own endpoints, one port per IP (docs/security.md §Dialling for a peer).
    const candidates = capCandidates(directCandidates(ctx.local, requester).filter((c) => ctx.mayDial(requester, c.host)));
    const dialCtx = {
      progress: (event: string, detail?: Record<string, unknown>) => ctx.logger.debug(event, detail),
      secure: (stream: Parameters<ResponderContext["secure"]>[0], _role: unknown, s: AbortSignal) =>
        ctx.secure(stream, "initiator", from, s, { strategy: "reverse" as const, token: req.token }),
    };
    const started = this.#clock();
    let result: DialResult;
    try {
      if (candidates.length === 0) throw new DialError("no endpoint of the requester may be dialled");
      result = await this.#direct.race(candidates, dialCtx, { signal, timeout: this.options.dialTimeout });
    } catch (err) {
      ctx.logger.debug("reverse-connect dial failed", { peer: from, error: (err as Error).message });
      // Every failure is answered at the same moment, dialTimeout after the request, whatever
      // happened (refused, filtered, nothing allowed): the reply's timing must not help anyone scan.
      await this.#sleep(started + this.options.dialTimeout - this.#clock(), signal);
      throw new DialError("could not connect to the requester");
    }
    ctx.adopt(result, "reverse");
    return { connected: true };
  }
}
