// Helpers for the CLI tests: the real CLI as a child process, real loopback servers.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { after } from "node:test";

export const root = new URL("../..", import.meta.url).pathname;
export const bin = `${root}bin/p2pnode.js`;
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
});

export interface Ran {
  code: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/**
 * Runs the CLI to the end; `input` goes to stdin (then stdin closes). A child
 * still running after `killAfterMs` is killed (code null): a hang fails the test, never stalls it.
 */
export function run(args: string[], input?: string | Uint8Array, killAfterMs = 60_000, env?: Record<string, string>): Promise<Ran> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"], env: env ? { ...process.env, ...env } : undefined });
    children.add(c);
    const killer = setTimeout(() => c.kill("SIGKILL"), killAfterMs);
    c.once("close", () => clearTimeout(killer));
    const out: Buffer[] = [];
    let stderr = "";
    c.stdout.on("data", (d: Buffer) => out.push(d));
    c.stderr.on("data", (d) => (stderr += d));
    c.stdin.on("error", () => {});
    if (input !== undefined) c.stdin.end(input);
    else c.stdin.end();
    c.on("close", (code) => {
      children.delete(c);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString("utf8"), stdoutBytes, stderr });
    });
  });
}

/** A long-running CLI child with its stderr collected line by line. */
export function start(args: string[]): {
  c: ChildProcess;
  stderr: string[];
  stdout: string[];
  exited: Promise<number | null>;
  waitErr(re: RegExp): Promise<string>;
  waitOut(re: RegExp): Promise<string>;
} {
  const c = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  children.add(c);
  c.stdin!.on("error", () => {});
  const stderr: string[] = [];
  const stdout: string[] = [];
  const waiters: Array<{ list: string[]; re: RegExp; resolve: (l: string) => void }> = [];
  const feed = (list: string[]) => (l: string) => {
    list.push(l);
    for (const w of [...waiters]) if (w.list === list && w.re.test(l)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(l));
  };
  createInterface({ input: c.stderr! }).on("line", feed(stderr));
  createInterface({ input: c.stdout! }).on("line", feed(stdout));
  const exited = new Promise<number | null>((r) => c.once("close", (code) => (children.delete(c), r(code))));
  /** The first line matching `re`; fails (never hangs) if the child exits or 30 s pass without one. */
  const wait = (list: string[], re: RegExp) => {
    const hit = list.find((l) => re.test(l));
    if (hit) return Promise.resolve(hit);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line matching ${re} within 30 s; stderr:\n${stderr.join("\n")}`)), 30_000);
      waiters.push({ list, re, resolve: (l) => (clearTimeout(t), resolve(l)) });
      void exited.then(() => setTimeout(() => (clearTimeout(t), reject(new Error(`exited before a line matching ${re}; stderr:\n${stderr.join("\n")}`))), 50));
    });
  };
  return { c, stderr, stdout, exited, waitErr: (re) => wait(stderr, re), waitOut: (re) => wait(stdout, re) };
}

/** Starts `p2pnode listen --json` and returns its ready event and the process. */
export async function listen(extra: string[] = [], host = "127.0.0.1") {
  const c = spawn(process.execPath, [bin, "listen", ...(host ? ["--host", host] : []), "--json", ...extra], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  children.add(c);
  const stderr: string[] = [];
  createInterface({ input: c.stderr! }).on("line", (l) => stderr.push(l));
  const lines = createInterface({ input: c.stdout! });
  const events: Array<Record<string, unknown>> = [];
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // A listen that never gets ready fails the test here instead of stalling the run.
    const timer = setTimeout(() => {
      c.kill("SIGKILL");
      reject(new Error(`listen printed no ready event within 30 s: ${stderr.join("\n")}`));
    }, 30_000);
    lines.on("line", (l) => {
      const e = JSON.parse(l);
      events.push(e);
      if (e.event === "ready") {
        clearTimeout(timer);
        resolve(e);
      }
    });
    c.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`listen exited early: ${stderr.join("\n")}`));
    });
  });
  const exited = new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once("exit", (code) => (children.delete(c), r(code)))));
  return { c, ready, events, stderr, exited };
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Waits for a child's exit, failing the test (instead of hanging it) after `ms`. */
export function exitWithin(exited: Promise<number | null>, ms: number, what: string): Promise<number | null> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    exited.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms))),
  ]);
}
