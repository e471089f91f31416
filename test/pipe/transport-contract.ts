/**
 * The ByteTransport contract (src/pipe/transport.ts) as a suite any transport
 * can run: `transportContract("rudp", async () => [a, b])` with two connected
 * ends. A transport that passes can carry a Pipe. Used by transport.test.ts
 * for socketTransport and memoryTransportPair.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ByteTransport, TransportEvents } from "../../src/pipe/transport.ts";

/** Records every event a transport emits, in order, and resolves waits for one. */
export function recorder(t: ByteTransport) {
  const events: string[] = [];
  const bytes: Buffer[] = [];
  const waits: Array<{ ev: string; resolve: () => void }> = [];
  const on = <K extends keyof TransportEvents>(ev: K) =>
    t.on(ev, ((...args: unknown[]) => {
      if (ev === "data") bytes.push(Buffer.from(args[0] as Uint8Array));
      else events.push(ev === "error" ? `error:${(args[0] as Error).message}` : ev);
      for (const w of waits.splice(0)) if (w.ev === ev) w.resolve();
      else waits.push(w);
    }) as (...a: TransportEvents[K]) => void);
  (["data", "drain", "end", "error", "close"] as const).forEach(on);
  return {
    events,
    text: () => Buffer.concat(bytes).toString(),
    length: () => bytes.reduce((n, b) => n + b.length, 0),
    next: (ev: keyof TransportEvents) => (ev !== "data" && events.some((e) => e.split(":")[0] === ev) ? Promise.resolve() : new Promise<void>((resolve) => waits.push({ ev, resolve }))),
  };
}

export const written = (t: ByteTransport, chunks: string[]) => new Promise<void>((r, j) => t.write(chunks.map((c) => Buffer.from(c)), (e) => (e ? j(e) : r())));

export function transportContract(name: string, make: () => Promise<[ByteTransport, ByteTransport]>): void {
  describe(`ByteTransport contract: ${name}`, () => {
    it("bytes arrive in order; each write's callback runs once it was handed on", async () => {
      const [a, b] = await make();
      const rb = recorder(b);
      await written(a, ["he", "llo"]);
      await written(a, [" world"]);
      while (rb.length() < 11) await rb.next("data");
      assert.equal(rb.text(), "hello world");
      a.destroy();
      await rb.next("end"); // half-open: b closes when it is done too
      b.destroy();
      await rb.next("close");
    });

    it("end() half-closes: the peer reads everything then 'end', and can still answer; 'close' once both ended", async () => {
      const [a, b] = await make();
      const ra = recorder(a);
      const rb = recorder(b);
      await written(a, ["last words"]);
      let flushed = false;
      a.end(() => void (flushed = true));
      assert.equal(a.writable, false);
      await rb.next("end");
      assert.equal(rb.text(), "last words");
      assert.equal(b.writable, true, "half-open: b can still write");
      await written(b, ["reply"]);
      b.end();
      await ra.next("end");
      assert.equal(ra.text(), "reply");
      await Promise.all([ra.next("close"), rb.next("close")]);
      assert.equal(flushed, true);
      assert.deepEqual(ra.events, ["end", "close"]);
      assert.deepEqual(rb.events, ["end", "close"]);
      assert.ok(a.destroyed && b.destroyed);
    });

    it("a write after end() fails through its callback", async () => {
      const [a, b] = await make();
      const rb = recorder(b);
      a.end();
      await assert.rejects(written(a, ["late"]));
      await rb.next("end");
      b.destroy();
    });

    it("destroy(err) emits 'error' then 'close' on that side; the peer sees the connection end", async () => {
      const [a, b] = await make();
      const ra = recorder(a);
      const rb = recorder(b);
      a.destroy(new Error("boom"));
      await ra.next("close");
      assert.deepEqual(ra.events, ["error:boom", "close"]);
      assert.equal(a.destroyed, true);
      assert.equal(a.writable, false);
      await rb.next("end");
      b.destroy();
      await rb.next("close");
    });

    it("backpressure: past the high-water mark write() returns false, needDrain holds until 'drain', nothing is lost", async () => {
      const [a, b] = await make();
      const ra = recorder(a);
      const rb = recorder(b);
      b.pause();
      const chunk = Buffer.alloc(64 * 1024, 7);
      assert.equal(a.write([chunk]), false, "one write over the mark already asks to wait");
      assert.equal(a.needDrain, true);
      b.resume();
      await ra.next("drain");
      assert.equal(a.needDrain, false);
      while (rb.length() < chunk.length) await rb.next("data");
      assert.equal(rb.length(), chunk.length);
      a.destroy();
      await rb.next("end"); // half-open: b closes when it is done too
      b.destroy();
      await rb.next("close");
    });
  });
}
