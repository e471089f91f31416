/**
 * The requests a responder remembers, so a re-sent copy is re-acked and gets
 * the cached reply instead of running its handler twice. Bounded twice: in
 * all (maxRemembered) and per sender (maxPerSender, its quota), so one sender
 * cannot crowd everyone else out. Expired entries are pruned lazily, only
 * when a limit is hit: the common path stays O(1).
 *
 * The caller may pass a lower limit than maxRemembered for a request (its
 * sender's share, see admission.ts): a stranger may not fill the table past
 * its share, so the rest stays free for peers we already know.
 */
import type { NodeId } from "../identity/identity.ts";
import type { ReplyWire } from "./messages.ts";

/** One remembered request. */
export interface Inbound {
  from: NodeId;
  /** Where its acks and replies go. */
  replyTo: string[];
  /** Clock ms after which a copy could no longer be accepted: then it may be forgotten. */
  expires: number;
  /** The reply, once the handler settled (re-sent for a late copy). */
  reply?: ReplyWire;
}

/** Why a new request cannot be remembered. */
export type NoRoom = "full" | "quota";

export class InboundTable {
  readonly #entries = new Map<string, Inbound>();
  /** Per sender: entries held, and when the last of them expires. */
  readonly #perSender = new Map<NodeId, { n: number; until: number }>();
  readonly #maxRemembered: number;
  readonly #maxPerSender: number;

  constructor(limits: { maxRemembered: number; maxPerSender: number }) {
    this.#maxRemembered = limits.maxRemembered;
    this.#maxPerSender = limits.maxPerSender;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(from: NodeId, id: string): Inbound | undefined {
    return this.#entries.get(key(from, id));
  }

  has(from: NodeId, id: string): boolean {
    return this.#entries.has(key(from, id));
  }

  /** Whether `from` has a request remembered that has not expired at `now` (it is talking to us). */
  holds(from: NodeId, now: number): boolean {
    return (this.#perSender.get(from)?.until ?? -Infinity) > now;
  }

  /**
   * Whether one more request from `from` fits right now, without pruning
   * (undefined: it fits). `limit` (at most maxRemembered) is the table size
   * this request may fill up to.
   */
  check(from: NodeId, limit = this.#maxRemembered): NoRoom | undefined {
    if (this.#entries.size >= Math.min(limit, this.#maxRemembered)) return "full";
    if ((this.#perSender.get(from)?.n ?? 0) >= this.#maxPerSender) return "quota";
    return undefined;
  }

  /** Like check(), but forgets expired entries first when a limit is hit. */
  makeRoom(from: NodeId, now: number, limit = this.#maxRemembered): NoRoom | undefined {
    if (this.check(from, limit) === undefined) return undefined;
    for (const [k, s] of this.#entries) if (s.expires <= now) this.#delete(k, s);
    return this.check(from, limit);
  }

  add(id: string, state: Inbound): void {
    this.#entries.set(key(state.from, id), state);
    const p = this.#perSender.get(state.from);
    this.#perSender.set(state.from, { n: (p?.n ?? 0) + 1, until: Math.max(p?.until ?? -Infinity, state.expires) });
  }

  clear(): void {
    this.#entries.clear();
    this.#perSender.clear();
  }

  #delete(k: string, s: Inbound): void {
    this.#entries.delete(k);
    const p = this.#perSender.get(s.from);
    // `until` may stay later than the sender's remaining entries: holds() errs towards "talking to us" for at most one entry's life.
    if (p && p.n > 1) p.n--;
    else this.#perSender.delete(s.from);
  }
}

function key(from: NodeId, id: string): string {
  return `${from}:${id}`;
}
