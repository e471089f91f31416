/**
 * A real coturn (Debian's turnserver) on loopback for one test file: long-term
 * credentials (a static user, or with `authSecret` the TURN REST API's
 * time-limited ones), loopback peers allowed, no TLS/DTLS, its own port
 * range. Killed by PID after the file (only the process we started).
 */
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

export interface LoopbackCoturn {
  port: number;
  username: string;
  password: string;
  realm: string;
  /** The shared secret when started with `authSecret` (then `username`/`password` are not accepted). */
  authSecret?: string;
  /** Lines coturn logged (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<LoopbackCoturn>();
after(async () => {
  await Promise.all([...running].map((c) => c.stop()));
});

/** A port free for both UDP and TCP on 127.0.0.1. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
      s.on("error", reject);
    });
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

export interface CoturnOptions {
  extra?: string[];
  userQuota?: number;
  /**
   * TURN REST API credentials (coturn's use-auth-secret + static-auth-secret):
   * user names `<expiry>:<user>`, passwords HMAC'd from this secret, instead of
   * the static user.
   */
  authSecret?: string;
}

export async function startCoturn(opts: CoturnOptions = {}): Promise<LoopbackCoturn> {
  const dir = mkdtempSync(join(tmpdir(), "p2pn-coturn-"));
  const port = await freePort();
  const username = "p2pnode";
  const password = "test-only-secret";
  const realm = "p2pnode.test";
  const base = 40000 + Math.floor(Math.random() * 200) * 100;
  const conf = join(dir, "turnserver.conf");
  writeFileSync(conf, [
    "listening-ip=127.0.0.1",
    "relay-ip=127.0.0.1",
    `listening-port=${port}`,
    `min-port=${base}`,
    `max-port=${base + 99}`,
    "lt-cred-mech",
    ...(opts.authSecret ? ["use-auth-secret", `static-auth-secret=${opts.authSecret}`] : [`user=${username}:${password}`]),
    `realm=${realm}`,
    "allow-loopback-peers",
    "no-tls",
    "no-dtls",
    "no-cli",
    "no-software-attribute",
    ...(opts.userQuota ? [`user-quota=${opts.userQuota}`] : []),
    ...(opts.extra ?? []),
    "simple-log",
    `log-file=${join(dir, "turn.log")}`,
    `pidfile=${join(dir, "turn.pid")}`,
    "",
  ].join("\n"));
  const lines: string[] = [];
  const child: ChildProcess = spawn("turnserver", ["-c", conf, "--log-file", "stdout"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.setEncoding("utf8").on("data", (d: string) => lines.push(...d.split("\n")));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => lines.push(...d.split("\n")));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const c: LoopbackCoturn = {
    port,
    username,
    password,
    realm,
    authSecret: opts.authSecret,
    log: () => lines.slice(-60).join("\n"),
    stop: async () => {
      running.delete(c);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(c);
  // Ready when its TCP listener accepts (it opens UDP and TCP together).
  const end = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`turnserver exited ${child.exitCode}:\n${c.log()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (up) return c;
    if (Date.now() > end) throw new Error(`turnserver did not listen on ${port}:\n${c.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
