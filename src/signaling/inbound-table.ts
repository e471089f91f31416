/**
 * The requests a responder remembers, so a re-sent copy is re-acked and gets
 * the cached reply instead of running its handler twice. Bounded twice: in
 * all (maxRemembered) and per sender (maxPerSender, its quota), so one sender
 * cannot crowd everyone else out. Expired entries are pruned lazily, only
 * when a limit is hit: the common path stays O(1).
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
  readonly #perSender = new Map<NodeId, number>();
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

  /** Whether one more request from `from` fits right now, without pruning (undefined: it fits). */
  check(from: NodeId): NoRoom | undefined {
    if (this.#entries.size >= this.#maxRemembered) return "full";
    if ((this.#perSender.get(from) ?? 0) >= this.#maxPerSender) return "quota";
    return undefined;
  }

  /** Like check(), but forgets expired entries first when a limit is hit. */
  makeRoom(from: NodeId, now: number): NoRoom | undefined {
    if (this.check(from) === undefined) return undefined;
    for (const [k, s] of this.#entries) if (s.expires <= now) this.#delete(k, s);
    return this.check(from);
  }

  add(id: string, state: Inbound): void {
    this.#entries.set(key(state.from, id), state);
    this.#perSender.set(state.from, (this.#perSender.get(state.from) ?? 0) + 1);
  }

  clear(): void {
    this.#entries.clear();
    this.#perSender.clear();
  }

  #delete(k: string, s: Inbound): void {
    this.#entries.delete(k);
    const n = (this.#perSender.get(s.from) ?? 1) - 1;
    if (n > 0) this.#perSender.set(s.from, n);
    else this.#perSender.delete(s.from);
  }
}

function key(from: NodeId, id: string): string {
  return `${from}:${id}`;
}
