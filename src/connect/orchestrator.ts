/**
 * connect(): the address (parsed, or fetched by id over signaling), the
 * strategies in ranked order, each attempt under its own capped deadline so
 * the next still has time, and one typed error at the end. Every wait hangs
 * off one deadline linked to the caller's signal and the node's lifetime, so
 * close() stops a connect() in flight at once.
 */
import { AbortError, ConnectError, InvalidArgumentError, NodeClosedError, PeerIdentityError, TimeoutError } from "../errors.ts";
import { parseAddress, type NodeAddress } from "../identity/address.ts";
import { isNodeId, type Identity, type NodeId } from "../identity/identity.ts";
import type { HandshakeParams, HandshakeResult, HandshakeRole } from "../session/handshake.ts";
import type { Signaling } from "../signaling/signaling.ts";
import type { DialContext, DialResult, SignalingPort, Strategy, StrategyName } from "../strategies/strategy.ts";
import type { Clock, Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";
import type { Logger } from "../util/logger.ts";
import { fetchAddress } from "./fetch-address.ts";
import type { PeerMemory } from "./peers.ts";
import type { ProgressDetails, ProgressEventName, ProgressListener } from "./progress.ts";
import { race, RaceLost, type AttemptRecord, type RaceEntry } from "./race.ts";
import { rankStrategies, type RankedStrategy } from "./ranking.ts";
import { describeAttempt, type ConnectAttempt } from "../util/trace.ts";

/** What the node lends the orchestrator (all of it read at call time: the address changes). */
export interface ConnectDeps<P> {
  identity: Identity;
  logger: Logger;
  clock: Clock;
  timers: Timers;
  stun: readonly string[];
  connectTimeout: number;
  /** The node's lifetime: aborted by close(). */
  lifetime: AbortSignal;
  strategies: readonly Strategy[];
  local(): NodeAddress;
  signaling(): Signaling | undefined;
  peers: PeerMemory;
  /** The handshake as initiator or responder, checking the peer is `expected`. */
  secure(stream: DialResult["stream"], role: HandshakeRole, expected: NodeId, signal: AbortSignal, params: Partial<HandshakeParams>): Promise<HandshakeResult>;
  expectInbound(peer: NodeId, token: string, opts: { timeout: number; signal: AbortSignal }): Promise<DialResult>;
  /** Wraps a dialled session in the node's pipe type; `trace` says how connect() got it. */
  adopt(res: DialResult, strategy: StrategyName, trace: readonly ConnectAttempt[]): P;
  /** Set when the connect finds a new path for an existing pipe: its resume id (DialContext.resume). */
  resume?: string;
}

export interface ConnectCall {
  brokers?: string[];
  timeout?: number;
  signal?: AbortSignal;
  strategies?: StrategyName[];
  onProgress?: ProgressListener;
}

/**
 * Connects to `addr` (an address, its text, or a node id with `brokers`).
 * Rejects with ConnectError (each strategy's failure in `errors`),
 * PeerIdentityError, AddressError, TimeoutError, AbortError (the caller's
 * signal) or NodeClosedError (the node closed meanwhile).
 */
export async function connectToPeer<P>(deps: ConnectDeps<P>, addr: string | NodeAddress, opts: ConnectCall = {}): Promise<P> {
  if (deps.lifetime.aborted) throw new NodeClosedError("the node is closed");
  const timeout = opts.timeout ?? deps.connectTimeout;
  const started = deps.clock.now();
  const elapsed = () => deps.clock.now() - started;
  const d = deadline({ timeout, signals: [opts.signal, deps.lifetime], what: "connect()", clock: deps.clock, timers: deps.timers });
  try {
    let remote: NodeAddress;
    if (typeof addr === "string" && isNodeId(addr)) {
      if (!opts.brokers?.length) throw new InvalidArgumentError("connecting by node id needs the peer's brokers (connect(id, { brokers }))");
      const sig = deps.signaling();
      if (!sig) throw new InvalidArgumentError("fetchAddress needs signaling brokers (startNode({ signaling }))");
      opts.onProgress?.("fetch-address", { peer: addr, ms: 0 });
      // The request keeps its own timeout (its TimeoutError says what it saw); only aborts come from d.
      const link = deadline({ signals: [opts.signal, deps.lifetime], what: "get-addr" });
      const fetched = await fetchAddress(sig, addr, opts.brokers, { timeout: d.remaining(), signal: link.signal })
        .catch((err: unknown) => {
          throw link.signal.aborted ? stopped(deps, opts, addr, timeout, []) : err;
        })
        .finally(() => link.done());
      remote = deps.peers.newest(fetched, deps.clock.now());
    } else {
      remote = typeof addr === "string" ? parseAddress(addr) : addr;
    }
    deps.peers.rememberAddress(remote);
    return await runStrategies(deps, remote, opts, d, elapsed, timeout);
  } finally {
    d.done();
  }
}

async function runStrategies<P>(
  deps: ConnectDeps<P>,
  remote: NodeAddress,
  opts: ConnectCall,
  d: ReturnType<typeof deadline>,
  elapsed: () => number,
  timeout: number,
): Promise<P> {
  const emit = <K extends ProgressEventName>(event: K, detail: Omit<ProgressDetails[K], "ms">) => {
    deps.logger.debug(event, detail as Record<string, unknown>);
    (opts.onProgress as ((e: string, x: Record<string, unknown>) => void) | undefined)?.(event, { ...detail, ms: elapsed() });
  };
  const signaling = signalingPort(deps.signaling(), remote);
  const trace: ConnectAttempt[] = [];
  const entries: Array<RaceEntry<DialResult> & { reason: string; strategy: Strategy }> = [];
  const plan = rank(deps, remote, opts.strategies);
  for (const r of plan) {
    const fit = r.strategy.applies(deps.local(), remote);
    if (fit.verdict === "no") {
      emit("strategy-skipped", { strategy: r.name, reason: fit.reason });
      trace.push({ strategy: r.name, outcome: "skipped", reason: fit.reason, startMs: elapsed(), endMs: elapsed() });
      continue;
    }
    const reason = `${r.reason}; ${fit.reason}`;
    entries.push({
      name: r.name,
      strategy: r.strategy,
      reason,
      expectMs: r.expectMs,
      cap: r.cap,
      exclusive: r.exclusive,
      run: (signal, budget) => {
        emit("strategy", { strategy: r.name, reason, cap: r.cap });
        // Nothing more from an attempt once it has ended (cancelled, timed out): the trace stays in order.
        const ctx = dialContext(deps, remote, r.strategy, signaling, (event, detail) => void (signal.aborted || emit(event, detail as never)));
        return r.strategy.dial(ctx, { signal, timeout: budget });
      },
    });
  }
  const t0 = elapsed();
  const toTrace = (a: AttemptRecord): ConnectAttempt => {
    const e = entries.find((x) => x.name === a.name)!;
    const shift = (v?: number) => (v === undefined ? undefined : v + t0);
    const reason = a.outcome === "failed" ? (a.error?.message ?? "failed") : a.outcome === "not-started" ? "the race ended before its turn" : e.reason;
    return { strategy: a.name, outcome: a.outcome, startMs: shift(a.startMs), endMs: shift(a.endMs), reason };
  };
  // The trace in plan order, whatever order the attempts ended in.
  const ordered = () => [...trace].sort((x, y) => plan.findIndex((r) => r.name === x.strategy) - plan.findIndex((r) => r.name === y.strategy));
  try {
    const { value: res, winner, attempts } = await race(entries, {
      signal: d.signal,
      timeout: d.remaining(),
      clock: deps.clock,
      timers: deps.timers,
      isFatal: (err) => err instanceof PeerIdentityError || err instanceof NodeClosedError,
      onFail: (e, err) => emit("strategy-failed", { strategy: e.name as StrategyName, error: err.message }),
      onCancel: (e, why) => emit("strategy-cancelled", { strategy: e.name as StrategyName, reason: why }),
      discard: (late) => late.stream.destroy(),
    });
    trace.push(...attempts.map(toTrace));
    if (deps.lifetime.aborted) {
      res.stream.destroy();
      throw new NodeClosedError("the node closed during connect()");
    }
    const pipe = deps.adopt(res, winner.name as StrategyName, ordered());
    emit("connected", { strategy: winner.name as StrategyName });
    return pipe;
  } catch (err) {
    if (!(err instanceof RaceLost)) throw err;
    trace.push(...err.attempts.map(toTrace));
    const errors = err.attempts.flatMap((a) => (a.error ? [a.error] : []));
    if (d.signal.aborted) throw stopped(deps, opts, remote.id, timeout, errors);
    const all = ordered();
    const head = entries.length ? `could not connect to ${remote.id}` : `no strategy applies to ${remote.id}`;
    const e = new ConnectError(`${head}:\n${all.map((a) => `  ${describeAttempt(a)}`).join("\n")}`);
    e.errors = errors;
    e.trace = all;
    throw e;
  }
}

/** The error for a connect() its deadline stopped: who stopped it, in order of precedence. */
function stopped(deps: ConnectDeps<unknown>, opts: ConnectCall, peer: NodeId, timeout: number, errors: Error[]): Error {
  if (deps.lifetime.aborted) return new NodeClosedError("the node closed during connect()");
  if (opts.signal?.aborted) return new AbortError("connect() was aborted");
  return new TimeoutError(`could not connect to ${peer} within ${timeout} ms${errors.length ? `: ${errors.map((x) => x.message).join("; ")}` : ""}`);
}

function dialContext<P>(deps: ConnectDeps<P>, remote: NodeAddress, strategy: Strategy, signaling: SignalingPort | undefined, progress: DialContext["progress"]): DialContext {
  return {
    identity: deps.identity,
    local: deps.local(),
    remote,
    logger: deps.logger.child(strategy.name),
    clock: deps.clock,
    timers: deps.timers,
    stun: [...deps.stun],
    signaling,
    progress,
    secure: (stream, role, signal, extra) => deps.secure(stream, role, remote.id, signal, { strategy: strategy.name, ...extra }),
    expectInbound: (token, o) => deps.expectInbound(remote.id, token, o),
    mayDial: (host) => deps.peers.mayDial(remote, host),
    ...(deps.resume ? { resume: deps.resume } : {}),
  };
}

function signalingPort(sig: Signaling | undefined, remote: NodeAddress): SignalingPort | undefined {
  if (!sig || !remote.signaling.length) return undefined;
  return {
    request: (type, body, o) => sig.request(remote.id, remote.signaling, type, body, o),
    ping: (o) => sig.ping(remote.id, remote.signaling, o),
  };
}

/** The strategies to try, in order, with caps (ranking from both addresses, or the caller's list). */
function rank<P>(deps: ConnectDeps<P>, remote: NodeAddress, only?: StrategyName[]): Array<RankedStrategy & { strategy: Strategy }> {
  const find = (n: StrategyName) => deps.strategies.find((x) => x.name === n);
  if (only) {
    return only.map((n) => {
      const strategy = find(n);
      if (!strategy) throw new InvalidArgumentError(`unknown or unavailable strategy "${n}"`);
      // The caller's order is kept: one after another, no overlap.
      return { name: n, reason: "requested", expectMs: Infinity, strategy };
    });
  }
  const helped = deps.signaling() !== undefined && remote.signaling.length > 0;
  const available = new Set(deps.strategies.map((s) => s.name).filter((n) => n === "direct" || helped));
  return rankStrategies({ local: deps.local(), remote, available }).map((r) => ({ ...r, strategy: find(r.name)! }));
}
