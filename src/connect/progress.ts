/**
 * What connect() reports while it works, as a typed union: the CLI and traces
 * switch on `event` and read a detail whose fields the compiler knows. Every
 * detail carries `ms`, the time since connect() began. The names are part of
 * the public surface (tests and lab fixtures read them): do not rename.
 *
 * The orchestrator emits the connect-level events; strategies emit theirs
 * through DialContext.progress, typed by src/strategies/progress.ts (the one
 * list of strategy events), and the orchestrator adds `ms` to them here.
 */
import type { NodeId } from "../identity/identity.ts";
import { STRATEGY_PROGRESS_EVENTS, type StrategyProgressDetails } from "../strategies/progress.ts";
import type { StrategyName } from "../strategies/strategy.ts";

/** The connect-level events: what the orchestrator itself reports. */
type ConnectProgressDetails = {
  /** Connecting by id: asking the peer for its address over signaling. */
  "fetch-address": { peer: NodeId; ms: number };
  /** A strategy starts; `cap` bounds an attempt that may not work (ms). */
  strategy: { strategy: StrategyName; reason: string; cap?: number; ms: number };
  /** A strategy does not apply to this pair of addresses. */
  "strategy-skipped": { strategy: StrategyName; reason: string; ms: number };
  /** A strategy failed; the next one is tried. */
  "strategy-failed": { strategy: StrategyName; error: string; ms: number };
  /** A strategy still running when the race ended: another connected first, or connect() was stopped. */
  "strategy-cancelled": { strategy: StrategyName; reason: string; ms: number };
  /** A pipe is up. */
  connected: { strategy: StrategyName; ms: number };
};

/** The detail of each progress event, by event name: the connect-level events and every strategy's, each with `ms`. */
export type ProgressDetails = ConnectProgressDetails & { [K in keyof StrategyProgressDetails]: StrategyProgressDetails[K] & { ms: number } };

/** The name of a connect() progress event (a key of ProgressDetails). */
export type ProgressEventName = keyof ProgressDetails;

/** One progress event as a value: `{ event, detail }`, discriminated by `event`. */
export type ProgressEvent = { [K in ProgressEventName]: { event: K; detail: ProgressDetails[K] } }[ProgressEventName];

/**
 * ConnectOptions.onProgress: called as `(event, detail)`, with the detail
 * typed by the event's name. A listener declared `(event: string, detail:
 * Record<string, unknown>)` or `(event) => …` is accepted too. To switch on
 * the event with narrowing, pack it: `const e = progressEvent(event, detail)`.
 */
export type ProgressListener = <K extends ProgressEventName>(event: K, detail: ProgressDetails[K]) => void;

/** The names, for checks of input that crosses a type boundary. */
export const PROGRESS_EVENTS: ReadonlySet<string> = new Set<ProgressEventName>([
  "fetch-address",
  "strategy",
  "strategy-skipped",
  "strategy-failed",
  "strategy-cancelled",
  "connected",
  ...STRATEGY_PROGRESS_EVENTS,
]);

/** Packs a listener call into a ProgressEvent value (for traces and switch statements). */
export function progressEvent<K extends ProgressEventName>(event: K, detail: ProgressDetails[K]): ProgressEvent {
  return { event, detail } as ProgressEvent;
}
