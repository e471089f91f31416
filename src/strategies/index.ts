/** The strategies a node has unless startNode({ strategies }) says otherwise. */
import { DirectStrategy, type DirectOptions } from "./direct.ts";
import { PunchStrategy, type PunchOptions } from "./punch.ts";
import { ReverseStrategy, type ReverseOptions } from "./reverse.ts";
import type { Strategy } from "./strategy.ts";
import { TurnStrategy, type TurnOptions } from "./turn.ts";

/** Each default strategy's options, as defaultStrategies() takes them. */
export interface DefaultStrategyOptions {
  direct?: Partial<DirectOptions>;
  reverse?: Partial<ReverseOptions>;
  punch?: Partial<PunchOptions>;
  /** Our TURN servers and how to use them; without servers the strategy only answers peers that relay. */
  turn?: Partial<TurnOptions>;
}

/**
 * Fresh direct, reverse, punch and turn instances, in that order. Reverse
 * reuses the direct instance: on the peer's side it dials us back the same
 * way. Turn is always there so that a peer with a relay can reach us through
 * it; it dials only when it has servers of its own.
 */
export function defaultStrategies(opts: DefaultStrategyOptions = {}): Strategy[] {
  const direct = new DirectStrategy(opts.direct);
  return [direct, new ReverseStrategy(opts.reverse, direct), new PunchStrategy(opts.punch), new TurnStrategy(opts.turn)];
}

/** The relay URLs a node's address lists: every strategy's `relays`, once each (no credentials). */
export function relayUris(strategies: readonly Strategy[]): string[] {
  return [...new Set(strategies.flatMap((s) => s.relays ?? []))];
}
