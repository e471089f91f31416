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

  test("abort before the start frees everything at once", async () => {
    const ctrl = new AbortController();
    const startAt = performance.timeOrigin + performance.now() + 10_000;
    const t0 = Date.now();
    const p = simultaneousOpen({ localPorts: [await freePort()], targets: [{ ip: "127.0.0.1", port: 9, kind: "mapped" }], startAt, windowEnd: startAt + 1000, signal: ctrl.signal, onConnect: () => assert.fail("no connect") });
    setTimeout(() => ctrl.abort(), 20);
    const r = await p;
    assert.equal(r.end, "stopped");
    assert.equal(r.attempts, 0);
    assert.ok(Date.now() - t0 < 1000);
  });
});
