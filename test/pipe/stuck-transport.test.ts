/**
 * A transport cut mid-write need not call the write back (a relayed stream
 * whose peer vanished, say): the Pipe must still settle every send when it is
 * destroyed, or a sender awaiting it would hang forever.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { PeerTimeoutError } from "../../src/errors.ts";
import type { ByteTransport, TransportEvents } from "../../src/pipe/transport.ts";
import { Pipe } from "../../src/pipe/pipe.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { sessionPair } from "./memory-pair.ts";

/** Takes writes and never calls them back: the bytes went into a black hole. */
class BlackHole extends EventEmitter<TransportEvents> implements ByteTransport {
  writes = 0;
  destroyed = false;
  writable = true;
  needDrain = false;
  writableLength = 0;
  write(chunks: readonly Uint8Array[]): boolean {
    this.writes++;
    this.writableLength += chunks.reduce((n, c) => n + c.length, 0);
    this.needDrain = true;
    return false;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
    this.writable = false;
  }
  pause(): void {}
  resume(): void {}
}

test("sends whose records the transport never called back fail when the pipe dies (dead peer), instead of hanging", async () => {
  const time = new FakeTime();
  const t = new BlackHole();
  const [session] = sessionPair();
  const pipe = new Pipe({ transport: t, session, role: "initiator", inbound: false, strategy: "memory", clock: time, timers: time, options: { keepaliveInterval: 1000, deadPeerTimeout: 5000 } });
  const first = pipe.send("in flight").then(() => "resolved", (e: Error) => e);
  const second = pipe.send("queued behind it").then(() => "resolved", (e: Error) => e);
  await time.advance(0);
  assert.equal(t.writes, 1, "one record went to the transport and is stuck there");
  await time.advance(6000);
  const [a, b] = await Promise.all([first, second]);
  assert.ok(a instanceof Error && b instanceof Error, `both sends failed: ${String(a)}, ${String(b)}`);
  assert.ok((await pipe.closed) instanceof PeerTimeoutError);
  assert.equal(t.destroyed, true);
});
