/**
 * Which outbound connects the embedded STUN server makes on a requester's
 * behalf (docs/stun.md "Exposure"): at most one dial-back and one dial-port in
 * flight per source (a node runs NAT discovery and port-mapping verification
 * at once), `maxDialBacks` in all, and the per-source rate. Sockets are the
 * caller's business (dial-out.ts); this is only the bookkeeping.
 */
import type net from "node:net";
import type { Clock } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { SourceLimiter } from "./rate-limit.ts";

export type DialKind = "dial-back" | "dial-port";

/** One outbound connect made for a source; `release` is idempotent. */
export interface Dial {
  kind: DialKind;
  socket?: net.Socket;
  cancelled: boolean;
  release(): void;
}

/** The counters admission moves (a slice of StunServerStats). */
export interface DialCounters {
  dialBacks: number;
  dialsRefused: number;
}

export class DialAdmission {
  /** The dial in flight per (kind, source key): never more than one. */
  readonly #inflight = new Map<string, Dial>();
  #active = 0;

  constructor(
    private readonly limit: SourceLimiter,
    private readonly maxDialBacks: number,
    private readonly clock: Clock,
    private readonly stats: DialCounters,
    private readonly log: Logger,
  ) {}

  /** Dials in flight, all sources together. */
  get active(): number {
    return this.#active;
  }

  /**
   * A slot for one more connect, or undefined when refused. A new dial-back
   * replaces the source's dial-back in flight instead of being refused: its
   * client asks for the next one only after it stopped waiting for the first
   * (a filtered connect would otherwise hold the slot for the whole dial-back
   * timeout). A dial-port is awaited by its client, so it is never replaced.
   */
  admit(source: string, kind: DialKind): Dial | undefined {
    const slotKey = `${kind} ${source}`;
    const prev = this.#inflight.get(slotKey);
    const replace = prev !== undefined && kind === "dial-back";
    const refuse = (why: string) => {
      this.stats.dialsRefused++;
      this.log.debug(`${kind} refused`, { source, why });
      return undefined;
    };
    if (prev && !replace) return refuse(`one ${kind} already in flight for this source`);
    if (this.#active - (replace ? 1 : 0) >= this.maxDialBacks) return refuse("maxDialBacks reached");
    if (!this.limit.take(source, this.clock.now())) return refuse("per-source rate limit");
    if (prev) {
      prev.cancelled = true;
      prev.socket?.destroy();
      prev.release();
    }
    this.#active++;
    this.stats.dialBacks++;
    let released = false;
    const job: Dial = {
      kind,
      cancelled: false,
      release: () => {
        if (released) return;
        released = true;
        this.#active--;
        if (this.#inflight.get(slotKey) === job) this.#inflight.delete(slotKey);
      },
    };
    this.#inflight.set(slotKey, job);
    return job;
  }
}
