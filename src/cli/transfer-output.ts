/**
 * What `send` and `receive` show of a transfer: a progress line (bytes, rate,
 * ETA) redrawn on a terminal, plain lines otherwise, one JSON line per event
 * with --json (progress at most every 250 ms, with rate and ETA).
 */
import type { TransferEvent, TransferResult } from "../transfer/types.ts";
import { Meter, formatBytes, progressText } from "../transfer/meter.ts";
import { PeerTimeoutError, PipeClosedError } from "../errors.ts";
import { EXIT, type Output } from "./output.ts";

const JSON_EVERY_MS = 250;
const DRAW_EVERY_MS = 100;

export interface TransferReporter {
  onEvent(e: TransferEvent): void;
  /** Ends the progress line and prints the summary. */
  done(r: TransferResult): void;
  /** Ends the progress line (before an error is printed). */
  stop(): void;
}

export function transferReporter(out: Output, verb: "sent" | "received", now: () => number = Date.now): TransferReporter {
  const meter = new Meter({ now });
  const tty = !out.json && !!process.stderr.isTTY;
  let lastJson = 0;
  let lastDraw = 0;
  let drawn = false;
  const endLine = () => {
    if (drawn) process.stderr.write("\n");
    drawn = false;
  };
  return {
    onEvent(e) {
      if (e.event === "progress") {
        const r = meter.update(e.done, e.total);
        const t = now();
        const last = e.done === e.total;
        if (out.json && (last || t - lastJson >= JSON_EVERY_MS)) {
          lastJson = t;
          out.event("progress", { ...e, rate: Math.round(r.rate), eta: Number.isFinite(r.eta) ? Math.round(r.eta) : null });
        }
        if (tty && (last || t - lastDraw >= DRAW_EVERY_MS)) {
          lastDraw = t;
          process.stderr.write(`\r\x1b[2K${e.name.slice(0, 40)}  ${progressText(r)}`);
          drawn = true;
        }
        return;
      }
      const { event, ...fields } = e;
      out.event(event, fields);
      if (e.event === "file") {
        endLine();
        out.info(`${e.name} (${formatBytes(e.size)})${e.offset ? `: resuming at ${formatBytes(e.offset)} (the partial file's SHA-256 matched)` : ""}`);
      } else if (e.event === "skip") out.info(`${e.name}: already there, SHA-256 verified; nothing to send`);
      else if (e.event === "verified") {
        endLine();
        out.info(`${e.name}: SHA-256 verified (${e.sha256.slice(0, 16)}…)`);
      }
    },
    done(r) {
      endLine();
      const secs = r.ms / 1000;
      const rate = secs > 0 ? r.bytes / secs : 0;
      out.event("done", { files: r.files, bytes: r.bytes, total: r.total, ms: r.ms, rate: Math.round(rate) });
      out.info(`${verb} ${r.files.length} file${r.files.length === 1 ? "" : "s"}: ${formatBytes(r.bytes)} in ${secs.toFixed(1)} s (${formatBytes(Math.round(rate))}/s)${r.bytes < r.total ? `, ${formatBytes(r.total - r.bytes)} were already there` : ""}; every SHA-256 verified`);
    },
    stop: endLine,
  };
}

/** The exit code for a transfer error: the peer went away → 3, anything else → 1. */
export function transferExit(err: unknown): number {
  return err instanceof PipeClosedError || err instanceof PeerTimeoutError ? EXIT.peerGone : EXIT.error;
}
