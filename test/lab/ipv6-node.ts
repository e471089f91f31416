/**
 * Lab fixture for test/lab/ipv6.test.ts: a real node (library API) in a dual-stack lab host.
 *
 *   ipv6-node.ts listen  STUN BROKER                       → {"event":"ready","addr","v6","nat","nat6"}; echoes every message;
 *                                                            {"event":"pipe","strategy","remoteAddress"} per pipe
 *   ipv6-node.ts connect STUN BROKER ADDR STRATEGIES TIMEOUT → one connect ("auto" = the ranked plan): send "hi",
 *                                                            wait for the echo, close; one JSON line, then {"event":"done"}
 *
 * "connected" carries the pipe's strategy and remoteAddress (which family it really used) and
 * the punch target; "failed" the error's class, code, cause code and the time it took.
 * STUN may be a comma-separated list (an IPv4 and an IPv6 server: discovery per family).
 */
import { startNode } from "../../src/node.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";

const [mode, stun, broker, target, strategies, timeout] = process.argv.slice(2);
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");

const node = await startNode({ stun: stun.split(","), signaling: [broker], discoveryTimeout: 4000, discoveryWait: 4000, portMapping: false });
await node.natReady();
const v6 = node.address.interfaces.flatMap((i) => i.v6);

if (mode === "listen") {
  node.onMessage(async (msg, pipe) => void (await pipe.send(msg.isText ? msg.text : msg.data)));
  node.on("pipe", (pipe) => out({ event: "pipe", strategy: pipe.strategy, remoteAddress: pipe.remoteAddress }));
  out({ event: "ready", addr: node.addr, v6, nat: node.nat?.tcp?.natType ?? "unknown", nat6: node.address.interfaces.map((i) => i.nat6?.tcp.type ?? null), report6: node.nat6?.tcp?.natType ?? null });
  process.on("SIGTERM", () => void node.close().then(() => process.exit(0)));
} else {
  const t0 = performance.now();
  const progress: Array<Record<string, unknown>> = [];
  try {
    const pipe = await node.connect(target, {
      strategies: strategies === "auto" ? undefined : (strategies.split(",") as StrategyName[]),
      timeout: Number(timeout),
      onProgress: (step, detail) => progress.push({ step, ...detail }),
    });
    const ms = Math.round(performance.now() - t0);
    await pipe.send("hi");
    const reply = await pipe.recv({ timeout: 5000 });
    const punched = progress.find((p) => p.step === "punch-connected");
    out({ event: "connected", strategy: pipe.strategy, remoteAddress: pipe.remoteAddress, ms, echo: reply.text, target: punched?.target, synToOpenMs: punched?.synToOpenMs, tried: progress.filter((p) => p.step === "strategy").map((p) => p.strategy) });
    await pipe.close();
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { code?: string } };
    const skipped = progress.filter((p) => p.step === "strategy-skipped").map((p) => `${p.strategy} skipped: ${p.reason}`);
    out({ event: "failed", ms: Math.round(performance.now() - t0), name: e.constructor.name, code: e.code, causeCode: e.cause?.code, error: [e.message, ...skipped].join("; ") });
  }
  await node.close();
  out({ event: "done" });
}
