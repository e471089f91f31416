/** CLI output: one JSON object per line with --json, plain words otherwise. */
import type { Command } from "commander";
import { InvalidArgumentError, isP2PError } from "../errors.ts";

export interface Output {
  json: boolean;
  /** A machine-readable event (stdout with --json). */
  event(name: string, fields?: Record<string, unknown>): void;
  /** A line for humans (stderr, so stdout stays clean for data). */
  info(text: string): void;
  /** Data for humans (stdout). */
  data(text: string): void;
  fail(err: unknown): never;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    event(name, fields = {}) {
      if (json) process.stdout.write(JSON.stringify({ event: name, ...fields }) + "\n");
    },
    info(text) {
      if (!json) process.stderr.write(text + "\n");
    },
    data(text) {
      if (!json) process.stdout.write(text + "\n");
    },
    fail(err): never {
      const e = err as Error;
      const code = isP2PError(err) ? err.code : ((err as NodeJS.ErrnoException)?.code ?? "P2P_ERR_UNKNOWN");
      if (json) process.stdout.write(JSON.stringify({ event: "error", code, message: e?.message ?? String(err) }) + "\n");
      else process.stderr.write(`error: ${e?.message ?? String(err)}${code ? ` [${code}]` : ""}\n`);
      process.exitCode = 1;
      throw new CliExit();
    },
  };
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

/** Resolves when SIGINT or SIGTERM arrives. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/** The output options every command shares: --json and --log. */
export function outputFlags(cmd: Command, json = "print one JSON object per line"): Command {
  return cmd.option("--json", json).option("--log <level>", "log level on stderr: error, warn, info, debug");
}
