/**
 * Lab fixture: a real node with the TURN strategy, for test/lab/turn.test.ts.
 *
 *   turn-node.ts listen  STUN BROKER                        → {"event":"ready","addr",…}; answers each message with its sha256
 *   turn-node.ts connect STUN BROKER ADDR TURN_URI RELAY MIB → connect (turn only; the full plan with P2PNODE_PLAN=auto),
 *                                                              send MIB MiB, check the hash; one JSON line
 *
 * TURN credentials come from the environment (P2PNODE_TURN_USER / P2PNODE_TURN_PASS), never argv.
 */
import { createHash, randomBytes } from "node:crypto";
import { startNode } from "../../src/node.ts";

const [mode, stun, broker, target, turnUri, relay, mib] = process.argv.slice(2);
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");
const servers = turnUri ? [{ urls: turnUri, username: process.env.P2PNODE_TURN_USER ?? "", credential: process.env.P2PNODE_TURN_PASS ?? "" }] : [];
// P2PNODE_UNTIL_BROKEN: stream until the pipe breaks, with a short dead-peer timeout (relay-death test).
const untilBroken = process.env.P2PNODE_UNTIL_BROKEN === "1";
const node = await startNode({
  // Not resumable: this fixture shows how a plain pipe fails when its relay dies (test/lab/migrate.test.ts has the resumable one).
  pipe: untilBroken ? { keepaliveInterval: 1000, deadPeerTimeout: 5000, resumeWindow: 0 } : undefined,
  stun: [stun],
  signaling: [broker],
  discoveryTimeout: 4000,
  discoveryWait: 4000,
  portMapping: false,
  turn: servers,
  turnOptions: { relay: (relay as "tcp" | "udp" | undefined) ?? "auto" },
});
await node.natReady();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

if (mode === "listen") {
  node.onMessage(async (msg, pipe) => void (await pipe.send(msg.isText ? msg.text : sha(msg.data))));
  node.on("pipe", (pipe) => out({ event: "pipe", strategy: pipe.strategy }));
  out({ event: "ready", addr: node.addr, nat: node.nat?.tcp?.natType });
  process.on("SIGTERM", () => void node.close().then(() => process.exit(0)));
} else {
  const t0 = performance.now();
  const progress: string[] = [];
  try {
    // P2PNODE_PLAN=auto: the node's own plan (every strategy raced) instead of the relay alone.
    const strategies = process.env.P2PNODE_PLAN === "auto" ? undefined : (["turn"] as const);
    const pipe = await node.connect(target, { strategies: strategies && [...strategies], timeout: 20_000, onProgress: (step) => progress.push(step) });
    const connectMs = Math.round(performance.now() - t0);
    if (untilBroken) {
      out({ event: "streaming", strategy: pipe.strategy });
      const chunk = randomBytes(64 * 1024);
      let broken = false;
      void pipe.closed.then(() => (broken = true));
      // Read the listener's answers: an unread pipe pauses, and a paused pipe's silence is its own.
      void (async () => {
        for await (const _ of pipe) void _;
      })().catch(() => {});
      const sending = (async () => {
        // "mid": 1 MiB is through, the transfer is well under way (the test kills the relay then).
        let sent = 0;
        while (!broken) {
          await pipe.send(chunk);
          if (++sent === 16) out({ event: "mid" });
        }
      })().catch(() => {});
      const err = await pipe.closed;
      const t = performance.now();
      await sending;
      out({ event: "broken", code: (err as { code?: string } | undefined)?.code ?? null, error: err?.message ?? null, sendSettledMs: Math.round(performance.now() - t) });
      await node.close();
      out({ event: "done" });
      process.exit(0);
    }
    // MIB MiB in messages of at most 1 MiB; the listener answers each with its hash.
    const total = Math.round(Number(mib) * 1024 * 1024);
    // P2PNODE_MARKER: fill the data with that text instead (the capture test looks for it on the relay).
    const marker = process.env.P2PNODE_MARKER;
    const fill = (n: number) => (marker ? Buffer.alloc(n, marker) : randomBytes(n));
    const chunks = Array.from({ length: Math.ceil(total / (1024 * 1024)) }, (_, i) => fill(Math.min(1024 * 1024, total - i * 1024 * 1024)));
    const t1 = performance.now();
    for (const c of chunks) await pipe.send(c);
    let intact = true;
    for (const c of chunks) intact &&= (await pipe.recv({ timeout: 600_000 })).text === sha(c);
    const transferMs = Math.round(performance.now() - t1);
    out({ event: "connected", strategy: pipe.strategy, connectMs, transferMs, intact, mibPerS: +(Number(mib) / (transferMs / 1000)).toFixed(2), progress, trace: pipe.trace, nat: node.nat?.tcp?.natType, udpNat: node.nat?.udp?.natType });
    await pipe.close();
  } catch (err) {
    out({ event: "failed", ms: Math.round(performance.now() - t0), error: (err as Error).message, progress });
  }
  await node.close();
  out({ event: "done" });
}
