/** What sendFiles() and receiveFiles() take, report and return. */
import type { Clock, Timers } from "../util/clock.ts";

/** Options sendFiles() and receiveFiles() share: the step timeout, cancellation, progress events, injected time. */
/** Options both sendFiles() and receiveFiles() take. */
export interface TransferOptions {
  /** Longest wait for any one step: a message from the peer, or the peer taking a chunk. @default 60_000 (over a resumable pipe's 30 s window) */
  timeout?: number;
  /** Stops the transfer (the partial file is kept). */
  signal?: AbortSignal;
  /** Every step, as it happens (for a progress bar or JSON lines). */
  onEvent?: (e: TransferEvent) => void;
  clock?: Clock;
  timers?: Timers;
}

/** One step of a transfer, reported through `onEvent` as it happens. */
/** A step of a transfer, as onEvent sees it (the CLI prints each as a JSON line with --json). */
export type TransferEvent =
  /** The offer went out (sender) or came in (receiver). */
  | { event: "offer"; files: Array<{ name: string; size: number; sha256: string }> }
  /** A file starts at `offset` (over 0: resumed from a partial file). */
  | { event: "file"; index: number; name: string; size: number; offset: number }
  /** The receiver already has this file, verified: nothing to send. */
  | { event: "skip"; index: number; name: string; size: number }
  /** Bytes moved: `bytes` of this file's `size`, `done` of every file's `total`. */
  | { event: "progress"; index: number; name: string; bytes: number; size: number; done: number; total: number }
  /** The receiver checked the file's SHA-256 and saved it under its name. */
  | { event: "verified"; index: number; name: string; sha256: string };

/** One file of a finished transfer: its name, size, SHA-256, and what was already there. */
/** One file of a transfer's result. */
export interface TransferredFile {
  name: string;
  size: number;
  sha256: string;
  /** Bytes that were already there (resumed partial or a complete file). */
  resumedFrom: number;
  /** True when the receiver had the whole file already. */
  skipped: boolean;
}

/** What a finished transfer moved: each file, the bytes sent in this run, the total, and how long it took (ms). */
/** What sendFiles() and receiveFiles() resolve with once every file is verified. */
export interface TransferResult {
  files: TransferredFile[];
  /** File bytes moved in this run (what was already there is not counted). */
  bytes: number;
  /** Every file's size, added up. */
  total: number;
  ms: number;
}
