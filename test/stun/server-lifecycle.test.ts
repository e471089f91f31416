// The embedded STUN server's idle timer on FakeTime and its memoized close()/destroy().
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { describe, it } from "node:test";
import { encode, Method, newTransactionId } from "../../src/stun/codec.ts";
import { StunServer } from "../../src/stun/server.ts";
import { FakeTime } from "../../src/util/clock.ts";

const binding = () => encode({ method: Method.BINDING, class: "request", transactionId: newTransactionId(), attributes: [] }, { fingerprint: true });

async function connect(port: number): Promise<{ sock: net.Socket; closed: () => boolean; gone: Promise<unknown> }> {
  const sock = net.connect({ host: "127.0.0.1", port });
  // Listened to from the start: the close may happen while FakeTime flushes I/O.
  const gone = once(sock, "close");
  await once(sock, "connect");
  let closed = false;
  sock.on("close", () => (closed = true));
  sock.on("error", () => {});
  return { sock, closed: () => closed, gone };
}

describe("StunServer idle timeout (fake time)", () => {
  it("closes a silent TCP connection after exactly idleTimeout; traffic restarts the count", async () => {
    const time = new FakeTime();
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, udp: false, idleTimeout: 1000, timers: time });
    try {
      const c = await connect(server.addresses.primary.port);
      // The server's side exists once it answers: ask once, which also restarts its idle timer.
      await time.advance(600);
      c.sock.write(binding());
      await once(c.sock, "data");
      await time.advance(999);
      assert.equal(c.closed(), false, "1 ms before the idle timeout (counted from the answer)");
      assert.equal(time.pending, 1, "the idle timer has not fired yet");
      await time.advance(1);
      await c.gone;
      assert.equal(c.closed(), true);
      assert.equal(time.pending, 0, "the idle timer is gone with its connection");
    } finally {
      await server.close();
    }
  });
});

describe("StunServer lifecycle", () => {
  it("close() is memoized, destroy() during it joins the same teardown, and both free every socket", async () => {
    const time = new FakeTime();
    const server = await StunServer.listen({ host: "127.0.0.1", port: 0, timers: time });
    const c = await connect(server.addresses.primary.port);
    c.sock.write(binding());
    await once(c.sock, "data");
    const first = server.close();
    assert.equal(server.close(), first, "a second close() returns the first call's promise");
    const d = server.destroy();
    assert.equal(server.destroy(), d);
    await Promise.all([first, d]);
    await c.gone;
    assert.equal(time.pending, 0, "no idle timer left");
    const refused = net.connect({ host: "127.0.0.1", port: server.addresses.primary.port });
    const err = await once(refused, "error").then(([e]) => e as NodeJS.ErrnoException);
    assert.equal(err.code, "ECONNREFUSED", "the listener is gone");
  });
});
