/**
 * What connect() borrows from the node (orchestrator.ts ConnectDeps), built
 * from the node's parts: the outbound handshake with the node's identity and
 * session parameters, and the adopt step that wraps a won session in a Pipe
 * and, for a resumable pipe, keeps it on a path (keep-path.ts, with the
 * strategies keep-path-deps.ts allows).
 */
import type { Identity } from "../identity/identity.ts";
import type { Pipe } from "../pipe/pipe.ts";
import { handshake, type HandshakeParams } from "../session/handshake.ts";
import type { DialResult, StrategyName } from "../strategies/strategy.ts";
import type { ConnectAttempt } from "../util/trace.ts";
import { keepPath } from "./keep-path.ts";
import { keepPathDeps } from "./keep-path-deps.ts";
import type { ConnectDeps } from "./orchestrator.ts";

/** Everything but the adopt step; the same for every connect() of a node. */
export type ConnectBase = Omit<ConnectDeps<never>, "adopt">;
export type SecureFn = ConnectDeps<never>["secure"];

/** The session parameters every handshake of the node offers: its message limit, and resumption when pipes may resume. */
export function sessionParams(pipe: { maxMessageSize: number; resumeWindow: number }): HandshakeParams {
  return { maxMessageSize: pipe.maxMessageSize, ...(pipe.resumeWindow > 0 ? { resumable: true } : {}) };
}

/** The outbound side's handshake (a dial, or a responder's dial for a peer): `peer` must prove its identity. */
export function secureWith(identity: Identity, timeout: number, params: () => HandshakeParams): SecureFn {
  return (stream, role, peer, signal, extra) =>
    handshake(stream, { identity, role, params: { ...params(), ...extra }, expectedRemoteId: peer, timeout, signal });
}

/**
 * One connect()'s dependencies: `adoptPipe` makes the pipe; a resumable one
 * then looks for a better path unless the caller chose the strategies (and
 * did not ask for `upgrade`).
 */
export function connectDeps(
  base: ConnectBase,
  adoptPipe: (res: DialResult, strategy: StrategyName, trace: readonly ConnectAttempt[]) => Pipe,
  opts: { strategies?: readonly StrategyName[]; upgrade?: boolean },
): ConnectDeps<Pipe> {
  return {
    ...base,
    adopt: (res, strategy, trace) => {
      const pipe = adoptPipe(res, strategy, trace);
      if (pipe.resumeId) keepPath(pipe, keepPathDeps(base, pipe, opts.strategies), opts);
      return pipe;
    },
  };
}
