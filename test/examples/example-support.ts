/**
 * Runs an example as its reader would (`node --import tsx examples/<file> …`)
 * in a child process on loopback. The network guard reaches it through the
 * NODE_OPTIONS that test/run.js sets. Every wait has a timeout. A child still
 * running when the file's tests end is SIGKILLed, so a hang fails a test and
 * leaves nothing behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after } from "node:test";

export const root = new URL("../..", import.meta.url).pathname;
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Example {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<Exit>;
  /** The first stdout line matching `re` (one already printed counts); rejects after `ms` or when the child exits first. */
  waitOut(re: RegExp, ms?: number): Promise<string>;
  /** Writes one line to the child's stdin. */
  type(line: string): void;
  /** Resolves with the exit, or rejects when the child still runs after `ms`. */
  exitWithin(ms: number): Promise<Exit>;
  /** Everything it printed, for assertion messages. */
  log(): string;
}

export function startExample(file: string, args: string[] = [], opts: { env?: Record<string, string> } = {}): Example {
  const child = spawn(process.execPath, ["--import", "tsx", `examples/${file}`, ...args], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, P2PNODE_NET_GUARD: process.env.P2PNODE_NET_GUARD ?? "loopback", ...opts.env },
  });
  children.add(child);
  child.stdin!.on("error", () => {}); // an example that exits before reading its stdin
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ re: RegExp; hit: (line: string) => void }>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    stdout.push(line);
    for (const w of waiters) if (w.re.test(line)) w.hit(line);
  });
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  const exited = new Promise<Exit>((resolve) =>
    child.once("close", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const log = () => `--- ${file} stdout:\n${stdout.join("\n")}\n--- stderr:\n${stderr.join("\n")}`;

  const waitOut = (re: RegExp, ms = 20_000) => {
    const seen = stdout.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const w = { re, hit: (line: string) => done(() => resolve(line)) };
      const timer = setTimeout(() => done(() => reject(new Error(`no line matching ${re} within ${ms} ms\n${log()}`))), ms);
      // 'close' comes after the last line was read, so a matching last line wins.
      void exited.then(() => done(() => reject(new Error(`exited before a line matching ${re}\n${log()}`))));
      function done(settle: () => void) {
        if (!waiters.delete(w)) return;
        clearTimeout(timer);
        settle();
      }
      waiters.add(w);
    });
  };

  const exitWithin = (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      exited.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${file} still running after ${ms} ms\n${log()}`)), ms))),
    ]);
  };

  return { child, stdout, stderr, exited, waitOut, type: (line) => void child.stdin!.write(`${line}\n`), exitWithin, log };
}
