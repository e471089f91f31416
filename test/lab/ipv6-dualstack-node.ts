/**
 * Lab fixture for test/lab/ipv6-dualstack.test.ts: one connect() from a dual-stack lab host,
 * with the direct race's trace (the listener is ipv6-node.ts listen).
 *
 *   ipv6-dualstack-node.ts STUN BROKER ADDR STRATEGIES TIMEOUT
 *     → {"event":"connected","strategy","remoteAddress","ms","trace"} or {"event":"failed","ms","code","error","trace"},
 *       then {"event":"done"}
 *
 * `trace` is every "dial" / "dial-failed" step of the race in order, with its host and the
 * connect's elapsed ms: which family started first, when the other one started, and why.
 */
import { startNode } from "../../src/node.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";

const [stun, broker, target, strategies, timeout] = process.argv.slice(2);
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");

const node = await startNode({ stun: [stun], signaling: [broker], discoveryTimeout: 4000, discoveryWait: 4000, portMapping: false });
await node.natReady();
const trace: Array<Record<string, unknown>> = [];
const t0 = performance.now();
try {
  const pipe = await node.connect(target, {
    strategies: strategies.split(",") as StrategyName[],
    timeout: Number(timeout),
    onProgress: (step, detail) => {
      const d = detail as Record<string, unknown>;
      if (step === "dial" || step === "dial-failed") trace.push({ step, host: d.host, port: d.port, ms: d.ms, ...(d.error ? { error: d.error } : {}) });
    },
  });
  const ms = Math.round(performance.now() - t0);
  await pipe.send("hi");
  const reply = await pipe.recv({ timeout: 5000 });
  out({ event: "connected", strategy: pipe.strategy, remoteAddress: pipe.remoteAddress, ms, echo: reply.text, trace });
  await pipe.close();
} catch (err) {
  const e = err as Error & { code?: string };
  out({ event: "failed", ms: Math.round(performance.now() - t0), code: e.code, error: e.message, trace });
}
await node.close();
out({ event: "done" });
