/**
 * connect() races its plan (src/connect/race.ts) through real nodes on loopback: a strategy that
 * does not connect by its expected time gets company, the first pipe wins, the loser is cancelled
 * and says nothing more; the pipe's trace and a ConnectError's lines say what each strategy did.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { ConnectError } from "../../src/errors.ts";
import { encodeAddress } from "../../src/identity/address.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { defaultStrategies } from "../../src/strategies/index.ts";
import type { Strategy } from "../../src/strategies/strategy.ts";
import { loopbackNode } from "../support/nodes.ts";

let broker: Awaited<ReturnType<typeof startBroker>>;
before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await broker.close();
});

/** A "direct" that never connects: it waits until the race cancels it, and records that it was. */
function stuckDirect(seen: string[]): Strategy {
  const [direct] = defaultStrategies();
  return {
    name: "direct",
    applies: (l, r) => direct.applies(l, r),
    dial: (_ctx, o) =>
      new Promise((_, reject) => {
        o.signal.addEventListener("abort", () => {
          seen.push(`aborted: ${(o.signal.reason as Error).message}`);
          reject(o.signal.reason);
        });
      }),
  };
}

test("a strategy past its expected time gets company: reverse wins, the stuck direct is cancelled; the trace says so", async () => {
  const seen: string[] = [];
  const others = defaultStrategies().filter((s) => s.name !== "direct");
  const a = await loopbackNode({ signaling: [broker.url], allowPrivate: true, strategies: [stuckDirect(seen), ...others] });
  const b = await loopbackNode({ signaling: [broker.url], allowPrivate: true });
  const events: string[] = [];
  const pipe = await a.connect(b.addr, { onProgress: (e, d) => events.push(`${e}${"strategy" in d ? ` ${d.strategy}` : ""}`) });
  assert.equal(pipe.strategy, "reverse");
  assert.deepEqual(seen, ["aborted: another strategy won the race"]);
  // direct started first, reverse joined it, reverse won, and direct was cancelled (nothing from it after).
  assert.deepEqual(events.filter((e) => /^(strategy |strategy-cancelled|connected)/.test(e)), ["strategy direct", "strategy reverse", "strategy-cancelled direct", "connected reverse"]);
  const byName = Object.fromEntries(pipe.trace.map((t) => [t.strategy, t]));
  assert.equal(byName.direct.outcome, "cancelled");
  assert.equal(byName.reverse.outcome, "won");
  assert.ok(byName.reverse.startMs! >= byName.direct.startMs!, "reverse started after direct");
  assert.equal(byName.turn.outcome, "skipped");
  assert.match(byName.turn.reason, /no TURN server configured/);
  await pipe.send("over the winner");
  await pipe.close();
});

test("every strategy failed: ConnectError says in one line per strategy why (failed, skipped), with the same trace", async () => {
  // An address whose only endpoint is a port nothing listens on; no signaling, so the helpers are unavailable.
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const target = await loopbackNode();
  const addr = encodeAddress(target.identity, { ...target.address, seq: 2, interfaces: target.address.interfaces.map((i) => ({ ...i, port })) });
  const a = await loopbackNode();
  const err = await a.connect(addr, { timeout: 10_000 }).then(() => undefined, (e) => e);
  assert.ok(err instanceof ConnectError, String(err));
  const lines = err.message.split("\n");
  assert.match(lines[0], /^could not connect to [a-z2-7]+:$/);
  assert.match(lines[1], /^ {2}direct: failed after \d+ ms: .*127\.0\.0\.1/);
  assert.deepEqual(err.trace.map((t) => [t.strategy, t.outcome]), [["direct", "failed"]]);
  assert.equal(err.errors.length, 1);
});

test("aborting a race in each phase frees every socket and timer, leaves no pipe on either side, and says nothing afterwards", async () => {
  const { AbortError } = await import("../../src/errors.ts");
  const { settledResources, backTo } = await import("../compliance/probe.ts");
  const others = defaultStrategies().filter((s) => s.name !== "direct");
  const seen: string[] = [];
  const a = await loopbackNode({ signaling: [broker.url], allowPrivate: true, strategies: [stuckDirect(seen), ...others] });
  const b = await loopbackNode({ signaling: [broker.url], allowPrivate: true });
  // Phases named by the progress event at which the caller gives up (synchronously, in the listener).
  for (const phase of ["strategy direct", "strategy reverse", "reverse-request"]) {
    const baseline = await settledResources();
    const ctl = new AbortController();
    const events: string[] = [];
    let afterAbort = 0;
    const err = await a
      .connect(b.addr, {
        signal: ctl.signal,
        onProgress: (e, d) => {
          if (ctl.signal.aborted) afterAbort++;
          events.push(`${e}${"strategy" in d ? ` ${d.strategy}` : ""}`);
          if (events.at(-1) === phase) ctl.abort();
        },
      })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof AbortError, `${phase}: ${String(err)}`);
    // The cancellations themselves are reported; nothing else from a stopped attempt.
    assert.ok(events.slice(events.indexOf(phase) + 1).every((e) => e.startsWith("strategy-cancelled")), `${phase}: ${events.join(", ")}`);
    assert.equal(afterAbort, events.length - events.indexOf(phase) - 1);
    await backTo(baseline, `abort at "${phase}"`);
    assert.equal(a.pipes.size, 0, `${phase}: no pipe on the connecting side`);
    assert.equal(b.pipes.size, 0, `${phase}: no pipe left on the peer (a late dial-back is closed)`);
  }
});
