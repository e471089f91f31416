// The direct strategy's race (RFC 8305) on fake time: when the next candidate starts,
// what a failure and a win do to the others, that an abort or a win frees every timer,
// and IPv6's head start over IPv4 (real sockets on ::1 and 127.0.0.1).
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { AbortError, DialError } from "../../src/errors.ts";
import { attemptDelay, DirectStrategy, happyEyeballsOrder, MAX_ATTEMPT_DELAY_MS, MIN_ATTEMPT_DELAY_MS, type Candidate } from "../../src/strategies/direct.ts";
import type { DialContext } from "../../src/strategies/strategy.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { waitFor } from "../support/nodes.ts";
import { closedPorts } from "./punch/harness.ts";

/** A server that accepts and never answers; counts and holds what it accepted. */
async function silentServer(host = "127.0.0.1"): Promise<{ port: number; accepted: net.Socket[]; close(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer((s) => (accepted.push(s), s.on("error", () => {}), s.resume()));
  await new Promise<void>((r) => srv.listen(0, host, r));
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

/**
 * A context on fake time whose handshake hangs until aborted, or succeeds for `winsOn`
 * ports (numbers) or hosts (strings); `steps` is "event port", or "event host" with `byHost`.
 */
function context(time: FakeTime, winsOn: Array<number | string> = [], byHost = false) {
  const steps: string[] = [];
  const ctx: Pick<DialContext, "secure" | "progress" | "timers"> = {
    timers: time,
    progress: (event, detail) => void steps.push(`${event} ${byHost && "host" in detail ? detail.host : "port" in detail ? detail.port : ""}`),
    secure: (stream, _role, signal) =>
      winsOn.includes((stream as net.Socket).remotePort ?? 0) || winsOn.includes((stream as net.Socket).remoteAddress ?? "")
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
    const res = await new DirectStrategy({ staggerMs: 2000 }).race([at(closed), at(b.port)], ctx, { signal: new AbortController().signal, timeout: 5000 });
    assert.equal(res.remotePort, b.port);
    assert.deepEqual(steps.map((s) => s.split(" ")[0]), ["dial", "dial-failed", "dial"], "no time passed: the failure launched the next");
    assert.equal(time.pending, 0, "the 2 s stagger timer was freed by the win");
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

describe("direct race between families (RFC 8305: IPv6 first, one Connection Attempt Delay of head start)", () => {
  let v6: Awaited<ReturnType<typeof silentServer>>;
  let v4: Awaited<ReturnType<typeof silentServer>>;
  before(async () => {
    [v6, v4] = await Promise.all([silentServer("::1"), silentServer("127.0.0.1")]);
  });
  after(async () => {
    await Promise.all([v6.close(), v4.close()]);
  });
  // Listed IPv4 first, as a peer may: the order puts IPv6 first all the same.
  const pair = (v6Port: number): Candidate[] => happyEyeballsOrder([at(v4.port), { host: "::1", port: v6Port, kind: "loopback" }]);

  test("the stagger is RFC 8305's Connection Attempt Delay: 250 ms by default, clamped to 100–2000 ms", () => {
    assert.equal(new DirectStrategy().options.staggerMs, 250);
    assert.deepEqual([0, 10, 99, 100, 250, 2000, 60_000, Number.NaN].map(attemptDelay), [100, 100, 100, 100, 250, 2000, 2000, 250]);
    assert.equal(new DirectStrategy({ staggerMs: 5 }).options.staggerMs, MIN_ATTEMPT_DELAY_MS);
    assert.equal(new DirectStrategy({ staggerMs: 1e9 }).options.staggerMs, MAX_ATTEMPT_DELAY_MS);
  });

  test("IPv4 starts only after IPv6's head start; it wins, and the pending IPv6 attempt is cancelled", async () => {
    const time = new FakeTime();
    const { ctx, steps } = context(time, ["127.0.0.1"], true);
    const before = v6.accepted.length;
    const p = new DirectStrategy().race(pair(v6.port), ctx, { signal: new AbortController().signal, timeout: 5000 });
    await waitFor(() => v6.accepted.length > before, 5000, "the IPv6 attempt to connect");
    await time.advance(249);
    assert.deepEqual(steps, ["dial ::1"], "IPv4 waits out the head start");
    await time.advance(1);
    const res = await p;
    assert.equal(res.remoteAddress, "127.0.0.1");
    const loser = v6.accepted[before];
    await waitFor(() => loser.readableEnded || loser.destroyed, 5000, "the IPv6 loser's socket to close");
    await waitFor(() => steps.length === 3, 5000, "the loser's cancellation");
    assert.deepEqual(steps, ["dial ::1", "dial 127.0.0.1", "dial-failed ::1"], "IPv4 won, then the IPv6 attempt was cancelled");
    assert.equal(time.pending, 0, "the loser's deadline and TCP timer freed");
    res.stream.destroy();
  });

  test("IPv6 refused: IPv4 starts at once, without waiting for the head start", async () => {
    const time = new FakeTime();
    const { ctx, steps } = context(time, ["127.0.0.1"], true);
    const [closed] = await closedPorts(1);
    const res = await new DirectStrategy().race(pair(closed), ctx, { signal: new AbortController().signal, timeout: 5000 });
    assert.equal(res.remoteAddress, "127.0.0.1");
    assert.deepEqual(steps, ["dial ::1", "dial-failed ::1", "dial 127.0.0.1"], "no fake time passed");
    assert.equal(time.pending, 0);
    res.stream.destroy();
  });

  test("IPv6 wins within its head start: IPv4 never starts, no timer left", async () => {
    const time = new FakeTime();
    const { ctx, steps } = context(time, ["::1"], true);
    const before = v4.accepted.length;
    const res = await new DirectStrategy().race(pair(v6.port), ctx, { signal: new AbortController().signal, timeout: 5000 });
    assert.equal(res.remoteAddress, "::1");
    assert.deepEqual(steps, ["dial ::1"]);
    assert.equal(time.pending, 0, "the head-start timer was freed by the win");
    await time.advance(10_000);
    assert.deepEqual(steps, ["dial ::1"], "nothing starts later either");
    assert.equal(v4.accepted.length, before);
    res.stream.destroy();
  });
});
