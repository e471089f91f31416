/** The connect command's progress lines: one typed switch over connect()'s progress events. */
import type { ProgressEvent } from "../connect/progress.ts";
import type { Pipe } from "../pipe/pipe.ts";
import { hostPort, type Output } from "./output.ts";

/** The terminal line for a progress event, or undefined for those only --json shows. */
export function progressLine(e: ProgressEvent): string | undefined {
  switch (e.event) {
    case "dial":
      return `  trying ${hostPort(e.detail.host, String(e.detail.port))} (${e.detail.kind})`;
    case "strategy":
      return `  trying ${e.detail.strategy} (${e.detail.reason})`;
    case "turn-allocated":
      return `  relay ${e.detail.server} gave us ${e.detail.relayed} (${e.detail.transport.toUpperCase()}); asking the peer to reach it`;
    case "strategy-failed":
      return `  ${e.detail.strategy} failed: ${e.detail.error}`;
    default:
      return undefined;
  }
}

/**
 * A pipe's path changes on the terminal (stderr) and as `path` events: a lost
 * path is waited for (resumable pipes, 30 s by default), so the user learns
 * why nothing moves instead of staring at a silent terminal.
 */
export function reportPath(pipe: Pipe, out: Output, who: string): void {
  pipe.on("path", (e) => {
    if (e.state === "lost") {
      out.event("path", { remoteId: pipe.remoteId, state: "lost", error: e.error.message });
      out.warn(`connection to ${who} lost (${e.error.message}); ${pipe.inbound ? "waiting for it to reconnect" : "reconnecting"}…`, { state: "lost" });
    } else {
      out.event("path", { remoteId: pipe.remoteId, state: "resumed", why: e.why, from: e.from, to: e.to, resent: e.resent });
      out.info(e.why === "better" ? `moved to a better path: ${e.from} → ${e.to}` : `connection to ${who} restored (${e.to}${e.resent ? `, ${e.resent} message(s) sent again` : ""})`);
    }
  });
}
