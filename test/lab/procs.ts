/**
 * Processes of the NAT lab: one-shot commands, long-running children inside a
 * namespace, and the pid file that lets `npm run lab:down` (or an exit handler)
 * kill exactly the processes the lab started — by PID, checked against the
 * process start time so a recycled PID is never hit.
 */
import { spawn, spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PREFIX } from "./plan.ts";

/** Known temp dir of the lab: pid file, server configs and logs live under it. */
export const LAB_DIR = join(tmpdir(), `${PREFIX}lab`);
export const PID_FILE = join(LAB_DIR, "pids");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion. Rejects on a non-zero exit unless `allowFail`. */
export function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (res.code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(" ")} exited ${res.code}${signal ? ` (${signal})` : ""}: ${stderr.trim() || stdout.trim()}`));
      } else resolve(res);
    });
    child.stdin.on("error", () => {}); // EPIPE when the command exits without reading its input
    child.stdin.end(opts.input ?? "");
  });
}

/** Start time of a process (field 22 of /proc/PID/stat), or null when it is gone. */
export function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

interface PidRecord {
  pid: number;
  start: string;
  what: string;
}

function recordPid(pid: number, what: string): void {
  const start = startTime(pid);
  if (start === null) return;
  mkdirSync(LAB_DIR, { recursive: true });
  appendFileSync(PID_FILE, JSON.stringify({ pid, start, what } satisfies PidRecord) + "\n");
}

/** PIDs from the pid file that still run the process we started. */
export function recordedAlive(): PidRecord[] {
  if (!existsSync(PID_FILE)) return [];
  const recs: PidRecord[] = [];
  for (const line of readFileSync(PID_FILE, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as PidRecord;
      if (startTime(r.pid) === r.start) recs.push(r);
    } catch {
      // a torn line from a crash: ignore it
    }
  }
  return recs;
}

/**
 * Kills every recorded process that is still ours (SIGKILL: the lab is being
 * destroyed; graceful stops go through LabProcess.kill), then empties the file.
 * Synchronous so that exit and signal handlers can use it.
 */
export function killRecorded(): number {
  const alive = recordedAlive();
  for (const r of alive) {
    try {
      process.kill(r.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const r of alive) {
    for (let i = 0; i < 200 && startTime(r.pid) === r.start; i++) spawnSync("sleep", ["0.01"]);
  }
  if (existsSync(PID_FILE)) writeFileSync(PID_FILE, "");
  return alive.length;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A long-running child inside a lab namespace. stdout and stderr are split into
 * lines ("line" event with (line, stream)); waitForLine() awaits a match.
 */
export class LabProcess extends EventEmitter {
  readonly pid: number;
  readonly host: string;
  readonly name: string;
  /** Every line so far, "out: ..." / "err: ..." prefixed, for failure logs. */
  readonly lines: string[] = [];
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null = null;

  constructor(host: string, namespace: string, cmd: string, args: string[], env: NodeJS.ProcessEnv) {
    super();
    this.host = host;
    this.name = `${host}:${cmd.split("/").pop()}`;
    // `ip netns exec` execs the command in place, so the PID we get is the command's.
    const child = spawn("ip", ["netns", "exec", namespace, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], env, detached: true });
    if (child.pid === undefined) throw new Error(`cannot spawn ${cmd} in ${namespace}`);
    this.pid = child.pid;
    recordPid(this.pid, `${namespace} ${cmd}`);
    for (const [stream, src] of [["out", child.stdout], ["err", child.stderr]] as const) {
      let buf = "";
      src.setEncoding("utf8").on("data", (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.#line(buf.slice(0, i), stream);
          buf = buf.slice(i + 1);
        }
      });
      src.on("end", () => buf && this.#line(buf, stream));
    }
    this.exited = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.exit = { code, signal };
        this.emit("exit", this.exit);
        resolve(this.exit);
      });
    });
    child.on("error", (err) => this.#line(`spawn error: ${err.message}`, "err"));
  }

  #line(line: string, stream: "out" | "err"): void {
    this.lines.push(`${stream}: ${line}`);
    this.emit("line", line, stream);
  }

  /** Resolves with the first line (past or future) matching `re`; rejects on timeout or exit. */
  waitForLine(re: RegExp, timeoutMs = 5000): Promise<string> {
    for (const l of this.lines) {
      const line = l.slice(5);
      if (re.test(line)) return Promise.resolve(line);
    }
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, line?: string) => {
        clearTimeout(timer);
        this.off("line", onLine);
        this.off("exit", onExit);
        if (err) reject(err);
        else resolve(line as string);
      };
      const onLine = (line: string) => re.test(line) && done(null, line);
      const onExit = (e: ExitInfo) => done(new Error(`${this.name} exited (${e.code ?? e.signal}) before printing ${re}:\n${this.log()}`));
      const timer = setTimeout(() => done(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms:\n${this.log()}`)), timeoutMs);
      this.on("line", onLine);
      this.on("exit", onExit);
    });
  }

  /** Parsed JSON lines printed so far (probe.py's output format). */
  json<T = Record<string, unknown>>(): T[] {
    return this.lines.filter((l) => l.startsWith("out: {")).map((l) => JSON.parse(l.slice(5)) as T);
  }

  log(): string {
    return this.lines.map((l) => `  [${this.name}] ${l}`).join("\n");
  }

  /** Stops the process by PID (SIGTERM, then SIGKILL after `graceMs`). Idempotent. */
  async kill(graceMs = 2000): Promise<void> {
    if (this.exit) return;
    try {
      process.kill(this.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(this.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
