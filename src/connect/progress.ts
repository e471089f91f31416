/**
 * What connect() reports while it works, as a typed union: the CLI and traces
 * switch on `event` and read a detail whose fields the compiler knows. Every
 * detail carries `ms`, the time since connect() began. The names are part of
 * the public surface (tests and lab fixtures read them): do not rename.
 *
 * The orchestrator emits the connect-level events; strategies emit theirs
 * through DialContext.progress (strategies sit below this layer and cannot
 * import it, so their details are typed here, where they surface).
 */
import type { NodeId } from "../identity/identity.ts";
import type { StrategyName } from "../strategies/strategy.ts";

/** The detail of each progress event, by event name. */
export type ProgressDetails = {
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
  /** direct: a TCP dial to one candidate endpoint. */
  dial: { host: string; port: number; kind: string; ms: number };
  /** direct: that dial failed. */
  "dial-failed": { host: string; port: number; error: string; ms: number };
  /** reverse: we asked the peer to dial us. */
  "reverse-request": { peer: NodeId; ms: number };
  /** punch: the request went out, with the clock estimate it is timed by. */
  "punch-request": { offer: unknown; rttMs: number; offsetMs: number; startInMs: number; ms: number };
  /** punch: the simultaneous open is scheduled. */
  "punch-start": { targets: unknown; localPorts: unknown; startInMs: number; ms: number };
  /** punch: a punched connection opened (before its handshake). */
  "punch-connected": {
    target: string;
    localPort: number;
    attempt: number;
    synToOpenMs: number;
    skewMs: number;
    lateMs: number;
    totalMs: number;
    report: unknown;
    ms: number;
  };
  /** turn: our relay granted an allocation; the peer is told to reach `relayed`. */
  "turn-allocated": { server: string; relayed: string; transport: "tcp" | "udp"; ms: number };
  /** turn: the peer reached us through the relay (before the handshake's end). */
  "turn-connected": { server: string; transport: "tcp" | "udp"; ms: number };
};

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

/** The names, for checks of input that crosses a type boundary (a strategy's string event). */
export const PROGRESS_EVENTS: ReadonlySet<string> = new Set<ProgressEventName>([
  "fetch-address",
  "strategy",
  "strategy-skipped",
  "strategy-failed",
  "strategy-cancelled",
  "connected",
  "dial",
  "dial-failed",
  "reverse-request",
  "punch-request",
  "punch-start",
  "punch-connected",
  "turn-allocated",
  "turn-connected",
]);

/** Packs a listener call into a ProgressEvent value (for traces and switch statements). */
export function progressEvent<K extends ProgressEventName>(event: K, detail: ProgressDetails[K]): ProgressEvent {
  return { event, detail } as ProgressEvent;
}
