/**
 * A relayed pipe moves to a better path by itself: two loopback nodes, a real
 * coturn as the relay; the pipe starts on the relay (connect restricted to
 * turn, `upgrade: true`), the node keeps trying the better strategies in the
 * background, and the pipe moves to a direct connection in the middle of a
 * stream of messages — each arrives once, in order, and after the move the
 * relay is let go (coturn, allowing one TCP allocation per user, grants the next).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { keeperOf, UPGRADE_AFTER } from "../../src/connect/keep-path.ts";
import type { PathEvent } from "../../src/pipe/resumption.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { startCoturn, type LoopbackCoturn } from "../support/coturn.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

let broker: Awaited<ReturnType<typeof startBroker>>;
before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await broker.close();
});

/** Two nodes and a coturn of their own that grants its user one allocation at a time. */
async function pair(relay: "tcp" | "udp") {
  const coturn: LoopbackCoturn = await startCoturn({ userQuota: relay === "tcp" ? 1 : undefined });
  const urls = `turn:127.0.0.1:${coturn.port}${relay === "tcp" ? "?transport=tcp" : ""}`;
  const turn = [{ urls, username: coturn.username, credential: coturn.password }];
  const a = await loopbackNode({ signaling: [broker.url], allowPrivate: true, turn, turnOptions: { relay } });
  const b = await loopbackNode({ signaling: [broker.url], allowPrivate: true });
  return { a, b };
}

for (const relay of ["tcp", "udp"] as const) {
  test(`a pipe on a ${relay.toUpperCase()} relay moves to direct mid-stream: every message once, in order; pipe.strategy, the trace and a path event say so on both ends`, async () => {
    const { a, b } = await pair(relay);
    const inbound = new Promise<Pipe>((r) => b.once("pipe", r));
    b.onMessage((m, p) => p.send(`echo ${m.text}`));
    const pipe = await a.connect(b.addr, { strategies: ["turn"], upgrade: true, timeout: 15_000 });
    assert.equal(pipe.strategy, "turn");
    assert.ok(pipe.relay, "relayed at first");
    assert.equal(keeperOf(pipe)?.upgradesLeft, UPGRADE_AFTER.length, "upgrade: true plans every upgrade try");
    const theirs = await inbound;
    assert.equal(theirs.strategy, "turn");
    const ours: PathEvent[] = [];
    const seen: PathEvent[] = [];
    pipe.on("path", (e) => ours.push(e));
    theirs.on("path", (e) => seen.push(e));

    const N = 2000;
    const echoes: string[] = [];
    const reading = (async () => {
      for await (const m of pipe) if (echoes.push(m.text) === N) return;
    })();
    // Messages before, during and after the move (it comes 500 ms after the connect).
    for (let i = 0; i < N; i++) {
      await pipe.send(`m${i}`);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    await reading;
    assert.deepEqual(echoes, Array.from({ length: N }, (_, i) => `echo m${i}`), "every echo once, in order");
    await waitFor(() => ours.some((e) => e.state === "resumed"), 10_000, "the move");
    const moved = ours.find((e) => e.state === "resumed");
    assert.ok(moved && moved.state === "resumed");
    assert.equal(moved.from, "turn");
    assert.equal(moved.to, "direct");
    assert.equal(moved.why, "better");
    assert.ok(!ours.some((e) => e.state === "lost"), "the relay path was not lost first: the pipe moved on purpose");
    assert.equal(pipe.strategy, "direct");
    assert.equal(pipe.relay, undefined);
    assert.equal(theirs.strategy, "direct", "the accepting side follows");
    assert.ok(seen.some((e) => e.state === "resumed" && e.from === "turn" && e.to === "direct"), JSON.stringify(seen));
    assert.ok(pipe.trace.some((t) => t.strategy === "turn" && t.outcome === "won"), "the first connect is in the trace");
    assert.ok(pipe.trace.some((t) => t.strategy === "direct" && t.outcome === "won"), "and the move's attempts after it");
    assert.equal(a.pipes.size, 1);
    assert.equal(b.pipes.size, 1, "one pipe on each side: the move did not make a second one");

    await pipe.send("after");
    assert.equal((await pipe.recv({ timeout: 5000 })).text, "echo after");
    if (relay === "tcp") {
      // The relay was let go: coturn allows this user one TCP allocation at a time, and a new relayed
      // pipe gets it. (Its quota counts UDP allocations in a way that proves nothing here; the path is
      // retired by the same code either way.)
      const second = await a.connect(b.addr, { strategies: ["turn"], timeout: 15_000 });
      assert.equal(second.strategy, "turn");
      await second.close();
    }
    await pipe.close();
  });
}

test("a pipe the caller restricted to the relay stays there (no upgrade unless asked)", async () => {
  const { a, b } = await pair("tcp");
  b.onMessage((m, p) => p.send(m.text));
  const pipe = await a.connect(b.addr, { strategies: ["turn"], timeout: 15_000 });
  const paths: PathEvent[] = [];
  pipe.on("path", (e) => paths.push(e));
  // Decided when the pipe was adopted (wantsUpgrade, table-tested in keep-path.test.ts): no try is planned, so no timer will move it.
  const keeper = keeperOf(pipe);
  assert.ok(keeper, "the resumable pipe has a keeper (it would reconnect a lost path)");
  assert.equal(keeper.upgradesLeft, 0, "no upgrade try planned");
  await pipe.send("still here");
  assert.equal((await pipe.recv({ timeout: 5000 })).text, "still here");
  assert.equal(pipe.strategy, "turn");
  assert.deepEqual(paths, []);
  await pipe.close();
});
