// The direct strategy's race (RFC 8305 style) on fake time: when the next candidate starts,
// what a failure and a win do to the others, and that an abort or a win frees every timer.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { AbortError, DialError } from "../../src/errors.ts";
import { DirectStrategy, type Candidate } from "../../src/strategies/direct.ts";
import type { DialContext } from "../../src/strategies/strategy.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { waitFor } from "../support/nodes.ts";
import { closedPorts } from "./punch/harness.ts";

/** A server that accepts and never answers; counts and holds what it accepted. */
async function silentServer(): Promise<{ port: number; accepted: net.Socket[]; close(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer((s) => (accepted.push(s), s.on("error", () => {}), s.resume()));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted,
    close: async () => {
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

const at = (port: number): Candidate => ({ host: "127.0.0.1", port, kind: "loopback" });

/** A context on fake time whose handshake hangs until aborted, or succeeds for `winsOn` ports. */
function context(time: FakeTime, winsOn: number[] = []) {
  const steps: string[] = [];
  const ctx: Pick<DialContext, "secure" | "progress" | "timers"> = {
    timers: time,
    progress: (event, detail) => void steps.push(`${event} ${"port" in detail ? detail.port : ""}`),
    secure: (stream, _role, signal) =>
      winsOn.includes((stream as net.Socket).remotePort ?? 0)
        ? Promise.resolve({ remoteId: "peer" } as never)
        : new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
  };
  return { ctx, steps };
}

describe("direct race", () => {
  let a: Awaited<ReturnType<typeof silentServer>>;
  let b: Awaited<ReturnType<typeof silentServer>>;
  before(async () => {
    [a, b] = await Promise.all([silentServer(), silentServer()]);
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test("the next candidate starts staggerMs after the first while it is pending; an abort ends both and frees every timer", async () => {
    const time = new FakeTime();
    const { ctx, steps } = context(time);
    const ctrl = new AbortController();
    const p = new DirectStrategy({ staggerMs: 250, attemptTimeout: 5000 }).race([at(a.port), at(b.port)], ctx, { signal: ctrl.signal, timeout: 5000 });
    const rejected = assert.rejects(p, AbortError);
    await time.advance(249);
    assert.deepEqual(steps, [`dial ${a.port}`]);
    await time.advance(1);
    assert.deepEqual(steps, [`dial ${a.port}`, `dial ${b.port}`]);
    ctrl.abort();
    await rejected;
    assert.equal(time.pending, 0, "attempt deadlines and TCP timers freed");
  });

  test("a refused candidate starts the next at once, without waiting for the stagger", async () => {
    const time = new FakeTime();
    const { ctx, steps } = context(time, [b.port]);
    const [closed] = await closedPorts(1);
    const res = await new DirectStrategy({ staggerMs: 60_000 }).race([at(closed), at(b.port)], ctx, { signal: new AbortController().signal, timeout: 5000 });
    assert.equal(res.remotePort, b.port);
    assert.deepEqual(steps.map((s) => s.split(" ")[0]), ["dial", "dial-failed", "dial"], "no time passed: the failure launched the next");
    assert.equal(time.pending, 0, "the 60 s stagger timer was freed by the win");
    res.stream.destroy();
  });

  test("the first session wins; the loser is aborted and its socket closed", async () => {
    const time = new FakeTime();
    const { ctx } = context(time, [b.port]);
    const before = a.accepted.length;
    const p = new DirectStrategy({ staggerMs: 100 }).race([at(a.port), at(b.port)], ctx, { signal: new AbortController().signal, timeout: 5000 });
    await time.advance(100);
    const res = await p;
    assert.equal(res.remotePort, b.port);
    const loser = a.accepted[before];
    assert.ok(loser, "the first candidate was dialled");
    await waitFor(() => loser.readableEnded || loser.destroyed, 5000, "the loser's socket to close");
    assert.equal(time.pending, 0);
    res.stream.destroy();
  });

  test("every candidate out of time: DialError naming each endpoint and its timeout", async () => {
    const time = new FakeTime();
    const { ctx } = context(time);
    const p = new DirectStrategy({ staggerMs: 250, attemptTimeout: 1000 }).race([at(a.port)], ctx, { signal: new AbortController().signal, timeout: 5000 });
    const rejected = assert.rejects(p, (e: Error) => e instanceof DialError && new RegExp(`127\\.0\\.0\\.1:${a.port} \\(.*no answer from 127\\.0\\.0\\.1:${a.port} within 1000 ms\\)`).test(e.message));
    await time.advance(999);
    await time.advance(1);
    await rejected;
    assert.equal(time.pending, 0);
  });
});
