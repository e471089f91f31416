// The punch engine's bookkeeping on loopback: refused SYNs are retried up to their caps (the caps
// themselves: engine-caps.test.ts), abort frees everything at once. Loopback cannot show a
// simultaneous open (a SYN reaches the other port synchronously, before its socket exists, and
// is refused every time): successes are tested through real NATs in test/lab/punch.test.ts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { describe, test } from "node:test";
import { runPunch } from "../../../src/strategies/punch/session.ts";
import { simultaneousOpen } from "../../../src/strategies/punch/simultaneous-open.ts";
import { FakeTime } from "../../../src/util/clock.ts";

/** A free loopback port (bound and released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const handles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => h instanceof net.Socket && !(h as net.Socket).destroyed).length;

describe("punch on loopback", () => {
  test("nobody answers: the punch ends, every socket and timer is freed, the error says why", async () => {
    const port = await freePort();
    const startAt = performance.timeOrigin + performance.now();
    const before = handles();
    await assert.rejects(
      runPunch({ role: "initiator", token: randomBytes(16), localAddress: "127.0.0.1", localPorts: [await freePort()], targets: [{ ip: "127.0.0.1", port, kind: "mapped" }], startAt, windowEnd: startAt + 200, signal: new AbortController().signal }),
      (err: Error & { code?: string }) => err.code === "P2P_ERR_PUNCH" && /ECONNREFUSED/.test(err.message),
    );
    assert.equal(handles(), before);
  });

  test("abort before the start frees everything at once: no SYN, no timer left", async () => {
    const time = new FakeTime();
    const ctrl = new AbortController();
    const startAt = time.now() + 10_000;
    const p = simultaneousOpen({ localPorts: [await freePort()], targets: [{ ip: "127.0.0.1", port: 9, kind: "mapped" }], startAt, windowEnd: startAt + 1000, signal: ctrl.signal, onConnect: () => assert.fail("no connect"), clock: time, timers: time });
    assert.equal(time.pending, 2, "the start and the window's end are armed");
    await time.advance(9_999);
    ctrl.abort();
    const r = await p;
    assert.equal(r.end, "stopped");
    assert.equal(r.attempts, 0, "aborted 1 ms before the start: nothing was sent");
    assert.equal(time.pending, 0, "both timers freed by the abort");
  });

  test("the window closes on its own clock: 'window', every timer freed", async () => {
    const time = new FakeTime();
    const startAt = time.now() + 100;
    let settled = false;
    // A target that never answers within the window would need a drop; here the budget holds the SYN back instead,
    // with listen mode keeping the punch open (a listening port waits for the peer's SYN until the window ends).
    const port = await freePort();
    const p = simultaneousOpen({ localAddress: "127.0.0.1", localPorts: [port], targets: [{ ip: "127.0.0.1", port: 9, kind: "lan" }], listen: true, take: () => false, startAt, windowEnd: startAt + 1000, signal: new AbortController().signal, onConnect: () => assert.fail("no connect"), clock: time, timers: time });
    p.then(() => (settled = true));
    await time.advance(1099);
    assert.equal(settled, false, "still open 1 ms before the window's end");
    await time.advance(1);
    const r = await p;
    assert.equal(r.end, "window");
    assert.equal(r.attempts, 0);
    assert.equal(r.denied, 1);
    assert.equal(time.pending, 0);
  });
});
