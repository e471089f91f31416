/** The connect command's progress lines: one typed switch over connect()'s progress events. */
import type { ProgressEvent } from "../connect/progress.ts";
import { hostPort } from "./output.ts";

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
