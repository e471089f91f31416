/** The strategies a node has unless startNode({ strategies }) says otherwise. */
import { DirectStrategy, type DirectOptions } from "./direct.ts";
import { PunchStrategy, type PunchOptions } from "./punch.ts";
import { ReverseStrategy, type ReverseOptions } from "./reverse.ts";
import type { Strategy } from "./strategy.ts";

export interface DefaultStrategyOptions {
  direct?: Partial<DirectOptions>;
  reverse?: Partial<ReverseOptions>;
  punch?: Partial<PunchOptions>;
}

/**
 * Fresh direct, reverse and punch instances, in that order. Reverse reuses
 * the direct instance: on the peer's side it dials us back the same way.
 */
export function defaultStrategies(opts: DefaultStrategyOptions = {}): Strategy[] {
  const direct = new DirectStrategy(opts.direct);
  return [direct, new ReverseStrategy(opts.reverse, direct), new PunchStrategy(opts.punch)];
}
