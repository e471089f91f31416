/**
 * The node's signaling: a Signaling client on the configured brokers, serving
 * every strategy's responders with a ResponderContext built from the node's
 * parts. Start does not fail when brokers are down; they are retried.
 */
import type { NodeAddress } from "./identity/address.ts";
import type { Identity } from "./identity/identity.ts";
import type { ResolvedNodeOptions } from "./options.ts";
import { Signaling } from "./signaling/signaling.ts";
import type { ResponderContext, Strategy } from "./strategies/strategy.ts";
import type { Logger } from "./util/logger.ts";

export interface NodeSignalingOptions {
  options: ResolvedNodeOptions;
  identity: Identity;
  logger: Logger;
  /** The node's lifetime: handlers and start() stop with it. */
  lifetime: AbortSignal;
  strategies: readonly Strategy[];
  /** The node's current address (read on every request: it is re-signed). */
  address: () => NodeAddress;
  /** What a responder may do with the node: handshake, turn a session into a pipe, apply the dial policy. */
  responder: Pick<ResponderContext, "secure" | "adopt" | "mayDial">;
  /** A peer we hold a pipe with: its requests get the known peers' share of the signaling caches. */
  isKnownPeer: (id: string) => boolean;
}

/** Creates the client and registers the responders; `started` settles once every broker was tried. */
export function openSignaling(n: NodeSignalingOptions): { signaling: Signaling; started: Promise<void> } {
  const o = n.options;
  const accept = o.accept;
  const sig = new Signaling({
    identity: n.identity,
    brokers: o.signaling,
    logger: n.logger.child("signaling"),
    clock: o.clock,
    timers: o.timers,
    getAddress: () => n.address().text,
    accept: accept ? (peerId, info) => accept(peerId, { strategy: info.type }) : undefined,
    allowPrivateBrokers: o.allowPrivate,
    rateLimit: o.rateLimit,
    isKnownPeer: n.isKnownPeer,
  });
  const context = (): ResponderContext => ({
    ...n.responder,
    identity: n.identity,
    local: n.address(),
    stun: [...o.stun],
    logger: n.logger.child("responder"),
    clock: o.clock,
    timers: o.timers,
    background: (task) => {
      task.catch(() => {});
      sig.hold(task);
    },
  });
  for (const strategy of n.strategies) {
    for (const [type, r] of Object.entries(strategy.responders ?? {})) {
      sig.on(type, (body, from) => r.handle(body, from, context(), n.lifetime), { dialsOut: r.dialsOut });
    }
  }
  const started = sig.start({ signal: n.lifetime }).then((status) => {
    for (const b of status) if (b.state !== "up") n.logger.warn("signaling broker is not reachable yet; retrying in the background", { broker: b.url, error: b.error });
  });
  return { signaling: sig, started };
}
