/**
 * What the connecting side of a resumable pipe needs to find it a new path
 * (keep-path.ts), built from the node's connect dependencies: the same race
 * as connect() (the caller's strategies, if it chose some), its sessions
 * naming the pipe (reverse names it in its signed request, since the peer's
 * dial-back reaches our listener's plain handshake). An upgrade uses every
 * strategy but the relay.
 */
import { ProtocolError } from "../errors.ts";
import type { Pipe } from "../pipe/pipe.ts";
import type { KeepPathDeps, PathFound } from "./keep-path.ts";
import { connectToPeer, type ConnectDeps } from "./orchestrator.ts";

export function keepPathDeps(base: Omit<ConnectDeps<never>, "adopt">, pipe: Pipe, chosen?: readonly string[]): KeepPathDeps {
  const usable = (better: boolean) => base.strategies.filter((s) => (better ? s.name !== "turn" : !chosen || chosen.includes(s.name)));
  return {
    connect: (signal, better) => {
      const addr = base.peers.known(pipe.remoteId);
      // Not the caller's mistake: the peer memory lost the address the pipe was made with.
      if (!addr) return Promise.reject(new ProtocolError("no known address for the peer"));
      const deps: ConnectDeps<PathFound> = {
        ...base,
        strategies: usable(better),
        resume: pipe.resumeId,
        secure: (stream, role, expected, s, params) => base.secure(stream, role, expected, s, { ...params, resume: pipe.resumeId }),
        adopt: (res, strategy, trace) => ({ res, strategy, trace }),
      };
      return connectToPeer(deps, addr, { signal });
    },
    mayUpgrade: () => {
      const addr = base.peers.known(pipe.remoteId);
      return !!addr && usable(true).some((s) => s.applies(base.local(), addr).verdict !== "no");
    },
    closed: () => base.lifetime.aborted,
    logger: base.logger,
    timers: base.timers,
  };
}
