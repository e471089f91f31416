/** CLI output: one JSON object per line with --json, plain words otherwise. */
import type { Command } from "commander";
import { InvalidArgumentError, isP2PError } from "../errors.ts";
import type { LogLevel } from "../util/logger.ts";
import { parseStunUri } from "../stun/uri.ts";

export interface Output {
  json: boolean;
  /** A machine-readable event (stdout with --json). */
  event(name: string, fields?: Record<string, unknown>): void;
  /** A line for humans (stderr, so stdout stays clean for data). */
  info(text: string): void;
  /** Data for humans (stdout). */
  data(text: string): void;
  /** Raw bytes for humans (stdout), unaltered. */
  bytes(data: Uint8Array): void;
  /** A warning: stderr in every mode (and a "warning" event with --json). */
  warn(text: string, fields?: Record<string, unknown>): void;
  fail(err: unknown, exitCode?: number): never;
}

/** Exit codes (README "CLI", every --help). */
export const EXIT = Object.freeze({ ok: 0, error: 1, usage: 2, peerGone: 3 });

export const EXIT_CODES_HELP = `
Exit codes:
  0  done (reply printed, stdin ended and the pipe closed, or stopped by Ctrl-C / SIGTERM)
  1  error: could not connect, timed out, bad address, data that cannot be sent unaltered
  2  usage: unknown option or bad option value (the message names it)
  3  the peer closed the connection or it was lost (netcat mode, before stdin ended)`;

/** Help text after the options: examples, then the exit codes. */
export function helpAfter(cmd: Command, examples: string[]): Command {
  const lines = examples.map((e) => `  $ ${e}`).join("\n");
  return cmd.addHelpText("after", `${EXIT_CODES_HELP}\n\nExamples:\n${lines}\n`);
}

let stdoutGone = false;
const stdoutGoneListeners = new Set<() => void>();

/** True once stdout's reader went away (EPIPE: `p2pnode listen | head -1`). */
export function stdoutClosed(): boolean {
  return stdoutGone;
}

/** Calls fn once stdout's reader is gone (at once if it already is). */
export function onStdoutClosed(fn: () => void): () => void {
  if (stdoutGone) {
    fn();
    return () => {};
  }
  stdoutGoneListeners.add(fn);
  return () => stdoutGoneListeners.delete(fn);
}

/**
 * A closed stdout is not an error (as for every Unix tool): stop writing to it
 * and let the command shut down cleanly. Errors on stderr are ignored.
 */
let stdioGuarded = false;
export function guardStdio(): void {
  if (stdioGuarded) return;
  stdioGuarded = true;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") return void process.stderr.write(`error: cannot write to stdout: ${err.message}\n`);
    if (stdoutGone) return;
    stdoutGone = true;
    for (const fn of [...stdoutGoneListeners]) fn();
    stdoutGoneListeners.clear();
  });
  process.stderr.on("error", () => {});
}

function writeOut(text: string | Uint8Array): void {
  if (!stdoutGone) process.stdout.write(text);
}

export function createOutput(json: boolean): Output {
  return {
    json,
    event(name, fields = {}) {
      if (json) writeOut(JSON.stringify({ event: name, ...fields }) + "\n");
    },
    info(text) {
      if (!json) process.stderr.write(text + "\n");
    },
    data(text) {
      if (!json) writeOut(text + "\n");
    },
    bytes(data) {
      if (!json) writeOut(data);
    },
    warn(text, fields = {}) {
      if (json) writeOut(JSON.stringify({ event: "warning", message: text, ...fields }) + "\n");
      process.stderr.write(`warning: ${text}\n`);
    },
    fail(err, exitCode = EXIT.error): never {
      const e = err as Error;
      const code = isP2PError(err) ? err.code : ((err as NodeJS.ErrnoException)?.code ?? "P2P_ERR_UNKNOWN");
      // A ConnectError's trace: every strategy considered, and what became of it.
      const trace = Array.isArray((err as { trace?: unknown })?.trace) ? { trace: (err as { trace: unknown[] }).trace } : {};
      if (json) writeOut(JSON.stringify({ event: "error", code, message: e?.message ?? String(err), ...trace }) + "\n");
      else process.stderr.write(`error: ${e?.message ?? String(err)}${code ? ` [${code}]` : ""}\n`);
      process.exitCode = exitCode;
      throw new CliExit();
    },
  };
}

/** Runs fn; an InvalidArgumentError from it (a flag that is wrong or missing) exits as a usage error (2). */
export function orUsage<T>(out: Output, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) out.fail(err, EXIT.usage);
    throw err;
  }
}

/** Thrown to unwind after an error was printed. */
export class CliExit extends Error {}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

/** Resolves when SIGINT or SIGTERM arrives, or stdout's reader goes away ("EPIPE"). */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    let offPipe = () => {};
    const on = (sig: string) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      offPipe();
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
    offPipe = onStdoutClosed(() => on("EPIPE"));
  });
}

export const LOG_LEVELS: readonly LogLevel[] = ["silent", "error", "warn", "info", "debug"];

/** --log LEVEL: one of LOG_LEVELS, anything else is a usage error. */
export function logLevelArg(v: string): LogLevel {
  const level = v.trim().toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new InvalidArgumentError(`--log must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(v)})`);
  return level;
}

/** --stun URI: checked when the command line is read, the same way by every command. */
export function stunArg(value: string, previous: string[] = []): string[] {
  parseStunUri(value);
  return [...previous, value];
}

/** host:port, with IPv6 hosts in brackets ([::1]:38055). */
export function hostPort(host: string, port: number | string): string {
  return `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/** The output options every command shares: --json and --log. */
export function outputFlags(cmd: Command, json = "print one JSON object per line"): Command {
  return cmd.option("--json", json).option("--log <level>", "log level on stderr: silent, error, warn, info, debug", logLevelArg);
}
