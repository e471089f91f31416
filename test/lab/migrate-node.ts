/**
 * Lab fixture: one node per namespace for test/lab/migrate.test.ts (resumable
 * pipes under real faults). Configuration in the environment as JSON
 * (P2PNODE_MIGRATE), TURN credentials in P2PNODE_TURN_USER / P2PNODE_TURN_PASS
 * (never argv). Every event is one JSON line on stdout, with `t` = ms since start.
 *
 *   {"mode":"listen", stun, broker, window}
 *     → ready {addr, nat}; takes the first pipe and reads it to its end:
 *       each binary message starts with its sequence number (uint32 BE); it
 *       counts duplicates, gaps and reorders, hashes every byte in order, and
 *       prints "mid" once `midMiB` arrived; the sender's closing text message
 *       {"end":N,"sha":…} gives the expected count and hash: "received", then
 *       it answers "ok" and waits for the sender's close.
 *   {"mode":"connect", stun, broker, window, addr, mib, chunkKiB, turn?: [uri…]}
 *     → connected {strategy, relay}; sends `mib` MiB in `chunkKiB` messages,
 *       then the end message, waits for "ok": "sent", then a graceful close.
 *
 * Both: "path" for each path event (lost: code and message; resumed: resent and
 * ms since lost, with the strategy the new path's connect reported on the
 * connecting side), "closed" with the pipe's error code when it failed (and how
 * long the pending send took to settle after that), then "exit", and the
 * process exits by itself, whatever happened.
 */
import { createHash, randomBytes } from "node:crypto";
import { startNode } from "../../src/node.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";
import type { Logger } from "../../src/util/logger.ts";

interface Config {
  mode: "listen" | "connect";
  stun: string;
  broker: string;
  /** resumeWindow, ms. */
  window: number;
  addr?: string;
  mib?: number;
  chunkKiB?: number;
  midMiB?: number;
  turn?: string[];
  /** connect() options: strategies to race, and whether a relayed pipe may upgrade. */
  strategies?: string[];
  upgrade?: boolean;
}

const cfg = JSON.parse(process.env.P2PNODE_MIGRATE ?? "{}") as Config;
const T0 = performance.now();
const now = () => Math.round(performance.now() - T0);
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify({ ...o, t: now() }) + "\n");
const codeOf = (e: unknown) => (e as { code?: string } | undefined)?.code ?? null;

// Hard stop: whatever hangs, the fixture exits (the test reports the missing events).
setTimeout(() => {
  out({ event: "watchdog" });
  process.exit(9);
}, 240_000).unref();

/** Connect progress the node logs (orchestrator events), kept for "which strategy carried the new path". */
const PROGRESS = new Set(["strategy", "strategy-failed", "strategy-skipped", "strategy-cancelled", "connected", "turn-allocated", "turn-connected", "pipe resumed on a new path", "no new path yet"]);
let lastConnected: { strategy?: string; server?: string } = {};
let relayServer: string | undefined;
function logger(component: string[] = []): Logger {
  const log = (level: string) => (msg: string, meta?: Record<string, unknown>) => {
    if (PROGRESS.has(msg)) {
      if (msg === "turn-connected") relayServer = meta?.server as string;
      if (msg === "connected") lastConnected = { strategy: meta?.strategy as string, server: meta?.strategy === "turn" ? relayServer : undefined };
      out({ event: "log", component: component.join("/"), msg, ...(meta ?? {}) });
    } else if (level !== "debug" || process.env.P2PNODE_MIGRATE_DEBUG) {
      process.stderr.write(`${now()} ${level} [${component.join("/")}] ${msg} ${meta ? JSON.stringify(meta) : ""}\n`);
    }
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error"), child: (c) => logger([...component, c]) };
}

const node = await startNode({
  // Short liveness timers: a dead path is noticed within ~2.5 s.
  pipe: { resumeWindow: cfg.window, keepaliveInterval: 500, deadPeerTimeout: 2500 },
  stun: [cfg.stun],
  signaling: [cfg.broker],
  discoveryTimeout: 4000,
  discoveryWait: 4000,
  portMapping: false,
  turn: (cfg.turn ?? []).map((urls) => ({ urls, username: process.env.P2PNODE_TURN_USER ?? "", credential: process.env.P2PNODE_TURN_PASS ?? "" })),
  turnOptions: { relay: "auto" },
  logger: logger(),
});
await node.natReady();

async function finish(code: number): Promise<never> {
  await node.close();
  out({ event: "exit", code });
  process.exit(code);
}

/** Path events of a pipe, timed; the connecting side adds the strategy its new path came by. */
function watchPath(pipe: Pipe): void {
  let lostAt: number | undefined;
  pipe.on("path", (e) => {
    if (e.state === "lost") {
      lostAt = performance.now();
      out({ event: "path", state: "lost", code: codeOf(e.error), error: e.error.message });
    } else {
      const ms = lostAt === undefined ? null : Math.round(performance.now() - lostAt);
      out({ event: "path", state: "resumed", why: e.why, from: e.from, to: e.to, resent: e.resent, resumeMs: ms, pipeStrategy: pipe.strategy, receivedBytes, ...(pipe.inbound ? {} : { strategy: lastConnected.strategy ?? null, server: lastConnected.server ?? null }) });
    }
  });
  void pipe.closed.then((err) => err && out({ event: "closed", code: codeOf(err), error: err.message }));
}

const midBytes = (cfg.midMiB ?? 4) * 1024 * 1024;
/** Bytes the listener has received so far (in path events: how much came before a move). */
let receivedBytes = 0;

if (cfg.mode === "listen") {
  let taken = false;
  node.on("pipe", (pipe) => {
    if (taken) return;
    taken = true;
    out({ event: "pipe", strategy: pipe.strategy, remote: pipe.remoteAddress ?? null });
    watchPath(pipe);
    void receive(pipe);
  });
  out({ event: "ready", addr: node.addr, nat: node.nat?.tcp?.natType ?? null });
  process.on("SIGTERM", () => void finish(0));
} else {
  await send();
}

async function receive(pipe: Pipe): Promise<void> {
  const hash = createHash("sha256");
  let last = 0;
  let messages = 0;
  let bytes = 0;
  let dup = 0;
  let missing = 0;
  let reordered = 0;
  let mid = false;
  let ended = false;
  try {
    for await (const msg of pipe) {
      if (msg.isText) {
        const end = JSON.parse(msg.text) as { end: number; sha: string };
        const sha = hash.digest("hex");
        ended = true;
        out({ event: "received", messages, bytes, last, expected: end.end, dup, missing: missing + Math.max(0, end.end - last), reordered, sha, senderSha: end.sha, intact: sha === end.sha && messages === end.end && dup === 0 && missing === 0 && reordered === 0 });
        await pipe.send("ok");
        continue;
      }
      const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
      const seq = data.readUInt32BE(0);
      if (seq <= last) {
        dup++;
        out({ event: "anomaly", kind: "duplicate-or-old", seq, last });
        continue;
      }
      if (seq !== last + 1) {
        missing += seq - last - 1;
        reordered++;
        out({ event: "anomaly", kind: "gap", seq, last });
      }
      last = seq;
      messages++;
      bytes += data.length;
      receivedBytes = bytes;
      hash.update(data);
      if (!mid && bytes >= midBytes) {
        mid = true;
        out({ event: "mid", bytes, messages });
      }
    }
  } catch (err) {
    out({ event: "recv-error", code: codeOf(err), error: (err as Error).message });
  }
  const err = await pipe.closed;
  if (!ended) out({ event: "incomplete", messages, bytes, last, dup, missing, code: codeOf(err) });
  await finish(0);
}

async function send(): Promise<void> {
  let pipe: Pipe;
  try {
    pipe = await node.connect(cfg.addr as string, { timeout: 30_000, ...(cfg.strategies ? { strategies: cfg.strategies as StrategyName[] } : {}), ...(cfg.upgrade !== undefined ? { upgrade: cfg.upgrade } : {}) });
  } catch (err) {
    out({ event: "connect-failed", code: codeOf(err), error: (err as Error).message });
    return finish(1);
  }
  out({ event: "connected", strategy: pipe.strategy, relay: pipe.relay ?? null, remote: pipe.remoteAddress ?? null, ms: now() });
  watchPath(pipe);
  // Read the listener's answers: an unread pipe pauses.
  const replies: string[] = [];
  let gotOk: () => void = () => {};
  const ok = new Promise<void>((r) => (gotOk = r));
  void (async () => {
    for await (const m of pipe) if (m.isText && (replies.push(m.text), m.text === "ok")) gotOk();
  })().catch(() => {});

  const chunk = (cfg.chunkKiB ?? 64) * 1024;
  const count = Math.ceil(((cfg.mib ?? 20) * 1024 * 1024) / chunk);
  const hash = createHash("sha256");
  const t1 = performance.now();
  let seq = 0;
  try {
    for (seq = 1; seq <= count; seq++) {
      const buf = randomBytes(chunk);
      buf.writeUInt32BE(seq, 0);
      hash.update(buf);
      await pipe.send(buf);
      if (seq * chunk === midBytes) out({ event: "sent-mid", seq });
    }
    const sha = hash.digest("hex");
    await pipe.send(JSON.stringify({ end: count, sha }));
    await Promise.race([ok, pipe.closed.then((e) => Promise.reject(e ?? new Error("the pipe closed before the answer")))]);
    out({ event: "sent", messages: count, sha, transferMs: Math.round(performance.now() - t1) });
    await pipe.close();
    return finish(0);
  } catch (err) {
    // The pending send (or the wait for the answer) settled because the pipe failed.
    const closedErr = await pipe.closed;
    out({ event: "send-settled", seq, code: codeOf(err), error: (err as Error).message, pipeCode: codeOf(closedErr) });
    return finish(2);
  }
}
