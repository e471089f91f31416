/** What connect() did, attempt by attempt: carried by the pipe it made (pipe.trace) and by ConnectError. */
export interface ConnectAttempt {
  strategy: string;
  /** won: made the pipe; failed; cancelled: another won first; skipped: could not apply; not-started: the race ended first. */
  outcome: "won" | "failed" | "cancelled" | "skipped" | "not-started";
  /** ms since connect() began. */
  startMs?: number;
  endMs?: number;
  /** Why it was planned, skipped, or how it failed. */
  reason: string;
}

/** One line per attempt, for error messages and the CLI: "punch: failed after 1200 ms: …". */
export function describeAttempt(a: ConnectAttempt): string {
  const took = a.startMs !== undefined && a.endMs !== undefined ? ` after ${a.endMs - a.startMs} ms` : "";
  switch (a.outcome) {
    case "won":
      return `${a.strategy}: connected${took}`;
    case "failed":
      return `${a.strategy}: failed${took}: ${a.reason}`;
    case "cancelled":
      return `${a.strategy}: cancelled${took} (another strategy connected first)`;
    case "skipped":
      return `${a.strategy}: skipped: ${a.reason}`;
    case "not-started":
      return `${a.strategy}: not started (${a.reason})`;
  }
}
