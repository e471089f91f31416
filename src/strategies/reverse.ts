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
import { base64urlEncode } from "../util/encoding.ts";
import { sleep, systemClock, systemTimers, type Clock, type Timers } from "../util/clock.ts";
import { asAbortError, deadline } from "../util/deadline.ts";
import { DialError, RefusedError, SignalingError, TimeoutError } from "../errors.ts";
import { parseReverseConnect, REVERSE_CONNECT } from "../signaling/messages.ts";
import type { Applicability, DialContext, DialResult, Responder, ResponderContext, Strategy } from "./strategy.ts";
import type { NodeAddress } from "../identity/address.ts";
import { reachability } from "../identity/reachability.ts";
import { capCandidates } from "./dial-policy.ts";
import type { StrategyProgress } from "./progress.ts";
import { admitRequest } from "./responder.ts";
import { DirectStrategy, directCandidates } from "./direct.ts";

export interface ReverseOptions {
  /** How long the peer gets to dial us after the request arrives (ms); a failed dial is answered exactly then. @default 5000 */
  dialTimeout: number;
}

/**
 * The clock and timers of the responder's constant-time failure when the
 * responder context carries none (the node's, passed in the context, come first).
 */
export interface ReverseComponents {
  clock?: Clock;
  timers?: Timers;
}

export const REVERSE_DEFAULTS: Readonly<ReverseOptions> = Object.freeze({ dialTimeout: 5000 });

export class ReverseStrategy implements Strategy {
  readonly name = "reverse" as const;
  readonly options: ReverseOptions;
  readonly #direct: DirectStrategy;
  readonly responders: Readonly<Record<string, Responder>>;

  readonly #components: ReverseComponents;

  constructor(options: Partial<ReverseOptions> = {}, direct = new DirectStrategy(), components: ReverseComponents = {}) {
    this.options = { ...REVERSE_DEFAULTS, ...options };
    this.#direct = direct;
    this.#components = components;
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
    // Ends the inbound wait and the request together: on the caller's abort, on our
    // deadline, and once this dial is settled either way (finally).
    const settled = new AbortController();
    const d = deadline({ timeout: opts.timeout, signals: [opts.signal, settled.signal], what: "reverse connect", clock: ctx.clock, timers: ctx.timers });
    const inbound = ctx.expectInbound(token, { timeout: opts.timeout, signal: d.signal });
    inbound.catch(() => {}); // observed below; a failed request must not leave it unhandled
    try {
      ctx.progress("reverse-request", { peer: ctx.remote.id });
      const request = ctx.signaling.request(REVERSE_CONNECT, { address: ctx.local.text, token, ...(ctx.resume ? { resume: ctx.resume } : {}) }, { timeout: opts.timeout, signal: d.signal });
      // The connection usually arrives before the reply; a failed dial comes back as the reply.
      const first = await Promise.race([inbound.then((r) => ({ r })), request.then(() => ({ r: undefined }))]);
      if (first.r) {
        request.catch(() => {});
        return first.r;
      }
      return await inbound;
    } catch (err) {
      // The caller's abort and our own deadline say what stopped us, whatever the wait saw.
      if (opts.signal.aborted) throw asAbortError(opts.signal.reason, "reverse connect");
      if (d.signal.reason instanceof TimeoutError) throw new TimeoutError(`reverse: the peer did not connect back within ${opts.timeout} ms`, { cause: err });
      if (err instanceof RefusedError || err instanceof DialError || err instanceof SignalingError) {
        throw new DialError(`reverse: the peer could not connect to us (${err.message})`, { cause: err });
      }
      throw err;
    } finally {
      settled.abort();
      d.done();
    }
  }

  /** On the peer that was asked: dial the requester's own signed endpoints, and nothing else. */
  async #respond(body: unknown, from: string, ctx: ResponderContext, signal: AbortSignal): Promise<unknown> {
    const { req, requester } = admitRequest(REVERSE_CONNECT, body, from, parseReverseConnect);
    const clock = ctx.clock ?? this.#components.clock ?? systemClock;
    const timers = ctx.timers ?? this.#components.timers ?? systemTimers;
    // A handful of the requester's own endpoints, one port per IP (docs/security.md §Dialling for a peer).
    const candidates = capCandidates(directCandidates(ctx.local, requester).filter((c) => ctx.mayDial(requester, c.host)));
    const dialCtx = {
      timers,
      progress: logProgress(ctx),
      secure: (stream: Parameters<ResponderContext["secure"]>[0], _role: unknown, s: AbortSignal) =>
        ctx.secure(stream, "initiator", from, s, { strategy: "reverse" as const, token: req.token }),
    };
    const started = clock.now();
    let result: DialResult;
    try {
      if (candidates.length === 0) throw new DialError("no endpoint of the requester may be dialled");
      result = await this.#direct.race(candidates, dialCtx, { signal, timeout: this.options.dialTimeout });
    } catch (err) {
      ctx.logger.debug("reverse-connect dial failed", { peer: from, error: (err as Error).message });
      // Every failure is answered at the same moment, dialTimeout after the request, whatever
      // happened (refused, filtered, nothing allowed): the reply's timing must not help anyone scan.
      await sleep(started + this.options.dialTimeout - clock.now(), signal, timers);
      throw new DialError("could not connect to the requester");
    }
    // A new path for a pipe we share (the requester's pipe lost its path): the node hands the
    // session to that pipe, whose RESUME exchange then proves it belongs to the same session.
    ctx.adopt(result, "reverse", req.resume);
    return { connected: true };
  }
}

/** The responder's dial reports to its log (nobody's connect() is watching it). */
function logProgress(ctx: ResponderContext): StrategyProgress {
  return (event, detail) => ctx.logger.debug(event, detail);
}
