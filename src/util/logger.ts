import winston from "winston";

/** The small logging interface every module takes; pass your own to startNode({ logger }). */
export interface Logger {
  /** Detail for debugging. */
  debug(msg: string, meta?: Record<string, unknown>): void;
  /** Normal events. */
  info(msg: string, meta?: Record<string, unknown>): void;
  /** Something went wrong and was handled. */
  warn(msg: string, meta?: Record<string, unknown>): void;
  /** Something failed. */
  error(msg: string, meta?: Record<string, unknown>): void;
  /** A logger that tags each line with `component`. */
  child(component: string): Logger;
}

/** How much createLogger() writes, from nothing (`silent`) to everything (`debug`). */
export type LogLevel = "silent" | "error" | "warn" | "info" | "debug";
const LEVELS: readonly LogLevel[] = ["silent", "error", "warn", "info", "debug"];

/** A logger that writes nothing. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

function wrap(w: winston.Logger): Logger {
  return {
    debug: (m, meta) => void w.debug(m, meta),
    info: (m, meta) => void w.info(m, meta),
    warn: (m, meta) => void w.warn(m, meta),
    error: (m, meta) => void w.error(m, meta),
    child: (component) => wrap(w.child({ component })),
  };
}

/**
 * Builds the default logger: winston to stderr, silent unless a level is given
 * or P2PNODE_LOG is set (so a library never prints on its own).
 */
export function createLogger(level?: LogLevel): Logger {
  const lvl = level ?? (process.env.P2PNODE_LOG as LogLevel | undefined) ?? "silent";
  if (!LEVELS.includes(lvl)) return silentLogger;
  if (lvl === "silent") return silentLogger;
  const w = winston.createLogger({
    level: lvl,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
        const extra = Object.keys(rest).length ? " " + JSON.stringify(rest) : "";
        return `${timestamp} ${level} [${component ?? "p2pnode"}] ${message}${extra}`;
      }),
    ),
    transports: [new winston.transports.Stream({ stream: process.stderr })],
  });
  return wrap(w);
}
