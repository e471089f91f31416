/**
 * Lab fixture: a real node (library API) for test/lab/punch.test.ts.
 *
 *   punch-node.ts listen  STUN BROKER                    → {"event":"ready","addr",…}; echoes every message
 *   punch-node.ts connect STUN BROKER ADDR COUNT [strategies|auto] → COUNT × connect (punch forced by default; auto = ranking),
 *                                                              send "hi", wait for the echo, close; one JSON line each
 *
 * The strategies argument may list one set per connect, separated by ";" (e.g. "punch;auto": a
 * forced punch, then the full plan), cycled. With P2PNODE_TURN_URI (and P2PNODE_TURN_USER /
 * P2PNODE_TURN_PASS, never argv) the node has that TURN relay too. With P2PNODE_HOLD_MS, a pipe
 * that came up through the relay is kept that long before it is closed, so a background upgrade
 * can move it: "best" says where it ended up and when (ms since the connect began).
 */
import { startNode } from "../../src/node.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";

const [mode, stun, broker, target, count, strategies] = process.argv.slice(2);
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");

// The 20× repeat asks one listener for 20 punches in a row: above the default per-peer limit on
// requests that make a node dial out (a burst of 5), which is right for real peers.
const rateLimit = { perPeer: { capacity: 100, refillPerSecond: 10 } };
const turnUri = process.env.P2PNODE_TURN_URI;
const turn = turnUri ? [{ urls: turnUri, username: process.env.P2PNODE_TURN_USER ?? "", credential: process.env.P2PNODE_TURN_PASS ?? "" }] : undefined;
const node = await startNode({ stun: [stun], signaling: [broker], discoveryTimeout: 4000, discoveryWait: 4000, portMapping: false, rateLimit, turn });
await node.natReady();
const nat = node.nat?.tcp ? `${node.nat.tcp.natType} ${node.nat.tcp.delta.kind}` : "unknown";

if (mode === "listen") {
  node.onMessage(async (msg, pipe) => void (await pipe.send(msg.isText ? msg.text : msg.data)));
  node.on("pipe", (pipe) => out({ event: "pipe", strategy: pipe.strategy, remoteAddress: pipe.remoteAddress }));
  out({ event: "ready", addr: node.addr, nat });
  process.on("SIGTERM", () => void node.close().then(() => process.exit(0)));
} else {
  out({ event: "ready", nat });
  const sets = (strategies ?? "punch").split(";");
  for (let i = 0; i < Number(count); i++) {
    const t0 = performance.now();
    const progress: Array<Record<string, unknown>> = [];
    const set = sets[i % sets.length];
    try {
      const pipe = await node.connect(target, {
        strategies: set === "auto" ? undefined : (set.split(",") as StrategyName[]),
        // Above the punch deadline (10 s): under loss the kernel's SYN retransmits need it. The full plan
        // may spend its caps on strategies that cannot work before the relay.
        timeout: set === "auto" ? 20_000 : 15_000,
        onProgress: (step, detail) => progress.push({ step, ...detail }),
      });
      const ms = Math.round(performance.now() - t0);
      const holdMs = Number(process.env.P2PNODE_HOLD_MS ?? 0);
      let best = { strategy: pipe.strategy, ms };
      if (holdMs > 0 && pipe.strategy === "turn") {
        pipe.on("path", (e) => {
          if (e.state === "resumed" && e.why === "better") best = { strategy: e.to, ms: Math.round(performance.now() - t0) };
        });
        await new Promise((r) => setTimeout(r, holdMs));
      }
      await pipe.send("hi");
      const reply = await pipe.recv({ timeout: 5000 });
      const punched = progress.find((p) => p.step === "punch-connected");
      out({ event: "connected", i, set, strategy: pipe.strategy, relay: pipe.relay, ms, echo: reply.text, skewMs: punched?.skewMs, synToOpenMs: punched?.synToOpenMs, target: punched?.target, best, tried: progress.filter((p) => p.step === "strategy").map((p) => p.strategy) });
      await pipe.close();
    } catch (err) {
      // A skipped strategy's reason is only in the progress trace: put it in the error.
      const skipped = progress.filter((p) => p.step === "strategy-skipped").map((p) => `${p.strategy} skipped: ${p.reason}`);
      out({ event: "failed", i, set, ms: Math.round(performance.now() - t0), error: [(err as Error).message, ...skipped].join("; "), progress: progress.map((p) => p.step) });
    }
  }
  await node.close();
  out({ event: "done" });
}
