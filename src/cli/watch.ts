/**
 * What the node's logger says about its signaling brokers, turned into
 * terminal warnings: a broker that cannot be reached, one that is lost, and
 * one that comes back. The node has no broker events of its own yet; its
 * broker links report "broker up" / "broker down" (with the broker's URL) to
 * the logger it was given, whatever the level, so the CLI listens there.
 */
import { createLogger, type Logger, type LogLevel } from "../util/logger.ts";
import type { Output } from "./output.ts";

export type BrokerState = "up" | "down";

export interface BrokerWatch {
  /** Pass to startNode({ logger }). */
  logger: Logger;
  /** Each broker's last known state (brokers never heard of are absent). */
  states: Map<string, { state: BrokerState; error?: string; everUp: boolean }>;
  /** True when every broker in `urls` is known to be down and none was ever up. */
  allUnreachable(urls: readonly string[]): boolean;
  /** Plain words for the brokers' state, e.g. "mqtt://h:1 (connection refused)". */
  describe(urls: readonly string[]): string;
}

/** "connect ECONNREFUSED 127.0.0.1:1" → "connection refused: nothing listens there". */
export function humanError(text: string | undefined): string {
  if (!text) return "no answer";
  if (/ECONNREFUSED/.test(text)) return "connection refused: nothing listens there";
  if (/ETIMEDOUT|timed out|timeout/i.test(text)) return "no answer (timed out)";
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return "host name not found";
  if (/EHOSTUNREACH|ENETUNREACH/.test(text)) return "no route to host";
  if (/ECONNRESET|closed/i.test(text)) return "connection closed";
  return text;
}

const norm = (u: string) => u.replace(/\/+$/, "").toLowerCase();

export function watchBrokers(out: Output, level: LogLevel | undefined): BrokerWatch {
  const base = createLogger(level);
  const states: BrokerWatch["states"] = new Map();
  const seen = (meta: Record<string, unknown> | undefined): string | undefined => (typeof meta?.broker === "string" ? meta.broker : undefined);
  const onUp = (url: string) => {
    const prev = states.get(norm(url));
    states.set(norm(url), { state: "up", everUp: true });
    out.event("broker", { url, state: "up" });
    if (prev?.state === "down") out.warn(`signaling broker ${url} is reachable again`, { url, state: "up" });
  };
  const onDown = (url: string, error: string | undefined, wasUp: boolean) => {
    const prev = states.get(norm(url));
    states.set(norm(url), { state: "down", error, everUp: prev?.everUp ?? false });
    if (prev?.state === "down") return; // still down: one warning per outage
    out.event("broker", { url, state: "down", error });
    if (wasUp || prev?.state === "up") out.warn(`lost signaling broker ${url} (${humanError(error)}); reconnecting in the background`, { url, state: "down" });
    else out.warn(`signaling broker ${url} is unreachable (${humanError(error)}); retrying in the background`, { url, state: "down" });
  };
  const wrap = (l: Logger): Logger => ({
    debug(msg, meta) {
      const url = seen(meta);
      if (url && msg === "broker up") onUp(url);
      else if (url && msg === "broker down") onDown(url, typeof meta?.error === "string" ? meta.error : undefined, meta?.wasUp === true);
      l.debug(msg, meta);
    },
    info: (m, meta) => l.info(m, meta),
    warn: (m, meta) => l.warn(m, meta),
    error: (m, meta) => l.error(m, meta),
    child: (c) => wrap(l.child(c)),
  });
  return {
    logger: wrap(base),
    states,
    allUnreachable: (urls) => urls.length > 0 && urls.every((u) => states.get(norm(u))?.state === "down" && !states.get(norm(u))?.everUp),
    describe: (urls) =>
      urls
        .map((u) => {
          const s = states.get(norm(u));
          return s?.state === "down" ? `${u} (${humanError(s.error)})` : u;
        })
        .join(", "),
  };
}
