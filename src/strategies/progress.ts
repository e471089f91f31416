/**
 * What a strategy reports while it dials (DialContext.progress), as a typed
 * union: the event's name picks its detail. The orchestrator adds `ms` (the
 * time since connect() began) and passes them on with its own events
 * (src/connect/progress.ts), which the CLI switches on. The names are part of
 * the public surface (tests and lab fixtures read them): do not rename.
 */
import type { NodeId } from "../identity/identity.ts";

/** The detail of each strategy progress event, by event name (without `ms`: connect() adds it). */
export type StrategyProgressDetails = {
  /** direct: a TCP dial to one candidate endpoint. */
  dial: { host: string; port: number; kind: string };
  /** direct: that dial failed. */
  "dial-failed": { host: string; port: number; error: string };
  /** reverse: we asked the peer to dial us. */
  "reverse-request": { peer: NodeId };
  /** punch: the request went out, with the clock estimate it is timed by. */
  "punch-request": { offer: unknown; rttMs: number; offsetMs: number; startInMs: number };
  /** punch: the simultaneous open is scheduled. */
  "punch-start": { targets: unknown; localPorts: unknown; startInMs: number };
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
  };
  /** turn: our relay granted an allocation; the peer is told to reach `relayed`. */
  "turn-allocated": { server: string; relayed: string; transport: "tcp" | "udp" };
  /** turn: the peer reached us through the relay (before the handshake's end). */
  "turn-connected": { server: string; transport: "tcp" | "udp" };
};

/** The name of a strategy progress event. */
export type StrategyProgressName = keyof StrategyProgressDetails;

/** DialContext.progress: `(event, detail)`, the detail typed by the event's name. */
export type StrategyProgress = <K extends StrategyProgressName>(event: K, detail: StrategyProgressDetails[K]) => void;

/** The names (a value, for sets of every progress event). */
export const STRATEGY_PROGRESS_EVENTS: readonly StrategyProgressName[] = [
  "dial",
  "dial-failed",
  "reverse-request",
  "punch-request",
  "punch-start",
  "punch-connected",
  "turn-allocated",
  "turn-connected",
];
